"""The inference port: what the pipeline asks of a model backend, and the validated results.

Two backends implement `InferenceBackend`: `local` (offline models shipped inside PyPI packages,
no network) and `vertex` (Gemini and embeddings on Vertex AI through google-genai). Every result
records the backend, model and prompt version (analysis) or the embedding space (backend, model,
dimension), so cached results and stored vectors are never mixed across models.

Every field is bounded: a document is hostile input, and the results land in Firestore documents
(1 MiB each at most).
"""

from __future__ import annotations

import hashlib
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

MAX_SUMMARY_CHARS = 2000
MAX_LABELS = 10
MAX_KEYWORDS = 20
MAX_ENTITIES = 50
MAX_TEXT_FIELD = 200  # a keyword, an entity's text, a label's description

SensitiveKind = Literal["email", "phone", "iban", "payment_card", "national_id", "postal_address",
                        "person_name", "date_of_birth", "health", "credentials", "other"]
EntityType = Literal["person", "organization", "location", "date", "money", "percent", "email", "url",
                     "phone", "product", "event", "other"]


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Label(_Result):
    name: str = Field(max_length=64)  # a label of the taxonomy, never an invented one
    description: str = Field(default="", max_length=MAX_TEXT_FIELD)
    score: float = Field(ge=0.0, le=1.0)


class Entity(_Result):
    type: EntityType
    text: str = Field(min_length=1, max_length=MAX_TEXT_FIELD)
    count: int = Field(default=1, ge=1)


class Sentiment(_Result):
    label: Literal["positive", "negative", "neutral", "mixed"]
    score: float = Field(ge=-1.0, le=1.0)  # -1 very negative .. +1 very positive


class Sensitivity(_Result):
    personal_data: bool = False
    kinds: list[SensitiveKind] = Field(default_factory=list, max_length=12)


class Analysis(_Result):
    """One document's analysis. A field a backend cannot fill honestly stays empty (None / []) and
    `unavailable` says why (e.g. {"entities": "no offline named-entity model"}): never a made-up value."""

    summary: str = Field(default="", max_length=MAX_SUMMARY_CHARS)
    labels: list[Label] = Field(default_factory=list, max_length=MAX_LABELS)
    keywords: list[str] = Field(default_factory=list, max_length=MAX_KEYWORDS)
    entities: list[Entity] = Field(default_factory=list, max_length=MAX_ENTITIES)
    sentiment: Sentiment | None = None
    sensitivity: Sensitivity = Field(default_factory=Sensitivity)
    unavailable: dict[str, str] = Field(default_factory=dict)


class Usage(_Result):
    """What the model calls cost: counted, not guessed (summed into the request's `costs`)."""

    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    billable_characters: int = 0  # Vertex embeddings bill by characters
    retries: int = 0  # in-process retries after 429 / 5xx


class AnalysisResult(_Result):
    analysis: Analysis
    backend: str
    model: str
    prompt_version: str
    usage: Usage = Field(default_factory=Usage)
    map_reduce: bool = False  # the text was over the input budget: summarised chunk by chunk, then combined
    map_reduce_parts: int = 0
    input_truncated: bool = False


class EmbeddingSpace(_Result):
    """Vectors are comparable only within one space (same backend, model and dimension)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    backend: str
    model: str
    dimension: int = Field(ge=1, le=2048)  # Firestore vectors hold at most 2048 dimensions

    @property
    def key(self) -> str:
        """Stored on every chunk and searched on (equality filter): `local:wordllama-l2_supercat:256`."""
        return f"{self.backend}:{self.model}:{self.dimension}"

    @property
    def short_id(self) -> str:
        """12 hex characters, safe in document ids and task names."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:12]


class Embeddings(_Result):
    vectors: list[list[float]]
    space: EmbeddingSpace
    usage: Usage = Field(default_factory=Usage)
    truncated: int = 0  # how many texts were cut to the model's per-text token limit


class TaxonomyLabel(_Result):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    description: str = Field(min_length=3, max_length=MAX_TEXT_FIELD)


class Taxonomy(_Result):
    labels: list[TaxonomyLabel] = Field(min_length=1, max_length=200)

    @property
    def fingerprint(self) -> str:
        """Part of the analysis cache key: a changed taxonomy is a new analysis."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


class InferenceBackend(Protocol):
    """Implemented by `contentflow.inference.local.LocalBackend` and
    `contentflow.inference.vertex.VertexBackend`. Errors: `TransientError` when a retry may help
    (quota, 5xx, timeouts), `PermanentError` when it cannot (refused input, a response that fails
    validation twice: the reason is recorded, cut to a sane length)."""

    name: str  # "local" | "vertex"
    analysis_model: str
    prompt_version: str
    embedding_space: EmbeddingSpace

    def analyse(self, text: str, chunks: list[str], taxonomy: Taxonomy, language: str | None = None) -> AnalysisResult:
        """`text` is the document's text (may be long); `chunks` its chunks, in order, for
        map-reduce when the text is over the backend's input budget."""

    def embed_documents(self, texts: list[str], titles: list[str | None] | None = None) -> Embeddings:
        """One vector per text, in order (RETRIEVAL_DOCUMENT task type), batched to the model's limits."""

    def embed_query(self, text: str) -> Embeddings:
        """One vector (RETRIEVAL_QUERY task type), in the same space as embed_documents."""

    def warm_up(self) -> None:
        """Loads the model or builds the client now (at a function instance's start)."""
