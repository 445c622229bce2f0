"""The reconcile job: inbox objects with no record are registered, as their upload event would
have done. Eventarc's storage trigger has no dead-letter topic: an upload whose event was lost is
otherwise never processed.

A run lists the inbox a page at a time from the page token kept in `jobs/reconcile` (saved after
each page, so the next run resumes; a finished listing starts the next pass from the top), up to
`max_objects` objects or its time budget. It skips folder placeholders, objects younger than
`min_age_s` (their event may still be on its way) and objects under SKIPPED_PREFIXES, computes each
object's document id, asks Firestore which ids have a record (batched reads of the ids alone) and
registers the others through intake, which hands them to the first step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from contentflow import documents as sm
from contentflow.errors import PermanentError, TransientError
from contentflow.intake import document_id_of
from contentflow.jobs._progress import JobProgress
from contentflow.logs import bind, get_logger
from contentflow.messages import StorageObject
from contentflow.metering import count
from contentflow.store import FIRESTORE_TRANSIENT

log = get_logger("contentflow.jobs.reconcile")
JOB_ID = "reconcile"
# `url/`: objects the URL fetcher stores for a document recorded at submission (intake.URL_OBJECT);
# the fetch itself hands that document on (contentflow.fetching), whatever becomes of the upload event.
SKIPPED_PREFIXES = ("url/",)
LOOKUP_BATCH = 300  # document ids per batched read
MAX_LISTED_IDS = 50  # the summary names at most this many registered documents


class Reconcile:
    def __init__(self, inbox_bucket: str, documents_collection, firestore_client, blobs, intake, jobs_collection,
                 timeout_s: float, retry=None, clock: Callable[[], datetime] = sm.utcnow,
                 monotonic: Callable[[], float] = time.monotonic):
        self.inbox = inbox_bucket
        self._documents = documents_collection
        self._client = firestore_client
        self.blobs = blobs
        self.intake = intake
        self.progress = JobProgress(jobs_collection, JOB_ID, timeout_s, retry)
        self._timeout = timeout_s
        self._retry = retry
        self.clock = clock
        self.monotonic = monotonic

    def run(self, min_age_s: int = 600, page_size: int = 500, max_objects: int = 5000, time_budget_s: float = 240.0) -> dict:
        started = self.monotonic()
        token = self.progress.load().get("page_token") or None
        resumed = token is not None
        counts = {"listed": 0, "folders": 0, "too_young": 0, "prefix_skipped": 0, "checked": 0, "missing": 0,
                  "registered": 0, "already_registered": 0, "refused": 0}
        registered: list[str] = []
        pass_complete = False
        while counts["listed"] < max_objects and self.monotonic() - started < time_budget_s:
            blobs, token = self.blobs.list_page(self.inbox, page_token=token,
                                                page_size=min(page_size, max_objects - counts["listed"]))
            counts["listed"] += len(blobs)
            candidates = self._candidates(blobs, counts, self.clock() - timedelta(seconds=min_age_s))
            counts["checked"] += len(candidates)
            known = self._existing(list(candidates))
            for doc_id, obj in candidates.items():
                if doc_id in known:
                    continue
                counts["missing"] += 1
                outcome = self._register(doc_id, obj)
                counts[outcome] += 1
                if outcome == "registered" and len(registered) < MAX_LISTED_IDS:
                    registered.append(doc_id)
            # After the page's registrations: a run that dies before here looks at the page again.
            self.progress.save({"page_token": token, "last_page_at": self.clock()})
            if token is None:
                pass_complete = True
                break
        summary = {"job": JOB_ID, "bucket": self.inbox, **counts, "registered_documents": registered,
                   "resumed": resumed, "pass_complete": pass_complete, "next_page_token": token,
                   "elapsed_s": round(self.monotonic() - started, 3)}
        self.progress.save({"last_run": {**{k: v for k, v in summary.items() if k != "registered_documents"},
                                         "finished_at": self.clock()}})
        logged = {k: v for k, v in summary.items() if k not in ("registered_documents", "next_page_token")}
        log.info("reconcile run finished", **logged)
        return summary

    def _candidates(self, blobs, counts: dict, born_before: datetime) -> dict[str, StorageObject]:
        """The listed objects that are documents old enough to have been registered, by document id."""
        found: dict[str, StorageObject] = {}
        for blob in blobs:
            if blob.name.endswith("/"):
                counts["folders"] += 1
                continue
            if blob.name.startswith(SKIPPED_PREFIXES):
                counts["prefix_skipped"] += 1
                continue
            created = blob.time_created
            if created is None or (created if created.tzinfo else created.replace(tzinfo=timezone.utc)) > born_before:
                counts["too_young"] += 1
                continue
            obj = StorageObject(bucket=self.inbox, name=blob.name, generation=str(blob.generation) if blob.generation else None,
                                md5Hash=blob.md5_hash, size=blob.size, contentType=blob.content_type,
                                timeCreated=created, metadata=dict(blob.metadata) if blob.metadata else None)
            found[document_id_of(obj)] = obj
        return found

    def _existing(self, doc_ids: list[str]) -> set[str]:
        """The ids among `doc_ids` that have a record (batched reads; no field is fetched)."""
        existing: set[str] = set()
        for start in range(0, len(doc_ids), LOOKUP_BATCH):
            refs = [self._documents.document(i) for i in doc_ids[start:start + LOOKUP_BATCH]]
            try:
                snaps = list(self._client.get_all(refs, field_paths=[], timeout=self._timeout, retry=self._retry))
            except FIRESTORE_TRANSIENT as err:
                raise TransientError("Firestore unavailable", detail=str(err)) from err
            count("firestore.reads", len(refs))
            existing.update(s.id for s in snaps if s.exists)
        return existing

    def _register(self, doc_id: str, obj: StorageObject) -> str:
        with bind(document_id=doc_id):
            try:
                # No re-sent hand-on: a duplicate here is the upload event arriving meanwhile, and
                # that delivery hands the document on itself.
                decision = self.intake.register_object(obj, resend_lost_hand_on=False)
            except PermanentError as err:
                log.error("inbox object refused by intake", source=f"gs://{obj.bucket}/{obj.name}", reason=err.reason)
                return "refused"
            if decision.outcome == "created":
                log.warning("document registered by reconciliation: its upload event was lost",
                            source=f"gs://{obj.bucket}/{obj.name}")
                return "registered"
            return "already_registered"
