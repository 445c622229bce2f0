"""JSON and CSV rendered as readable text (standard library only).

JSON becomes indented "key: value" lines; CSV rows become "column: value; column: value" lines, so
a chunk taken from the middle of a table still says what each number means."""

from __future__ import annotations

import csv
import itertools
import json
import re
import sys

from contentflow.errors import UnreadableDocument
from contentflow.extraction import text as text_format
from contentflow.extraction.parsed import Parsed, from_pages

CSV_FIELD_LIMIT = 1_000_000


def _scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _big_int(digits: str) -> int | str:
    return int(digits) if len(digits.lstrip("-")) <= 4000 else digits


def render_json(value, max_chars: int, max_depth: int) -> str:
    """Iterative, with one iterator per open level (a hostile depth cannot exhaust the stack, a
    huge array costs no copy); stops once max_chars are written."""
    lines: list[str] = []
    size = 0
    stack = [iter([("", value)])]
    while stack and size <= max_chars:
        try:
            label, item = next(stack[-1])
        except StopIteration:
            stack.pop()
            continue
        if len(stack) > max_depth:
            raise UnreadableDocument(f"JSON nested too deeply: more than {max_depth} levels")
        indent = "  " * max(len(stack) - 2, 0)
        if isinstance(item, dict):
            if label == "-":
                lines.append("")  # a record in a list: a paragraph of its own
            elif label:
                lines.append(f"{indent}{label}:")
            stack.append((str(k), v) for k, v in item.items())
        elif isinstance(item, list):
            if label and label != "-":
                lines.append(f"{indent}{label}:")
            stack.append(("-", v) for v in item)
        else:
            line = indent + (f"{label}: " if label not in ("", "-") else "- " if label else "")
            lines.append(line + _scalar(item))
            size += len(lines[-1]) + 1
    return "\n".join(lines)


def parse_json(data: bytes, *, mime: str, charset: str | None, limits, sniffed: bool = False,
               **_) -> Parsed:
    source, encoding, warnings = text_format.decode(data, mime=mime, hint=charset)
    # The C decoder recurses once per level; a recursion limit just above the allowed depth makes
    # "[[[[...]]]]" fail fast instead of growing the stack.
    frame = sys._getframe()
    depth_now = 0
    while frame is not None:
        depth_now, frame = depth_now + 1, frame.f_back
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth_now + limits.max_nesting_depth + 50)
    try:
        try:
            value = json.loads(source)
        except ValueError as err:
            if "integer string conversion" not in str(err):
                raise
            # An integer of more than 4,300 digits (Python's guard against quadratic int()):
            # keep such numbers as the digits they are instead of losing the document.
            value = json.loads(source, parse_int=_big_int)
    except RecursionError:
        raise UnreadableDocument(
            f"JSON nested too deeply: more than {limits.max_nesting_depth} levels") from None
    except ValueError as err:
        if sniffed:  # it only looked like JSON: keep it as the text it is
            return from_pages([source], extractor="builtin-text", max_chars=limits.max_text_chars,
                              paged=False, encoding=encoding, warnings=warnings, mime="text/plain")
        raise UnreadableDocument(f"malformed JSON: {err}"[:200]) from None
    finally:
        sys.setrecursionlimit(old_limit)
    rendered = render_json(value, limits.max_text_chars, limits.max_nesting_depth)
    if not rendered.strip():
        raise UnreadableDocument("no text found: the JSON document is empty")
    return from_pages([rendered], extractor="builtin-json", max_chars=limits.max_text_chars,
                      paged=False, encoding=encoding, warnings=warnings)


# csv.Sniffer's regular expressions are quadratic in the sample (a 65 KB sample of '"\n,' cost
# 57 s of CPU); a few KB, cut at a line end, are enough to see the delimiter and the quoting.
SNIFF_CHARS = 4096


def _sample(source: str) -> str:
    sample = source[:SNIFF_CHARS]
    line_end = sample.rfind("\n")
    return sample[:line_end + 1] if line_end > 0 and len(source) > SNIFF_CHARS else sample


def _dialect(sample: str, mime: str):
    if mime == "text/tab-separated-values":
        return csv.excel_tab
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


class _KnownDialectSniffer(csv.Sniffer):
    """has_header() without sniffing the sample a second time."""

    def __init__(self, dialect):
        super().__init__()
        self._dialect = dialect

    def sniff(self, sample, delimiters=None):
        return self._dialect


def _has_header(rows: list[list[str]], sample: str, dialect) -> bool:
    if len(rows) < 2:
        return False
    first = rows[0]
    looks_like_names = all(c.strip() and not c.strip().replace(".", "", 1).isdigit() for c in first)
    try:
        sniffed = _KnownDialectSniffer(dialect).has_header(sample)
    except csv.Error:
        sniffed = False
    return sniffed or (looks_like_names and len(set(first)) == len(first))


def parse_csv(data: bytes, *, mime: str, charset: str | None, limits, **_) -> Parsed:
    # Rows render longer than they are written ("column: value"), so a prefix is enough.
    source, encoding, warnings = text_format.decode(data, mime=mime, hint=charset,
                                                    max_chars=limits.max_text_chars)
    sample = _sample(source)
    dialect = _dialect(sample, mime)
    csv.field_size_limit(CSV_FIELD_LIMIT)
    # Lines lazily from the string: io.StringIO would hold a second, 4-bytes-a-character copy.
    lines_in = (m.group() for m in re.finditer(r"[^\n]*\n|[^\n]+$", source))
    reader = csv.reader(lines_in, dialect)
    lines: list[str] = []
    size = 0
    try:
        head = [next(reader, []), next(reader, [])]
        header = head[0] if _has_header([r for r in head if r], sample, dialect) else None
        rows = head[1:] if header else head
        for row in itertools.chain(rows, reader):
            if not any(cell.strip() for cell in row):
                continue
            if header:
                pairs = [f"{name.strip() or f'column {i + 1}'}: {cell.strip()}"
                         for i, (name, cell) in enumerate(zip(header, row)) if cell.strip()]
                pairs += [cell.strip() for cell in row[len(header):] if cell.strip()]
                line = "; ".join(pairs)
            else:
                line = " | ".join(cell.strip() for cell in row)
            lines.append(line)
            size += len(line) + 1
            if size > limits.max_text_chars:
                break
    except csv.Error as err:
        raise UnreadableDocument(f"malformed CSV: {err}"[:200]) from None
    if not lines:
        raise UnreadableDocument("no text found: the CSV file has no rows")
    return from_pages(["\n".join(lines)], extractor="builtin-csv", max_chars=limits.max_text_chars,
                      paged=False, encoding=encoding, warnings=warnings)
