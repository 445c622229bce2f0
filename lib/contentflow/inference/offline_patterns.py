"""Pattern-based entities and personal-data detectors for the local backend (no model, no download).

Everything returned is a span of the input that matched a pattern and passed its check (IBAN
mod-97, Luhn plus issuer prefix for cards, value ranges for dates, a nearby keyword where the shape
alone is ambiguous): a real extraction, never a guess. What patterns cannot find reliably (names
without an honorific, organisations, places, health data) is left to the vertex backend.

Speed: personal data is looked for in up to 10 million characters (entities only in the analysed
prefix). Python's regex engine is fast when a pattern starts with a literal or a small character
set, and slow when every position must first pass a lookbehind, a \\b or an IGNORECASE
alternation. So the patterns start with a character, word boundaries are checked in Python on the
few matches, and the rare kinds (money, percent, national ids, dates of birth, phone keywords,
credentials) are searched only near their trigger words, found with str.find. 10 million
characters take 1-2 s, 3-4 s when they are nearly all digits (tests and bench/local_models.py).
"""

from __future__ import annotations

import bisect
import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from contentflow.inference.port import MAX_ENTITIES, MAX_TEXT_FIELD

# --- shared pieces ---------------------------------------------------------------------------------

_MONTHS_EN = ("January|February|March|April|May|June|July|August|September|October|November|December|"
              "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")
_MONTHS_DE = "Januar|Jänner|Februar|März|Mai|Juni|Juli|Oktober|Dezember"  # the others as in English
_MONTHS_FR = ("janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre|"
              "Janvier|Février|Mars|Avril|Juin|Juillet|Août|Septembre|Octobre|Novembre|Décembre")
_MONTH = rf"(?:{_MONTHS_EN}|{_MONTHS_DE}|{_MONTHS_FR})"

_NUMBER = r"\d{1,3}(?:[,.'\u00a0\u202f]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_SCALE = (r"(?:[ \u00a0]?(?:thousand|million|billion|trillion|bn|Mio\.?|Mrd\.?|Millionen|Milliarden|"
          r"millions?|milliards?))?")
_NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
                 "fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|"
                 "seventy|eighty|ninety|hundred")


def _word_start(text: str, index: int) -> bool:
    """No letter, digit or underscore just before `index` (a \\b checked on the match only)."""
    return index == 0 or not (text[index - 1].isalnum() or text[index - 1] == "_")


def _word_end(text: str, index: int) -> bool:
    return index >= len(text) or not (text[index].isalnum() or text[index] == "_")


def _positions(text: str, needles: tuple[str, ...]):
    """Every position of every needle (str.find runs at memory speed)."""
    for needle in needles:
        position = text.find(needle)
        while position != -1:
            yield position, needle
            position = text.find(needle, position + 1)


# --- entities --------------------------------------------------------------------------------------

EMAIL_RE = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![\w-])")
URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"'`|\\^{}]{2,400}")
_URL_TRAILING = ".,;:!?)]}'\""

# Phones: the shape alone decides for international (+49 ...), bracketed area codes and the
# North-American 555-123-4567 form; a national number (0451 123456) looks like many other numbers,
# so it counts only right after a phone keyword.
PHONE_RE = re.compile(r"""
    \+\d{1,3}[ .-]?(?:\(0\)[ .-]?)?(?:\(\d{1,5}\)|\d{1,5})(?:[ .-]?\d{2,5}){1,4}   # +49 451 123456
  | \(\d{2,5}\)[ .-]?\d{3,5}(?:[ .-]?\d{2,5}){0,2}                              # (555) 123-4567
  | \d(?<![\w+/.,-]\d)\d\d[.-]\d{3}[.-]\d{4}                                    # 555-123-4567
""", re.VERBOSE)
NATIONAL_PHONE_RE = re.compile(r"0\d{1,4}(?:[ /.-]\d{2,8}){1,4}|0\d{6,11}")
# Words after which a national number is a phone number, found with str.find (then checked to be
# the whole word).
_PHONE_NEEDLES = ("Tel", "tel", "TEL", "Tél", "tél", "Phone", "phone", "PHONE", "Fon", "fon", "Fax", "fax", "FAX",
                  "Mob", "mob", "Handy", "Cell", "cell", "Portable", "portable", "☎", "📞")
_PHONE_WORDS = frozenset(("tel", "tél", "phone", "telephone", "téléphone", "telefon", "fon", "fax", "mobile",
                          "mobil", "mob", "handy", "cell", "portable", "telefonnummer", "phonenumber"))
_PHONE_GAP_RE = re.compile(r"[^\n\d+()]{0,12}")
_PHONE_END = re.compile(r"[\w-]|[.,]\d")

_PERCENT_UNITS = ("%", "percent", "per cent", "Prozent", "pour cent", "por ciento")
PERCENT_BEFORE_RE = re.compile(
    rf"(?:(?<![\w.,])(?:{_NUMBER})|\b(?i:{_NUMBER_WORDS})(?i:-(?:one|two|three|four|five|six|seven|eight|nine))?)"
    r"[ \u00a0]?$")

_CURRENCY_SYMBOLS = ("€", "$", "£", "¥", "₹")
_CURRENCY_CODES = ("EUR", "USD", "GBP", "CHF", "JPY", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN")
_CURRENCY_WORDS = ("euro", "Euro", "dollar", "pounds", "franc")
_CURRENCY_WORD_FORMS = frozenset(_CURRENCY_CODES + ("euro", "euros", "Euro", "Euros", "dollar", "dollars", "pounds",
                                                    "franc", "francs"))
MONEY_AFTER_RE = re.compile(rf"[ \u00a0]?(?:{_NUMBER}){_SCALE}")           # € 1,200.50 million
MONEY_BEFORE_RE = re.compile(rf"(?<![\w.,])(?:{_NUMBER}){_SCALE}[ \u00a0]?$")  # 182 million euros

# Dates that start with a digit: 2024-05-01(T06:00Z), 05.03.2024, 5/3/24, 3 March (2024), 1er mai, 5. März.
# One leading \d and no named groups at the top: the engine then skips to digits (10x faster).
DATE_RE = re.compile(rf"""\d(?<![\w.,/-]\d)(?:
    \d{{3}}-\d{{2}}-\d{{2}}(?:[T ]\d{{2}}:\d{{2}}(?::\d{{2}})?(?:Z|[+-]\d{{2}}:?\d{{2}})?)?(?![\w-])
  | \d?\.\d{{1,2}}\.\d{{4}}(?!\d)
  | \d?/\d{{1,2}}/(?:\d{{4}}|\d{{2}})(?![\d/])
  | \d?(?:st|nd|rd|th|er|\.)?[ \u00a0](?:of[ ])?{_MONTH}(?:,?[ \u00a0]\d{{4}})?(?!\w)
)""", re.VERBOSE)
_ISO_PARTS = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_NUMERIC_PARTS = re.compile(r"(\d{1,2})[./](\d{1,2})[./]")
_DAY_PART = re.compile(r"(\d{1,2})")
# Dates that start with a month (March 5, 2024; September 2024), matched from a month word found
# before a " <digit>": an alternation of 50 month names tried at every position costs seconds.
MONTH_FIRST_RE = re.compile(rf"""
    (?:{_MONTHS_EN})\.?[ \u00a0]\d{{1,2}}(?:st|nd|rd|th)?(?:,?[ \u00a0]\d{{4}})?(?!\w)
  | {_MONTH}[ \u00a0](?:19|20)\d{{2}}(?!\w)
""", re.VERBOSE)
_MONTH_WORDS = frozenset(f"{_MONTHS_EN}|{_MONTHS_DE}|{_MONTHS_FR}".split("|"))
_SPACE_DIGIT_RE = re.compile(r"[ \u00a0]\d")

# --- personal-data detectors -----------------------------------------------------------------------

IBAN_RE = re.compile(r"[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,32}")
# Lengths per country (the common ones); another country code is checked for 15..34 characters.
IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20,
    "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25,
    "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26,
}
# `\d(?<![\w.,/-]\d)`: a digit not inside a longer token, checked after the first digit so the
# engine still skips ahead to digits (a lookbehind first would run at every position).
CARD_RE = re.compile(r"\d(?<![\w.,/-]\d)(?:[ -]?\d){12,18}")

SSN_RE = re.compile(r"(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)")
NINO_RE = re.compile(r"(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?!\w)")
ID_KEYWORDS = ("SSN", "Social Security", "social security", "SOCIAL SECURITY", "National Insurance",
               "national insurance", "NATIONAL INSURANCE", "NI number", "NI Number", "NINO")
DOB_KEYWORDS = ("Date of birth", "date of birth", "Date of Birth", "DATE OF BIRTH", "Birth date", "birth date",
                "Birthdate", "birthdate", "DOB", "Born", "born", "Geburtsdatum", "geboren", "Geboren", "geb.",
                "Date de naissance", "date de naissance", "Né le", "né le", "Née le", "née le")
_CREDENTIAL_TRIGGERS = ("-----BEGIN", "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_",
                        "AIza", "xoxa-", "xoxb-", "xoxp-", "xoxr-", "xoxs-", "sk_live_", "rk_live_")
CREDENTIAL_RE = re.compile(
    r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"
    r"|(?<![\w])(?:AKIA|ASIA)[0-9A-Z]{16}(?!\w)"                  # AWS access key id
    r"|(?<![\w])(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60,90})(?!\w)"
    r"|(?<![\w])AIza[0-9A-Za-z_-]{35}(?![\w-])"                   # Google API key
    r"|(?<![\w])xox[abprs]-[0-9A-Za-z-]{10,80}"                   # Slack token
    r"|(?<![\w])[sr]k_live_[0-9A-Za-z]{16,99}(?!\w)")             # Stripe secret key

# Postal addresses: a street with a house number, in German, English or French form, or a UK
# postcode. A street name alone ("rue des Tanneurs") is a place, not an address.
GERMAN_STREET_RE = re.compile(r"(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|chaussee)"
                              r" \d{1,3}[a-z]?(?!\w)")
# English and French streets are found from their street word (str.find), then the number and name
# before or after it are checked: a pattern that starts with a digit is tried at every digit.
_ENGLISH_STREET_WORDS = ("Street", "Road", "Lane", "Avenue", "Drive", "Way", "Close", "Court", "Place", "Square",
                         "Terrace", "Crescent", "Boulevard", "Gardens", "Row", "Rd.", "St.", "Ave.", "Blvd.")
# "12 Quarry " Lane; a year is not a house number ("In 2024 Our Way")
ENGLISH_STREET_BEFORE_RE = re.compile(r"(?<![\w.,])(?!(?:19|20)\d\d\b)\d{1,5}[a-z]?,? (?:[A-Z][a-z]+ ){1,3}$")
_FRENCH_STREET_WORDS = ("rue", "avenue", "boulevard", "place", "chemin", "allée", "impasse", "quai", "route")
FRENCH_STREET_BEFORE_RE = re.compile(r"(?<![\w.,])\d{1,4}(?: ?(?:bis|ter))?,? $")             # "5 " rue
FRENCH_STREET_AFTER_RE = re.compile(r" (?:des |du |de la |de |d'|l')?[A-ZÉ]")                 # rue " des T"
UK_POSTCODE_RE = re.compile(r"(?:GIR 0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? \d[ABD-HJLNP-UW-Z]{2})(?!\w)")
PERSON_RE = re.compile(
    r"(?:Mr|Mrs|Ms|Mx|Dr|Prof|Herr|Frau|Mme|Mlle|Madame|Monsieur)\.?[ \u00a0]"
    r"[A-ZÄÖÜÉÈ][a-zäöüßéèêëïç'-]+")


@dataclass(frozen=True)
class Found:
    type: str
    text: str
    start: int
    end: int


class _Spans:
    """Spans already taken by a more specific kind, for overlap checks in O(log n)."""

    def __init__(self, spans: list[tuple[int, int]]):
        spans = sorted(spans)
        self.starts = [start for start, _ in spans]
        self.max_end: list[int] = []
        for _, end in spans:
            self.max_end.append(max(end, self.max_end[-1]) if self.max_end else end)

    def overlaps(self, start: int, end: int) -> bool:
        index = bisect.bisect_left(self.starts, end)  # spans starting before `end`
        return index > 0 and self.max_end[index - 1] > start


# Each detector is a generator: the personal-data check stops at the first hit, the entity
# extraction takes them all.

def _emails(text: str) -> Iterator[Found]:
    # Anchored on '@': prose without one costs a single str.find.
    position = text.find("@")
    while position != -1:
        for match in EMAIL_RE.finditer(text, max(0, position - 64), min(len(text), position + 260)):
            if match.start() <= position < match.end():
                if _word_start(text, match.start()) and text[match.start() - 1:match.start()] not in ".+-":
                    yield Found("email", match.group(), match.start(), match.end())
                break
        position = text.find("@", position + 1)


def _urls(text: str) -> Iterator[Found]:
    for match in URL_RE.finditer(text):
        url = match.group().rstrip(_URL_TRAILING)
        if _word_start(text, match.start()) and "." in url.split("//", 1)[-1] and len(url) <= MAX_TEXT_FIELD:
            yield Found("url", url, match.start(), match.start() + len(url))


def _valid_date(text: str) -> bool:
    """The numbers of a matched date are a day, a month and a year."""
    iso = _ISO_PARTS.match(text)
    if iso:
        return 1000 <= int(iso[1]) <= 2999 and 1 <= int(iso[2]) <= 12 and 1 <= int(iso[3]) <= 31
    numeric = _NUMERIC_PARTS.match(text)
    if numeric:
        a, b = int(numeric[1]), int(numeric[2])
        if "." in text:  # day.month.year
            return 1 <= a <= 31 and 1 <= b <= 12
        return 1 <= a <= 31 and 1 <= b <= 31 and (a <= 12 or b <= 12)  # d/m/y or m/d/y
    if text[0].isdigit():
        return 1 <= int(_DAY_PART.match(text)[1]) <= 31
    day = re.search(r"[ \u00a0](\d{1,2})(?!\d)", text)  # "March 5"; "September 2024" has none
    return day is None or 1 <= int(day[1]) <= 31


def _month_first(text: str) -> Iterator[re.Match]:
    for gap in _SPACE_DIGIT_RE.finditer(text):
        word_end = gap.start() - 1 if text[gap.start() - 1:gap.start()] == "." else gap.start()
        word_start = word_end
        while word_start > 0 and word_end - word_start < 10 and text[word_start - 1].isalpha():
            word_start -= 1
        if word_start < word_end and text[word_start:word_end] in _MONTH_WORDS and _word_start(text, word_start):
            match = MONTH_FIRST_RE.match(text, word_start)
            if match and _valid_date(match.group()):
                yield match


def _dates(text: str) -> list[Found]:
    found = [Found("date", m.group(), m.start(), m.end()) for m in DATE_RE.finditer(text)
             if _word_start(text, m.start()) and text[m.start() - 1:m.start()] not in ".,/-" and _valid_date(m.group())]
    taken = _Spans([(f.start, f.end) for f in found])
    found += [Found("date", m.group(), m.start(), m.end()) for m in _month_first(text)
              if not taken.overlaps(*m.span())]
    return sorted(found, key=lambda f: f.start)


def _phones(text: str, taken: _Spans | None = None) -> Iterator[Found]:
    """Phone numbers; `taken`: spans of dates, cards and IBANs that a spaced number may look like
    (the strong shapes never match inside those: they need a '+', a bracket or 3-3-4 digits with a
    non-digit before)."""
    def keep(found: Found) -> bool:
        digits = sum(c.isdigit() for c in found.text)
        return 7 <= digits <= 15 and not (taken and taken.overlaps(found.start, found.end))

    for match in PHONE_RE.finditer(text):
        start = match.start()
        if start and (text[start - 1].isalnum() or text[start - 1] in "_+/.,-"):
            continue
        if _PHONE_END.match(text, match.end()):
            continue
        found = Found("phone", match.group(), start, match.end())
        if keep(found):
            yield found
    seen: set[int] = set()
    for position, needle in _positions(text, _PHONE_NEEDLES):
        end = position + len(needle)
        if needle[0].isalpha():
            while end < len(text) and text[end].isalpha() and end - position < 14:
                end += 1
            if not _word_start(text, position) or text[position:end].lower() not in _PHONE_WORDS:
                continue
        end = _PHONE_GAP_RE.match(text, end).end()
        if end in seen:
            continue
        seen.add(end)
        match = NATIONAL_PHONE_RE.match(text, end)
        if match and not _PHONE_END.match(text, match.end()):
            found = Found("phone", match.group(), match.start(), match.end())
            if keep(found):
                yield found


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card_issuer_plausible(digits: str) -> bool:
    """Issuer prefix and length of the major schemes: random Luhn-valid numbers (one in ten) mostly fail."""
    n, two, three, four = len(digits), int(digits[:2]), int(digits[:3]), int(digits[:4])
    return (
        (digits[0] == "4" and n in (13, 16, 19))                                      # Visa
        or ((51 <= two <= 55 or 2221 <= four <= 2720) and n == 16)                    # Mastercard
        or (two in (34, 37) and n == 15)                                               # Amex
        or ((four == 6011 or two == 65 or 644 <= three <= 649) and 16 <= n <= 19)    # Discover
        or (3528 <= four <= 3589 and 16 <= n <= 19)                                    # JCB
        or ((two in (36, 38, 39) or 300 <= three <= 305) and 14 <= n <= 19)           # Diners
        or (two == 62 and 16 <= n <= 19)                                               # UnionPay
        or (four in (5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763) and 12 <= n <= 19)  # Maestro
    )


def payment_cards(text: str) -> Iterator[Found]:
    for match in CARD_RE.finditer(text):
        raw, start, end = match.group(), match.start(), match.end()
        if start and (text[start - 1].isalnum() or text[start - 1] in "_.,/-"):
            continue
        if _PHONE_END.match(text, end):  # part of a longer number or code
            continue
        if len({c for c in raw if not c.isdigit()}) > 1:  # one kind of separator, if any
            continue
        digits = re.sub(r"\D", "", raw)
        if len(set(digits)) > 1 and _card_issuer_plausible(digits) and luhn_valid(digits):
            yield Found("payment_card", raw, start, end)


def iban_valid(candidate: str) -> bool:
    """ISO 13616: the country's length, then the rearranged number mod 97 must be 1."""
    iban = candidate.replace(" ", "").upper()
    expected = IBAN_LENGTHS.get(iban[:2])
    if (expected and len(iban) != expected) or not 15 <= len(iban) <= 34 or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    if not rearranged.isalnum() or not rearranged.isascii():
        return False
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def ibans(text: str) -> Iterator[Found]:
    for match in IBAN_RE.finditer(text):
        if not _word_start(text, match.start()):
            continue
        compact = match.group().replace(" ", "")
        # The pattern may run on into a following code word: try the country's length first,
        # then every shorter prefix down to the shortest IBAN.
        expected = IBAN_LENGTHS.get(compact[:2])
        lengths = [expected] if expected else range(min(len(compact), 34), 14, -1)
        for length in lengths:
            if length <= len(compact) and iban_valid(compact[:length]):
                yield Found("iban", compact[:length], match.start(), match.end())
                break


def _money(text: str, dates: _Spans) -> list[Found]:
    found: dict[tuple[int, int], Found] = {}
    for position, needle in _positions(text, _CURRENCY_SYMBOLS + _CURRENCY_CODES + _CURRENCY_WORDS):
        end = position + len(needle)
        if needle.isalpha():
            # a whole word: "EUR", "euros", "Euro", "pounds sterling"; not "Europe" or "neuro"
            while end < len(text) and text[end].isalpha() and end - position < 12:
                end += 1
            if not _word_start(text, position) or text[position:end] not in _CURRENCY_WORD_FORMS:
                continue
            if text.startswith(" sterling", end):
                end += len(" sterling")
        # a symbol or code before the number ...
        after = None
        if needle in _CURRENCY_SYMBOLS or needle in _CURRENCY_CODES:
            after = MONEY_AFTER_RE.match(text, end, min(len(text), end + 40))
        if after and not _PHONE_END.match(text, after.end()):
            span = (position, after.end())
        else:
            # ... or the number before the symbol, code or word
            before = MONEY_BEFORE_RE.search(text, max(0, position - 40), position)
            if not before:
                continue
            span = (before.start(), end)
        if not dates.overlaps(*span):
            found[span] = Found("money", text[span[0]:span[1]].strip(), *span)
    return list(found.values())


def _percent(text: str) -> list[Found]:
    found: dict[tuple[int, int], Found] = {}
    for position, unit in _positions(text, _PERCENT_UNITS):
        if unit != "%" and not (_word_start(text, position) and _word_end(text, position + len(unit))):
            continue
        before = PERCENT_BEFORE_RE.search(text, max(0, position - 40), position)
        if before:
            span = (before.start(), position + len(unit))
            found[span] = Found("percent", text[span[0]:span[1]], *span)
    return list(found.values())


def _after_keyword(keywords: tuple[str, ...], pattern: re.Pattern | None, text: str, reach: int = 30) -> bool:
    """`pattern` (None: a date) starts within `reach` characters after one of the keywords (a whole
    word, on the same line)."""
    for position, keyword in _positions(text, keywords):
        start = position + len(keyword)
        if not _word_start(text, position) or not (keyword.endswith(".") or _word_end(text, start)):
            continue
        window = text[start:min(len(text), start + reach)].split("\n", 1)[0]
        if pattern is None:
            if any(_valid_date(m.group()) for m in DATE_RE.finditer(window)) or next(_month_first(window), None):
                return True
        elif any(_word_start(window, m.start()) for m in pattern.finditer(window)):
            return True
    return False


def _postal_address(text: str) -> bool:
    for match in GERMAN_STREET_RE.finditer(text):
        # the street name is one capitalised word ending in the suffix: "Mühlenweg 4", not "during 4"
        start = match.start()
        while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "-"):
            start -= 1
        if start < match.start() and text[start].isupper():
            return True
    for position, word in _positions(text, _ENGLISH_STREET_WORDS):
        if _word_start(text, position) and (word.endswith(".") or _word_end(text, position + len(word))) \
                and ENGLISH_STREET_BEFORE_RE.search(text, max(0, position - 60), position):
            return True
    for position, word in _positions(text, _FRENCH_STREET_WORDS):
        if _word_start(text, position) and FRENCH_STREET_AFTER_RE.match(text, position + len(word)) \
                and FRENCH_STREET_BEFORE_RE.search(text, max(0, position - 12), position):
            return True
    return any(_word_start(text, m.start()) for m in UK_POSTCODE_RE.finditer(text))


def _person(text: str) -> bool:
    return any(_word_start(text, m.start()) for m in PERSON_RE.finditer(text))


# --- results ---------------------------------------------------------------------------------------

PER_TYPE_CAP = 12  # so that 50 dates cannot crowd out the one email


def _key(found: Found) -> str:
    if found.type == "phone":
        return re.sub(r"\D", "", found.text)
    if found.type in ("email", "url"):
        return found.text.lower()
    return " ".join(found.text.split())


def _count(found: list[Found]) -> list[tuple[str, str, int]]:
    """Each distinct value once with its number of occurrences, the most frequent first (ties: the
    first seen first), at most PER_TYPE_CAP."""
    counted: OrderedDict[str, list] = OrderedDict()
    for item in sorted(found, key=lambda f: f.start):
        entry = counted.setdefault(_key(item), [item.type, item.text[:MAX_TEXT_FIELD], 0])
        entry[2] += 1
    ranked = sorted(counted.values(), key=lambda e: -e[2])
    return [tuple(e) for e in ranked[:PER_TYPE_CAP]]


def entities(text: str) -> list[tuple[str, str, int]]:
    """(type, text, count) for email, url, phone, money, percent and date, at most MAX_ENTITIES."""
    emails, urls, dates = list(_emails(text)), list(_urls(text)), _dates(text)
    # A card number, an IBAN or a date is not a phone number, however it is spaced.
    taken = _Spans([(f.start, f.end) for f in emails + urls + dates + list(payment_cards(text)) + list(ibans(text))])
    found: list[tuple[str, str, int]] = []
    for group in (emails, urls, list(_phones(text, taken)), _money(text, _Spans([(f.start, f.end) for f in dates])),
                  _percent(text), dates):
        found.extend(_count(group))
    return found[:MAX_ENTITIES]


def personal_data(text: str) -> list[str]:
    """The kinds of personal data in `text` (port.SensitiveKind values, in a fixed order). Each
    detector stops at its first hit."""
    checks = (
        ("email", lambda: next(_emails(text), None)),
        ("phone", lambda: next(_phones(text), None)),
        ("iban", lambda: next(ibans(text), None)),
        ("payment_card", lambda: next(payment_cards(text), None)),
        ("national_id", lambda: _after_keyword(ID_KEYWORDS, SSN_RE, text)
         or _after_keyword(ID_KEYWORDS, NINO_RE, text)),
        ("postal_address", lambda: _postal_address(text)),
        ("person_name", lambda: _person(text)),
        ("date_of_birth", lambda: _after_keyword(DOB_KEYWORDS, None, text)),
        ("credentials", lambda: any(t in text for t in _CREDENTIAL_TRIGGERS) and CREDENTIAL_RE.search(text)),
    )
    return [kind for kind, present in checks if present()]
