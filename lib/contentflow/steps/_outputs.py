"""Reading what an earlier step wrote to the processed bucket (text, chunks)."""

from __future__ import annotations

import json

from contentflow.documents import Document
from contentflow.errors import NotFound
from contentflow.extraction.chunking import Chunk


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://") or "/" not in uri[5:]:
        raise ValueError(f"not a gs:// object URI: {uri!r}")
    bucket, name = uri[5:].split("/", 1)
    return bucket, name


def read_output(blobs, doc: Document, key: str) -> bytes:
    uri = doc.outputs.get(key)
    if not uri:
        raise NotFound(f"the document has no {key!r} output: extract has not written it")
    return blobs.read(*split_uri(uri))


def read_text(blobs, doc: Document) -> str:
    return read_output(blobs, doc, "text").decode("utf-8")


def read_chunks(blobs, doc: Document, limit: int) -> tuple[list[Chunk], int]:
    """The first `limit` chunks and how many there are in all (the rest are left out of indexing,
    and the record says so)."""
    chunks: list[Chunk] = []
    total = 0
    for line in read_output(blobs, doc, "chunks").splitlines():
        if not line.strip():
            continue
        total += 1
        if len(chunks) < limit:
            chunks.append(Chunk.model_validate(json.loads(line)))
    return chunks, total
