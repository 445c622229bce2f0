"""Type detection by content: magic bytes first, then the declared content type, then the file
name's extension. A name or a declared type never makes a binary file text, nor a text file a
PDF. Runs in the function process on the raw bytes, so it only looks, never parses."""

from __future__ import annotations

import re
from dataclasses import dataclass

from contentflow.errors import UnreadableDocument

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

# Supported MIME type -> parser kind.
KINDS = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/json": "json",
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
    "application/pdf": "pdf",
    DOCX: "docx",
    "image/png": "image",
    "image/jpeg": "image",
    "image/tiff": "image",
}
ALIASES = {
    "text/x-markdown": "text/markdown",
    "text/json": "application/json",
    "application/csv": "text/csv",
    "text/x-csv": "text/csv",
    "text/tsv": "text/tab-separated-values",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/tif": "image/tiff",
    "application/x-pdf": "application/pdf",
}
EXTENSIONS = {
    ".txt": "text/plain", ".text": "text/plain", ".log": "text/plain",
    ".md": "text/markdown", ".markdown": "text/markdown",
    ".html": "text/html", ".htm": "text/html", ".xhtml": "application/xhtml+xml",
    ".json": "application/json",
    ".csv": "text/csv", ".tsv": "text/tab-separated-values",
    ".pdf": "application/pdf", ".docx": DOCX, ".docm": DOCX,
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".tif": "image/tiff", ".tiff": "image/tiff",
    ".doc": "application/msword", ".xlsx": XLSX, ".pptx": PPTX, ".zip": "application/zip",
    ".exe": "application/x-msdownload", ".gif": "image/gif", ".webp": "image/webp",
}
# Declared types that are text even though they are not text/*.
TEXTUAL_APPLICATION = {
    "application/xml", "application/javascript", "application/x-yaml", "application/yaml",
    "application/toml", "application/x-sh", "application/sql", "application/x-ndjson",
}
GENERIC = {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}
LABELS = {"pdf": ("PDF", "a PDF"), "docx": ("DOCX", "a DOCX"), "image": ("image", "an image")}

# (offset, signature, MIME type); the first match wins.
MAGIC = [
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"PK\x05\x06", "application/zip"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (0, b"MZ", "application/x-msdownload"),
    (0, b"\x7fELF", "application/x-executable"),
    (0, b"\xcf\xfa\xed\xfe", "application/x-mach-binary"),
    (0, b"\xca\xfe\xba\xbe", "application/java-vm"),
    (0, b"\x00asm", "application/wasm"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"Rar!\x1a\x07", "application/vnd.rar"),
    (0, b"\x28\xb5\x2f\xfd", "application/zstd"),
    (0, b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),
    (4, b"ftyp", "video/mp4"),
    (0, b"{\\rtf", "application/rtf"),
    (0, b"%!PS", "application/postscript"),
]
BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")  # UTF-32 BOMs start with one of the UTF-16 ones


@dataclass(frozen=True)
class Detected:
    mime: str
    kind: str
    charset: str | None = None  # from the declared content type, a hint for text formats
    sniffed: bool = False  # the type was guessed from text content, so the parser may fall back


def _declared(content_type: str | None) -> tuple[str, str | None]:
    parts = (content_type or "").split(";")
    mime = parts[0].strip().lower()
    charset = None
    for param in parts[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'").lower()
    return ALIASES.get(mime, mime), charset


def _extension(filename: str) -> str | None:
    name = filename.rsplit("/", 1)[-1].lower()
    return EXTENSIONS.get("." + name.rsplit(".", 1)[-1]) if "." in name else None


def _magic(data: bytes) -> str | None:
    for offset, signature, mime in MAGIC:
        if data.startswith(signature, offset):
            return mime
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _zip_type(data: bytes, claimed: str | None) -> str:
    # Part names stand in clear in the local headers and the central directory: a scan for them
    # needs no zip parsing. The worker opens the archive properly, with its limits.
    if b"word/document.xml" in data or claimed == DOCX:
        return DOCX
    if b"xl/workbook.xml" in data:
        return XLSX
    if b"ppt/presentation.xml" in data:
        return PPTX
    if data[30:38] == b"mimetype" and b"application/vnd.oasis.opendocument" in data[38:120]:
        return data[38:120].split(b"PK")[0].decode("ascii", "replace").strip()
    return "application/zip"


def _ole_type(data: bytes) -> str:
    def has(name: str) -> bool:
        return name.encode("utf-16-le") in data

    if has("EncryptedPackage"):
        raise UnreadableDocument("encrypted Office document: password required")
    if has("WordDocument"):
        return "application/msword"
    if has("Workbook") or has("Book"):
        return "application/vnd.ms-excel"
    if has("PowerPoint Document"):
        return "application/vnd.ms-powerpoint"
    return "application/x-ole-storage"


# NUL and the C0 controls text never holds (tab, newlines, VT, FF and ESC, used by coloured logs,
# are text).
CONTROL_BYTES = bytes([*range(0, 9), *range(14, 27), *range(28, 32)])
# Binary when more than this share of the bytes a reader would see (outside markup tags) are controls.
MAX_VISIBLE_CONTROL_SHARE = 0.01
# Inside tags (attribute values, which nobody reads) a few stray controls are tolerated, as broken
# mail clients and templating leave them: at most this many, and at most this share of the tags.
MAX_STRAY_CONTROLS_IN_MARKUP = 32
MAX_MARKUP_CONTROL_SHARE = 0.1
# A plausible tag: "<" then a name, "/", "!" or "?", up to the next ">" within a bounded length.
_TAG = re.compile(rb"<[A-Za-z!/?][^<>]{0,4096}>")


def control_count(data: bytes) -> int:
    return len(data) - len(data.translate(None, CONTROL_BYTES))


def looks_binary(data: bytes) -> bool:
    """Judged on the first 8 KiB by the share of NUL/control bytes and where they sit, not by
    their mere presence: UTF-16/32 text (with or without a BOM) is text, and a few stray controls
    inside markup tags of otherwise readable text are tolerated; controls in the visible text
    beyond 1 %, or many inside tags, are binary."""
    head = data[:8192]
    if head.startswith(BOMS):
        return False
    nuls = head.count(0)
    if nuls > len(head) // 4:
        # UTF-16 without a BOM: ASCII text has a NUL in every other byte, all on one side.
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if min(even, odd) <= len(head) // 200:
            return False
        # UTF-32 without a BOM: three NULs in every four bytes, the letter always on one side.
        fourths = [head[k::4].count(0) for k in range(4)]
        if nuls > len(head) // 2 and min(fourths[0], fourths[3]) <= len(head) // 400:
            return False
    controls = control_count(head)
    if not controls:
        return False
    tags = [match.group() for match in _TAG.finditer(head)] if b"<" in head else []
    markup = b"".join(tags)
    in_markup = control_count(markup)
    visible = len(head) - len(markup)
    if controls - in_markup > visible * MAX_VISIBLE_CONTROL_SHARE:
        return True
    return in_markup > min(MAX_STRAY_CONTROLS_IN_MARKUP, len(markup) * MAX_MARKUP_CONTROL_SHARE)


def _sniff_text(data: bytes) -> str | None:
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head:
        return "text/html"
    if head.startswith((b"{", b"[")):
        return "application/json"
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "image/svg+xml"
    return None


def detect(data: bytes, filename: str, declared_content_type: str | None) -> Detected:
    declared, charset = _declared(declared_content_type)
    by_name = _extension(filename or "")
    claimed = declared if declared not in GENERIC else by_name

    magic = _magic(data)
    if magic == "application/pdf" or (b"%PDF-" in data[:1024] and claimed == "application/pdf"):
        return Detected("application/pdf", "pdf")
    if magic == "application/zip":
        magic = _zip_type(data, claimed)
    elif magic == "application/x-ole-storage":
        magic = _ole_type(data)
    if magic:
        if magic in KINDS:
            return Detected(magic, KINDS[magic])
        raise UnreadableDocument(f"unsupported type: {magic}")

    if looks_binary(data):
        kind = KINDS.get(claimed or "")
        if kind in LABELS:  # says PDF, DOCX or image but has no such signature
            label, with_article = LABELS[kind]
            raise UnreadableDocument(f"malformed {label}: not {with_article} file (no valid signature)")
        if claimed and claimed not in KINDS:
            raise UnreadableDocument(f"unsupported type: {claimed}")
        raise UnreadableDocument(f"binary data in a {claimed or 'text/plain'} file: not text")

    # Text: the declared type picks the text format, then the extension, then a look inside.
    # text/plain is what many upload tools send for any text, so a more specific extension
    # (.html, .json, .csv, .md) wins over it.
    specific_name = by_name in KINDS and KINDS[by_name] not in LABELS and KINDS[by_name] != "text"
    for candidate in ((by_name, declared) if declared == "text/plain" and specific_name else (declared, by_name)):
        if candidate in KINDS and KINDS[candidate] not in LABELS:
            return Detected(candidate, KINDS[candidate], charset)
        if candidate and (candidate.startswith("text/") or candidate in TEXTUAL_APPLICATION):
            return Detected(candidate, "text", charset)
    sniffed = _sniff_text(data)
    if sniffed == "image/svg+xml":
        raise UnreadableDocument("unsupported type: image/svg+xml")
    if sniffed:
        return Detected(sniffed, KINDS[sniffed], charset, sniffed=True)
    return Detected("text/plain", "text", charset, sniffed=True)
