"""DOCX: the zip directory is checked against size limits, each part the extractor reads (package
relationships, styles, properties, the main document) against the compression-ratio limit before
it is inflated, and no part is read beyond its declared size; pictures and other parts it never
opens are not judged (an EMF drawing of blank space is not an attack on us). word/document.xml is
streamed through lxml's iterparse (BSD) with entity expansion off.

Why not python-docx: its paragraph API skips content controls (w:sdt) and text boxes, which real
documents use for cover pages, forms and tables of contents, and it loads the whole part tree.
Headings become Markdown headings, list paragraphs "- " items, table rows "a | b | c" lines.
"""

from __future__ import annotations

import io
import time
import zipfile
import zlib

from contentflow.errors import UnreadableDocument
from contentflow.extraction import dates, fmt
from contentflow.extraction.parsed import Parsed, from_pages

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
REL_OFFICE_DOCUMENT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
# Compression ratio is only judged on parts big enough to matter: tiny XML compresses oddly.
RATIO_MIN_BYTES = 1_000_000
DEADLINE_CHECK_EVENTS = 20_000  # about 10 ms of parsing between looks at the clock
SMALL_PART_BYTES = 10_000_000  # styles, properties, relationships: read whole, but no bigger
# Subtrees whose text is not the document's: deleted revisions, field codes, the fallback copy of
# drawings (its text box duplicates mc:Choice), moved-away text.
SKIP = {W + "del", W + "instrText", W + "delText", MC + "Fallback", W + "moveFrom"}


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


class _Walker:
    """Turns iterparse events of word/document.xml into text blocks, in document order."""

    def __init__(self, styles: tuple[dict[str, int], set[str]], max_depth: int):
        self.headings, self.list_styles = styles
        self.max_depth = max_depth
        self.blocks: list[str] = []
        self.chars = 0
        self.paragraphs: list[dict] = []  # open paragraphs (text boxes nest them)
        self.rows: list[list[list[str]]] = []  # open tables: rows of cells of paragraph texts
        self.skipping = 0
        self.depth = 0

    def emit(self, block: str) -> None:
        if block.strip():
            self.blocks.append(block)
            self.chars += len(block)

    def start(self, tag: str, node) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise UnreadableDocument(f"DOCX nested too deeply: more than {self.max_depth} levels")
        if self.skipping or tag in SKIP:
            self.skipping += tag in SKIP
            return
        if tag == W + "p":
            self.paragraphs.append({"text": [], "style": None, "list": False})
        elif tag == W + "tbl":
            self.rows.append([])
        elif tag == W + "tr" and self.rows:
            self.rows[-1].append([])
        elif tag == W + "tc" and self.rows and self.rows[-1]:
            self.rows[-1][-1].append("")

    def end(self, tag: str, node) -> None:
        self.depth -= 1
        if self.skipping:
            self.skipping -= tag in SKIP
        else:
            self._handle_end(tag, node)
        # Streaming: drop what has been read, so memory stays flat however long the document.
        # The root has no parent: what precedes it (a comment, a processing instruction) stays.
        node.clear()
        parent = node.getparent()
        if parent is not None:
            while node.getprevious() is not None:
                del parent[0]

    def _handle_end(self, tag: str, node) -> None:
        para = self.paragraphs[-1] if self.paragraphs else None
        if tag == W + "t" and para is not None:
            para["text"].append(node.text or "")
        elif tag == W + "tab" and para is not None:
            para["text"].append("\t")
        elif tag in (W + "br", W + "cr") and para is not None:
            para["text"].append("\n")
        elif tag == W + "noBreakHyphen" and para is not None:
            para["text"].append("-")
        elif tag == W + "pStyle" and para is not None:
            para["style"] = node.get(W + "val")
        elif tag == W + "numPr" and para is not None:
            para["list"] = True
        elif tag == W + "p" and para is not None:
            self._end_paragraph(self.paragraphs.pop())
        elif tag == W + "tbl" and self.rows:
            rows = self.rows.pop()
            lines = [" | ".join(_dedupe(cells)) for cells in rows if any(c.strip() for c in cells)]
            self._place("\n".join(lines))

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


def _read(archive: zipfile.ZipFile, limits, deadline: float) -> tuple[_Walker, dict]:
    from lxml import etree

    main = archive.getinfo(_main_part(archive, limits))
    _refuse_bomb(main, limits)  # first: a bombed body is the reason, not whatever styles hold
    walker = _Walker(_styles(archive, limits), limits.max_nesting_depth)
    properties = _properties(archive, limits)
    with archive.open(main) as stream:
        head = stream.peek(4096)[:4096]
        _refuse_dtd(main.filename, head)
        events = etree.iterparse(_CappedStream(stream, main), events=("start", "end"), resolve_entities=False,
                                 no_network=True, load_dtd=False, huge_tree=False)
        try:
            for count, (event, node) in enumerate(events):
                # Millions of empty elements cost time, not memory: stop at the deadline.
                if not count % DEADLINE_CHECK_EVENTS and time.monotonic() > deadline:
                    raise TimeoutError
                if event == "start":
                    walker.start(node.tag, node)
                else:
                    walker.end(node.tag, node)
                if walker.chars > limits.max_text_chars:
                    break
        except etree.XMLSyntaxError as err:
            raise UnreadableDocument(f"malformed DOCX: {main.filename}: {err}"[:200]) from None
    return walker, properties


def parse(data: bytes, *, limits, deadline: float, **_) -> Parsed:
    archive = _archive(data, limits)
    try:
        walker, properties = _read(archive, limits, deadline)
    except NotImplementedError as err:  # zipfile: "That compression method is not supported"
        raise UnreadableDocument(f"malformed DOCX: {err}"[:200]) from None
    except RuntimeError as err:  # zipfile: "File ... is encrypted, password required"
        if "encrypted" not in str(err):
            raise
        raise UnreadableDocument("encrypted DOCX: password required") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError) as err:  # bad CRC-32 ...
        raise UnreadableDocument(f"malformed DOCX: {err}"[:200]) from None
    if not walker.blocks:
        raise UnreadableDocument("no text found: the document has no text")
    return from_pages(
        ["\n\n".join(walker.blocks)], extractor="lxml-ooxml", max_chars=limits.max_text_chars,
        paged=False, page_count=properties.get("pages"), title=properties.get("title"),
        author=properties.get("creator"), created=dates.iso_date(properties.get("created")),
        modified=dates.iso_date(properties.get("modified")),
    )
