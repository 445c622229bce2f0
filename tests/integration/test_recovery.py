"""Recovery paths: the sweeper re-drives stuck documents (fired through the local scheduler's
path), and a message that keeps failing is dead-lettered and fails its document with a reason."""

import hashlib
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
    The object is uploaded like any other (its own upload event makes a document of its own); the
    stuck record is a second one for the same object, under an id no event will ever name."""
    name = f"it/{uuid.uuid4().hex}/stuck.txt"
    blob = inbox.blob(name)
    blob.upload_from_string(text, content_type="text/plain")
    doc_id = sm.document_id_for(inbox.name, name, None, f"lost-{uuid.uuid4().hex}")
    past = sm.utcnow() - timedelta(minutes=10)
    source = Source(bucket=inbox.name, name=name, generation=str(blob.generation), md5_hash=blob.md5_hash,
                    size=len(text), content_type="text/plain")
    doc = sm.register(None, doc_id, source, SPEC, past).document
    if running:
        doc = sm.begin_step(doc, "extract", SPEC, past, lease_s=60).document
    db.collection("documents").document(doc_id).set(doc.to_firestore())
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
    """An extract message for a document whose extract step was never queued (a record without
    it): extract answers 503 (not ready) on every delivery; after max_delivery_attempts Pub/Sub
    moves it to the dead-letter topic and the dead_letter function fails the document, saying why."""
    from google.cloud import pubsub_v1

    doc_id = _stuck_document(stack, db, inbox, f"waiting {uuid.uuid4().hex}".encode(), running=False)
    db.collection("documents").document(doc_id).update({"updated_at": sm.utcnow(), "steps": {}})  # not the sweeper's business
    # The spec's 10 deliveries span about four minutes; the same wiring with the Pub/Sub minimum
    # of 5 (a topic of the test's own, pushing to extract, dead-lettering where the spec says)
    # proves the path in seconds.
    attempts = 5
    topic = f"projects/{stack.project_id}/topics/test-dead-letter-path-{uuid.uuid4().hex[:8]}"
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    publisher.create_topic(name=topic, timeout=10)
    subscriber.create_subscription(request={
        "name": topic.replace("/topics/", "/subscriptions/"), "topic": topic,
        "push_config": {"push_endpoint": stack.function_url("extract")}, "ack_deadline_seconds": 60,
        "retry_policy": {"minimum_backoff": {"seconds": 1}, "maximum_backoff": {"seconds": 2}},
        "dead_letter_policy": {"dead_letter_topic": f"projects/{stack.project_id}/topics/dead-letters",
                               "max_delivery_attempts": attempts}}, timeout=10)
    message = json.dumps({"document_id": doc_id, "step": "extract"}).encode()
    publisher.publish(topic, message, document_id=doc_id, step="extract").result(timeout=10)
    record = wait_status(doc_id, timeout=120)
    assert record["status"] == "failed"
    assert record["error"]["step"] == "extract"
    assert record["error"]["reason"] == f"extract gave up after {attempts} deliveries: the step never succeeded"
    assert record["steps"]["extract"]["state"] == StepState.failed.value
    [event] = output_events.wait_for(doc_id)
    assert event["attributes"]["event_type"] == "document.failed"


def test_failure_event_lost_to_a_failed_publish_is_sent_by_the_sweeper(stack, db, inbox, output_events):
    """The failure is written, then publishing `document.failed` fails (Pub/Sub down for a moment).
    The document is terminal, so no redelivery would ever send it: the record's outbox mark does,
    through the sweeper."""
    import time

    from contentflow.dispatch import Dispatcher
    from contentflow.errors import TransientError
    from contentflow.events import OUTPUT_TOPIC
    from contentflow.pipeline import Pipeline
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
    pipeline = Pipeline(s, services.store, down, services.step_handler)
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


def _deliver(stack, step: str, doc_id: str) -> None:
    """Delivers a step's message again, as Pub/Sub redelivers after a 5xx."""
    from google.cloud import pubsub_v1

    topic = SPEC.functions[SPEC.step(step).function].trigger.topic
    message = json.dumps({"document_id": doc_id, "step": step}).encode()
    pubsub_v1.PublisherClient().publish(
        f"projects/{stack.project_id}/topics/{topic}", message, document_id=doc_id, step=step).result(timeout=10)


def test_a_busy_delivery_is_retried_and_takes_over_once_the_lease_expires(stack, db, inbox, wait_status):
    """The step's owner died without giving its lease back: a delivery that finds it busy answers
    503 (with the lease's remaining time as Retry-After), so Pub/Sub redelivers it, and the first
    redelivery after the lease expires takes the step over: done without the sweeper."""
    import base64

    import requests

    lease_s = 2.0
    doc_id = _stuck_document(stack, db, inbox, f"owner died {uuid.uuid4().hex}".encode(), running=True)
    now = sm.utcnow()
    db.collection("documents").document(doc_id).update(
        {"updated_at": now, "steps.extract.lease_until": now + timedelta(seconds=lease_s)})  # not the sweeper's business
    message = json.dumps({"document_id": doc_id, "step": "extract"}).encode()
    push = {"message": {"data": base64.b64encode(message).decode(), "messageId": uuid.uuid4().hex,
                        "attributes": {"document_id": doc_id, "step": "extract"}},
            "subscription": f"projects/{stack.project_id}/subscriptions/test-push"}
    response = requests.post(stack.function_url("extract"), json=push, timeout=30)
    assert response.status_code == 503, (response.status_code, response.text)
    assert 1 <= int(response.headers["Retry-After"]) <= lease_s + 1
    _deliver(stack, "extract", doc_id)  # Pub/Sub's redelivery: busy (503) until the lease expires
    record = wait_status(doc_id, timeout=60)
    assert record["status"] == "done", record.get("error")
    assert record["steps"]["extract"]["attempts"] == 2  # the dead owner's, then the takeover
    assert record["steps"]["extract"].get("redrives", 0) == 0  # no sweeper re-drive was needed


def _in_process_pipeline(store=None, dispatcher=None):
    """The pipeline as a function instance builds it, against the stack's emulators, with one
    adapter swapped for a failing one."""
    from contentflow.pipeline import Pipeline
    from contentflow.services import Services
    from contentflow.settings import Settings

    services = Services(Settings())
    return Pipeline(services.settings, store or services.store, dispatcher or services.dispatcher, services.step_handler), services


def test_a_hand_on_lost_after_the_commit_is_sent_again_by_the_redelivery(stack, db, inbox, wait_status):
    """extract commits, then publishing to analyse fails: the function answers 503. The redelivery
    finds extract done and analyse queued but never started, and hands it on again at once (no
    waiting for the sweeper)."""
    from contentflow.dispatch import Dispatcher
    from contentflow.errors import TransientError

    class AnalyseTopicDown(Dispatcher):
        def hand_on(self, document_id, step_name, trace_id, redrive=""):
            raise TransientError(f"publish to {step_name} failed: ServiceUnavailable")

    _, services = _in_process_pipeline()
    s = services.settings
    pipeline, _ = _in_process_pipeline(dispatcher=AnalyseTopicDown(s.spec, s.project_id, services.publisher, s.publish_timeout_s))
    doc_id = _stuck_document(stack, db, inbox, f"lost hand-on {uuid.uuid4().hex}".encode(), running=False)
    db.collection("documents").document(doc_id).update({"updated_at": sm.utcnow()})  # not the sweeper's business
    try:
        pipeline.run_step("extract", doc_id)
        raise AssertionError("the failed hand-on must answer retry")
    except TransientError:
        pass
    record = db.collection("documents").document(doc_id).get().to_dict()
    assert record["steps"]["extract"]["state"] == "succeeded" and record["steps"]["analyse"]["state"] == "queued"
    _deliver(stack, "extract", doc_id)  # Pub/Sub's redelivery of the 503
    record = wait_status(doc_id, timeout=20)
    assert record["status"] == "done" and record["steps"]["extract"]["attempts"] == 1


def test_a_step_whose_commit_fails_is_given_back_not_left_busy(stack, db, inbox, wait_status):
    """The work is done but Firestore refuses the commit: the step is released (queued again), so
    the redelivery runs it instead of finding it busy under a lease for the next five minutes."""
    from contentflow.errors import TransientError
    from contentflow.store import DocumentStore

    _, services = _in_process_pipeline()

    class CommitRefused(DocumentStore):
        calls = 0

        def transition(self, doc_id, decide, known=None):
            CommitRefused.calls += 1
            if CommitRefused.calls == 2:  # begin (1) passes, complete (2) fails, release (3) passes
                raise TransientError("Firestore unavailable: 503 commit")
            return super().transition(doc_id, decide, known)

    store = CommitRefused(services.firestore, services.settings.collection, services.settings.firestore_timeout_s)
    pipeline, _ = _in_process_pipeline(store=store)
    doc_id = _stuck_document(stack, db, inbox, f"refused commit {uuid.uuid4().hex}".encode(), running=False)
    db.collection("documents").document(doc_id).update({"updated_at": sm.utcnow()})
    try:
        pipeline.run_step("extract", doc_id)
        raise AssertionError("the refused commit must answer retry")
    except TransientError:
        pass
    extract = db.collection("documents").document(doc_id).get().to_dict()["steps"]["extract"]
    assert extract["state"] == "queued" and extract["lease_until"] is None and "503 commit" in extract["error"]
    _deliver(stack, "extract", doc_id)
    record = wait_status(doc_id, timeout=20)
    assert record["status"] == "done" and record["steps"]["extract"]["attempts"] == 2


def test_the_same_bytes_uploaded_again_before_extraction_still_extract(stack, db, inbox, wait_status):
    """A re-upload of identical bytes replaces the registered generation (no versioning): it is
    the same document, and extract reads the live generation once its MD5 matches."""
    text = f"uploaded twice {uuid.uuid4().hex}".encode()
    doc_id = _stuck_document(stack, db, inbox, text, running=False)
    name = db.collection("documents").document(doc_id).get().get("source.name")
    blob = inbox.blob(name)
    registered = db.collection("documents").document(doc_id).get().get("source.generation")
    blob.upload_from_string(text, content_type="text/plain")  # same bytes, new generation
    blob.reload()
    assert str(blob.generation) != registered
    db.collection("documents").document(doc_id).update({"updated_at": sm.utcnow()})
    _deliver(stack, "extract", doc_id)
    record = wait_status(doc_id, timeout=20)
    assert record["status"] == "done", record.get("error")
    assert record["content_sha256"] == hashlib.sha256(text).hexdigest()


def test_a_working_owner_keeps_its_short_lease_and_a_dead_one_loses_it_within_the_lease(stack, db, inbox):
    """The lease keeper renews a running attempt's lease in Firestore while the step works (here a
    3 s lease held for 6 s: a redelivery meanwhile finds it busy); once it stops (the owner
    died), the lease runs out within 3 s and the next delivery takes the step over."""
    import time

    from contentflow.pipeline import LeaseKeeper
    from contentflow.services import Services
    from contentflow.settings import Settings

    store = Services(Settings()).store
    doc_id = _stuck_document(stack, db, inbox, f"lease {uuid.uuid4().hex}".encode(), running=False)
    db.collection("documents").document(doc_id).update({"updated_at": sm.utcnow()})  # not the sweeper's business
    lease_s = 3.0
    begun = store.transition(doc_id, lambda cur: sm.begin_step(cur, "extract", SPEC, sm.utcnow(), lease_s))
    assert begun.outcome == "run"
    until = sm.utcnow() + timedelta(seconds=300)
    with LeaseKeeper(store, doc_id, "extract", begun.attempt, lease_s, sm.utcnow, until) as keeper:
        time.sleep(6.0)
        busy = store.transition(doc_id, lambda cur: sm.begin_step(cur, "extract", SPEC, sm.utcnow(), lease_s))
        assert busy.outcome == "busy" and 0 <= busy.retry_after_s <= lease_s
    assert keeper.renewals >= 4
    time.sleep(lease_s + 0.5)
    taken = store.transition(doc_id, lambda cur: sm.begin_step(cur, "extract", SPEC, sm.utcnow(), lease_s))
    assert taken.outcome == "run" and taken.attempt == begun.attempt + 1
