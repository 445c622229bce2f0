"""The extract step: reads the uploaded object, writes its text and chunks to the processed bucket,
and keeps a preview and the statistics on the record."""

from __future__ import annotations

from contentflow.documents import Document
from contentflow.errors import UnreadableDocument


class ExtractStep:
    def __init__(self, settings, blobs):
        self.settings = settings
        self.blobs = blobs

    def __call__(self, doc: Document) -> dict:
        from contentflow.extraction import extract_document

        limits = self.settings.extraction
        src = doc.source
        if src.size is not None and src.size > limits.max_bytes:  # refuse before downloading it
            raise UnreadableDocument(f"file too large: {src.size / 1e6:.0f} MB > {limits.max_bytes / 1e6:.0f} MB")
        data = self.blobs.read(src.bucket, src.name, src.generation, src.md5_hash)
        result = extract_document(data, filename=src.name, declared_content_type=src.content_type, limits=limits)
        processed = self.settings.bucket("processed")
        text_uri = self.blobs.write(processed, f"{doc.id}/text.txt", result.text.encode(), "text/plain; charset=utf-8")
        chunks = "".join(c.model_dump_json() + "\n" for c in result.chunks)
        chunks_uri = self.blobs.write(processed, f"{doc.id}/chunks.jsonl", chunks.encode(), "application/x-ndjson")
        return {
            "content_sha256": result.content_sha256,
            "preview": result.preview,
            "stats": {**doc.stats, "extraction": result.statistics()},
            "outputs": {**doc.outputs, "text": text_uri, "chunks": chunks_uri},
        }


def build(ports) -> ExtractStep:
    return ExtractStep(ports.settings, ports.blobs)
