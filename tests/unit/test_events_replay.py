"""EventReplay against an in-memory archive: an event leaves the archive only once its republish is
confirmed, unchanged but for the attributes Pub/Sub added when it dead-lettered it."""

from __future__ import annotations

import json
from concurrent.futures import Future
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from contentflow.events_replay import EventReplay
from contentflow.spec import load_spec

SPEC = load_spec()
PROJECT = "p-test-1"


def _event(n: int) -> SimpleNamespace:
    data = json.dumps({"id": f"doc{n}.document.processed", "type": "contentflow.document.processed"}).encode()
    attributes = {"event_type": "document.processed", "document_id": f"doc{n}",
                  "CloudPubSubDeadLetterSourceDeliveryCount": "5",
                  "CloudPubSubDeadLetterSourceSubscription": "consumer-sub"}
    return SimpleNamespace(data=data, attributes=attributes, publish_time=datetime(2026, 1, 1, tzinfo=timezone.utc))


class FakeArchive:
    """A pull subscription: pulled messages are out until acked (gone) or released (back)."""

    def __init__(self, messages):
        self.waiting = {f"ack-{i}": m for i, m in enumerate(messages)}
        self.out: dict[str, object] = {}
        self.acked: list[str] = []

    def pull(self, request, timeout):
        taken = list(self.waiting)[:request["max_messages"]]
        received = []
        for ack_id in taken:
            self.out[ack_id] = self.waiting.pop(ack_id)
            received.append(SimpleNamespace(ack_id=ack_id, message=self.out[ack_id]))
        return SimpleNamespace(received_messages=received)

    def acknowledge(self, request, timeout):
        for ack_id in request["ack_ids"]:
            self.acked.append(ack_id)
            self.out.pop(ack_id)

    def modify_ack_deadline(self, request, timeout):
        assert request["ack_deadline_seconds"] == 0
        for ack_id in request["ack_ids"]:
            self.waiting[ack_id] = self.out.pop(ack_id)


class FakePublisher:
    def __init__(self, fail_after: int | None = None):
        self.published: list[tuple[str, bytes, dict]] = []
        self.fail_after = fail_after

    def publish(self, topic, data, **attributes):
        future = Future()
        if self.fail_after is not None and len(self.published) >= self.fail_after:
            future.set_exception(TimeoutError("no answer"))
        else:
            self.published.append((topic, data, attributes))
            future.set_result(str(len(self.published)))
        return future


def test_replays_unchanged_and_takes_each_event_only_after_its_publish():
    events = [_event(n) for n in range(3)]
    archive, publisher = FakeArchive(events), FakePublisher()
    report = EventReplay(SPEC, PROJECT, archive, publisher).run(limit=10)
    assert report.replayed == 3 and report.error is None
    assert [e["event_id"] for e in report.events] == [f"doc{n}.document.processed" for n in range(3)]
    for (topic, data, attributes), original in zip(publisher.published, events):
        assert topic == f"projects/{PROJECT}/topics/document-events"
        assert data == original.data
        assert attributes == {"event_type": "document.processed", "document_id": original.attributes["document_id"]}
    assert not archive.waiting and not archive.out and len(archive.acked) == 3


def test_a_publish_not_confirmed_leaves_the_event_and_the_rest_in_the_archive():
    archive, publisher = FakeArchive([_event(n) for n in range(3)]), FakePublisher(fail_after=1)
    report = EventReplay(SPEC, PROJECT, archive, publisher).run(limit=10)
    assert report.replayed == 1 and "not confirmed" in report.error
    assert archive.acked == ["ack-0"]
    assert sorted(archive.waiting) == ["ack-1", "ack-2"] and not archive.out  # released at once, not lost


def test_dry_run_and_limit_take_nothing_beyond_what_they_replay():
    archive = FakeArchive([_event(n) for n in range(5)] + [SimpleNamespace(data=b"not json", attributes={}, publish_time=None)])
    report = EventReplay(SPEC, PROJECT, archive, FakePublisher()).run(limit=10, dry_run=True)
    assert len(report.events) == 5 and report.replayed == 0 and report.unreadable == 1
    assert len(archive.waiting) == 6 and not archive.acked
    publisher = FakePublisher()
    report = EventReplay(SPEC, PROJECT, archive, publisher).run(limit=2)
    assert report.replayed == 2 and len(publisher.published) == 2 and len(archive.waiting) == 4
    with pytest.raises(ValueError):
        EventReplay(SPEC, PROJECT, archive, publisher).run(limit=0)
