"""Keywords of the local analysis: candidate phrases counted in the text, ranked by a frequency and
position score together with their closeness to the document in the backend's word vectors
(KeyBERT-style), then picked with maximal marginal relevance so the list does not say one thing twice.

- Candidates: runs of 1-3 words that neither start nor end with a stopword and never cross a
  line, a table cell or punctuation. A word has at least one letter ("Q3", "COVID-19", "4G" are
  words; "2024", "4.0", "412.6" are numbers and end a run). Inside a phrase only a connector may
  stand ("Isle of Kerrera", "salle des fêtes", "taux d'intérêt"). URLs, e-mail addresses and
  running headers (a line repeated on many pages) are left out. One pass over the text: O(n).
- Cheap score: how often the phrase occurs, how frequent its words are in the text, how early it
  first occurs, whether it stands in a heading or title line, and how often it is written with a
  capital letter inside a sentence (a name) in languages that do not capitalise every noun.
- The best POOL candidates by that score are embedded (one batch of short texts) and their cosine
  with the document vector is mixed in; then MMR. Variants (case, singular/plural, one phrase's
  words contained in another's) count together and only the best one is kept.

Stopwords: the `stop-words` package (code BSD-3-Clause; its lists come from the Alir3z4/stop-words
repository on GitHub, CC BY 4.0: attribution), plain text files inside the wheel, read on first
use: nothing is downloaded. Its English list also holds a few content nouns ("research",
"system", "computer"), which are taken out here, and a few function words missing from its
German and French lists are added. Unknown languages (None, or a code without a list) use English.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from contentflow.inference.offline_text import _TERMINAL_RE, _normalised, units
from contentflow.inference.port import MAX_KEYWORDS, MAX_TEXT_FIELD

if TYPE_CHECKING:
    import numpy as np

KEYWORDS_WANTED = 10     # a keyword list longer than ten is mostly variations of the first ones
MAX_PHRASE_TOKENS = 3
POOL = 200               # candidates embedded for the semantic score (the best by the cheap score)
SEMANTIC_WEIGHT = 0.5    # share of the cosine with the document in the relevance (the rest: cheap score)
MMR_LAMBDA = 0.7         # relevance vs novelty when picking each next keyword
NESTED = 0.7             # cheap score factor of a phrase seen only inside one longer phrase
DEFAULT_LANGUAGE = "en"  # for a text of unknown language, and for languages without a stopword list

# Words: letters and digits, joined by an inner hyphen, dot or apostrophe ("cold-storage",
# "Node.js", "l'école", "don't"); everything else between two words is punctuation and ends a run.
_TOKEN_RE = re.compile(r"[^\W_](?:[^\W_]|[-.'’](?=[^\W_]))*")
_SENTENCE_END = frozenset(".!?…:")  # after these a capital letter says nothing about the word
_ELISION_RE = re.compile(r"^(?:c|d|j|l|m|n|s|t|qu|jusqu|lorsqu|puisqu|quoiqu)'(?=[^\W\d_])", re.IGNORECASE)

# Words allowed inside a phrase although they are stopwords ("Isle of Kerrera", "Plan de mobilité").
_CONNECTORS = {
    "en": frozenset({"of"}),
    "fr": frozenset({"de", "du", "des", "d'", "à"}),
    "es": frozenset({"de", "del"}),
    "it": frozenset({"di", "del", "della", "da"}),
    "pt": frozenset({"de", "do", "da", "dos", "das"}),
    "nl": frozenset({"van"}),
}
# After these a verb follows ("we expect", "they will", "il s'élève", "les habitants pourront"):
# no phrase starts there.
_BEFORE_VERB = {
    "en": frozenset("i we you he she they it will would can could should must may might shall cannot did does do "
                    "don't didn't doesn't won't wouldn't can't couldn't shouldn't".split()),
    "fr": frozenset("se s' ne n' il ils elle elles on nous vous je j' tu me m' te t'".split()),
}
# A word right before one of these ends a clause's verb, not a name of a thing (not German, where
# a noun is often followed by a genitive article: "Dichtheit der Leitungen").
_DETERMINERS = {
    "en": frozenset("the a an its their this these those our your his my".split()),
    "fr": frozenset("la les un une cette ces son sa ses leur leurs".split()),
}
# Content nouns in stop-words' English list (it is a union of several web lists).
_NOT_STOPWORDS = {
    "en": frozenset({"computer", "research", "system", "systems", "information", "results", "problem",
                     "problems", "website", "webpage", "homepage", "microsoft", "netscape", "invention",
                     "interest", "interests", "length", "groups", "member", "members"}),
}
# Function words missing from stop-words' lists.
_MORE_STOPWORDS = {
    "en": frozenset({"via", "per", "etc", "e.g", "i.e", "vs", "fourth", "fifth", "sixth", "seventh", "eighth",
                     "ninth", "tenth"}),
    "de": frozenset({"ab", "beim", "bzw", "ca", "dabei", "dafür", "daran", "darauf", "darin", "davon",
                     "dazu", "denen", "deren", "bereits", "erst", "etwa", "gibt", "immer", "jedoch", "kaum",
                     "laut", "mehr", "meist", "neben", "pro", "schon", "sei", "seit", "statt", "trotz",
                     "uhr", "usw", "vgl", "wegen", "worden", "wurde", "wurden", "z.b", "u.a", "d.h",
                     "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn", "zudem",
                     "ebenfalls", "sowohl", "insbesondere", "derzeit", "dort", "gut", "ganz", "erste", "ersten",
                     "erster", "zweite", "zweiten", "dritte", "dritten", "vierte", "vierten"}),
    "fr": frozenset({"afin", "ainsi", "alors", "cependant", "celle", "celles", "celui", "chacun", "déjà",
                     "également", "lorsque", "notamment", "puisque", "quelque", "quelques", "toujours",
                     "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "va", "y", "là",
                     "ici", "dont", "chez", "lors", "d'ici", "etc", "premier", "première", "premiers", "premières",
                     "deuxième", "troisième", "quatrième", "cinquième", "dernier", "dernière"}),
}

_stopwords: dict[str, frozenset[str]] = {}
_stopwords_lock = threading.Lock()


def language_code(language: str | None) -> str:
    """The ISO 639-1 code whose rules and stopwords apply: English for None or a language the
    stopword package has no list for."""
    from stop_words import LANGUAGE_MAPPING

    code = (language or DEFAULT_LANGUAGE).strip().lower()[:2]
    return code if code in LANGUAGE_MAPPING else DEFAULT_LANGUAGE


def stopwords(language: str | None) -> frozenset[str]:
    """The stopword set for a language (lower case, apostrophes as ')."""
    code = language_code(language)
    with _stopwords_lock:
        if code not in _stopwords:
            from stop_words import get_stop_words

            words = {w.strip().lower().replace("’", "'") for w in get_stop_words(code)}
            words |= _MORE_STOPWORDS.get(code, frozenset())
            words -= _NOT_STOPWORDS.get(code, frozenset())
            _stopwords[code] = frozenset(w for w in words if w)
        return _stopwords[code]


# --- candidates ------------------------------------------------------------------------------------

_NUMBER = 1  # in a token list: a number (ends a run); None: punctuation (ends a run)
# Number words: a word right after a number or one of these is a unit ("182 million euros",
# "twenty minutes late", "35 Grad"), not a keyword.
_NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty hundred "
    "thousand million millions billion billions dozen "
    "ein eine zwei drei vier fünf sechs sieben acht neun zehn elf zwölf zwanzig dreißig hundert tausend "
    "mio millionen mrd milliarden "
    "un une deux trois quatre cinq sept huit neuf dix onze douze vingt trente cent mille milliard "
    "milliards".split())
# Dates are entities, not keywords.
_CALENDAR = {
    "en": "january february march april may june july august september october november december "
          "monday tuesday wednesday thursday friday saturday sunday weekday weekend today tomorrow yesterday",
    "de": "januar jänner februar märz april mai juni juli august september oktober november dezember "
          "montag dienstag mittwoch donnerstag freitag samstag sonntag wochentag wochenend heute morgen gestern",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre "
          "lundi mardi mercredi jeudi vendredi samedi dimanche aujourd'hui hier demain",
}
_FIELD_LABEL_RE = re.compile(r"^[^\W\d_][\w'’-]*(?: [\w'’-]+)?:(?=\s)")  # "Subject:", "Present:", "Decision log:"


class _Candidate:
    __slots__ = ("stems", "count", "first", "heading", "capitalised", "inside", "after_number", "cut", "forms")

    def __init__(self, stems: tuple[str, ...], first: int):
        self.stems = stems
        self.count = 0
        self.first = first          # word index of the first occurrence
        self.heading = False        # occurs in a heading or title line
        self.capitalised = 0        # occurrences with a capital letter inside a sentence (a name)
        self.inside = 0             # occurrences inside a sentence (not its first word)
        self.after_number = 0       # occurrences right after a number: a unit
        self.cut = 0                # occurrences that stop in the middle of a longer run (see candidates)
        self.forms: dict[str, int] = {}  # surface -> count; sentence-initial ones count 1/1000

    def surface(self) -> str:
        """The most frequent spelling inside sentences (a sentence's first word is capitalised
        whatever it is); ties go to the first seen."""
        return max(self.forms.items(), key=lambda item: item[1])[0]


def _stem(key: str, language: str) -> str:
    """A crude singular: enough to count "seed"/"seeds", "Wärmepumpe"/"Wärmepumpen" as one."""
    if len(key) <= 3 or not key[-1].isalpha():
        return key
    if language == "de":
        for ending in ("en", "er", "es", "e", "n", "s"):
            if key.endswith(ending) and len(key) - len(ending) >= 4:
                return key[:-len(ending)]
        return key
    if language == "en":
        if key.endswith("ies") and len(key) > 4:
            return key[:-3] + "y"
        if key.endswith(("sses", "shes", "ches", "xes")):
            return key[:-2]
    if key.endswith("s") and not key.endswith(("ss", "us", "is")):
        return key[:-1]
    if language == "fr" and key.endswith("x") and len(key) > 4:
        return key[:-1]
    return key


def _is_word(word: str) -> bool:
    """Letters, or letters with a few digits ("Q3", "COVID-19", "B2B", "4G"); not a number, a
    date, a version or a code ("2024", "4.2.0", "2024-05-01T12", "00Z", "x2")."""
    letters = sum(c.isalpha() for c in word)
    if letters == len(word):
        return True
    digits = sum(c.isdigit() for c in word)
    if letters == 0 or digits > letters:
        return False
    return not (word[0] in "xX×" and word[1:].isdigit())


class _Words:
    """Per call: what each distinct word is (key, stem, stopword), computed once."""

    def __init__(self, language: str):
        self.language = language
        self.stops = stopwords(language)
        self.calendar = frozenset(_CALENDAR.get(language, _CALENDAR["en"]).split())
        self.cache: dict[str, tuple[str, str, bool]] = {}

    def __call__(self, word: str) -> tuple[str, str, bool]:
        known = self.cache.get(word)
        if known is None:
            key = word.lower()
            stem = _stem(key, self.language)
            stop = (key in self.stops or key in self.calendar or stem in self.calendar or len(key) == 1
                    or (len(key) == 2 and key.isalpha() and word.islower()))
            if "." in key and not stop:
                # "z.B", "e.g", "U.S": an abbreviation (all its parts one or two letters) is not a keyword
                stop = all(len(part) <= 2 for part in key.split("."))
            known = self.cache[word] = (key, stem, stop)
        return known


def _tokens(line: str, words: _Words) -> list:
    """The line's words in order as (start, end, key, stem, stop, initial), with None where
    punctuation breaks a run and _NUMBER for a number. `initial`: the first word of a sentence
    or line, whose capital letter says nothing."""
    out: list = []
    previous_end = 0
    initial = True
    english = words.language == "en"
    for match in _TOKEN_RE.finditer(line):
        start, end = match.span()
        if start > previous_end:
            gap = line[previous_end:start]
            if not gap.isspace():
                out.append(None)
                initial = initial or any(c in _SENTENCE_END for c in gap)
        previous_end = end
        word = match.group()
        if "’" in word:
            word = word.replace("’", "'")
        if not _is_word(word):
            out.append(_NUMBER)
            initial = False
            continue
        if "'" in word:
            elision = _ELISION_RE.match(word)
            if elision:  # "l'école": the article is a stopword, the noun a word
                cut = elision.end()
                out.append((start, start + cut, word[:cut].lower(), word[:cut].lower(), True, initial))
                initial = False
                start, word = start + cut, word[cut:]
            if english and word.lower().endswith("'s"):  # "the company's annual report"
                key, stem, stop = words(word[:-2])
                out.append((start, end - 2, key, stem, stop, initial))
                out.append(None)
                initial = False
                continue
        key, stem, stop = words(word)
        out.append((start, end, key, stem, stop, initial))
        initial = False
    return out


def _lines(text: str) -> list[tuple[str, bool]]:
    """(line, is a heading or title) per unit of the text; running headers and footers (a line
    repeated more than twice in a text of many lines) left out, links and field labels
    ("Subject:") blanked."""
    all_units = units(text)
    counts = Counter(_normalised(unit.text) for unit in all_units)
    lines = []
    for unit in all_units:
        line = unit.text
        if len(all_units) > 10 and counts[_normalised(line)] > 2:
            continue
        heading = unit.kind == "heading" or (
            unit.kind == "prose" and len(line.split()) <= 12 and not _TERMINAL_RE.search(line)
            and not line.endswith(":"))
        if "@" in line or "://" in line or "www." in line:  # units() left single spaces between words
            line = " ".join("|" if "@" in piece or "://" in piece or piece.startswith("www.") else piece
                            for piece in line.split(" "))
        label = _FIELD_LABEL_RE.match(line)
        if label:
            line = " " * (label.end() - 1) + "|" + line[label.end():]
        lines.append((line, heading))
    return lines


def candidates(text: str, language: str | None) -> tuple[dict[tuple[str, ...], _Candidate], Counter, int]:
    """(candidates by their stems, word stem -> count, number of words) of the text."""
    code = language_code(language)
    words = _Words(code)
    connectors = _CONNECTORS.get(code, frozenset())
    before_verb = _BEFORE_VERB.get(code, frozenset())
    determiners = _DETERMINERS.get(code, frozenset())
    found: dict[tuple[str, ...], _Candidate] = {}
    word_counts: Counter = Counter()
    position = 0
    names_by_capital = code != "de"  # German capitalises every noun
    for line, heading in _lines(text):
        tokens = _tokens(line, words)
        n = len(tokens)
        for i, token in enumerate(tokens):
            if token is None or token is _NUMBER:
                continue
            position += 1
            if token[4]:
                continue
            word_counts[token[3]] += 1
            before = tokens[i - 1] if i else None
            if before is not None and before is not _NUMBER and before[2] in before_verb:
                continue
            after_number = before is _NUMBER or (before is not None and before[2] in _NUMBER_WORDS)
            stems: tuple[str, ...] = ()
            for j in range(i, min(i + MAX_PHRASE_TOKENS, n)):
                last = tokens[j]
                if last is None or last is _NUMBER or (last[4] and last[2] not in connectors):
                    break
                if last[4]:  # a connector may stand inside a phrase, not at its end
                    continue
                stems = tuple(t[3] for t in tokens[i:j + 1] if not t[4])
                candidate = found.get(stems)
                if candidate is None:
                    candidate = found[stems] = _Candidate(stems, position)
                candidate.count += 1
                candidate.heading = candidate.heading or heading
                candidate.after_number += after_number
                following = tokens[j + 1] if j + 1 < n else None
                if following is not None and following is not _NUMBER and (
                        following[2] in determiners
                        or (code == "en" and not following[4] and len(stems) < j - i + 1)):
                    # A noun phrase is not followed by an article ("report summarises the",
                    # "Beekeepers trickle a"), and "pots of moist" stops inside "pots of moist
                    # seed compost".
                    candidate.cut += 1
                surface = line[token[0]:last[1]]
                if " " in surface or "\n" in surface:
                    surface = " ".join(surface.split())
                if token[5]:
                    candidate.forms[surface] = candidate.forms.get(surface, 0) + 0.001
                else:
                    candidate.forms[surface] = candidate.forms.get(surface, 0) + 1
                    candidate.inside += 1
                    if names_by_capital and surface[0].isupper():
                        candidate.capitalised += 1
    return found, word_counts, position


# --- scoring and picking ---------------------------------------------------------------------------

def _acceptable(candidate: _Candidate, surface: str, language: str) -> bool:
    if not 3 <= len(surface) <= MAX_TEXT_FIELD:
        return False
    single = len(candidate.stems) == 1
    if len(set(candidate.stems)) < len(candidate.stems):  # "word word", "bla bla bla"
        return False
    if single and surface.islower() and len(surface) <= 4:  # "eur", "time", "key"
        return False
    if candidate.after_number * 2 > candidate.count:  # "percent", "minutes late", "times EBITDA"
        return False
    if candidate.cut == candidate.count:
        return False
    last = surface.rsplit(" ", 1)[-1]
    if language == "en" and len(last) > 4 and last.endswith("ed") and not last.endswith("eed"):
        return False  # "Gross margin improved", "delivered": a clause or a verb, not a name of a thing
    if language == "de" and candidate.inside and not last[0].isupper():
        return False  # German names of things end with a noun: "mobile Arbeit", not "Büro erfasst"
    return True


def _cheap_score(candidate: _Candidate, word_counts: Counter, total: int) -> float:
    """Frequency of the phrase and of its words, an early first occurrence, a heading, a name."""
    words = candidate.stems
    frequency = math.log1p(candidate.count) + 0.5 * sum(math.log1p(word_counts[w]) for w in words) / len(words)
    position = 1.0 - 0.4 * math.sqrt(candidate.first / max(total, 1))
    heading = 1.25 if candidate.heading else 1.0
    name_share = candidate.capitalised / candidate.inside if candidate.inside else 0.0
    name = 1.0 + 0.25 * name_share
    if candidate.count > 1 or candidate.heading or name_share > 0.5:
        length = 1.0 + 0.25 * (len(words) - 1)
    else:
        # Said once, in lower case, in running text: a longer run is more often a piece of a
        # clause ("commune veut réduire") and a lone word is rarely the subject.
        length = 0.85 if len(words) != 2 else 1.1
    return frequency * length * position * heading * name


def _nested(found: dict[tuple[str, ...], _Candidate]) -> set[tuple[str, ...]]:
    """Phrases never seen outside one longer phrase ("Treating varroa" in "Treating varroa
    mites", "Trading" in "Trading plc"): a piece of a longer name, not a keyword of its own."""
    nested = set()
    for stems, candidate in found.items():
        if len(stems) > 1:
            for piece in (stems[:-1], stems[1:]):
                inner = found.get(piece)
                if inner is not None and inner.count == candidate.count:
                    nested.add(piece)
    return nested


def _parts(stems: tuple[str, ...]) -> frozenset[str]:
    """The stems and the pieces of hyphenated ones: "Luft-Wasser-Wärmepumpe" contains "Wärmepumpe"."""
    parts = set(stems)
    for stem in stems:
        if "-" in stem:
            parts.update(p for p in stem.split("-") if len(p) > 2)
    return frozenset(parts)


def _contains(parts: frozenset[str], other: frozenset[str], language: str) -> bool:
    """`parts` says all that `other` says: the same or more words, or in German a compound ending
    in the other word ("Kernarbeitszeit" contains "Arbeitszeit")."""
    if other <= parts:
        return True
    if language == "de" and len(other) == 1 and len(parts) == 1:
        (word,), (inner,) = parts, other
        return len(inner) >= 4 and word.endswith(inner)
    return False


def keywords(text: str, language: str | None,
             embed: Callable[[list[str]], np.ndarray] | None = None,
             document_vector: np.ndarray | None = None) -> list[str]:
    """At most KEYWORDS_WANTED phrases of the text, as written, best first. `embed` gives unit
    vectors for a list of texts and `document_vector` is the document's unit vector in the same
    space; without them the cheap score alone ranks."""
    import numpy as np

    code = language_code(language)
    found, word_counts, total = candidates(text, code)
    nested = _nested(found)
    scored = []
    for candidate in found.values():
        surface = candidate.surface()
        if _acceptable(candidate, surface, code):
            score = _cheap_score(candidate, word_counts, total) * (NESTED if candidate.stems in nested else 1.0)
            scored.append((score, candidate.first, surface, candidate))
    if not scored:
        return []
    scored.sort(key=lambda item: (-item[0], item[1]))  # ties: the earlier phrase
    pool = scored[:POOL]
    relevance = _rescale(np.array([item[0] for item in pool]))
    vectors = None
    if embed is not None and document_vector is not None:
        vectors = embed([item[2] for item in pool])
        relevance = (1 - SEMANTIC_WEIGHT) * relevance + SEMANTIC_WEIGHT * _rescale(vectors @ document_vector)

    wanted = min(KEYWORDS_WANTED, MAX_KEYWORDS)
    chosen: list[int] = []
    chosen_parts: list[frozenset[str]] = []
    available = np.ones(len(pool), dtype=bool)
    while len(chosen) < wanted and available.any():
        if vectors is not None and chosen:
            redundancy = (vectors @ vectors[chosen].T).max(axis=1)
            mmr = MMR_LAMBDA * relevance - (1 - MMR_LAMBDA) * redundancy
        else:
            mmr = relevance.copy()
        mmr[~available] = -np.inf
        best = int(np.argmax(mmr))  # the first of equals: the better cheap score, then the earlier
        available[best] = False
        candidate = pool[best][3]
        parts = _parts(candidate.stems)
        overlapping = [k for k, other in enumerate(chosen_parts)
                       if _contains(parts, other, code) or _contains(other, parts, code) or len(parts & other) >= 2]
        if not overlapping:
            chosen.append(best)
            chosen_parts.append(parts)
        elif (len(overlapping) == 1 and candidate.count >= 2
              and _contains(parts, chosen_parts[overlapping[0]], code) and parts != chosen_parts[overlapping[0]]):
            # A repeated, more specific phrase takes the place of the word it contains:
            # "varroa mites" for "mites".
            chosen[overlapping[0]] = best
            chosen_parts[overlapping[0]] = parts
    return [pool[i][2] for i in chosen]


def _rescale(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.ones_like(values, dtype=float)
