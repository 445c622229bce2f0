"""Cloud Storage adapter."""

from __future__ import annotations

from dataclasses import dataclass

from google.api_core import exceptions as gexc

from contentflow.errors import NotFound, TransientError
from contentflow.metering import count

_TRANSIENT = (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError,
              gexc.TooManyRequests, gexc.GatewayTimeout, gexc.RetryError, ConnectionError, TimeoutError)


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    name: str
    generation: str
    md5_hash: str | None
    size: int
    content_type: str | None
    created: bool = False  # this call wrote it (False: it was there already)

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"


class BlobStore:
    def __init__(self, client, timeout_s: float):
        self._client = client
        self._timeout = timeout_s

    def read(self, bucket: str, name: str, generation: str | None = None, md5_hash: str | None = None) -> bytes:
        """The object's bytes at `generation`. If that generation is gone but the live object has
        the same MD5 (the same bytes uploaded again, which replaces the generation in a bucket
        without versioning), the live one is read: it is the same document."""
        try:
            try:
                data = self._download(bucket, name, generation)
            except gexc.NotFound:
                if not (generation and md5_hash):
                    raise
                live = self._client.bucket(bucket).get_blob(name, timeout=self._timeout)
                count("storage.reads")
                if live is None or live.md5_hash != md5_hash:
                    raise
                data = self._download(bucket, name, str(live.generation))
        except gexc.NotFound:
            raise NotFound("the uploaded object no longer exists (deleted or replaced)") from None
        except _TRANSIENT as err:
            raise TransientError("Cloud Storage unavailable", detail=str(err)) from err
        count("storage.reads")
        count("storage.bytes_read", len(data))
        return data

    def _download(self, bucket: str, name: str, generation: str | None) -> bytes:
        blob = self._client.bucket(bucket).blob(name, generation=int(generation) if generation else None)
        return blob.download_as_bytes(timeout=self._timeout)

    def write(self, bucket: str, name: str, data: bytes | str, content_type: str) -> str:
        blob = self._client.bucket(bucket).blob(name)
        try:
            blob.upload_from_string(data, content_type=content_type, timeout=self._timeout)
        except _TRANSIENT as err:
            raise TransientError("Cloud Storage unavailable", detail=str(err)) from err
        except gexc.NotFound as err:  # the bucket itself is missing: wiring, not the document
            raise TransientError("an output bucket is missing (deployment)", detail=f"{bucket}: {err}") from err
        count("storage.writes")
        count("storage.bytes_written", len(data.encode() if isinstance(data, str) else data))
        return f"gs://{bucket}/{name}"

    def create_if_absent(self, bucket: str, name: str, data: bytes, content_type: str,
                         metadata: dict[str, str] | None = None) -> StoredObject:
        """Uploads unless the object exists already (same name = same content, by construction)."""
        blob = self._client.bucket(bucket).blob(name)
        blob.metadata = metadata
        created = False
        try:
            blob.upload_from_string(data, content_type=content_type, if_generation_match=0, timeout=self._timeout)
            count("storage.writes")
            created = True
        except gexc.PreconditionFailed:
            blob.reload(timeout=self._timeout)
            count("storage.reads")
        except _TRANSIENT as err:
            raise TransientError("Cloud Storage unavailable", detail=str(err)) from err
        return StoredObject(bucket, name, str(blob.generation), blob.md5_hash, int(blob.size or 0), blob.content_type, created)

    def delete(self, bucket: str, name: str, md5_hash: str | None = None) -> bool:
        """Deletes the live object, only if its MD5 is `md5_hash` when given (a newer upload under
        the same name is another document). False: nothing to delete."""
        try:
            blob = self._client.bucket(bucket).get_blob(name, timeout=self._timeout)
            count("storage.reads")
            if blob is None or (md5_hash and blob.md5_hash != md5_hash):
                return False
            blob.delete(if_generation_match=blob.generation, timeout=self._timeout)
        except (gexc.NotFound, gexc.PreconditionFailed):
            return False
        except _TRANSIENT as err:
            raise TransientError("Cloud Storage unavailable", detail=str(err)) from err
        count("storage.writes")
        return True

    def delete_prefix(self, bucket: str, prefix: str, limit: int = 1000) -> int:
        """Deletes up to `limit` objects under `prefix` (a document's folder of outputs)."""
        if not prefix or not prefix.endswith("/"):
            raise ValueError("a prefix to delete ends with '/'")
        deleted = 0
        try:
            for blob in self._client.list_blobs(bucket, prefix=prefix, max_results=limit, timeout=self._timeout):
                try:
                    blob.delete(timeout=self._timeout)
                    deleted += 1
                except gexc.NotFound:
                    pass
        except _TRANSIENT as err:
            raise TransientError("Cloud Storage unavailable", detail=str(err)) from err
        count("storage.reads")
        count("storage.writes", deleted)
        return deleted

    def list_page(self, bucket: str, prefix: str | None = None, page_token: str | None = None,
                  page_size: int = 500) -> tuple[list, str | None]:
        """One page of a bucket's objects (google.cloud.storage Blobs) and the next page's token."""
        try:
            listing = self._client.list_blobs(bucket, prefix=prefix, page_token=page_token, page_size=page_size,
                                              timeout=self._timeout)
            page = next(listing.pages, None)
            blobs = list(page) if page is not None else []
            token = listing.next_page_token
        except _TRANSIENT as err:
            raise TransientError("Cloud Storage unavailable", detail=str(err)) from err
        count("storage.reads")
        return blobs, token

    def ping(self, bucket: str) -> None:
        """Readiness: the bucket answers."""
        self._client.get_bucket(bucket, timeout=self._timeout)
