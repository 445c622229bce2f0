"""DOCX zip limits judge the parts the extractor inflates, not pictures it never opens: an ordinary
Word file with a large, highly compressible picture (a BMP or EMF of mostly blank pixels) is
read, while a bomb in word/document.xml is still refused before it is inflated."""

from __future__ import annotations

import io
import zipfile

import pytest

from contentflow.errors import UnreadableDocument

BODY = [
    "Quarterly facilities report",
    "The east wing roof was repaired in March; the contractor's invoice is attached.",
    "Floor plan of the ground floor, with the new fire exits marked in red.",
]


def _word_file_with_picture(extra_body: str = "") -> bytes:
    """A real DOCX (python-docx) with a 1.47 MB BMP floor plan that deflates to a few kB."""
    import docx
    from docx.shared import Cm
    from PIL import Image, ImageDraw

    plan = Image.new("RGB", (700, 700), "white")
    ImageDraw.Draw(plan).rectangle((50, 50, 650, 650), outline="black", width=3)
    bmp = io.BytesIO()
    plan.save(bmp, "BMP")

    document = docx.Document()
    document.add_heading(BODY[0], level=1)
    document.add_paragraph(BODY[1])
    document.add_picture(io.BytesIO(bmp.getvalue()), width=Cm(10))
    document.add_paragraph(BODY[2])
    if extra_body:
        document.add_paragraph(extra_body)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _with_member(data: bytes, name: str, content: bytes) -> bytes:
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, content)
    return out.getvalue()


def _largest_ratio(data: bytes) -> tuple[str, float]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = max(z.infolist(), key=lambda m: m.file_size / max(m.compress_size, 1))
    return info.filename, info.file_size / max(info.compress_size, 1)


def test_word_file_with_compressible_picture_is_read(extract):
    data = _word_file_with_picture()
    name, ratio = _largest_ratio(data)
    # The premise: the picture alone is beyond the ratio limit, yet never read.
    assert name.startswith("word/media/") and ratio > 100
    result = extract(data, "facilities.docx")
    assert result.text == f"# {BODY[0]}\n\n{BODY[1]}\n\n{BODY[2]}"


def test_emf_picture_added_to_the_package_is_not_a_bomb(extract):
    # An EMF header then 1.45 MB of blank records, as Office writes for a vector drawing.
    emf = b"\x01\x00\x00\x00" + bytes(1_450_000)
    data = _with_member(_word_file_with_picture(), "word/media/image2.emf", emf)
    assert _largest_ratio(data)[1] > 1000
    assert BODY[1] in extract(data, "drawing.docx").text


def test_bomb_in_the_body_is_still_refused(extract):
    # The same ordinary file, but its body holds 3 MB of one letter (about 1000:1).
    data = _word_file_with_picture(extra_body="A" * 3_000_000)
    with pytest.raises(UnreadableDocument) as failure:
        extract(data, "bomb.docx")
    assert failure.value.reason.startswith("compression bomb: word/document.xml expands ")
    assert failure.value.reason.endswith(" times (limit 100)")


def test_bomb_in_styles_is_refused(extract):
    # styles.xml is inflated too (headings come from it): a bomb there is no safer.
    styles = (b'<?xml version="1.0"?><w:styles xmlns:w="http://schemas.openxmlformats.org/'
              b'wordprocessingml/2006/main">' + b'<w:style w:type="paragraph"/>' * 200_000 + b"</w:styles>")
    source = io.BytesIO(_word_file_with_picture())
    out = io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in original.infolist():
            content = styles if info.filename == "word/styles.xml" else original.read(info)
            z.writestr(info.filename, content)
    with pytest.raises(UnreadableDocument) as failure:
        extract(out.getvalue(), "styled.docx")
    assert failure.value.reason.startswith("compression bomb: word/styles.xml expands ")


def test_a_part_is_read_no_further_than_its_declared_size():
    # zipfile stops at the declared size itself; the cap does not depend on that.
    from contentflow.extraction.docx import _CappedStream

    info = zipfile.ZipInfo("word/document.xml")
    info.file_size = 10
    assert _CappedStream(io.BytesIO(b"0123456789"), info).read() == b"0123456789"
    stream = _CappedStream(io.BytesIO(b"0123456789" * 1000), info)
    assert stream.read(4) == b"0123"
    with pytest.raises(UnreadableDocument, match="inflates beyond its declared size"):
        stream.read(64 * 1024)
