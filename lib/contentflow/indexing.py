"""Indexing one document for search: its chunks embedded in the current embedding space and stored
as chunk documents. Used by the index step and by the re-embedding after a model change."""

from __future__ import annotations

from contentflow.chunks import chunk_row
from contentflow.documents import Document
from contentflow.logs import get_logger
from contentflow.metering import count
from contentflow.results_cache import cache_key
from contentflow.steps._outputs import read_chunks

log = get_logger("contentflow.indexing")


class Indexer:
    def __init__(self, blobs, backend, chunks, lookup, options, extraction_limits):
        self.blobs = blobs
        self.backend = backend
        self.chunks = chunks
        self.lookup = lookup
        self.options = options
        self.chunking = f"{extraction_limits.chunk_chars}/{extraction_limits.chunk_overlap_chars}/{options.max_chunks_per_document}"

    @property
    def space(self):
        return self.backend.embedding_space

    def index(self, doc: Document) -> dict:
        """Embeds and stores the document's chunks; returns the record's updates."""
        space = self.space
        chunks, total = read_chunks(self.blobs, doc, self.options.max_chunks_per_document)
        extraction = doc.stats.get("extraction") or {}
        title = extraction.get("title") or doc.metadata.get("filename") or doc.source.name.rsplit("/", 1)[-1]
        rows = [chunk_row(c, title=title, labels=list(doc.labels), language=extraction.get("language"),
                          date=doc.created_at, max_text_chars=self.options.max_chunk_chars_stored) for c in chunks]
        key = cache_key("embeddings", doc.content_sha256, space.key, self.chunking) if doc.content_sha256 else None
        vectors, reused_from = self._reuse(key, doc, chunks)
        usage, truncated = None, 0
        if vectors is None and chunks:
            embedded = self.backend.embed_documents([c.text for c in chunks], [title] * len(chunks))
            vectors, usage, truncated = embedded.vectors, embedded.usage, embedded.truncated
        self.chunks.write(doc.id, space, rows, vectors or [])
        return {
            "embedding_space": space.key,
            "index": {
                "space": space.key, "backend": space.backend, "model": space.model, "dimension": space.dimension,
                "chunks": len(chunks), "chunks_total": total, "left_out": total - len(chunks),
                "truncated": truncated, "reused_from": reused_from,
                "usage": usage.model_dump(mode="json") if usage else None,
                # Identical content finds this record's vectors by it (contentflow.results_cache).
                "cache_key": key,
            },
        }

    def _reuse(self, key, doc: Document, chunks) -> tuple[list | None, str | None]:
        """The vectors of identical content indexed before in this space, if still all there (a
        record being deleted loses its chunks first)."""
        source = self.lookup.embedded(key) if key and chunks else None
        if not source or source == doc.id:  # itself: indexed again in the same space, embed again
            return None, None
        stored = self.chunks.vectors_of(source, self.space)
        if any(c.index not in stored for c in chunks):
            log.info("earlier embeddings incomplete; embedding again", source_document=source)
            return None, None
        count("model.cache_hits")
        log.info("embeddings reused for identical content", source_document=source)
        return [stored[c.index] for c in chunks], source
