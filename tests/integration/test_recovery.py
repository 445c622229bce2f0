"""Recovery paths: the sweeper re-drives stuck documents (fired through the local scheduler's
path), and a message that keeps failing is dead-lettered and fails its document with a reason."""

import json
import uuid
from datetime import timedelta

from contentflow import documents as sm
from contentflow.documents import Source, StepState
from contentflow.spec import load_spec

SPEC = load_spec()


def _stuck_document(stack, db, inbox, text: bytes, running: bool):
    """A document whose hand-on was lost (or whose instance died mid-step): its record says
    extract is queued (or running with an expired lease) ten minutes ago, and no message exists.
    The record is written first, so the upload's own event is a duplicate and does nothing."""
    name = f"it/{uuid.uuid4().hex}/stuck.txt"
    md5 = sm.md5_base64(text)
    doc_id = sm.document_id_for(inbox.name, name, md5, None)
    past = sm.utcnow() - timedelta(minutes=10)
    source = Source(bucket=inbox.name, name=name, md5_hash=md5, size=len(text), content_type="text/plain")
    doc = sm.register(None, doc_id, source, SPEC, past).document
    if running:
        doc = sm.begin_step(doc, "extract", SPEC, past, lease_s=60).document
    db.collection("documents").document(doc_id).set(doc.to_firestore())
    inbox.blob(name).upload_from_string(text, content_type="text/plain")
    return doc_id


def test_sweeper_redrives_lost_and_abandoned_steps(stack, db, inbox, wait_status):
    lost = _stuck_document(stack, db, inbox, b"My hand-on message was lost.", running=False)
    abandoned = _stuck_document(stack, db, inbox, b"My instance died mid-step.", running=True)
    assert db.collection("documents").document(lost).get().get("status") == "received"
    response = stack.fire("sweeper")  # the path the local scheduler takes on the cron
    assert response.status_code == 200, response.text
    summary = response.json()
    redriven = {d["document_id"]: d["step"] for d in summary["documents"]}
    assert redriven[lost] == "extract" and redriven[abandoned] == "extract"
    assert wait_status(lost)["status"] == "done"
    record = wait_status(abandoned)
    assert record["status"] == "done"
    assert record["steps"]["extract"]["attempts"] == 2  # the dead attempt, then the re-driven one
    again = stack.fire("sweeper").json()  # nothing left to do for these two
    assert not {lost, abandoned} & {d["document_id"] for d in again["documents"]}


def test_message_that_keeps_failing_is_dead_lettered_and_fails_the_document(stack, db, inbox, wait_status, output_events):
    """An index message for a document whose extract never finished: index answers 503 (not
    ready) on every delivery; after max_delivery_attempts Pub/Sub moves it to the dead-letter
    topic and the dead_letter function fails the document, saying why."""
    from google.cloud import pubsub_v1

    doc_id = _stuck_document(stack, db, inbox, f"waiting {uuid.uuid4().hex}".encode(), running=False)
    db.collection("documents").document(doc_id).update({"updated_at": sm.utcnow()})  # not the sweeper's business
    message = json.dumps({"document_id": doc_id, "step": "index"}).encode()
    pubsub_v1.PublisherClient().publish(
        f"projects/{stack.project_id}/topics/index-requests", message, document_id=doc_id, step="index").result(timeout=10)
    record = wait_status(doc_id, timeout=120)
    attempts = SPEC.delivery.max_delivery_attempts
    assert record["status"] == "failed"
    assert record["error"]["step"] == "index"
    assert record["error"]["reason"] == f"index gave up after {attempts} deliveries: the step never succeeded"
    assert record["steps"]["index"]["state"] == StepState.failed.value
    [event] = output_events.wait_for(doc_id)
    assert event["attributes"]["event_type"] == "document.failed"


def test_failure_event_lost_to_a_failed_publish_is_sent_by_the_sweeper(stack, db, inbox, output_events):
    """The failure is written, then publishing `document.failed` fails (Pub/Sub down for a moment).
    The document is terminal, so no redelivery would ever send it: the record's outbox mark does,
    through the sweeper."""
    import time

    from contentflow.dispatch import Dispatcher
    from contentflow.errors import TransientError
    from contentflow.pipeline import OUTPUT_TOPIC, Pipeline
    from contentflow.services import Services
    from contentflow.settings import Settings

    class OutputTopicDown(Dispatcher):
        def publish(self, topic, data, attributes):
            if topic == OUTPUT_TOPIC:
                raise TransientError(f"publish to {topic} failed: ServiceUnavailable")
            return super().publish(topic, data, attributes)

    services = Services(Settings())
    s = services.settings
    down = OutputTopicDown(s.spec, s.project_id, services.publisher, s.publish_timeout_s)
    pipeline = Pipeline(s, services.store, services.blobs, down)
    doc_id = _stuck_document(stack, db, inbox, b"\x00\xff\x13binary\x00" * 64 + uuid.uuid4().bytes, running=False)
    decision = pipeline.run_step("extract", doc_id)
    assert decision.outcome == "failed" and "not text" in decision.detail
    record = db.collection("documents").document(doc_id).get().to_dict()
    assert record["status"] == "failed" and record["event_pending_since"] is not None

    response = stack.fire("sweeper")  # within the grace period: the failing delivery may still confirm it
    assert response.status_code == 200 and response.json()["failure_events_resent"] == 0
    time.sleep(0.5)
    assert output_events.for_document(doc_id) == []

    db.collection("documents").document(doc_id).update({"event_pending_since": sm.utcnow() - timedelta(minutes=10)})
    response = stack.fire("sweeper")
    assert response.status_code == 200 and response.json()["failure_events_resent"] >= 1
    [event] = output_events.wait_for(doc_id)
    assert event["attributes"]["event_type"] == "document.failed"
    assert event["body"]["data"]["error"]["reason"] == decision.detail
    assert db.collection("documents").document(doc_id).get().get("event_pending_since") is None
    assert stack.fire("sweeper").json()["failure_events_resent"] == 0  # sent once, not on every sweep
