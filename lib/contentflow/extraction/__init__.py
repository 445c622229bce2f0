"""Turns a document's bytes into text, metadata and chunks.

The one entry point is `extract_document`; it raises UnreadableDocument with a reason a person
understands for anything it cannot or must not read.
"""

from __future__ import annotations

import hashlib
import unicodedata

from pydantic import BaseModel

from contentflow.errors import UnreadableDocument
from contentflow.extraction.chunking import Chunk, chunk_text
from contentflow.extraction.limits import ExtractionLimits

TEXT_TYPES = {"text/plain": "plain", "text/markdown": "markdown"}
TEXT_SUFFIXES = {".txt": "text/plain", ".text": "text/plain", ".md": "text/markdown", ".markdown": "text/markdown"}


class Extraction(BaseModel):
    text: str
    mime_type: str
    extractor: str
    content_sha256: str
    word_count: int
    page_count: int | None = None
    title: str | None = None
    author: str | None = None
    language: str | None = None
    chunks: list[Chunk]


def _detect_type(data: bytes, filename: str, declared: str | None) -> str:
    declared = (declared or "").split(";")[0].strip().lower()
    if declared in TEXT_TYPES:
        return declared
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix in TEXT_SUFFIXES:
        return TEXT_SUFFIXES[suffix]
    raise UnreadableDocument(f"unsupported type: {declared or 'unknown'} ({filename or 'no name'})")


def extract_document(
    data: bytes, *, filename: str, declared_content_type: str | None, limits: ExtractionLimits
) -> Extraction:
    if len(data) > limits.max_bytes:
        raise UnreadableDocument(
            f"file too large: {len(data) / 1e6:.0f} MB > {limits.max_bytes / 1e6:.0f} MB"
        )
    if not data.strip():
        raise UnreadableDocument("empty file: no text to extract")
    mime = _detect_type(data, filename, declared_content_type)
    if b"\x00" in data[:8192]:
        raise UnreadableDocument(f"binary data in a {mime} file: not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UnreadableDocument(f"invalid text encoding: not UTF-8 at byte {err.start}") from None
    text = unicodedata.normalize("NFC", text)
    return Extraction(
        text=text,
        mime_type=mime,
        extractor="builtin-text",
        content_sha256=hashlib.sha256(data).hexdigest(),
        word_count=len(text.split()),
        chunks=chunk_text(text, limits.chunk_chars, limits.chunk_overlap_chars),
    )
