"""DOCX text outside the body (issue 13): headers and footers Word shows (each distinct text once),
footnotes, endnotes, comments with their authors, imported parts (altChunk: HTML, MHT, plain
text) at their place; each marked with where it came from, and each part under the same limits
as the body."""

from __future__ import annotations

import io
import time
import zipfile
from types import SimpleNamespace

import pytest

from contentflow.errors import UnreadableDocument
from contentflow.extraction import ExtractionLimits, docx

W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
R_NS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"


def para(text: str) -> str:
    return f"<w:p><w:r><w:t xml:space='preserve'>{text}</w:t></w:r></w:p>"


def make_docx(body: str, parts: dict[str, tuple[str, str, bytes | str, str]] | None = None,
              extra: dict[str, bytes | str] | None = None, compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A minimal Word file. `parts`: rId -> (part name, relationship type, content, content type);
    `body`: the inside of w:body (refer to parts by their rId)."""
    parts = parts or {}
    overrides = "".join(f'<Override PartName="/{name}" ContentType="{ctype}"/>'
                        for name, _, _, ctype in parts.values())
    rels = "".join(f'<Relationship Id="{rid}" Type="{REL}{kind}" Target="{name.removeprefix("word/")}"/>'
                   for rid, (name, kind, _, _) in parts.items())
    files = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                               '<Default Extension="xml" ContentType="application/xml"/>' + overrides + "</Types>",
        "_rels/.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                       f'<Relationship Id="rId1" Type="{REL}officeDocument" Target="word/document.xml"/></Relationships>',
        "word/document.xml": f"<w:document {W_NS} {R_NS}><w:body>{body}</w:body></w:document>",
        "word/_rels/document.xml.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                                        f'relationships">{rels}</Relationships>',
        **{name: content for name, _, content, _ in parts.values()},
        **(extra or {}),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compress) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


def header(rid: str, name: str, text: str, kind: str = "header") -> dict:
    tag = "hdr" if kind == "header" else "ftr"
    return {rid: (name, kind, f"<w:{tag} {W_NS}>{para(text)}</w:{tag}>",
                  f"application/vnd.openxmlformats-officedocument.wordprocessingml.{kind}+xml")}


def section(*refs: tuple[str, str, str], title_page: bool = False) -> str:
    """sectPr with (header|footer, type, rId) references."""
    inner = "".join(f'<w:{kind}Reference w:type="{kind_type}" r:id="{rid}"/>' for kind, kind_type, rid in refs)
    return f"<w:sectPr>{inner}{'<w:titlePg/>' if title_page else ''}</w:sectPr>"


def notes(kind: str, *texts: str, raw: str = "") -> dict:
    tag = kind.rstrip("s")
    separators = (f'<w:{tag} w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:{tag}>'
                  f'<w:{tag} w:type="continuationSeparator" w:id="0"><w:p><w:r><w:t>SEPARATOR TEXT</w:t></w:r>'
                  f"</w:p></w:{tag}>")
    body = "".join(f'<w:{tag} w:id="{n}">{para(text)}</w:{tag}>' for n, text in enumerate(texts, 1))
    return {f"rId-{kind}": (f"word/{kind}.xml", kind, f"<w:{kind} {W_NS}>{separators}{body}{raw}</w:{kind}>",
                            f"application/vnd.openxmlformats-officedocument.wordprocessingml.{kind}+xml")}


def marked(result) -> list[tuple[str, str]]:
    return [(r["kind"], result.text[r["start"]:r["end"]]) for r in result.regions]


# --- headers and footers --------------------------------------------------------------------

def test_headers_and_footers_word_shows_are_read_once_after_the_body(extract):
    parts = {**header("rIdH1", "word/header1.xml", "Harbour Board"),
             **header("rIdH2", "word/header2.xml", "Harbour Board"),  # the next section's copy
             **header("rIdH3", "word/header3.xml", "Cover page title", ),
             **header("rIdF1", "word/footer1.xml", "Quay Street, Kestrel Bay", "footer")}
    first = section(("header", "default", "rIdH1"), ("header", "first", "rIdH3"), ("footer", "default", "rIdF1"),
                    title_page=True)
    body = (para("First section.") + f"<w:p><w:pPr>{first}</w:pPr></w:p>"
            + para("Second section.") + section(("header", "default", "rIdH2"), ("footer", "default", "rIdF1")))
    result = extract(make_docx(body, parts), "a.docx")
    assert result.text == ("First section.\n\nSecond section.\n\nHarbour Board\n\nCover page title\n\n"
                           "Quay Street, Kestrel Bay")
    assert marked(result) == [("header", "Harbour Board\n\nCover page title"), ("footer", "Quay Street, Kestrel Bay")]


def test_first_and_even_page_headers_are_read_only_when_word_shows_them(extract):
    parts = {**header("rIdH1", "word/header1.xml", "Default header"),
             **header("rIdH2", "word/header2.xml", "First page header"),
             **header("rIdH3", "word/header3.xml", "Even page header"),
             "rIdS": ("word/settings.xml", "settings", f"<w:settings {W_NS}><w:evenAndOddHeaders/></w:settings>",
                      "application/vnd.openxmlformats-officedocument.wordprocessingml.settings+xml")}
    refs = (("header", "default", "rIdH1"), ("header", "first", "rIdH2"), ("header", "even", "rIdH3"))
    without_settings = {k: v for k, v in parts.items() if k != "rIdS"}
    hidden = extract(make_docx(para("Body.") + section(*refs), without_settings), "a.docx")
    assert marked(hidden) == [("header", "Default header")]  # no titlePg, no evenAndOddHeaders
    shown = extract(make_docx(para("Body.") + section(*refs, title_page=True), parts), "a.docx")
    assert marked(shown) == [("header", "Default header\n\nFirst page header\n\nEven page header")]


def test_a_document_whose_only_text_is_a_header_is_read(extract):
    letterhead = header("rIdH1", "word/header1.xml", "Letterhead only")
    result = extract(make_docx(section(("header", "default", "rIdH1")), letterhead), "a.docx")
    assert result.text == "Letterhead only" and [c.source for c in result.chunks] == ["header"]


# --- notes and comments ---------------------------------------------------------------------

def test_notes_and_comments_follow_in_order_with_authors_and_without_separators(extract):
    comments = {"rIdC": ("word/comments.xml", "comments",
                         f"<w:comments {W_NS}><w:comment w:id='0' w:author='Tomas  Reid' w:initials='TR'>"
                         f"{para('Check this figure.')}{para('Second line.')}</w:comment>"
                         f"<w:comment w:id='1'>{para('No author given.')}</w:comment></w:comments>",
                         "application/vnd.openxmlformats-officedocument.wordprocessingml.comments+xml")}
    deleted = ('<w:footnote w:id="9"><w:p><w:del><w:r><w:delText>deleted note</w:delText></w:r></w:del></w:p>'
               "</w:footnote>")
    parts = {**notes("footnotes", "First footnote, on the counting method used at low tide.",
                     "Second footnote, on the inspection standard.", raw=deleted),
             **notes("endnotes", "The only endnote: sources are the dues ledger and the divers' logs."), **comments}
    result = extract(make_docx(para("Body text. " * 8) + section(), parts), "a.docx", chunk_chars=100,
                     chunk_overlap_chars=0)
    assert marked(result) == [("footnote", "First footnote, on the counting method used at low tide.\n\n"
                                           "Second footnote, on the inspection standard."),
                              ("endnote", "The only endnote: sources are the dues ledger and the divers' logs."),
                              ("comment", "Tomas Reid: Check this figure.\nSecond line.\n\nNo author given.")]
    assert "SEPARATOR" not in result.text and "deleted note" not in result.text
    # Chunks of about one part each: each says the kind of its part.
    assert {c.source for c in result.chunks} == {"body", "footnote", "endnote", "comment"}
    assert all(c.source == result.source_at(c.start) == result.source_at(c.end - 1) for c in result.chunks)


# --- imported parts (altChunk) ----------------------------------------------------------------

def alt(rid: str, name: str, content: bytes | str, ctype: str) -> dict:
    return {rid: (name, "aFChunk", content, ctype)}


def test_an_html_altchunk_is_body_text_at_its_place_even_in_a_table_cell(extract):
    html = ("<html><body><p>Imported paragraph about the berth allocation for the coming season, written "
            "by the office.</p></body></html>")
    text_part = "Plain imported line.\r\nSecond plain line."
    body = (para("Before.") + '<w:altChunk r:id="rIdA1"/>' + para("After.")
            + f"<w:tbl><w:tr><w:tc>{para('Cell:')}<w:altChunk r:id='rIdA2'/></w:tc>"
            + f"<w:tc>{para('x')}</w:tc></w:tr></w:tbl>")
    result = extract(make_docx(body, {**alt("rIdA1", "word/afchunk.htm", html, "text/html"),
                                      **alt("rIdA2", "word/chunk2.txt", text_part, "text/plain")}), "a.docx")
    assert result.text == ("Before.\n\nImported paragraph about the berth allocation for the coming season, written by "
                           "the office.\n\nAfter.\n\nCell: Plain imported line. Second plain line. | x")
    assert result.regions == []


def test_an_mht_altchunk_is_read_from_its_html_part(extract):
    mht = ("MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"b1\"\r\n\r\n--b1\r\n"
           "Content-Type: text/html; charset=\"windows-1252\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
           "<html><body><p>Caf=E9 terrace opens on the quay in May, weather permitting, every=\r\n day.</p>"
           "</body></html>\r\n--b1\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           "iVBORw0KGgo=\r\n--b1--\r\n").encode("ascii")
    result = extract(make_docx('<w:altChunk r:id="rIdA"/>', alt("rIdA", "word/afchunk.mht", mht, "message/rfc822")),
                     "a.docx")
    assert result.text == "Café terrace opens on the quay in May, weather permitting, every day."


def test_unsupported_or_missing_imported_parts_are_named(extract):
    rtf = alt("rIdA", "word/afchunk.rtf", r"{\rtf1 hidden}", "application/rtf")
    with pytest.raises(UnreadableDocument) as failure:
        extract(make_docx('<w:altChunk r:id="rIdA"/>', rtf), "a.docx")
    assert failure.value.reason == ("no text found: the document has no text; imported parts not read: "
                                    "word/afchunk.rtf is application/rtf")
    result = extract(make_docx(para("Body.") + '<w:altChunk r:id="rIdA"/><w:altChunk r:id="rIdGone"/>',
                               {**rtf, "rIdGone": ("word/gone.htm", "aFChunk", "", "text/html")}), "a.docx")
    assert result.text == "Body."
    assert result.warnings == ["imported part word/afchunk.rtf not read: application/rtf is not supported",
                               "imported part word/gone.htm not read: empty file: no text to extract"]


def test_only_so_many_imported_parts_are_read(monkeypatch):
    monkeypatch.setattr(docx, "MAX_ALT_CHUNKS", 2)
    chunks = {f"rId{n}": (f"word/c{n}.txt", "aFChunk", f"Imported {n}.", "text/plain") for n in range(4)}
    data = make_docx("".join(f'<w:altChunk r:id="rId{n}"/>' for n in range(4)), chunks)
    parsed = docx.parse(data, limits=SimpleNamespace(**ExtractionLimits().model_dump()), deadline=time.monotonic() + 30)
    assert parsed.text == "Imported 0.\n\nImported 1."
    assert parsed.warnings == ["only the first 2 imported parts (altChunk) were read"]


# --- the same limits as the body ------------------------------------------------------------

def bomb_xml(root: str) -> str:
    return f"<w:{root} {W_NS}>" + " " * 3_000_000 + "</w:" + root + ">"


@pytest.mark.parametrize("rid, parts, body, reason", [
    ("footnotes", notes("footnotes"), "", "compression bomb: word/footnotes.xml expands"),
    ("header", header("rIdH", "word/header1.xml", ""), section(("header", "default", "rIdH")),
     "compression bomb: word/header1.xml expands"),
    ("altchunk", alt("rIdA", "word/afchunk.htm", "", "text/html"), '<w:altChunk r:id="rIdA"/>',
     "compression bomb: word/afchunk.htm expands"),
])
def test_a_bomb_in_any_part_read_is_refused(extract, rid, parts, body, reason):
    [(key, (name, kind, _, ctype))] = parts.items()
    bomb = bomb_xml({"footnotes": "footnotes", "header": "hdr"}.get(rid, "x")).encode()
    if rid == "altchunk":
        bomb = b"<html><body>" + b" " * 3_000_000 + b"<p>x</p></body></html>"
    with pytest.raises(UnreadableDocument) as failure:
        extract(make_docx(para("Body.") + body, {key: (name, kind, bomb, ctype)}), "a.docx")
    assert failure.value.reason.startswith(reason) and failure.value.reason.endswith("times (limit 100)")


def test_entities_are_refused_and_damaged_parts_leave_the_body(extract):
    dtd = ('<?xml version="1.0"?><!DOCTYPE w:comments [<!ENTITY a "aaaaaaaaaa">]>'
           f"<w:comments {W_NS}><w:comment w:id='0'>{para('&a;')}</w:comment></w:comments>")
    parts = {"rIdC": ("word/comments.xml", "comments", dtd, "application/xml")}
    with pytest.raises(UnreadableDocument, match=r"^malformed DOCX: word/comments.xml declares a DTD"):
        extract(make_docx(para("Body."), parts), "a.docx")
    broken = {"rIdC": ("word/comments.xml", "comments", f"<w:comments {W_NS}><w:comment>", "application/xml")}
    result = extract(make_docx(para("Body."), broken), "a.docx")
    assert result.text == "Body." and len(result.warnings) == 1
    assert result.warnings[0].startswith("word/comments.xml not read: ")


def test_deep_nesting_in_a_note_is_refused(extract):
    deep = "<w:r>" * 300 + "</w:r>" * 300
    parts = notes("footnotes", raw=f'<w:footnote w:id="5"><w:p>{deep}</w:p></w:footnote>')
    with pytest.raises(UnreadableDocument, match="DOCX nested too deeply: more than 200 levels"):
        extract(make_docx(para("Body."), parts), "a.docx")


def test_the_text_budget_covers_all_parts(extract):
    parts = {**notes("footnotes", "A footnote that does not fit in what is left of the budget."),
             **notes("endnotes", "Never read.")}
    result = extract(make_docx(para("Body text " * 95), parts), "a.docx", max_text_chars=1000)
    assert result.truncated and len(result.text) <= 1000 and "Never read" not in result.text
    [(kind, footnote)] = marked(result)
    assert kind == "footnote" and footnote.startswith("A footnote that does not fit")
    assert result.text.endswith(footnote) and len(footnote) < 59
