"""What a type-specific parser returns: the text already cleaned and joined, with the offset at
which each page starts, plus the metadata the format carries. It crosses the process boundary as
plain JSON (`to_wire` / `from_wire`), so the worker needs neither pydantic nor the parent's models.

Where text came from (issue 13): a parser gives each page to `from_pages` either as a `str` (all
body text) or as a list of segments `[[kind, text], ...]`, kind one of `SEGMENT_KINDS` ("body",
"header", "footer", "footnote", "endnote", "comment", "annotation", "form"). Segments are cleaned
one by one (so offsets stay exact) and joined with a blank line; `Parsed.regions` then lists
`{"start", "end", "kind"}` character ranges of the final text for every non-body kind (neighbouring
segments of one kind make one region; at most `MAX_REGIONS`). Segment lists survive the wire in
`Parsed.pages` too, for deferred OCR: `deferred.complete` assembles them the same way.
`chunking.chunk_text` gives each chunk the `source` kind most of its text lies in.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import NamedTuple, Union

PAGE_SEPARATOR = "\n\n"
SEGMENT_SEPARATOR = "\n\n"  # between the segments of one page: a paragraph break for chunking
BODY = "body"
# Where a piece of text came from; the one list of allowed kinds (Extraction and Chunk use it too).
SEGMENT_KINDS = (BODY, "header", "footer", "footnote", "endnote", "comment", "annotation", "form")
# Regions recorded per document: beyond, later text is counted as body (with a warning). Same-kind
# neighbours merge, so a DOCX has at most 5; a PDF about two per page with annotations.
MAX_REGIONS = 10_000
# A page: its body text, or [[kind, text], ...] segments.
Page = Union[str, list]
# C0/C1 controls except tab and newline, plus non-characters: never useful text, often the mark of
# a wrong decoding. Form feeds are page breaks in plain text and become paragraph breaks.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufeff\ufffe\uffff]")
# Lone surrogates (JSON "\\ud800", a broken UTF-16 title) cannot be encoded as UTF-8: left in,
# they killed the worker while it wrote its reply.
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_TRAILING_SPACE = re.compile(r"[ \t\u00a0]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")


def without_surrogates(text: str) -> str:
    return _SURROGATES.sub("\ufffd", text) if _SURROGATES.search(text) else text


def clean(text: str) -> str:
    """Newlines to \\n, controls out, NFC, no trailing spaces, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    text = _CONTROLS.sub("", text)
    text = unicodedata.normalize("NFC", text)
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_RUNS.sub("\n\n", text).strip()


@dataclass
class Parsed:
    text: str
    extractor: str
    page_starts: list[int] = field(default_factory=list)  # only for paged formats (PDF, TIFF)
    page_count: int | None = None
    title: str | None = None
    author: str | None = None
    created: str | None = None  # ISO 8601
    modified: str | None = None
    declared_language: str | None = None  # what the document says (HTML lang), not detected
    encoding: str | None = None  # of text formats
    mime: str | None = None  # set when the content turned out to be another type than detected
    pages_ocred: int = 0
    truncated: bool = False
    warnings: list[str] = field(default_factory=list)
    # OCR left to the parent (deferred.py): the page texts, not yet assembled ("" or a PDF page's
    # stamp where a page waits for OCR), the page images ({"page": index, "png": base64}) and the
    # reason to give if OCR finds no text either. `text` stays empty until the parent assembles.
    pages: list[Page] | None = None
    ocr_images: list[dict] = field(default_factory=list)
    no_text_reason: str | None = None
    # Non-body text: {"start", "end", "kind"} offsets into `text`, sorted (see the module docstring).
    regions: list[dict] = field(default_factory=list)

    def to_wire(self) -> dict:
        """Plain JSON-able values, every string encodable as UTF-8 (lone surrogates become U+FFFD)."""
        wire = asdict(self)
        for key, value in wire.items():
            if isinstance(value, str):
                wire[key] = without_surrogates(value)
        wire["warnings"] = [without_surrogates(w) for w in wire["warnings"]]
        if self.pages is not None:
            wire["pages"] = [without_surrogates(p) if isinstance(p, str)
                             else [[kind, without_surrogates(text)] for kind, text in segments_of(p)]
                             for p in self.pages]
        return wire

    @classmethod
    def from_wire(cls, data: dict) -> Parsed:
        return cls(**data)


class Assembled(NamedTuple):
    text: str
    page_starts: list[int]  # offset of each page's first character
    truncated: bool
    regions: list[dict]  # {"start", "end", "kind"} of non-body text
    regions_dropped: int  # regions past MAX_REGIONS, counted as body


def segments_of(page: Page) -> list[tuple[str, str]]:
    """A page as (kind, text) pairs; ValueError if it is neither a str nor valid segments (the
    parent checks what a worker sends with this too)."""
    if isinstance(page, str):
        return [(BODY, page)]
    if not isinstance(page, list):
        raise ValueError(f"a page is a str or a list of segments, not {type(page).__name__}")
    pairs = []
    for segment in page:
        if (not isinstance(segment, (list, tuple)) or len(segment) != 2
                or segment[0] not in SEGMENT_KINDS or not isinstance(segment[1], str)):
            raise ValueError(f"a segment is [kind, text] with kind in {SEGMENT_KINDS}")
        pairs.append((segment[0], segment[1]))
    return pairs


def _fit(text: str, room: int) -> tuple[str, bool]:
    """`text` cleaned and cut to `room` characters (at a space if one is near); whether it was cut.
    Cleaning at most doubles a text (a form feed becomes two newlines), so anything past twice the
    room is cut before: a 100 MB page is not copied five times to keep 10 MB."""
    raw_cut = len(text) > 2 * room + 1000
    text = clean(text[: 2 * room + 1000] if raw_cut else text)
    if len(text) > room:
        cut = text.rfind(" ", max(0, room - 200), room)
        return text[: cut if cut > 0 else room].rstrip(), True
    return text, raw_cut


def assemble(pages: list[Page], max_chars: int) -> Assembled:
    """Clean each page (each segment of it), join pages with a blank line, the segments of a page
    too, and cut at max_chars. Cleaning is per segment so that the offsets stay exact. Empty
    segments are dropped; an empty page still takes its place (and a page start)."""
    parts: list[str] = []
    starts: list[int] = []
    regions: list[dict] = []
    dropped = 0
    length = 0
    truncated = False
    for page in pages:
        separator = len(PAGE_SEPARATOR) if parts else 0
        if max_chars - length - separator <= 0:
            truncated = True
            break
        length += separator
        starts.append(length)
        page_parts: list[str] = []
        for kind, raw in segments_of(page):
            inner = len(SEGMENT_SEPARATOR) if page_parts else 0
            room = max_chars - length - inner
            if room <= 0:
                truncated = True
                break
            text, cut = _fit(raw, room)
            truncated = truncated or cut
            if text:
                length += inner
                if kind != BODY:
                    last = regions[-1] if regions else None
                    if last and last["kind"] == kind and last["end"] + inner == length:
                        last["end"] = length + len(text)  # the same kind right before: one region
                    elif len(regions) < MAX_REGIONS:
                        regions.append({"start": length, "end": length + len(text), "kind": kind})
                    else:
                        dropped += 1
                page_parts.append(text)
                length += len(text)
            if truncated:
                break
        parts.append(SEGMENT_SEPARATOR.join(page_parts))
        if truncated:
            break
    return Assembled(PAGE_SEPARATOR.join(parts), starts, truncated, regions, dropped)


def regions_warning(dropped: int) -> str:
    return f"where text came from is marked for the first {MAX_REGIONS:,} regions; {dropped:,} more count as body"


def truncation_warning(max_chars: int) -> str:
    return f"text cut at {max_chars:,} characters; the rest was not extracted"


def from_pages(pages: list[Page], *, extractor: str, max_chars: int, paged: bool,
               ocr_images: list[dict] | None = None, no_text_reason: str | None = None, **meta) -> Parsed:
    """`pages`: each a str (body text) or [[kind, text], ...] segments (module docstring)."""
    if ocr_images:
        # Not assembled here: the parent puts the OCR texts in place first (deferred.complete).
        return Parsed(text="", extractor=extractor, pages=pages, ocr_images=ocr_images,
                      no_text_reason=no_text_reason, **meta)
    assembled = assemble(pages, max_chars)
    parsed = Parsed(text=assembled.text, extractor=extractor, page_starts=assembled.page_starts if paged else [],
                    truncated=assembled.truncated, regions=assembled.regions, **meta)
    if assembled.truncated:
        parsed.warnings.append(truncation_warning(max_chars))
    if assembled.regions_dropped:
        parsed.warnings.append(regions_warning(assembled.regions_dropped))
    return parsed
