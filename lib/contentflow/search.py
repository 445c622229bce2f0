"""Semantic search: the query embedded by the current backend and model (query task type), the
nearest chunks of the SAME embedding space found by Firestore (cosine), grouped by document.

Vectors of another model are never compared with the query: the chunk store filters on the space
key. `coverage` says how many documents are searchable under the current model (after a model
change, the backfill brings the rest over)."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from contentflow.errors import InvalidInput

MAX_QUERY_CHARS = 1000
SNIPPET_CHARS = 600


class SearchRequest(BaseModel):
    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    limit: int = Field(default=10, ge=1, le=50)
    label: str | None = Field(default=None, max_length=64, pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$")
    document_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")

    @model_validator(mode="after")
    def _indexed_filters_only(self):
        # Production serves exactly the filter combinations Terraform builds a vector index for.
        if self.document_id and (self.label or self.language):
            raise ValueError("document_id cannot be combined with label or language")
        return self


class Search:
    def __init__(self, backend, chunks, store):
        self.backend = backend
        self.chunks = chunks
        self.store = store

    def search(self, request: SearchRequest) -> dict:
        if not request.q.strip():
            raise InvalidInput("q: the query is empty")
        space = self.backend.embedding_space
        embedded = self.backend.embed_query(request.q)
        # Several chunks of one document can be near: ask for more chunks than documents wanted.
        hits = self.chunks.nearest(embedded.vectors[0], space, limit=min(request.limit * 5, 200),
                                   labels=[request.label] if request.label else [], language=request.language,
                                   document_id=request.document_id)
        results: dict[str, dict] = {}
        for hit in hits:
            if hit.get("embedding_space") != space.key:  # never: the query filters on it; kept as a guard
                continue
            score = round(1.0 - float(hit.get("distance", 1.0)), 4)  # cosine similarity
            doc = results.setdefault(hit["document_id"], {
                "document_id": hit["document_id"], "title": hit.get("title") or "", "score": score,
                "labels": hit.get("labels") or [], "language": hit.get("language"), "hits": []})
            doc["hits"].append({"chunk": hit.get("index"), "text": (hit.get("text") or "")[:SNIPPET_CHARS],
                                "page": hit.get("page"), "start": hit.get("start"), "end": hit.get("end"),
                                # where the text came from (footnote, header, ...); chunks stored
                                # before issue 13 have no source: body
                                "source": hit.get("source") or "body", "score": score})
        ranked = sorted(results.values(), key=lambda d: -d["score"])[: request.limit]
        return {"query": request.q, "space": space.key, "results": ranked, "coverage": self.coverage()}

    def coverage(self) -> dict:
        return coverage(self.store, self.backend.embedding_space)


def coverage(store, space) -> dict:
    """How many done documents are searchable under `space` (the rest wait for the backfill, or
    could not be re-embedded and say why on their record)."""
    done = store.count("status", "done")
    indexed = store.count("embedding_space", space.key)
    refused = store.count("reembed_failed.space", space.key)
    return {"space": space.key, "documents_done": done, "documents_indexed": indexed,
            "documents_not_reembeddable": refused, "complete": indexed + refused >= done}
