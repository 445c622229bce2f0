"""After an embedding model change: re-embed the corpus in the current space, rate-limited through
Cloud Tasks, resumable, safe to run twice.

`Backfill.run` (the scheduled job) scans done documents in id order, a page at a time, and enqueues
a re-embedding task for each whose vectors are in another space. The cursor and counters live in
Firestore (`jobs/backfill`) and are saved after every page, so a run that is killed resumes where it
stopped. Task names carry the document and the target space: a task already enqueued (or run within
the hour) is refused by Cloud Tasks, so running the job twice enqueues nothing twice. The queue's
rate limit paces the model calls. `Backfill.reembed` (the task's target) re-embeds one document and
is a no-op for a document already in the current space.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contentflow import documents as sm
from contentflow.errors import PermanentError, TransientError
from contentflow.logs import bind, get_logger
from contentflow.store import FIRESTORE_TRANSIENT

log = get_logger("contentflow.backfill")
JOB_ID = "backfill"
REEMBED_FUNCTION = "reembed"


class Backfill:
    def __init__(self, store, chunks, indexer, dispatcher, jobs, timeout_s: float, retry=None,
                 clock: Callable[[], datetime] = sm.utcnow):
        self.store = store
        self.chunks = chunks
        self.indexer = indexer
        self.dispatcher = dispatcher
        self._job = jobs.document(JOB_ID)
        self._timeout = timeout_s
        self._retry = retry
        self.clock = clock

    @property
    def space(self):
        return self.indexer.space

    # --- the scheduled scan ---------------------------------------------------------------------
    def run(self, page_size: int = 100, max_pages: int = 50) -> dict:
        space = self.space
        job = self._load()
        if job.get("space") != space.key:  # a new model: a new pass from the start
            job = {"space": space.key, "cursor": None, "pass": 0, "scanned": 0, "enqueued": 0,
                   "complete": False, "started_at": self.clock(), "finished_at": None}
        if job.get("complete"):
            coverage = self._coverage()
            if coverage["complete"]:
                log.info("backfill: every done document is in the current space", space=space.key)
                return {**self._public(job), "coverage": coverage, "this_run": {"pages": 0, "enqueued": 0}}
            # Documents came in under the old model since the pass ended (a rolling deploy): another pass.
            job.update(cursor=None, complete=False, started_at=self.clock(), finished_at=None)
        if job["cursor"] is None:
            job["pass"] = int(job.get("pass", 0)) + 1
        pages = enqueued = 0
        while pages < max_pages:
            docs = self.store.page("done", job["cursor"], page_size)
            page_enqueued = 0
            for doc in docs:
                if doc.embedding_space != space.key and (doc.reembed_failed or {}).get("space") != space.key:
                    with bind(document_id=doc.id, trace_id=doc.trace_id):
                        body = {"document_id": doc.id, "space": space.key}
                        if self.dispatcher.enqueue_function(REEMBED_FUNCTION, body, f"{doc.id}-reembed-{space.short_id}"):
                            page_enqueued += 1
            pages += 1
            enqueued += page_enqueued
            job["scanned"] += len(docs)
            job["enqueued"] += page_enqueued
            if len(docs) < page_size:
                job.update(cursor=None, complete=True, finished_at=self.clock())
                self._save(job)
                break
            job["cursor"] = docs[-1].id
            self._save(job)  # after every page: a killed run resumes from here
        coverage = self._coverage()
        log.info("backfill run finished", space=space.key, pages=pages, enqueued=enqueued,
                 complete=job["complete"], documents_indexed=coverage["documents_indexed"])
        return {**self._public(job), "coverage": coverage, "this_run": {"pages": pages, "enqueued": enqueued}}

    def progress(self) -> dict:
        return {**self._public(self._load()), "coverage": self._coverage()}

    # --- one document (the task's target) -------------------------------------------------------
    def reembed(self, doc_id: str) -> str:
        space = self.space
        doc = self.store.get(doc_id)
        if doc is None or doc.status != "done":
            return "skipped: document missing or not done"
        if doc.embedding_space == space.key:
            return "skipped: already in the current space"
        with bind(document_id=doc.id, trace_id=doc.trace_id):
            try:
                updates = self.indexer.index(doc)
            except PermanentError as err:
                self.store.transition(doc_id, lambda cur: sm.reembed_refused(cur, space.key, err.reason, self.clock()))
                log.error("document cannot be re-embedded; later passes skip it", space=space.key, reason=err.reason)
                return "failed"
            decision = self.store.transition(doc_id, lambda cur: sm.reindexed(cur, updates, space.key, self.clock()))
            # The old model's vectors go once the record points at the new ones (search never
            # returns them anyway: it filters on the space).
            removed = self.chunks.delete_document(doc_id, keep_space=space.key)
            log.info("document re-embedded", space=space.key, outcome=decision.outcome,
                     chunks=updates["index"]["chunks"], old_chunks_removed=removed)
        return decision.outcome

    # --- internals --------------------------------------------------------------------------------
    def _coverage(self) -> dict:
        from contentflow.search import coverage

        return coverage(self.store, self.space)

    def _load(self) -> dict:
        try:
            snap = self._job.get(timeout=self._timeout, retry=self._retry)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        return (snap.to_dict() or {}) if snap.exists else {}

    def _save(self, job: dict) -> None:
        try:
            self._job.set(job, timeout=self._timeout, retry=self._retry)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err

    @staticmethod
    def _public(job: dict) -> dict:
        out = dict(job)
        for key in ("started_at", "finished_at"):
            if isinstance(out.get(key), datetime):
                out[key] = out[key].isoformat()
        return out
