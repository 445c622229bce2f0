"""Pay once per content: the results of model calls are found again on the records that hold them,
by a key of what determines them, with no write of their own.

- Analysis: keyed by the content's SHA-256, backend, model, prompt version and taxonomy; the
  analyse step writes it as `analysis.cache_key`. Identical content uploaded again (another name,
  another bucket path) reuses the analysis of a record that has it: no model call.
- Embeddings: keyed by the content's SHA-256, the embedding space (backend, model, dimension) and
  the chunking; the indexer writes it as `index.cache_key`, and the chunk vectors of a record that
  has it can be copied.

A deleted record is no longer found, so what it held is not reused. Keys never mix models: the
model is part of them. Both fields keep their ascending index under their exempted maps (the
spec's firestore.index_exemptions).
"""

from __future__ import annotations

import hashlib

from contentflow.errors import TransientError
from contentflow.metering import count
from contentflow.store import FIRESTORE_TRANSIENT


def cache_key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]


class ResultsLookup:
    """Equality queries on the documents collection, at most one record each."""

    def __init__(self, client, collection: str, timeout_s: float, retry=None):
        self._documents = client.collection(collection)
        self._timeout = timeout_s
        self._retry = retry

    def analysis(self, key: str) -> tuple[str, dict] | None:
        """(document id, its `analysis` map) of a record analysed under `key`. The map is written
        only with a successful analyse step, so any such record holds a whole analysis."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (self._documents.where(filter=FieldFilter("analysis.cache_key", "==", key))
                 .select(["analysis"]).limit(1))
        snaps = self._stream(query)
        return (snaps[0].id, snaps[0].to_dict().get("analysis") or {}) if snaps else None

    def embedded(self, key: str) -> str | None:
        """The id of a record indexed under `key` (its chunk vectors may be copied)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (self._documents.where(filter=FieldFilter("index.cache_key", "==", key))
                 .select(["index.cache_key"]).limit(1))
        snaps = self._stream(query)
        return snaps[0].id if snaps else None

    def _stream(self, query) -> list:
        try:
            snaps = list(query.stream(timeout=self._timeout, retry=self._retry))
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.reads", max(1, len(snaps)))  # a query is billed one read even when empty
        return snaps
