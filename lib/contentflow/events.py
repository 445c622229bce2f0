"""Output events (`document.processed`, `document.failed`) on the output topic, and the outbox
that makes sure a failure's event is never lost."""

from __future__ import annotations

from contentflow.documents import Document
from contentflow.errors import TransientError
from contentflow.logs import get_logger
from contentflow.messages import document_event

log = get_logger("contentflow.events")

OUTPUT_TOPIC = "document-events"


class Announcer:
    def __init__(self, dispatcher, store):
        self.dispatcher = dispatcher
        self.store = store

    def announce(self, doc: Document, event_type: str) -> None:
        data, attributes = document_event(doc, event_type)
        self.dispatcher.publish(OUTPUT_TOPIC, data, attributes)

    def announce_failure(self, doc: Document) -> bool:
        """Publishes `document.failed` for a failure already written, then clears the record's
        outbox mark. A failed publish is not retried by the trigger (the document is terminal, so
        a redelivery would be a duplicate): the sweeper sends it later, from the mark."""
        try:
            self.announce(doc, "document.failed")
            self.store.event_sent(doc.id)
        except TransientError as err:
            log.warning("failure event not confirmed sent; the sweeper will send it", error=err.reason)
            return False
        return True
