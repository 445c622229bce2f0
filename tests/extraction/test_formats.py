"""Format details the corpus does not show on its own: encodings, HTML and DOCX corner cases,
JSON/CSV rendering, language detection, dates."""

from __future__ import annotations

import io
import time
import zipfile

import pytest

from contentflow.errors import UnreadableDocument
from contentflow.extraction import dates
from contentflow.extraction.language import detect_language
from contentflow.extraction.text import decode

from . import support  # noqa: F401  (puts samples/ on the path for the corpus builders)

W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
MC_NS = 'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'


@pytest.mark.parametrize("text, encoding", [
    ("Grüße aus Köln, schöne Straßen und Bäume überall in der Stadt.", "cp1252"),
    ("Привет! Это обычный текст на русском языке, ничего особенного.", "cp1251"),
    ("これは日本語のテキストです。特別なことは何もありません。", "shift_jis"),
    ("Zażółć gęślą jaźń — polski tekst z ogonkami.", "utf-16"),
])
def test_legacy_encodings_are_detected(text, encoding):
    decoded, _, _ = decode((text * 3).encode(encoding), mime="text/plain")
    assert decoded == text * 3


def test_declared_charset_decides_between_single_byte_encodings():
    data = "Ærøskøbing på Ærø".encode("iso-8859-1")
    assert decode(data, mime="text/plain", hint="iso-8859-1")[0] == "Ærøskøbing på Ærø"


def test_a_few_invalid_utf8_bytes_are_replaced_with_a_warning(extract):
    data = ("Ein ganz normaler Text über Äpfel und Birnen. " * 100).encode() + b"\xff" + b" Ende."
    result = extract(data, "notes.txt")
    assert "\ufffd" in result.text and result.warnings == ["1 invalid UTF-8 byte(s) replaced with U+FFFD"]


def test_a_declared_8bit_charset_wins_over_a_stray_utf8_sequence(extract):
    # A Latin-1 page (declared so) whose title has one UTF-8 "ü" pasted in: its bytes that are
    # invalid as UTF-8 outnumber its valid multi-byte sequences, so the declaration decides.
    article = "Die Sängerin hat ihre eigene Plattenfirma gegründet und schreibt für das Album. "
    filler = "Filler without meaning, only there to make the page long enough to matter. " * 150

    def page(title: bytes, body: bytes) -> bytes:
        return (b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
                b"<title>" + title + b"</title></head><body><article><p>" + body
                + b"</p><p>" + filler.encode() + b"</p></article></body></html>")

    latin = page("Album für".encode(), article.encode("iso-8859-1") * 3)
    assert latin.count(b"\xc3\xbc") == 1 and len(latin) > 10_000
    result = extract(latin, "album.html", "text/html")
    assert article.strip() in result.text and "\ufffd" not in result.text
    assert not any("U+FFFD" in warning for warning in result.warnings)
    # A UTF-8 page that declares Latin-1 and has one stray invalid byte is still read as UTF-8.
    utf8 = page(b"Album", article.encode() * 3 + b"\xff")
    result = extract(utf8, "album.html", "text/html")
    assert article.strip() in result.text
    assert result.warnings == ["1 invalid UTF-8 byte(s) replaced with U+FFFD"]


def test_text_is_nfc_and_newlines_are_normalised(extract):
    result = extract(("Cafe\u0301 one\r\ntwo\rthree\x07four " + "filler words " * 20).encode(), "a.txt")
    assert result.text.startswith("Café one\ntwo\nthreefour filler")


def test_html_with_xml_declaration_and_no_article(extract):
    page = ('<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml" lang="fr-CA">'
            "<head><title>Avis</title></head><body><nav>Accueil | Contact</nav>"
            "<div>La piscine municipale sera fermée pour entretien du 3 au 9 juin. Merci de votre compréhension.</div>"
            "</body></html>")
    result = extract(page.encode(), "avis.xhtml")
    assert "piscine municipale sera fermée" in result.text and "Accueil" not in result.text
    assert result.declared_language == "fr" and result.title == "Avis"



def test_a_large_html_page_is_read_structurally_instead_of_timing_out(extract):
    """trafilatura reads large pages slowly (6.8 MB: about 14 s here; 15 MB would use the whole
    timeout); above html_scoring_max_bytes the page is read structurally, boilerplate still dropped."""
    para = "<p>The harbour ferry timetable changes in spring and the night crossing returns.</p>\n"
    page = ("<html><head><title>Big timetable</title></head><body><nav><a href='/'>Home</a> <a href='/about'>About us</a></nav>"
            "<main><h1>Timetable</h1>" + para * 50000 + "</main><footer>Copyright footer text</footer>"
            "<script>var tracking = 1;</script></body></html>").encode()
    assert len(page) > 3_000_000
    result = extract(page, "big.html", "text/html")
    assert result.extractor == "lxml-structural" and result.title == "Big timetable"
    assert any("read structurally" in w for w in result.warnings)
    assert result.text.count("night crossing returns") == 50000
    assert "About us" not in result.text and "Copyright footer" not in result.text and "tracking" not in result.text
    small = extract(page[:2000] + b"</main></body></html>", "small.html", "text/html")
    assert small.extractor == "trafilatura"  # below the limit: main-content scoring as before

def test_sniffed_json_that_is_not_json_stays_text(extract):
    result = extract(b"[draft] meeting notes: bring the slides", "notes")
    assert result.mime_type == "text/plain" and "bring the slides" in result.text


def test_json_rendering(extract):
    result = extract(b'{"name": "Kiln", "tags": ["clay", "fire"], "specs": {"max_c": 1300, "gas": false}, '
                     b'"rooms": [{"id": 1}, {"id": 2}], "note": null}', "kiln.json")
    assert result.text == ("name: Kiln\ntags:\n  - clay\n  - fire\nspecs:\n  max_c: 1300\n  gas: false\n"
                           "rooms:\n\n    id: 1\n\n    id: 2\nnote: null")


def test_csv_without_header_and_tsv(extract):
    assert extract(b"1,2,3\n4,5,6\n", "n.csv").text == "1 | 2 | 3\n4 | 5 | 6"
    assert extract(b"city\tcountry\nOslo\tNorway\n", "c.tsv").text == "city: Oslo; country: Norway"


def test_csv_sniffing_is_bounded(limits):
    # csv.Sniffer is quadratic in its sample: on a 65 KB sample this file cost 57 s of CPU.
    from contentflow.extraction.tabular import parse_csv

    data = b'a,b\n1,2\n' + b'"\n,' * 21800
    cpu = time.process_time()
    parsed = parse_csv(data, mime="text/csv", charset=None, limits=limits())
    cpu = time.process_time() - cpu
    assert parsed.text.startswith("a: 1; b: 2\n")
    assert cpu < 2.0, f"{cpu:.1f} s of CPU to read a 65 KB CSV"  # 0.15 s measured

def _docx(body: str, styles: str = "") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("word/document.xml", f"<w:document {W_NS} {MC_NS}><w:body>{body}</w:body></w:document>")
        if styles:
            z.writestr("word/styles.xml", f"<w:styles {W_NS}>{styles}</w:styles>")
    return out.getvalue()


def test_docx_skips_deleted_text_and_reads_text_boxes_once(extract):
    body = ("<w:p><w:r><w:t>Kept </w:t></w:r><w:del><w:r><w:delText>removed</w:delText></w:r></w:del>"
            "<w:ins><w:r><w:t>inserted</w:t></w:r></w:ins></w:p>"
            "<w:p><w:r><mc:AlternateContent><mc:Choice><w:txbxContent><w:p><w:r><w:t>Boxed note</w:t>"
            "</w:r></w:p></w:txbxContent></mc:Choice><mc:Fallback><w:txbxContent><w:p><w:r>"
            "<w:t>Boxed note</w:t></w:r></w:p></w:txbxContent></mc:Fallback></mc:AlternateContent>"
            "</w:r><w:r><w:t>Outer text</w:t></w:r></w:p>")
    text = extract(_docx(body), "a.docx").text
    assert "Kept inserted" in text and "removed" not in text
    assert text.count("Boxed note") == 1 and "Outer text" in text


def test_docx_localised_heading_styles(extract):
    styles = '<w:style w:styleId="berschrift1"><w:name w:val="heading 1"/></w:style>'
    body = '<w:p><w:pPr><w:pStyle w:val="berschrift1"/></w:pPr><w:r><w:t>Einleitung</w:t></w:r></w:p>'
    assert extract(_docx(body, styles), "a.docx").text == "# Einleitung"


@pytest.mark.parametrize("prolog", ['<?xml version="1.0"?><!-- written by hand -->',
                                    '<?xml version="1.0"?><?mso-application progid="Word.Document"?>'])
def test_docx_with_a_comment_or_instruction_before_the_root(extract, prolog):
    # Was "parser crashed: TypeError: 'NoneType' object does not support item deletion".
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("word/document.xml", f"{prolog}<w:document {W_NS}><w:body><w:p><w:r><w:t>Hello"
                                        f"</w:t></w:r></w:p></w:body></w:document>")
    assert extract(out.getvalue(), "a.docx").text == "Hello"

def test_docx_with_only_empty_paragraphs(extract):
    with pytest.raises(UnreadableDocument) as failure:
        extract(_docx("<w:p/><w:p><w:r><w:t> </w:t></w:r></w:p>"), "a.docx")
    assert failure.value.reason == "no text found: the document has no text"


def test_scanned_pdf_page_with_a_stamp_in_its_text_layer_is_ocred(extract):
    from corpus.documents import render_lines  # samples/ is on the path (see support.py)
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawString(500, 20, "Page 7")  # the only text layer: a stamp
    image = render_lines(["Invoice 4711 for the harbour crane"], size=28, width=900)
    page.drawImage(ImageReader(image), 36, 600, image.width * 0.5, image.height * 0.5)
    page.showPage()
    page.save()
    result = extract(out.getvalue(), "scan.pdf")
    assert "Invoice 4711" in result.text and result.pages_ocred == 1


@pytest.mark.parametrize("text, language", [
    ("The committee agreed to install a second rainwater tank next to the tool shed.", "en"),
    ("Der Ausschuss hat beschlossen, neben dem Geräteschuppen einen zweiten Regenwassertank aufzustellen.", "de"),
    ("El comité acordó instalar un segundo depósito de agua de lluvia junto al cobertizo.", "es"),
    ("Il comitato ha deciso di installare un secondo serbatoio per l'acqua piovana.", "it"),
    ("12 34 56 78", None),
    ("Hi there", None),
])
def test_language(text, language):
    assert detect_language(text) == language


def test_dates():
    assert dates.pdf_date("D:20241014093000+02'00'") == "2024-10-14T09:30:00+02:00"
    assert dates.pdf_date("D:2024") == "2024-01-01T00:00:00"
    assert dates.pdf_date("D:20241399") is None
    assert dates.iso_date("2024-03-05T16:45:00Z") == "2024-03-05T16:45:00+00:00"
    assert dates.iso_date("next Tuesday") is None
    assert dates.exif_date("2023:07:01 12:00:05") == "2023-07-01T12:00:05"


def test_lone_surrogates_in_json_are_replaced_not_fatal(extract):
    # The worker died encoding its reply: "the worker exited with status 1".
    assert extract(b'{"t": "bad \\ud800 here"}', "a.json").text == "t: bad \ufffd here"


def test_json_with_a_5000_digit_integer(extract):
    # Was "malformed JSON: Exceeds the limit (4300 digits) for integer string conversion".
    assert extract(b'{"n": ' + b"7" * 5000 + b', "m": 12}', "a.json").text == "n: " + "7" * 5000 + "\nm: 12"


def _pdf_with_a_broken_page_and_title() -> bytes:
    from corpus import rawpdf  # samples/ is on the path (see support.py)

    def page(content: int) -> bytes:
        return (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % content)

    return rawpdf.build([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Count 3 /Kids [6 0 R 99 0 R 7 0 R] >>",  # page 2 does not exist
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        rawpdf.stream(rawpdf.text_content(["First page text here."])),
        rawpdf.stream(rawpdf.text_content(["Third page text here."])),
        page(4), page(5),
        b"<< /Title <FEFF0041D80000420043> /Author (Ann) >>",  # UTF-16 with a lone surrogate
    ], info=8)


def test_pdf_broken_page_is_skipped_and_bad_title_kept(extract):
    # Was "parser crashed: UnicodeDecodeError ..." (title), then "PdfiumError: Failed to load page".
    result = extract(_pdf_with_a_broken_page_and_title(), "a.pdf")
    assert result.text.split() == "First page text here. Third page text here.".split()
    assert result.page_of(result.text.index("Third")) == 3  # the skipped page keeps its number
    assert result.title == "A\ufffdBC" and result.author == "Ann"
    assert "1 page(s) could not be loaded and were skipped: 2" in result.warnings


def _patched_docx(offsets: dict[int, bytes]) -> bytes:
    """A one-part DOCX with bytes overwritten at offsets from its local header (PK\\3\\4) and,
    shifted by 2, in its central directory entry (PK\\1\\2), which has one more field before."""
    data = bytearray(_docx("<w:p><w:r><w:t>Secret</w:t></w:r></w:p>"))
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    for offset, value in offsets.items():
        data[local + offset:local + offset + len(value)] = value
        data[central + offset + 2:central + offset + 2 + len(value)] = value
    return bytes(data)


@pytest.mark.parametrize("offsets, reason", [
    ({6: b"\x01\x00"}, "encrypted DOCX: password required"),  # flag bit 0: encrypted
    ({8: b"\x01\x00"}, "malformed DOCX: That compression method is not supported"),  # "shrink"
    ({14: b"\x00\x00\x00\x00"}, "malformed DOCX: Bad CRC-32 for file 'word/document.xml'"),
])
def test_docx_zip_member_problems_have_clear_reasons(extract, offsets, reason):
    # Were "parser crashed: RuntimeError / NotImplementedError / BadZipFile ...".
    with pytest.raises(UnreadableDocument) as failure:
        extract(_patched_docx(offsets), "a.docx")
    assert failure.value.reason == reason


def test_docx_parsing_stops_at_the_deadline(limits):
    # 3 M empty paragraphs (18 MB unpacked, 26 KB zipped) take 7.4 s to walk; ~195 MB of them ran
    # past the 60 s deadline until the parent killed the worker. Now the walk looks at the clock.
    from contentflow.extraction import docx

    data = _docx("<w:p><w:r><w:t>Hi</w:t></w:r></w:p>" + "<w:p/>" * 3_000_000)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        docx.parse(data, limits=limits(max_compression_ratio=100_000), deadline=started + 0.5)
    assert time.monotonic() - started < 3.0  # 0.51 s measured


@pytest.mark.parametrize("encoding, content_type", [
    ("utf-16-le", "text/plain; charset=utf-16le"), ("utf-16-be", "text/plain; charset=UTF-16BE"),
    ("utf-32-le", "text/plain; charset=utf-32le"), ("utf-16-le", None), ("utf-32-le", None),
])
def test_utf16_and_utf32_without_a_mark(extract, encoding, content_type):
    # ASCII in UTF-16 decodes as "valid" UTF-8 full of NULs: was "binary data in a text/plain file".
    text = "Meeting notes: bring the slides and the budget for next week."
    assert extract(text.encode(encoding), "notes.txt", content_type).text == text


@pytest.mark.parametrize("text, encoding", [
    ("Le café était très agréable, à côté de l'hôtel. Où est la gare ?", "iso-8859-1"),  # was cp775
    ("A informação não está disponível. Ação e coração são palavras.", "cp1252"),  # was cp1250
    ("Ça coûte 5 € – « très cher » dit-il…", "cp1252"),
    ("Zażółć gęślą jaźń — polski tekst z ogonkami.", "cp1250"),  # still not read as cp1252
    ("Příliš žluťoučký kůň úpěl ďábelské ódy.", "cp1250"),
    ("Γεια σου κόσμε, αυτό είναι ελληνικό κείμενο.", "cp1253"),
])
def test_western_european_8_bit_text_is_read_as_cp1252(text, encoding):
    assert decode(text.encode(encoding), mime="text/plain")[0] == text


def test_text_of_only_invisible_characters_is_no_text(extract):
    invisible = ("\u200b\u200c\u200d\u2060\ufeff\u200e \n" * 50).encode("utf-8")
    with pytest.raises(UnreadableDocument, match="^no text found: the document has no text$"):
        extract(invisible, "blank.txt", "text/plain")
    assert extract(("\u200bvisible\u200b " * 3).encode(), "a.txt", "text/plain").text.count("visible") == 3
