"""extract_document: cheap checks in this process, parsing in the sandboxed worker, then language,
chunks and statistics here."""

from __future__ import annotations

import bisect
import hashlib
import re
import time
import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, NonNegativeInt, TypeAdapter, ValidationError, model_validator
from typing_extensions import TypedDict

from contentflow.errors import UnreadableDocument
from contentflow.extraction import deferred, detect, fmt
from contentflow.extraction.chunking import Chunk, SourceKind, chunk_text
from contentflow.extraction.language import detect_language
from contentflow.extraction.limits import ExtractionLimits
from contentflow.extraction.parsed import MAX_REGIONS, Parsed
from contentflow.extraction.sandbox import SANDBOX

# Limits the worker needs (it gets them as plain JSON).
WORKER_LIMITS = (
    "max_pages", "max_text_chars", "max_unpacked_bytes", "max_compression_ratio",
    "max_archive_members", "max_nesting_depth", "html_scoring_max_bytes", "max_image_pixels", "ocr_max_pixels", "ocr_dpi",
    "max_ocr_pages", "ocr_languages", "timeout_s", "max_memory_mib",
)


# Bounds on everything but the text (which goes to the processed bucket): the statistics go on
# the Firestore record, which must stay under 1 MiB whatever a file's metadata holds (a DOCX's core
# properties can hold megabytes). Enforced here, in the model every parser's output goes through,
# so a new parser cannot forget them: longer values are cut (with an ellipsis), not refused.
MAX_METADATA_CHARS = 1000  # title, author
MAX_NAME_CHARS = 100  # MIME type, extractor, encoding, language tags, hashes
MAX_PREVIEW_CHARS = 10_000
MAX_WARNINGS = 20
MAX_WARNING_CHARS = 300
MAX_PAGE_COUNT = 10_000_000  # beyond any real document (and inside Firestore's 64-bit integers)


def _cut(max_chars: int) -> BeforeValidator:
    def cut(value):
        if isinstance(value, str) and len(value) > max_chars:
            return value[: max_chars - 1].rstrip() + "…"
        return value
    return BeforeValidator(cut)


def _few_warnings(value):
    if isinstance(value, list) and len(value) > MAX_WARNINGS:
        more = len(value) - (MAX_WARNINGS - 1)
        return [*value[: MAX_WARNINGS - 1], f"and {more:,} more warnings"]
    return value


def _sensible_count(value):
    # A page count no document has (a DOCX's app.xml says what it likes) is no information.
    return value if value is None or (isinstance(value, int) and 0 <= value <= MAX_PAGE_COUNT) else None


Metadata = Annotated[str | None, _cut(MAX_METADATA_CHARS)]
Name = Annotated[str, _cut(MAX_NAME_CHARS)]
OptionalName = Annotated[str | None, _cut(MAX_NAME_CHARS)]
Warnings = Annotated[list[Annotated[str, _cut(MAX_WARNING_CHARS)]], BeforeValidator(_few_warnings)]


class Region(TypedDict):
    """Text that is not body text: text[start:end] is a footnote, a page header, an annotation..."""
    start: NonNegativeInt
    end: NonNegativeInt
    kind: SourceKind


Regions = Annotated[list[Region], Field(max_length=MAX_REGIONS)]
_REGIONS = TypeAdapter(Regions)


def _in_order(regions: list[Region], text_length: int) -> bool:
    """Sorted, disjoint, non-empty and inside the text."""
    previous_end = 0
    for region in regions:
        if not previous_end <= region["start"] < region["end"] <= text_length:
            return False
        previous_end = region["end"]
    return True


def _checked_regions(regions, text_length: int) -> list[Region]:
    """The worker's regions, checked: it parses hostile input, so its reply is not trusted."""
    try:
        checked = _REGIONS.validate_python(regions)
    except ValidationError as err:
        raise UnreadableDocument(f"parser crashed: malformed reply (regions: {err.errors()[0]['msg']})"[:300]) from None
    if not _in_order(checked, text_length):
        raise UnreadableDocument("parser crashed: malformed reply (regions out of order or outside the text)")
    return checked


class Extraction(BaseModel):
    text: str
    mime_type: Name
    extractor: Name  # what read the text, e.g. "pypdfium2+tesseract", "pypdfium2+gemini", "gemini"
    content_sha256: Name  # of the input bytes
    word_count: int
    page_count: Annotated[int | None, BeforeValidator(_sensible_count)] = None
    title: Metadata = None
    author: Metadata = None
    language: OptionalName = None  # detected from the text (ISO 639-1)
    chunks: list[Chunk]
    # Added by issue 5.
    page_starts: list[int] = Field(default_factory=list)  # offset of each page's text (paged formats)
    # The first limits.preview_chars characters, whitespace collapsed.
    preview: Annotated[str, _cut(MAX_PREVIEW_CHARS)] = ""
    created: datetime | None = None
    modified: datetime | None = None
    declared_language: OptionalName = None  # what the document itself says (HTML lang)
    encoding: OptionalName = None  # of text formats, as detected
    char_count: int = 0
    size_bytes: int = 0
    pages_ocred: int = 0
    truncated: bool = False  # text cut at limits.max_text_chars
    warnings: Warnings = Field(default_factory=list)
    duration_ms: int = 0
    # Added by issue 13: where non-body text lies (footnotes, headers, annotations...), sorted.
    regions: Regions = Field(default_factory=list)

    @model_validator(mode="after")
    def _regions_inside_text(self):
        if not _in_order(self.regions, len(self.text)):
            raise ValueError("regions must be sorted, disjoint, non-empty and inside the text")
        return self

    def page_of(self, offset: int) -> int | None:
        """1-based page holding the character at `offset` of `text` (None if not paged)."""
        return bisect.bisect_right(self.page_starts, offset) if self.page_starts else None

    def source_at(self, offset: int) -> str:
        """Where the character at `offset` of `text` came from: "body", "footnote", "header"..."""
        index = bisect.bisect_right([r["start"] for r in self.regions], offset) - 1
        if index >= 0 and offset < self.regions[index]["end"]:
            return self.regions[index]["kind"]
        return "body"

    def statistics(self) -> dict:
        """Everything but the text, chunks, page offsets and regions: small enough for Firestore.
        Regions become characters per kind (`source_chars`, only the kinds present). The preview
        and the content hash are left out too: the record keeps them once, at its top level."""
        record = self.model_dump(mode="json", exclude={"text", "chunks", "page_starts", "regions", "preview", "content_sha256"})
        record["chunk_count"] = len(self.chunks)
        source_chars: dict[str, int] = {}
        for region in self.regions:
            source_chars[region["kind"]] = source_chars.get(region["kind"], 0) + region["end"] - region["start"]
        record["source_chars"] = source_chars
        return record


_WORD = re.compile(r"\S+")


def count_words(text: str) -> int:
    # Same count as len(text.split()) without a list of millions of strings.
    return sum(1 for _ in _WORD.finditer(text))


def make_preview(text: str, chars: int) -> str:
    collapsed = " ".join(text[: chars * 2 + 100].split())
    if len(collapsed) <= chars:
        return collapsed
    cut = collapsed.rfind(" ", 0, chars)
    return collapsed[: cut if cut > chars // 2 else chars].rstrip() + "…"


def warm_up() -> None:
    """Start the parser worker ahead of the first document (e.g. at a function's cold start)."""
    SANDBOX.warm_up()


def _has_visible_text(text: str) -> bool:
    """Anything but whitespace and invisible format characters (zero-width spaces, joiners,
    BOMs, direction marks: category Cf), which str.strip() keeps."""
    return any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in text)


def extract_document(
    data: bytes, *, filename: str, declared_content_type: str | None, limits: ExtractionLimits,
    ocr: Callable[[bytes, str], str] | None = None, ocr_name: str = "gemini",
) -> Extraction:
    """`ocr(image_bytes, mime_type) -> text` reads the images and scanned pages here, in this
    process, and `ocr_name` names it in the extractor (e.g. the vertex backend's `ocr_image`,
    Gemini); None: the worker runs tesseract, as locally and offline. See deferred.py."""
    started = time.monotonic()
    if len(data) > limits.max_bytes:
        raise UnreadableDocument(f"file too large: {fmt.size(len(data))} > {fmt.size(limits.max_bytes)}")
    if not data.strip():
        raise UnreadableDocument("empty file: no text to extract")
    found = detect.detect(data, filename, declared_content_type)

    request = {
        "kind": found.kind, "mime": found.mime, "charset": found.charset, "sniffed": found.sniffed,
        "limits": {name: getattr(limits, name) for name in WORKER_LIMITS} | {
            "ocr_engine": deferred.DEFERRED if ocr is not None else deferred.TESSERACT},
    }
    reply = SANDBOX.run(request, data, timeout_s=limits.timeout_s, memory_mib=limits.max_memory_mib)
    try:
        parsed = Parsed.from_wire(reply.pop("parsed"))  # popped: page images die with `parsed`
    except (KeyError, TypeError) as err:
        raise UnreadableDocument(f"parser crashed: malformed reply ({err})") from None
    if parsed.pages is not None:  # pages left for our OCR engine, before anything reads the text
        if ocr is None:
            raise UnreadableDocument("parser crashed: malformed reply (unrequested deferred pages)")
        # One deadline for the whole document: what the worker used is not given again.
        parsed = deferred.complete(parsed, ocr, ocr_name, limits=limits, deadline=started + limits.timeout_s)
    if not _has_visible_text(parsed.text):
        raise UnreadableDocument("no text found: the document has no text")

    text = parsed.text
    regions = _checked_regions(parsed.regions, len(text))
    return Extraction(
        text=text,
        mime_type=parsed.mime or found.mime,
        extractor=parsed.extractor,
        content_sha256=hashlib.sha256(data).hexdigest(),
        word_count=count_words(text),
        page_count=parsed.page_count,
        title=parsed.title,
        author=parsed.author,
        language=detect_language(text) or parsed.declared_language,
        chunks=chunk_text(text, limits.chunk_chars, limits.chunk_overlap_chars, parsed.page_starts or None, regions),
        page_starts=parsed.page_starts,
        preview=make_preview(text, limits.preview_chars),
        created=parsed.created,
        modified=parsed.modified,
        declared_language=parsed.declared_language,
        encoding=parsed.encoding,
        char_count=len(text),
        size_bytes=len(data),
        pages_ocred=parsed.pages_ocred,
        truncated=parsed.truncated,
        warnings=parsed.warnings,
        regions=regions,
        duration_ms=round((time.monotonic() - started) * 1000),
    )
