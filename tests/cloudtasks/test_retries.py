"""Retries as the queue's retry_config says: backoff, max_attempts, max_retry_duration, fates."""

import json

import pytest
from google.api_core import exceptions

from .support import Reply, make_queue, wait_until

pytestmark = pytest.mark.timeout(60)

# A gap between attempts is the backoff plus dispatch latency: never shorter than the backoff
# (up to clock resolution), and at most this much longer on a busy 2-core machine.
EARLY_TOLERANCE = 0.005
LATE_TOLERANCE = 0.15


def gaps(requests):
    return [later.arrived - earlier.arrived for earlier, later in zip(requests, requests[1:])]


def test_backoff_doubles_then_grows_linearly_up_to_max_backoff(emulator, client, target):
    failures = [429, 503, 429, 503, 429, 503, 503]
    target.respond("/flaky", lambda i: Reply(status=failures[i] if i < len(failures) else 200))
    queue = make_queue(
        client, emulator, "backoff",
        retry_config={"max_attempts": 20, "min_backoff": {"nanos": 50_000_000},
                      "max_backoff": {"nanos": 500_000_000}, "max_doublings": 2},
    )
    client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/flaky")}})
    attempts = target.wait_for("/flaky", len(failures) + 1, timeout=10)

    # min 0.05 s doubled twice (0.05, 0.1, 0.2), then + 2**2 * 0.05 = 0.2 s a retry (0.4),
    # then capped at max_backoff (0.5, 0.5, 0.5).
    expected = [0.05, 0.1, 0.2, 0.4, 0.5, 0.5, 0.5]
    measured = gaps(attempts)
    print("backoff gaps expected", expected, "measured", [round(g, 3) for g in measured])
    for want, got in zip(expected, measured):
        assert want - EARLY_TOLERANCE <= got <= want + LATE_TOLERANCE, f"gap {got:.3f} s, expected {want} s"

    headers = [a.headers for a in attempts]
    assert [int(h["X-CloudTasks-TaskRetryCount"]) for h in headers] == list(range(8))
    assert "X-CloudTasks-TaskPreviousResponse" not in headers[0]
    assert [int(h["X-CloudTasks-TaskPreviousResponse"]) for h in headers[1:]] == failures
    assert headers[1]["X-CloudTasks-TaskRetryReason"] == "HTTP status code 429"
    # The execution count leaves out 5xx answers: only the three 429s count.
    assert [int(h["X-CloudTasks-TaskExecutionCount"]) for h in headers] == [0, 1, 1, 2, 2, 3, 3, 3]
    wait_until(lambda: not list(client.list_tasks(parent=queue.name)), 2, "the task to be gone after its 200")
    assert emulator.dead_tasks() == []


def test_max_attempts_ends_the_task_and_records_its_fate(start_emulator, connect, target):
    emulator = start_emulator(fate_webhook_url=target.url("/fate"))
    client = connect(emulator)
    target.respond("/broken", lambda _: Reply(status=500))
    queue = make_queue(
        client, emulator, "limited",
        retry_config={"max_attempts": 3, "min_backoff": {"nanos": 100_000_000}, "max_backoff": {"nanos": 100_000_000}},
    )
    task = client.create_task(
        parent=queue.name,
        task={"name": f"{queue.name}/tasks/doc-42", "http_request": {"url": target.url("/broken"), "body": b'{"id": 42}'}},
    )
    fate_post = target.wait_for("/fate", 1, timeout=10)[0]
    assert len(target.received("/broken")) == 3

    fate = json.loads(fate_post.body)
    assert fate["task"] == task.name and fate["task_id"] == "doc-42"
    assert fate["reason"] == "max_attempts"
    assert fate["dispatch_count"] == 3 and fate["response_count"] == 3
    assert fate["last_response_status"] == 500
    assert fate["body_base64"] == "eyJpZCI6IDQyfQ=="
    assert emulator.dead_tasks() == [fate]
    lines = (emulator.data_dir / "dead-tasks.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [fate]
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=task.name)
    target.wait_for("/broken", 3, timeout=0.1)
    assert len(target.received("/broken")) == 3  # no attempt after the last one


def test_max_retry_duration_ends_a_task_with_unlimited_attempts(emulator, client, target):
    target.respond("/down", lambda _: Reply(status=503))
    queue = make_queue(
        client, emulator, "aging",
        retry_config={"max_attempts": -1, "max_retry_duration": {"seconds": 1},
                      "min_backoff": {"nanos": 200_000_000}, "max_backoff": {"nanos": 200_000_000}},
    )
    client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/down")}})
    wait_until(lambda: emulator.dead_tasks(), 10, "the task's fate")
    attempts = target.received("/down")
    offsets = [a.arrived - attempts[0].arrived for a in attempts]
    # Given up at the first failure at least 1 s after the first attempt, and not before.
    assert offsets[-1] >= 1.0 - EARLY_TOLERANCE
    assert offsets[-2] < 1.0 + LATE_TOLERANCE
    assert 5 <= len(attempts) <= 7, offsets  # about 0, 0.2, ..., 1.0 s
    assert emulator.dead_tasks()[0]["reason"] == "max_retry_duration"


def test_a_task_is_given_up_only_when_both_limits_are_reached(emulator, client, target):
    target.respond("/down", lambda _: Reply(status=500))
    queue = make_queue(
        client, emulator, "both",
        retry_config={"max_attempts": 2, "max_retry_duration": {"seconds": 1},
                      "min_backoff": {"nanos": 300_000_000}, "max_backoff": {"nanos": 300_000_000}},
    )
    client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/down")}})
    wait_until(lambda: emulator.dead_tasks(), 10, "the task's fate")
    attempts = target.received("/down")
    # Two attempts are spent after 0.3 s, but retries go on until 1 s has passed too.
    assert len(attempts) >= 4
    assert attempts[-1].arrived - attempts[0].arrived >= 1.0 - EARLY_TOLERANCE
    assert emulator.dead_tasks()[0]["reason"] == "max_attempts_and_max_retry_duration"


def test_task_retry_config_overrides_the_queue_one(emulator, client, target):
    target.respond("/down", lambda _: Reply(status=500))
    queue = make_queue(client, emulator, "override", retry_config={"max_attempts": 50})
    client.create_task(
        parent=queue.name,
        task={"http_request": {"url": target.url("/down")},
              "retry_config": {"max_attempts": 2, "min_backoff": {"nanos": 100_000_000},
                               "max_backoff": {"nanos": 100_000_000}}},
    )
    wait_until(lambda: emulator.dead_tasks(), 5, "the task's fate")
    assert len(target.received("/down")) == 2


def test_retry_after_is_honoured_when_longer_than_the_backoff(emulator, client, target):
    target.respond("/busy", lambda i: Reply(status=429, headers={"Retry-After": "1"}) if i == 0 else Reply())
    queue = make_queue(client, emulator, "polite",
                       retry_config={"min_backoff": {"nanos": 100_000_000}, "max_backoff": {"seconds": 10}})
    client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/busy")}})
    first, second = target.wait_for("/busy", 2, timeout=5)
    assert 1.0 - EARLY_TOLERANCE <= second.arrived - first.arrived <= 1.0 + LATE_TOLERANCE


def test_dispatch_deadline_cuts_a_slow_attempt_and_retries(start_emulator, connect, target):
    # Production's floor is 15 s; lowered here so the test takes a second.
    emulator = start_emulator(min_dispatch_deadline=0.5)
    client = connect(emulator)
    target.respond("/slow", lambda i: Reply(delay=3.0) if i == 0 else Reply())
    queue = make_queue(client, emulator, "deadline",
                       retry_config={"min_backoff": {"nanos": 100_000_000}, "max_backoff": {"nanos": 100_000_000}})
    client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/slow")},
                                                "dispatch_deadline": {"seconds": 1}})
    first, second = target.wait_for("/slow", 2, timeout=5)
    assert 1.1 - EARLY_TOLERANCE <= second.arrived - first.arrived <= 1.1 + LATE_TOLERANCE
    assert second.headers["X-CloudTasks-TaskRetryReason"] == "DEADLINE_EXCEEDED"
    assert "X-CloudTasks-TaskPreviousResponse" not in second.headers  # the first attempt got no answer
    assert second.headers["X-CloudTasks-TaskExecutionCount"] == "0"


def test_dispatch_deadline_outside_production_range_is_refused(emulator, client, target):
    queue = make_queue(client, emulator, "deadlines")
    for seconds in (5, 1801):
        with pytest.raises(exceptions.InvalidArgument):
            client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/x")},
                                                        "dispatch_deadline": {"seconds": seconds}})
    client.pause_queue(name=queue.name)
    task = client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/x")}})
    assert task.dispatch_deadline.total_seconds() == 600  # production's default for HTTP targets
