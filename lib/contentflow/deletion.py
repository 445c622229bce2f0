"""Deleting a document and everything derived from it: its stored objects (the upload in the inbox
and its folder of outputs in the processed bucket), its chunks, and last its record, and with it
what identical content could reuse (found on the records: contentflow.results_cache). Idempotent:
a second call, or one after a crash half-way, finishes the job (the record goes last, so what
remains can still be found from it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from contentflow.logs import bind, get_logger

log = get_logger("contentflow.deletion")


@dataclass
class Deleted:
    document_id: str
    found: bool
    objects: int = 0
    chunks: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


class Deletion:
    def __init__(self, settings, store, blobs, chunks):
        self.settings = settings
        self.store = store
        self.blobs = blobs
        self.chunks = chunks

    def delete(self, doc_id: str) -> Deleted:
        with bind(document_id=doc_id):
            doc = self.store.get(doc_id)
            if doc is None:
                return Deleted(doc_id, found=False)
            result = Deleted(doc_id, found=True)
            if doc.source.name:  # a URL document not fetched yet has no object
                result.objects += int(self.blobs.delete(doc.source.bucket, doc.source.name, doc.source.md5_hash))
            result.objects += self.blobs.delete_prefix(self.settings.bucket("processed"), f"{doc_id}/")
            result.chunks = self.chunks.delete_document(doc_id)
            self.store.delete(doc_id)
            log.info("document deleted", objects=result.objects, chunks=result.chunks)
            return result
