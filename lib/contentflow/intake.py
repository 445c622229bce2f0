"""The ways a document comes in: an object finalized in the inbox bucket (registered), or bytes
posted to the api (stored in the inbox bucket, so they take the dropped file's path)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime

from contentflow import documents as sm
from contentflow.documents import Decision, Source
from contentflow.errors import InvalidInput, StepBusy, TransientError
from contentflow.logs import annotate, bind, get_logger
from contentflow.messages import VIA_METADATA_KEY, StorageObject
from contentflow.store import ABSENT

log = get_logger("contentflow.intake")


def mark_hand_on_failed(store, doc_id: str, step_name: str, clock) -> None:
    """Best effort: records that a hand-on's publish failed, so the redelivery the caller asks for
    resends it at once (if this write fails too, the resend waits for the grace period)."""
    try:
        store.transition(doc_id, lambda cur: sm.hand_on_failed(cur, step_name, clock()))
    except TransientError as err:
        log.warning("could not record the failed hand-on", error=err.reason)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
# Objects the URL fetcher stores for a document recorded at submission: `url/<document id>/<name>`.
URL_OBJECT = re.compile(r"^url/([0-9a-f]{32})/[^/]+$")


def safe_filename(filename: str, default: str = "document") -> str:
    return _SAFE_NAME.sub("_", filename.rsplit("/", 1)[-1]).strip("._")[:120] or default


def document_id_of(obj: StorageObject) -> str:
    """The id of the document an inbox object belongs to: a fetched URL's object carries the id its
    document was given at submission; any other object's id comes from its name and content."""
    if obj.via == "url" and (m := URL_OBJECT.match(obj.name)):
        return m.group(1)
    return sm.document_id_for(obj.bucket, obj.name, obj.md5Hash, obj.generation)


class Intake:
    def __init__(self, settings, store, blobs, dispatcher, clock: Callable[[], datetime] = sm.utcnow):
        self.settings = settings
        self.spec = settings.spec
        self.store = store
        self.blobs = blobs
        self.dispatcher = dispatcher
        self.clock = clock

    def register_object(self, obj: StorageObject, resend_lost_hand_on: bool = True, redelivery: bool = True) -> Decision:
        """`resend_lost_hand_on`: a duplicate event for a document whose first step never started
        hands it on again (the first hand-on's publish may have failed after the commit)."""
        inbox = self.settings.bucket("inbox")
        if obj.bucket != inbox:
            raise InvalidInput(f"object is not in the inbox bucket {inbox}: gs://{obj.bucket}/{obj.name}")
        if obj.name.endswith("/"):
            raise InvalidInput(f"folder placeholder, not a document: {obj.name}")
        doc_id = document_id_of(obj)
        via = obj.via
        source = Source(bucket=obj.bucket, name=obj.name, generation=obj.generation, md5_hash=obj.md5Hash,
                        size=obj.size, content_type=obj.contentType, uploaded_at=obj.timeCreated, via=via)
        annotate(document_id=doc_id)
        with bind(document_id=doc_id):
            # Most events are for a new object: the record is created without reading first (a
            # duplicate's create fails, then it reads and decides as before).
            decision = self.store.transition(doc_id, lambda cur: sm.register(cur, doc_id, source, self.spec, self.clock(),
                                                                              resend_lost_hand_on, redelivery), known=ABSENT)
            if decision.outcome == "created":
                doc = decision.document
                annotate(trace_id=doc.trace_id)
                with bind(trace_id=doc.trace_id):
                    log.info("document registered", source=f"gs://{obj.bucket}/{obj.name}", size=obj.size, via=via)
                    first = self.spec.first_step().name
                    try:
                        self.dispatcher.hand_on(doc.id, first, doc.trace_id)
                    except TransientError:
                        mark_hand_on_failed(self.store, doc.id, first, self.clock)
                        raise
            elif decision.outcome == "busy":  # the first hand-on may be in flight: retry, not acknowledge
                log.info("duplicate upload event to be retried", detail=decision.detail, retry_after_s=decision.retry_after_s)
                raise StepBusy(decision.detail, retry_after_s=decision.retry_after_s)
            else:
                log.info("duplicate upload event ignored", detail=decision.detail)
                if decision.hand_on:  # lost (see documents.lost_hand_on); the resend is recorded
                    with bind(trace_id=decision.trace_id):
                        self.dispatcher.hand_on(doc_id, decision.hand_on, decision.trace_id)
                        log.warning("next step handed on again: it was queued but never started", next_step=decision.hand_on)
            return decision

    def submit(self, filename: str, data: bytes, content_type: str | None) -> Decision:
        """The api's way in: the bytes go to the inbox bucket, so they take the dropped file's path."""
        if not data:
            raise InvalidInput("empty document: send some content")
        if len(data) > self.settings.api_max_upload_bytes:
            raise InvalidInput(f"document too large for the API: {len(data)} bytes > {self.settings.api_max_upload_bytes}; upload it to the inbox bucket instead")
        safe = safe_filename(filename, "document.txt")
        # Content-addressed name: posting the same bytes twice is one object, one document.
        name = f"api/{hashlib.sha256(data).hexdigest()[:24]}/{safe}"
        stored = self.blobs.create_if_absent(self.settings.bucket("inbox"), name, data, content_type or "application/octet-stream",
                                             metadata={VIA_METADATA_KEY: "api"})
        obj = StorageObject(bucket=stored.bucket, name=stored.name, generation=stored.generation,
                            md5Hash=stored.md5_hash, size=stored.size, contentType=stored.content_type,
                            timeCreated=self.clock(), metadata={VIA_METADATA_KEY: "api"})
        # If this call wrote the object, its own upload event hands the document on: a duplicate
        # registration here is that race, not a lost hand-on.
        decision = self.register_object(obj, resend_lost_hand_on=not stored.created, redelivery=False)
        if decision.outcome != "created":  # already registered: answer with what is there
            doc_id = document_id_of(obj)
            # The upload event for the object written just now may have registered it first:
            # that is still this submission, not a duplicate of an earlier one.
            outcome = "created" if stored.created else "duplicate"
            decision = Decision(outcome=outcome, document=self.store.get(doc_id), detail=decision.detail)
        return decision

    def submit_url(self, url: str, filename: str | None, check_url) -> Decision:
        """A URL to fetch: checked now (`check_url` raises UrlRefused, a fast 400), recorded as
        `fetching`, and handed to the fetch function's queue, which checks it again when it connects."""
        import secrets

        check_url(url)
        doc_id = secrets.token_hex(16)
        annotate(document_id=doc_id)
        with bind(document_id=doc_id):
            name = safe_filename(filename) if filename else None
            decision = self.store.transition(doc_id, lambda cur: sm.register_url(cur, doc_id, url, self.settings.bucket("inbox"),
                                                                                  name, self.clock()))
            doc = decision.document
            with bind(trace_id=doc.trace_id):
                self.dispatcher.enqueue_function("fetch", {"document_id": doc_id, "trace_id": doc.trace_id}, f"fetch-{doc_id}")
                log.info("url submitted", host=_host_of(url))
            return decision


def _host_of(url: str) -> str:
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "")[:255]
