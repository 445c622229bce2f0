"""A local stand-in for Vertex AI's model endpoints (the REST shapes google-genai sends and reads).

Stdlib only, loopback only. It answers `:generateContent`, `:countTokens`, `:predict` and
`:embedContent` under `/v1/` and `/v1beta1/`, refuses what Vertex refuses (with Vertex's error
body), and has a control plane under `/_fake/` (faults, stats, reset) for tests. See README.md.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import math
import os
import re
import struct
import threading
import time
import unicodedata
import zlib
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# --- token counting ----------------------------------------------------------------------------
# The fake's tokenizer (documented in README.md): every run of word characters and every other
# non-space character is a piece; an ASCII word counts ceil(len/6) tokens, a word with non-ASCII
# letters ceil(len/2) (scripts such as CJK tokenise densely), punctuation and symbols 1 each.
# Clients must estimate at or above this (contentflow's vertex backend does).

_PIECE = re.compile(r"\w+|[^\w\s]")


@functools.lru_cache(maxsize=1 << 16)
def _piece_tokens(piece: str) -> int:
    if piece[0].isalnum() or piece[0] == "_":
        return -(-len(piece) // 6) if piece.isascii() else -(-len(piece) // 2)
    return 1


def count_tokens(text: str) -> int:
    return sum(map(_piece_tokens, _PIECE.findall(text or "")))


def truncate_tokens(text: str, limit: int) -> tuple[str, int, bool]:
    """The longest prefix of `text` that counts at most `limit` tokens: (prefix, tokens, truncated)."""
    total = 0
    for m in _PIECE.finditer(text):
        n = _piece_tokens(m.group())
        if total + n > limit:
            return text[: m.start()].rstrip(), total, True
        total += n
    return text, total, False


# --- models ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EmbeddingModel:
    name: str
    method: str  # "predict" | "embedContent"
    native_dimension: int
    max_instances: int  # per request
    max_text_tokens: int  # per instance
    max_request_tokens: int = 20_000


PREDICT_EMBEDDING_MODELS = {
    "text-embedding-005": EmbeddingModel("text-embedding-005", "predict", 768, 250, 2048),
    "text-multilingual-embedding-002": EmbeddingModel("text-multilingual-embedding-002", "predict", 768, 250, 2048),
    "gemini-embedding-001": EmbeddingModel("gemini-embedding-001", "predict", 3072, 1, 2048),
}
GENERATIVE_MAX_INPUT_TOKENS = 1_048_576
IMAGE_TOKENS = 258  # what Gemini counts for one image at default resolution
_GENERATIVE = re.compile(r"^gemini-(\d+)(?:\.(\d+))?-(?:flash|flash-lite|pro)(?:-preview(?:-[\w.-]+)?|-\d{3})?$")
_EMBED_CONTENT = re.compile(r"^gemini-embedding-(?!001$)[\w.-]+$")


def embedding_model(name: str) -> EmbeddingModel | None:
    if name in PREDICT_EMBEDDING_MODELS:
        return PREDICT_EMBEDDING_MODELS[name]
    if _EMBED_CONTENT.match(name):
        # Newer Gemini embedding models go through :embedContent, one content per call (the SDK
        # refuses more). Limits assumed here: 8,192 tokens per content, up to 3,072 dimensions.
        return EmbeddingModel(name, "embedContent", 3072, 1, 8192, 8192)
    return None


def is_generative(name: str) -> bool:
    """Gemini 3 and later; Gemini 1.x/2.x ids answer 404 as retired models do on Vertex."""
    m = _GENERATIVE.match(name)
    return bool(m) and int(m.group(1)) >= 3


# --- errors ------------------------------------------------------------------------------------

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND", 405: "INVALID_ARGUMENT",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


class Refusal(Exception):
    def __init__(self, code: int, message: str, status: str | None = None):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status or _STATUS[code]

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


# --- text helpers ------------------------------------------------------------------------------

_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n{2,}|\n(?=\s*[-*•\d])")
_STOPWORDS = frozenset("""a an and are as at be been but by can could did do does for from had has have he
her his how i if in into is it its may might more most must no nor not of on one or our out over she
should so some such than that the their them then there these they this those to under up upon was we
were what when where which while who whom why will with would you your about after all also any because
before between both each few further here just many much only other own same too very via der die das und
ist ein eine le la les des et est un une du de el los las y es del en con por para""".split())


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _stem(w: str) -> str:
    """Crude suffix stripping so "invoices" meets "invoice" and "payments" meets "payment"."""
    for suffix, repl in (("ies", "y"), ("ing", ""), ("es", ""), ("ed", ""), ("s", "")):
        if len(w) > len(suffix) + 3 and w.endswith(suffix) and not w.endswith("ss"):
            return w[: -len(suffix)] + repl
    return w


def content_words(text: str) -> set[str]:
    """Lower-cased, crudely stemmed words that carry meaning (no stopwords, digits or letters)."""
    return {_stem(w) for w in words(text) if w not in _STOPWORDS and len(w) > 1 and not w.isdigit()}


def sentences(text: str) -> list[str]:
    out = []
    for s in _SENTENCE_END.split(text):
        s = " ".join(s.split())
        if len(_WORD.findall(s)) >= 2:
            out.append(s)
    return out or ([" ".join(text.split())] if text.strip() else [])


def keywords(text: str, n: int) -> list[str]:
    """Most frequent content words (first spelling kept), ties by first occurrence."""
    counts: Counter = Counter()
    first: dict[str, tuple[int, str]] = {}
    for i, w in enumerate(_WORD.findall(text)):
        low = w.lower()
        if low in _STOPWORDS or len(low) < 3 or low.isdigit():
            continue
        counts[low] += 1
        first.setdefault(low, (i, w))
    ranked = sorted(counts, key=lambda k: (-counts[k], first[k][0]))
    return [first[k][1] for k in ranked[:n]]


_PROPER = re.compile(r"\b[A-Z][\w&'-]*(?:\s+(?:[A-Z][\w&'-]*|of|de|von|van|der|&))*")


def phrases(text: str, n: int) -> list[str]:
    """Capitalised word sequences not only at a sentence start (names of things), most frequent
    first; the keywords when there are none."""
    seen: dict[str, int] = {}
    for s in sentences(text):
        for m in _PROPER.finditer(s):
            p = m.group().strip()
            if m.start() == 0 and " " not in p:  # a capital that only starts a sentence
                continue
            if p.lower() not in _STOPWORDS:
                seen[p] = seen.get(p, 0) + 1
    ranked = sorted(seen, key=lambda p: -seen[p])
    return ranked[:n] or keywords(text, n)


def _fit(text: str, max_len: int | None, min_len: int | None) -> str:
    if max_len is not None and len(text) > max_len:
        text = text[:max_len].rstrip()
    if min_len and len(text) < min_len:
        text = (text + " " + "x" * min_len)[: max(min_len, max_len or min_len)]
    return text


# --- schema-driven answers ---------------------------------------------------------------------

def _get(schema: dict, *names: str) -> Any:
    """A schema keyword in either spelling: the SDK sends Schema fields in snake_case
    (`max_length`, `property_ordering`), JSON Schema uses camelCase (`maxLength`)."""
    for name in names:
        if name in schema:
            return schema[name]
        snake = re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()
        if snake in schema:
            return schema[snake]
    return None


class _Context:
    """What an answer is built from: the document's text and the rest of the prompt."""

    def __init__(self, document: str, prompt: str, root_schema: dict):
        self.document = document
        self.doc_words = content_words(document)
        self.prompt_lines = [ln for ln in prompt.splitlines() if ln.strip()]
        self.root = root_schema
        self.sentences = sentences(document)
        self._keywords = keywords(document, 50)
        self._phrases: list[str] | None = None

    def phrases(self) -> list[str]:
        if self._phrases is None:
            self._phrases = phrases(self.document, 50)
        return self._phrases

    def keyword(self, i: int) -> str:
        pool = self._keywords or words(self.document) or ["none"]
        return pool[i % len(pool)]

    def resolve(self, schema: dict) -> dict:
        """Follows `$ref` (JSON Schema `$defs`/`definitions`) and takes the first non-null `anyOf` branch."""
        for _ in range(32):
            ref = _get(schema, "$ref", "ref")
            if isinstance(ref, str):
                name = ref.split("/")[-1]
                defs = _get(self.root, "$defs", "defs", "definitions") or {}
                merged = {k: v for k, v in schema.items() if k not in ("$ref", "ref")}
                schema = {**defs.get(name, {}), **merged}
                continue
            branches = _get(schema, "anyOf", "oneOf")
            if isinstance(branches, list) and branches:
                non_null = [b for b in branches if _type_of(self, b) != "null"] or branches
                rest = {k: v for k, v in schema.items() if k not in ("anyOf", "any_of", "oneOf", "one_of")}
                schema = {**rest, **non_null[0]}
                continue
            allof = _get(schema, "allOf")
            if isinstance(allof, list) and allof:
                merged = {k: v for k, v in schema.items() if k not in ("allOf", "all_of")}
                for part in allof:
                    merged.update(part)
                schema = merged
                continue
            return schema
        raise Refusal(400, "response schema references nest too deeply")

    def enum_scores(self, values: list, description: str) -> list[tuple[float, int, Any]]:
        """Each enum value scored by how many of its words and of the words describing it (schema
        description segments and prompt lines that name it) occur in the document."""
        scored = []
        segments = [s for s in re.split(r"[\n;]", description or "") if s.strip()] + self.prompt_lines
        for i, value in enumerate(values):
            own = content_words(str(value).replace("_", " ").replace("-", " "))
            context: set[str] = set()
            for seg in segments:
                seg_words = content_words(seg)
                if own and own <= seg_words or str(value).lower() in set(words(seg)):
                    context |= seg_words
            context -= own
            score = 3 * len(own & self.doc_words) + len(context & self.doc_words)
            scored.append((score, i, value))
        scored.sort(key=lambda t: (-t[0], t[1]))
        return scored

    def pick_enum(self, values: list, description: str) -> Any:
        """The best-scoring value; with no overlap at all, a catch-all value if the enum has one."""
        best_score, _, best = self.enum_scores(values, description)[0]
        if best_score > 0:
            return best
        return next((v for v in ("other", "neutral", "none", "unknown") if v in values), values[0])


def _type_of(ctx: _Context, schema: dict) -> str:
    t = _get(schema, "type")
    if isinstance(t, list):
        t = next((x for x in t if str(x).lower() != "null"), "null")
    if t is None:
        if _get(schema, "properties") is not None:
            return "object"
        if _get(schema, "items") is not None:
            return "array"
        if _get(schema, "enum") is not None:
            return "string"
        return "string"
    return str(t).lower()


def generate(ctx: _Context, schema: dict, name: str = "", index: int = 0, in_array: bool = False,
             parent_is_items: bool = False) -> Any:
    schema = ctx.resolve(schema)
    if "const" in schema:
        return schema["const"]
    enum = _get(schema, "enum")
    kind = _type_of(ctx, schema)
    if enum:
        return ctx.pick_enum(enum, _get(schema, "description") or "")
    if kind == "object":
        return _generate_object(ctx, schema, index, in_array)
    if kind == "array":
        return _generate_array(ctx, schema, name)
    if kind in ("number", "integer"):
        return _generate_number(schema, kind, index, in_array)
    if kind == "boolean":
        name_words = content_words(re.sub(r"(?<!^)([A-Z])", r" \1", name).replace("_", " "))
        return bool(name_words) and name_words <= ctx.doc_words
    if kind == "null":
        return None
    return _generate_string(ctx, schema, name, index, in_array, parent_is_items)


def _generate_object(ctx: _Context, schema: dict, index: int, in_array: bool) -> dict:
    props = _get(schema, "properties") or {}
    order = _get(schema, "propertyOrdering") or list(props)
    order = [k for k in order if k in props] + [k for k in props if k not in order]
    return {key: generate(ctx, props[key], key, index, in_array) for key in order}


def _generate_number(schema: dict, kind: str, index: int, in_array: bool) -> float | int:
    lo = _get(schema, "minimum")
    hi = _get(schema, "maximum")
    xlo, xhi = _get(schema, "exclusiveMinimum"), _get(schema, "exclusiveMaximum")
    if isinstance(xlo, (int, float)) and not isinstance(xlo, bool):
        lo = xlo + (1 if kind == "integer" else 1e-6)
    if isinstance(xhi, (int, float)) and not isinstance(xhi, bool):
        hi = xhi - (1 if kind == "integer" else 1e-6)
    if lo is not None and hi is not None:
        # Items further down a list get lower values (a ranking's scores fall).
        frac = max(0.1, 0.9 - 0.2 * index) if in_array else 0.5
        value = lo + (hi - lo) * frac
    elif lo is not None:
        value = lo
    elif hi is not None:
        value = min(hi, 0)
    else:
        value = 0
    if kind == "integer":
        value = math.ceil(value) if lo is not None else math.floor(value)
        if hi is not None and value > hi:
            value = math.floor(hi)
        return int(value)
    return round(float(value), 4)


_SHORT_NAMES = {"name", "text", "keyword", "term", "title", "label", "entity", "value", "tag", "word", "phrase"}


def _generate_string(ctx: _Context, schema: dict, name: str, index: int, in_array: bool,
                     parent_is_items: bool) -> str:
    max_len, min_len = _get(schema, "maxLength"), _get(schema, "minLength")
    fmt = (_get(schema, "format") or "").lower()
    if fmt in ("date", "date-time"):
        m = re.search(r"\b(\d{4})-(\d{2})-(\d{2})\b", ctx.document)
        day = m.group() if m else "2026-01-01"
        return day if fmt == "date" else f"{day}T00:00:00Z"
    if fmt == "email":
        m = re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", ctx.document)
        return m.group() if m else "someone@example.com"
    if fmt in ("uri", "url"):
        m = re.search(r"https?://\S+", ctx.document)
        return m.group().rstrip(".,)") if m else "https://example.com/"
    if parent_is_items:  # a list of plain strings: keywords
        return _fit(ctx.keyword(index), max_len, min_len)
    if in_array and name.lower() in _SHORT_NAMES:  # a named thing inside a list item
        pool = ctx.phrases() or [ctx.keyword(index)]
        return _fit(pool[index % len(pool)], max_len, min_len)
    if name.lower() in _SHORT_NAMES or (max_len is not None and max_len <= 64):
        return _fit(ctx.keyword(index), max_len, min_len)
    # Prose: the document's first sentence(s) (a summary), or the item's own sentence in a list.
    sents = ctx.sentences or ["No text."]
    if in_array:
        return _fit(sents[index % len(sents)], max_len, min_len)
    limit = max_len if max_len is not None else 600
    out = sents[0]
    for s in sents[1:3]:
        if len(out) + 1 + len(s) > limit:
            break
        out += " " + s
    return _fit(out, max_len, min_len)


def _generate_array(ctx: _Context, schema: dict, name: str) -> list:
    items = ctx.resolve(_get(schema, "items") or {"type": "string"})
    lo = _get(schema, "minItems") or 0
    hi = _get(schema, "maxItems")
    n = max(lo, min(3, hi if hi is not None else 3))
    enum = _get(items, "enum")
    if enum:  # a set of enum values: the relevant ones, best first
        ranked = [v for s, _, v in ctx.enum_scores(enum, _get(items, "description") or "") if s > 0]
        chosen = ranked[:n]
        for v in enum:  # pad to minItems
            if len(chosen) >= lo:
                break
            if v not in chosen:
                chosen.append(v)
        return chosen
    if _type_of(ctx, items) == "object":
        props = {k: ctx.resolve(v) for k, v in (_get(items, "properties") or {}).items()}
        enum_keys = [k for k, v in props.items() if _get(v, "enum")]
        free_text = [k for k, v in props.items() if _type_of(ctx, v) == "string" and not _get(v, "enum")]
        if enum_keys and not free_text:
            # Items that are choices (e.g. labels from a taxonomy): one item per relevant value.
            key = enum_keys[0]
            ranked = [v for s, _, v in ctx.enum_scores(_get(props[key], "enum"),
                                                       _get(props[key], "description") or "") if s > 0]
            out = []
            for i, value in enumerate(ranked[:n]):
                item = _generate_object(ctx, items, i, True)
                item[key] = value
                out.append(item)
            while len(out) < lo:
                out.append(_generate_object(ctx, items, len(out), True))
            return out
        count = min(n, len(ctx.phrases())) if free_text else n
        return [_generate_object(ctx, items, i, True) for i in range(max(lo, count))]
    out: list = []
    for i in range(max(n, lo) * 3):  # distinct values (a document may have fewer than n keywords)
        value = generate(ctx, items, name, i, True, parent_is_items=True)
        if value not in out or len(out) < lo and i >= 2 * max(n, lo):
            out.append(value)
        if len(out) >= n:
            break
    return out


def violate(schema: dict, instance: Any) -> Any:
    """Valid JSON that breaks the schema: a required field dropped and another of the wrong type."""
    if isinstance(instance, dict):
        required = [k for k in (_get(schema, "required") or []) if k in instance]
        broken = dict(instance)
        if required:
            broken.pop(required[0])
        for key, value in broken.items():
            broken[key] = 12345 if isinstance(value, str) else "not the declared type"
            break
        return broken
    if isinstance(instance, str):
        return 12345
    return "not the declared type"


# --- embeddings --------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1 << 18)
def _slots(model: str, feature: str, dimension: int) -> tuple[int, float, int, float]:
    """Where a feature lands for a model: two slots with their signs (the hash is seeded by the
    model's name, so two models give unrelated vectors)."""
    digest = hashlib.blake2b(model.encode() + b"\x00" + feature.encode(), digest_size=16).digest()
    a, b = struct.unpack("<QQ", digest)
    return a % dimension, 1.0 if a >> 63 else -1.0, b % dimension, 0.5 if b >> 63 else -0.5


def embed_vector(model: str, text: str, title: str | None, dimension: int) -> list[float]:
    """Feature-hashed bag of lower-cased words and word bigrams (and the title's words), seeded by
    the model name, two signed slots per feature, sublinear term frequency, L2-normalised."""
    feats: Counter = Counter()
    toks = words(text)
    for w in toks:
        feats[w] += 1.0
    for a, b in zip(toks, toks[1:]):
        feats[a + " " + b] += 0.5
    for w in words(title or ""):
        feats[w] += 0.5
    if not feats:
        feats["\x00empty"] = 1.0
    vec = [0.0] * dimension
    for feat, weight in feats.items():
        i, si, j, sj = _slots(model, feat, dimension)
        w = 1.0 + math.log(weight) if weight >= 1 else weight
        vec[i] += si * w
        vec[j] += sj * w
    norm = math.sqrt(sum(x * x for x in vec))
    if norm == 0:  # slots cancelled out: any fixed unit vector keeps the contract
        vec[0], norm = 1.0, 1.0
    return [x / norm for x in vec]


def billable_characters(text: str) -> int:
    """Characters without whitespace (what the fake bills for embeddings)."""
    return len("".join(text.split()))


# --- images ("OCR") ----------------------------------------------------------------------------

def image_text(data: bytes) -> str:
    """What a reader of the picture sees: the text a test embedded in the image's metadata (PNG
    tEXt/iTXt/zTXt chunks, a JPEG comment) if any, else the pixels read by the local tesseract
    command (Debian's tesseract-ocr, a stand-in for Gemini's vision), else nothing."""
    found = _metadata_text(data)
    return found or _tesseract_text(data)


def _tesseract_text(data: bytes) -> str:
    import shutil
    import subprocess

    binary = shutil.which("tesseract")
    if binary is None:
        return ""
    try:
        done = subprocess.run([binary, "stdin", "stdout", "--psm", "3"], input=data, capture_output=True,
                              timeout=60, env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout.decode("utf-8", "replace").strip() if done.returncode == 0 else ""


def _metadata_text(data: bytes) -> str:
    found: list[str] = []
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        pos = 8
        while pos + 8 <= len(data):
            length, kind = struct.unpack(">I4s", data[pos:pos + 8])
            body = data[pos + 8: pos + 8 + length]
            try:
                if kind == b"tEXt":
                    found.append(body.split(b"\x00", 1)[1].decode("latin-1"))
                elif kind == b"zTXt":
                    found.append(zlib.decompress(body.split(b"\x00", 1)[1][1:]).decode("latin-1"))
                elif kind == b"iTXt":
                    _, rest = body.split(b"\x00", 1)
                    compressed, rest = rest[0], rest[2:]
                    rest = rest.split(b"\x00", 2)[2]
                    found.append((zlib.decompress(rest) if compressed else rest).decode("utf-8"))
            except (IndexError, zlib.error, UnicodeDecodeError):
                pass
            pos += 12 + length
    elif data.startswith(b"\xff\xd8"):
        pos = 2
        while pos + 4 <= len(data) and data[pos] == 0xFF:
            marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2:pos + 4])[0]
            if marker == 0xFE:
                found.append(data[pos + 4:pos + 2 + length].decode("utf-8", "replace"))
            if marker == 0xDA:  # start of scan: no more metadata
                break
            pos += 2 + length
    return "\n".join(t.strip() for t in found if t.strip())


# --- faults and stats --------------------------------------------------------------------------

FAULT_MODES = ("rate_limit", "unavailable", "malformed_json", "schema_violation", "delay")
_FAULT_ERRORS = {
    "rate_limit": Refusal(429, "Resource exhausted, please try again later."),
    "unavailable": Refusal(503, "The service is currently unavailable."),
}


@dataclass
class Fault:
    mode: str
    count: int | None = None  # calls left to affect
    until: float | None = None  # monotonic deadline of a storm
    methods: tuple[str, ...] | None = None
    models: tuple[str, ...] | None = None
    delay_s: float = 0.0
    served: int = 0

    def active(self, now: float) -> bool:
        if self.count is not None and self.count <= 0:
            return False
        return self.until is None or now < self.until

    def applies(self, model: str, method: str, json_answer: bool) -> bool:
        if self.methods and method not in self.methods:
            return False
        if self.models and model not in self.models:
            return False
        if self.mode in ("malformed_json", "schema_violation"):
            return method == "generateContent" and json_answer
        return True

    def describe(self, now: float) -> dict:
        return {"mode": self.mode, "count_left": self.count,
                "seconds_left": None if self.until is None else max(0.0, round(self.until - now, 3)),
                "methods": list(self.methods) if self.methods else None,
                "models": list(self.models) if self.models else None, "delay_s": self.delay_s,
                "served": self.served}


@dataclass
class _Stats:
    calls: Counter = field(default_factory=Counter)  # "model:method" -> requests
    answered: Counter = field(default_factory=Counter)
    instances: dict = field(default_factory=lambda: defaultdict(list))  # per answered/refused request
    tokens: dict = field(default_factory=lambda: defaultdict(list))
    task_types: dict = field(default_factory=lambda: defaultdict(Counter))
    refusals: list = field(default_factory=list)
    faults_served: Counter = field(default_factory=Counter)
    requests: deque = field(default_factory=lambda: deque(maxlen=5000))

    def snapshot(self) -> dict:
        keys = sorted(set(self.calls) | set(self.instances))
        return {
            "calls": dict(self.calls),
            "answered": dict(self.answered),
            "per_method": {k: {
                "calls": self.calls.get(k, 0),
                "answered": self.answered.get(k, 0),
                "instances_per_request": list(self.instances.get(k, [])),
                "tokens_per_request": list(self.tokens.get(k, [])),
                "max_instances_per_request": max(self.instances.get(k) or [0]),
                "max_tokens_per_request": max(self.tokens.get(k) or [0]),
                "task_types": dict(self.task_types.get(k, {})),
            } for k in keys},
            "refusals": list(self.refusals),
            "faults_served": dict(self.faults_served),
            "requests": list(self.requests),
        }


# --- the server --------------------------------------------------------------------------------

_MODEL_PATH = re.compile(
    r"^/(?P<version>v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/publishers/google/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$")


class FakeVertex:
    """`FakeVertex(port=0).start()`; `.url` is the base URL for `HttpOptions(base_url=...)`."""

    def __init__(self, port: int = 0):
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._stats = _Stats()
        self._bodies: deque = deque(maxlen=50)  # recent request bodies, for tests (Python API only)
        # Bumped by reset(): a request still running from before (e.g. one a client gave up on
        # during a delay fault) does not land in the fresh stats when it ends.
        self._epoch = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's pooled client expects
            # Headers and body go out as two writes: without TCP_NODELAY the body waits for the
            # client's delayed ACK (about 40 ms a call on loopback).
            disable_nagle_algorithm = True

            def do_POST(self):  # noqa: N802 (http.server's naming)
                fake._handle(self, "POST")

            def do_GET(self):  # noqa: N802
                fake._handle(self, "GET")

            def do_DELETE(self):  # noqa: N802 (clears the faults: DELETE /_fake/faults)
                fake._handle(self, "DELETE")

            def log_message(self, *args):  # quiet: stats say what happened
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)  # loopback only
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # lifecycle
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        """What `VERTEX_AI_EMULATOR_HOST` is set to."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> FakeVertex:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="vertexfake", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeVertex:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # control plane (Python API; the HTTP one under /_fake/ calls the same)
    def add_fault(self, mode: str, count: int | None = None, seconds: float | None = None,
                  methods: list[str] | None = None, models: list[str] | None = None,
                  delay_s: float = 0.0) -> dict:
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r} (one of {', '.join(FAULT_MODES)})")
        if count is None and seconds is None:
            raise ValueError("a fault needs a count or seconds")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise ValueError("count must be a positive integer")
        if seconds is not None and (not isinstance(seconds, (int, float)) or seconds <= 0):
            raise ValueError("seconds must be positive")
        if mode == "delay" and not (isinstance(delay_s, (int, float)) and 0 < delay_s <= 60):
            raise ValueError("a delay fault needs 0 < delay_s <= 60")
        fault = Fault(mode, count, None if seconds is None else time.monotonic() + seconds,
                      tuple(methods) if methods else None, tuple(models) if models else None, float(delay_s))
        with self._lock:
            self._faults.append(fault)
            return fault.describe(time.monotonic())

    def faults(self) -> list[dict]:
        now = time.monotonic()
        with self._lock:
            return [f.describe(now) for f in self._faults if f.active(now)]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def stats(self) -> dict:
        with self._lock:
            return copy.deepcopy(self._stats.snapshot())

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self._stats = _Stats()
            self._bodies.clear()
            self._epoch += 1

    def recent_requests(self, model: str | None = None, method: str | None = None) -> list[dict]:
        """The last 50 model-call bodies as parsed JSON, oldest first: {"model", "method", "body"}."""
        with self._lock:
            return [copy.deepcopy(r) for r in self._bodies
                    if (model is None or r["model"] == model) and (method is None or r["method"] == method)]

    def _take_fault(self, model: str, method: str, json_answer: bool) -> Fault | None:
        now = time.monotonic()
        with self._lock:
            self._faults = [f for f in self._faults if f.active(now)]
            for fault in self._faults:
                if fault.applies(model, method, json_answer):
                    if fault.count is not None:
                        fault.count -= 1
                    fault.served += 1
                    self._stats.faults_served[fault.mode] += 1
                    return fault
        return None

    # HTTP
    def _handle(self, req: BaseHTTPRequestHandler, verb: str) -> None:
        path = req.path.split("?", 1)[0]
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        try:
            if path.startswith("/_fake/"):
                status, body = self._control(verb, path, raw)
            else:
                status, body = self._model_call(verb, path, raw, req.headers)
        except Refusal as r:
            status, body = r.code, r.body()
        except Exception as exc:  # a bug in the fake: say so, as Vertex would say INTERNAL
            status, body = 500, Refusal(500, f"fake server error: {type(exc).__name__}: {exc}").body()
        data = json.dumps(body).encode()
        try:
            req.send_response(status)
            req.send_header("Content-Type", "application/json; charset=UTF-8")
            req.send_header("Content-Length", str(len(data)))
            req.end_headers()
            req.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            req.close_connection = True  # the client gave up (its timeout): nothing to tell it

    def _control(self, verb: str, path: str, raw: bytes) -> tuple[int, dict]:
        if path == "/_fake/health" and verb == "GET":
            return 200, {"ok": True}
        if path == "/_fake/stats" and verb == "GET":
            return 200, self.stats()
        if path == "/_fake/reset" and verb == "POST":
            self.reset()
            return 200, {"reset": True}
        if path == "/_fake/faults":
            if verb == "GET":
                return 200, {"faults": self.faults()}
            if verb == "DELETE":
                self.clear_faults()
                return 200, {"faults": []}
            try:
                spec = json.loads(raw or b"{}")
                if not isinstance(spec, dict):
                    raise ValueError("the body must be a JSON object")
                unknown = set(spec) - {"mode", "count", "seconds", "methods", "models", "delay_s"}
                if unknown:
                    raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
                fault = self.add_fault(spec.get("mode", ""), spec.get("count"), spec.get("seconds"),
                                       spec.get("methods"), spec.get("models"), spec.get("delay_s", 0.0))
            except (ValueError, TypeError) as exc:
                raise Refusal(400, str(exc)) from None
            return 200, {"fault": fault, "faults": self.faults()}
        raise Refusal(404, f"no control endpoint {verb} {path}")

    def _model_call(self, verb: str, path: str, raw: bytes, headers) -> tuple[int, dict]:
        m = _MODEL_PATH.match(path)
        if not m:
            raise Refusal(404, f"The requested URL {path} was not found on this server.")
        model, method = m.group("model"), m.group("method")
        key = f"{model}:{method}"
        resource = f"projects/{m.group('project')}/locations/{m.group('location')}/publishers/google/models/{model}"
        record = {"model": model, "method": method, "at": time.time()}
        with self._lock:
            epoch = self._epoch
            self._stats.calls[key] += 1
        try:
            if verb != "POST":
                raise Refusal(405, f"{verb} is not supported for {method}")
            if not (headers.get("Authorization") or "").startswith("Bearer "):
                raise Refusal(401, "Request is missing required authentication credential. "
                                   "Expected OAuth 2 access token.")
            emb = embedding_model(model)
            if emb is None and not is_generative(model):
                raise Refusal(404, f"Publisher Model `{resource}` was not found or your project does "
                                   "not have access to it.")
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                raise Refusal(400, "Invalid JSON payload received.") from None
            if not isinstance(body, dict):
                raise Refusal(400, "Invalid JSON payload received. Expected an object.")
            with self._lock:
                self._bodies.append({"model": model, "method": method, "body": body})
            json_answer = method == "generateContent" and bool(
                _get(body.get("generationConfig") or {}, "responseSchema", "responseJsonSchema")
                or (_get(body.get("generationConfig") or {}, "responseMimeType") == "application/json"))
            fault = self._take_fault(model, method, json_answer)
            if fault is not None and fault.mode in _FAULT_ERRORS:
                record["fault"] = fault.mode
                raise _FAULT_ERRORS[fault.mode]
            if fault is not None and fault.mode == "delay":
                record["fault"] = "delay"
                time.sleep(fault.delay_s)  # latency, as a slow backend has
                fault = None
            if method == "generateContent" and emb is None:
                out = self._generate_content(model, body, fault, record)
            elif method == "countTokens" and emb is None:
                out = {"totalTokens": self._prompt_tokens(body)}
            elif method == "predict" and emb is not None and emb.method == "predict":
                out = self._predict(emb, body, record)
            elif method == "embedContent" and emb is not None and emb.method == "embedContent":
                out = self._embed_content(emb, body, record)
            else:
                raise Refusal(400, f"Method {method} is not supported by model {model}.")
            record["status"] = 200
            with self._lock:
                if epoch == self._epoch:
                    self._stats.answered[key] += 1
            return 200, out
        except Refusal as r:
            record["status"] = r.code
            record["reason"] = r.message
            if (r.code not in (429, 503) or "fault" not in record) and epoch == self._epoch:
                with self._lock:
                    self._stats.refusals.append({"model": model, "method": method, "code": r.code,
                                                 "status": r.status, "reason": r.message})
            raise
        finally:
            with self._lock:
                if epoch == self._epoch:  # not reset while it ran
                    self._stats.requests.append(record)
                    if "instances" in record:
                        self._stats.instances[key].append(record["instances"])
                        self._stats.tokens[key].append(record["tokens"])
                    for task in record.get("task_types", []):
                        self._stats.task_types[key][task] += 1

    # generateContent ---------------------------------------------------------------------------
    @staticmethod
    def _texts(body: dict) -> tuple[list[str], list[tuple[str, bytes]], str]:
        """(user text parts of the last user turn, inline images, all other prompt text)."""
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise Refusal(400, "Unable to submit request because it must include at least one parts field, "
                               "which describes the prompt input.")
        other: list[str] = []
        sys_parts = (body.get("systemInstruction") or body.get("system_instruction") or {}).get("parts") or []
        other += [p.get("text", "") for p in sys_parts if isinstance(p, dict)]
        last_user: list[str] = []
        images: list[tuple[str, bytes]] = []
        for i, content in enumerate(contents):
            if not isinstance(content, dict) or not isinstance(content.get("parts"), list) or not content["parts"]:
                raise Refusal(400, f"contents[{i}].parts must not be empty.")
            texts = []
            for part in content["parts"]:
                inline = part.get("inlineData") or part.get("inline_data")
                if inline is not None:
                    mime = inline.get("mimeType") or inline.get("mime_type") or ""
                    try:
                        # Proto JSON bytes: standard or URL-safe base64 (the SDK sends the latter).
                        encoded = str(inline.get("data") or "").replace("-", "+").replace("_", "/")
                        data = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
                    except ValueError:
                        raise Refusal(400, f"contents[{i}]: inline data is not valid base64.") from None
                    if not mime.startswith(("image/", "application/pdf")):
                        raise Refusal(400, f"Unsupported MIME type: {mime}")
                    images.append((mime, data))
                elif "text" in part:
                    texts.append(str(part["text"]))
            if content.get("role", "user") == "user":
                other += last_user
                last_user = texts
            else:
                other += texts
        return last_user, images, "\n".join(other)

    def _prompt_tokens(self, body: dict) -> int:
        user, images, other = self._texts(body)
        config = body.get("generationConfig") or {}
        schema = _get(config, "responseSchema", "responseJsonSchema")
        return (sum(count_tokens(t) for t in user) + count_tokens(other) + IMAGE_TOKENS * len(images)
                + (count_tokens(json.dumps(schema)) if schema else 0))

    def _generate_content(self, model: str, body: dict, fault: Fault | None, record: dict) -> dict:
        config = body.get("generationConfig") or {}
        schema = _get(config, "responseSchema")
        json_schema = _get(config, "responseJsonSchema")
        mime = _get(config, "responseMimeType") or "text/plain"
        if schema is not None and json_schema is not None:
            raise Refusal(400, "responseSchema and responseJsonSchema cannot both be set.")
        if (schema is not None or json_schema is not None) and mime != "application/json":
            raise Refusal(400, "To use a response schema, responseMimeType must be application/json.")
        if mime not in ("text/plain", "application/json"):
            raise Refusal(400, f"Unsupported responseMimeType: {mime}")
        max_out = _get(config, "maxOutputTokens")
        if max_out is not None and (not isinstance(max_out, int) or max_out < 1):
            raise Refusal(400, "maxOutputTokens must be a positive integer.")
        user, images, other = self._texts(body)
        prompt_tokens = self._prompt_tokens(body)
        record["tokens"], record["instances"] = prompt_tokens, 1
        if prompt_tokens > GENERATIVE_MAX_INPUT_TOKENS:
            raise Refusal(400, f"The input token count ({prompt_tokens}) exceeds the maximum number of "
                               f"tokens allowed ({GENERATIVE_MAX_INPUT_TOKENS}).")
        document, rest = _document(user)
        if mime == "application/json":
            root = schema if schema is not None else json_schema
            if root is not None and not isinstance(root, dict):
                raise Refusal(400, "The response schema must be an object.")
            ctx = _Context(document, other + "\n" + rest, root or {})
            instance = generate(ctx, root) if root else {"text": ctx.sentences[0] if ctx.sentences else ""}
            if fault is not None and fault.mode == "schema_violation":
                record["fault"] = fault.mode
                instance = violate(ctx.resolve(root or {}), instance)
            text = json.dumps(instance, ensure_ascii=False)
            if fault is not None and fault.mode == "malformed_json":
                record["fault"] = fault.mode
                text = "```json\n" + text[: max(1, len(text) // 2)]  # cut off mid-answer
        elif images:
            text = "\n\n".join(t for t in (image_text(data) for _, data in images) if t)
        else:
            sents = sentences(document)
            text = " ".join(sents[:2]) if sents else ""
        finish = "STOP"
        out_tokens = count_tokens(text)
        if max_out is not None and out_tokens > max_out:
            text, out_tokens, _ = truncate_tokens(text, max_out)
            finish = "MAX_TOKENS"
        return {
            "candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                            "finishReason": finish, "avgLogprobs": -0.1}],
            "usageMetadata": {"promptTokenCount": prompt_tokens, "candidatesTokenCount": out_tokens,
                              "totalTokenCount": prompt_tokens + out_tokens, "trafficType": "ON_DEMAND"},
            "modelVersion": model,
            "createTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
            "responseId": hashlib.sha1(f"{time.time_ns()}".encode()).hexdigest()[:20],
        }

    # embeddings --------------------------------------------------------------------------------
    @staticmethod
    def _dimension(emb: EmbeddingModel, requested: Any) -> int:
        if requested is None:
            return emb.native_dimension
        if not isinstance(requested, int) or isinstance(requested, bool) or not 1 <= requested <= emb.native_dimension:
            raise Refusal(400, f"Unsupported outputDimensionality {requested!r} for model {emb.name}: "
                               f"supported values are 1 to {emb.native_dimension}.")
        return requested

    def _embed_one(self, emb: EmbeddingModel, text: str, title: str | None, auto_truncate: bool,
                   dimension: int, where: str) -> tuple[list[float], int, bool]:
        tokens = count_tokens(text) + count_tokens(title or "")
        truncated = False
        if tokens > emb.max_text_tokens:
            if not auto_truncate:
                raise Refusal(400, f"Unable to submit request because the input token count of {where} is "
                                   f"{tokens} but the model supports up to {emb.max_text_tokens}. Reduce the "
                                   "input token count and try again, or set autoTruncate to true.")
            text, _, truncated = truncate_tokens(text, max(0, emb.max_text_tokens - count_tokens(title or "")))
            tokens = count_tokens(text) + count_tokens(title or "")
        return embed_vector(emb.name, text, title, dimension), tokens, truncated

    def _predict(self, emb: EmbeddingModel, body: dict, record: dict) -> dict:
        instances = body.get("instances")
        params = body.get("parameters") or {}
        if not isinstance(instances, list) or not instances:
            raise Refusal(400, "instances must be a non-empty list.")
        record["instances"] = len(instances)
        record["task_types"] = [str(i.get("task_type") or i.get("taskType") or "RETRIEVAL_QUERY")
                                for i in instances if isinstance(i, dict)]
        texts = []
        for i, inst in enumerate(instances):
            if not isinstance(inst, dict) or not isinstance(inst.get("content"), str):
                raise Refusal(400, f"instances[{i}].content must be a string.")
            texts.append((inst["content"], inst.get("title")))
        record["tokens"] = sum(count_tokens(c) + count_tokens(t or "") for c, t in texts)
        if len(instances) > emb.max_instances:
            if emb.max_instances == 1:
                raise Refusal(400, f"Unable to submit request because {emb.name} supports only 1 instance "
                                   f"per request; got {len(instances)}.")
            raise Refusal(400, f"Unable to submit request because the number of instances ({len(instances)}) "
                               f"exceeds the limit of {emb.max_instances} per request.")
        auto_truncate = params.get("autoTruncate", params.get("auto_truncate", True))
        dimension = self._dimension(emb, params.get("outputDimensionality", params.get("output_dimensionality")))
        predictions, total = [], 0
        for i, (content, title) in enumerate(texts):
            vec, tokens, truncated = self._embed_one(emb, content, title, auto_truncate, dimension, f"instances[{i}]")
            total += tokens
            predictions.append({"embeddings": {"values": vec,
                                               "statistics": {"token_count": tokens, "truncated": truncated}}})
        record["tokens"] = total
        if total > emb.max_request_tokens:
            raise Refusal(400, f"Unable to submit request because the input token count is {total} but the "
                               f"model supports up to {emb.max_request_tokens} tokens per request.")
        return {"predictions": predictions,
                "metadata": {"billableCharacterCount": sum(billable_characters(c) for c, _ in texts)}}

    def _embed_content(self, emb: EmbeddingModel, body: dict, record: dict) -> dict:
        content = body.get("content")
        config = body.get("embedContentConfig") or body.get("embed_content_config") or {}
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list) or not content["parts"]:
            raise Refusal(400, "content.parts must not be empty.")
        text = "\n".join(str(p.get("text", "")) for p in content["parts"] if isinstance(p, dict))
        title = _get(config, "title")
        record["instances"] = 1
        record["task_types"] = [str(_get(config, "taskType") or "RETRIEVAL_QUERY")]
        record["tokens"] = count_tokens(text) + count_tokens(title or "")
        dimension = self._dimension(emb, _get(config, "outputDimensionality"))
        auto_truncate = _get(config, "autoTruncate")
        vec, tokens, truncated = self._embed_one(emb, text, title, True if auto_truncate is None else auto_truncate,
                                                 dimension, "content")
        record["tokens"] = tokens
        return {"embedding": {"values": vec}, "truncated": truncated,
                "usageMetadata": {"promptTokenCount": tokens, "totalTokenCount": tokens}}


_TAGGED = re.compile(r"<(document|text|input)\b[^>]*>(.*?)</\1>", re.S | re.I)


def _document(user_parts: list[str]) -> tuple[str, str]:
    """(document, rest of the user turn). The document is the longest text part of the last user
    turn: the inside of its `<document>…</document>` (or <text>, <input>) elements when it has any."""
    if not user_parts:
        return "", ""
    i = max(range(len(user_parts)), key=lambda k: len(user_parts[k]))
    part = user_parts[i]
    tagged = _TAGGED.findall(part)
    document = "\n\n".join(body for _, body in tagged) if tagged else part
    rest = [p for k, p in enumerate(user_parts) if k != i] + ([_TAGGED.sub(" ", part)] if tagged else [])
    return unicodedata.normalize("NFC", document).strip(), "\n".join(rest)
