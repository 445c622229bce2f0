"""The use cases: register, run a step, sweep, dead-letter. Trigger-agnostic: the functions decode
their trigger and call these; every state change goes through DocumentStore.transition."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from contentflow import documents as sm
from contentflow.blobs import BlobStore
from contentflow.dispatch import Dispatcher
from contentflow.documents import Decision, Document, Source
from contentflow.errors import ContentflowError, InvalidInput, NotReady, TransientError
from contentflow.logs import annotate, bind, get_logger
from contentflow.messages import VIA_METADATA_KEY, StorageObject, document_event
from contentflow.settings import Settings
from contentflow.store import DocumentStore

log = get_logger("contentflow.pipeline")

OUTPUT_TOPIC = "document-events"
# How long a failure event may stay unconfirmed before the sweeper sends it (the failing
# delivery confirms its own within seconds).
FAILURE_EVENT_GRACE_S = 120
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class Pipeline:
    def __init__(self, settings: Settings, store: DocumentStore, blobs: BlobStore | None,
                 dispatcher: Dispatcher, clock: Callable[[], datetime] = sm.utcnow):
        self.settings = settings
        self.spec = settings.spec
        self.store = store
        self.blobs = blobs
        self.dispatcher = dispatcher
        self.clock = clock
        self._work: dict[str, Callable[[Document], dict]] = {
            "extract": self._extract, "analyse": self._analyse, "index": self._index,
        }

    # --- registration ----------------------------------------------------------------------
    def register_object(self, obj: StorageObject, resend_lost_hand_on: bool = True) -> Decision:
        """`resend_lost_hand_on`: a duplicate event for a document whose first step never started
        hands it on again (the first hand-on's publish may have failed after the commit)."""
        inbox = self.settings.bucket("inbox")
        if obj.bucket != inbox:
            raise InvalidInput(f"object is not in the inbox bucket {inbox}: gs://{obj.bucket}/{obj.name}")
        if obj.name.endswith("/"):
            raise InvalidInput(f"folder placeholder, not a document: {obj.name}")
        doc_id = sm.document_id_for(obj.bucket, obj.name, obj.md5Hash, obj.generation)
        via = obj.via
        source = Source(bucket=obj.bucket, name=obj.name, generation=obj.generation, md5_hash=obj.md5Hash,
                        size=obj.size, content_type=obj.contentType, uploaded_at=obj.timeCreated, via=via)
        annotate(document_id=doc_id)
        with bind(document_id=doc_id):
            decision = self.store.transition(doc_id, lambda cur: sm.register(cur, doc_id, source, self.spec, self.clock()))
            if decision.outcome == "created":
                doc = decision.document
                annotate(trace_id=doc.trace_id)
                with bind(trace_id=doc.trace_id):
                    log.info("document registered", source=f"gs://{obj.bucket}/{obj.name}", size=obj.size, via=via)
                    self.dispatcher.hand_on(doc.id, self.spec.first_step().name, doc.trace_id)
            else:
                log.info("duplicate upload event ignored", detail=decision.detail)
                if resend_lost_hand_on:
                    self._resend_hand_on(doc_id, decision)
            return decision

    def submit(self, filename: str, data: bytes, content_type: str | None) -> Decision:
        """The api's way in: the bytes go to the inbox bucket, so they take the dropped file's path."""
        if not data:
            raise InvalidInput("empty document: send some content")
        if len(data) > self.settings.api_max_upload_bytes:
            raise InvalidInput(f"document too large for the API: {len(data)} bytes > {self.settings.api_max_upload_bytes}; upload it to the inbox bucket instead")
        safe = _SAFE_NAME.sub("_", filename.rsplit("/", 1)[-1]).strip("._")[:120] or "document.txt"
        # Content-addressed name: posting the same bytes twice is one object, one document.
        name = f"api/{hashlib.sha256(data).hexdigest()[:24]}/{safe}"
        stored = self.blobs.create_if_absent(self.settings.bucket("inbox"), name, data, content_type or "application/octet-stream",
                                             metadata={VIA_METADATA_KEY: "api"})
        obj = StorageObject(bucket=stored.bucket, name=stored.name, generation=stored.generation,
                            md5Hash=stored.md5_hash, size=stored.size, contentType=stored.content_type,
                            timeCreated=self.clock(), metadata={VIA_METADATA_KEY: "api"})
        # If this call wrote the object, its own upload event hands the document on: a duplicate
        # registration here is that race, not a lost hand-on.
        decision = self.register_object(obj, resend_lost_hand_on=not stored.created)
        if decision.document is None:  # already registered: answer with what is there
            doc_id = sm.document_id_for(obj.bucket, obj.name, obj.md5Hash, obj.generation)
            # The upload event for the object written just now may have registered it first:
            # that is still this submission, not a duplicate of an earlier one.
            outcome = "created" if stored.created else "duplicate"
            decision = Decision(outcome=outcome, document=self.store.get(doc_id), detail=decision.detail)
        return decision

    # --- steps -----------------------------------------------------------------------------
    def run_step(self, step_name: str, doc_id: str, final_delivery: bool = False) -> Decision:
        """Runs one step once: claim it, do the work, commit, hand on. Raises TransientError
        (retry) or returns the decision (ack). `final_delivery`: the trigger will not deliver
        again (a Cloud Tasks queue out of attempts), so a transient failure ends the document."""
        step = self.spec.step(step_name)
        lease_s = self.spec.functions[step.function].runtime.timeout_s
        annotate(document_id=doc_id, step=step_name)
        with bind(document_id=doc_id, step=step_name):
            begun = self.store.transition(doc_id, lambda cur: sm.begin_step(cur, step_name, self.spec, self.clock(), lease_s))
            if begun.outcome == "not_ready":
                raise NotReady(begun.detail)
            if begun.outcome in ("duplicate", "busy"):
                log.info("delivery ignored", outcome=begun.outcome, detail=begun.detail)
                self._resend_hand_on(doc_id, begun)
                return begun
            doc = begun.document
            annotate(trace_id=doc.trace_id)
            with bind(trace_id=doc.trace_id):
                if begun.outcome == "gave_up":
                    log.error("step failed", reason=begun.detail)
                    self._announce_failure(doc)
                    return begun
                log.info("step started", attempt=begun.attempt)
                try:
                    updates = self._work[step_name](doc)
                except ContentflowError as err:
                    return self._record_failure(doc_id, step_name, begun.attempt, err.reason, err.retryable, final_delivery)
                except Exception as err:  # a bug or an unexpected library error: retry, then dead-letter
                    log.exception("step crashed")
                    return self._record_failure(doc_id, step_name, begun.attempt,
                                                f"internal error in {step_name}: {type(err).__name__}: {str(err)[:300]}", True, final_delivery)
                nxt = self.spec.next_step(step_name)
                try:
                    if nxt is None:
                        # Last step: the output event goes out before `done` is written, so a crash in
                        # between re-runs the step (a duplicate event with the same id), never loses it.
                        final = doc.model_copy(update={**updates, "status": "done", "updated_at": self.clock()})
                        self._announce(final, "document.processed")
                    done = self.store.transition(doc_id, lambda cur: sm.complete_step(cur, step_name, begun.attempt, updates, self.spec, self.clock()))
                except TransientError as err:
                    # The work is done but not recorded: give the step back, so the retry this
                    # answer asks for runs it again instead of finding it busy under our lease.
                    self._release(doc_id, step_name, begun.attempt, err.reason)
                    raise
                if done.outcome != "completed":
                    log.warning("result discarded", detail=done.detail)
                    return done
                rec = done.document.steps[step_name]
                log.info("step succeeded", duration_ms=rec.duration_ms, status=done.document.status)
                if nxt is not None:
                    self.dispatcher.hand_on(doc_id, nxt.name, doc.trace_id)
                return done

    def _release(self, doc_id: str, step_name: str, attempt: int, reason: str) -> None:
        try:
            self.store.transition(doc_id, lambda cur: sm.fail_step(cur, step_name, attempt, reason, True, self.spec, self.clock()))
        except TransientError as err:  # Firestore itself is away: the lease runs out, then the sweeper
            log.warning("could not give the step back; it waits for its lease to expire", error=err.reason)

    def _resend_hand_on(self, doc_id: str, decision: Decision) -> None:
        if decision.hand_on:
            with bind(trace_id=decision.trace_id):
                self.dispatcher.hand_on(doc_id, decision.hand_on, decision.trace_id)
                log.warning("next step handed on again: it was queued but never started", next_step=decision.hand_on)

    def _record_failure(self, doc_id: str, step_name: str, attempt: int, reason: str, retryable: bool,
                        final_delivery: bool = False) -> Decision:
        if retryable and final_delivery:
            reason, retryable = f"{step_name} gave up after {attempt} deliveries: {reason}", False
        decision = self.store.transition(doc_id, lambda cur: sm.fail_step(cur, step_name, attempt, reason, retryable, self.spec, self.clock()))
        if decision.outcome == "released":
            log.warning("step attempt failed, will retry", reason=reason, attempt=attempt)
            raise TransientError(reason)
        if decision.outcome == "failed":
            log.error("step failed", reason=reason, attempt=attempt)
            self._announce_failure(decision.document)
        return decision

    def _announce(self, doc: Document, event_type: str) -> None:
        data, attributes = document_event(doc, event_type)
        self.dispatcher.publish(OUTPUT_TOPIC, data, attributes)

    def _announce_failure(self, doc: Document) -> bool:
        """Publishes `document.failed` for a failure already written, then clears the record's
        outbox mark. A failed publish is not retried by the trigger (the document is terminal, so
        a redelivery would be a duplicate): the sweeper sends it later, from the mark."""
        try:
            self._announce(doc, "document.failed")
            self.store.event_sent(doc.id)
        except TransientError as err:
            log.warning("failure event not confirmed sent; the sweeper will send it", error=err.reason)
            return False
        return True

    # The work of each step: the updates to the document.
    def _extract(self, doc: Document) -> dict:
        from contentflow.extraction import extract_document
        from contentflow.errors import UnreadableDocument

        limits = self.settings.extraction
        src = doc.source
        if src.size is not None and src.size > limits.max_bytes:  # refuse before downloading it
            raise UnreadableDocument(f"file too large: {src.size / 1e6:.0f} MB > {limits.max_bytes / 1e6:.0f} MB")
        data = self.blobs.read(src.bucket, src.name, src.generation, src.md5_hash)
        result = extract_document(data, filename=src.name, declared_content_type=src.content_type, limits=limits)
        processed = self.settings.bucket("processed")
        text_uri = self.blobs.write(processed, f"{doc.id}/text.txt", result.text.encode(), "text/plain; charset=utf-8")
        chunks = "".join(c.model_dump_json() + "\n" for c in result.chunks)
        chunks_uri = self.blobs.write(processed, f"{doc.id}/chunks.jsonl", chunks.encode(), "application/x-ndjson")
        return {
            "content_sha256": result.content_sha256,
            "preview": result.preview,
            "stats": {**doc.stats, "extraction": result.statistics()},
            "outputs": {**doc.outputs, "text": text_uri, "chunks": chunks_uri},
        }

    def _analyse(self, doc: Document) -> dict:
        # Pass-through until the analysis issue lands: it writes nothing rather than a fake result.
        return {}

    def _index(self, doc: Document) -> dict:
        # Marks the document done (the last step); indexing for search comes with that issue.
        return {}

    # --- recovery --------------------------------------------------------------------------
    def sweep(self, limit: int = 500) -> dict:
        """Re-drives documents stuck in a step past its stuck_after_s (lost hand-on, dead instance)."""
        now = self.clock()
        oldest_allowed = now - timedelta(seconds=min(s.stuck_after_s for s in self.spec.steps))
        statuses = ["received", *(s.status for s in self.spec.steps)]
        candidates = self.store.stale_candidates(statuses, oldest_allowed, limit)
        redriven: list[dict] = []
        for doc in candidates:
            step = sm.stuck_step(doc, self.spec, now)
            if step is None:
                continue
            with bind(document_id=doc.id, step=step, trace_id=doc.trace_id):
                self.dispatcher.hand_on(doc.id, step, doc.trace_id, redrive=f"-r{int(now.timestamp())}")
                log.warning("stuck document re-driven", stuck_since=doc.updated_at.isoformat())
            redriven.append({"document_id": doc.id, "step": step})
        resent = self._resend_failure_events(now, limit)
        summary = {"examined": len(candidates), "redriven": len(redriven), "documents": redriven,
                   "failure_events_resent": resent}
        log.info("sweep finished", examined=summary["examined"], redriven=summary["redriven"], failure_events_resent=resent)
        return summary

    def _resend_failure_events(self, now, limit: int) -> int:
        """Failure events whose publish was never confirmed. The grace period leaves the failing
        function time to confirm its own; a rare double send carries the same event id."""
        sent = 0
        for doc in self.store.unsent_events(now - timedelta(seconds=FAILURE_EVENT_GRACE_S), limit):
            with bind(document_id=doc.id, trace_id=doc.trace_id):
                if doc.status != "failed":  # a mark on anything else is not ours to act on
                    continue
                if self._announce_failure(doc):
                    log.warning("failure event sent by the sweeper", failed_at=doc.event_pending_since.isoformat())
                    sent += 1
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
                    self._announce_failure(decision.document)
            else:
                log.info("dead letter ignored", outcome=decision.outcome, detail=decision.detail)
            return decision


def public_view(doc: Document) -> dict:
    """What GET /documents/{id} shows."""
    return doc.model_dump(mode="json", exclude={"trace_id", "event_pending_since"})
