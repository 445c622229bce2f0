"""Sample DOCX files whose text lies outside the body (issue 13): a survey report with page headers
and footers (a first-page one, even and odd pages, a second section repeating them), footnotes,
endnotes and reviewers' comments; and two letters whose whole body is an imported part
(`w:altChunk`), as document generators write them: one HTML, one MHT (MIME HTML with a picture).

python-docx writes the document, the headers, footers and comments; the parts it has no API for
(notes, imported parts) are added with zipfile and lxml, with their relationships and content
types, as Word writes them."""

from __future__ import annotations

import io
import zipfile

from lxml import etree

from corpus.documents import FIXED_DATE, _fixed_zip_times

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
W = f"{{{W_NS}}}"

# --- the survey report ------------------------------------------------------------------------

SURVEY_TITLE = "Annual Survey of the Town Moorings 2024"
SURVEY_AUTHOR = "Ines Carvalho"
SURVEY_FIRST_HEADER = "Kestrel Bay Harbour Board"
SURVEY_HEADER = "Annual survey of the town moorings, draft for the board meeting of 12 November"
SURVEY_EVEN_HEADER = "Kestrel Bay Harbour Board, moorings survey"
SURVEY_FOOTER = "Prepared by the harbour office, Quay Street, Kestrel Bay"
# (text, footnote number or None): a footnote reference follows the paragraph's text.
SURVEY_SUMMARY = "Summary"
SURVEY_BODY = [
    ("The survey counted 214 moorings in use, eleven more than last year.", 1),
    ("Chains on the north pontoon are worn beyond the replacement gauge and must be renewed before "
     "the winter storms.", 2),
    ("Mooring fees stay unchanged for residents; visitor fees rise by four percent.", None),
]
SURVEY_APPENDIX = "Appendix: mooring register by pontoon"
SURVEY_FOOTNOTES = {
    1: "Counted from the water on 3 and 4 September at low tide.",
    2: "The replacement gauge follows the 2019 inspection standard of the harbour authorities' association.",
}
SURVEY_ENDNOTE = "Sources: the harbour dues ledger 2023-2024 and the divers' inspection logs."
SURVEY_COMMENTS = [
    ("Tomas Reid", "Check the north pontoon figure against the divers' log before this goes to the board."),
    ("Ines Carvalho", "Confirmed with the dive team on Friday."),
]


def _xml(element) -> bytes:
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8", standalone=True)


def _notes_part(tag: str, notes: dict[int, str]) -> bytes:
    """word/footnotes.xml or endnotes.xml as Word writes it: the two separator notes, then the notes,
    each starting with its reference mark."""
    root = etree.Element(W + tag + "s", nsmap={"w": W_NS})
    for note_id, kind in ((-1, "separator"), (0, "continuationSeparator")):
        note = etree.SubElement(root, W + tag, {W + "type": kind, W + "id": str(note_id)})
        run = etree.SubElement(etree.SubElement(note, W + "p"), W + "r")
        etree.SubElement(run, W + ("separator" if kind == "separator" else "continuationSeparator"))
    for note_id, text in notes.items():
        note = etree.SubElement(root, W + tag, {W + "id": str(note_id)})
        para = etree.SubElement(note, W + "p")
        style = etree.SubElement(etree.SubElement(para, W + "pPr"), W + "pStyle")
        style.set(W + "val", "FootnoteText" if tag == "footnote" else "EndnoteText")
        mark = etree.SubElement(para, W + "r")
        etree.SubElement(etree.SubElement(mark, W + "rPr"), W + "vertAlign").set(W + "val", "superscript")
        etree.SubElement(mark, W + ("footnoteRef" if tag == "footnote" else "endnoteRef"))
        etree.SubElement(etree.SubElement(para, W + "r"), W + "t", {
            "{http://www.w3.org/XML/1998/namespace}space": "preserve"}).text = " " + text
    return _xml(root)


def _note_reference(paragraph, tag: str, note_id: int) -> None:
    run = paragraph._p.add_r()
    properties = etree.SubElement(run, W + "rPr")
    etree.SubElement(properties, W + "vertAlign").set(W + "val", "superscript")
    etree.SubElement(run, W + f"{tag}Reference").set(W + "id", str(note_id))


def _add_parts(data: bytes, parts: dict[str, tuple[bytes, str, str | None]],
               body_edit=None) -> bytes:
    """Adds `parts` ({name: (bytes, content type, relationship type of the main document or None)})
    with their relationships and content types; `body_edit(body)` may change word/document.xml."""
    source = zipfile.ZipFile(io.BytesIO(data))
    files = {info.filename: source.read(info.filename) for info in source.infolist()}
    types = etree.fromstring(files["[Content_Types].xml"])
    rels = etree.fromstring(files["word/_rels/document.xml.rels"])
    used = {rel.get("Id") for rel in rels}
    ids: dict[str, str] = {}
    for name, (content, content_type, rel_type) in parts.items():
        files[name] = content
        etree.SubElement(types, f"{{{CT_NS}}}Override", PartName="/" + name, ContentType=content_type)
        if rel_type:
            rel_id = next(f"rId{n}" for n in range(100, 1000) if f"rId{n}" not in used)
            used.add(rel_id)
            ids[name] = rel_id
            etree.SubElement(rels, f"{{{PKG_RELS_NS}}}Relationship", Id=rel_id, Type=REL + rel_type,
                             Target=name.removeprefix("word/"))
    if "word/comments.xml" in files:  # python-docx dates each comment now: reproducible instead
        comments = etree.fromstring(files["word/comments.xml"])
        for comment in comments.iter(W + "comment"):
            comment.set(W + "date", FIXED_DATE.strftime("%Y-%m-%dT%H:%M:%SZ"))
        files["word/comments.xml"] = _xml(comments)
    files["[Content_Types].xml"] = _xml(types)
    files["word/_rels/document.xml.rels"] = _xml(rels)
    if body_edit:
        document = etree.fromstring(files["word/document.xml"])
        body_edit(document.find(W + "body"), ids)
        files["word/document.xml"] = _xml(document)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in files.items():
            target.writestr(name, content)
    return _fixed_zip_times(out.getvalue())


def _new_document(title: str, author: str):
    import docx

    document = docx.Document()
    props = document.core_properties
    props.title, props.author = title, author
    props.created = props.modified = FIXED_DATE.replace(tzinfo=None)
    props.last_modified_by = author
    props.revision = 1
    return document


def _saved(document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def survey_docx() -> bytes:
    from docx.enum.section import WD_ORIENT, WD_SECTION

    document = _new_document(SURVEY_TITLE, SURVEY_AUTHOR)
    document.settings.odd_and_even_pages_header_footer = True
    section = document.sections[0]
    section.different_first_page_header_footer = True
    section.first_page_header.paragraphs[0].text = SURVEY_FIRST_HEADER
    section.header.paragraphs[0].text = SURVEY_HEADER
    section.even_page_header.paragraphs[0].text = SURVEY_EVEN_HEADER
    section.footer.paragraphs[0].text = SURVEY_FOOTER
    section.first_page_footer.paragraphs[0].text = SURVEY_FOOTER

    document.add_heading(SURVEY_TITLE, level=0)
    document.add_heading(SURVEY_SUMMARY, level=1)
    for text, note in SURVEY_BODY:
        paragraph = document.add_paragraph(text)
        if note:
            _note_reference(paragraph, "footnote", note)
    _note_reference(document.paragraphs[-1], "endnote", 1)
    commented = next(p for p in document.paragraphs if "north pontoon" in p.text)
    for author, text in SURVEY_COMMENTS:
        document.add_comment(commented.runs, text=text, author=author, initials="".join(w[0] for w in author.split()))

    # A landscape appendix: Word gives a new section its own copy of the headers and footers when
    # they are unlinked; the same text must be read once.
    appendix = document.add_section(WD_SECTION.NEW_PAGE)
    appendix.orientation = WD_ORIENT.LANDSCAPE
    appendix.page_width, appendix.page_height = section.page_height, section.page_width
    for name in ("header", "footer", "even_page_header"):
        part = getattr(appendix, name)
        part.is_linked_to_previous = False
        part.paragraphs[0].text = getattr(section, name).paragraphs[0].text
    document.add_heading(SURVEY_APPENDIX, level=1)
    table = document.add_table(rows=3, cols=2)
    for row, values in zip(table.rows, [("Pontoon", "Moorings"), ("North", "88"), ("South", "126")]):
        for cell, value in zip(row.cells, values):
            cell.text = value

    wordml = "application/vnd.openxmlformats-officedocument.wordprocessingml"
    return _add_parts(_saved(document), {
        "word/footnotes.xml": (_notes_part("footnote", SURVEY_FOOTNOTES), wordml + ".footnotes+xml", "footnotes"),
        "word/endnotes.xml": (_notes_part("endnote", {1: SURVEY_ENDNOTE}), wordml + ".endnotes+xml", "endnotes"),
    })


# --- letters whose body is an imported part ---------------------------------------------------

LETTER_TITLE = "Berth allocation for the 2025 season"
LETTER_AUTHOR = "Kestrel Bay Harbour Office"
LETTER_PARAGRAPHS = [
    "Dear Ms Okonkwo,",
    "We are pleased to confirm berth 14 on the south pontoon for your yacht Marram for the 2025 "
    "season, from 1 April to 31 October.",
    "The berth fee of 1,240 pounds is due by 15 March; the harbour office accepts bank transfer "
    "and card payments at the quay.",
    "Please bring your insurance certificate when you collect the gate key fob.",
    "Yours sincerely,",
    "Harbour master, Kestrel Bay",
]
LETTER_TABLE = [("Berth", "14, south pontoon"), ("Length overall", "9.8 m"), ("Season", "1 April to 31 October")]

NOTICE_PARAGRAPHS = [
    "Notice to mariners 7/2024: dredging of the inner channel",
    "Dredging of the inner channel starts on 18 November and lasts about three weeks.",
    "The channel stays open; keep clear of the dredger Tern, which shows two green lights by night.",
    "Bélanger Marine carries out the work on behalf of the harbour board.",
]


def _letter_html(paragraphs: list[str], table: list[tuple[str, str]] | None, charset: str) -> str:
    rows = "".join(f"<tr><td>{a}</td><td>{b}</td></tr>" for a, b in table or [])
    body = "".join(f"<p>{text}</p>" for text in paragraphs[1:])
    grid = f"<table border=\"1\">{rows}</table>" if rows else ""
    return (f"<!DOCTYPE html><html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset={charset}\">"
            f"<title>{paragraphs[0]}</title></head><body><h1>{paragraphs[0]}</h1>{body}{grid}</body></html>")


def _altchunk_only(part: str, content: bytes, content_type: str, title: str, author: str) -> bytes:
    """A DOCX whose body is one w:altChunk and the section properties, as docx4j, the Open XML
    SDK's AltChunk and mail-merge tools write it (Word merges the part in when it opens the file)."""
    document = _new_document(title, author)
    for paragraph in list(document.paragraphs):
        paragraph._p.getparent().remove(paragraph._p)

    def insert(body, ids):
        chunk = etree.Element(W + "altChunk", nsmap={"r": R_NS})
        chunk.set(f"{{{R_NS}}}id", ids[part])
        body.insert(0, chunk)

    return _add_parts(_saved(document), {part: (content, content_type, "aFChunk")}, body_edit=insert)


def altchunk_html_docx() -> bytes:
    html = _letter_html(["Berth allocation for the 2025 season", *LETTER_PARAGRAPHS], LETTER_TABLE, "utf-8")
    return _altchunk_only("word/afchunk.htm", html.encode("utf-8"), "text/html", LETTER_TITLE, LETTER_AUTHOR)


def altchunk_mht_docx() -> bytes:
    """The MHT as Word or Internet Explorer saves a page: multipart/related, the HTML in
    windows-1252 quoted-printable, a picture as base64 (not text: never read)."""
    import base64
    import quopri

    html = _letter_html(NOTICE_PARAGRAPHS, None, "windows-1252").replace(
        "</h1>", "</h1><img src=\"cid:chart.png\" alt=\"\">")
    encoded = quopri.encodestring(html.encode("cp1252")).decode("ascii")
    picture = base64.encodebytes(bytes(range(256)) * 4).decode("ascii")
    boundary = "----=_NextPart_01DB2A5C.4E2B7C10"
    mht = (
        "MIME-Version: 1.0\r\n"
        f"Content-Type: multipart/related; boundary=\"{boundary}\"; type=\"text/html\"\r\n\r\n"
        "This document is a Single File Web Page, also known as a Web Archive file.\r\n\r\n"
        f"--{boundary}\r\nContent-Location: file:///C:/notice.htm\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\nContent-Type: text/html; charset=\"windows-1252\"\r\n\r\n"
        f"{encoded}\r\n\r\n"
        f"--{boundary}\r\nContent-Location: cid:chart.png\r\nContent-Transfer-Encoding: base64\r\n"
        f"Content-Type: image/png\r\n\r\n{picture}\r\n"
        f"--{boundary}--\r\n"
    )
    return _altchunk_only("word/afchunk.mht", mht.encode("ascii"), "message/rfc822",
                          "Notice to mariners 7/2024", LETTER_AUTHOR)


DOCX_PARTS = {
    "moorings-survey-notes-comments.docx": survey_docx,
    "berth-letter-altchunk-html.docx": altchunk_html_docx,
    "dredging-notice-altchunk-mht.docx": altchunk_mht_docx,
}
