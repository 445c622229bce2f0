"""Every limit in ExtractionLimits is honoured when set, with the reason a person reads."""

from __future__ import annotations

import io
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
    (LETTER, "scan.pdf", {"max_ocr_pages": 0}, "no text found: the PDF has no text layer and OCR is turned off"),
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
