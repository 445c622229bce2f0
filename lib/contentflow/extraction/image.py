"""Images (PNG, JPEG, TIFF; every TIFF frame a page) read with Pillow (HPND), text by OCR.
The pixel count is checked from the header, before a single pixel is decoded."""

from __future__ import annotations

import io
import time

from contentflow.errors import UnreadableDocument
from contentflow.extraction import dates, deferred as deferred_ocr, fmt, ocr
from contentflow.extraction.parsed import Parsed, from_pages

FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/tiff": "TIFF"}
NO_TEXT = "no text found: OCR found no text in the image"
EXIF_ARTIST, EXIF_DATETIME, EXIF_IFD, EXIF_DATETIME_ORIGINAL = 0x013B, 0x0132, 0x8769, 0x9003


def _too_large(width: int, height: int, limits) -> None:
    if width * height > limits.max_image_pixels:
        raise UnreadableDocument(
            f"image too large: {fmt.megapixels(width * height)} megapixels > "
            f"{fmt.megapixels(limits.max_image_pixels)} megapixels")


def _exif(image) -> dict:
    try:
        exif = image.getexif()
        detail = exif.get_ifd(EXIF_IFD)
    except Exception:  # EXIF is optional and often broken; never a reason to fail
        return {}
    return {
        "author": (str(exif.get(EXIF_ARTIST) or "").strip() or None),
        "created": dates.exif_date(str(detail.get(EXIF_DATETIME_ORIGINAL) or "")),
        "modified": dates.exif_date(str(exif.get(EXIF_DATETIME) or "")),
    }


def _count_frames(image, mime: str, max_pages: int) -> int:
    """Frames, counted one by one up to max_pages + 1. Pillow's n_frames walks every frame of a
    TIFF (30,000 one-pixel frames: 5.4 s of CPU, 100,000 most of the timeout) before the page
    limit could be checked."""
    if mime != "image/tiff":
        return getattr(image, "n_frames", 1)  # PNG (APNG) and JPEG (MPO) say it in a header
    count = 1
    try:
        while count <= max_pages:
            image.seek(count)
            count += 1
    except EOFError:
        pass
    image.seek(0)
    return count


def _decode_reduced(image, max_pixels: int) -> None:
    """A JPEG larger than OCR will use is decoded at 1/2, 1/4 or 1/8 scale by libjpeg itself
    (Pillow's draft mode), never at full size: OCR scales it down to max_pixels anyway, and a
    40 MP CMYK photo decoded whole (then rotated and converted) needs more than 512 MiB."""
    width, height = image.size
    if width * height <= max_pixels:
        return
    scale = (max_pixels / (width * height)) ** 0.5
    image.draft(None, (max(1, int(width * scale)), max(1, int(height * scale))))


def parse(data: bytes, *, mime: str, limits, deadline: float, **_) -> Parsed:
    from PIL import Image, ImageOps, UnidentifiedImageError

    if limits.max_ocr_pages == 0:
        raise UnreadableDocument("no text found: OCR is turned off (max_ocr_pages is 0)")

    # Pillow's own bomb guard would refuse at open with a message without numbers; the header
    # check below does the same job first, before any pixel is decoded.
    Image.MAX_IMAGE_PIXELS = None
    try:
        image = Image.open(io.BytesIO(data), formats=[FORMATS[mime]])
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise UnreadableDocument(f"malformed image: {err}"[:200]) from None
    _too_large(*image.size, limits)
    try:
        frames = _count_frames(image, mime, limits.max_pages)
    except (OSError, SyntaxError, ValueError) as err:
        raise UnreadableDocument(f"malformed image: {err}"[:200]) from None
    if frames > limits.max_pages:
        raise UnreadableDocument(f"too many pages: more than {limits.max_pages:,}")
    meta = _exif(image)
    deferred = deferred_ocr.collector(limits)  # None: tesseract reads the frames here
    pages: list[str] = []
    to_read = min(frames, limits.max_ocr_pages)
    try:
        for index in range(to_read):
            image.seek(index)
            _too_large(*image.size, limits)  # every TIFF frame has its own size
            if mime == "image/jpeg":
                _decode_reduced(image, limits.ocr_max_pixels)
            frame = ImageOps.exif_transpose(image) if mime == "image/jpeg" else image
            prepared = ocr.prepare(frame, limits.ocr_max_pixels)
            if deferred is None:
                pages.append(ocr.recognise(prepared, languages=limits.ocr_languages, deadline=deadline))
                continue
            deferred.add(index, prepared, pages_left=to_read - index)
            pages.append("")  # the parent puts the OCR text here
            if time.monotonic() > deadline:  # recognise() checks it for tesseract
                raise TimeoutError
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise UnreadableDocument(f"malformed image: {err}"[:200]) from None
    if deferred is None and not any(p.strip() for p in pages):
        raise UnreadableDocument(NO_TEXT)
    # Deferred: no engine named yet (the parent adds the one that read the pages) and none counted.
    parsed = from_pages(pages, extractor="tesseract" if deferred is None else "",
                        max_chars=limits.max_text_chars, paged=True, page_count=frames,
                        pages_ocred=len(pages) if deferred is None else 0,
                        ocr_images=deferred.images if deferred else None, no_text_reason=NO_TEXT, **meta)
    if frames > len(pages):
        parsed.warnings.append(f"only the first {len(pages)} of {frames} pages were OCRed")
    return parsed
