"""Running one step for one document: claim (a transition), work (the step's handler), commit (a
transition), hand on (the next step's trigger). A trigger's first try defers its claim: written
with the commit, before a paid call, or when the work runs long (DeferredClaim).
Trigger-agnostic: the functions decode their trigger and call `run_step`; the work of each step
is a handler in `contentflow.steps`."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from contentflow import documents as sm
from contentflow import ownership
from contentflow.documents import Decision, Document
from contentflow.errors import ContentflowError, NotReady, PermanentError, StepBusy, TransientError  # noqa: F401  (StepBusy re-exported)
from contentflow.events import OUTPUT_TOPIC, Announcer  # noqa: F401  (OUTPUT_TOPIC re-exported)
from contentflow.intake import mark_hand_on_failed
from contentflow.logs import annotate, bind, get_logger
from contentflow.spec import QueueRetry

log = get_logger("contentflow.pipeline")
DURATION_MARGIN_S = 1.0  # see QueueAttempt.is_last


@dataclass(frozen=True)
class QueueAttempt:
    """A delivery by Cloud Tasks: which queue, and how many times the task was retried before."""

    queue: str
    retry_count: int

    def is_last(self, retry: QueueRetry, first_attempt_at: datetime | None, now: datetime) -> bool:
        """Cloud Tasks retries a failed task until BOTH limits are spent: max_attempts attempts
        made and max_retry_duration passed since the first attempt (-1 / 0: unlimited). It measures
        from its first dispatch to the moment it reads this answer; the step measures from its own
        first start to now, a little later and a little earlier: DURATION_MARGIN_S covers both, so
        near the limit the step gives up one retry early (the extra delivery finds the document
        failed and is acknowledged) rather than waiting for a retry that never comes."""
        if retry.max_attempts == -1 or self.retry_count + 1 < retry.max_attempts:
            return False
        if retry.max_retry_duration_s <= 0:
            return True
        if first_attempt_at is None:
            return False
        return (now - first_attempt_at).total_seconds() + DURATION_MARGIN_S >= retry.max_retry_duration_s


class DeferredClaim:
    """A first delivery's claim, written as late as it can be: before the step pays for a call
    (ownership.before_paid_call: a duplicate must find the step busy before either pays), when the
    work outlasts a third of the lease (the lease keeper), or else with the commit (`apply`).
    Thread-safe: the step's thread and the lease keeper may both ask."""

    def __init__(self, store, doc_id: str, step_name: str, attempt: int, spec, started: datetime,
                 lease_s: float, until: datetime, clock: Callable[[], datetime]):
        self._store, self._doc_id, self._step, self.attempt = store, doc_id, step_name, attempt
        self._spec, self._started, self._lease_s, self._until, self._clock = spec, started, lease_s, until, clock
        self._lock = threading.Lock()
        self.written = False
        self._lost: str | None = None

    def ensure(self) -> None:
        """Writes the claim unless written; StepBusy if another delivery holds the step now."""
        with self._lock:
            if self.written:
                return
            if self._lost is None:
                decision = self._store.transition(self._doc_id, lambda cur: sm.claim_deferred(
                    cur, self._step, self.attempt, self._spec, self._started, self._clock(), self._lease_s, self._until))
                if decision.outcome == "claimed":
                    self.written = True
                    log.info("step claimed while it works", attempt=self.attempt)
                    return
                self._lost = decision.detail
            raise StepBusy(f"another delivery holds step {self._step}: {self._lost}")

    def apply(self, current: Document | None) -> Document | None:
        """The record with this attempt's claim applied as of its start (for the commit or the
        failure); None if the attempt is another delivery's."""
        return sm.with_deferred_claim(current, self._step, self.attempt, self._spec, self._started, self._lease_s)


class LeaseKeeper:
    """Renews a running attempt's lease every third of it while the step works, so a short lease
    (a dead owner's step is taken over by the next delivery within `lease_s`) still covers a long
    step. A thread, not a background task: it lives and dies with the request that started it.
    Renewal stops at `until` (the function's timeout), or once the attempt is no longer current.
    With a deferred claim not written yet, the first tick writes it instead."""

    def __init__(self, store, doc_id: str, step_name: str, attempt: int, lease_s: float,
                 clock: Callable[[], datetime], until: datetime, claim: DeferredClaim | None = None):
        self._store, self._doc_id, self._step, self._attempt = store, doc_id, step_name, attempt
        self._lease_s, self._clock, self._until = lease_s, clock, until
        self._claim = claim
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.renewals = 0

    def __enter__(self) -> LeaseKeeper:
        context = contextvars.copy_context()  # the log fields (document id, trace) follow the thread
        self._thread = threading.Thread(target=context.run, args=(self._keep,), name="lease-keeper", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _keep(self) -> None:
        while not self._stop.wait(self._lease_s / 3):
            if self._clock() >= self._until:
                return
            try:
                if self._claim is not None and not self._claim.written:
                    self._claim.ensure()
                    continue
                decision = self._store.transition(self._doc_id, lambda cur: sm.renew_lease(
                    cur, self._step, self._attempt, self._clock(), self._lease_s, self._until))
            except StepBusy as err:
                log.warning("lease lost: another delivery holds the step", detail=err.reason)
                return
            except ContentflowError as err:  # the next renewal may get through; the lease still runs
                log.warning("lease not renewed", reason=err.reason)
                continue
            if decision.outcome != "renewed" and "no longer current" in decision.detail:
                log.warning("lease lost: the attempt is no longer current", detail=decision.detail)
                return
            self.renewals += decision.outcome == "renewed"


def _as_read(cur: Document | None) -> Document | None:
    return cur


class Pipeline:
    def __init__(self, settings, store, dispatcher, handlers: Callable[[str], Callable[[Document], dict]],
                 clock: Callable[[], datetime] = sm.utcnow):
        """`handlers(step_name)` gives the step's handler (built once per instance by the
        composition root, `Services.step_handler`)."""
        self.settings = settings
        self.spec = settings.spec
        self.store = store
        self.dispatcher = dispatcher
        self.handlers = handlers
        self.announcer = Announcer(dispatcher, store)
        self.clock = clock

    def run_step(self, step_name: str, doc_id: str, queue_attempt: QueueAttempt | None = None,
                 first_delivery: bool = False) -> Decision:
        """Runs one step once: claim it, do the work, commit, hand on. Raises TransientError
        (retry) or returns the decision (ack). `queue_attempt`: the delivery came from a Cloud
        Tasks queue, which has no dead-letter topic: on its last attempt a transient failure ends
        the document.

        `first_delivery` (the trigger's first try of this message or task): the claim is not
        written before the work but with the commit, one Firestore write fewer per step (issue
        12). Nothing else can be running the step yet, short of a rare duplicate: one of the two
        loses the commit (optimistic write: it finds the attempt no longer current), having done
        unbilled work for nothing; before a billed call the claim is written (DeferredClaim,
        ownership.before_paid_call), so a duplicate never pays twice. If the work outlasts a
        third of the lease, the lease keeper writes the claim then. A retry, or the takeover of an
        expired lease, claims first as before, so a step that kills its process is counted by its
        later attempts and cannot loop."""
        step = self.spec.step(step_name)
        timeout_s = self.spec.functions[step.function].runtime.timeout_s
        lease_s = min(self.spec.delivery.lease_s, timeout_s)
        annotate(document_id=doc_id, step=step_name)
        with bind(document_id=doc_id, step=step_name):
            begun, deferred, read = None, False, None
            if first_delivery:
                read = self.store.read(doc_id)
                current = read.document
                local = sm.begin_step(current, step_name, self.spec, self.clock(), lease_s)
                # Only a step waiting queued: taking over a dead owner's expired lease claims first.
                if local.outcome == "run" and current.steps[step_name].state == sm.StepState.queued:
                    begun, deferred = local, True
            if begun is None:  # anything but a plain run decides on a written claim, as before
                begun = self.store.transition(doc_id, lambda cur: sm.begin_step(cur, step_name, self.spec, self.clock(), lease_s))
            if begun.outcome == "not_ready":
                raise NotReady(begun.detail)
            if begun.outcome == "busy":
                # Not acknowledged: if the owner is alive this delivery is a duplicate that the
                # retry will find done (or the dead-letter path finds busy and ignores); if the
                # owner died, the first retry after its lease expires takes the step over, with
                # no wait for the sweeper.
                log.info("step busy, delivery to be retried", detail=begun.detail, retry_after_s=begun.retry_after_s)
                raise StepBusy(begun.detail, retry_after_s=begun.retry_after_s)
            if begun.outcome == "duplicate":
                log.info("delivery ignored", outcome=begun.outcome, detail=begun.detail)
                self._resend_hand_on(doc_id, begun)
                if begun.announce:  # its owner died between the terminal commit and the event
                    self._send_unconfirmed_event(doc_id)
                return begun
            doc = begun.document
            annotate(trace_id=doc.trace_id)
            with bind(trace_id=doc.trace_id):
                if begun.outcome == "gave_up":
                    log.error("step failed", reason=begun.detail)
                    self.announcer.announce_failure(doc)
                    return begun
                log.info("step started", attempt=begun.attempt, claim_deferred=deferred)
                first_started = doc.steps[step_name].first_started_at
                until = doc.steps[step_name].started_at + timedelta(seconds=timeout_s)
                attempt = begun.attempt
                claim = DeferredClaim(self.store, doc_id, step_name, attempt, self.spec, doc.steps[step_name].started_at,
                                      lease_s, until, self.clock) if deferred else None
                claimed = claim.apply if claim else _as_read
                try:
                    with LeaseKeeper(self.store, doc_id, step_name, attempt, lease_s, self.clock, until=until, claim=claim), \
                            ownership.guarded(claim.ensure if claim else None):
                        updates = self.handlers(step_name)(doc)
                except StepBusy as err:
                    # Our deferred claim lost to a delivery that claimed the step first: not a
                    # failure of the step, and not acknowledged (the owner may die: its message
                    # is ours too), so the trigger retries and the retry finds it busy or done.
                    log.info("step busy, delivery to be retried", detail=err.reason)
                    raise
                except ContentflowError as err:
                    if err.detail:  # the dependency's own text: logged here, never stored on the record
                        log.warning("step error detail", reason=err.reason, detail=err.detail)
                    final = self._last_task_attempt(queue_attempt, first_started)  # decided when it failed
                    return self._record_failure(doc_id, step_name, attempt, err.reason, err.retryable, final, claimed)
                except Exception as err:  # a bug or an unexpected library error: retry, then dead-letter
                    log.exception("step crashed")
                    return self._record_failure(doc_id, step_name, attempt, f"internal error in {step_name}: "
                                                f"{type(err).__name__}", True, self._last_task_attempt(queue_attempt, first_started),
                                                claimed)
                nxt = self.spec.next_step(step_name)
                try:
                    # The last step commits `done` with an outbox mark before `document.processed`
                    # goes out (below): the event is only ever sent for a record that says done.
                    # A deferred claim still unwritten: nobody should have written the record since
                    # our read, so the commit is decided on that read (one read fewer; the write's
                    # precondition sends it back to a fresh read if someone did).
                    known = read if claim is not None and not claim.written else None
                    done = self.store.transition(doc_id, lambda cur: sm.complete_step(claimed(cur), step_name, attempt, updates, self.spec, self.clock()),
                                                 known=known)
                except TransientError as err:
                    # The work is done but not recorded: give the step back, so the retry this
                    # answer asks for runs it again instead of finding it busy under our lease.
                    self._release(doc_id, step_name, attempt, err.reason, claimed)
                    raise
                except PermanentError as err:
                    # Firestore refused the record with the updates (over 1 MiB): the same write is
                    # refused on every retry. The failure is recorded without them, so it fits.
                    log.error("step result refused", reason=err.reason, detail=err.detail)
                    return self._record_failure(doc_id, step_name, attempt, err.reason, False, claimed=claimed)
                if done.outcome != "completed":
                    log.warning("result discarded", detail=done.detail)
                    return done
                rec = done.document.steps[step_name]
                log.info("step succeeded", duration_ms=rec.duration_ms, status=done.document.status)
                if nxt is None:
                    # A failed publish leaves the mark: the sweeper sends it (a redelivery would
                    # find the document done), so the delivery is acknowledged either way.
                    self.announcer.announce_outcome(done.document)
                else:
                    try:
                        self.dispatcher.hand_on(doc_id, nxt.name, doc.trace_id)
                    except TransientError:
                        mark_hand_on_failed(self.store, doc_id, nxt.name, self.clock)
                        raise
                return done

    def _last_task_attempt(self, attempt: QueueAttempt | None, first_started: datetime | None) -> bool:
        queue = self.spec.queues.get(attempt.queue) if attempt else None
        return queue is not None and attempt.is_last(queue.retry, first_started, self.clock())

    def _release(self, doc_id: str, step_name: str, attempt: int, reason: str, claimed=_as_read) -> None:
        try:
            self.store.transition(doc_id, lambda cur: sm.fail_step(claimed(cur), step_name, attempt, reason, True, self.spec, self.clock()))
        except TransientError as err:  # Firestore itself is away: the lease runs out, then the sweeper
            log.warning("could not give the step back; it waits for its lease to expire", error=err.reason)

    def _send_unconfirmed_event(self, doc_id: str) -> None:
        doc = self.store.get(doc_id)
        if doc is not None and doc.event_pending_since is not None:
            with bind(trace_id=doc.trace_id):
                if self.announcer.announce_outcome(doc):
                    log.warning("output event sent by a redelivery: the delivery that made the document terminal did not confirm it",
                                status=doc.status)

    def _resend_hand_on(self, doc_id: str, decision: Decision) -> None:
        if decision.hand_on:
            with bind(trace_id=decision.trace_id):
                self.dispatcher.hand_on(doc_id, decision.hand_on, decision.trace_id)
                log.warning("next step handed on again: its hand-on was lost", next_step=decision.hand_on)

    def _record_failure(self, doc_id: str, step_name: str, attempt: int, reason: str, retryable: bool,
                        final_delivery: bool = False, claimed=_as_read) -> Decision:
        """`claimed`: the record with the attempt's claim applied (a first delivery's claim is
        written with its failure, so the failed attempt is counted)."""
        if retryable and final_delivery:
            reason, retryable = f"{step_name} gave up after {attempt} deliveries: {reason}", False
        decision = self.store.transition(doc_id, lambda cur: sm.fail_step(claimed(cur), step_name, attempt, reason, retryable, self.spec, self.clock()))
        if decision.outcome == "released":
            log.warning("step attempt failed, will retry", reason=reason, attempt=attempt)
            raise TransientError(reason)
        if decision.outcome == "failed":
            log.error("step failed", reason=reason, attempt=attempt)
            self.announcer.announce_failure(decision.document)
        return decision


def public_view(doc: Document) -> dict:
    """What GET /documents/{id} shows."""
    return doc.model_dump(mode="json", exclude={"trace_id", "event_pending_since"})
