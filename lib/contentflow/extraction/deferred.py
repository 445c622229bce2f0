"""OCR by an engine outside the worker (Gemini, through the vertex inference backend), for
deployments without tesseract (the Cloud Functions Python runtime has none).

The worker still decodes the hostile file (Pillow, PDFium) under its limits; with
`limits.ocr_engine == "deferred"` it does not run tesseract but returns, for each page that needs
OCR, that page prepared as for tesseract (greyscale, at most `ocr_max_pixels`) and re-encoded as
a PNG it wrote itself, base64 in its JSON reply, with a placeholder for the page's text. The
function process (`complete`, called by `extract_document`) hands those PNGs to the engine, puts
the texts in place and only then assembles the text, so page offsets, chunks and statistics are
computed as for tesseract. The engine never sees the uploaded bytes, only pixels the worker
decoded; the function process never decodes an image.

The worker half needs only the standard library and Pillow (it must start fast, without pydantic).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import time

from contentflow.errors import PermanentError, TransientError, UnreadableDocument
from contentflow.extraction.parsed import (BODY, Parsed, assemble, regions_warning, segments_of,
                                           truncation_warning)

TESSERACT, DEFERRED = "tesseract", "deferred"  # values of limits.ocr_engine
MIME = "image/png"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Gemini's limit for inline image data (inference/vertex.py MAX_INLINE_IMAGE_BYTES; not imported:
# that module needs pydantic, which the worker does without).
MAX_PNG_BYTES = 7 * 1024 * 1024
# All page images of one reply together, before base64. The reply is copied a few times on each
# side of the pipe (JSON string, bytes, frame), and the worker and the function share the
# instance's memory: 20 noise pages of 7 MiB would be ~190 MB of base64, ~600 MB at the peak.
REPLY_BUDGET_BYTES = 48 * 1024 * 1024


# --- in the worker ---------------------------------------------------------------------------

def collector(limits) -> Deferred | None:
    """A Deferred when the parent reads the pages, None when tesseract does (here, as before)."""
    return Deferred() if getattr(limits, "ocr_engine", TESSERACT) == DEFERRED else None


class Deferred:
    """The page images a parser leaves for the parent's OCR engine, within REPLY_BUDGET_BYTES."""

    def __init__(self, budget: int = REPLY_BUDGET_BYTES):
        self.images: list[dict] = []
        self._left = budget

    def add(self, page: int, image, pages_left: int) -> None:
        """`image`: the page as ocr.prepare made it; `page`: its 0-based index among the pages;
        `pages_left`: how many pages may still be added, this one included. Each page may use an
        equal share of what is left, so a page never takes a later page's room (and, as pages
        rarely use their whole share, the share only grows). Only pixels go out: none of the
        uploaded file's own metadata."""
        share = min(MAX_PNG_BYTES, self._left // max(1, pages_left))
        png = encode_png(image, share)
        self._left -= len(png)
        self.images.append({"page": page, "png": base64.b64encode(png).decode("ascii")})


def encode_png(image, max_bytes: int) -> bytes:
    """PNG of an "L" image, scaled down until it fits max_bytes (or is tiny)."""
    from PIL import Image

    while True:
        out = io.BytesIO()
        # Level 1: a 10 Mpx text page in 0.09 s (0.38 MB) instead of 0.2 s (0.30 MB) at the default 6.
        image.save(out, "PNG", compress_level=1)
        if out.tell() <= max_bytes or image.width * image.height <= 64 * 64:
            return out.getvalue()
        # PNG size is roughly proportional to the pixel count; 0.9 so that one step usually does.
        scale = max(0.25, min(0.9, 0.9 * (max_bytes / out.tell()) ** 0.5))
        image = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))),
                             Image.Resampling.BILINEAR)


# --- in the function process -----------------------------------------------------------------

def complete(parsed: Parsed, ocr, engine: str, *, limits, deadline: float) -> Parsed:
    """The worker's deferred pages read by `ocr(png_bytes, mime_type) -> text`, put in place and
    assembled. `engine` names it in the extractor ("pypdfium2+gemini", "gemini"). TransientError
    from `ocr` passes through (the step is retried); any other ContentflowError fails the document
    with the reason. `deadline` (time.monotonic()) is checked before each call: a call cannot be
    interrupted, so it is the engine's own timeout that bounds the last one."""
    if not isinstance(parsed.pages, list) or not isinstance(parsed.ocr_images, list):
        raise UnreadableDocument("parser crashed: malformed reply (deferred pages)")
    pages = list(parsed.pages)
    try:  # segments are checked before any model call is paid for
        for page in pages:
            segments_of(page)
    except ValueError as err:
        raise UnreadableDocument(f"parser crashed: malformed reply ({err})"[:300]) from None
    read = 0
    # The worker already stops at max_ocr_pages; it is not trusted with what costs model calls.
    for item in parsed.ocr_images[: limits.max_ocr_pages]:
        index, png = _image(item, len(pages))
        if time.monotonic() >= deadline:
            raise UnreadableDocument(f"extraction timed out after {limits.timeout_s:g} s")
        try:
            text = ocr(png, MIME) or ""
        except (TransientError, UnreadableDocument):
            raise
        except PermanentError as err:
            raise UnreadableDocument(f"OCR failed on page {index + 1}: {err.reason}"[:300]) from None
        read += 1
        if text.strip():  # a PDF page keeps the text layer it had (a stamp) when OCR finds nothing
            pages[index] = _with_body(pages[index], text)
    assembled = assemble(pages, limits.max_text_chars)
    text, truncated = assembled.text, assembled.truncated
    if not text.strip():
        raise UnreadableDocument(parsed.no_text_reason or "no text found: OCR found no text")
    extractor = parsed.extractor  # what the worker ran: "pypdfium2", or "" for an image
    if read:
        extractor = f"{extractor}+{engine}" if extractor else engine
    warnings = [truncation_warning(limits.max_text_chars)] if truncated else []
    if assembled.regions_dropped:
        warnings.append(regions_warning(assembled.regions_dropped))
    return dataclasses.replace(
        parsed, text=text, page_starts=assembled.page_starts, truncated=truncated, pages=None, ocr_images=[],
        extractor=extractor, pages_ocred=parsed.pages_ocred + read, regions=assembled.regions,
        warnings=warnings + parsed.warnings,
    )


def _with_body(page, text: str):
    """The page with OCR's text as its body: a segment list keeps its other segments (a PDF
    page's annotations and form fields), after the body."""
    if isinstance(page, str):
        return text
    return [[BODY, text], *([kind, part] for kind, part in segments_of(page) if kind != BODY)]


def _image(item, page_count: int) -> tuple[int, bytes]:
    """The page index and PNG bytes of one reply item, checked: the worker parses hostile input."""
    try:
        index, png = item["page"], base64.b64decode(item["png"], validate=True)
    except (KeyError, TypeError, ValueError) as err:
        raise UnreadableDocument(f"parser crashed: malformed reply ({type(err).__name__})") from None
    if type(index) is not int or not 0 <= index < page_count or not png.startswith(_PNG_MAGIC):
        raise UnreadableDocument("parser crashed: malformed reply (deferred page)")
    return index, png
