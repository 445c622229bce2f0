"""Recovery use cases: the sweeper (stuck documents, unsent failure events) and dead letters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from contentflow import documents as sm
from contentflow.documents import Decision, Document
from contentflow.events import EVENT_FOR_STATUS, Announcer
from contentflow.logs import annotate, bind, get_logger

log = get_logger("contentflow.recovery")

# How long an output event may stay unconfirmed before the sweeper sends it (the delivery that
# made the document terminal confirms its own within seconds).
OUTPUT_EVENT_GRACE_S = 120
# Re-drives per sweeper run: a large backlog is re-driven over several runs, not in one burst.
MAX_REDRIVES_PER_SWEEP = 100


class Recovery:
    def __init__(self, settings, store, dispatcher, clock: Callable[[], datetime] = sm.utcnow):
        self.spec = settings.spec
        self.store = store
        self.dispatcher = dispatcher
        self.announcer = Announcer(dispatcher, store)
        self.clock = clock

    def sweep(self, limit: int = 500, max_redrives: int = MAX_REDRIVES_PER_SWEEP) -> dict:
        """Re-drives documents stuck in a step past its stuck_after_s (lost hand-on, dead instance).
        Each re-drive is recorded first (a transition), so a document is re-driven at most once
        per stuck period however often the sweeper runs, and at most `max_redrives` per run."""
        now = self.clock()
        oldest_allowed = now - timedelta(seconds=min(sm.FETCH_STUCK_AFTER_S, *(s.stuck_after_s for s in self.spec.steps)))
        statuses = ["fetching", "received", *(s.status for s in self.spec.steps)]
        candidates = self.store.stale_candidates(statuses, oldest_allowed, limit)
        redriven: list[dict] = []
        deferred = 0
        for doc in candidates:
            if sm.stuck_step(doc, self.spec, now) is None:
                continue
            if len(redriven) >= max_redrives:
                deferred += 1  # the next run takes them
                continue
            decision = self.store.transition(doc.id, lambda cur: sm.redrive(cur, self.spec, now))
            if decision.outcome != "redriven":  # it moved since the query, or another sweep took it
                continue
            step = decision.hand_on
            with bind(document_id=doc.id, step=step, trace_id=doc.trace_id):
                if step == sm.FETCH_STEP:
                    self.dispatcher.enqueue_function("fetch", {"document_id": doc.id, "trace_id": doc.trace_id},
                                                     f"fetch-{doc.id}-r{int(now.timestamp())}")
                else:
                    self.dispatcher.hand_on(doc.id, step, doc.trace_id, redrive=f"-r{int(now.timestamp())}")
                log.warning("stuck document re-driven", stuck_since=doc.updated_at.isoformat(),
                            redrives=decision.document.steps[step].redrives)
            redriven.append({"document_id": doc.id, "step": step})
        resent = self._resend_output_events(now, limit)
        summary = {"examined": len(candidates), "redriven": len(redriven), "documents": redriven, "deferred": deferred,
                   "failure_events_resent": resent["document.failed"],
                   "processed_events_resent": resent["document.processed"]}
        log.info("sweep finished", examined=summary["examined"], redriven=summary["redriven"],
                 failure_events_resent=summary["failure_events_resent"],
                 processed_events_resent=summary["processed_events_resent"])
        return summary

    def _resend_output_events(self, now, limit: int) -> dict[str, int]:
        """Output events (processed or failed) whose publish was never confirmed. The grace period
        leaves the delivery that made the document terminal time to confirm its own; a rare double
        send carries the same event id."""
        sent = {event_type: 0 for event_type in EVENT_FOR_STATUS.values()}
        for doc in self.store.unsent_events(now - timedelta(seconds=OUTPUT_EVENT_GRACE_S), limit):
            with bind(document_id=doc.id, trace_id=doc.trace_id):
                if doc.status not in EVENT_FOR_STATUS:  # a mark on anything else is not ours to act on
                    continue
                if self.announcer.announce_outcome(doc):
                    log.warning("output event sent by the sweeper", event_type=EVENT_FOR_STATUS[doc.status],
                                marked_at=doc.event_pending_since.isoformat())
                    sent[EVENT_FOR_STATUS[doc.status]] += 1
        return sent

    def dead_letter(self, doc_id: str, step_name: str, deliveries: int | None) -> Decision:
        """A step's message was dead-lettered: the document fails with the last known error."""
        annotate(document_id=doc_id, step=step_name)
        with bind(document_id=doc_id, step=step_name):
            def decide(cur: Document | None) -> Decision:
                last = cur.steps.get(step_name).error if cur and step_name in cur.steps else None
                tries = f"{deliveries} deliveries" if deliveries else "repeated deliveries"
                reason = f"{step_name} gave up after {tries}: {last or 'the step never succeeded'}"
                return sm.fail_step(cur, step_name, None, reason, False, self.spec, self.clock())
            decision = self.store.transition(doc_id, decide)
            if decision.outcome == "failed":
                with bind(trace_id=decision.document.trace_id):
                    log.error("step failed", reason=decision.detail)
                    self.announcer.announce_failure(decision.document)
            else:
                log.info("dead letter ignored", outcome=decision.outcome, detail=decision.detail)
            return decision

    def retry(self, doc_id: str) -> Decision:
        """An operator re-drives a failed document from the step that failed (fresh attempts)."""
        annotate(document_id=doc_id)
        with bind(document_id=doc_id):
            decision = self.store.transition(doc_id, lambda cur: sm.retry_failed(cur, self.spec, self.clock()))
            if decision.outcome != "retried":
                return decision
            doc = decision.document
            with bind(trace_id=doc.trace_id, step=decision.hand_on):
                suffix = f"-retry{doc.retries}"
                if decision.hand_on == sm.FETCH_STEP:
                    self.dispatcher.enqueue_function("fetch", {"document_id": doc_id, "trace_id": doc.trace_id},
                                                     f"fetch-{doc_id}{suffix}")
                else:
                    self.dispatcher.hand_on(doc_id, decision.hand_on, doc.trace_id, redrive=suffix)
                log.warning("failed document re-driven by an operator", retries=doc.retries)
            return decision
