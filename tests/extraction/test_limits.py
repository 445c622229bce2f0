"""Every limit in ExtractionLimits is honoured when set, with the reason a person reads."""

from __future__ import annotations

import io
import struct
import time
import zipfile

import pytest
from .support import SAMPLES

from contentflow.errors import UnreadableDocument

REPORT = (SAMPLES / "documents/quarterly-report-q3-2024.pdf").read_bytes()
HANDBOOK = (SAMPLES / "documents/team-handbook.docx").read_bytes()
WHITEBOARD = (SAMPLES / "documents/whiteboard-photo.png").read_bytes()
LETTER = (SAMPLES / "documents/scanned-letter.pdf").read_bytes()


def reason(extract, data: bytes, name: str, **limits) -> str:
    with pytest.raises(UnreadableDocument) as failure:
        extract(data, name, **limits)
    return failure.value.reason


@pytest.mark.parametrize("data, name, limits, expected", [
    (b"x" * 3500, "a.txt", {"max_bytes": 1000}, "file too large: 3.5 kB > 1 kB"),
    (REPORT, "r.pdf", {"max_pages": 5}, "too many pages: 12 > 5"),
    (HANDBOOK, "h.docx", {"max_unpacked_bytes": 20_000}, "DOCX too large when unpacked: 829 kB > 20 kB"),
    (WHITEBOARD, "w.png", {"max_image_pixels": 100_000},
     "image too large: 0.3 megapixels > 0.1 megapixels"),
    (b"[" * 30 + b"1" + b"]" * 30, "deep.json", {"max_nesting_depth": 20},
     "JSON nested too deeply: more than 20 levels"),
    (b"<html><body>" + b"<div>" * 40 + b"deep" + b"</div>" * 40 + b"</body></html>", "deep.html",
     {"max_nesting_depth": 30}, "HTML nested too deeply: more than 30 levels"),
    (LETTER, "scan.pdf", {"max_ocr_pages": 0}, "no text found: 1 page with images but no text layer; OCR is turned off (max_ocr_pages is 0)"),
])
def test_limit(extract, data, name, limits, expected):
    assert reason(extract, data, name, **limits) == expected


def test_compression_ratio_limit(extract):
    # 1.5 MB of numbered table-like rows: plausible, within the default ratio (100, as Apache
    # POI's), refused by a strict one.
    body = ('<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
            'wordprocessingml/2006/main"><w:body>'
            + "".join(f"<w:p><w:r><w:t>Row {i}: again and again, {i * 7919 % 10007}.</w:t></w:r></w:p>"
                      for i in range(25_000))
            + "</w:body></w:document>").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", body)
    data = out.getvalue()
    assert "Row 24999: again and again" in extract(data, "a.docx").text
    assert reason(extract, data, "a.docx", max_compression_ratio=10).startswith(
        "compression bomb: word/document.xml expands ")


def test_archive_member_limit(extract):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("word/document.xml", b"<w:document/>")
        for i in range(30):
            z.writestr(f"customXml/item{i}.xml", b"<x/>")
    assert reason(extract, out.getvalue(), "a.docx", max_archive_members=10) == "malformed DOCX: 31 parts (limit 10)"


def test_long_text_is_cut_with_a_warning(extract):
    result = extract(("word " * 5000).encode(), "long.txt", max_text_chars=1000)
    assert result.truncated and len(result.text) <= 1000
    assert result.warnings == ["text cut at 1,000 characters; the rest was not extracted"]


def test_ocr_page_limit_skips_pages_with_a_warning(extract):
    result = extract((SAMPLES / "documents/pilot-station-fax.tiff").read_bytes(), "fax.tiff", max_ocr_pages=1)
    assert result.page_count == 2 and result.pages_ocred == 1
    assert "FAX COVER SHEET" in result.text and "dredger" not in result.text
    assert result.warnings == ["only the first 1 of 2 pages were OCRed"]


def test_chunk_size_and_preview_follow_the_limits(extract):
    result = extract(REPORT, "r.pdf", chunk_chars=300, chunk_overlap_chars=50, preview_chars=80)
    assert max(len(c.text) for c in result.chunks) <= 300
    assert len(result.preview) <= 81 and result.preview.endswith("…")
    assert "\n" not in result.preview
    stats = result.statistics()
    assert "text" not in stats and "chunks" not in stats and stats["chunk_count"] == len(result.chunks)


def test_limits_are_validated():
    from contentflow.extraction import ExtractionLimits

    with pytest.raises(ValueError):
        ExtractionLimits(chunk_chars=200, chunk_overlap_chars=200)
    with pytest.raises(ValueError):
        ExtractionLimits(max_nesting_depth=1000)  # libxml2 cannot see that deep
    with pytest.raises(ValueError):
        ExtractionLimits(ocr_languages="eng; rm -rf /")


def test_limits_come_from_the_environment(monkeypatch):
    from contentflow.settings import Settings

    monkeypatch.setenv("CONTENTFLOW_PROJECT_ID", "demo-project")
    monkeypatch.setenv("CONTENTFLOW_EXTRACTION__TIMEOUT_S", "12.5")
    monkeypatch.setenv("CONTENTFLOW_EXTRACTION__MAX_PAGES", "7")
    settings = Settings()
    assert settings.extraction.timeout_s == 12.5 and settings.extraction.max_pages == 7


def _many_frame_tiff(frames: int) -> bytes:
    """A TIFF of one-pixel frames, written by hand (Pillow's save_all takes minutes for this)."""
    # width, height, bits per sample, no compression, white is zero, strip at byte 8, 1 row, 1 byte
    entries = [(256, 3, 1), (257, 3, 1), (258, 3, 1), (259, 3, 1), (262, 3, 0), (273, 4, 8),
               (278, 3, 1), (279, 4, 1)]
    ifd_size = 2 + 12 * len(entries) + 4
    out = bytearray(b"II*\x00" + struct.pack("<I", 12) + b"\x00" * 4)
    for index in range(frames):
        out += struct.pack("<H", len(entries))
        for tag, kind, value in entries:
            out += struct.pack("<HHII", tag, kind, 1, value)
        out += struct.pack("<I", 12 + (index + 1) * ifd_size if index < frames - 1 else 0)
    return bytes(out)


def test_tiff_frames_are_counted_only_up_to_the_page_limit(limits):
    # Pillow's n_frames walked all 30,000 frames (5.4 s of CPU; 100,000+ burnt the timeout)
    # before the page limit was checked. Counting stops at max_pages + 1: 0.12 s.
    from contentflow.extraction import image

    cpu = time.process_time()
    with pytest.raises(UnreadableDocument) as failure:
        image.parse(_many_frame_tiff(30_000), mime="image/tiff", limits=limits(), deadline=time.monotonic() + 60)
    cpu = time.process_time() - cpu
    assert failure.value.reason == "too many pages: more than 2,000"
    assert cpu < 2.0, f"{cpu:.1f} s of CPU to refuse a 30,000-frame TIFF"


def test_a_jpeg_larger_than_ocr_uses_is_decoded_reduced_not_whole(extract):
    """libjpeg decodes at 1/2..1/8 scale (Pillow's draft mode) what OCR would scale down anyway:
    a 100 MP CMYK photo, rotated by EXIF, ran out of the 1024 MiB limit when decoded whole."""
    from PIL import Image, ImageDraw, ImageFont

    from contentflow.extraction.image import _decode_reduced

    page = Image.new("RGB", (6000, 4000), "white")
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 150)
    ImageDraw.Draw(page).text((300, 1800), "HARBOUR FERRY TIMETABLE", fill="black", font=font)
    exif = page.getexif()
    exif[0x0112] = 6  # rotated: exif_transpose makes a second copy of the pixels
    out = io.BytesIO()
    page.convert("CMYK").save(out, "JPEG", quality=85, exif=exif.tobytes())
    data = out.getvalue()
    image = Image.open(io.BytesIO(data))
    _decode_reduced(image, 5_000_000)
    image.load()
    assert image.size == (3000, 2000)  # 24 MP decoded at half scale: 6 MP, still more than OCR's 5 MP
    small = Image.open(io.BytesIO(data))
    _decode_reduced(small, 12_000_000)  # 1/2 would give less than OCR uses: decoded whole
    small.load()
    assert small.size == (6000, 4000)
    result = extract(data, "photo.jpg", "image/jpeg", ocr_max_pixels=5_000_000, max_memory_mib=400)
    assert "HARBOUR FERRY TIMETABLE" in result.text
