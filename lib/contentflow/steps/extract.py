"""The extract step: reads the uploaded object, writes its text and chunks to the processed bucket,
and keeps a preview and the statistics on the record."""

from __future__ import annotations

from typing import Callable

from contentflow.documents import Document
from contentflow.errors import UnreadableDocument


class ExtractStep:
    def __init__(self, settings, blobs, inference: Callable[[], object] | None = None):
        self.settings = settings
        self.blobs = blobs
        # Makes the inference backend; called only with the vertex backend, whose OCR (Gemini)
        # reads images and scanned pages (the Cloud Functions runtime has no tesseract). The local
        # backend has no OCR: the worker's tesseract reads them and no backend is built here.
        self._inference = inference

    def _ocr(self):
        if self._inference is None or self.settings.inference.backend != "vertex":
            return None  # tesseract, in the extraction worker
        return getattr(self._inference(), "ocr_image", None)

    def __call__(self, doc: Document) -> dict:
        from contentflow.extraction import extract_document

        limits = self.settings.extraction
        src = doc.source
        if src.size is not None and src.size > limits.max_bytes:  # refuse before downloading it
            raise UnreadableDocument(f"file too large: {src.size / 1e6:.0f} MB > {limits.max_bytes / 1e6:.0f} MB")
        data = self.blobs.read(src.bucket, src.name, src.generation, src.md5_hash)
        result = extract_document(data, filename=src.name, declared_content_type=src.content_type, limits=limits,
                                  ocr=self._ocr())
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
    # A callable, not the backend: Services builds it on first use (ports.inference is lazy).
    return ExtractStep(ports.settings, ports.blobs, lambda: ports.inference)
