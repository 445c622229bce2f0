"""Shared fixtures. The integration fixtures start the real local stack (official emulators,
fake-gcs-server, functions-framework processes) once per session and fail loudly if it cannot."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict

import pytest

from local.stack import LocalStack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The whole local cloud, as `scripts/demo` runs it; stopped at the end, also on failure."""
    stack = LocalStack(tmp_path_factory.mktemp("stack"), with_scheduler=False)
    stack.start()  # raises StackError with the failing component's log: never skipped
    saved = {k: os.environ.get(k) for k in stack.client_env()}
    os.environ.update(stack.client_env())
    try:
        yield stack
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stack.stop()


@pytest.fixture(scope="session")
def storage_client(stack):
    from google.cloud import storage

    return storage.Client(project=stack.project_id)


@pytest.fixture(scope="session")
def db(stack):
    from google.cloud import firestore

    return firestore.Client(project=stack.project_id)


@pytest.fixture(scope="session")
def inbox(stack, storage_client):
    return storage_client.bucket(stack.bucket("inbox"))


class OutputEvents:
    """Collects every message on the output topic through a pull subscription of its own."""

    def __init__(self, stack):
        from google.cloud import pubsub_v1

        self._subscriber = pubsub_v1.SubscriberClient()
        self._path = f"projects/{stack.project_id}/subscriptions/test-output-observer"
        self._subscriber.create_subscription(
            name=self._path, topic=f"projects/{stack.project_id}/topics/document-events", ack_deadline_seconds=60)
        self._by_doc: dict[str, list[dict]] = defaultdict(list)
        self._lock = threading.Lock()
        self._future = self._subscriber.subscribe(self._path, self._on_message)

    def _on_message(self, message) -> None:
        with self._lock:
            self._by_doc[message.attributes.get("document_id", "")].append(
                {"attributes": dict(message.attributes), "body": json.loads(message.data)})
        message.ack()

    def for_document(self, doc_id: str) -> list[dict]:
        with self._lock:
            return list(self._by_doc.get(doc_id, []))

    def wait_for(self, doc_id: str, count: int = 1, timeout: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.for_document(doc_id)
            if len(events) >= count:
                return events
            time.sleep(0.05)
        raise AssertionError(f"expected {count} output events for {doc_id}, got {self.for_document(doc_id)}")

    def close(self) -> None:
        self._future.cancel()
        self._subscriber.close()


@pytest.fixture(scope="session")
def output_events(stack):
    events = OutputEvents(stack)
    yield events
    events.close()


@pytest.fixture(scope="session")
def wait_status(db):
    return lambda doc_id, statuses=("done", "failed"), timeout=30.0: wait_for_status(db, doc_id, statuses, timeout)


def wait_for_status(db, doc_id: str, statuses=("done", "failed"), timeout: float = 30.0) -> dict:
    """Polls the document record until its status is one of `statuses`."""
    ref = db.collection("documents").document(doc_id)
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        snap = ref.get()
        if snap.exists:
            last = snap.to_dict()
            if last["status"] in statuses:
                return last
        time.sleep(0.05)
    raise AssertionError(f"document {doc_id} not in {statuses} after {timeout} s; last record: {last}")
