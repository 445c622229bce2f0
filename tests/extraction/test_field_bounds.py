"""Every field extraction takes from a document is bounded (issue 11, defect 1): a DOCX whose core
properties hold a 2 MB title used to give a 2 MB `stats.extraction.title`, and Firestore refuses a
record over 1 MiB. The bound lives in the Extraction model, so a parser cannot forget it."""

from __future__ import annotations

import io
import json
import random
import string
import typing
from types import SimpleNamespace

import pytest
from PIL import Image

from contentflow.extraction import ExtractionLimits, extract_document
from contentflow.extraction.core import MAX_METADATA_CHARS, Extraction

HUGE = 2_000_000
# What the extract step may add to a record: a small share of Firestore's 1 MiB per document.
STATS_BUDGET_BYTES = 64 * 1024


def _random_text(chars: int, seed: int) -> str:
    # Random letters, not one repeated: a repeated 2 MB string compresses like a zip bomb and the
    # DOCX would be refused for that before its properties are read.
    rng = random.Random(seed)
    return "".join(rng.choices(string.ascii_letters + "     ", k=chars))


def _json_size(value) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


def _assert_bounded(result: Extraction, title: str | None = None, author: str | None = None) -> None:
    stats = result.statistics()
    assert _json_size(stats) < STATS_BUDGET_BYTES, f"statistics of {_json_size(stats):,} bytes"
    if title is not None:  # cut, not dropped: what fits is kept
        assert result.title and len(result.title) <= MAX_METADATA_CHARS
        assert title.startswith(result.title.removesuffix("…").rstrip())
    if author is not None:
        assert result.author and len(result.author) <= MAX_METADATA_CHARS
        assert author.startswith(result.author.removesuffix("…").rstrip())


class _Blobs:
    """The processed bucket in memory: the step writes its text and chunks here."""

    def __init__(self, data: bytes):
        self.data = data
        self.written: dict[str, bytes] = {}

    def read(self, bucket, name, generation=None, md5_hash=None):
        return self.data

    def write(self, bucket, name, data, content_type):
        self.written[name] = data
        return f"gs://{bucket}/{name}"


def _docx_with_core_properties(title: str, author: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("The minutes of the allotment committee.")
    # python-docx's setters refuse more than 255 characters; a hostile file has no such scruple.
    properties = document.core_properties._element
    properties.get_or_add_title().text = title
    properties.get_or_add_creator().text = author
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_with_a_2_mb_title_and_author_gives_a_record_that_fits_firestore():
    from contentflow.steps.extract import ExtractStep

    title, author = _random_text(HUGE, 1), _random_text(HUGE, 2)
    data = _docx_with_core_properties(title, author)
    limits = ExtractionLimits()
    settings = SimpleNamespace(extraction=limits, bucket=lambda role: f"{role}-bucket",
                               inference=SimpleNamespace(backend="local"))
    doc = SimpleNamespace(id="d" * 32, stats={}, outputs={}, source=SimpleNamespace(
        bucket="inbox", name="minutes.docx", generation="1", md5_hash=None, size=len(data), content_type=None))
    updates = ExtractStep(settings, _Blobs(data))(doc)
    extraction = updates["stats"]["extraction"]
    # Cut, not dropped (the parser strips the value first).
    assert len(extraction["title"]) <= MAX_METADATA_CHARS and title.strip().startswith(extraction["title"][:100])
    assert len(extraction["author"]) <= MAX_METADATA_CHARS and author.strip().startswith(extraction["author"][:100])
    # Everything the step puts on the record.
    assert _json_size(updates) < STATS_BUDGET_BYTES, f"updates of {_json_size(updates):,} bytes"


def test_docx_page_count_that_is_no_sensible_number_is_dropped(tmp_path):
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("word/document.xml", '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/'
                                        '2006/main"><w:body><w:p><w:r><w:t>Hi</w:t></w:r></w:p></w:body></w:document>')
        z.writestr("docProps/app.xml", '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
                                       f'extended-properties"><Pages>{"9" * 5000}</Pages></Properties>')
    # Was "parser crashed: ValueError: Exceeds the limit (4300 digits)"; 20 digits would not fit
    # Firestore's 64-bit integers either.
    result = extract_document(out.getvalue(), filename="a.docx", declared_content_type=None, limits=ExtractionLimits())
    assert result.text == "Hi" and result.page_count is None


def test_html_with_a_2_mb_title_and_author():
    title, author = _random_text(HUGE, 3), _random_text(HUGE, 4)
    page = (f'<html><head><title>{title}</title><meta name="author" content="{author}"></head>'
            f"<body><article><p>{'A paragraph about night trains. ' * 20}</p></article></body></html>")
    result = extract_document(page.encode(), filename="a.html", declared_content_type="text/html",
                              limits=ExtractionLimits())
    _assert_bounded(result, title=title, author=author)


def test_markdown_with_a_2_mb_heading_as_title():
    heading = _random_text(HUGE, 5).replace("\n", " ")
    result = extract_document(f"# {heading}\n\nBody text.\n".encode(), filename="a.md",
                              declared_content_type="text/markdown", limits=ExtractionLimits())
    _assert_bounded(result, title=heading.strip())


def test_image_with_a_2_mb_exif_artist():
    artist = _random_text(HUGE, 6)
    exif = Image.Exif()
    exif[0x013B] = artist  # Artist
    out = io.BytesIO()
    Image.new("RGB", (200, 80), "white").save(out, "PNG", exif=exif)
    # OCR by a callable (as the vertex backend's): fast, and the point here is the metadata.
    result = extract_document(out.getvalue(), filename="a.png", declared_content_type="image/png",
                              limits=ExtractionLimits(), ocr=lambda image, mime: "Receipt total 12.50")
    assert result.text == "Receipt total 12.50"
    _assert_bounded(result, author=artist.strip())


def test_pdf_with_a_2_mb_title_and_author():
    from reportlab.pdfgen import canvas

    title, author = _random_text(HUGE, 7), _random_text(HUGE, 8)
    out = io.BytesIO()
    pdf = canvas.Canvas(out, invariant=1)
    pdf.setTitle(title)
    pdf.setAuthor(author)
    pdf.drawString(72, 760, "Page one text.")
    pdf.showPage()
    pdf.save()
    result = extract_document(out.getvalue(), filename="a.pdf", declared_content_type="application/pdf",
                              limits=ExtractionLimits())
    _assert_bounded(result, title=title.strip(), author=author.strip())


def _string_fields() -> list[str]:
    return [name for name, field in Extraction.model_fields.items()
            if str in typing.get_args(field.annotation) or field.annotation is str
            or any(str in typing.get_args(a) for a in typing.get_args(field.annotation))]


def test_every_field_of_the_model_is_bounded_whatever_a_parser_gives_it():
    """The one place: any string, and the warnings list, is cut however a parser filled it."""
    huge = "x" * HUGE
    fields = {"text": huge, "mime_type": huge, "extractor": huge, "content_sha256": huge, "word_count": 1,
              "chunks": [], "title": huge, "author": huge, "language": huge, "preview": huge,
              "declared_language": huge, "encoding": huge, "page_count": 10**30,
              "warnings": ["w" * 5_000] * 10_000}
    assert set(_string_fields()) - set(fields) == set(), "a new string field: add it here"
    result = Extraction(**fields)
    stats = result.statistics()
    assert _json_size(stats) < STATS_BUDGET_BYTES, f"statistics of {_json_size(stats):,} bytes"
    assert result.page_count is None  # beyond any real page count and Firestore's 64-bit integers
    assert len(result.warnings) <= 20 and result.warnings[-1].startswith("and 9,981 more warnings")
    assert len(result.text) == HUGE  # the text goes to the processed bucket, not the record


@pytest.mark.parametrize("value", ["Ünïcödé title", "a" * MAX_METADATA_CHARS])
def test_fields_within_the_bound_are_kept_as_they_are(value):
    result = Extraction(text="t", mime_type="text/plain", extractor="x", content_sha256="0" * 64,
                        word_count=1, chunks=[], title=value, author=value)
    assert result.title == value and result.author == value
