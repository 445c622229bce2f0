"""Firestore adapter for chunk vectors: one document per chunk (a Firestore document is capped at
1 MiB; a document's whole text and vectors would not fit), searched with `find_nearest`.

Each chunk document carries what search filters on: its document id, labels, language, date, and
the embedding space (backend, model, dimension, and their key). Search always filters on the
space key, so vectors of another model are never compared with the query's, even when they have
the same dimension (Firestore itself only skips vectors of another dimension, silently).
Production needs a vector index per dimension with these filter fields: Terraform builds them from
the spec's `embeddings:` section.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from contentflow.errors import TransientError
from contentflow.metering import count, timed
from contentflow.store import FIRESTORE_TRANSIENT

# A batch commit holds at most 500 writes and 10 MiB; a chunk document is at most ~20 KB
# (4,000 characters of text and 2,048 floats), so 200 per batch stays well inside both.
_BATCH = 200
MAX_NEAREST = 1000  # find_nearest refuses a larger limit


class ChunkStore:
    def __init__(self, client, collection: str, vector_field: str, timeout_s: float, retry=None):
        self._client = client
        self._collection = client.collection(collection)
        self._field = vector_field
        self._timeout = timeout_s
        self._retry = retry

    @staticmethod
    def chunk_id(document_id: str, space_id: str, index: int) -> str:
        """Deterministic: a step that runs twice overwrites, never duplicates."""
        return f"{document_id}-{space_id}-{index:05d}"

    def write(self, document_id: str, space, rows: Sequence[dict], vectors: Sequence[Sequence[float]]) -> int:
        """Writes one document's chunks of one embedding space. `rows[i]` holds the chunk's fields
        (index, text, page, start, end, source, title, labels, language, date); `vectors[i]` its vector."""
        from google.cloud.firestore_v1.vector import Vector

        if len(rows) != len(vectors):
            raise ValueError(f"{len(rows)} chunks but {len(vectors)} vectors")
        space_fields = {"embedding_space": space.key, "backend": space.backend, "model": space.model,
                        "dimension": space.dimension, "document_id": document_id}
        written = 0
        for start in range(0, len(rows), _BATCH):
            batch = self._client.batch()
            for row, vector in zip(rows[start:start + _BATCH], vectors[start:start + _BATCH]):
                if len(vector) != space.dimension:
                    raise ValueError(f"a vector of {len(vector)} dimensions in space {space.key}")
                ref = self._collection.document(self.chunk_id(document_id, space.short_id, row["index"]))
                batch.set(ref, {**row, **space_fields, self._field: Vector([float(x) for x in vector])})
            with timed("firestore"):
                self._commit(batch)
            written += len(rows[start:start + _BATCH])
        count("firestore.writes", written)
        return written

    def vectors_of(self, document_id: str, space) -> dict[int, list[float]]:
        """The stored vectors of a document in a space, by chunk index (reuse for identical content)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (self._collection.where(filter=FieldFilter("document_id", "==", document_id))
                 .where(filter=FieldFilter("embedding_space", "==", space.key))
                 .select(["index", self._field]))
        found = {}
        for snap in self._stream(query):
            data = snap.to_dict()
            vector = data.get(self._field)
            if vector is not None and "index" in data:
                found[int(data["index"])] = list(vector)
        return found

    def delete_document(self, document_id: str, keep_space: str | None = None) -> int:
        """Deletes a document's chunks, except those of `keep_space` (after a re-embedding, the old
        model's vectors go; search would not return them anyway)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("document_id", "==", document_id)).select(["embedding_space"])
        refs = [s.reference for s in self._stream(query) if keep_space is None or s.get("embedding_space") != keep_space]
        for start in range(0, len(refs), 400):
            batch = self._client.batch()
            for ref in refs[start:start + 400]:
                batch.delete(ref)
            self._commit(batch)
        count("firestore.writes", len(refs))
        return len(refs)

    def nearest(self, vector: Sequence[float], space, limit: int, labels: Iterable[str] = (),
                language: str | None = None, document_id: str | None = None) -> list[dict]:
        """The `limit` chunks nearest to `vector` (cosine) among the chunks of `space` that pass
        the filters; each with `distance` (0 = same direction, 2 = opposite)."""
        from google.cloud.firestore_v1.base_query import FieldFilter
        from google.cloud.firestore_v1.base_vector_query import DistanceMeasure
        from google.cloud.firestore_v1.vector import Vector

        query = self._collection.where(filter=FieldFilter("embedding_space", "==", space.key))
        for label in list(labels)[:1]:  # Firestore takes one array-contains per query
            query = query.where(filter=FieldFilter("labels", "array_contains", label))
        if language:
            query = query.where(filter=FieldFilter("language", "==", language))
        if document_id:
            query = query.where(filter=FieldFilter("document_id", "==", document_id))
        nearest = query.find_nearest(vector_field=self._field, query_vector=Vector([float(x) for x in vector]),
                                     distance_measure=DistanceMeasure.COSINE, limit=min(limit, MAX_NEAREST),
                                     distance_result_field="distance")
        try:
            snaps = nearest.get(timeout=self._timeout, retry=self._retry)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.reads", max(1, len(snaps)))
        hits = []
        for snap in snaps:
            data = snap.to_dict()
            data.pop(self._field, None)
            hits.append(data)
        return hits

    def _stream(self, query):
        try:
            snaps = list(query.stream(timeout=self._timeout, retry=self._retry))
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.reads", max(1, len(snaps)))
        return snaps

    def _commit(self, batch) -> None:
        try:
            batch.commit(timeout=self._timeout, retry=self._retry)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err


def chunk_row(chunk, *, title: str | None, labels: list[str], language: str | None, date: datetime | None,
              max_text_chars: int) -> dict:
    """The searchable fields of one chunk (bounded: the text is cut to `max_text_chars`)."""
    return {"index": chunk.index, "text": chunk.text[:max_text_chars], "page": chunk.page,
            "start": chunk.start, "end": chunk.end, "source": chunk.source, "title": (title or "")[:300],
            "labels": labels[:10], "language": language, "date": date}
