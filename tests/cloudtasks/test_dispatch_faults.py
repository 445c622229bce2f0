"""Faults around a dispatch, as production treats them: a reset connection is a failed attempt
(retried after the backoff, never re-sent at once), RunTask and the queue's concurrency, and a
stop that leaves no dispatch behind it."""

import threading
import time

import pytest

from local.cloudtasks.dispatcher import DispatchRequest, HttpDispatcher

from .support import RawTarget, Reply, make_queue, wait_until

pytestmark = pytest.mark.timeout(30)

BACKOFF = 0.4  # long enough that an immediate re-send cannot pass for the retry


@pytest.fixture
def raw_target_factory():
    started: list[RawTarget] = []

    def start(plan) -> RawTarget:
        server = RawTarget(plan)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.close()


def retry_queue(client, emulator, queue_id: str, **extra):
    nanos = int(BACKOFF * 1e9)
    return make_queue(
        client, emulator, queue_id,
        retry_config={"max_attempts": 5, "min_backoff": {"nanos": nanos}, "max_backoff": {"nanos": nanos}},
        **extra,
    )


def test_a_reset_connection_is_a_failed_attempt_retried_after_the_backoff(start_emulator, connect, raw_target_factory):
    # The first request to /work is read by the target, which then resets the connection without
    # answering: it may have run the work. It arrives on a kept-alive connection (a /warm request
    # opened it), the case where the emulator used to re-send at once on a fresh connection.
    target = raw_target_factory(lambda path, index: "reset" if (path, index) == ("/work", 0) else "ok")
    emulator = start_emulator(dispatch_workers=1)  # one worker: /work reuses /warm's connection
    client = connect(emulator)
    queue = retry_queue(client, emulator, "resets")
    client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/warm")}})
    target.wait_for("/warm", 1, timeout=5)
    wait_until(lambda: not list(client.list_tasks(parent=queue.name)), 5, "the warm-up task to finish")
    client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/work")}})

    first, second = target.wait_for("/work", 2, timeout=5)
    assert target.connections_accepted == 2  # /warm's connection, reused once, then a fresh one
    assert first.headers["X-CloudTasks-TaskRetryCount"] == "0"
    assert second.headers["X-CloudTasks-TaskRetryCount"] == "1", "the reset was re-sent within the same attempt"
    assert second.headers["X-CloudTasks-TaskExecutionCount"] == "0"  # no answer came back
    assert second.headers["X-CloudTasks-TaskRetryReason"].startswith("UNAVAILABLE")
    assert "X-CloudTasks-TaskPreviousResponse" not in second.headers
    gap = second.arrived - first.arrived
    assert gap >= BACKOFF - 0.005, f"the retry came {gap:.3f} s after the reset, before the {BACKOFF} s backoff"
    wait_until(lambda: not list(client.list_tasks(parent=queue.name)), 5, "the task to finish after its retry")
    assert len(target.received("/work")) == 2
    assert emulator.dead_tasks() == []


def test_a_keep_alive_connection_the_target_closed_is_not_a_failed_attempt(start_emulator, connect, raw_target_factory):
    # The target ends each connection right after answering (as an idle keep-alive timeout does).
    # The next dispatch must see the dead pooled connection and open a fresh one: one request,
    # retry count 0, no failed attempt.
    target = raw_target_factory(lambda path, index: "ok_then_close")
    emulator = start_emulator(dispatch_workers=1)
    client = connect(emulator)
    queue = retry_queue(client, emulator, "idle-closed")
    for number in range(3):
        path = f"/job-{number}"
        client.create_task(parent=queue.name, task={"http_request": {"url": target.url(path)}})
        target.wait_for(path, 1, timeout=5)
        wait_until(lambda: not list(client.list_tasks(parent=queue.name)), 5, f"{path} to finish")
        wait_until(lambda: target.connections_closed == number + 1, 5, f"the target to close {path}'s connection")
    for number in range(3):
        (request,) = target.received(f"/job-{number}")
        assert request.headers["X-CloudTasks-TaskRetryCount"] == "0"
    assert target.connections_accepted == 3


def test_run_task_dispatches_past_max_concurrent_dispatches_and_counts_in_it(emulator, client, target):
    # Production's RunTask "will dispatch the task, even if the task is already running, the queue
    # has reached its RateLimits or is PAUSED" (RateLimits holds max_concurrent_dispatches). The
    # forced attempt still occupies a concurrency slot: the queue starts nothing else until the
    # number in flight is back under its limit.
    target.respond("/held", lambda _: Reply(delay=1.0))
    target.respond("/forced", lambda _: Reply(delay=1.0))
    queue = make_queue(client, emulator, "single", rate_limits={"max_concurrent_dispatches": 1})
    client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/held")}})
    target.wait_for("/held", 1, timeout=5)
    forced = client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/forced")}})
    client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/waiting")}})
    ran = client.run_task(name=forced.name)
    assert ran.dispatch_count == 1
    (forced_request,) = target.wait_for("/forced", 1, timeout=5)
    (held_request,) = target.received("/held")
    assert forced_request.arrived < held_request.arrived + 1.0, "RunTask waited for the queue's only slot"
    (waiting_request,) = target.wait_for("/waiting", 1, timeout=5)
    # Both 1 s attempts had ended (the slot was taken twice over) before the queue sent more.
    assert waiting_request.arrived >= held_request.arrived + 1.0
    assert waiting_request.arrived >= forced_request.arrived + 1.0


def test_a_job_picked_up_after_stop_is_not_dispatched_and_is_kept(start_emulator, connect, target, tmp_path):
    # One dispatch worker, held by a slow attempt; RunTask queues a second job behind it. stop()
    # cuts the slow attempt, the worker then picks up the queued job: it must not open a new
    # connection (nothing reaches the target after the stop), the stop must not wait on it, and
    # the task must be kept, uncounted, for the next start.
    data_dir = tmp_path / "kept"
    target.respond("/slow", lambda _: Reply(delay=5.0))
    target.respond("/queued", lambda _: Reply(delay=5.0))
    emulator = start_emulator(data_dir=data_dir, dispatch_workers=1)
    client = connect(emulator)
    busy = make_queue(client, emulator, "busy")
    held = make_queue(client, emulator, "held")
    client.pause_queue(name=held.name)
    client.create_task(parent=busy.name, task={"http_request": {"url": target.url("/slow")}})
    target.wait_for("/slow", 1, timeout=5)
    queued = client.create_task(parent=held.name, task={"name": f"{held.name}/tasks/queued", "http_request": {"url": target.url("/queued")}})
    client.run_task(name=queued.name)  # accepted; its job waits for the only worker

    started = time.monotonic()
    emulator.stop()
    stop_took = time.monotonic() - started
    left = [t.name for t in threading.enumerate() if t.name.startswith("cloudtasks-dispatch") and t.is_alive()]
    assert left == [], f"dispatch threads still running after stop: {left}"
    assert target.received("/queued") == [], "a job picked up after close_all() dispatched its request"
    assert stop_took < 2.0, f"stop took {stop_took:.2f} s"

    target.respond("/slow", lambda _: Reply())  # the cut attempt is sent again after the restart
    target.respond("/queued", lambda _: Reply())
    restarted = start_emulator(data_dir=data_dir, dispatch_workers=1)
    client = connect(restarted)
    kept = client.get_task(name=queued.name)
    assert kept.dispatch_count == 0 and not kept.first_attempt.dispatch_time  # the refused job counted no attempt
    client.resume_queue(name=held.name)
    (request,) = target.wait_for("/queued", 1, timeout=5)
    assert request.headers["X-CloudTasks-TaskRetryCount"] == "0"


def test_the_dispatcher_refuses_to_connect_after_close_all(target):
    dispatcher = HttpDispatcher()
    dispatcher.close_all()
    request = DispatchRequest(
        task_name="projects/p/locations/l/queues/q/tasks/t", queue_id="q", task_id="t",
        url=target.url("/late"), method="POST", headers={}, body=b"x", deadline=5.0,
        retry_count=0, execution_count=0, eta=time.time(), previous_response=None, retry_reason=None,
    )
    outcome = dispatcher.send(request, {})
    assert outcome.http_status is None and not outcome.sent
    assert target.received("/late") == []  # send() returns only after a request it sent was read
