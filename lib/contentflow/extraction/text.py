"""Plain text and Markdown: find the encoding, decode, refuse what is not text."""

from __future__ import annotations

import codecs
import re

from contentflow.errors import UnreadableDocument
from contentflow.extraction.parsed import Parsed, from_pages

# Invalid UTF-8 bytes tolerated (replaced, with a warning) in otherwise valid UTF-8 text.
MAX_REPLACED_FRACTION = 0.001
# Decoded text with more than this share of control/replacement characters is binary, not text.
MAX_JUNK_FRACTION = 0.02
_JUNK = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f-\x9f\ufffd]")
_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
]


def _codec(name: str | None) -> str | None:
    try:
        return codecs.lookup(name).name if name else None
    except LookupError:
        return None


def _decode(data: bytes, encoding: str, errors: str, final: bool) -> str:
    # Incremental: with final=False a sequence cut at the end of a prefix is dropped, not an error.
    return codecs.getincrementaldecoder(encoding)(errors).decode(data, final=final)


def _strict(data: bytes, encoding: str, final: bool = True) -> str:
    try:
        return _decode(data, encoding, "strict", final)
    except UnicodeDecodeError as err:
        raise UnreadableDocument(
            f"invalid text encoding: not valid {encoding} at byte {err.start}") from None


def decode(data: bytes, *, mime: str, hint: str | None = None,
           max_chars: int | None = None) -> tuple[str, str, list[str]]:
    """Returns (text, encoding, warnings). Order: BOM, UTF-8, declared charset (`hint`, e.g. from
    the content type or an HTML meta tag), then charset-normalizer's best guess. With max_chars,
    only the bytes that can hold that many characters (4 a character at most) are decoded."""
    warnings: list[str] = []
    final = True
    if max_chars and len(data) > 4 * max_chars + 4:
        data, final = data[: 4 * max_chars + 4], False
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _checked(_strict(data, encoding, final), mime), encoding, warnings
    try:
        return _checked(_decode(data, "utf-8", "strict", final), mime), "utf-8", warnings
    except UnicodeDecodeError:
        pass
    replaced = _decode(data, "utf-8", "replace", final)
    bad = replaced.count("\ufffd")
    head = replaced[:1_000_000]
    multibyte = len(head) - len(head.encode("ascii", "ignore")) - head.count("\ufffd")
    if bad <= len(data) * MAX_REPLACED_FRACTION and multibyte:
        warnings.append(f"{bad} invalid UTF-8 byte(s) replaced with U+FFFD")
        return _checked(replaced, mime), "utf-8", warnings
    if multibyte > bad:
        # Mostly valid multi-byte UTF-8 with invalid bytes between: damaged UTF-8, not another
        # encoding (decoding it as Latin-1 would turn every accent into mojibake).
        raise UnreadableDocument(
            f"invalid text encoding: damaged UTF-8 ({bad:,} invalid bytes in {len(data):,})")
    del replaced, head
    encoding = _codec(hint)
    if encoding and encoding != "utf-8":
        try:
            return _checked(_decode(data, encoding, "strict", final), mime), encoding, warnings
        except UnicodeDecodeError:
            warnings.append(f"declared charset {hint} does not fit the bytes; detected instead")
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise UnreadableDocument("invalid text encoding: no known text encoding fits the bytes")
    return _checked(_strict(data, best.encoding, final), mime), best.encoding, warnings


def _checked(text: str, mime: str) -> str:
    sample = text[:65536]
    if sample and len(_JUNK.findall(sample)) > len(sample) * MAX_JUNK_FRACTION:
        raise UnreadableDocument(f"binary data in a {mime} file: not text")
    return text


def markdown_title(text: str) -> str | None:
    for line in text.splitlines()[:50]:
        if line.startswith("# "):
            return line[2:].strip() or None
    return None


def parse(data: bytes, *, mime: str, kind: str, charset: str | None, limits, **_) -> Parsed:
    text, encoding, warnings = decode(data, mime=mime, hint=charset, max_chars=limits.max_text_chars)
    title = markdown_title(text) if kind == "markdown" else None
    return from_pages([text], extractor="builtin-text", max_chars=limits.max_text_chars, paged=False,
                      title=title, encoding=encoding, warnings=warnings)
