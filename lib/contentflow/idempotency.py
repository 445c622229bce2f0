"""Idempotency keys for POSTs: a retried request with the same `Idempotency-Key` gets the first
answer back instead of doing the work twice (a URL submission would otherwise become two documents).

One Firestore document per key (its id a hash of the key: keys are client text). It is created as
`pending` before the work (Firestore `create` fails if it exists, so two concurrent requests cannot
both start) and holds the answer afterwards. `expires_at` is the field of a Firestore TTL policy
(Terraform) that removes old keys. The request's fingerprint (a hash of its body) is kept, so the
same key with another body is refused rather than answered with an unrelated document."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from google.api_core import exceptions as gexc

from contentflow.errors import ContentflowError, TransientError
from contentflow.metering import count
from contentflow.store import FIRESTORE_TRANSIENT

PENDING_TAKEOVER_S = 120  # a pending key older than this was left by a crashed request: taken over


class KeyInUse(ContentflowError):
    """The same key is being processed by another request right now."""


class KeyReused(ContentflowError):
    """The key was used before with a different request body."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict


def fingerprint(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


class IdempotencyStore:
    def __init__(self, client, collection: str, ttl_s: int, timeout_s: float, retry=None):
        self._collection = client.collection(collection)
        self._ttl = timedelta(seconds=ttl_s)
        self._timeout = timeout_s
        self._retry = retry

    def _ref(self, key: str):
        return self._collection.document(hashlib.sha256(key.encode()).hexdigest())

    def begin(self, key: str, request_fingerprint: str, now: datetime | None = None) -> Answer | None:
        """The first answer if the key was used before (same body), else None after claiming the
        key for this request. Raises KeyInUse / KeyReused."""
        now = now or datetime.now(timezone.utc)
        ref = self._ref(key)
        record = {"state": "pending", "fingerprint": request_fingerprint, "created_at": now, "expires_at": now + self._ttl}
        try:
            try:
                ref.create(record, timeout=self._timeout, retry=self._retry)
                count("firestore.writes")
                return None
            except (gexc.AlreadyExists, gexc.Conflict):
                pass
            snap = ref.get(timeout=self._timeout, retry=self._retry)
            count("firestore.reads")
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        existing = snap.to_dict() if snap.exists else None
        if existing is None:  # expired and removed between the two calls: claim it
            return self.begin(key, request_fingerprint, now)
        if existing.get("fingerprint") != request_fingerprint:
            raise KeyReused("this Idempotency-Key was used with a different request; use a new key")
        if existing.get("state") == "done":
            return Answer(status=int(existing["status"]), body=existing["body"])
        created = existing.get("created_at")
        if created is not None and (now - created).total_seconds() > PENDING_TAKEOVER_S:
            try:
                ref.set(record, timeout=self._timeout, retry=self._retry)
            except FIRESTORE_TRANSIENT as err:
                raise TransientError("Firestore unavailable", detail=str(err)) from err
            count("firestore.writes")
            return None
        raise KeyInUse("a request with this Idempotency-Key is still being processed; retry shortly")

    def finish(self, key: str, status: int, body: dict) -> None:
        try:
            self._ref(key).update({"state": "done", "status": status, "body": body}, timeout=self._timeout, retry=self._retry)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.writes")

    def abandon(self, key: str) -> None:
        """The request failed: the key is free for the client's retry."""
        try:
            self._ref(key).delete(timeout=self._timeout, retry=self._retry)
        except FIRESTORE_TRANSIENT:
            pass  # it is taken over after PENDING_TAKEOVER_S
        count("firestore.writes")
