"""The retention job: documents whose record was created more than the spec's
`retention.documents_days` ago are deleted whole (record, chunks, their objects in both
buckets) through the deletion use case, oldest first, a batch at a time.

A run stops at its document cap or before its time budget; the next run resumes naturally (the
documents it deleted no longer match the query). A document that cannot be deleted for good (a
PermanentError) is skipped for the rest of the run (the scan moves on past it) and tried again by
the next run. A TransientError ends the run (answered 503: Cloud Scheduler retries). Progress and
totals are kept in `jobs/retention`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from contentflow import documents as sm
from contentflow.errors import PermanentError, TransientError
from contentflow.jobs._progress import JobProgress
from contentflow.logs import get_logger
from contentflow.metering import count
from contentflow.store import FIRESTORE_TRANSIENT

log = get_logger("contentflow.jobs.retention")
JOB_ID = "retention"
MAX_SKIPPED_LISTED = 20  # the summary names at most this many skipped documents


class Retention:
    def __init__(self, documents_days: int, documents_collection, deletion, jobs_collection, timeout_s: float,
                 retry=None, clock: Callable[[], datetime] = sm.utcnow, monotonic: Callable[[], float] = time.monotonic):
        self.documents_days = documents_days
        self._documents = documents_collection
        self.deletion = deletion
        self.progress = JobProgress(jobs_collection, JOB_ID, timeout_s, retry)
        self._timeout = timeout_s
        self._retry = retry
        self.clock = clock
        self.monotonic = monotonic

    def run(self, batch_size: int = 100, max_documents: int = 2000, time_budget_s: float = 240.0) -> dict:
        from google.cloud import firestore

        started, started_at = self.monotonic(), self.clock()
        cutoff = started_at - timedelta(days=self.documents_days)
        totals = {"deleted": 0, "objects_deleted": 0, "chunks_deleted": 0, "already_gone": 0, "skipped": 0}
        skipped_ids: list[str] = []
        after = None  # the last snapshot seen: the scan moves on past a skipped document
        saved = 0  # deletions already added to the stored total
        stopped_by = "done"
        out_of_time = lambda: self.monotonic() - started >= time_budget_s  # noqa: E731
        while True:
            handled = totals["deleted"] + totals["already_gone"] + totals["skipped"]
            if handled >= max_documents or out_of_time():
                stopped_by = "max_documents" if handled >= max_documents else "time_budget"
                break
            limit = min(batch_size, max_documents - handled)
            batch = self._older_than(cutoff, limit, after)
            for snap in batch:
                if out_of_time():
                    stopped_by = "time_budget"
                    break
                after = snap
                outcome = self._delete(snap.id, totals)
                if outcome == "skipped" and len(skipped_ids) < MAX_SKIPPED_LISTED:
                    skipped_ids.append(snap.id)
            if totals["deleted"] > saved:
                increment = firestore.Increment(totals["deleted"] - saved)
                self.progress.save({"last_batch_at": self.clock(), "deleted_total": increment})
                saved = totals["deleted"]
            if stopped_by != "done" or len(batch) < limit:
                break
        summary = {
            "job": JOB_ID,
            "documents_days": self.documents_days,
            "cutoff": cutoff.isoformat(),
            **totals,
            "skipped_documents": skipped_ids,
            "stopped_by": stopped_by,
            # Documents past the cutoff remain: the next run goes on.
            "more": stopped_by != "done" and bool(self._older_than(cutoff, 1, None)),
            "elapsed_s": round(self.monotonic() - started, 3),
        }
        self.progress.save({"last_run": {**summary, "started_at": started_at, "finished_at": self.clock()}})
        log.info("retention run finished", **{k: v for k, v in summary.items() if k != "skipped_documents"})
        return summary

    def _delete(self, doc_id: str, totals: dict) -> str:
        try:
            result = self.deletion.delete(doc_id)
        except PermanentError as err:
            log.error("document could not be deleted; the next run tries again", document_id=doc_id, reason=err.reason)
            totals["skipped"] += 1
            return "skipped"
        except ValueError:  # a record that no longer validates: it must not hold up the rest for ever
            log.exception("document could not be read for deletion; the next run tries again", document_id=doc_id)
            totals["skipped"] += 1
            return "skipped"
        if not result.found:  # deleted meanwhile (the api's DELETE)
            totals["already_gone"] += 1
            return "already_gone"
        totals["deleted"] += 1
        totals["objects_deleted"] += result.objects
        totals["chunks_deleted"] += result.chunks
        return "deleted"

    def _older_than(self, cutoff: datetime, limit: int, after) -> list:
        """Records created before `cutoff`, oldest first (the single-field index on created_at
        serves it); only the ordering field is read."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (self._documents.where(filter=FieldFilter("created_at", "<", cutoff))
                 .order_by("created_at").select(["created_at"]))
        if after is not None:
            query = query.start_after(after)
        try:
            snaps = list(query.limit(limit).stream(timeout=self._timeout, retry=self._retry))
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.reads", max(1, len(snaps)))
        return snaps
