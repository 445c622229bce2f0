"""The document model and its state machine.

A document's `status` names where it is: `received` (registered, first step queued), then each
step's status (`extracting`, `analysing`, `indexing`) while that step is queued or running, then
`done` or `failed`. Each step has its own record (state, attempts, timings, last error).

Every transition is a pure function here, applied by the store to the record as read and written
only if nobody wrote it since (DocumentStore.transition), so duplicate and out-of-order deliveries
are decided in one place:
- a step already succeeded, or a document already terminal: the delivery is a duplicate (no effect);
- a step not yet queued (its predecessor has not finished): not ready, retry later;
- a step running under a live lease: another delivery owns it (busy: retried, not acknowledged,
  with the lease's remaining time as a hint). The lease is short (`delivery.lease_s`) and renewed
  while the owner works (`renew_lease`); once it runs out (the instance died), the next delivery
  takes the step over, the sweeper only if no delivery is left;
- a duplicate resends the next step's hand-on only if it was lost (`lost_hand_on`), and records
  the resend, as the sweeper records a re-drive (`redrive`): hand-ons do not multiply; while that
  hand-on may still be in flight (HAND_ON_GRACE_S) the duplicate is retried, not acknowledged, so a
  sender that died between its commit and its hand-on is covered by the redelivery, not the sweeper;
- a delivery to a terminal document whose output event is unconfirmed is retried for
  EVENT_CONFIRM_GRACE_S, then sends the event itself (`announce`);
- completing or failing an attempt that is no longer the current one: stale (no effect).
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Literal

from pydantic import BaseModel, Field

from contentflow.spec import PipelineSpec

DOCUMENT_ID_PATTERN = r"^[0-9a-f]{32}$"
TERMINAL = {"done", "failed"}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_trace_id() -> str:
    return secrets.token_hex(16)


def document_id_for(bucket: str, name: str, md5_hash: str | None, generation: str | int | None) -> str:
    """Deterministic id of an uploaded object.

    Keyed by bucket, object name and content (the MD5 that GCS reports), so a re-delivered event and
    a re-upload of identical bytes land on the same record, while a changed file is a new document.
    Objects without an MD5 (composite uploads) fall back to their generation.
    """
    content_key = f"md5:{md5_hash}" if md5_hash else f"generation:{generation}"
    return hashlib.sha256(f"{bucket}\n{name}\n{content_key}".encode()).hexdigest()[:32]


def md5_base64(data: bytes) -> str:
    """The MD5 in the form GCS reports it (`md5Hash`)."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


class StepState(str, Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class StepRecord(BaseModel):
    state: StepState = StepState.queued
    attempts: int = 0
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    lease_until: datetime | None = None
    first_started_at: datetime | None = None  # the first attempt (Cloud Tasks counts its retry duration from it)
    duration_ms: int | None = None
    error: str | None = None
    # Hand-ons sent again for this step while it waited, queued and never started (by a duplicate
    # delivery or the sweeper): how many, and the last, so a resend is rate-bounded and a
    # hand-on still in flight is not mistaken for a lost one.
    redrives: int = Field(default=0, ge=0)
    redriven_at: datetime | None = None
    hand_on_failed_at: datetime | None = None  # the last hand-on's publish is known to have failed


class Source(BaseModel):
    bucket: str
    name: str
    generation: str | None = None
    md5_hash: str | None = None
    size: int | None = Field(default=None, ge=0)
    content_type: str | None = None
    uploaded_at: datetime | None = None
    via: Literal["storage", "api", "url"] = "storage"
    url: str | None = None  # a document the pipeline fetched: where from


class Failure(BaseModel):
    step: str
    reason: str
    at: datetime


class Document(BaseModel):
    id: str = Field(pattern=DOCUMENT_ID_PATTERN)
    status: str
    source: Source
    trace_id: str
    created_at: datetime
    updated_at: datetime
    steps: dict[str, StepRecord] = Field(default_factory=dict)
    error: Failure | None = None
    retries: int = 0  # times an operator re-drove it after a failure (POST /documents/{id}:retry)
    # Filled by the steps: statistics and previews (small), and where large outputs live.
    content_sha256: str | None = None
    preview: str | None = None
    stats: dict = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)
    metadata: dict = Field(default_factory=dict)
    # Filled by analyse (bounded, see inference/port.py) and index.
    analysis: dict | None = None
    labels: list[str] = Field(default_factory=list)
    index: dict | None = None
    # The embedding space (backend:model:dimension) of the document's chunk vectors: search
    # coverage counts on it, and the backfill re-embeds documents whose space is not the current one.
    embedding_space: str | None = None
    # A done document the backfill could not re-embed for good (its chunks are gone, say): the
    # space it failed for and why, so later passes skip it instead of retrying it forever.
    reembed_failed: dict | None = None
    # Outbox: set with the terminal state (done or failed), cleared once its event
    # (`document.processed` / `document.failed`) is published, so an event lost to a failed
    # publish is sent again by the sweeper rather than never (events.py).
    event_pending_since: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_firestore(self) -> dict:
        return self.model_dump(mode="python", exclude={"id"})

    @classmethod
    def from_firestore(cls, doc_id: str, data: dict) -> Document:
        return cls.model_validate({**data, "id": doc_id})


# --- decisions -------------------------------------------------------------------------------

# How long the delivery that makes a document terminal may take to confirm its output event (a
# publish with its timeout, settings.publish_timeout_s, 10 s by default, and some margin); past it, a
# redelivery that finds the event unconfirmed sends it itself.
EVENT_CONFIRM_GRACE_S = 15.0


class Decision(BaseModel):
    """What a transition decided. `document` is the new state to write (None: write nothing)."""

    outcome: Literal["run", "duplicate", "busy", "not_ready", "gave_up", "completed", "stale", "failed", "released", "renewed", "claimed",
                     "created", "reindexed", "retried", "conflict", "redriven", "marked"]
    document: Document | None = None
    attempt: int = 0
    detail: str = ""
    # A duplicate delivery that finds the next step queued and never started, its hand-on lost
    # (see lost_hand_on): the delivery sends it again (the resend is recorded in `document`).
    hand_on: str | None = None
    trace_id: str | None = None
    # `busy`: seconds until the owner's lease expires (when a redelivery can take the step over).
    retry_after_s: int | None = None
    # A duplicate delivery that finds the document terminal with its output event never confirmed
    # (the delivery that committed it died before publishing): this delivery sends the event.
    announce: bool = False


# How long a hand-on may stay queued and unstarted before a duplicate delivery takes it for lost
# and sends it again: longer than a publish or an enqueue with its timeout (10 s) takes, so the
# delivery that committed it has confirmed it or died. Before that, the duplicate is retried (the
# hand-on may be in flight); after it, resending is harmless: a task is named after the document
# and step (Cloud Tasks drops the copy), an extract request found started is a duplicate. Under a
# backlog a hand-on legitimately waits longer: the resend is recorded, so it happens at most once
# per grace period whatever the number of duplicates.
HAND_ON_GRACE_S = 15


def lost_hand_on(doc: Document, step_name: str | None, now: datetime) -> str | None:
    """`step_name` if the document waits in it, queued and never attempted, and its last hand-on
    is known to have failed or was sent more than HAND_ON_GRACE_S ago (else it is in flight)."""
    rec = doc.steps.get(step_name) if step_name else None
    if rec is None or rec.state != StepState.queued or rec.attempts != 0:
        return None
    sent = [t for t in (rec.queued_at, rec.redriven_at) if t is not None]
    last_sent = max(sent) if sent else None
    if last_sent is None or (rec.hand_on_failed_at is not None and rec.hand_on_failed_at >= last_sent):
        return step_name
    return step_name if (now - last_sent).total_seconds() >= HAND_ON_GRACE_S else None


def _resent(doc: Document, step_name: str, now: datetime) -> Document:
    """The document with a resent hand-on recorded on its step (the sweeper's next look counts
    from now)."""
    doc = doc.model_copy(deep=True)
    rec = doc.steps[step_name]
    rec.redrives += 1
    rec.redriven_at = now
    doc.updated_at = now
    return doc


def hand_on_in_flight(doc: Document, step_name: str | None, now: datetime) -> int | None:
    """Seconds left of the grace period if `step_name` waits queued and never attempted with a
    hand-on sent less than HAND_ON_GRACE_S ago and not known to have failed; else None."""
    rec = doc.steps.get(step_name) if step_name else None
    if rec is None or rec.state != StepState.queued or rec.attempts != 0 or lost_hand_on(doc, step_name, now):
        return None
    last_sent = max(t for t in (rec.queued_at, rec.redriven_at) if t is not None)
    return max(1, math.ceil(HAND_ON_GRACE_S - (now - last_sent).total_seconds()))


def _duplicate(doc: Document, next_step: str | None, detail: str, now: datetime, retry_in_flight: bool = True) -> Decision:
    """A duplicate delivery; it resends the next step's hand-on only if that one was lost. While
    the hand-on may still be in flight it is retried, not acknowledged: if the delivery that
    committed the step died before handing on, this retry is what sends it, not the sweeper."""
    wait = hand_on_in_flight(doc, next_step, now) if retry_in_flight else None
    if wait is not None:
        return Decision(outcome="busy", detail=f"{detail}; the hand-on to {next_step} may still be in flight",
                        retry_after_s=wait, trace_id=doc.trace_id)
    lost = lost_hand_on(doc, next_step, now)
    return Decision(outcome="duplicate", detail=detail, hand_on=lost, trace_id=doc.trace_id,
                    document=_resent(doc, lost, now) if lost else None)


def hand_on_failed(doc: Document | None, step_name: str, now: datetime) -> Decision:
    """The hand-on to `step_name` could not be published: marked, so the redelivery that the
    failing function asks for resends it at once instead of waiting out the grace period."""
    rec = doc.steps.get(step_name) if doc is not None and not doc.terminal else None
    if rec is None or rec.state != StepState.queued or rec.attempts != 0:
        return Decision(outcome="stale", detail=f"step {step_name} is no longer waiting for its hand-on")
    doc = doc.model_copy(deep=True)
    doc.steps[step_name].hand_on_failed_at = now
    return Decision(outcome="marked", document=doc)


def register(existing: Document | None, doc_id: str, source: Source, spec: PipelineSpec, now: datetime,
             resend_lost_hand_on: bool = True, redelivery: bool = True) -> Decision:
    """`redelivery`: the caller is a trigger that retries a busy answer (an upload event); the api
    registering a submission answers its client instead, so a duplicate is just a duplicate. Only
    a dropped file's own event is retried while the first hand-on may be in flight: it alone sent
    that hand-on. The api and the URL fetcher hand on themselves before answering, so their
    object's upload event is acknowledged at once (holding it would let a retry re-register a
    document deleted meanwhile)."""
    if existing is not None:
        detail = f"already registered ({existing.status})"
        if not resend_lost_hand_on:
            return Decision(outcome="duplicate", detail=detail, trace_id=existing.trace_id)
        return _duplicate(existing, spec.first_step().name, detail, now,
                          retry_in_flight=redelivery and existing.source.via == "storage")
    first = spec.first_step().name
    doc = Document(
        id=doc_id,
        status="received",
        source=source,
        trace_id=new_trace_id(),
        created_at=now,
        updated_at=now,
        steps={first: StepRecord(queued_at=now)},
        metadata={"filename": source.name.rsplit("/", 1)[-1], "content_type": source.content_type, "size": source.size},
    )
    return Decision(outcome="created", document=doc)


FETCH_STEP = "fetch"  # a URL document's first, step-less stage: the fetch function fills its source
FETCH_STUCK_AFTER_S = 300  # the sweeper re-enqueues a fetch that has not moved for this long


def register_url(existing: Document | None, doc_id: str, url: str, bucket: str, filename: str | None,
                 now: datetime) -> Decision:
    """A document submitted as a URL: recorded at once (status `fetching`), its source filled in
    when the fetch function has stored the bytes in the inbox bucket."""
    if existing is not None:
        return Decision(outcome="duplicate", detail=f"already registered ({existing.status})", trace_id=existing.trace_id)
    doc = Document(id=doc_id, status="fetching", source=Source(bucket=bucket, name="", via="url", url=url),
                   trace_id=new_trace_id(), created_at=now, updated_at=now,
                   steps={FETCH_STEP: StepRecord(queued_at=now)}, metadata={"filename": filename})
    return Decision(outcome="created", document=doc)


def begin_fetch(doc: Document | None, now: datetime, lease_s: float, max_attempts: int) -> Decision:
    if doc is None:
        return Decision(outcome="stale", detail="no such document (deleted?)")
    rec = doc.steps.get(FETCH_STEP)
    if doc.status != "fetching" or rec is None:
        return Decision(outcome="duplicate", detail=f"document already {doc.status}")
    if rec.state == StepState.running and rec.lease_until and rec.lease_until > now:
        return Decision(outcome="busy", detail=f"fetch running until {rec.lease_until.isoformat()}",
                        retry_after_s=math.ceil((rec.lease_until - now).total_seconds()))
    doc = doc.model_copy(deep=True)
    rec = doc.steps[FETCH_STEP]
    if rec.attempts >= max_attempts:
        reason = f"gave up after {rec.attempts} attempts: {rec.error or 'the fetch never finished'}"
        return Decision(outcome="gave_up", document=_failed(doc, FETCH_STEP, reason, now), detail=reason)
    rec.state = StepState.running
    rec.attempts += 1
    rec.started_at = now
    rec.first_started_at = rec.first_started_at or now
    rec.lease_until = now + timedelta(seconds=lease_s)
    doc.updated_at = now
    return Decision(outcome="run", document=doc, attempt=rec.attempts)


def fetched(doc: Document | None, attempt: int, source: Source, spec: PipelineSpec, now: datetime) -> Decision:
    """The fetch stored the bytes: the document joins the pipeline at its first step."""
    if doc is None or doc.status != "fetching":
        return Decision(outcome="stale", detail="document missing or no longer fetching")
    rec = doc.steps.get(FETCH_STEP)
    if rec is None or rec.state != StepState.running or rec.attempts != attempt:
        return Decision(outcome="stale", detail=f"fetch attempt {attempt} is no longer current")
    doc = doc.model_copy(deep=True)
    rec = doc.steps[FETCH_STEP]
    rec.state, rec.finished_at, rec.lease_until, rec.error = StepState.succeeded, now, None, None
    if rec.started_at:
        rec.duration_ms = int((now - rec.started_at).total_seconds() * 1000)
    first = spec.first_step().name
    doc.source = source
    doc.steps[first] = StepRecord(queued_at=now)
    doc.status = "received"
    doc.metadata = {"filename": doc.metadata.get("filename") or source.name.rsplit("/", 1)[-1],
                    "content_type": source.content_type, "size": source.size}
    doc.updated_at = now
    return Decision(outcome="completed", document=doc, attempt=attempt, hand_on=first, trace_id=doc.trace_id)


def retry_failed(doc: Document | None, spec: PipelineSpec, now: datetime) -> Decision:
    """An operator re-drives a failed document from the step that failed, with fresh attempts."""
    if doc is None:
        return Decision(outcome="stale", detail="no such document")
    if doc.status != "failed" or doc.error is None:
        return Decision(outcome="conflict", detail=f"only a failed document can be retried; this one is {doc.status}")
    step = doc.error.step
    if step != FETCH_STEP and step not in {s.name for s in spec.steps}:
        return Decision(outcome="conflict", detail=f"the failed step {step!r} is no longer in the pipeline")
    doc = doc.model_copy(deep=True)
    doc.steps[step] = StepRecord(queued_at=now)
    doc.status = "fetching" if step == FETCH_STEP else spec.step(step).status
    doc.error = None
    doc.event_pending_since = None
    doc.retries += 1
    doc.updated_at = now
    return Decision(outcome="retried", document=doc, hand_on=step, trace_id=doc.trace_id)


def begin_step(doc: Document | None, step_name: str, spec: PipelineSpec, now: datetime, lease_s: float,
               event_grace_s: float = EVENT_CONFIRM_GRACE_S) -> Decision:
    if doc is None:
        return Decision(outcome="not_ready", detail="document not registered yet")
    if doc.terminal:
        if doc.event_pending_since is not None:
            # The output event is not confirmed: the delivery that committed this state may still
            # be publishing it (retry when it has had the time to), or died first (send it now).
            waited = (now - doc.event_pending_since).total_seconds()
            if waited < event_grace_s:
                return Decision(outcome="busy", detail=f"document already {doc.status}, its output event not yet confirmed",
                                retry_after_s=max(1, math.ceil(event_grace_s - waited)))
            return Decision(outcome="duplicate", detail=f"document already {doc.status}, its output event never confirmed",
                            announce=True, trace_id=doc.trace_id)
        return Decision(outcome="duplicate", detail=f"document already {doc.status}")
    rec = doc.steps.get(step_name)
    if rec is None:
        return Decision(outcome="not_ready", detail=f"step {step_name} not queued yet (status {doc.status})")
    if rec.state in (StepState.succeeded, StepState.failed):
        nxt = spec.next_step(step_name) if rec.state == StepState.succeeded else None
        return _duplicate(doc, nxt.name if nxt else None, f"step {step_name} already {rec.state.value}", now)
    if rec.state == StepState.running and rec.lease_until and rec.lease_until > now:
        return Decision(outcome="busy", detail=f"step {step_name} running until {rec.lease_until.isoformat()}",
                        retry_after_s=math.ceil((rec.lease_until - now).total_seconds()))
    step = spec.step(step_name)
    doc = doc.model_copy(deep=True)
    rec = doc.steps[step_name]
    if rec.attempts >= step.max_attempts:
        reason = f"gave up after {rec.attempts} attempts: {rec.error or 'the step never finished'}"
        return Decision(outcome="gave_up", document=_failed(doc, step_name, reason, now), detail=reason)
    rec.state = StepState.running
    rec.attempts += 1
    rec.started_at = now
    rec.first_started_at = rec.first_started_at or now
    rec.finished_at = None
    rec.lease_until = now + timedelta(seconds=lease_s)
    doc.status = step.status
    doc.updated_at = now
    return Decision(outcome="run", document=doc, attempt=rec.attempts)


def renew_lease(doc: Document | None, step_name: str, attempt: int, now: datetime, lease_s: float,
                until: datetime) -> Decision:
    """The owner of a running attempt is alive: its lease runs `lease_s` from now, but never past
    `until` (the start plus the function's timeout, when the platform has ended the request)."""
    rec = _current_attempt(doc, step_name, attempt)
    if rec is None:
        return Decision(outcome="stale", detail=f"attempt {attempt} of {step_name} is no longer current")
    lease_until = min(now + timedelta(seconds=lease_s), until)
    if rec.lease_until and rec.lease_until >= lease_until:
        return Decision(outcome="stale", detail="the lease already runs that long")
    doc = doc.model_copy(deep=True)
    doc.steps[step_name].lease_until = lease_until
    return Decision(outcome="renewed", document=doc, attempt=attempt)


def with_deferred_claim(doc: Document | None, step_name: str, attempt: int, spec: PipelineSpec,
                        started: datetime, lease_s: float) -> Document | None:
    """A first delivery runs its step without writing the claim first (one write fewer per step;
    see Pipeline.run_step): when it commits, the claim is applied as begin_step would have applied
    it at `started`, if the step still waits as it was read (queued, `attempt` - 1 attempts made).
    The record as it is if this attempt's claim was written meanwhile (the work ran long: the
    start is ours), or if the step moved on (the commit then finds the attempt no longer current).
    None if another delivery claimed the same attempt number meanwhile (a duplicate that retried
    while this one worked unclaimed): that attempt is theirs to commit, not ours."""
    if doc is None or doc.terminal:
        return doc
    if (current := _current_attempt(doc, step_name, attempt)) is not None:
        return doc if current.started_at == started else None
    rec = doc.steps.get(step_name)
    if rec is None or rec.state != StepState.queued or rec.attempts != attempt - 1:
        return doc
    begun = begin_step(doc, step_name, spec, started, lease_s)
    return begun.document if begun.outcome == "run" and begun.attempt == attempt else doc


def claim_deferred(doc: Document | None, step_name: str, attempt: int, spec: PipelineSpec, started: datetime,
                   now: datetime, lease_s: float, until: datetime) -> Decision:
    """A first delivery's work runs long: its claim is written now, with a lease from now (the
    lease keeper then renews it), so duplicates find the step busy and the sweeper leaves it."""
    claimed = with_deferred_claim(doc, step_name, attempt, spec, started, lease_s)
    if claimed is None or claimed is doc or _current_attempt(claimed, step_name, attempt) is None:
        return Decision(outcome="stale", detail=f"attempt {attempt} of {step_name} is no longer current")
    claimed.steps[step_name].lease_until = min(now + timedelta(seconds=lease_s), until)
    return Decision(outcome="claimed", document=claimed, attempt=attempt)


def _current_attempt(doc: Document | None, step_name: str, attempt: int) -> StepRecord | None:
    if doc is None or doc.terminal:
        return None
    rec = doc.steps.get(step_name)
    if rec is None or rec.state != StepState.running or rec.attempts != attempt:
        return None
    return rec


def complete_step(
    doc: Document | None, step_name: str, attempt: int, updates: dict, spec: PipelineSpec, now: datetime
) -> Decision:
    if _current_attempt(doc, step_name, attempt) is None:
        return Decision(outcome="stale", detail=f"attempt {attempt} of {step_name} is no longer current")
    doc = doc.model_copy(deep=True, update=updates)
    rec = doc.steps[step_name]
    rec.state = StepState.succeeded
    rec.finished_at = now
    rec.lease_until = None
    rec.error = None
    if rec.started_at:
        rec.duration_ms = int((now - rec.started_at).total_seconds() * 1000)
    nxt = spec.next_step(step_name)
    if nxt is None:
        doc.status = "done"
        doc.event_pending_since = now  # outbox: `document.processed` goes out after this commit
    else:
        doc.steps[nxt.name] = StepRecord(queued_at=now)
        doc.status = nxt.status
    doc.updated_at = now
    return Decision(outcome="completed", document=doc, attempt=attempt)


def _failed(doc: Document, step_name: str, reason: str, now: datetime) -> Document:
    rec = doc.steps.setdefault(step_name, StepRecord())
    rec.state = StepState.failed
    rec.error = reason
    rec.finished_at = now
    rec.lease_until = None
    doc.status = "failed"
    doc.error = Failure(step=step_name, reason=reason, at=now)
    doc.updated_at = now
    doc.event_pending_since = now
    return doc


def fail_step(
    doc: Document | None, step_name: str, attempt: int | None, reason: str, retryable: bool, spec: PipelineSpec, now: datetime
) -> Decision:
    """Records a failed attempt. `attempt=None` fails the step whatever attempt is current
    (the dead-letter path, where the giving up happened outside the function)."""
    if doc is None or doc.terminal:
        return Decision(outcome="stale", detail="document missing or already terminal")
    if attempt is not None and _current_attempt(doc, step_name, attempt) is None:
        return Decision(outcome="stale", detail=f"attempt {attempt} of {step_name} is no longer current")
    if attempt is None and (rec := doc.steps.get(step_name)) is not None:
        # A late dead letter must not undo progress made since (a re-driven attempt that succeeded,
        # or one running now).
        if rec.state == StepState.succeeded:
            return Decision(outcome="stale", detail=f"step {step_name} has succeeded since")
        if rec.state == StepState.running and rec.lease_until and rec.lease_until > now:
            return Decision(outcome="busy", detail=f"step {step_name} is running until {rec.lease_until.isoformat()}")
    doc = doc.model_copy(deep=True)
    rec = doc.steps.setdefault(step_name, StepRecord())
    if retryable:
        # Released for the next delivery. The trigger's dead-letter policy ends a step that keeps
        # failing; begin_step's attempt cap is the safety net (e.g. repeated sweeper re-drives).
        rec.state = StepState.queued
        rec.lease_until = None
        rec.error = reason
        doc.updated_at = now
        return Decision(outcome="released", document=doc, attempt=rec.attempts, detail=reason)
    return Decision(outcome="failed", document=_failed(doc, step_name, reason, now), detail=reason)


def reindexed(doc: Document | None, updates: dict, space_key: str, now: datetime) -> Decision:
    """A done document re-embedded under the current model (the backfill): only its index fields
    change, and only if it is still done and not already in that space."""
    if doc is None or doc.status != "done":
        return Decision(outcome="stale", detail="document missing or not done")
    if doc.embedding_space == space_key:
        return Decision(outcome="duplicate", detail=f"already embedded in {space_key}")
    return Decision(outcome="reindexed", document=doc.model_copy(deep=True, update={**updates, "reembed_failed": None,
                                                                                     "updated_at": now}))


def reembed_refused(doc: Document | None, space_key: str, reason: str, now: datetime) -> Decision:
    """The backfill cannot re-embed a done document (a permanent error): recorded, so it is not
    enqueued again for this space and coverage can complete without it."""
    if doc is None or doc.status != "done" or doc.embedding_space == space_key:
        return Decision(outcome="stale", detail="document missing, not done or already in the space")
    failed = {"space": space_key, "reason": reason[:300], "at": now}
    return Decision(outcome="failed", document=doc.model_copy(deep=True, update={"reembed_failed": failed}), detail=reason)


def redrive(doc: Document | None, spec: PipelineSpec, now: datetime) -> Decision:
    """The sweeper re-drives a stuck document: decided again on the current record and recorded
    (redrives, redriven_at, and updated_at, from which the next re-drive waits stuck_after_s), so
    repeated or concurrent sweeps re-send a hand-on at most once per stuck period."""
    step = stuck_step(doc, spec, now) if doc is not None else None
    if step is None:
        return Decision(outcome="stale", detail="not stuck (any more)")
    return Decision(outcome="redriven", document=_resent(doc, step, now), hand_on=step, trace_id=doc.trace_id)


def stuck_step(doc: Document, spec: PipelineSpec, now: datetime) -> str | None:
    """The step a non-terminal document is stuck in, or None if it is moving. A re-drive touches
    `updated_at`, so a document is stuck again only stuck_after_s after its last re-drive."""
    if doc.terminal:
        return None
    if doc.status == "fetching":  # a URL document: its fetch task may have been lost
        rec = doc.steps.get(FETCH_STEP)
        if rec is None or (rec.state == StepState.running and rec.lease_until and rec.lease_until > now):
            return None
        return FETCH_STEP if (now - doc.updated_at).total_seconds() >= FETCH_STUCK_AFTER_S else None
    for step in spec.steps:
        rec = doc.steps.get(step.name)
        if rec is None or rec.state in (StepState.succeeded, StepState.failed):
            continue
        if rec.state == StepState.running and rec.lease_until and rec.lease_until > now:
            return None
        if (now - doc.updated_at).total_seconds() >= step.stuck_after_s:
            return step.name
        return None
    return None
