"""Output events (`document.processed`, `document.failed`) on the output topic, and the outbox
that makes sure a terminal document's event is never lost.

The outbox: the terminal state (`done` or `failed`) is committed first with a mark on the record
(`event_pending_since`), then the event for that state is published, then the mark is cleared. An
event is therefore only ever published for a record that already says so, and a terminal record
never changes state again: a document announces `document.processed` or `document.failed`, never
both, each at least once (the sweeper re-sends an unconfirmed one) with a stable id."""

from __future__ import annotations

from contentflow.documents import Document
from contentflow.errors import TransientError
from contentflow.logs import get_logger
from contentflow.messages import document_event

log = get_logger("contentflow.events")

OUTPUT_TOPIC = "document-events"
# The event a terminal status announces.
EVENT_FOR_STATUS = {"done": "document.processed", "failed": "document.failed"}


class Announcer:
    def __init__(self, dispatcher, store):
        self.dispatcher = dispatcher
        self.store = store

    def announce(self, doc: Document, event_type: str) -> None:
        data, attributes = document_event(doc, event_type)
        self.dispatcher.publish(OUTPUT_TOPIC, data, attributes)

    def announce_outcome(self, doc: Document) -> bool:
        """Publishes the event of a terminal state already written (with its outbox mark), then
        clears the mark. A failed publish is not retried by the trigger (the document is terminal,
        so a redelivery would be a duplicate): the sweeper sends it later, from the mark."""
        event_type = EVENT_FOR_STATUS.get(doc.status)
        if event_type is None:  # not terminal: nothing to announce (a mark here is not ours)
            return False
        try:
            self.announce(doc, event_type)
            self.store.event_sent(doc.id)
        except TransientError as err:
            log.warning("output event not confirmed sent; the sweeper will send it", event_type=event_type, error=err.reason)
            return False
        return True

    def announce_failure(self, doc: Document) -> bool:
        """`document.failed` for a failure already written (see announce_outcome)."""
        return self.announce_outcome(doc) if doc.status == "failed" else False
