"""Type detection: content first, then the declared type, then the name."""

from __future__ import annotations

import pytest
from .support import SAMPLES

from contentflow.errors import UnreadableDocument
from contentflow.extraction.detect import DOCX, detect, looks_binary

PDF = (SAMPLES / "documents/solar-battery-brochure.pdf").read_bytes()
PNG = (SAMPLES / "documents/whiteboard-photo.png").read_bytes()
DOCX_BYTES = (SAMPLES / "documents/team-handbook.docx").read_bytes()


@pytest.mark.parametrize("data, name, declared, mime", [
    (PDF, "notes.txt", "text/plain", "application/pdf"),  # the bytes win over name and type
    (PNG, "report.pdf", "application/pdf", "image/png"),
    (DOCX_BYTES, "archive.zip", "application/zip", DOCX),
    (DOCX_BYTES, "no-name", None, DOCX),
    (b"<!DOCTYPE html><html><body><p>Hi</p></body></html>", "page", None, "text/html"),
    (b"<p>just a fragment</p>", "page.html", None, "text/html"),
    (b'{"a": 1}', "data", "application/octet-stream", "application/json"),
    (b"a,b\n1,2\n", "data.csv", None, "text/csv"),
    (b"a,b\n1,2\n", "upload", "text/csv; charset=utf-8", "text/csv"),
    (b"# Title\n\ntext", "readme.md", None, "text/markdown"),
    (b"plain words", "report.pdf", "application/pdf", "text/plain"),  # text is text, whatever its name
    (b"key: value\n", "config.yaml", "application/x-yaml", "application/x-yaml"),
    (b"print('hi')\n", "script.py", "text/x-python", "text/x-python"),
    ("Hello, UTF-16 without a mark".encode("utf-16-le"), "x.txt", None, "text/plain"),
])
def test_detected_type(data, name, declared, mime):
    assert detect(data, name, declared).mime == mime


def test_declared_charset_is_passed_on_and_sniffed_types_are_marked():
    found = detect(b"caf\xe9", "x", "text/plain; charset=ISO-8859-1")
    assert (found.kind, found.charset, found.sniffed) == ("text", "iso-8859-1", False)
    assert detect(b"[1, 2", "x", None).sniffed


@pytest.mark.parametrize("data, name, declared, reason", [
    (b"MZ\x90\x00" + b"\x00" * 100, "invoice.pdf", "application/pdf", "unsupported type: application/x-msdownload"),
    (b"\x1f\x8b\x08\x00" + b"\x00" * 50, "a.txt", None, "unsupported type: application/gzip"),
    (b"GIF89a" + b"\x00" * 50, "a.png", "image/png", "unsupported type: image/gif"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'><text>x</text></svg>", "logo", None,
     "unsupported type: image/svg+xml"),
    (bytes(range(256)) * 4, "photo.png", None, "malformed image: not an image file (no valid signature)"),
    (bytes(range(256)) * 4, "x.docx", None, "malformed DOCX: not a DOCX file (no valid signature)"),
    (bytes(range(256)) * 4, "setup.exe", None, "unsupported type: application/x-msdownload"),
    (bytes(range(256)) * 4, "blob", None, "binary data in a text/plain file: not text"),
])
def test_refused_by_content(data, name, declared, reason):
    with pytest.raises(UnreadableDocument) as failure:
        detect(data, name, declared)
    assert failure.value.reason == reason


def test_binary_sniffing_allows_utf16_and_rejects_control_bytes():
    assert not looks_binary("plain text".encode("utf-16"))
    assert not looks_binary("plain text with tabs\tand\r\nnewlines\f".encode())
    assert looks_binary(b"text" + b"\x01\x02\x03" * 20 + b"text" * 10)


def test_a_specific_extension_wins_over_a_declared_text_plain():
    """Many upload tools declare text/plain for any text: page.html sent so is still read as HTML."""
    page = b"<!DOCTYPE html><html><body><nav>Home</nav><main><p>The night ferry returns.</p></main></body></html>"
    assert detect(page, "page.html", "text/plain").mime == "text/html"
    assert detect(b'{"a": 1}', "data.json", "text/plain; charset=utf-8").mime == "application/json"
    assert detect(page, "page.txt", "text/plain").mime == "text/plain"  # no specific name: as declared
    assert detect(b"# Notes", "notes.md", "text/csv").mime == "text/csv"  # a specific declared type stays
