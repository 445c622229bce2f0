"""Firestore adapter: documents are read and changed only here, each change decided on what was
read and written only if nobody wrote in between (`transition`)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from google.api_core import exceptions as gexc
from google.api_core import retry as retries

from contentflow.documents import Decision, Document
from contentflow.errors import PermanentError, TransientError
from contentflow.metering import count, timed

FIRESTORE_TRANSIENT = (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError,
                       gexc.TooManyRequests, gexc.Aborted, gexc.GatewayTimeout, gexc.RetryError)  # RetryError: retries ran out
RECORD_TOO_LARGE = "the document's record would exceed Firestore's 1 MiB limit"
RECORD_REFUSED = "Firestore refused the document's record as invalid"
CONTENTION_ATTEMPTS = 8  # reads and decisions before a lost race is a transient error


@dataclass(frozen=True)
class Snapshot:
    """A record as read (`stored` is None when there was none), with the update time a write's
    precondition names."""
    document: Document | None
    stored: dict | None
    update_time: object | None


ABSENT = Snapshot(None, None, None)  # `transition(..., known=ABSENT)`: try to create before reading


class DocumentStore:
    def __init__(self, client, collection: str, timeout_s: float):
        self._client = client
        self._collection = client.collection(collection)
        self._timeout = timeout_s
        # The client's default retry keeps trying UNAVAILABLE for 60 s whatever the call's timeout:
        # bounded here, so a Firestore outage answers within the timeout.
        self._retry = retries.Retry(predicate=retries.if_transient_error, initial=0.1, maximum=1.0,
                                    multiplier=2.0, timeout=timeout_s)

    def get(self, doc_id: str) -> Document | None:
        return self.read(doc_id).document

    def read(self, doc_id: str) -> Snapshot:
        try:
            snap = self._collection.document(doc_id).get(retry=self._retry, timeout=self._timeout)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.reads")
        return self._snapshot(doc_id, snap)

    @staticmethod
    def _snapshot(doc_id: str, snap) -> Snapshot:
        stored = snap.to_dict() if snap.exists else None
        return Snapshot(Document.from_firestore(doc_id, stored) if stored is not None else None, stored,
                        snap.update_time if snap.exists else None)

    def transition(self, doc_id: str, decide: Callable[[Document | None], Decision],
                   known: Snapshot | None = None) -> Decision:
        """Reads the document, lets `decide` choose, writes its result only if nobody wrote the
        document in between (optimistic: a precondition on the update time read, or `create` for a
        new one); on a lost race it reads again and decides again, so `decide` must be pure.

        `known`: a read made earlier (the step's own, before its work; ABSENT for a record about
        to be created). The first decision is made on it without reading again, and its write
        carries the same precondition, so it stands only if nobody wrote since that read: one
        Firestore read fewer per transition in the common case, the same outcome in every case.

        Why not a Firestore transaction: one document needs no lock, and this is one call fewer
        per transition (get and write, where a transaction also begins) with no server-side lock
        held between them; and only the fields that changed are written, so an unchanged
        timestamp's index entries are not rewritten."""
        ref = self._collection.document(doc_id)
        try:
            if known is not None:
                with timed("firestore"):
                    decision, written = self._try_transition(ref, doc_id, decide, known)
                if written:
                    return decision
            for attempt in range(CONTENTION_ATTEMPTS):
                with timed("firestore"):
                    decision, written = self._try_transition(ref, doc_id, decide)
                if written:
                    return decision
                time.sleep(random.uniform(0, 0.05 * 2 ** attempt))  # another writer won: decide again
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        except gexc.InvalidArgument as err:
            # Firestore refuses the write (a record over 1 MiB, a field too long): the same write
            # is refused every time, so a retry cannot help. The failure recorded next writes the
            # record without the step's updates, which fits.
            raise PermanentError(RECORD_TOO_LARGE if "size" in str(err) or "longer than" in str(err)
                                 else RECORD_REFUSED, detail=str(err)) from err
        raise TransientError("Firestore contention", detail=f"{doc_id}: {CONTENTION_ATTEMPTS} writers won before us")

    def _try_transition(self, ref, doc_id: str, decide, known: Snapshot | None = None) -> tuple[Decision, bool]:
        """(the decision, whether it stands): False when another writer changed the document after
        we read it (its write wins; ours is not made)."""
        from google.cloud import firestore

        if known is None:
            snap = ref.get(retry=self._retry, timeout=self._timeout)
            count("firestore.reads")
            known, fresh = self._snapshot(doc_id, snap), True
        else:
            fresh = False
        stored = known.stored
        decision = decide(known.document)
        if decision.document is None:
            return decision, fresh  # nothing to write: it stands only if decided on a fresh read
        record = decision.document.to_firestore()
        try:
            if stored is None:
                ref.create(record, retry=self._retry, timeout=self._timeout)
            else:
                changed = {k: v for k, v in record.items() if k not in stored or stored[k] != v}
                changed.update({k: firestore.DELETE_FIELD for k in stored if k not in record})
                if not changed:
                    return decision, fresh
                ref.update(changed, option=self._client.write_option(last_update_time=known.update_time),
                           retry=self._retry, timeout=self._timeout)
        except (gexc.AlreadyExists, gexc.FailedPrecondition, gexc.NotFound):
            return decision, False  # created, changed or deleted meanwhile
        count("firestore.writes")
        return decision, True

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
