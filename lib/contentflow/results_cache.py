"""Pay once per content: results of model calls kept in Firestore, keyed by what determines them.

- Analysis: keyed by the content's SHA-256, backend, model, prompt version and taxonomy. Identical
  content uploaded again (another name, another bucket path) reuses it: no model call.
- Embeddings: keyed by the content's SHA-256, the embedding space (backend, model, dimension) and
  the chunking; the entry names the document whose chunk vectors can be copied.

Entries are small (an Analysis is bounded, see inference/port.py) and never mixed across models:
the model is part of the key.
"""

from __future__ import annotations

import hashlib

from contentflow.errors import TransientError
from contentflow.metering import count
from contentflow.store import FIRESTORE_TRANSIENT



def cache_key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]


class ResultsCache:
    def __init__(self, client, collection: str, timeout_s: float, retry=None):
        self._collection = client.collection(collection)
        self._timeout = timeout_s
        self._retry = retry

    def get(self, key: str) -> dict | None:
        try:
            snap = self._collection.document(key).get(timeout=self._timeout, retry=self._retry)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.reads")
        return snap.to_dict() if snap.exists else None

    def put(self, key: str, value: dict) -> None:
        from google.cloud import firestore

        try:
            self._collection.document(key).set({**value, "stored_at": firestore.SERVER_TIMESTAMP},
                                               timeout=self._timeout, retry=self._retry)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.writes")

    def delete(self, key: str) -> None:
        try:
            self._collection.document(key).delete(timeout=self._timeout, retry=self._retry)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.writes")

    def delete_naming(self, document_id: str) -> int:
        """Deletes the entries made from a document (its analysis, the reference to its vectors)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        try:
            snaps = list(self._collection.where(filter=FieldFilter("document_id", "==", document_id))
                         .limit(100).stream(timeout=self._timeout, retry=self._retry))
            for snap in snaps:
                snap.reference.delete(timeout=self._timeout, retry=self._retry)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.reads", max(1, len(snaps)))
        count("firestore.writes", len(snaps))
        return len(snaps)
