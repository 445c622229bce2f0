"""Fetching a submitted URL (the `fetch` function, one Cloud Tasks task per document): claim the
document's fetch, fetch the URL SSRF-safely (contentflow.urlfetch), store the bytes in the inbox
bucket under `url/<document id>/`, and hand the document to the pipeline's first step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contentflow import documents as sm
from contentflow.documents import FETCH_STEP, Decision, Source
from contentflow.errors import ContentflowError, TransientError
from contentflow.events import Announcer
from contentflow.intake import mark_hand_on_failed, safe_filename
from contentflow.logs import annotate, bind, get_logger
from contentflow.messages import VIA_METADATA_KEY

log = get_logger("contentflow.fetching")


class UrlIngestion:
    def __init__(self, settings, store, blobs, dispatcher, fetch: Callable, policy,
                 clock: Callable[[], datetime] = sm.utcnow):
        """`fetch(url, policy)` returns the fetched bytes (contentflow.urlfetch.fetch in production)."""
        self.settings = settings
        self.spec = settings.spec
        self.store = store
        self.blobs = blobs
        self.dispatcher = dispatcher
        self.fetch = fetch
        self.policy = policy
        self.announcer = Announcer(dispatcher, store)
        self.clock = clock

    def run(self, doc_id: str, last_attempt: Callable[[datetime | None], bool] = lambda first: False) -> Decision:
        """`last_attempt(first_started_at)`: the queue will not deliver again after this attempt, so
        a transient failure now fails the document instead of waiting for a retry."""
        annotate(document_id=doc_id, step=FETCH_STEP)
        with bind(document_id=doc_id, step=FETCH_STEP):
            lease_s = self.spec.functions["fetch"].runtime.timeout_s
            begun = self.store.transition(doc_id, lambda cur: sm.begin_fetch(cur, self.clock(), lease_s,
                                                                           self.settings.url_fetch.max_attempts))
            if begun.outcome == "busy":  # another delivery holds the lease: retried, not acknowledged
                from contentflow.errors import StepBusy

                raise StepBusy(begun.detail, retry_after_s=begun.retry_after_s)
            if begun.outcome not in ("run", "gave_up"):
                log.info("delivery ignored", outcome=begun.outcome, detail=begun.detail)
                return begun
            doc = begun.document
            with bind(trace_id=doc.trace_id):
                if begun.outcome == "gave_up":
                    log.error("fetch failed", reason=begun.detail)
                    self.announcer.announce_failure(doc)
                    return begun
                try:
                    got = self.fetch(doc.source.url, self.policy)
                    name = f"url/{doc_id}/{safe_filename(doc.metadata.get('filename') or got.filename)}"
                    content_type = got.content_type or "application/octet-stream"
                    stored = self.blobs.create_if_absent(self.settings.bucket("inbox"), name, got.data, content_type,
                                                         metadata={VIA_METADATA_KEY: "url"})
                except ContentflowError as err:
                    final = err.retryable and last_attempt(doc.steps[FETCH_STEP].first_started_at)
                    return self._failed(doc_id, begun.attempt, err.reason, err.retryable and not final)
                source = Source(bucket=stored.bucket, name=stored.name, generation=stored.generation, md5_hash=stored.md5_hash,
                                size=stored.size, content_type=stored.content_type, uploaded_at=self.clock(), via="url",
                                url=doc.source.url)
                done = self.store.transition(doc_id, lambda cur: sm.fetched(cur, begun.attempt, source, self.spec, self.clock()))
                if done.outcome == "completed":
                    log.info("url fetched", size=stored.size, content_type=stored.content_type)
                    try:
                        self.dispatcher.hand_on(doc_id, done.hand_on, doc.trace_id)
                    except TransientError:
                        # Recorded, so the upload event's duplicate registration (or the sweeper)
                        # resends it without waiting for the grace period.
                        mark_hand_on_failed(self.store, doc_id, done.hand_on, self.clock)
                        raise
                return done

    def _failed(self, doc_id: str, attempt: int, reason: str, retryable: bool) -> Decision:
        decision = self.store.transition(doc_id, lambda cur: sm.fail_step(cur, FETCH_STEP, attempt, reason, retryable,
                                                                          self.spec, self.clock()))
        if decision.outcome == "released":
            log.warning("fetch failed, will retry", reason=reason, attempt=attempt)
            raise TransientError(reason)
        if decision.outcome == "failed":
            log.error("fetch failed", reason=reason, attempt=attempt)
            self.announcer.announce_failure(decision.document)
        return decision
