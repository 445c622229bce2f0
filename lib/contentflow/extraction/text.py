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
    """Returns (text, encoding, warnings). Order: BOM, a declared UTF-16/32 charset, UTF-8 (without
    NULs), any other declared charset (`hint`, e.g. from the content type or an HTML meta tag),
    cp1252 when the bytes read as Western European text, then charset-normalizer's best guess. With max_chars,
    only the bytes that can hold that many characters (4 a character at most) are decoded."""
    warnings: list[str] = []
    final = True
    if max_chars and len(data) > 4 * max_chars + 4:
        data, final = data[: 4 * max_chars + 4], False
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _checked(_strict(data, encoding, final), mime), encoding, warnings
    encoding = _codec(hint)
    if encoding and encoding.startswith(("utf-16", "utf-32")):
        # ASCII in UTF-16 is also valid UTF-8 (with a NUL after every letter): a declared
        # UTF-16/32 charset goes first.
        try:
            return _checked(_strict(data, encoding, final), mime), encoding, warnings
        except UnreadableDocument:
            warnings.append(f"declared charset {hint} does not fit the bytes; detected instead")
    try:
        text = _decode(data, "utf-8", "strict", final)
        # Many NULs: UTF-16/32 without a mark, not UTF-8 text; a stray one is left to _checked.
        if text.count("\x00", 0, 65536) <= min(len(text), 65536) * MAX_JUNK_FRACTION:
            return _checked(text, mime), "utf-8", warnings
        del text
    except UnicodeDecodeError:
        pass
    replaced = _decode(data, "utf-8", "replace", final)
    bad = replaced.count("\ufffd")
    head = replaced[:1_000_000]
    multibyte = len(head) - len(head.encode("ascii", "ignore")) - head.count("\ufffd")
    declared_8bit = bool(encoding) and not encoding.startswith(("utf-8", "utf-16", "utf-32"))
    # A few invalid bytes in UTF-8 text are replaced; but when the page declares an 8-bit charset
    # and its invalid bytes outnumber its valid multi-byte sequences, the declaration is right
    # (a Latin-1 page whose one UTF-8 "ü" came from a pasted snippet lost every other umlaut).
    if bad <= len(data) * MAX_REPLACED_FRACTION and multibyte and not (declared_8bit and bad >= multibyte):
        warnings.append(f"{bad} invalid UTF-8 byte(s) replaced with U+FFFD")
        return _checked(replaced, mime), "utf-8", warnings
    if multibyte > bad:
        # Mostly valid multi-byte UTF-8 with invalid bytes between: damaged UTF-8, not another
        # encoding (decoding it as Latin-1 would turn every accent into mojibake).
        raise UnreadableDocument(
            f"invalid text encoding: damaged UTF-8 ({bad:,} invalid bytes in {len(data):,})")
    del replaced, head
    if encoding and encoding != "utf-8" and not encoding.startswith(("utf-16", "utf-32")):
        try:
            return _checked(_decode(data, encoding, "strict", final), mime), encoding, warnings
        except UnicodeDecodeError:
            warnings.append(f"declared charset {hint} does not fit the bytes; detected instead")
    western = _western_european(data, final)
    if western is not None:
        return _checked(western, mime), "cp1252", warnings
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise UnreadableDocument("invalid text encoding: no known text encoding fits the bytes")
    return _checked(_strict(data, best.encoding, final), mime), best.encoding, warnings


# What 8-bit Western European text (French, Portuguese, German, Spanish ...) shows in cp1252 above
# ASCII besides letters: typographic quotes and dashes, currency, degree, ordinals, guillemets.
_WESTERN_SIGNS = set("‘’‚“”„–—…•€£¢¥«»°ºª§©®™·×÷¿¡¨´¸±²³µ¶¼½¾ \u00a0")
# In such text accented letters sit inside mostly-ASCII words; Cyrillic or Greek bytes read as
# cp1252 are (almost) all "accented letters", which is how cp1251/cp1253 are told apart.
MAX_WESTERN_HIGH_SHARE = 0.3


def _western_european(data: bytes, final: bool) -> str | None:
    """The cp1252 reading of 8-bit text if it looks like Western European text, else None.
    charset-normalizer alone picks cp775 or cp1250 for short French or Portuguese in Latin-1."""
    try:
        text = _decode(data[:1_000_000], "cp1252", "strict", False)
    except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d are undefined in cp1252
        return None
    if _junk_share(text) > MAX_JUNK_FRACTION:  # UTF-16 without a mark, binary: not 8-bit text
        return None
    high = [ch for ch in text if ord(ch) > 127]
    letters = sum(ch.isalpha() for ch in text)
    if not high or any(not ch.isalpha() and ch not in _WESTERN_SIGNS for ch in high):
        return None
    if sum(ch.isalpha() for ch in high) > letters * MAX_WESTERN_HIGH_SHARE:
        return None
    try:
        return _decode(data, "cp1252", "strict", final)
    except UnicodeDecodeError:
        return None


def _junk_share(text: str) -> float:
    # By proportion, not presence: a few stray controls (e.g. in an HTML attribute) are not binary.
    sample = text[:65536]
    return len(_JUNK.findall(sample)) / len(sample) if sample else 0.0


def _checked(text: str, mime: str) -> str:
    if _junk_share(text) > MAX_JUNK_FRACTION:
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
