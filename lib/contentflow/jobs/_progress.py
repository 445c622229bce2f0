"""A job's progress document in the jobs collection (`jobs/<job>`): read at the start of a run,
merged after each batch or page, so a run that is stopped (time budget, crash) resumes from it."""

from __future__ import annotations

from contentflow.errors import TransientError
from contentflow.metering import count
from contentflow.store import FIRESTORE_TRANSIENT


class JobProgress:
    def __init__(self, jobs_collection, job: str, timeout_s: float, retry=None):
        self._ref = jobs_collection.document(job)
        self._timeout = timeout_s
        self._retry = retry

    def load(self) -> dict:
        try:
            snap = self._ref.get(timeout=self._timeout, retry=self._retry)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.reads")
        return (snap.to_dict() or {}) if snap.exists else {}

    def save(self, fields: dict) -> None:
        """Merges `fields` (firestore.Increment values add to the stored counters)."""
        try:
            self._ref.set(fields, merge=True, timeout=self._timeout, retry=self._retry)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.writes")
