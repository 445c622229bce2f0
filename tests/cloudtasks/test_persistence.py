"""A restart from the same data folder loses no queue, task, name tombstone or fate."""

import time

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2

from local.cloudtasks.store import DataDirInUse

from .support import Reply, make_queue, wait_until

pytestmark = pytest.mark.timeout(60)


def test_restart_keeps_queued_tasks_and_taken_names(start_emulator, connect, target, tmp_path):
    data_dir = tmp_path / "persisted"
    first = start_emulator(data_dir=data_dir)
    client = connect(first)
    queue = make_queue(client, first, "durable", rate_limits={"max_dispatches_per_second": 50})
    client.create_task(parent=queue.name, task={"name": f"{queue.name}/tasks/ran-before", "http_request": {"url": target.url("/before")}})
    target.wait_for("/before", 1, timeout=5)
    wait_until(lambda: not list(client.list_tasks(parent=queue.name)), 2, "the first task to finish")
    client.pause_queue(name=queue.name)
    names = {client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/after"), "body": b"%d" % i}}).name
             for i in range(20)}
    first.stop()

    second = start_emulator(data_dir=data_dir)
    client = connect(second)
    restored = client.get_queue(name=queue.name)
    assert restored.state == tasks_v2.Queue.State.PAUSED
    assert restored.rate_limits.max_dispatches_per_second == 50
    assert {t.name for t in client.list_tasks(parent=queue.name)} == names
    with pytest.raises(exceptions.AlreadyExists):
        client.create_task(parent=queue.name, task={"name": f"{queue.name}/tasks/ran-before", "http_request": {"url": target.url("/before")}})

    client.resume_queue(name=queue.name)
    received = target.wait_for("/after", 20, timeout=10)
    assert sorted(int(r.body) for r in received) == list(range(20))
    assert {r.headers["X-CloudTasks-TaskName"] for r in received} == {n.rsplit("/", 1)[1] for n in names}


def test_restart_keeps_retry_state_and_fates(start_emulator, connect, target, tmp_path):
    data_dir = tmp_path / "persisted"
    target.respond("/down", lambda _: Reply(status=500))
    first = start_emulator(data_dir=data_dir)
    client = connect(first)
    queue = make_queue(client, first, "retrying", retry_config={
        "max_attempts": 3, "min_backoff": {"nanos": 300_000_000}, "max_backoff": {"nanos": 300_000_000}})
    client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/down")}})
    target.wait_for("/down", 1, timeout=5)
    wait_until(lambda: list(client.list_tasks(parent=queue.name))[0].response_count == 1, 2, "the first failure")
    first.stop()

    second = start_emulator(data_dir=data_dir)
    wait_until(lambda: second.dead_tasks(), 5, "the task's fate after the restart")
    attempts = target.received("/down")
    assert len(attempts) == 3  # the attempt count survived the restart
    assert [a.headers["X-CloudTasks-TaskRetryCount"] for a in attempts] == ["0", "1", "2"]
    second.stop()
    third = start_emulator(data_dir=data_dir)
    assert [fate["reason"] for fate in third.dead_tasks()] == ["max_attempts"]


def test_an_attempt_cut_by_a_stop_is_dispatched_again_after_the_restart(start_emulator, connect, target, tmp_path):
    data_dir = tmp_path / "persisted"
    target.respond("/stuck", lambda i: Reply(delay=5.0) if i == 0 else Reply())
    first = start_emulator(data_dir=data_dir)
    client = connect(first)
    queue = make_queue(client, first, "cut")
    client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/stuck")}})
    target.wait_for("/stuck", 1, timeout=5)
    stopping = time.monotonic()
    first.stop()
    assert time.monotonic() - stopping < 3.0  # the stop does not wait for the 5 s answer

    client = connect(start_emulator(data_dir=data_dir))
    retried = target.wait_for("/stuck", 2, timeout=5)[1]
    assert retried.headers["X-CloudTasks-TaskRetryCount"] == "1"
    wait_until(lambda: not list(client.list_tasks(parent=queue.name)), 3, "the task to finish")


def test_a_data_folder_serves_one_emulator_at_a_time(start_emulator, tmp_path):
    data_dir = tmp_path / "persisted"
    start_emulator(data_dir=data_dir)
    with pytest.raises(DataDirInUse):
        start_emulator(data_dir=data_dir)
