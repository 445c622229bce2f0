"""A write Firestore refuses (issue 11, defect 1): the Firestore emulator enforces production's
limits (checked: a 1.5 MB string field is refused with InvalidArgument "The value of property ... is
longer than 1048487 bytes", two 700 KB fields with "maximum entity size is 1048576 bytes"), so
these run against the stack's emulator. A refused write is a permanent failure in our own words,
not an unmapped error that answers 500 and leaves the step claimed."""

import uuid

import pytest

from contentflow import documents as sm
from contentflow.errors import PermanentError
from contentflow.pipeline import Pipeline
from contentflow.services import Services
from contentflow.settings import Settings
from contentflow.store import RECORD_TOO_LARGE

from tests.integration.test_outbox import NoHandOn
from tests.integration.test_recovery import _stuck_document

OVERSIZED = "x" * 1_500_000  # over Firestore's 1 MiB per document (and per field)


def test_a_record_firestore_refuses_is_a_permanent_error_in_our_words(stack, db, inbox):
    services = Services(Settings())
    doc_id = _stuck_document(stack, db, inbox, f"refused {uuid.uuid4().hex}".encode(), running=False)
    before = db.collection("documents").document(doc_id).get().to_dict()

    def oversized(current):
        grown = current.model_copy(update={"preview": OVERSIZED})
        return sm.Decision(outcome="completed", document=grown)

    with pytest.raises(PermanentError) as refused:
        services.store.transition(doc_id, oversized)
    assert refused.value.reason == RECORD_TOO_LARGE
    assert refused.value.detail and "1048" in refused.value.detail  # Firestore's own words, for the log
    assert db.collection("documents").document(doc_id).get().to_dict() == before  # nothing written


def test_a_step_whose_updates_are_too_large_fails_the_document_with_the_reason(stack, db, inbox):
    """The whole path: the completion write is refused, the failure (without the updates) is
    recorded, and run_step returns (the delivery is acknowledged) instead of raising into a 500."""
    services = Services(Settings())
    s = services.settings
    doc_id = _stuck_document(stack, db, inbox, f"too large {uuid.uuid4().hex}".encode(), running=False)
    db.collection("documents").document(doc_id).update({"updated_at": sm.utcnow()})  # not the sweeper's business

    def handlers(step_name):
        assert step_name == "extract"
        return lambda doc: {"preview": OVERSIZED}

    pipeline = Pipeline(s, services.store, NoHandOn(s.spec, s.project_id, services.publisher, s.publish_timeout_s),
                        handlers)
    decision = pipeline.run_step("extract", doc_id)
    assert decision.outcome == "failed"
    record = db.collection("documents").document(doc_id).get().to_dict()
    assert record["status"] == "failed" and record["error"]["reason"] == RECORD_TOO_LARGE
    assert record["steps"]["extract"]["state"] == "failed"
    assert record.get("preview", "") != OVERSIZED
