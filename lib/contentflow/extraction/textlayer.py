"""Is a PDF page's text layer text? And ligatures a font mapped to a wrong single character.

A font without a Unicode mapping (no ToUnicode, a custom encoding, a bitmap Type3 font) gives its
glyph codes as text: punctuation residue (`!"#$"%&'()&$(**+,#$`), private-use characters, or
letters that spell nothing. A viewer shows the page fine and the layer passes any length test, so
the page has to be judged by what the text looks like. Three cheap tests, run in this order (counted with
C-level string operations: tens of microseconds a page, where reading its text costs hundreds):

1. unmapped characters: private-use, U+FFFD, C0 controls >= 10 % of the visible characters (real
   text has ~0; a Wingdings bullet per list item stays well below);
2. not words: letters, digits and their marks < 40 % of the visible characters, or < 75 % with
   fewer than half of them in runs of three or more (prose is ~95 % alphanumeric, figures tables
   ~80 %, source code ~60 % in identifiers; residue ~10-50 %, its letters one by one);
3. no common words: in a prose-like page (in its first 1,000 characters: >= 40 tokens of letters
   only, 60 % of all tokens, >= 6 tokens a line, few digits) under 5 % of the words are common
   words (three letters or more) of any of 30 languages (the `stop-words` lists; prose has
   25-45 %), and under 45 % of its three-letter sequences occur in any of those common words
   (prose in a language without a list, Latin or lorem ipsum or Welsh, has 50-90 %; English
   shifted by 1-25 places 3-39 %). Catches a layer of letters that spell nothing (a shifted
   encoding) and leaves Latin placeholder text alone.

Tables, name lists and headings are not prose-like and are never judged by 3. A prose page in a
language without a list whose spelling is unlike all 30 languages could still be judged garbage
by 3: it is then OCRed, which costs time but gives much the same text, and the warning says why.

Needs only the standard library and stop-words' data files (the worker starts without pydantic).
"""

from __future__ import annotations

import re
from functools import lru_cache

# Private use (BMP and planes 15-16), the replacement character, C0 controls but tab/newline/CR.
_UNMAPPED = re.compile(r"[\ue000-\uf8ff\U000f0000-\U0010ffff\ufffd\x00-\x08\x0b-\x0c\x0e-\x1f]")
# Three or more letters, digits or marks in a row: words, identifiers, numbers; glyph-code residue
# has its few letters and digits one by one between symbols.
_ALNUM_RUN = re.compile(r"(?:[^\W_]|[\u0300-\u036f\u0591-\u05c7\u064b-\u065f\u0900-\u0dff\u0e00-\u0eff])"
                        r"(?:[^\W_]|[\u0300-\u036f\u0591-\u05c7\u064b-\u065f\u0900-\u0dff\u0e00-\u0eff]){2,}")
_ASCII_ALNUM_OR_SPACE = bytes(range(48, 58)) + bytes(range(65, 91)) + bytes(range(97, 123)) + b" \t\r\n"
_ASCII_CONTROLS = bytes(c for c in range(32) if c not in b"\t\r\n")
_DIGITS = b"0123456789"

UNMAPPED_SHARE = 0.10
MIN_ALNUM_SHARE = 0.40
WORD_TEST_ALNUM_SHARE = 0.75
MIN_IN_RUNS_SHARE = 0.50
WORD_SAMPLE_CHARS = 1000  # the common-word test reads this much of a page: a share needs no more
PROSE_MIN_WORDS = 40  # tokens of letters only
PROSE_MIN_WORD_SHARE = 0.6  # of the tokens: tables and lists have figures, pipes, bullets
PROSE_MIN_TOKENS_PER_LINE = 6
PROSE_MAX_DIGIT_SHARE = 0.10
MIN_COMMON_WORD_SHARE = 0.05  # prose: 25-45 % of its words are common words of three letters or more
# Prose in a language the lists lack: 50-90 % of its letter triples occur in common words of other
# languages (Welsh 53 %, Latin 88 %, lorem ipsum 84-89 %); English shifted by 1-25 places 3-39 %.
MIN_KNOWN_TRIPLE_SHARE = 0.45
MIN_JUDGED_CHARS = 20  # fewer visible characters say too little (the thin-layer rule covers them)

# A few of the most frequent words of the languages most documents are in: finding three of them
# settles that a page is prose before any splitting (a page of letters that spell nothing has none).
_VERY_COMMON = frozenset("the and that with for from this was are not but have has were which "
                         "der die und das ist nicht mit les des est que pour dans los las por con para del "
                         "che per non het een och att для что это".split())
MIN_VERY_COMMON = 3
VERY_COMMON_FIRST_CHARS = 300  # looked at first: a few lines of prose hold three

# Scripts without spaces between words: their stop-word lists do not help the token test.
_UNSPACED = {"chinese", "japanese"}


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """The stop words of stop-words' lists, lower case, three characters or more (shorter ones,
    country codes among them in some lists, turn up by chance in garbage)."""
    import stop_words

    words = set()
    for name in set(stop_words.LANGUAGE_MAPPING.values()) - _UNSPACED:
        path = stop_words.STOP_WORDS_DIR / f"{name}.txt"
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        words.update(w for w in (line.strip().lower() for line in lines) if len(w) >= 3)
    return frozenset(words)


def garbage_reason(text: str) -> str | None:
    """Why this page's text layer is glyph codes rather than text, or None if it reads as text.

    Counted with C-level string and bytes operations where it can be: this runs on every page
    (tens of microseconds on a full page; reading the page's text costs hundreds)."""
    visible = len(text) - text.count(" ") - text.count("\n") - text.count("\r") - text.count("\t")
    if visible < MIN_JUDGED_CHARS:
        return None
    ascii_part = text.encode("ascii", "ignore")
    non_ascii = len(text) - len(ascii_part)
    if non_ascii or ascii_part != ascii_part.translate(None, _ASCII_CONTROLS):
        unmapped = len(_UNMAPPED.findall(text))
        if unmapped >= UNMAPPED_SHARE * visible:
            return f"{unmapped * 100 // visible} % private-use or unmapped characters"
    # Non-ASCII characters count as letters here (cheap, and the unmapped ones were judged above).
    alnum = visible - len(ascii_part.translate(None, _ASCII_ALNUM_OR_SPACE))
    if alnum < MIN_ALNUM_SHARE * visible:
        return f"{(visible - alnum) * 100 // visible} % punctuation and symbols"
    if alnum < WORD_TEST_ALNUM_SHARE * visible:
        in_runs = sum(map(len, _ALNUM_RUN.findall(text)))
        if in_runs < MIN_IN_RUNS_SHARE * alnum:
            return f"letters and digits scattered among symbols ({in_runs * 100 // alnum} % in words)"
    # The usual case, settled by one C-level set operation, most often on the page's first lines.
    if len(_VERY_COMMON.intersection(text[:VERY_COMMON_FIRST_CHARS].lower().split())) >= MIN_VERY_COMMON:
        return None
    sample = text[:WORD_SAMPLE_CHARS].lower()
    tokens = sample.split()
    if len(_VERY_COMMON.intersection(tokens)) >= MIN_VERY_COMMON:
        return None
    words = sum(map(str.isalpha, tokens))
    ascii_sample = sample.encode("ascii", "ignore")
    digits = len(ascii_sample) - len(ascii_sample.translate(None, _DIGITS))
    prose_like = (words >= PROSE_MIN_WORDS and words >= PROSE_MIN_WORD_SHARE * len(tokens)
                  and digits <= PROSE_MAX_DIGIT_SHARE * len(sample)
                  and len(tokens) >= PROSE_MIN_TOKENS_PER_LINE * (sample.count("\n") + 1))
    if prose_like:
        common = sum(map(common_words().__contains__, tokens))
        if common < MIN_COMMON_WORD_SHARE * words:
            # A language without a list (Latin, lorem ipsum, Welsh) still spells with the letter
            # sequences of real languages; a shifted or reassigned encoding does not.
            triples, known = _letter_triples(tokens)
            if known < MIN_KNOWN_TRIPLE_SHARE * triples:
                return (f"{common} common words in {words}, "
                        f"{known * 100 // max(triples, 1)} % of letter triples seen in words")
    return None


def _letter_triples(tokens: list[str]) -> tuple[int, int]:
    """How many three-letter sequences the words of letters only have, and how many of them occur
    in some common word of the 30 languages."""
    known_triples = common_triples()
    triples = known = 0
    for token in tokens:
        if token.isalpha():
            for i in range(len(token) - 2):
                triples += 1
                known += token[i:i + 3] in known_triples
    return triples, known


@lru_cache(maxsize=1)
def common_triples() -> frozenset[str]:
    """Every three-letter sequence of the common words (about 12,000)."""
    return frozenset(word[i:i + 3] for word in common_words() for i in range(len(word) - 2))


# Ligatures a font maps to a wrong single character. TeX's OT1 encoding puts ff, fi, fl, ffi, ffl
# at codes 11-15: without a Unicode map they come out as control characters, which cleaning drops
# ("eciently") or, for fi (a form feed), turns into a paragraph break. Apple's legacy fonts put fi
# and fl in the private-use area (U+F001, U+F002). Only next to a letter: anywhere else they are
# not ligatures (a lone form feed stays a page break). Unicode's own ligature characters (U+FB00-FB06) are right but unsearchable
# ("ﬁnd" does not match "find"): spelled out too, as NFKC would.
_CODED_LIGATURES = {"\x0b": "ff", "\x0c": "fi", "\x0d": "fl", "\x0e": "ffi", "\x0f": "ffl",
                    "\uf001": "fi", "\uf002": "fl"}
# fl (13) is a carriage return: PDFium ends every line with CR LF, so a CR before a LF is a line end
# ("word\r\n" is not "wordfl"), and only a CR not followed by LF can be the ligature ("A \ruent").
_CODE = r"(?:[\x0b\x0c\x0e\x0f\uf001\uf002]|\r(?!\n))"
# Next to a Latin letter only: OT1 is a Latin encoding, and TeX's math fonts put delimiters at the
# same codes (a bar at 12 and 13 in cmex: "|π|" is "\x0cπ\x0c", not "fiπfi").
_LATIN = r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]"
_CODED_LIGATURE = re.compile(rf"(?<={_LATIN}){_CODE}|{_CODE}(?={_LATIN})")
_UNICODE_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi",
                                    "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st"})
_ANY_LIGATURE = re.compile(r"[\x0b\x0c\x0e\x0f\uf001\uf002\ufb00-\ufb06]|\r(?!\n)")


def repair_ligatures(text: str) -> tuple[str, int]:
    """The text with ligatures spelled out, and how many were wrong characters (font codes)."""
    if text.isascii():  # O(1) in CPython: most pages end here, or after one bytes scan
        encoded = text.encode("ascii")
        if encoded == encoded.translate(None, _ASCII_CONTROLS) and text.count("\r") == text.count("\r\n"):
            return text, 0
    elif not _ANY_LIGATURE.search(text):
        return text, 0
    text, repaired = _CODED_LIGATURE.subn(lambda m: _CODED_LIGATURES[m.group()], text)
    return text.translate(_UNICODE_LIGATURES), repaired
