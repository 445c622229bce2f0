"""What a type-specific parser returns: the text already cleaned and joined, with the offset at
which each page starts, plus the metadata the format carries. It crosses the process boundary as
plain JSON (`to_wire` / `from_wire`), so the worker needs neither pydantic nor the parent's models.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field

PAGE_SEPARATOR = "\n\n"
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
    pages: list[str] | None = None
    ocr_images: list[dict] = field(default_factory=list)
    no_text_reason: str | None = None

    def to_wire(self) -> dict:
        """Plain JSON-able values, every string encodable as UTF-8 (lone surrogates become U+FFFD)."""
        wire = asdict(self)
        for key, value in wire.items():
            if isinstance(value, str):
                wire[key] = without_surrogates(value)
        wire["warnings"] = [without_surrogates(w) for w in wire["warnings"]]
        if self.pages is not None:
            wire["pages"] = [without_surrogates(p) for p in self.pages]
        return wire

    @classmethod
    def from_wire(cls, data: dict) -> Parsed:
        return cls(**data)


def assemble(pages: list[str], max_chars: int) -> tuple[str, list[int], bool]:
    """Clean each page, join them with a blank line and cut at max_chars (at a space if one is
    near). Returns the text, the offset of each page's first character and whether it was cut.
    Cleaning is per page so that the offsets stay exact."""
    parts: list[str] = []
    starts: list[int] = []
    length = 0
    truncated = False
    for page in pages:
        separator = len(PAGE_SEPARATOR) if parts else 0
        room = max_chars - length - separator
        if room <= 0:
            truncated = True
            break
        # Cleaning at most doubles a text (a form feed becomes two newlines), so anything past
        # twice the room is cut before: a 100 MB page is not copied five times to keep 10 MB.
        raw_cut = len(page) > 2 * room + 1000
        page = clean(page[: 2 * room + 1000] if raw_cut else page)
        if len(page) > room:
            cut = page.rfind(" ", max(0, room - 200), room)
            page = page[: cut if cut > 0 else room].rstrip()
            truncated = True
        truncated = truncated or raw_cut
        length += separator
        starts.append(length)
        parts.append(page)
        length += len(page)
        if truncated:
            break
    return PAGE_SEPARATOR.join(parts), starts, truncated


def truncation_warning(max_chars: int) -> str:
    return f"text cut at {max_chars:,} characters; the rest was not extracted"


def from_pages(pages: list[str], *, extractor: str, max_chars: int, paged: bool,
               ocr_images: list[dict] | None = None, no_text_reason: str | None = None, **meta) -> Parsed:
    if ocr_images:
        # Not assembled here: the parent puts the OCR texts in place first (deferred.complete).
        return Parsed(text="", extractor=extractor, pages=pages, ocr_images=ocr_images,
                      no_text_reason=no_text_reason, **meta)
    text, starts, truncated = assemble(pages, max_chars)
    parsed = Parsed(text=text, extractor=extractor, page_starts=starts if paged else [],
                    truncated=truncated, **meta)
    if truncated:
        parsed.warnings.append(truncation_warning(max_chars))
    return parsed
