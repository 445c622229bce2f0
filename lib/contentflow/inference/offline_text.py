"""Text pieces of the local analysis: sentence splitting, the extractive summary's selection
and sentiment (VADER); keywords are in offline_keywords. No model is downloaded: segtok (sentence
splitting) keeps its rules in its package, vaderSentiment its lexicon.

Imported only by LocalBackend and offline_keywords (it pulls in numpy, segtok and vaderSentiment).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import numpy as np

from contentflow.inference.port import MAX_SUMMARY_CHARS

# --- units and sentences ---------------------------------------------------------------------------

_LIST_ITEM_RE = re.compile(r"^\s*(?:[-*•▪‣◦]|\d{1,2}[.)])\s+")
_TABLE_RE = re.compile(r"\s\|\s|^\s*\|")
_TERMINAL_RE = re.compile(r"[.!?…][\"'”’»)\]]*$")
_FIELD_RE = re.compile(r"^[\w.'’/-]+(?: [\w.'’/-]+){0,3}:(?:\s|$)")  # "To: Harbour Master", "items:"
_LABEL_PREFIX_RE = re.compile(r"^[\w'’/-]+(?: [\w'’/-]+)?:\s")     # "Present: ...", "Decision log: ..."
# Openings that lean on a previous sentence: such a sentence is never the first of a summary.
_ANAPHORIC_RE = re.compile(
    r"(?i)^(?:(?:this|that|these|those)(?= (?:is|was|are|were|means|meant|has|had|will|would|can|could|"
    r"made|makes|shows|showed|led|leads|allows|includes|also)\b)|it|its|they|them|he|she|his|her|their|"
    r"there|but|and|or|so|however|also|subject to (?:this|that)|as a result|in addition|"
    r"then|now|finally|thus|therefore|moreover|furthermore|instead|still|yet|here|such|"
    r"the (?:second|third|fourth|other|same|latter|former)|second(?:ly)?|third(?:ly)?|next|"
    r"es|dies|diese[rsmn]?|er|sie|aber|und|oder|dann|jetzt|außerdem|daher|deshalb|dabei|danach|"
    r"auch|zudem|trotzdem|il|elle|ils|elles|cela|ceci|ce|cette|ces|mais|et|ou|puis|ensuite|donc|"
    r"aussi|enfin|alors|cependant)\b")
_BOILERPLATE_RE = re.compile(
    r"(?i)\bpage \d+ (?:of|/) \d+\b|\bseite \d+ von \d+\b|©|\bcopyright\b|all rights reserved|"
    r"\bconfidential\b|unsubscribe|\bcookies?\b|click here|privacy policy|terms of use|"
    r"intentionally left blank|\bdisclaimer\b")
# Abbreviations after which segtok splits although the sentence goes on (German, French, English).
_ABBREVIATION_END_RE = re.compile(
    r"\b(?:u\.a|z\.B|z\.T|d\.h|bzw|ca|Mio|Mrd|Nr|evtl|ggf|inkl|exkl|vgl|Abs|Str|Tel|Hr|Fr|"
    r"Jh|Jhd|bspw|sog|env|p\.ex|cf|Mme|Mlle|Dr|Prof|vs|approx)\.$")


_CLOSERS = "»”’)]"


@dataclass(frozen=True)
class Unit:
    kind: str  # "heading" | "table" | "list" | "prose"
    text: str


@dataclass(frozen=True)
class Sentence:
    text: str
    kind: str   # the unit's kind
    index: int  # position in the document's sentence list


def units(text: str) -> list[Unit]:
    """Lines grouped into headings, table rows, list items and prose paragraphs. Hard-wrapped
    lines (PDF, OCR) are joined back, also across a blank line when the sentence goes on in lower
    case; a short line followed by a capitalised one is a heading or a field ("To: Harbour
    Master"), not the start of a wrapped sentence, and a "key: value" line stands alone."""
    found: list[Unit] = []
    current: list[str] = []
    current_kind = "prose"
    blank = False

    def flush():
        nonlocal current, current_kind
        if current:
            found.append(Unit(current_kind, " ".join(current)))
        current, current_kind = [], "prose"

    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = " ".join(raw.split())
        if not line:
            blank = True
            continue
        if blank and not (current and current_kind == "prose" and line[0].islower()
                          and not _TERMINAL_RE.search(current[-1]) and not current[-1].endswith(":")):
            flush()
        blank = False
        if line.startswith("#"):
            flush()
            found.append(Unit("heading", line.lstrip("#").strip()))
        elif _TABLE_RE.search(line):
            flush()
            found.append(Unit("table", line))
        elif _LIST_ITEM_RE.match(line):
            flush()
            current, current_kind = [_LIST_ITEM_RE.sub("", line, count=1)], "list"
        elif current and _continues(current[-1], line):
            current.append(line)
        else:
            flush()
            current = [line]
    flush()
    return [u for u in found if u.text]


def _continues(previous: str, line: str) -> bool:
    if _FIELD_RE.match(line) or previous.endswith(":"):
        return False
    if _TERMINAL_RE.search(previous) or previous.endswith((",", ";")):
        return True
    first = line[0]
    # A wrapped sentence goes on in lower case; a capitalised line after a long line is a wrap
    # before a name, after a short one it is a new line (a heading, a field, a list).
    return first.islower() or (len(previous) >= 50 and (first.isupper() or first.isdigit()))


def split_sentences(text: str) -> list[str]:
    from segtok.segmenter import split_single

    pieces: list[str] = []
    for piece in split_single(text):
        piece = piece.strip()
        if pieces and piece and piece[0] in _CLOSERS:
            # segtok splits before a closing quote ("C'est fini. » Le conseil"): it ends the previous one
            rest = piece.lstrip(_CLOSERS + " ")
            pieces[-1] = f"{pieces[-1]} {piece[:len(piece) - len(rest)].strip()}"
            piece = rest
        if not piece:
            continue
        if pieces and (_ABBREVIATION_END_RE.search(pieces[-1]) or piece[0].islower()):
            # segtok split after an abbreviation it does not know ("u.a.", "Mio.")
            pieces[-1] = f"{pieces[-1]} {piece}"
        else:
            pieces.append(piece)
    return pieces


def sentences(text: str) -> list[Sentence]:
    found: list[Sentence] = []
    for unit in units(text):
        parts = [unit.text] if unit.kind in ("heading", "table") else split_sentences(unit.text)
        for part in parts:
            found.append(Sentence(part, unit.kind, len(found)))
    return found


# --- summary ---------------------------------------------------------------------------------------

MIN_WORDS, MAX_WORDS = 5, 60
MIN_CHARS, MAX_CHARS = 25, 400


def reads_well(sentence: Sentence, repeated: set[str]) -> bool:
    """Could stand alone as a line of a summary: a whole sentence of prose, not a heading, a table
    row, a fragment, boilerplate, a running header or a line of data."""
    text = sentence.text
    if sentence.kind not in ("prose", "list") or not MIN_CHARS <= len(text) <= MAX_CHARS:
        return False
    if not _TERMINAL_RE.search(text) or not (text[0].isalnum() or text[0] in "\"'“‘«„"):
        return False
    words = text.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return False
    visible = [c for c in text if not c.isspace()]
    if sum(c.isalpha() for c in visible) < 0.6 * len(visible):
        return False
    if "|" in text or "@" in text or "http" in text or _BOILERPLATE_RE.search(text):
        return False
    return _normalised(text) not in repeated


def _normalised(text: str) -> str:
    """Case, punctuation and numbers ignored: "Harbour Logistics - page 3 of 12" repeats."""
    return re.sub(r"[\W\d_]+", " ", text.lower()).strip()


def summary_candidates(all_sentences: list[Sentence], limit: int) -> list[Sentence]:
    """The sentences that read well, at most `limit`: the first half of the limit from the start
    (where documents say what they are), the rest spread evenly over the remainder."""
    counts: dict[str, int] = {}
    for sentence in all_sentences:
        key = _normalised(sentence.text)
        counts[key] = counts.get(key, 0) + 1
    repeated = {key for key, n in counts.items() if n > 1}
    good = [s for s in all_sentences if reads_well(s, repeated)]
    if len(good) <= limit:
        return good
    head = limit // 2
    rest = good[head:]
    step = len(rest) / (limit - head)
    return good[:head] + [rest[int(i * step)] for i in range(limit - head)]


LEAD_BONUS = 0.06  # documents state their subject first: a small prior for the leading sentences
MMR_LAMBDA = 0.7   # relevance vs novelty when adding the second and third sentence


def can_open(text: str) -> bool:
    """Fit to be a summary's first sentence: it does not lean on an earlier one ("It", "The second
    change", "Aber") and is not a field ("Present: six members ...")."""
    return not _ANAPHORIC_RE.match(text) and not _LABEL_PREFIX_RE.match(text)


def select_summary(texts: list[str], vectors: np.ndarray, centroid: np.ndarray) -> list[int]:
    """Indices (in document order) of 1-3 candidates: the most central one (with a lead prior)
    among those fit to open a summary, then by maximal marginal relevance so the summary does not
    say the same thing twice; a later pick placed before the first must be fit to open too."""
    n = len(vectors)
    if n == 0:
        return []
    wanted = 1 if n <= 2 else 2 if n <= 6 else 3
    opens = np.array([can_open(t) for t in texts])
    if not opens.any():
        opens[:] = True  # nothing better: the most central sentence
    # The lead prior goes to the first sentences fit to open (a "Present: ..." line comes first in
    # minutes and would otherwise take it).
    lead_rank = np.where(opens, np.cumsum(opens) - 1, 10)
    relevance = vectors @ centroid + LEAD_BONUS * 0.5 ** lead_rank
    first = int(np.argmax(np.where(opens, relevance, -np.inf)))
    chosen = [first]
    allowed = opens | (np.arange(n) > first)
    while len(chosen) < min(wanted, int(allowed.sum())):
        redundancy = (vectors @ vectors[chosen].T).max(axis=1)
        mmr = MMR_LAMBDA * relevance - (1 - MMR_LAMBDA) * redundancy
        mmr[~allowed] = -np.inf
        mmr[chosen] = -np.inf
        chosen.append(int(np.argmax(mmr)))
    return sorted(chosen)


def join_summary(texts: list[str]) -> str:
    summary = ""
    for text in texts:
        candidate = f"{summary} {text}".strip()
        if len(candidate) > MAX_SUMMARY_CHARS:
            break
        summary = candidate
    return summary


_RECORD_RE = re.compile(r"[;,\t]\s*[\w .'-]{1,30}:\s")  # "region: North; product: ..." (a data row)


def leading_line(text: str, is_personal) -> str:
    """For text without prose (tables, CSV, JSON, receipts): its first line that names something,
    as written. Not a data row, and not a line with personal data (the summary travels further
    than the text)."""
    for unit in units(text)[:8]:
        line = unit.text
        letters = sum(c.isalpha() for c in line)
        if unit.kind == "table" or letters < 6 or len(line.split()) < 2 or _RECORD_RE.search(line):
            continue
        if is_personal(line):
            continue
        if len(line) > 300:
            line = line[:300].rsplit(" ", 1)[0]
        return line
    return ""


# --- enough words? ---------------------------------------------------------------------------------

_WORD_RE = re.compile(r"[A-Za-zÀ-ɏ][A-Za-zÀ-ɏ'’-]{1,24}")
_TOKEN_PUNCTUATION = ".,;:!?()[]{}\"'«»“”`*#"
MIN_WORDS_FOR_MODELS = 8


def wordy(text: str) -> bool:
    """At least 8 words in Latin script making up at least 30% of the first 20,000 characters.
    The word vectors (labels) and word statistics (keywords) say nothing true about a base64 blob, a column of
    numbers or text without spaces between words (Chinese, Japanese): there they stay empty."""
    sample = text[:20_000]
    words = [w for w in (t.strip(_TOKEN_PUNCTUATION) for t in sample.split()) if _WORD_RE.fullmatch(w)]
    visible = sum(not c.isspace() for c in sample)
    return len(words) >= MIN_WORDS_FOR_MODELS and sum(map(len, words)) >= 0.3 * visible


# --- sentiment -------------------------------------------------------------------------------------

_vader = None
_vader_lock = threading.Lock()
NEUTRAL_BAND = 0.1   # for the mean over sentences (VADER's per-text band is 0.05; a mean is diluted
                     # by factual sentences at 0, and one "cut" or "missing" should not make it negative)
STRONG = 0.3         # a sentence this far from 0 counts as clearly positive / negative
MIXED_SHARE = 0.2    # ... and mixed needs at least this share of both


def _analyser():
    global _vader
    with _vader_lock:
        if _vader is None:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            _vader = SentimentIntensityAnalyzer()  # reads the lexicon files inside the package
        return _vader


def sentiment(texts: list[str]) -> tuple[str, float] | None:
    """(label, score) over English sentences: score = the mean of VADER's compound per sentence
    (-1..1; one compound over a long text saturates at +-1). Label: "mixed" when at least 20% of
    the sentences are clearly positive (>= 0.3) and 20% clearly negative (<= -0.3), else by the
    mean (|mean| < 0.1 is neutral)."""
    if not texts:
        return None
    analyser = _analyser()
    # VADER's cost grows faster than linearly with a sentence's length: a "sentence" of 100k
    # characters without a full stop is scored on its first 1,000.
    scores = np.array([analyser.polarity_scores(t[:1000])["compound"] for t in texts])
    mean = float(np.clip(scores.mean(), -1.0, 1.0))
    positive, negative = (scores >= STRONG).mean(), (scores <= -STRONG).mean()
    if positive >= MIXED_SHARE and negative >= MIXED_SHARE:
        label = "mixed"
    elif mean >= NEUTRAL_BAND:
        label = "positive"
    elif mean <= -NEUTRAL_BAND:
        label = "negative"
    else:
        label = "neutral"
    return label, round(mean, 4)
