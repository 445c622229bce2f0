"""A conservative token estimate for Vertex AI requests, without a tokenizer or a network call.

Vertex refuses an embedding text over 2,048 tokens (with autoTruncate off) and a request over
20,000 tokens, so the backend cuts and batches by this estimate; it must never count fewer tokens
than the service does. Pieces are runs of word characters and single other characters:
- an ASCII word counts one token per digit (SentencePiece splits numbers into digits) plus one per
  4 other characters, rounded up (English averages about 1.3 tokens a word; this gives about 1.8);
- a word with non-ASCII letters counts one token per character (CJK is about one a character);
- ASCII punctuation counts 1, any other symbol (emoji, CJK punctuation) 3 (byte-level pieces).
The local fake (local/vertexfake) counts at most this for every piece.
"""

from __future__ import annotations

import functools
import re

_PIECE = re.compile(r"\w+|[^\w\s]")


@functools.lru_cache(maxsize=1 << 16)  # words repeat (Zipf): most lookups are hits
def _piece_tokens(piece: str) -> int:
    if piece[0].isalnum() or piece[0] == "_":
        if piece.isascii():
            digits = sum(c.isdigit() for c in piece)
            return digits + -(-(len(piece) - digits) // 4)
        return len(piece)
    return 1 if piece.isascii() else 3


def estimate_tokens(text: str | None) -> int:
    return sum(map(_piece_tokens, _PIECE.findall(text or "")))


def _word_prefix(piece: str, budget: int) -> int:
    """How many characters of one word fit in `budget` tokens."""
    if not piece.isascii():
        return min(len(piece), budget)
    digits = other = 0
    for i, c in enumerate(piece):
        d, o = digits + c.isdigit(), other + (not c.isdigit())
        if d + -(-o // 4) > budget:
            return i
        digits, other = d, o
    return len(piece)


def cut_index(text: str, limit: int) -> int:
    """Length of the longest prefix of `text` estimated at most `limit` tokens (a word longer than
    what is left is cut inside, so one endless "word" cannot defeat the limit)."""
    total = 0
    for m in _PIECE.finditer(text):
        n = _piece_tokens(m.group())
        if total + n > limit:
            left = limit - total
            if left > 0 and (m.group()[0].isalnum() or m.group()[0] == "_"):
                return m.start() + _word_prefix(m.group(), left)
            return m.start()
        total += n
    return len(text)


def cut_to_tokens(text: str, limit: int) -> tuple[str, bool]:
    """(`text` cut to at most `limit` estimated tokens, whether it was cut)."""
    end = cut_index(text, limit)
    if end >= len(text):
        return text, False
    return text[:end].rstrip(), True


def split_to_tokens(text: str, limit: int) -> list[str]:
    """`text` in consecutive pieces of at most `limit` estimated tokens each."""
    pieces = []
    while text.strip():
        end = cut_index(text, limit)
        if end == 0:  # one symbol over the limit: cannot happen with limit >= 3, but never loop
            end = 1
        piece, text = text[:end].strip(), text[end:]
        if piece:
            pieces.append(piece)
    return pieces
