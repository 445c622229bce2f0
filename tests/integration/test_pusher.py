"""The local push dispatcher (local/pusher.py) against the real Pub/Sub emulator of the session
stack, with its own topics, subscriptions and a local endpoint: failed pushes come back after the
spec's backoff and are all delivered once the endpoint recovers (the emulator's own push with a
retry policy stops redelivering after such a burst); a message that always fails is dead-lettered
after max_delivery_attempts with the production attributes; pushes run concurrently up to the
limit; a held subscription keeps its messages until released."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from local.pusher import PushDispatcher, PushTarget, backoff_s


class Endpoint:
    """Records every push (time, body); answers 502 until `fail_until`, or always when `fail_all`."""

    def __init__(self, fail_until: float = 0.0, fail_all: bool = False, delay_s: float = 0.0):
        self.fail_until, self.fail_all, self.delay_s = fail_until, fail_all, delay_s
        self.pushes: list[tuple[float, dict]] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with endpoint._lock:
                    endpoint.pushes.append((time.monotonic(), body))
                    endpoint.in_flight += 1
                    endpoint.max_in_flight = max(endpoint.max_in_flight, endpoint.in_flight)
                time.sleep(endpoint.delay_s)
                with endpoint._lock:
                    endpoint.in_flight -= 1
                failing = endpoint.fail_all or time.monotonic() < endpoint.fail_until
                self.send_response(502 if failing else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/"

    def of(self, key: str) -> list[tuple[float, dict]]:
        with self._lock:
            return [(t, b) for t, b in self.pushes if base64.b64decode(b["message"]["data"]).decode() == key]

    def keys_acked(self) -> set[str]:
        with self._lock:
            return {base64.b64decode(b["message"]["data"]).decode() for t, b in self.pushes
                    if not self.fail_all and t >= self.fail_until}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pubsub(stack):
    import grpc
    from google.cloud import pubsub_v1
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    host = f"127.0.0.1:{stack.ports['pubsub']}"
    publisher = pubsub_v1.PublisherClient(transport=PublisherGrpcTransport(channel=grpc.insecure_channel(host)))
    subscriber = pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(channel=grpc.insecure_channel(host)))
    run = uuid.uuid4().hex[:8]
    project = stack.project_id

    def make(max_attempts: int = 5) -> tuple[str, str, str]:
        """(topic, pull subscription with a dead-letter policy, dead-letter subscription)."""
        topic, dlq = f"projects/{project}/topics/push-{run}", f"projects/{project}/topics/push-{run}-dlq"
        sub, dlq_sub = f"projects/{project}/subscriptions/push-{run}", f"projects/{project}/subscriptions/push-{run}-dlq"
        publisher.create_topic(name=topic, timeout=10)
        publisher.create_topic(name=dlq, timeout=10)
        subscriber.create_subscription(request={"name": dlq_sub, "topic": dlq}, timeout=10)
        subscriber.create_subscription(request={"name": sub, "topic": topic, "ack_deadline_seconds": 30,
                                                "dead_letter_policy": {"dead_letter_topic": dlq,
                                                                       "max_delivery_attempts": max_attempts}}, timeout=10)
        return topic, sub, dlq_sub

    def publish(topic: str, keys: list[str]) -> None:
        for key in keys:
            publisher.publish(topic, key.encode()).result(timeout=10)

    make.publish = publish
    make.host = host
    make.subscriber = subscriber
    yield make
    publisher.transport.close()
    subscriber.close()


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_backoff_doubles_from_the_minimum_and_stops_at_the_maximum():
    assert [backoff_s(a, 1, 60) for a in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_s(1, 10, 600) == 10 and backoff_s(0, 1, 60) == 1


def test_a_burst_of_failed_pushes_comes_back_after_the_backoff_and_every_message_is_delivered(pubsub):
    """20 messages while the endpoint answers 502 for 4 s: every one is delivered once it recovers;
    a message's deliveries are spaced by the growing backoff and carry the attempt number."""
    topic, sub, _ = pubsub(max_attempts=10)
    endpoint = Endpoint(fail_until=time.monotonic() + 4.0)
    pusher = PushDispatcher(pubsub.host, [PushTarget(sub, endpoint.url, 30, max_in_flight=8)], 1, 60).start()
    try:
        keys = [f"m{i}" for i in range(20)]
        pubsub.publish(topic, keys)
        _wait(lambda: endpoint.keys_acked() == set(keys), 40, f"delivered after the outage: {sorted(endpoint.keys_acked())}")
        _wait(lambda: pusher.counts[(sub, "acked")] >= 20, 10, f"acknowledged: {pusher.counts}")
    finally:
        pusher.stop()
        endpoint.close()
    for key in keys:
        pushes = endpoint.of(key)
        attempts = [b["deliveryAttempt"] for _, b in pushes]
        assert attempts == list(range(1, len(attempts) + 1)), (key, attempts)
        times = [t for t, _ in pushes]
        for n in range(1, len(times)):  # attempt n failed: the next comes backoff_s(n) later
            assert times[n] - times[n - 1] >= backoff_s(n, 1, 60) - 0.3, (key, n, times)
        body = pushes[0][1]
        assert body["subscription"] == sub and body["message"]["messageId"] and body["message"]["publishTime"].endswith("Z")
    assert max(len(endpoint.of(k)) for k in keys) >= 3  # the 4 s outage cost at least two failed attempts


def test_a_message_that_always_fails_goes_to_the_dead_letter_topic_after_max_attempts(pubsub):
    topic, sub, dlq_sub = pubsub(max_attempts=5)
    endpoint = Endpoint(fail_all=True)
    pusher = PushDispatcher(pubsub.host, [PushTarget(sub, endpoint.url, 30, max_in_flight=2)], 1, 1).start()
    try:
        pubsub.publish(topic, ["doomed"])
        dead = []

        def dead_lettered():
            from google.api_core.exceptions import DeadlineExceeded
            try:
                dead.extend(pubsub.subscriber.pull(request={"subscription": dlq_sub, "max_messages": 5}, timeout=2).received_messages)
            except DeadlineExceeded:
                pass
            return bool(dead)

        _wait(dead_lettered, 40, f"not dead-lettered; pushes: {len(endpoint.of('doomed'))}")
    finally:
        pusher.stop()
        endpoint.close()
    assert [b["deliveryAttempt"] for _, b in endpoint.of("doomed")] == [1, 2, 3, 4, 5]
    message = dead[0].message
    assert message.data == b"doomed"
    assert message.attributes["CloudPubSubDeadLetterSourceSubscription"] == sub.rsplit("/", 1)[-1]


def test_pushes_run_concurrently_up_to_the_limit(pubsub):
    topic, sub, _ = pubsub()
    endpoint = Endpoint(delay_s=0.5)
    pusher = PushDispatcher(pubsub.host, [PushTarget(sub, endpoint.url, 30, max_in_flight=4)], 1, 60).start()
    try:
        pubsub.publish(topic, [f"c{i}" for i in range(16)])
        _wait(lambda: pusher.counts[(sub, "acked")] == 16, 30, f"acknowledged: {pusher.counts}")
    finally:
        pusher.stop()
        endpoint.close()
    assert endpoint.max_in_flight == 4
    assert len(endpoint.pushes) == 16


def test_a_held_subscription_keeps_its_messages_until_released(pubsub):
    topic, sub, _ = pubsub()
    endpoint = Endpoint()
    pusher = PushDispatcher(pubsub.host, [PushTarget(sub, endpoint.url, 30)], 1, 60).start()
    try:
        pusher.hold(sub)
        pubsub.publish(topic, ["h1", "h2", "h3"])
        time.sleep(2.0)
        assert endpoint.pushes == []
        pusher.release(sub)
        _wait(lambda: len(endpoint.pushes) == 3, 15, "not pushed after the release")
    finally:
        pusher.stop()
        endpoint.close()
