"""A downstream consumer's dead letters are kept for replay, not dropped (issue #11, defect 5).

A consumer subscribes to the output topic with a dead-letter policy to the topic the spec (and
Terraform's `output_topic` output) names for it. Its endpoint keeps failing: after
max_delivery_attempts Pub/Sub moves the event there. It must land in the archive, never in the
step messages' dead-letter topic (whose dead_letter function cannot parse an event and drops it),
and `contentflow events replay` must put it back on the output topic unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from contentflow.documents import document_id_for
from contentflow.events import OUTPUT_TOPIC
from contentflow.spec import load_spec

SPEC = load_spec()
REPO = Path(__file__).resolve().parents[2]
CLI = REPO / ".venv" / "bin" / "contentflow"
MAX_DELIVERIES = 5  # Pub/Sub's minimum for a dead-letter policy


class FailingConsumer:
    """A consumer's push endpoint on 127.0.0.1: answers 500 to every event of `failing_document`
    (counting them) and acknowledges the others (other tests' documents are not its business)."""

    def __init__(self, failing_document: str):
        self.failing_document = failing_document
        self.failed_deliveries = 0
        consumer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 1 << 20))
                try:
                    attributes = json.loads(body)["message"].get("attributes") or {}
                except (ValueError, KeyError, TypeError):
                    attributes = {}
                failing = attributes.get("document_id") == consumer.failing_document
                if failing:
                    consumer.failed_deliveries += 1
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _pull_all(subscriber, path: str, ack: bool = True) -> list:
    """One pull of what is there now (the emulator answers at once)."""
    response = subscriber.pull(request={"subscription": path, "max_messages": 100, "return_immediately": True}, timeout=10)
    if ack and response.received_messages:
        subscriber.acknowledge(request={"subscription": path, "ack_ids": [m.ack_id for m in response.received_messages]}, timeout=10)
    return [m.message for m in response.received_messages]


@pytest.fixture
def subscriptions(stack):
    """Creates subscriptions for a test, deletes them after it (also on failure)."""
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    created: list[str] = []

    def create(name: str, topic: str, **options) -> str:
        path = f"projects/{stack.project_id}/subscriptions/{name}-{uuid.uuid4().hex[:8]}"
        subscriber.create_subscription(request={"name": path, "topic": f"projects/{stack.project_id}/topics/{topic}",
                                                "ack_deadline_seconds": 10, **options}, timeout=10)
        created.append(path)
        return path

    yield subscriber, create
    for path in created:
        subscriber.delete_subscription(request={"subscription": path}, timeout=10)
    subscriber.close()


# The emulator answers a pull at once only with return_immediately, which the client calls deprecated.
@pytest.mark.filterwarnings("ignore:The return_immediately flag is deprecated:DeprecationWarning")
def test_a_consumers_dead_lettered_event_is_archived_and_replayed_unchanged(stack, inbox, wait_status, subscriptions):
    subscriber, subscribe = subscriptions
    consumer_dead_letter_topic = SPEC.topics[OUTPUT_TOPIC].dead_letter_topic  # what consumers are told to use
    step_dead_letters = next(name for name, t in SPEC.topics.items() if t.role == "dead_letter")
    # Observers, created before the event exists: what reaches the step messages' dead-letter
    # topic, and every message on the output topic (the original and the replay).
    on_step_dead_letters = subscribe("test-step-dead-letters", step_dead_letters)
    on_output = subscribe("test-output-replay", OUTPUT_TOPIC)
    dead_letter_log = stack.data_dir / "logs" / "fn-dead_letter.log"
    log_offset = dead_letter_log.stat().st_size if dead_letter_log.exists() else 0

    name = f"it/{uuid.uuid4().hex}/consumer-fails.txt"
    blob = inbox.blob(name)
    with FailingConsumer(failing_document="") as consumer:
        subscribe("test-failing-consumer", OUTPUT_TOPIC,
                  push_config={"push_endpoint": consumer.url},
                  retry_policy={"minimum_backoff": {"seconds": 1}, "maximum_backoff": {"seconds": 1}},
                  dead_letter_policy={"dead_letter_topic": f"projects/{stack.project_id}/topics/{consumer_dead_letter_topic}",
                                      "max_delivery_attempts": MAX_DELIVERIES})
        blob.upload_from_string(f"A consumer cannot take this one {uuid.uuid4().hex}.".encode(), content_type="text/plain")
        doc_id = document_id_for(inbox.name, name, blob.md5_hash, blob.generation)
        consumer.failing_document = doc_id
        assert wait_status(doc_id, timeout=60)["status"] == "done"

        # The event runs out of deliveries: it lands in the archive, or (the defect) in the step
        # messages' dead-letter topic, where the dead_letter function drops it.
        archived, in_step_dead_letters = [], []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (archived or in_step_dead_letters):
            in_step_dead_letters += [m for m in _pull_all(subscriber, on_step_dead_letters)
                                     if m.attributes.get("document_id") == doc_id]
            if SPEC.topics[consumer_dead_letter_topic].role == "archive":
                archive = f"projects/{stack.project_id}/subscriptions/{SPEC.archive_subscription(consumer_dead_letter_topic)}"
                # Looked at, not taken: released at once for the replay below.
                peeked = subscriber.pull(request={"subscription": archive, "max_messages": 100, "return_immediately": True}, timeout=10)
                if peeked.received_messages:
                    subscriber.modify_ack_deadline(request={"subscription": archive, "ack_deadline_seconds": 0,
                                                            "ack_ids": [m.ack_id for m in peeked.received_messages]}, timeout=10)
                archived += [m.message for m in peeked.received_messages if m.message.attributes.get("document_id") == doc_id]
            time.sleep(0.2)
        assert consumer.failed_deliveries >= MAX_DELIVERIES
    new_dead_letter_log = dead_letter_log.read_text(errors="replace")[log_offset:] if dead_letter_log.exists() else ""
    assert not in_step_dead_letters, (
        f"the consumer's dead letter went to {step_dead_letters!r}, where the dead_letter function drops it; "
        f"its log says: {[line for line in new_dead_letter_log.splitlines() if 'malformed' in line][:1]}")
    assert "malformed step message" not in new_dead_letter_log
    [kept] = archived
    assert kept.attributes["event_type"] == "document.processed"
    assert json.loads(kept.data)["id"] == f"{doc_id}.document.processed"

    # The original event on the output topic, as every consumer saw it.
    originals = [m for m in _pull_all(subscriber, on_output) if m.attributes.get("document_id") == doc_id]
    [original] = originals

    # A dry run lists it and leaves it in the archive; the replay republishes it unchanged.
    dry = _cli(stack, "events", "replay", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    listed = json.loads(dry.stdout)
    assert listed["dry_run"] is True and f"{doc_id}.document.processed" in {e["event_id"] for e in listed["events"]}
    replay = _cli(stack, "events", "replay", "--limit", "50", "--json")
    assert replay.returncode == 0, replay.stderr
    report = json.loads(replay.stdout)
    assert f"{doc_id}.document.processed" in {e["event_id"] for e in report["events"]}
    assert report["replayed"] == len(report["events"]) >= 1

    republished: list = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not republished:
        republished += [m for m in _pull_all(subscriber, on_output) if m.attributes.get("document_id") == doc_id]
        time.sleep(0.1)
    [again] = republished
    assert again.data == original.data  # the same event, the same id: consumers de-duplicate on it
    assert dict(again.attributes) == dict(original.attributes)
    # Taken from the archive: a second replay does not send it again.
    second = json.loads(_cli(stack, "events", "replay", "--json").stdout)
    assert f"{doc_id}.document.processed" not in {e["event_id"] for e in second["events"]}


def _cli(stack, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CONTENTFLOW_API_URL", "PYTHONPATH")}
    return subprocess.run([str(CLI), *args, "--data-dir", str(stack.data_dir)], cwd=REPO, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
