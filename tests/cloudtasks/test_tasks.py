"""Task API semantics: names and de-duplication, schedule_time, views, listing, run now, errors."""

import datetime as dt
import time

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2

from .support import Reply, make_queue, wait_until

pytestmark = pytest.mark.timeout(60)


def named(queue, task_id, url, **fields):
    return {"name": f"{queue.name}/tasks/{task_id}", "http_request": {"url": url}, **fields}


def test_a_task_name_is_refused_while_the_task_exists_and_after_it_ran(emulator, client, target):
    queue = make_queue(client, emulator, "dedupe")
    client.pause_queue(name=queue.name)
    client.create_task(parent=queue.name, task=named(queue, "doc-1-extract", target.url("/run")))
    with pytest.raises(exceptions.AlreadyExists):
        client.create_task(parent=queue.name, task=named(queue, "doc-1-extract", target.url("/run")))

    client.resume_queue(name=queue.name)
    target.wait_for("/run", 1, timeout=5)
    wait_until(lambda: not list(client.list_tasks(parent=queue.name)), 2, "the task to finish")
    with pytest.raises(exceptions.NotFound, match="existed recently"):
        client.get_task(name=f"{queue.name}/tasks/doc-1-extract")
    with pytest.raises(exceptions.AlreadyExists):
        client.create_task(parent=queue.name, task=named(queue, "doc-1-extract", target.url("/run")))
    assert len(target.received("/run")) == 1


def test_a_deleted_task_name_stays_taken_for_the_tombstone_window(start_emulator, connect, target):
    emulator = start_emulator(task_tombstone_seconds=0.5)
    client = connect(emulator)
    queue = make_queue(client, emulator, "window")
    client.pause_queue(name=queue.name)
    task = client.create_task(parent=queue.name, task=named(queue, "once", target.url("/x")))
    client.delete_task(name=task.name)
    with pytest.raises(exceptions.AlreadyExists):
        client.create_task(parent=queue.name, task=named(queue, "once", target.url("/x")))
    time.sleep(0.6)
    assert client.create_task(parent=queue.name, task=named(queue, "once", target.url("/x"))).name == task.name


def test_schedule_time_in_the_future_delays_dispatch(emulator, client, target):
    queue = make_queue(client, emulator, "later")
    eta = time.time() + 1.0
    created_at = time.monotonic()
    task = client.create_task(
        parent=queue.name,
        task={"http_request": {"url": target.url("/later")}, "schedule_time": dt.datetime.fromtimestamp(eta, dt.timezone.utc)},
    )
    assert task.schedule_time.timestamp() == pytest.approx(eta, abs=2e-6)  # microseconds
    request = target.wait_for("/later", 1, timeout=5)[0]
    waited = request.arrived - created_at
    assert 1.0 - 0.05 <= waited <= 1.0 + 0.3, waited
    assert float(request.headers["X-CloudTasks-TaskETA"]) == pytest.approx(eta, abs=1e-5)


def test_schedule_time_more_than_30_days_ahead_is_refused(emulator, client, target):
    queue = make_queue(client, emulator, "far")
    too_far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=31)
    with pytest.raises(exceptions.InvalidArgument):
        client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/x")}, "schedule_time": too_far})


def test_get_list_and_delete_tasks_with_views_and_pages(emulator, client, target):
    queue = make_queue(client, emulator, "listing")
    client.pause_queue(name=queue.name)
    created = [
        client.create_task(parent=queue.name, task=named(queue, f"t{i}", target.url("/x"), http_request={
            "url": target.url("/x"), "body": b"payload", "headers": {"Content-Type": "application/json"}}))
        for i in range(5)
    ]
    assert created[0].view == tasks_v2.Task.View.BASIC and created[0].http_request.body == b""

    basic = client.get_task(name=created[0].name)
    full = client.get_task(request={"name": created[0].name, "response_view": tasks_v2.Task.View.FULL})
    assert basic.http_request.body == b"" and full.http_request.body == b"payload"
    assert full.http_request.headers == {"Content-Type": "application/json", "User-Agent": "Google-Cloud-Tasks"}
    assert full.http_request.http_method == tasks_v2.HttpMethod.POST
    assert full.dispatch_count == 0 and full.create_time.timestamp() > 0

    pager = client.list_tasks(request={"parent": queue.name, "page_size": 2})
    pages = list(pager.pages)
    assert [len(page.tasks) for page in pages] == [2, 2, 1]
    assert sorted(t.name for page in pages for t in page.tasks) == sorted(t.name for t in created)

    client.delete_task(name=created[0].name)
    assert len(list(client.list_tasks(parent=queue.name))) == 4
    with pytest.raises(exceptions.NotFound):
        client.delete_task(name=created[0].name)
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=f"{queue.name}/tasks/never-was")


def test_run_task_dispatches_at_once_even_on_a_paused_queue(emulator, client, target):
    queue = make_queue(client, emulator, "manual")
    client.pause_queue(name=queue.name)
    task = client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/now")}})
    ran = client.run_task(name=task.name)
    assert ran.dispatch_count == 1 and ran.last_attempt.dispatch_time.timestamp() > 0
    target.wait_for("/now", 1, timeout=5)
    wait_until(lambda: not list(client.list_tasks(parent=queue.name)), 2, "the task to finish")
    with pytest.raises(exceptions.NotFound):
        client.run_task(name=task.name)


def test_failed_attempts_show_in_the_task(emulator, client, target):
    target.respond("/fail", lambda _: Reply(status=404))
    queue = make_queue(client, emulator, "visible", retry_config={"min_backoff": {"seconds": 30}, "max_backoff": {"seconds": 30}})
    task = client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/fail")}})
    target.wait_for("/fail", 1, timeout=5)
    wait_until(lambda: client.get_task(name=task.name).response_count == 1, 2, "the response to be recorded")
    seen = client.get_task(name=task.name)
    assert seen.dispatch_count == 1
    assert seen.last_attempt.response_status.code == 5  # google.rpc.Code.NOT_FOUND for HTTP 404
    assert seen.first_attempt.dispatch_time == seen.last_attempt.dispatch_time
    assert seen.schedule_time.timestamp() >= time.time() + 25  # the retry waits min_backoff


@pytest.mark.parametrize(
    "task, error",
    [
        ({"name": "{queue}/tasks/not a valid id", "http_request": {"url": "http://127.0.0.1:9/"}}, exceptions.InvalidArgument),
        ({"name": "{queue}-other/tasks/ok", "http_request": {"url": "http://127.0.0.1:9/"}}, exceptions.InvalidArgument),
        ({"http_request": {"url": ""}}, exceptions.InvalidArgument),
        ({"http_request": {"url": "ftp://127.0.0.1/"}}, exceptions.InvalidArgument),
        ({"http_request": {"url": "http://127.0.0.1:9/", "http_method": "GET", "body": b"x"}}, exceptions.InvalidArgument),
        ({"http_request": {"url": "http://127.0.0.1:9/", "oidc_token": {"audience": "a"}}}, exceptions.InvalidArgument),
        ({"http_request": {"url": "http://127.0.0.1:9/", "body": b"x" * (1024 * 1024 + 1)}}, exceptions.InvalidArgument),
        ({"app_engine_http_request": {"relative_uri": "/x"}}, exceptions.MethodNotImplemented),
    ],
)
def test_malformed_tasks_are_refused_with_production_codes(emulator, client, task, error):
    queue = make_queue(client, emulator, "strict")
    if "name" in task:
        task = {**task, "name": task["name"].format(queue=queue.name)}
    with pytest.raises(error):
        client.create_task(parent=queue.name, task=task)


def test_tasks_of_a_missing_queue_are_not_found(emulator, client):
    with pytest.raises(exceptions.NotFound, match="Queue does not exist"):
        client.create_task(parent=emulator.queue_path("missing"), task={"http_request": {"url": "http://127.0.0.1:9/"}})
    with pytest.raises(exceptions.NotFound):
        list(client.list_tasks(parent=emulator.queue_path("missing")))
