"""Chunks for analysis and embeddings, each with its character range (and page) in the text.

The text is first cut into pieces no longer than `size`, at the strongest boundary that works:
paragraph, then line, then sentence, then word, and only as a last resort inside a word. Pieces
are then packed greedily into chunks; the next chunk starts with the last whole pieces of the
previous one that fit in `overlap`, so an overlap never starts mid-sentence.
`text[chunk.start:chunk.end] == chunk.text` always holds. Given the extraction's regions (parsed.py),
each chunk's `source` is the kind most of its characters lie in ("body" outside every region).
"""

from __future__ import annotations

import bisect
import re
from collections import deque
from collections.abc import Iterator
from typing import Annotated

from pydantic import AfterValidator, BaseModel

from contentflow.extraction.parsed import BODY, SEGMENT_KINDS

_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_LINE = re.compile(r"\n\s*")
# After . ! ? … or a CJK full stop, with optional closing quotes/brackets, then whitespace.
_SENTENCE = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+")
_WORD = re.compile(r"\s+")
_LEVELS = (_PARAGRAPH, _LINE, _SENTENCE, _WORD)


def _known_kind(kind: str) -> str:
    if kind not in SEGMENT_KINDS:
        raise ValueError(f"unknown source kind {kind!r}; one of {', '.join(SEGMENT_KINDS)}")
    return kind


SourceKind = Annotated[str, AfterValidator(_known_kind)]


class Chunk(BaseModel):
    index: int
    text: str
    start: int  # character offsets into the extracted text: text[start:end] == chunk text
    end: int
    page: int | None = None  # 1-based page of `start`, for paged formats (PDF, TIFF)
    page_end: int | None = None  # page of the last character
    # Where most of its text came from: "body", "footnote", "header", "annotation", ... (chunks
    # stored before issue 13 have none: body).
    source: SourceKind = BODY


def _split(text: str, start: int, end: int, size: int, level: int) -> Iterator[tuple[int, int]]:
    """Yield (start, end) spans of non-space text, each at most `size` long."""
    if end - start <= size:
        yield start, end
        return
    if level == len(_LEVELS):  # one "word" longer than a chunk: cut it
        for cut in range(start, end, size):
            yield cut, min(cut + size, end)
        return
    piece_start = start
    for match in _LEVELS[level].finditer(text, start, end):
        if match.start() > piece_start:
            yield from _split(text, piece_start, match.start(), size, level + 1)
        piece_start = match.end()
    if piece_start < end:
        yield from _split(text, piece_start, end, size, level + 1)


def pieces(text: str, size: int) -> Iterator[tuple[int, int]]:
    """The pieces in order, lazily: a text of millions of short lines never becomes a list of
    millions of tuples (5 M one-letter lines took 822 MiB that way)."""
    stripped_start = len(text) - len(text.lstrip())
    stripped_end = len(text.rstrip())
    if stripped_end > stripped_start:
        yield from _split(text, stripped_start, stripped_end, size, 0)


def source_of(start: int, end: int, regions: list[dict], region_ends: list[int]) -> str:
    """The kind holding most of text[start:end] (ties go to body): `regions` sorted and disjoint,
    `region_ends` their ends, for the bisect."""
    covered: dict[str, int] = {}
    index = bisect.bisect_right(region_ends, start)
    while index < len(regions) and regions[index]["start"] < end:
        region = regions[index]
        overlap = min(end, region["end"]) - max(start, region["start"])
        if overlap > 0:
            covered[region["kind"]] = covered.get(region["kind"], 0) + overlap
        index += 1
    best = max(covered, key=covered.get, default=BODY)
    return best if covered.get(best, 0) > (end - start) - sum(covered.values()) else BODY


def chunk_text(text: str, size: int, overlap: int, page_starts: list[int] | None = None,
               regions: list[dict] | None = None) -> list[Chunk]:
    """Pack the pieces greedily, holding only the pieces of the chunk being built (a window
    that starts at the current chunk's first piece), never the whole list. `regions`: sorted,
    disjoint {"start", "end", "kind"} (Extraction.regions), for each chunk's `source`."""
    region_ends = [r["end"] for r in regions] if regions else []
    stream = pieces(text, size)
    window: deque[tuple[int, int]] = deque()  # pieces from the current chunk's first one on

    def fill(count: int) -> bool:  # make sure the window holds `count` pieces, if there are
        while len(window) < count:
            piece = next(stream, None)
            if piece is None:
                return False
            window.append(piece)
        return True

    chunks: list[Chunk] = []
    while fill(1):
        last = 0
        while fill(last + 2) and window[last + 1][1] - window[0][0] <= size:
            last += 1
        start, end = window[0][0], window[last][1]
        chunk = Chunk(index=len(chunks), text=text[start:end], start=start, end=end)
        if page_starts:
            chunk.page = bisect.bisect_right(page_starts, start)
            chunk.page_end = bisect.bisect_right(page_starts, end - 1)
        if regions:
            chunk.source = source_of(start, end, regions, region_ends)
        chunks.append(chunk)
        if not fill(last + 2):
            break
        # Overlap: the trailing pieces of this chunk that fit in `overlap` and still leave room
        # for the next new piece (else the next chunk would hold nothing new).
        following = last + 1
        while (following - 1 > 0 and end - window[following - 1][0] <= overlap
               and window[last + 1][1] - window[following - 1][0] <= size):
            following -= 1
        for _ in range(following):
            window.popleft()
    return chunks
