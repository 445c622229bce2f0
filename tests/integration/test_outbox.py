"""The output-event outbox: a document announces `document.processed` or `document.failed`, never
both, each at least once with a stable id. `processed` goes out only for a record that already
says `done` (committed first, with an outbox mark), and a done document can never fail."""

import uuid
from datetime import timedelta

from contentflow import documents as sm
from contentflow.dispatch import Dispatcher
from contentflow.errors import TransientError
from contentflow.events import OUTPUT_TOPIC
from contentflow.pipeline import Pipeline
from contentflow.services import Services
from contentflow.settings import Settings
from contentflow.store import DocumentStore

from tests.integration.test_recovery import _stuck_document


class NoHandOn(Dispatcher):
    """Keeps the document in this process: the stack's own functions never see it."""

    def hand_on(self, document_id, step_name, trace_id, redrive=""):
        return None


class OutputTopicDown(Dispatcher):
    def publish(self, topic, data, attributes):
        if topic == OUTPUT_TOPIC:
            raise TransientError(f"publish to {topic} failed: ServiceUnavailable")
        return super().publish(topic, data, attributes)


class LastCommitRefused(DocumentStore):
    """A real store whose transition completing the index step raises (Firestore answers 503 to
    that commit); every other transition goes through."""

    def transition(self, doc_id, decide, known=None):
        def refuse_completion(cur):
            decision = decide(cur)
            if decision.outcome == "completed" and decision.document.status == "done":
                raise TransientError("Firestore unavailable: 503 commit")
            return decision
        return super().transition(doc_id, refuse_completion, known)


def _services():
    services = Services(Settings())
    s = services.settings
    return services, s


def _waiting_for_index(stack, db, inbox) -> tuple[str, Services]:
    """A document taken through extract and analyse in this process: its record says index is queued."""
    services, s = _services()
    quiet = Pipeline(s, services.store, NoHandOn(s.spec, s.project_id, services.publisher, s.publish_timeout_s),
                     services.step_handler)
    doc_id = _stuck_document(stack, db, inbox, f"outbox {uuid.uuid4().hex}. A short text to index.".encode(), running=False)
    db.collection("documents").document(doc_id).update({"updated_at": sm.utcnow()})  # not the sweeper's business
    assert quiet.run_step("extract", doc_id).outcome == "completed"
    assert quiet.run_step("analyse", doc_id).outcome == "completed"
    assert db.collection("documents").document(doc_id).get().get("status") == "indexing"
    return doc_id, services


def _refusing_pipeline(services):
    s = services.settings
    store = LastCommitRefused(services.firestore, s.collection, s.firestore_timeout_s)
    return Pipeline(s, store, services.dispatcher, services.step_handler)


def test_processed_is_not_announced_when_the_commit_fails_so_a_later_failure_is_the_only_event(
        stack, db, inbox, output_events):
    doc_id, services = _waiting_for_index(stack, db, inbox)
    try:
        _refusing_pipeline(services).run_step("index", doc_id)
        raise AssertionError("the refused commit must answer retry")
    except TransientError:
        pass
    record = db.collection("documents").document(doc_id).get().to_dict()
    assert record["status"] == "indexing" and record["steps"]["index"]["state"] == "queued"
    # Later deliveries keep failing; the message is dead-lettered and the document fails.
    assert services.recovery.dead_letter(doc_id, "index", 5).outcome == "failed"
    [event] = output_events.wait_for(doc_id)
    assert event["attributes"]["event_type"] == "document.failed"
    assert [e["attributes"]["event_type"] for e in output_events.for_document(doc_id)] == ["document.failed"]


def test_after_a_refused_commit_the_redelivery_makes_it_done_with_one_processed_event(
        stack, db, inbox, output_events, wait_status):
    doc_id, services = _waiting_for_index(stack, db, inbox)
    try:
        _refusing_pipeline(services).run_step("index", doc_id)
        raise AssertionError("the refused commit must answer retry")
    except TransientError:
        pass
    s = services.settings
    redelivery = Pipeline(s, services.store, services.dispatcher, services.step_handler)
    assert redelivery.run_step("index", doc_id).outcome == "completed"
    record = wait_status(doc_id)
    assert record["status"] == "done" and record["event_pending_since"] is None
    [event] = output_events.wait_for(doc_id)
    assert event["attributes"]["event_type"] == "document.processed"
    assert event["body"]["id"] == f"{doc_id}.document.processed" and event["body"]["data"]["status"] == "done"
    # A dead letter arriving late cannot fail a done document.
    assert services.recovery.dead_letter(doc_id, "index", 5).outcome == "stale"
    assert db.collection("documents").document(doc_id).get().get("status") == "done"
    assert len(output_events.for_document(doc_id)) == 1


def test_a_processed_event_lost_to_a_failed_publish_is_sent_by_the_sweeper(stack, db, inbox, output_events):
    doc_id, services = _waiting_for_index(stack, db, inbox)
    s = services.settings
    down = Pipeline(s, services.store, OutputTopicDown(s.spec, s.project_id, services.publisher, s.publish_timeout_s),
                    services.step_handler)
    decision = down.run_step("index", doc_id)  # done is recorded; the event waits in the outbox
    assert decision.outcome == "completed"
    record = db.collection("documents").document(doc_id).get().to_dict()
    assert record["status"] == "done" and record["event_pending_since"] is not None
    assert output_events.for_document(doc_id) == []

    db.collection("documents").document(doc_id).update({"event_pending_since": sm.utcnow() - timedelta(minutes=10)})
    response = stack.fire("sweeper")
    assert response.status_code == 200, response.text
    [event] = output_events.wait_for(doc_id)
    assert event["attributes"]["event_type"] == "document.processed"
    assert event["body"]["id"] == f"{doc_id}.document.processed"
    assert db.collection("documents").document(doc_id).get().get("event_pending_since") is None
