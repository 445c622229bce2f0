"""The local inference backend: real results from models that ship inside PyPI packages, offline.

- Embeddings: WordLlama `l2_supercat` (wordllama 0.4.x): static token vectors averaged over the
  text, 256 dimensions, truncatable to 128 or 64 (matryoshka training), L2-normalised. Static
  embeddings have no task type: documents and queries are embedded the same way. Licences: code
  MIT; the weights are published as MIT but are trained from the token-embedding tables of Llama 2
  70B and other models with the Llama 2 tokenizer, which ships with them (Llama 2 Community
  License terms may reach them).
- Labels: cosine between the document vector (mean of a sample of its chunk vectors) and each
  taxonomy label's vector ("name: description"); see LABEL_* below for the calibrated mapping.
- Summary: extractive, 1-3 sentences of the text chosen by closeness to the document vector with
  MMR (offline_text). Keywords: phrases of the text ranked by frequency and position together with
  their cosine to the document vector, then MMR (offline_keywords; stopwords from `stop-words`,
  code BSD-3-Clause, lists CC BY 4.0). Sentiment: VADER (MIT), English only. Entities and
  personal data: patterns with checks (offline_patterns); person / organisation / location names
  need the vertex backend.

Nothing is downloaded: WordLlama is loaded from its package folder with downloads disabled, the
stopword lists and VADER's lexicon are files in their packages, and the tests run analyse and
embed in a child process where any network use raises.

Importing this module is cheap; numpy, the tokenizer and the weights load on first use, once per
process (thread-safe), and stay loaded.
"""

from __future__ import annotations

import logging
import threading
import time
from importlib import metadata
from typing import TYPE_CHECKING

from contentflow import metering
from contentflow.errors import InvalidInput, PermanentError
from contentflow.inference.options import InferenceOptions
from contentflow.inference.port import (
    MAX_LABELS,
    Analysis,
    AnalysisResult,
    EmbeddingSpace,
    Embeddings,
    Entity,
    Label,
    Sensitivity,
    Sentiment,
    Taxonomy,
    Usage,
)

if TYPE_CHECKING:
    import numpy as np

ANALYSIS_METHOD = "local-extractive-v1"
# Part of the analysis cache key: bump when a rule, threshold or pattern of the analysis changes.
PROMPT_VERSION = "local-2026-12.1"

# The wheel ships the 256-dim l2_supercat weights; matryoshka training makes their first 128 or 64
# dimensions an embedding too (wordllama's own trunc_dim). Larger sizes would need a download.
WORDLLAMA_CONFIGS = {"wordllama-l2_supercat": "l2_supercat"}
WORDLLAMA_DIMENSIONS = (64, 128, 256)
WEIGHTS_DIMENSION = 256

MAX_EMBED_CHARS = 32_000     # per text; longer texts are cut (counted in Embeddings.truncated)
BATCH_TEXTS = 256            # texts per tokenizer call (= one "model call" in the usage counts)

# Labels. Calibrated on 28 documents with the set of labels a person would accept for each (the 21
# sample documents, whose figures `scripts/bench local_models` prints, and the 7 texts of
# tests/inference/test_local_backend.py), wordllama at 256 dimensions: a label that does not fit has
# cosine 0.03 with the document on average (sd 0.09, 95th percentile 0.18, max 0.40), a fitting one
# 0.28, clear matches 0.45-0.65. A label is kept when its cosine is at least LABEL_MIN_COSINE and
# within LABEL_MARGIN of the best label, at most LABEL_MAX: on those 28, 34 labels kept, 6 of them
# outside the acceptable sets, 24 documents with a right label, the other 4 with none (rather than a
# wrong one). Score = (cosine - 0.03) / (0.60 - 0.03), clipped to 0..1: 0 is "as close as a label
# that does not fit", 1 "as close as the clearest matches". A rescaled similarity, not a probability.
LABEL_MIN_COSINE = 0.20
LABEL_MARGIN = 0.10
LABEL_MAX = 3
LABEL_SCORE_FLOOR, LABEL_SCORE_CEIL = 0.03, 0.60
# The analysis always uses all 256 dimensions (the thresholds above are for those): a smaller
# stored embedding dimension does not change summaries or labels.
ANALYSIS_DIMENSION = WEIGHTS_DIMENSION
LABEL_CHUNKS = 64            # chunk sample for the document vector, spread over the whole text

SUMMARY_CANDIDATES = 300     # sentences embedded for the summary
KEYWORD_CHARS = 30_000       # keyword candidates from the first 30k characters: ~50 ms (2 cores)
SENTIMENT_SENTENCES = 300

TOO_FEW_WORDS = ("too few words in Latin script (at least 8, making up 30% of the text) for the local word "
                 "vectors and keyword statistics")
ENTITIES_UNAVAILABLE = ("person, organization and location names need a named-entity model (the vertex "
                        "backend); locally only email, url, phone, money, percent and date are extracted, by pattern")

_log = logging.getLogger(__name__)


class _StaticEmbedder:
    """WordLlama's token matrix and tokenizer, used directly: the mean of a text's token vectors,
    as WordLlama.embed computes it, but without padding (wordllama pads a batch to its longest
    text and gathers [batch, longest, 256] floats at once: one long text multiplies memory)."""

    def __init__(self, config: str):
        import numpy as np

        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            import wordllama
            from wordllama import WordLlama
        finally:
            # wordllama's __init__ calls logging.basicConfig(level=INFO): undo it, the function's
            # JSON logging is configured by contentflow.logs.
            root.handlers[:] = handlers
            root.setLevel(level)
        from pathlib import Path

        package_dir = Path(wordllama.__file__).parent
        # load() looks for the weights in <package>/weights/ and the tokenizer in <package>/tokenizer/
        # then <cache_dir>/tokenizers/; the wheel ships <package>/tokenizers/, so cache_dir=<package>
        # finds it. disable_download=True turns a missing file into FileNotFoundError instead of a
        # download from the hub.
        started = time.perf_counter()
        try:
            model = WordLlama.load(config=config, dim=WEIGHTS_DIMENSION, cache_dir=package_dir,
                                   disable_download=True)
        except FileNotFoundError as err:
            raise PermanentError(f"local embedding model {config} is not installed: {err}") from None
        self.matrix = np.ascontiguousarray(model.embedding, dtype=np.float32)
        self.tokenizer = model.tokenizer
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.version = metadata.version("wordllama")
        _log.info("local embedder loaded", extra={"fields": {
            "model": config, "load_s": round(time.perf_counter() - started, 3)}})

    def embed(self, texts: list[str], dimension: int) -> tuple[np.ndarray, int, int]:
        """(unit vectors [len(texts), dimension], texts truncated, batches). Texts are tokenized in
        batches (the Rust tokenizer uses both cores), then pooled one by one, so memory holds the
        token vectors of one text (at most MAX_EMBED_CHARS), not of a batch."""
        import numpy as np

        out = np.empty((len(texts), dimension), dtype=np.float32)
        truncated = sum(len(t) > MAX_EMBED_CHARS for t in texts)
        batches = 0
        for start in range(0, len(texts), BATCH_TEXTS):
            batch = [t[:MAX_EMBED_CHARS] for t in texts[start:start + BATCH_TEXTS]]
            for offset, encoding in enumerate(self.tokenizer.encode_batch(batch, add_special_tokens=False)):
                if not encoding.ids:
                    raise InvalidInput(f"text {start + offset} has no tokens: nothing to embed")
                ids = np.asarray(encoding.ids, dtype=np.int64)
                np.clip(ids, 0, len(self.matrix) - 1, out=ids)
                mean = self.matrix[ids, :dimension].mean(axis=0)
                # A mean of token vectors is never exactly zero in practice; guard the division anyway.
                out[start + offset] = mean / max(float(np.linalg.norm(mean)), 1e-12)
            batches += 1
        return out, truncated, batches


_embedders: dict[str, _StaticEmbedder] = {}
_embedders_lock = threading.Lock()
_label_vectors: dict[tuple[str, str, int], np.ndarray] = {}
_label_lock = threading.Lock()


def _embedder(config: str) -> _StaticEmbedder:
    with _embedders_lock:
        if config not in _embedders:
            _embedders[config] = _StaticEmbedder(config)
        return _embedders[config]


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        raise PermanentError(f"the local backend needs the package {distribution}, which is not installed") from None


def _spread(items: list, limit: int) -> list:
    """At most `limit` items, evenly spaced, first and order kept."""
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


class LocalBackend:
    name = "local"
    prompt_version = PROMPT_VERSION

    def __init__(self, options: InferenceOptions, embedding_dimension: int):
        model = options.local_embedding_model
        if model not in WORDLLAMA_CONFIGS:
            raise PermanentError(
                f"unknown local embedding model {model!r}: the local backend offers "
                f"{', '.join(sorted(WORDLLAMA_CONFIGS))} (the models whose weights ship in a package)")
        if embedding_dimension not in WORDLLAMA_DIMENSIONS:
            raise PermanentError(
                f"the local embedding model {model} cannot produce {embedding_dimension} dimensions: it "
                f"offers {', '.join(map(str, WORDLLAMA_DIMENSIONS))} (matryoshka truncation of the "
                f"{WEIGHTS_DIMENSION}-dim weights shipped in the wordllama wheel)")
        self.options = options
        self._config = WORDLLAMA_CONFIGS[model]
        self._dimension = embedding_dimension
        self.embedding_space = EmbeddingSpace(backend="local", model=model, dimension=embedding_dimension)
        self.analysis_model = (
            f"{ANALYSIS_METHOD}+{model}-{ANALYSIS_DIMENSION}-{_version('wordllama')}"
            f"+segtok-{_version('segtok')}+stop-words-{_version('stop-words')}"
            f"+vader-{_version('vaderSentiment')}")

    def warm_up(self) -> None:
        """Loads the embedder at instance start, not on the first request's path."""
        _embedder(self._config)

    # --- embeddings ------------------------------------------------------------------------------

    def _vectors(self, texts: list[str], dimension: int | None = None) -> tuple[np.ndarray, int, int]:
        vectors, truncated, batches = _embedder(self._config).embed(texts, dimension or self._dimension)
        metering.count("model.calls", batches)
        return vectors, truncated, batches

    def embed_documents(self, texts: list[str], titles: list[str | None] | None = None) -> Embeddings:
        if titles is not None and len(titles) != len(texts):
            raise InvalidInput(f"{len(titles)} titles for {len(texts)} texts")
        for index, text in enumerate(texts):
            if not text or not text.strip():
                raise InvalidInput(f"text {index} is empty: nothing to embed")
        if not texts:
            return Embeddings(vectors=[], space=self.embedding_space)
        # A title is prepended: its words then pull every chunk of the document a little towards
        # the document's subject (static vectors have no other way to take a title).
        inputs = [f"{title}\n{text}" if title else text for text, title in zip(texts, titles or [None] * len(texts))]
        vectors, truncated, batches = self._vectors(inputs)
        return Embeddings(vectors=vectors.tolist(), space=self.embedding_space,
                          usage=Usage(model_calls=batches), truncated=truncated)

    def embed_query(self, text: str) -> Embeddings:
        """Same model and pooling as documents: static embeddings have no query task type."""
        if not text or not text.strip():
            raise InvalidInput("the query is empty: nothing to embed")
        vectors, truncated, batches = self._vectors([text])
        return Embeddings(vectors=vectors.tolist(), space=self.embedding_space,
                          usage=Usage(model_calls=batches), truncated=truncated)

    # --- analysis --------------------------------------------------------------------------------

    def _taxonomy_vectors(self, taxonomy: Taxonomy) -> tuple[np.ndarray, int]:
        """Each label's vector, embedded once per process per taxonomy: (vectors, batches used)."""
        key = (taxonomy.fingerprint, self._config, ANALYSIS_DIMENSION)
        with _label_lock:
            cached = _label_vectors.get(key)
        if cached is not None:
            return cached, 0
        texts = [f"{label.name.replace('-', ' ').replace('_', ' ')}: {label.description}" for label in taxonomy.labels]
        vectors, _, batches = self._vectors(texts, ANALYSIS_DIMENSION)
        with _label_lock:
            if len(_label_vectors) >= 16:  # taxonomies are few; bound it anyway
                _label_vectors.clear()
            _label_vectors[key] = vectors
        return vectors, batches

    def _labels(self, document_vector: np.ndarray, taxonomy: Taxonomy) -> tuple[list[Label], int]:
        import numpy as np

        label_vectors, batches = self._taxonomy_vectors(taxonomy)
        cosines = label_vectors @ document_vector
        best = float(cosines.max())
        labels = []
        for index in np.argsort(-cosines, kind="stable")[:min(LABEL_MAX, MAX_LABELS)]:
            cosine = float(cosines[index])
            if cosine < LABEL_MIN_COSINE or cosine < best - LABEL_MARGIN:
                break
            score = (cosine - LABEL_SCORE_FLOOR) / (LABEL_SCORE_CEIL - LABEL_SCORE_FLOOR)
            label = taxonomy.labels[index]
            labels.append(Label(name=label.name, description=label.description,
                                score=round(min(1.0, max(0.0, score)), 3)))
        return labels, batches

    def analyse(self, text: str, chunks: list[str], taxonomy: Taxonomy, language: str | None = None) -> AnalysisResult:
        import numpy as np

        from contentflow.inference import offline_keywords, offline_patterns, offline_text

        language = (language or "").strip().lower().replace("_", "-").split("-")[0] or None  # "en-GB" -> "en"
        budget = self.options.local_analysis_chars
        prefix = text[:budget]
        unavailable: dict[str, str] = {}
        calls = 0

        # Document vector: a sample of chunks over the whole document (or windows of the prefix).
        pieces = [c for c in chunks if c and c.strip()] or [prefix[i:i + 1500] for i in range(0, len(prefix), 1500)]
        pieces = [p for p in _spread(pieces, LABEL_CHUNKS) if p.strip()]
        labels: list[Label] = []
        document_vector = None
        wordy = offline_text.wordy(prefix)
        if not wordy:
            unavailable["labels"] = unavailable["keywords"] = TOO_FEW_WORDS
        if pieces:
            piece_vectors, _, batches = self._vectors(pieces, ANALYSIS_DIMENSION)
            calls += batches
            document_vector = piece_vectors.mean(axis=0)
            document_vector /= max(float(np.linalg.norm(document_vector)), 1e-12)
            if wordy:
                labels, batches = self._labels(document_vector, taxonomy)
                calls += batches

        # Personal data anywhere in the text counts; entities (with their counts) come from the
        # analysed prefix, like the summary.
        personal = offline_patterns.personal_data(text[:self.options.local_scan_chars])
        found_entities = offline_patterns.entities(prefix)

        all_sentences = offline_text.sentences(prefix)
        candidates = offline_text.summary_candidates(all_sentences, SUMMARY_CANDIDATES)
        summary = ""
        if document_vector is not None and not any(offline_text.can_open(s.text) for s in candidates):
            # No prose sentence that can open a summary (a table, CSV, JSON, a receipt): the
            # document's leading line, as written.
            summary = offline_text.leading_line(prefix, lambda line: bool(offline_patterns.personal_data(line)))
        if not summary and candidates and document_vector is not None:
            vectors, _, batches = self._vectors([s.text for s in candidates], ANALYSIS_DIMENSION)
            calls += batches
            # Centrality is measured against the whole document's vector (its chunks, headings and
            # title included), not the candidates' mean, which favours short sentences of common words.
            chosen = offline_text.select_summary([s.text for s in candidates], vectors, document_vector)
            summary = offline_text.join_summary([candidates[i].text for i in chosen])
        if not summary:
            unavailable["summary"] = "no sentence or title line to extract (tabular or data text)"

        keywords: list[str] = []
        if wordy:
            def embed_phrases(phrases: list[str]) -> np.ndarray:
                nonlocal calls
                vectors, _, batches = self._vectors(phrases, ANALYSIS_DIMENSION)
                calls += batches
                return vectors

            keywords = offline_keywords.keywords(prefix[:KEYWORD_CHARS], language, embed_phrases, document_vector)

        sentiment = None
        if language == "en":
            prose = [s.text for s in all_sentences if s.kind in ("prose", "list")] or [s.text for s in all_sentences]
            result = offline_text.sentiment(_spread(prose, SENTIMENT_SENTENCES))
            if result is not None:
                sentiment = Sentiment(label=result[0], score=result[1])
            else:
                unavailable["sentiment"] = "no text to score"
        else:
            unavailable["sentiment"] = (
                f"the local sentiment model (VADER) reads English only; the text is "
                f"{'in ' + repr(language) if language else 'of unknown language'}")
        unavailable["entities"] = ENTITIES_UNAVAILABLE

        analysis = Analysis(
            summary=summary,
            labels=labels,
            keywords=keywords,
            entities=[Entity(type=kind, text=value, count=count) for kind, value, count in found_entities],
            sentiment=sentiment,
            sensitivity=Sensitivity(personal_data=bool(personal), kinds=personal),
            unavailable=unavailable,
        )
        return AnalysisResult(analysis=analysis, backend=self.name, model=self.analysis_model,
                              prompt_version=self.prompt_version, usage=Usage(model_calls=calls),
                              input_truncated=len(text) > budget)
