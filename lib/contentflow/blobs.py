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
            raise NotFound(f"the uploaded object no longer exists: gs://{bucket}/{name}") from None
        except _TRANSIENT as err:
            raise TransientError(f"Cloud Storage unavailable: {err}") from err
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
            raise TransientError(f"Cloud Storage unavailable: {err}") from err
        except gexc.NotFound as err:  # the bucket itself is missing: wiring, not the document
            raise TransientError(f"bucket {bucket} not found: {err}") from err
        count("storage.writes")
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
            raise TransientError(f"Cloud Storage unavailable: {err}") from err
        return StoredObject(bucket, name, str(blob.generation), blob.md5_hash, int(blob.size or 0), blob.content_type, created)

    def ping(self, bucket: str) -> None:
        """Readiness: the bucket answers."""
        self._client.get_bucket(bucket, timeout=self._timeout)
