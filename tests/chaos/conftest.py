"""One local stack for the fault-injection tests, with a delivery proxy in front of every function
(local/delivery_faults.py), a gate between the functions and the Pub/Sub and Firestore emulators
(local/outage.py), the vertex backend against the local Vertex AI server (so storms can
be injected and model calls counted) and no scheduler: every recovery here must come from
redelivery, never from the sweeper. Stopped at the end of the package, also on failure."""

from __future__ import annotations

import os
import time

import pytest

from local.chaos import Observer, upload, wait_terminal
from local.delivery_faults import DeliveryFaults
from local.stack import LocalStack


class ChaosEnv:
    def __init__(self, stack: LocalStack):
        from google.cloud import firestore

        self.stack = stack
        self.db = firestore.Client(project=stack.project_id)

    def calm(self) -> None:
        """No delivery faults, no model faults."""
        import requests

        self.stack.proxies.set_faults(DeliveryFaults())
        requests.delete(self.stack.vertex_url + "/_fake/faults", timeout=10)

    def model_calls(self) -> dict[str, int]:
        from local.chaos import model_call_counts

        return model_call_counts(self.stack)

    def run(self, items, timeout_s: float, rate_per_s: float | None = None) -> tuple[dict[str, dict], Observer]:
        """Uploads the items, waits until every one is terminal (or the deadline), and returns the
        records and the observer that saw their output events (closed by the caller)."""
        observer = Observer(self.stack, self.stack.project_id)
        upload(self.stack, items, rate_per_s=rate_per_s)
        records = wait_terminal(observer, items, timeout_s)
        return records, observer

    def wait_events(self, observer: Observer, items, timeout_s: float = 30.0) -> None:
        """Output events are published after the commit that makes a document terminal: wait for one
        per document before counting them."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(observer.events_of(i.doc_id) for i in items):
                return
            time.sleep(0.2)


@pytest.fixture(scope="package")
def chaos(tmp_path_factory):
    stack = LocalStack(tmp_path_factory.mktemp("chaos-stack"), with_scheduler=False, inference="vertex",
                       delivery_faults=DeliveryFaults(), outage_gates=True)
    stack.start()  # raises StackError with the failing component's log: never skipped
    saved = {k: os.environ.get(k) for k in stack.client_env()}
    os.environ.update(stack.client_env())
    try:
        yield ChaosEnv(stack)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stack.stop()
