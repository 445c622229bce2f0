"""DOCX: the zip directory is checked against size limits, each part the extractor reads (package
relationships, content types, styles, settings, properties, the main document, headers, footers,
notes, comments and imported parts) against the compression-ratio limit before it is inflated,
and no part is read beyond its declared size; pictures and other parts it never opens are not
judged (an EMF drawing of blank space is not an attack on us). word/document.xml and the other
text parts are streamed through lxml's iterparse (BSD) with entity expansion off, under one
deadline and one text budget.

What is read, as segments (parsed.py): the body, then the headers, footers, footnotes, endnotes
and comments, each of its own kind. Headers and footers are those the sections reference and Word
shows (a first-page one only with `titlePg`, an even-page one only with `evenAndOddHeaders`), each
distinct text once, not once per section. A comment is "Author: text". An imported part
(`w:altChunk`: HTML, MHT or plain text, which Word merges in on opening) is body text at its
place; HTML goes through the HTML extractor (html.py), MHT is unpacked with the standard `email`
package first.

Why not python-docx: its paragraph API skips content controls (w:sdt) and text boxes, which real
documents use for cover pages, forms and tables of contents, and it loads the whole part tree.
Headings become Markdown headings, list paragraphs "- " items, table rows "a | b | c" lines.
"""

from __future__ import annotations

import io
import posixpath
import time
import zipfile
import zlib

from contentflow.errors import UnreadableDocument
from contentflow.extraction import dates, fmt
from contentflow.extraction.parsed import BODY, Parsed, from_pages

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
CT = "{http://schemas.openxmlformats.org/package/2006/content-types}"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
REL_OFFICE_DOCUMENT = RELATIONSHIPS + "officeDocument"
# Parts of the main document read after the body, in this order, with their segment kind.
NOTE_PARTS = (("footnotes", "footnote"), ("endnotes", "endnote"), ("comments", "comment"))
# A note that is not one: the line Word draws above the notes, and its continuation.
SEPARATOR_NOTES = {"separator", "continuationSeparator", "continuationNotice"}
# Imported parts (altChunk): how many are read, and how big one may be (it is read whole).
MAX_ALT_CHUNKS = 200
MAX_ALT_CHUNK_BYTES = 20_000_000
MAX_AUTHOR_CHARS = 100
HTML_TYPES = {"text/html", "application/xhtml+xml"}
MHT_TYPES = {"message/rfc822", "multipart/related"}
# Compression ratio is only judged on parts big enough to matter: tiny XML compresses oddly.
RATIO_MIN_BYTES = 1_000_000
DEADLINE_CHECK_EVENTS = 20_000  # about 10 ms of parsing between looks at the clock
SMALL_PART_BYTES = 10_000_000  # styles, properties, relationships: read whole, but no bigger
# Subtrees whose text is not the document's: deleted revisions, field codes, the fallback copy of
# drawings (its text box duplicates mc:Choice), moved-away text.
SKIP = {W + "del", W + "instrText", W + "delText", MC + "Fallback", W + "moveFrom"}
# Qualified names built once: the walker compares every element of the document against them
# (concatenating them per element cost the DOCX benchmark about 15 % of its CPU).
_P, _TBL, _TR, _TC, _T, _TAB = W + "p", W + "tbl", W + "tr", W + "tc", W + "t", W + "tab"
_BREAKS = frozenset({W + "br", W + "cr"})
_HYPHEN, _PSTYLE, _NUMPR, _ALTCHUNK = W + "noBreakHyphen", W + "pStyle", W + "numPr", W + "altChunk"
_SECTPR, _TITLEPG = W + "sectPr", W + "titlePg"
_NOTES = frozenset({W + "footnote", W + "endnote", W + "comment"})
_FOOT_OR_END_NOTES = frozenset({W + "footnote", W + "endnote"})
_REFERENCES = {W + "headerReference": "header", W + "footerReference": "footer"}
_TYPE, _AUTHOR, _VAL, _RID = W + "type", W + "author", W + "val", R + "id"


def _archive(data: bytes, limits) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise UnreadableDocument("malformed DOCX: not a valid zip archive") from None
    if len(members) > limits.max_archive_members:
        raise UnreadableDocument(
            f"malformed DOCX: {len(members):,} parts (limit {limits.max_archive_members:,})")
    total = sum(m.file_size for m in members)
    if total > limits.max_unpacked_bytes:
        raise UnreadableDocument(
            f"DOCX too large when unpacked: {fmt.size(total)} > {fmt.size(limits.max_unpacked_bytes)}")
    return archive


def _refuse_bomb(info: zipfile.ZipInfo, limits) -> None:
    """Called for each part before it is inflated: only parts we read can hurt us."""
    if info.file_size >= RATIO_MIN_BYTES:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_compression_ratio:
            raise UnreadableDocument(
                f"compression bomb: {info.filename} expands {ratio:.0f} times "
                f"(limit {limits.max_compression_ratio})")


class _CappedStream:
    """Reads a part no further than its declared size (which the limits judged), whatever the
    compressed data would inflate to; zipfile stops there too, this does not rely on it."""

    def __init__(self, stream, info: zipfile.ZipInfo):
        self.stream, self.name, self.left = stream, info.filename, info.file_size

    def read(self, size: int = -1) -> bytes:
        want = self.left + 1 if size is None or size < 0 else min(size, self.left + 1)
        data = self.stream.read(want)
        self.left -= len(data)
        if self.left < 0:
            raise UnreadableDocument(f"malformed DOCX: {self.name} inflates beyond its declared size")
        return data


def _xml_parser():
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _refuse_dtd(name: str, head: bytes) -> None:
    # Office never writes a DTD; one here can only be an entity-expansion attack.
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise UnreadableDocument(f"malformed DOCX: {name} declares a DTD (not allowed in Office files)")


def _small_part(archive: zipfile.ZipFile, name: str, limits):
    from lxml import etree

    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > SMALL_PART_BYTES:
        return None
    _refuse_bomb(info, limits)
    try:
        with archive.open(info) as stream:
            data = _CappedStream(stream, info).read()
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError):
        return None  # styles or properties damaged: the text can still be read
    _refuse_dtd(name, data[:4096])
    try:
        return etree.fromstring(data, _xml_parser())
    except etree.XMLSyntaxError:
        return None


def _main_part(archive: zipfile.ZipFile, limits) -> str:
    rels = _small_part(archive, "_rels/.rels", limits)
    if rels is not None:
        for rel in rels:
            if rel.get("Type") == REL_OFFICE_DOCUMENT and rel.get("Target"):
                target = rel.get("Target").lstrip("/")
                if target in archive.NameToInfo:
                    return target
    if "word/document.xml" in archive.NameToInfo:
        return "word/document.xml"
    raise UnreadableDocument("malformed DOCX: no main document part (word/document.xml)")


def _styles(archive: zipfile.ZipFile, limits) -> tuple[dict[str, int], set[str]]:
    """Heading level per styleId (0 for Title), and the ids of list styles. Judged by the style
    names, which stay English when Word localises the ids (e.g. "berschrift1" is "heading 1"),
    and by numbering in the style itself (how "List Bullet" makes its bullets)."""
    styles = _small_part(archive, "word/styles.xml", limits)
    levels: dict[str, int] = {}
    lists: set[str] = set()
    if styles is None:
        return levels, lists
    for style in styles.iter(W + "style"):
        style_id = style.get(W + "styleId")
        name_node = style.find(W + "name")
        name = ((name_node.get(W + "val") if name_node is not None else "") or "").lower()
        if name == "title":
            levels[style_id] = 0
        elif name.startswith("heading ") and name[8:].isdigit():
            levels[style_id] = int(name[8:])
        elif name.startswith("list") or style.find(f"{W}pPr/{W}numPr") is not None:
            lists.add(style_id)
    return levels, lists


def _properties(archive: zipfile.ZipFile, limits) -> dict:
    core = _small_part(archive, "docProps/core.xml", limits)
    found: dict = {}
    if core is not None:
        for node in core:
            local = node.tag.rsplit("}", 1)[-1]
            value = (node.text or "").strip()
            if local in ("title", "creator", "created", "modified") and value:
                found[local] = value
    app = _small_part(archive, "docProps/app.xml", limits)
    if app is not None:
        for node in app:
            pages = (node.text or "").strip()
            # At most 9 digits: int() refuses more than 4,300, and no document has a billion pages.
            if node.tag.rsplit("}", 1)[-1] == "Pages" and pages.isascii() and pages.isdigit() and len(pages) <= 9:
                found["pages"] = int(pages)
    return found


def _rels_name(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


def _relationships(archive: zipfile.ZipFile, part: str, limits) -> dict[str, tuple[str, str]]:
    """rId -> (type, part name) of a part's internal relationships; the type is the last segment
    of its URI ("header", "footnotes", "aFChunk")."""
    rels = _small_part(archive, _rels_name(part), limits)
    found: dict[str, tuple[str, str]] = {}
    if rels is None:
        return found
    folder = posixpath.dirname(part)
    for rel in rels:
        target, rel_id = rel.get("Target") or "", rel.get("Id")
        if not target or not rel_id or rel.get("TargetMode") == "External":
            continue
        name = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        found[rel_id] = ((rel.get("Type") or "").rsplit("/", 1)[-1], name)
    return found


def _content_types(archive: zipfile.ZipFile, limits) -> tuple[dict[str, str], dict[str, str]]:
    """([Content_Types].xml) content type by part name and by extension, lower case."""
    types = _small_part(archive, "[Content_Types].xml", limits)
    by_part: dict[str, str] = {}
    by_extension: dict[str, str] = {}
    if types is not None:
        for node in types:
            content_type = (node.get("ContentType") or "").split(";")[0].strip().lower()
            if node.tag == CT + "Override" and node.get("PartName"):
                by_part[node.get("PartName").lstrip("/").lower()] = content_type
            elif node.tag == CT + "Default" and node.get("Extension"):
                by_extension[node.get("Extension").lower()] = content_type
    return by_part, by_extension


def _even_pages_differ(archive: zipfile.ZipFile, settings: str | None, limits) -> bool:
    root = _small_part(archive, settings, limits) if settings else None
    node = root.find(W + "evenAndOddHeaders") if root is not None else None
    return node is not None and _on(node)


def _on(node) -> bool:
    """A WordprocessingML on/off property: present means on, unless its val says off."""
    return node.get(W + "val", "true").lower() not in ("false", "0", "off")


class _Walker:
    """Turns iterparse events of one text part (the main document, a header, the footnotes...)
    into text blocks, in document order. In the main document it also notes the header and footer
    references of each section, and reads imported parts (altChunk) at their place through
    `alt_chunk(rId) -> text`."""

    def __init__(self, styles: tuple[dict[str, int], set[str]], max_depth: int, alt_chunk=None):
        self.headings, self.list_styles = styles
        self.max_depth = max_depth
        self.alt_chunk = alt_chunk
        self.blocks: list[str] = []
        self.chars = 0
        self.paragraphs: list[dict] = []  # open paragraphs (text boxes nest them)
        self.rows: list[list[list[str]]] = []  # open tables: rows of cells of paragraph texts
        self.skip_from: int | None = None  # depth of the element whose subtree is being skipped
        self.depth = 0
        self.note_start: int | None = None  # first block of the open footnote, endnote or comment
        self.note_author = ""
        self.section: list[tuple[str, str, str]] = []  # (header|footer, type, rId) of the open sectPr
        self.title_page = False
        self.references: list[tuple[str, str, str]] = []  # shown headers/footers, all sections

    def emit(self, block: str) -> None:
        if block.strip():
            self.blocks.append(block)
            self.chars += len(block)

    def start(self, tag: str, node) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise UnreadableDocument(f"DOCX nested too deeply: more than {self.max_depth} levels")
        if self.skip_from is not None:
            return
        if tag in SKIP or (tag in _FOOT_OR_END_NOTES and node.get(_TYPE) in SEPARATOR_NOTES):
            self.skip_from = self.depth
        elif tag == _P:
            self.paragraphs.append({"text": [], "style": None, "list": False})
        elif tag == _TBL:
            self.rows.append([])
        elif tag == _TR and self.rows:
            self.rows[-1].append([])
        elif tag == _TC and self.rows and self.rows[-1]:
            self.rows[-1][-1].append("")
        elif tag in _NOTES:
            self.note_start = len(self.blocks)
            self.note_author = " ".join((node.get(_AUTHOR) or "").split())[:MAX_AUTHOR_CHARS]
        elif tag == _SECTPR:
            self.section, self.title_page = [], False

    def end(self, tag: str, node) -> None:
        if self.skip_from is None:
            self._handle_end(tag, node)
        elif self.skip_from == self.depth:
            self.skip_from = None
        self.depth -= 1
        # Streaming: drop what has been read, so memory stays flat however long the document.
        # The root has no parent: what precedes it (a comment, a processing instruction) stays.
        node.clear()
        parent = node.getparent()
        if parent is not None:
            while node.getprevious() is not None:
                del parent[0]

    def _handle_end(self, tag: str, node) -> None:
        para = self.paragraphs[-1] if self.paragraphs else None
        if tag == _T and para is not None:
            para["text"].append(node.text or "")
        elif tag == _TAB and para is not None:
            para["text"].append("\t")
        elif tag in _BREAKS and para is not None:
            para["text"].append("\n")
        elif tag == _HYPHEN and para is not None:
            para["text"].append("-")
        elif tag == _PSTYLE and para is not None:
            para["style"] = node.get(_VAL)
        elif tag == _NUMPR and para is not None:
            para["list"] = True
        elif tag == _P and para is not None:
            self._end_paragraph(self.paragraphs.pop())
        elif tag == _TBL and self.rows:
            rows = self.rows.pop()
            lines = [" | ".join(_dedupe(cells)) for cells in rows if any(c.strip() for c in cells)]
            self._place("\n".join(lines))
        elif tag == _ALTCHUNK and self.alt_chunk is not None and node.get(_RID):
            self._place(self.alt_chunk(node.get(_RID)))
        elif tag in _NOTES and self.note_start is not None:
            self._end_note()
        elif tag in _REFERENCES and node.get(_RID):
            self.section.append((_REFERENCES[tag], node.get(_TYPE) or "default", node.get(_RID)))
        elif tag == _TITLEPG:
            self.title_page = _on(node)
        elif tag == _SECTPR:
            self.references += [ref for ref in self.section if ref[1] != "first" or self.title_page]

    def _end_note(self) -> None:
        """One note or comment is one block (its paragraphs on lines), a comment after its author."""
        lines = self.blocks[self.note_start:]
        del self.blocks[self.note_start:]
        self.chars -= sum(len(line) for line in lines)
        text = "\n".join(lines)
        if text and self.note_author:
            text = f"{self.note_author}: {text}"
        self.note_start, self.note_author = None, ""
        self.emit(text)

    def _end_paragraph(self, para: dict) -> None:
        text = "".join(para["text"]).strip()
        level = self.headings.get(para["style"])
        if text and level is not None:
            text = "#" * max(level, 1) + " " + text
        elif text and (para["list"] or para["style"] in self.list_styles):
            text = "- " + text
        self._place(text)

    def _place(self, text: str) -> None:
        if self.paragraphs:  # inside a text box: part of the enclosing paragraph
            self.paragraphs[-1]["text"].append(" " + text)
        elif self.rows and self.rows[-1] and self.rows[-1][-1]:  # inside a table cell
            cells = self.rows[-1][-1]
            cells[-1] = (cells[-1] + " " + text).strip()
        else:
            self.emit(text)


def _dedupe(cells: list[str]) -> list[str]:
    # Horizontally merged cells repeat their text in some writers' output.
    out: list[str] = []
    for cell in cells:
        if not out or cell != out[-1] or not cell:
            out.append(cell.replace("\n", " ").strip())
    return out


class _Reader:
    """Streams one DOCX's text parts in turn, under one deadline and one text budget (once the
    text is longer than max_text_chars, later parts are not read: from_pages cuts and warns)."""

    def __init__(self, archive: zipfile.ZipFile, limits, deadline: float):
        self.archive, self.limits, self.deadline = archive, limits, deadline
        self.chars_left = limits.max_text_chars
        self.styles = _styles(archive, limits)
        self.warnings: list[str] = []
        self.alt_chunks = 0
        self.alt_unread: list[str] = []  # imported parts of a type we do not read
        self._types: tuple[dict[str, str], dict[str, str]] | None = None
        self._lower_names: dict[str, str] | None = None

    def info(self, name: str) -> zipfile.ZipInfo | None:
        """A part by name; part names are case-insensitive in OPC, zip names are not."""
        if name in self.archive.NameToInfo:
            return self.archive.NameToInfo[name]
        if self._lower_names is None:
            self._lower_names = {n.lower(): n for n in self.archive.NameToInfo}
        found = self._lower_names.get(name.lower())
        return self.archive.NameToInfo[found] if found else None

    def stream(self, info: zipfile.ZipInfo, walker: _Walker) -> _Walker:
        """Feeds a part to `walker`, checked as the body always was: ratio before inflating, no
        DTD, no further than its declared size, the deadline every DEADLINE_CHECK_EVENTS events."""
        from lxml import etree

        if time.monotonic() > self.deadline:
            raise TimeoutError
        _refuse_bomb(info, self.limits)
        with self.archive.open(info) as stream:
            _refuse_dtd(info.filename, stream.peek(4096)[:4096])
            events = etree.iterparse(_CappedStream(stream, info), events=("start", "end"), resolve_entities=False,
                                     no_network=True, load_dtd=False, huge_tree=False)
            for count, (event, node) in enumerate(events):
                # Millions of empty elements cost time, not memory: stop at the deadline.
                if not count % DEADLINE_CHECK_EVENTS and time.monotonic() > self.deadline:
                    raise TimeoutError
                if event == "start":
                    walker.start(node.tag, node)
                else:
                    walker.end(node.tag, node)
                if walker.chars > self.chars_left:
                    break
        self.chars_left -= walker.chars
        return walker

    def part_text(self, name: str | None) -> str:
        """The text of a header, footer, notes or comments part; "" if absent or damaged (with a
        warning: the body is still worth having). Attacks (a bomb, a DTD) still fail the file."""
        from lxml import etree

        info = self.info(name) if name else None
        if info is None or self.chars_left < 0:
            return ""
        try:
            walker = self.stream(info, _Walker(self.styles, self.limits.max_nesting_depth))
        except (etree.XMLSyntaxError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
            self.warnings.append(f"{info.filename} not read: {err}"[:300])
            return ""
        return "\n\n".join(walker.blocks)

    def alt_chunk(self, relationship: tuple[str, str] | None) -> str:
        """The text of an imported part (w:altChunk), read whole: HTML by the HTML extractor, MHT
        unpacked to its HTML first, plain text decoded. Other types (RTF, another DOCX) and
        unreadable parts are left out with a warning."""
        if relationship is None or relationship[0] != "aFChunk" or self.chars_left < 0:
            return ""
        self.alt_chunks += 1
        if self.alt_chunks > MAX_ALT_CHUNKS:
            if self.alt_chunks == MAX_ALT_CHUNKS + 1:
                self.warnings.append(f"only the first {MAX_ALT_CHUNKS} imported parts (altChunk) were read")
            return ""
        if time.monotonic() > self.deadline:
            raise TimeoutError
        name = relationship[1]
        info = self.info(name)
        if info is None:
            self.warnings.append(f"imported part {name} is missing")
            return ""
        if info.file_size > MAX_ALT_CHUNK_BYTES:
            self.warnings.append(f"imported part {name} not read: {fmt.size(info.file_size)} "
                                 f"> {fmt.size(MAX_ALT_CHUNK_BYTES)}")
            return ""
        _refuse_bomb(info, self.limits)
        with self.archive.open(info) as stream:
            data = _CappedStream(stream, info).read()
        content_type = self.content_type(info.filename)
        try:
            if content_type in HTML_TYPES:
                return _html_text(data, None, self.limits)
            if content_type in MHT_TYPES:
                return _mht_text(data, self.limits)
            if content_type == "text/plain":
                return _plain_text(data, None, self.limits)
        except UnreadableDocument as err:
            self.warnings.append(f"imported part {name} not read: {err.reason}")
            return ""
        self.alt_unread.append(f"{name} is {content_type or 'of no declared type'}")
        self.warnings.append(f"imported part {name} not read: {content_type or 'no declared type'} is not supported")
        return ""

    def content_type(self, name: str) -> str:
        if self._types is None:
            self._types = _content_types(self.archive, self.limits)
        by_part, by_extension = self._types
        extension = posixpath.splitext(name)[1].lstrip(".").lower()
        found = by_part.get(name.lower()) or by_extension.get(extension)
        # Writers that declare nothing for their own imported part: judge by its name.
        return found or {"htm": "text/html", "html": "text/html", "mht": "message/rfc822",
                         "mhtml": "message/rfc822", "txt": "text/plain"}.get(extension, "")


def _html_text(data: bytes, charset: str | None, limits) -> str:
    from contentflow.extraction import html

    return html.parse(data, mime="text/html", charset=charset, limits=limits).text


def _plain_text(data: bytes, charset: str | None, limits) -> str:
    from contentflow.extraction import text

    decoded = text.decode(data, mime="text/plain", hint=charset, max_chars=limits.max_text_chars)[0]
    return decoded.replace("\r\n", "\n").replace("\r", "\n")  # a table cell joins lines at \n


def _mht_text(data: bytes, limits) -> str:
    """An MHT (MIME HTML, RFC 2557) part: its HTML, else its plain text, decoded as its MIME
    headers say; images and other resources are not read."""
    import email
    import email.policy

    try:
        message = email.message_from_bytes(data, policy=email.policy.compat32)
        parts = [part for part in message.walk() if not part.is_multipart()]
    except RecursionError:
        raise UnreadableDocument("MIME parts nested too deeply") from None
    for wanted, read in (("text/html", _html_text), ("text/plain", _plain_text)):
        for part in parts:
            if part.get_content_type() == wanted:
                payload = part.get_payload(decode=True) or b""
                return read(payload, part.get_content_charset(), limits)
    raise UnreadableDocument("no HTML or text part in the MHT")


def _read(archive: zipfile.ZipFile, limits, deadline: float) -> tuple[list[list[str]], dict, _Reader]:
    """The document's segments (body, headers, footers, notes, comments), its properties, and the
    reader (for its warnings)."""
    from lxml import etree

    main = archive.getinfo(_main_part(archive, limits))
    _refuse_bomb(main, limits)  # first: a bombed body is the reason, not whatever styles hold
    reader = _Reader(archive, limits, deadline)
    properties = _properties(archive, limits)
    rels = _relationships(archive, main.filename, limits)
    try:
        body = reader.stream(main, _Walker(reader.styles, limits.max_nesting_depth,
                                           alt_chunk=lambda rel_id: reader.alt_chunk(rels.get(rel_id))))
    except etree.XMLSyntaxError as err:
        raise UnreadableDocument(f"malformed DOCX: {main.filename}: {err}"[:200]) from None
    segments = [[BODY, "\n\n".join(body.blocks)]]

    by_type: dict[str, list[str]] = {}
    for rel_id, (rel_type, name) in rels.items():
        by_type.setdefault(rel_type, []).append(name)
    settings = by_type.get("settings", [None])[0]
    even_pages = _even_pages_differ(archive, settings, limits) if any(
        ref[1] == "even" for ref in body.references) else False
    read_parts: set[str] = set()
    texts: set[str] = set()
    for kind in ("header", "footer"):
        for ref_kind, ref_type, rel_id in body.references:
            rel_type, name = rels.get(rel_id, ("", ""))
            if ref_kind != kind or rel_type != kind or name in read_parts or (ref_type == "even" and not even_pages):
                continue
            read_parts.add(name)
            text = reader.part_text(name)
            if text.strip() and text not in texts:  # each section may repeat the same header
                texts.add(text)
                segments.append([kind, text])
    for rel_type, kind in NOTE_PARTS:
        text = reader.part_text(by_type.get(rel_type, [None])[0])
        if text.strip():
            segments.append([kind, text])
    return segments, properties, reader


def parse(data: bytes, *, limits, deadline: float, **_) -> Parsed:
    archive = _archive(data, limits)
    try:
        segments, properties, reader = _read(archive, limits, deadline)
    except NotImplementedError as err:  # zipfile: "That compression method is not supported"
        raise UnreadableDocument(f"malformed DOCX: {err}"[:200]) from None
    except RuntimeError as err:  # zipfile: "File ... is encrypted, password required"
        if "encrypted" not in str(err):
            raise
        raise UnreadableDocument("encrypted DOCX: password required") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError) as err:  # bad CRC-32 ...
        raise UnreadableDocument(f"malformed DOCX: {err}"[:200]) from None
    if not any(text.strip() for _, text in segments):
        unread = f"; imported parts not read: {', '.join(reader.alt_unread[:5])}" if reader.alt_unread else ""
        raise UnreadableDocument(f"no text found: the document has no text{unread}"[:300])
    return from_pages(
        [segments], extractor="lxml-ooxml", max_chars=limits.max_text_chars,
        paged=False, page_count=properties.get("pages"), title=properties.get("title"),
        author=properties.get("creator"), created=dates.iso_date(properties.get("created")),
        modified=dates.iso_date(properties.get("modified")), warnings=reader.warnings,
    )
