"""Chunks for analysis and embeddings: paragraph-first, each with its character range."""

from __future__ import annotations

from pydantic import BaseModel


class Chunk(BaseModel):
    index: int
    text: str
    start: int  # character offsets into the extracted text
    end: int
    page: int | None = None


def chunk_text(text: str, size: int, overlap: int) -> list[Chunk]:
    """Greedy paragraph packing; a paragraph longer than `size` is cut at whitespace."""
    chunks: list[Chunk] = []
    start = 0
    n = len(text)
    while start < n:
        while start < n and text[start].isspace():
            start += 1
        if start >= n:
            break
        end = min(n, start + size)
        if end < n:
            cut = text.rfind("\n\n", start + size // 2, end)
            if cut == -1:
                cut = text.rfind(" ", start + size // 2, end)
            if cut != -1:
                end = cut
        chunks.append(Chunk(index=len(chunks), text=text[start:end].strip(), start=start, end=end))
        if end >= n:
            break
        start = max(end - overlap, start + 1)
    return chunks
