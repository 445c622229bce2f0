"""Hand-ons do not multiply under load: a sweeper re-drive is recorded on the record and
rate-bounded (at most once per stuck_after_s per document, and a cap per run), so repeated sweeps
over a backlog of queued, never-started documents re-send each hand-on once, not once per sweep."""

import uuid
from datetime import timedelta

from contentflow import documents as sm
from contentflow.dispatch import Dispatcher
from contentflow.recovery import Recovery
from contentflow.services import Services
from contentflow.settings import Settings

from tests.integration.test_recovery import _stuck_document

BACKLOG = 4


class CountingDispatcher(Dispatcher):
    """Counts the hand-ons for the test's documents (and sends none: they stay a backlog);
    any other document's hand-on goes out as usual."""

    def __init__(self, mine: set[str], *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mine = mine
        self.hand_ons: list[tuple[str, str]] = []

    def hand_on(self, document_id, step_name, trace_id, redrive=""):
        if document_id in self.mine:
            self.hand_ons.append((document_id, step_name))
            return None
        return super().hand_on(document_id, step_name, trace_id, redrive)


def test_repeated_sweeps_over_a_backlog_redrive_each_document_once_per_stuck_period(stack, db, inbox):
    backlog = {_stuck_document(stack, db, inbox, f"backlog {uuid.uuid4().hex}".encode(), running=False)
               for _ in range(BACKLOG)}
    services = Services(Settings())
    s = services.settings
    counting = CountingDispatcher(backlog, s.spec, s.project_id, services.publisher, s.publish_timeout_s)
    stuck_after = timedelta(seconds=s.spec.step("extract").stuck_after_s)
    start = sm.utcnow()

    def sweeps(at, times=3):
        recovery = Recovery(s, services.store, counting, clock=lambda: at)
        before = len(counting.hand_ons)
        for _ in range(times):
            recovery.sweep()
        return counting.hand_ons[before:]

    assert sorted(sweeps(start)) == sorted((doc_id, "extract") for doc_id in backlog)  # once each, not three times
    assert sweeps(start + stuck_after / 2) == []  # re-driven recently: still in flight, not lost
    later = sweeps(start + stuck_after + timedelta(seconds=1))
    assert sorted(later) == sorted((doc_id, "extract") for doc_id in backlog)
    for doc_id in backlog:
        extract = db.collection("documents").document(doc_id).get().to_dict()["steps"]["extract"]
        assert extract["state"] == "queued" and extract["redrives"] == 2
