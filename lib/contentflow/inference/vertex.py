"""The `vertex` inference backend: Gemini and text embeddings on Vertex AI through google-genai.

One `genai.Client` per backend instance, made on first use and reused for every call. Locally,
`VERTEX_AI_EMULATOR_HOST=127.0.0.1:PORT` points it at `python -m local.vertexfake` (as
PUBSUB_EMULATOR_HOST does for Pub/Sub): plain HTTP and a dummy token instead of ADC.

The SDK retries nothing: 429 and 5xx answers, timeouts and connection failures get
`options.max_retries` quick retries here (full-jitter exponential backoff), then TransientError so
the Cloud Tasks queue's retry config takes over with its longer backoff. Other 4xx answers are
PermanentError with a short reason.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from contentflow.errors import PermanentError, TransientError
from contentflow.metering import count
from contentflow.ownership import before_paid_call

from . import vertex_prompt as prompt
from .options import InferenceOptions
from .port import AnalysisResult, EmbeddingSpace, Embeddings, Taxonomy, Usage
from .vertex_tokens import cut_to_tokens, estimate_tokens, split_to_tokens

PROMPT_VERSION = prompt.PROMPT_VERSION
EMULATOR_ENV = "VERTEX_AI_EMULATOR_HOST"
MAX_MAP_PARTS = 64  # a longer document is analysed from its first parts (input_truncated): bounds cost
MAX_INLINE_IMAGE_BYTES = 7 * 1024 * 1024  # Gemini's limit for inline image data
OCR_MIME_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
_REASON_CHARS = 200


@dataclass(frozen=True)
class EmbeddingLimits:
    """What Vertex accepts per embedding request for one model."""

    method: str  # "predict" (many texts per request) or "embedContent" (one content per request)
    max_texts: int
    max_request_tokens: int
    max_text_tokens: int
    max_dimension: int


def embedding_limits(model: str) -> EmbeddingLimits:
    """Vertex text embeddings: at most 250 texts and 20,000 tokens per request, 2,048 tokens per
    text; gemini-embedding-001 takes one text per request; other Gemini embedding models go
    through :embedContent with one content (as google-genai routes them; 2,048 tokens kept as a
    safe per-text bound)."""
    if model == "gemini-embedding-001":
        return EmbeddingLimits("predict", 1, 20_000, 2048, 3072)
    if "gemini" in model or "maas" in model:  # google.genai._transformers.t_is_vertex_embed_content_model
        return EmbeddingLimits("embedContent", 1, 20_000, 2048, 3072)
    return EmbeddingLimits("predict", 250, 20_000, 2048, 768)  # text-embedding-005, text-multilingual-embedding-002


def _short(text: Any, limit: int = _REASON_CHARS) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _CallFailed(Exception):
    def __init__(self, transient: bool, reason: str, detail: str | None = None):
        super().__init__(reason)
        self.transient, self.reason, self.detail = transient, reason, detail


_transport_errors: tuple[type[BaseException], ...] | None = None


def _transport_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions of the HTTP stacks google-genai may use that mean "the call did not complete"
    (timeouts, refused or dropped connections, a token refresh that failed)."""
    global _transport_errors
    if _transport_errors is None:
        found: list[type[BaseException]] = []
        import importlib

        for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"),
                             ("requests.exceptions", "RequestException"),
                             ("google.auth.exceptions", "TransportError"),
                             ("google.auth.exceptions", "RefreshError")):
            try:
                found.append(getattr(importlib.import_module(module), name))
            except (ImportError, AttributeError):
                pass
        _transport_errors = tuple(found)
    return _transport_errors


def _classify(exc: BaseException) -> _CallFailed | None:
    """TransientError material, PermanentError material, or None for a bug (re-raised as is)."""
    from google.genai import errors

    if isinstance(exc, errors.APIError):
        code = exc.code if isinstance(exc.code, int) else 0
        transient = code in (408, 429) or code >= 500 or code == 0
        # The status is ours to show; the service's message (may name projects, quotas) is logged only.
        return _CallFailed(transient, f"{code} {exc.status or ''}".strip(), _short(exc.message or ""))
    if isinstance(exc, errors.UnknownApiResponseError):
        return _CallFailed(True, "a response that is not JSON")
    if isinstance(exc, _transport_error_types()):
        return _CallFailed(True, type(exc).__name__, _short(exc, 120))
    return None


class VertexBackend:
    name = "vertex"

    def __init__(self, options: InferenceOptions, project_id: str, embedding_dimension: int, client=None):
        self.options = options
        self.project_id = project_id
        self.analysis_model = options.generation_model
        self.prompt_version = PROMPT_VERSION
        self.embedding_space = EmbeddingSpace(backend="vertex", model=options.embedding_model,
                                              dimension=embedding_dimension)
        self.limits = embedding_limits(options.embedding_model)
        if embedding_dimension > self.limits.max_dimension:
            raise ValueError(f"{options.embedding_model} gives at most {self.limits.max_dimension} dimensions, "
                             f"not {embedding_dimension}")
        self._client = client
        self._own_client = client is None
        self._client_lock = threading.Lock()
        self._random = random.Random()
        self._sleep: Callable[[float], None] = time.sleep

    # --- the client ---------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Builds the client at instance start (the SDK's import is the slow part), not on the
        first request's path."""
        self._genai()

    def _genai(self):
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self):
        from google import genai  # heavy: imported on first use, not with the module
        from google.genai import types

        timeout_ms = max(1, int(self.options.timeout_s * 1000))  # HttpOptions.timeout is in milliseconds
        kwargs: dict[str, Any] = {}
        host = os.environ.get(EMULATOR_ENV, "").strip()
        if host:
            import google.oauth2.credentials

            base_url = host if host.startswith(("http://", "https://")) else f"http://{host}"
            http_options = types.HttpOptions(timeout=timeout_ms, base_url=base_url)
            kwargs["credentials"] = google.oauth2.credentials.Credentials(token="emulator")
        else:
            http_options = types.HttpOptions(timeout=timeout_ms)  # credentials: ADC
        return genai.Client(vertexai=True, project=self.project_id, location=self.options.vertex_location,
                            http_options=http_options, **kwargs)

    def close(self) -> None:
        """Releases the connection pool of a client this backend made."""
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None

    # --- calls with retries -------------------------------------------------------------------
    def _call(self, what: str, usage: Usage, fn: Callable[[], Any]) -> Any:
        before_paid_call()  # a step owns its attempt before it pays (ownership.py)
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:
                failed = _classify(exc)
                if failed is None:
                    raise
                if not failed.transient:
                    raise PermanentError(f"Vertex AI refused {what}: {failed.reason}", detail=failed.detail) from None
                if attempt >= self.options.max_retries:
                    tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
                    raise TransientError(f"Vertex AI {what} failed after {tries}: {failed.reason}", detail=failed.detail) from None
                # Full jitter: a random wait up to the exponential cap spreads out callers that
                # were throttled together.
                cap = min(self.options.retry_max_s, self.options.retry_initial_s * 2 ** attempt)
                self._sleep(self._random.uniform(0, cap))
                attempt += 1
                usage.retries += 1

    def _generate(self, usage: Usage, system: str, parts: list, schema=None, max_output_tokens: int | None = None,
                  what: str = "generateContent", allow_cut: bool = False) -> str:
        """One generateContent call (with retries); the answer's text. InvalidAnswer if it has none."""
        from google.genai import types

        config = types.GenerateContentConfig(
            system_instruction=system,
            temperature=0.0,
            max_output_tokens=max_output_tokens or self.options.max_output_tokens,
            response_mime_type="application/json" if schema is not None else None,
            response_schema=schema,
        )
        client = self._genai()
        response = self._call(f"{what} ({self.analysis_model})", usage, lambda: client.models.generate_content(
            model=self.analysis_model, contents=parts, config=config))
        meta = response.usage_metadata
        input_tokens = (meta.prompt_token_count or 0) if meta else 0
        output_tokens = ((meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)) if meta else 0
        usage.model_calls += 1
        usage.input_tokens += input_tokens
        usage.output_tokens += output_tokens
        count("model.calls")
        count("model.input_tokens", input_tokens)
        count("model.output_tokens", output_tokens)
        candidate = response.candidates[0] if response.candidates else None
        finish = getattr(candidate, "finish_reason", None)
        finish = getattr(finish, "value", finish)
        if candidate is None or not response.text:
            block = getattr(getattr(response, "prompt_feedback", None), "block_reason", None)
            raise prompt.InvalidAnswer(f"no text in the answer (finish reason {finish}, block reason "
                                       f"{getattr(block, 'value', block)})")
        if finish == "MAX_TOKENS" and not allow_cut:
            raise prompt.InvalidAnswer(f"answer cut at max_output_tokens ({max_output_tokens or self.options.max_output_tokens})")
        return response.text

    def _validated(self, usage: Usage, call: Callable[[], str], parse: Callable[[str], Any], what: str) -> Any:
        """Runs `call` and `parse`; an answer that fails is asked for once more, then PermanentError
        with the problem and the start of the raw answer."""
        problem, raw = "", ""
        for _ in range(2):
            try:
                raw = call()
                return parse(raw)
            except prompt.InvalidAnswer as exc:
                problem = str(exc)
        raise PermanentError(f"{what}: the model's answer failed validation twice: {_short(problem, 300)}; "
                             f"raw answer: {_short(raw, 300)!r}")

    # --- analysis -----------------------------------------------------------------------------
    def analyse(self, text: str, chunks: list[str], taxonomy: Taxonomy, language: str | None = None) -> AnalysisResult:
        usage = Usage()
        budget = self.options.input_budget_tokens
        system = prompt.system_prompt(taxonomy)
        schema = prompt.response_schema(taxonomy)
        map_reduce, parts, truncated = False, 0, False
        if estimate_tokens(text) > budget:
            map_reduce = True
            pieces = self._parts(chunks or [text], budget)
            if len(pieces) > MAX_MAP_PARTS:
                pieces, truncated = pieces[:MAX_MAP_PARTS], True
            parts = len(pieces)
            summaries = self._summarise_all(usage, pieces, language)
            while estimate_tokens(_join_summaries(summaries)) > budget:
                # The summaries together are still over the budget: summarise them in groups.
                groups = self._parts(summaries, budget)
                if len(groups) >= len(summaries):
                    raise PermanentError("map-reduce: the partial summaries do not fit the input budget "
                                         f"({budget} tokens)")
                summaries = self._summarise_all(usage, groups, language)
            text = _join_summaries(summaries)
        user = prompt.analysis_user_parts(text, language, parts)
        analysis = self._validated(
            usage, lambda: self._generate(usage, system, user, schema=schema, what="analysis"),
            lambda raw: prompt.parse_answer(raw, taxonomy), "analysis")
        return AnalysisResult(analysis=analysis, backend=self.name, model=self.analysis_model,
                              prompt_version=self.prompt_version, usage=usage, map_reduce=map_reduce,
                              map_reduce_parts=parts, input_truncated=truncated)

    @staticmethod
    def _parts(texts: list[str], budget: int) -> list[str]:
        """Consecutive texts grouped into parts of at most `budget` estimated tokens (a text over
        the budget on its own is split)."""
        pieces: list[tuple[str, int]] = []
        for t in texts:
            n = estimate_tokens(t)
            if n > budget:
                pieces += [(p, estimate_tokens(p)) for p in split_to_tokens(t, budget)]
            elif t.strip():
                pieces.append((t, n))
        parts, current, size = [], [], 0
        for t, n in pieces:
            if current and size + n + 1 > budget:
                parts.append("\n\n".join(current))
                current, size = [], 0
            current.append(t)
            size += n + 1  # the blank line between pieces
        if current:
            parts.append("\n\n".join(current))
        return parts

    def _summarise_all(self, usage: Usage, parts: list[str], language: str | None) -> list[str]:
        system = prompt.map_system_prompt()
        # A quarter of the budget at most, so that summaries always combine into fewer parts.
        max_out = max(64, min(self.options.max_output_tokens // 2, self.options.input_budget_tokens // 4))
        out = []
        for i, part in enumerate(parts, 1):
            user = ([f"The document's language (detected): {language}."] if language else []) + \
                   [f"Part {i} of {len(parts)}.", prompt.wrap_document(part)]
            out.append(self._validated(
                usage, lambda user=user: self._generate(usage, system, user, max_output_tokens=max_out,
                                                        what="map summary"),
                lambda raw: raw.strip(), f"map summary of part {i}"))
        return out

    # --- embeddings ---------------------------------------------------------------------------
    def embed_documents(self, texts: list[str], titles: list[str | None] | None = None) -> Embeddings:
        if titles is not None and len(titles) != len(texts):
            raise ValueError(f"{len(titles)} titles for {len(texts)} texts")
        return self._embed(texts, titles, "RETRIEVAL_DOCUMENT")

    def embed_query(self, text: str) -> Embeddings:
        return self._embed([text], None, "RETRIEVAL_QUERY")

    def _embed(self, texts: list[str], titles: list[str | None] | None, task_type: str) -> Embeddings:
        limits = self.limits
        usage = Usage()
        truncated = 0
        by_title: dict[str | None, list[tuple[int, str, int]]] = {}
        for i, text in enumerate(texts):
            title = " ".join((titles[i] or "").split()) if titles else ""
            # A title is one config value per request (the SDK sends it with every text of the
            # call), so texts are batched per title. It counts against the text's token limit.
            title, _ = cut_to_tokens(title, limits.max_text_tokens // 8)
            title_tokens = estimate_tokens(title)
            cut, was_cut = cut_to_tokens(text, limits.max_text_tokens - title_tokens)
            truncated += was_cut
            by_title.setdefault(title or None, []).append((i, cut, estimate_tokens(cut) + title_tokens))
        vectors: list[list[float] | None] = [None] * len(texts)
        for title, items in by_title.items():
            batch: list[tuple[int, str, int]] = []
            size = 0
            for item in items:
                if batch and (len(batch) >= limits.max_texts or size + item[2] > limits.max_request_tokens):
                    self._embed_batch(batch, title, task_type, usage, vectors)
                    batch, size = [], 0
                batch.append(item)
                size += item[2]
            if batch:
                self._embed_batch(batch, title, task_type, usage, vectors)
        return Embeddings(vectors=vectors, space=self.embedding_space, usage=usage, truncated=truncated)

    def _embed_batch(self, batch: list[tuple[int, str, int]], title: str | None, task_type: str, usage: Usage,
                     vectors: list) -> None:
        from google.genai import types

        config = types.EmbedContentConfig(task_type=task_type, title=title, auto_truncate=False,
                                          output_dimensionality=self.embedding_space.dimension)
        client = self._genai()
        model = self.embedding_space.model
        contents = [text for _, text, _ in batch]
        response = self._call(f"embeddings ({model})", usage,
                              lambda: client.models.embed_content(model=model, contents=contents, config=config))
        embeddings = response.embeddings or []
        if len(embeddings) != len(batch):
            raise PermanentError(f"Vertex AI embeddings ({model}): {len(embeddings)} vectors for {len(batch)} texts")
        tokens = 0
        for (index, _, _), embedding in zip(batch, embeddings):
            vectors[index] = self._unit(embedding.values or [], model)
            stats = embedding.statistics
            tokens += int(stats.token_count or 0) if stats is not None else 0
        if not tokens and response.usage_metadata is not None:  # :embedContent reports it here
            tokens = response.usage_metadata.prompt_token_count or 0
        chars = (response.metadata.billable_character_count or 0) if response.metadata is not None else 0
        usage.model_calls += 1
        usage.input_tokens += tokens
        usage.billable_characters += chars
        # Apart from Gemini's: embeddings are priced per character, not per token.
        count("embedding.calls")
        count("embedding.input_tokens", tokens)
        if chars:
            count("embedding.billable_characters", chars)

    def _unit(self, values: list[float], model: str) -> list[float]:
        """The vector L2-normalised: Vertex normalises only full-size vectors, and a vector of the
        wrong size would be skipped silently by Firestore's vector search."""
        if len(values) != self.embedding_space.dimension:
            raise PermanentError(f"Vertex AI embeddings ({model}): a vector of {len(values)} dimensions, "
                                 f"expected {self.embedding_space.dimension}")
        norm = math.sqrt(math.fsum(v * v for v in values))
        if not math.isfinite(norm) or norm == 0:
            raise PermanentError(f"Vertex AI embeddings ({model}): a zero or non-finite vector")
        return [v / norm for v in values]

    # --- OCR ----------------------------------------------------------------------------------
    def ocr_image(self, image_bytes: bytes, mime_type: str) -> str:
        """The text of an image read by Gemini's image input (one generateContent call)."""
        from google.genai import types

        mime_type = (mime_type or "").split(";")[0].strip().lower()
        if mime_type not in OCR_MIME_TYPES:
            raise PermanentError(f"OCR: unsupported image type {mime_type!r}")
        if len(image_bytes) > MAX_INLINE_IMAGE_BYTES:
            raise PermanentError(f"OCR: image of {len(image_bytes)} bytes is over the inline limit of "
                                 f"{MAX_INLINE_IMAGE_BYTES} bytes")
        usage = Usage()
        parts = [types.Part.from_bytes(data=image_bytes, mime_type=mime_type), prompt.ocr_prompt()]
        try:
            # A transcript cut at max_output_tokens is still the image's text, as far as it goes.
            return self._generate(usage, "You read text from images.", parts, what="OCR", allow_cut=True).strip()
        except prompt.InvalidAnswer:
            return ""  # no text in the answer: an image without text


def _join_summaries(summaries: list[str]) -> str:
    return "\n\n".join(f"[Part {i}] {s}" for i, s in enumerate(summaries, 1))
