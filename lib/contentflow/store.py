"""Firestore adapter: documents are read and changed only through transactions here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from google.api_core import exceptions as gexc
from google.api_core import retry as retries

from contentflow.documents import Decision, Document
from contentflow.errors import PermanentError, TransientError
from contentflow.metering import count

FIRESTORE_TRANSIENT = (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError,
                       gexc.TooManyRequests, gexc.Aborted, gexc.GatewayTimeout, gexc.RetryError)  # RetryError: retries ran out
RECORD_TOO_LARGE = "the document's record would exceed Firestore's 1 MiB limit"
RECORD_REFUSED = "Firestore refused the document's record as invalid"


class DocumentStore:
    def __init__(self, client, collection: str, timeout_s: float):
        self._client = client
        self._collection = client.collection(collection)
        self._timeout = timeout_s
        # The client's default retry keeps trying UNAVAILABLE for 60 s whatever the call's timeout:
        # bounded here, so a Firestore outage answers within the timeout (the transaction's own
        # begin and commit calls take no retry argument and keep the library's 60 s).
        self._retry = retries.Retry(predicate=retries.if_transient_error, initial=0.1, maximum=1.0,
                                    multiplier=2.0, timeout=timeout_s)

    def get(self, doc_id: str) -> Document | None:
        try:
            snap = self._collection.document(doc_id).get(retry=self._retry, timeout=self._timeout)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.reads")
        return Document.from_firestore(doc_id, snap.to_dict()) if snap.exists else None

    def transition(self, doc_id: str, decide: Callable[[Document | None], Decision]) -> Decision:
        """Reads the document, lets `decide` choose, writes its result; all in one transaction
        (retried by the client on contention, so `decide` must be pure)."""
        from google.cloud import firestore

        ref = self._collection.document(doc_id)
        timeout, retry = self._timeout, self._retry

        @firestore.transactional
        def run(transaction) -> Decision:
            snap = ref.get(transaction=transaction, retry=retry, timeout=timeout)
            count("firestore.reads")
            current = Document.from_firestore(doc_id, snap.to_dict()) if snap.exists else None
            decision = decide(current)
            if decision.document is not None:
                transaction.set(ref, decision.document.to_firestore())
                count("firestore.writes")
            return decision

        try:
            return run(self._client.transaction())
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        except ValueError as err:  # the client gave up on contention ("Failed to commit transaction in N attempts")
            if "Failed to commit transaction" not in str(err):
                raise
            raise TransientError("Firestore contention", detail=str(err)) from err
        except gexc.InvalidArgument as err:
            # Firestore refuses the write (a record over 1 MiB, a field too long): the same write
            # is refused every time, so a retry cannot help. The failure recorded next writes the
            # record without the step's updates, which fits.
            raise PermanentError(RECORD_TOO_LARGE if "size" in str(err) or "longer than" in str(err)
                                 else RECORD_REFUSED, detail=str(err)) from err

    def event_sent(self, doc_id: str) -> None:
        """Clears the outbox mark once the failure event is out (a plain update: nothing else
        changes a terminal document)."""
        try:
            self._collection.document(doc_id).update({"event_pending_since": None}, retry=self._retry, timeout=self._timeout)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.writes")

    def unsent_events(self, marked_before: datetime, limit: int) -> list[Document]:
        """Failed documents whose event was not confirmed sent (a single-field inequality: the
        automatic index serves it)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("event_pending_since", "<", marked_before)).limit(limit)
        return self._documents(query)

    def stale_candidates(self, statuses: list[str], updated_before: datetime, limit: int) -> list[Document]:
        """Non-terminal documents not updated since `updated_before` (the sweeper's query; needs
        the composite index (status, updated_at) in production)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._collection.where(filter=FieldFilter("status", "in", statuses))
            .where(filter=FieldFilter("updated_at", "<", updated_before))
            .limit(limit)
        )
        return self._documents(query)

    def count(self, field: str, value) -> int:
        """How many documents have `field == value` (an aggregation: billed one read per 1,000)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter(field, "==", value)).count()
        try:
            [[result]] = query.get(retry=self._retry, timeout=self._timeout)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.reads", 1 + int(result.value) // 1000)
        return int(result.value)

    def page(self, status: str, after_id: str | None, limit: int) -> list[Document]:
        """Documents with `status`, in id order, after `after_id` (a resumable scan's page)."""
        from google.cloud.firestore_v1.base_query import FieldFilter
        from google.cloud.firestore_v1.field_path import FieldPath

        query = self._collection.where(filter=FieldFilter("status", "==", status)).order_by(FieldPath.document_id())
        if after_id:
            query = query.start_after({FieldPath.document_id(): self._collection.document(after_id)})
        return self._documents(query.limit(limit))

    def _documents(self, query) -> list[Document]:
        try:
            snaps = list(query.stream(retry=self._retry, timeout=self._timeout))
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.reads", max(1, len(snaps)))  # a query is billed one read even when empty
        return [Document.from_firestore(s.id, s.to_dict()) for s in snaps]

    def delete(self, doc_id: str) -> None:
        try:
            self._collection.document(doc_id).delete(retry=self._retry, timeout=self._timeout)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.writes")

    def list_documents(self, *, status: str | None = None, label: str | None = None, language: str | None = None,
                       created_after: datetime | None = None, created_before: datetime | None = None,
                       source_name: str | None = None, after: tuple[datetime, str] | None = None,
                       limit: int = 20) -> list[Document]:
        """Newest first (created_at, then id, descending), filtered, after the (created_at, id) of
        the previous page's last document. Production needs a composite index per combination of
        equality filters with created_at (Terraform builds them from LISTING_FILTER_FIELDS)."""
        from google.cloud.firestore_v1.base_query import FieldFilter
        from google.cloud.firestore_v1.field_path import FieldPath
        from google.cloud.firestore_v1.query import Query

        query = self._collection
        for field, op, value in (("status", "==", status), ("labels", "array_contains", label),
                                 ("stats.extraction.language", "==", language), ("source.name", "==", source_name),
                                 ("created_at", ">=", created_after), ("created_at", "<", created_before)):
            if value is not None:
                query = query.where(filter=FieldFilter(field, op, value))
        query = query.order_by("created_at", direction=Query.DESCENDING).order_by(
            FieldPath.document_id(), direction=Query.DESCENDING)
        if after is not None:
            query = query.start_after({"created_at": after[0], FieldPath.document_id(): self._collection.document(after[1])})
        return self._documents(query.limit(limit))


# The fields GET /documents filters on with equality (with created_at for order and range).
LISTING_FILTER_FIELDS = ("status", "labels", "stats.extraction.language", "source.name")
