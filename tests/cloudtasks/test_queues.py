"""Queue API semantics: create/get/list/update/pause/resume/purge/delete and their errors."""

import datetime as dt

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2

from .support import make_queue

pytestmark = pytest.mark.timeout(60)


def test_create_fills_production_defaults(emulator, client):
    queue = make_queue(client, emulator, "defaults")
    assert queue.state == tasks_v2.Queue.State.RUNNING
    assert queue.rate_limits.max_dispatches_per_second == 500
    assert queue.rate_limits.max_burst_size == 100
    assert queue.rate_limits.max_concurrent_dispatches == 1000
    assert queue.retry_config.max_attempts == 100
    assert queue.retry_config.min_backoff == dt.timedelta(seconds=0.1)
    assert queue.retry_config.max_backoff == dt.timedelta(hours=1)
    assert queue.retry_config.max_doublings == 16
    assert client.get_queue(name=queue.name) == queue


def test_queue_lifecycle(emulator, client, target):
    queue = make_queue(client, emulator, "life")
    other = make_queue(client, emulator, "other")
    assert [q.name for q in client.list_queues(parent=emulator.parent)] == [queue.name, other.name]

    paused = client.pause_queue(name=queue.name)
    assert paused.state == tasks_v2.Queue.State.PAUSED
    listed = client.list_queues(request={"parent": emulator.parent, "filter": "state: PAUSED"})
    assert [q.name for q in listed] == [queue.name]

    for _ in range(3):
        client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/life")}})
    purged = client.purge_queue(name=queue.name)
    assert purged.purge_time.timestamp() > 0
    assert list(client.list_tasks(parent=queue.name)) == []

    client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/life")}})
    assert client.resume_queue(name=queue.name).state == tasks_v2.Queue.State.RUNNING
    target.wait_for("/life", 1, timeout=5)
    assert len(target.received("/life")) == 1  # the purged tasks never ran

    client.delete_queue(name=queue.name)
    with pytest.raises(exceptions.NotFound):
        client.get_queue(name=queue.name)
    assert [q.name for q in client.list_queues(parent=emulator.parent)] == [other.name]


def test_update_queue_with_a_mask_changes_only_the_named_fields(emulator, client):
    queue = make_queue(client, emulator, "masked", rate_limits={"max_concurrent_dispatches": 7},
                       retry_config={"max_attempts": 9})
    updated = client.update_queue(
        queue={"name": queue.name, "retry_config": {"max_attempts": 4, "max_doublings": 1}, "rate_limits": {"max_concurrent_dispatches": 1}},
        update_mask={"paths": ["retry_config.max_attempts"]},
    )
    assert updated.retry_config.max_attempts == 4
    assert updated.retry_config.max_doublings == 16
    assert updated.rate_limits.max_concurrent_dispatches == 7
    with pytest.raises(exceptions.InvalidArgument):
        client.update_queue(queue={"name": queue.name}, update_mask={"paths": ["no_such_field"]})


def test_update_queue_creates_a_missing_queue(emulator, client):
    created = client.update_queue(queue={"name": emulator.queue_path("upserted"), "rate_limits": {"max_dispatches_per_second": 3}})
    assert created.rate_limits.max_dispatches_per_second == 3
    assert client.get_queue(name=created.name).state == tasks_v2.Queue.State.RUNNING


def test_queue_errors_carry_production_status_codes(start_emulator, connect):
    emulator = start_emulator(queue_tombstone_seconds=60)
    client = connect(emulator)
    queue = make_queue(client, emulator, "taken")
    with pytest.raises(exceptions.AlreadyExists):
        make_queue(client, emulator, "taken")
    with pytest.raises(exceptions.InvalidArgument):
        client.create_queue(parent=emulator.parent, queue={"name": f"{emulator.parent}/queues/bad_name!"})
    with pytest.raises(exceptions.InvalidArgument):
        make_queue(client, emulator, "too-fast", rate_limits={"max_dispatches_per_second": 501})
    with pytest.raises(exceptions.InvalidArgument):
        make_queue(client, emulator, "inverted", retry_config={"min_backoff": {"seconds": 10}, "max_backoff": {"seconds": 1}})
    for call in (client.get_queue, client.pause_queue, client.resume_queue, client.purge_queue, client.delete_queue):
        with pytest.raises(exceptions.NotFound):
            call(name=emulator.queue_path("missing"))
    client.delete_queue(name=queue.name)
    with pytest.raises(exceptions.FailedPrecondition, match="existed too recently"):
        make_queue(client, emulator, "taken")


def test_queues_from_a_spec_dict(emulator, client, target):
    created = emulator.ensure_queues({
        "model-calls": {  # the pipeline spec's spelling
            "description": "Caps the rate of calls to the model",
            "rate_limits": {"max_dispatches_per_second": 5, "max_burst_size": 10, "max_concurrent_dispatches": 10},
            "retry": {"max_attempts": 6, "min_backoff_s": 1, "max_backoff_s": 60, "max_doublings": 4,
                      "max_retry_duration_s": 3600},
        },
        "plain": {"retry_config": {"min_backoff": "0.5s", "max_doublings": 0}},
    })
    assert [q.name for q in created] == [emulator.queue_path("model-calls"), emulator.queue_path("plain")]
    model_calls = client.get_queue(name=emulator.queue_path("model-calls"))
    assert model_calls.rate_limits.max_burst_size == 10
    assert model_calls.retry_config.max_retry_duration == dt.timedelta(hours=1)
    plain = client.get_queue(name=emulator.queue_path("plain"))
    assert plain.retry_config.min_backoff == dt.timedelta(seconds=0.5)
    assert plain.retry_config.max_doublings == 0  # given explicitly, so not replaced by the default

    # Applying the spec again reconfigures in place and keeps the queue's tasks and state.
    client.pause_queue(name=plain.name)
    client.create_task(parent=plain.name, task={"http_request": {"url": target.url("/x")}})
    emulator.ensure_queues({"plain": {"rate_limits": {"max_dispatches_per_second": 2}}})
    again = client.get_queue(name=plain.name)
    assert again.rate_limits.max_dispatches_per_second == 2 and again.state == tasks_v2.Queue.State.PAUSED
    assert len(list(client.list_tasks(parent=plain.name))) == 1
