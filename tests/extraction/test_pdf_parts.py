"""Issue 13 items 1, 2 and 7 for PDF: glyph-code text layers go to OCR with a warning, ligatures
from font codes are spelled out, annotation and form-field text is read (bounded, in reading
order, as segments of kind annotation/form), and failures say what was found."""

from __future__ import annotations

import re
import sys

import pytest
from .support import SAMPLES, expectations

from contentflow.errors import UnreadableDocument
from contentflow.extraction import pdf, textlayer

sys.path.insert(0, str(SAMPLES))
from corpus import pdf_parts, rawpdf  # noqa: E402

DOCUMENTS = SAMPLES / "documents"
TEXTS = {case.path: case for case in expectations.DOCUMENTS}


def _page_segments(data: bytes) -> list[list[list[str]]]:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(data)
    try:
        form = doc.formenv.raw if doc.init_forms() and doc.formenv else None
        pages = []
        for index in range(len(doc)):
            page = doc[index]
            try:
                pages.append(pdf.page_extras(page, form))
            finally:
                page.close()
        return pages
    finally:
        doc.close()


# --- item 2: is the text layer text? --------------------------------------------------------

PROSE = {
    "en": "The harbour office opens at seven in the morning, and the ferry tickets are sold at the "
          "kiosk beside the pier. Volunteers from the carpentry club repaired the roof of the village "
          "hall in March, and the jumble sale raised four hundred pounds for new chairs. ",
    "de": "Die neue Brücke ist 180 Meter lang und verbindet die Altstadt mit dem Hafen. Die Bauarbeiten "
          "haben wegen gestiegener Stahlpreise länger gedauert, als die Stadt es geplant hatte. ",
    "fr": "Le conseil de quartier propose un jardin partagé derrière l'école élémentaire de la rue des "
          "Tanneurs, et les habitants sont invités à la réunion de jeudi soir pour en discuter. ",
    "ru": "Новый мост длиной сто восемьдесят метров соединяет старый город с портом, и жители "
          "довольны тем, что теперь можно ездить на велосипеде без опасности. ",
    "hi": "यह एक परीक्षण वाक्य है जिसमें हिंदी के शब्द हैं और मात्राएँ भी हैं। पुल की लंबाई एक सौ अस्सी मीटर है। ",
}


def _lines(text: str, width: int = 90) -> str:
    """Text wrapped as PDFium gives a page: lines of about `width` characters."""
    out, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) >= width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*out, line])


def _as_glyph_codes(text: str, first: int) -> str:
    """What a font without a Unicode mapping gives: each character replaced by its code, codes
    assigned in order of first use (spaces included, as subset fonts do)."""
    codes: dict[str, str] = {}
    return "".join(codes.setdefault(ch, chr(first + len(codes))) if ch != "\n" else ch for ch in text)


@pytest.mark.parametrize("language", sorted(PROSE))
def test_real_text_in_several_scripts_is_text(language):
    assert textlayer.garbage_reason(_lines(PROSE[language] * 4)) is None


@pytest.mark.parametrize("page", [
    "Region | Product | Units | Revenue\n" + "South | Insulated bottle | 2,310 | 57,750.00\n" * 30,
    "def parse(data: bytes, *, limits) -> Parsed:\n    return {\"a\": [1, 2], \"b\": self.check(x.text, y)}\n" * 10,
    "\n".join(f"{name} {number}" for name, number in zip(["Ada Okafor", "Ruth Pemberton", "Jens Albers"] * 20,
                                                           range(100, 160))),
    "• first item\n• second item\n• third point to remember\n" * 10,
])
def test_tables_code_and_lists_are_text(page):
    assert textlayer.garbage_reason(page) is None


@pytest.mark.parametrize("first", [33, 40])
def test_glyph_code_residue_is_not_text(first):
    reason = textlayer.garbage_reason(_as_glyph_codes(_lines(PROSE["en"] * 3), first))
    assert reason is not None and ("punctuation and symbols" in reason or "scattered among symbols" in reason)


def test_letters_scattered_among_symbols_are_not_text():
    # Two thirds letters and digits (not residue by share alone), but one by one.
    page = _lines(" ".join("a#1(b" for _ in range(100)))
    assert "scattered among symbols" in textlayer.garbage_reason(page)


def test_private_use_characters_are_not_text():
    text = _as_glyph_codes(_lines(PROSE["en"] * 2), 0xE000)
    assert "private-use or unmapped" in textlayer.garbage_reason(text)


def test_letters_that_spell_nothing_are_not_text():
    shifted = "".join(chr((ord(c) - 97 + 7) % 26 + 97) if "a" <= c <= "z" else c for c in PROSE["en"].lower())
    assert "common words" in textlayer.garbage_reason(_lines(shifted * 3))


def test_ligature_codes_next_to_letters_are_spelled_out():
    text, repaired = textlayer.repair_ligatures("The o\x0ece sta\x0b \x0cnd it e\x0ecient; \uf001le ﬂow\n\x0c")
    assert text == "The office staff find it efficient; file flow\n\x0c"  # a lone form feed stays a page break
    assert repaired == 5  # ﬂ (U+FB02) is right, only unsearchable: spelled out but not counted


def test_plain_text_is_left_alone_by_the_ligature_repair():
    text = "Harbour Logistics - page 1 of 12\nNet revenue grew by fourteen percent."
    assert textlayer.repair_ligatures(text) == (text, 0)


def test_glyph_code_pages_are_ocred_with_a_warning(extract):
    result = extract((DOCUMENTS / "parish-newsletter-glyph-codes.pdf").read_bytes(), "n.pdf")
    assert result.pages_ocred == 2 and result.extractor == "pypdfium2+tesseract"
    for line in pdf_parts.NEWSLETTER_PAGE_1 + pdf_parts.NEWSLETTER_PAGE_2 + pdf_parts.NEWSLETTER_PAGE_3:
        assert line in result.text
    assert not re.search(r"[\ue000-\uf8ff]|[!\"#$%&'()*+,]{4}", result.text)  # no residue kept
    [warning] = result.warnings
    assert warning.startswith("text layer is glyph codes, not text, on 2 pages, OCRed instead: page 1: ")
    assert "page 2: 100 % private-use or unmapped characters" in warning


def test_glyph_code_pages_are_left_out_when_ocr_is_off(extract):
    result = extract((DOCUMENTS / "parish-newsletter-glyph-codes.pdf").read_bytes(), "n.pdf", max_ocr_pages=0)
    assert result.pages_ocred == 0 and result.page_of(result.text.index("Ruth Pemberton")) == 3
    assert result.text.lstrip().startswith("Contact the editor")  # pages 1 and 2 empty, not residue
    assert "left out (OCR is turned off)" in result.warnings[0]
    assert result.warnings[1] == "2 page(s) without a text layer were not OCRed (limit 0)"


def test_glyph_code_pages_go_to_the_deferred_engine(extract):
    from contentflow.extraction import ExtractionLimits, extract_document

    pages_sent = []

    def engine(png: bytes, mime: str) -> str:
        pages_sent.append(png[:8])
        return f"read by the engine, call {len(pages_sent)}"

    result = extract_document((DOCUMENTS / "parish-newsletter-glyph-codes.pdf").read_bytes(), filename="n.pdf",
                              declared_content_type=None, limits=ExtractionLimits(), ocr=engine)
    assert pages_sent == [b"\x89PNG\r\n\x1a\n"] * 2 and result.pages_ocred == 2
    assert result.extractor == "pypdfium2+gemini"
    assert [result.page_of(result.text.index(f"call {n}")) for n in (1, 2)] == [1, 2]
    assert "Ruth Pemberton" in result.text and "OCRed instead" in result.warnings[0]


def test_glyph_codes_only_and_ocr_off_fails_with_what_was_found(extract):
    writer = rawpdf.Writer()
    codes = pdf_parts._first_use_codes(pdf_parts.NEWSLETTER_PAGE_1)
    font = rawpdf.bitmap_type3_font(writer, {c: (f"g{c}", ch) for ch, c in codes.items()}, pdf_parts.FONT)
    for _ in range(2):
        writer.page(rawpdf.show_lines("T1", [bytes(codes[ch] for ch in line) for line in pdf_parts.NEWSLETTER_PAGE_1]),
                    {"T1": font})
    with pytest.raises(UnreadableDocument) as failure:
        extract(writer.finish(), "codes.pdf", max_ocr_pages=0)
    assert failure.value.reason == ("no text found: 2 pages whose text layer is glyph codes, not text; "
                                    "OCR is turned off (max_ocr_pages is 0)")


# --- item 1: annotations and form fields ----------------------------------------------------


def _free_text_only(text: str) -> bytes:
    writer = rawpdf.Writer()
    page = writer.reserve()
    annot = writer.add(b"<< /Type /Annot /Subtype /FreeText /Rect [72 680 272 720] /P %d 0 R /F 4 "
                       b"/Contents %s /DA (/Helv 18 Tf 0 g) >>" % (page, rawpdf.pdf_string(text)))
    writer.page(b"", {}, annots=[annot], number=page)
    return writer.finish()


def test_a_pdf_whose_only_text_is_a_free_text_annotation_gives_it(extract):
    result = extract(_free_text_only("Hello World"), "hello.pdf")
    assert result.text == "Hello World" and result.page_count == 1 and result.pages_ocred == 0


def test_annotations_are_read_top_to_bottom_without_popups_or_hidden_ones():
    data = (DOCUMENTS / "reviewed-draft-annotations.pdf").read_bytes()
    texts = pdf_parts.ANNOTATION_TEXTS
    assert _page_segments(data) == [[
        ["annotation", texts["free_text"]], ["annotation", texts["sticky_note"]],
        ["annotation", "Approved"], ["annotation", texts["square"]]]]


def test_form_fields_are_labelled_values_and_never_passwords():
    data = (DOCUMENTS / "volunteer-registration-form.pdf").read_bytes()
    [segments] = _page_segments(data)
    values = pdf_parts.FORM_VALUES
    assert segments == [["form", f"{label}: {values[label]}"] for label in ("Full name", "Email", "Preferred shift")] + [
        ["form", "Role: Kitchen"], ["form", "First aid certificate: yes"], ["form", "Newsletter: no"]]
    assert not any(pdf_parts.FORM_SECRET in text for _, text in segments)


def test_annotation_text_is_bounded_per_value_and_per_page():
    writer = rawpdf.Writer()
    page = writer.reserve()
    annots = [writer.add(b"<< /Type /Annot /Subtype /Text /Rect [10 %d 30 %d] /P %d 0 R /Contents %s >>"
                         % (700 - i, 710 - i, page, rawpdf.pdf_string(f"note {i} " + "x" * 5000)))
              for i in range(pdf.MAX_ANNOTATIONS_PER_PAGE + 50)]
    writer.page(b"", {}, annots=annots, number=page)
    [segments] = _page_segments(writer.finish())
    assert all(len(text) == pdf.MAX_VALUE_CHARS for _, text in segments)
    assert pdf.MAX_EXTRA_CHARS_PER_PAGE <= sum(len(t) for _, t in segments) < pdf.MAX_EXTRA_CHARS_PER_PAGE + pdf.MAX_VALUE_CHARS
    assert segments[0][1].startswith("note 0 ")  # the topmost first


# --- item 7: reasons that say what was found ---------------------------------------------------


def test_blank_pages_reason_counts_them(extract):
    with pytest.raises(UnreadableDocument) as failure:
        extract(rawpdf.pages_document([b"", b""]), "blank.pdf")
    assert failure.value.reason == "no text found: 2 pages with no text layer and no images to OCR"


@pytest.mark.parametrize("counts, expected", [
    (dict(blank=3, no_layer=0, garbage=0, ocr_empty=0, not_ocred=0, ocr_limit=20),
     "no text found: 3 pages with no text layer and no images to OCR"),
    (dict(blank=1, no_layer=2, garbage=0, ocr_empty=2, not_ocred=0, ocr_limit=20),
     "no text found: 2 pages with images but no text layer, 1 page with no text layer and no images to OCR; "
     "OCR found no text in 2 page images"),
    (dict(blank=0, no_layer=25, garbage=0, ocr_empty=20, not_ocred=5, ocr_limit=20),
     "no text found: 25 pages with images but no text layer; OCR found no text in 20 page images; "
     "5 pages not OCRed (max_ocr_pages is 20)"),
])
def test_no_text_reason_names_what_was_found_and_what_happened(counts, expected):
    assert pdf.no_text_reason(**counts) == expected


# --- false positives (review of the first version) ------------------------------------------

PDF_EVAL = SAMPLES / "pdf_eval" / "files"


def test_a_line_end_is_not_an_fl_ligature():
    # PDFium ends every line with CR LF, and CR is OT1's fl code: "eirmod\r\n" is not "eirmodfl".
    for text in ("Lorem ipsum dolor sit amet, sed diam nonumy eirmod\r\ntempor invidunt ut l\x02abore\r\n",
                 "Café and crêpes on the quay\r\nopen until nine\r\n"):
        assert textlayer.repair_ligatures(text) == (text, 0)


def test_a_lone_carriage_return_between_letters_is_fl_even_in_plain_ascii():
    assert textlayer.repair_ligatures("A \ruent o\x0ber\r\nre\rect\r\n") == ("A fluent offer\r\nreflect\r\n", 3)
    # the ligature at a line end: its CR, then the line's CR LF
    assert textlayer.repair_ligatures("the wa\r\r\nnext") == ("the wafl\r\nnext", 1)


def test_math_delimiters_at_ligature_codes_are_not_ligatures():
    # cmex puts a bar at codes 12 and 13: "|π|" next to a Greek letter is no ligature.
    text = "gilt:\r\n\x0c\r\n\x0cπ\r\n\x0c ≤ 2 ∀x"
    assert textlayer.repair_ligatures(text) == (text, 0)


def test_ordinary_multi_line_pdf_has_no_ligatures_and_no_warning(extract):
    lines = ["The harbour café opens at seven in the morning", "and the ferry tickets are sold at the kiosk",
             "beside the pier until the evening"]
    result = extract(rawpdf.pages_document([rawpdf.text_content(lines)]), "plain.pdf")
    assert result.text.split("\n") == lines
    assert result.warnings == [] and result.pages_ocred == 0


@pytest.mark.parametrize("name", ["minimal-document.pdf", "pdflatex-4-pages.pdf", "google-doc-document.pdf",
                                  "multicolumn.pdf", "GeoTopo-komprimiert.pdf"])
def test_vendored_pdftex_and_other_pdfs_get_no_ligature_or_glyph_code_verdict(extract, name):
    result = extract((PDF_EVAL / name).read_bytes(), name)
    assert not any("ligature" in w or "glyph codes" in w for w in result.warnings), result.warnings
    assert result.pages_ocred == 0


def test_vendored_pdf_line_ends_keep_their_words(extract):
    result = extract((PDF_EVAL / "minimal-document.pdf").read_bytes(), "m.pdf")
    assert "nonumy eirmod\ntempor" in result.text and "eirmodfl" not in result.text


LOREM = ("Suspendisse vel felis. Ut lorem lorem, interdum eu, tincidunt sit amet, laoreet vitae, arcu. "
         "Aenean faucibus pede eu ante. Praesent enim elit, rutrum at, molestie non, nonummy vel, nisl. "
         "Ut lectus eros, malesuada sit amet, fermentum eu, sodales cursus, magna. Donec eu purus. "
         "Quisque vehicula, urna sed ultricies auctor, pede lorem egestas dui, et convallis elit erat sed "
         "nulla. Donec luctus. Curabitur et nunc. Aliquam dolor odio, commodo pretium, ultricies non, "
         "pharetra in, velit. Integer arcu est, nonummy in, fermentum faucibus, egestas vel, odio. ")
WELSH = ("Mae'r gwasanaeth bws newydd yn rhedeg bob awr o'r orsaf i ganol y dref, ac mae'r cyngor yn "
         "gobeithio y bydd mwy o bobl yn gadael eu ceir gartref. Bydd y llyfrgell ar gau ddydd Llun ar "
         "gyfer gwaith cynnal a chadw ar y to. ")


@pytest.mark.parametrize("prose", [LOREM, WELSH], ids=["lorem", "welsh"])
def test_prose_in_a_language_without_a_word_list_is_text(prose):
    page = _lines(prose * 3)  # under 5 % common words: the word test alone called it garbage
    assert sum(map(textlayer.common_words().__contains__, page.lower().split())) < 0.05 * len(page.split())
    assert textlayer.garbage_reason(page) is None


@pytest.mark.parametrize("shift", range(1, 26))
def test_english_in_any_shifted_encoding_is_still_not_text(shift):
    shifted = "".join(chr((ord(c) - 97 + shift) % 26 + 97) if "a" <= c <= "z" else c for c in PROSE["en"].lower())
    assert "common words" in textlayer.garbage_reason(_lines(shifted * 3))


def test_a_lorem_ipsum_pdf_page_is_read_from_its_layer_not_ocred(extract):
    import pypdfium2 as pdfium

    data = (PDF_EVAL / "multicolumn.pdf").read_bytes()
    doc = pdfium.PdfDocument(data)
    try:
        layer = doc[1].get_textpage().get_text_bounded()
    finally:
        doc.close()
    assert textlayer.garbage_reason(layer) is None
    result = extract(data, "multicolumn.pdf")
    assert result.pages_ocred == 0 and result.extractor == "pypdfium2"
    assert "Suspendisse vel felis" in result.text and result.page_of(result.text.index("Suspendisse vel felis")) == 2
