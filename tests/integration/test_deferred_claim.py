"""A first delivery writes its claim with its commit (issue 12: one Firestore write fewer per
step), on the Firestore emulator: the record ends as if the claim had been written first; a
delivery that claimed meanwhile wins and the first one's result is discarded; work that outlasts
a third of the lease is claimed while it runs; a failed first delivery is counted."""

import time
import uuid

import pytest

from contentflow import documents as sm
from contentflow.documents import Source
from contentflow.errors import TransientError
from contentflow.metering import metered
from contentflow.pipeline import Pipeline
from contentflow.services import Services
from contentflow.settings import Settings

from tests.integration.test_outbox import NoHandOn


def _registered(services) -> str:
    s = services.settings
    doc_id = uuid.uuid4().hex
    source = Source(bucket=s.bucket("inbox"), name=f"deferred/{doc_id}.txt", md5_hash="x", size=3)
    services.store.transition(doc_id, lambda cur: sm.register(cur, doc_id, source, s.spec, sm.utcnow()))
    return doc_id


def _pipeline(services, handler, lease_s: int | None = None) -> Pipeline:
    s = services.settings
    pipeline = Pipeline(s, services.store, NoHandOn(s.spec, s.project_id, services.publisher, s.publish_timeout_s),
                        lambda step_name: handler)
    if lease_s is not None:  # the spec's 30 s lease would make the keeper's first tick wait 10 s
        spec = s.spec
        pipeline.spec = spec.model_copy(update={"delivery": spec.delivery.model_copy(update={"lease_s": lease_s})})
    return pipeline


def _record(db, services, doc_id) -> dict:
    return db.collection(services.settings.collection).document(doc_id).get().to_dict()


def test_a_first_delivery_writes_only_its_commit_and_a_retry_claims_first(stack, db):
    services = Services(Settings())
    pipeline = _pipeline(services, lambda doc: {"preview": "first"})
    first, retried = _registered(services), _registered(services)
    with metered() as costs:
        decision = pipeline.run_step("extract", first, first_delivery=True)
    assert decision.outcome == "completed"
    # One read, to decide; the commit is decided on it (its precondition: nobody wrote since).
    assert costs["firestore.writes"] == 1 and costs["firestore.reads"] == 1
    with metered() as claimed_first:
        pipeline.run_step("extract", retried, first_delivery=False)
    assert claimed_first["firestore.writes"] == 2 and claimed_first["firestore.reads"] == 2

    # Both records end the same way: the claim is applied at the work's start, in the commit.
    for doc_id in (first, retried):
        record = _record(db, services, doc_id)
        step = record["steps"]["extract"]
        assert record["status"] == "analysing" and record["preview"] == "first"
        assert step["state"] == "succeeded" and step["attempts"] == 1 and step["lease_until"] is None
        assert step["started_at"] <= step["finished_at"] and step["first_started_at"] == step["started_at"]
        assert step["duration_ms"] >= 0
        assert record["steps"]["analyse"]["state"] == "queued"


def test_a_delivery_that_claimed_meanwhile_wins_and_the_first_result_is_discarded(stack, db):
    services = Services(Settings())
    doc_id = _registered(services)
    duplicate = _pipeline(services, lambda doc: {"preview": "duplicate"})

    def first_handler(doc):
        # A duplicate (a retry) arrives while the first delivery works unclaimed: it claims and
        # finishes first.
        assert duplicate.run_step("extract", doc_id, first_delivery=False).outcome == "completed"
        return {"preview": "first"}

    decision = _pipeline(services, first_handler).run_step("extract", doc_id, first_delivery=True)
    assert decision.outcome == "stale" and "no longer current" in decision.detail
    record = _record(db, services, doc_id)
    assert record["preview"] == "duplicate" and record["steps"]["extract"]["attempts"] == 1
    assert record["steps"]["extract"]["state"] == "succeeded"


def test_work_that_outlasts_a_third_of_the_lease_is_claimed_while_it_runs(stack, db):
    services = Services(Settings())
    doc_id = _registered(services)
    seen = {}

    def slow(doc):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the keeper's first tick comes after 10 / 3 s
            step = _record(db, services, doc_id)["steps"]["extract"]
            if step["state"] == "running":
                seen.update(step)
                return {"preview": "slow"}
            time.sleep(0.2)
        raise AssertionError("the claim was not written while the step worked")

    with metered() as costs:
        decision = _pipeline(services, slow, lease_s=10).run_step("extract", doc_id, first_delivery=True)
    assert decision.outcome == "completed"
    assert seen["attempts"] == 1 and seen["lease_until"] > seen["started_at"]
    assert costs["firestore.writes"] == 2  # the claim while it ran, the commit
    step = _record(db, services, doc_id)["steps"]["extract"]
    assert step["state"] == "succeeded" and step["attempts"] == 1 and step["started_at"] == seen["started_at"]


def test_a_failed_first_delivery_is_counted_in_one_write(stack, db):
    services = Services(Settings())
    doc_id = _registered(services)

    def unavailable(doc):
        raise TransientError("model unavailable")

    with metered() as costs, pytest.raises(TransientError):
        _pipeline(services, unavailable).run_step("extract", doc_id, first_delivery=True)
    assert costs["firestore.writes"] == 1
    step = _record(db, services, doc_id)["steps"]["extract"]
    assert step["state"] == "queued" and step["attempts"] == 1 and step["error"] == "model unavailable"
    # The retry claims attempt 2 and finishes.
    decision = _pipeline(services, lambda doc: {"preview": "second"}).run_step("extract", doc_id)
    assert decision.outcome == "completed"
    assert _record(db, services, doc_id)["steps"]["extract"]["attempts"] == 2


def test_a_duplicate_still_working_keeps_its_attempt_and_the_first_result_is_discarded(stack, db):
    services = Services(Settings())
    s = services.settings
    doc_id = _registered(services)

    def first_handler(doc):
        # A retry claims attempt 1 (the number this delivery would have written) and is still at work.
        theirs = services.store.transition(doc_id, lambda cur: sm.begin_step(cur, "extract", s.spec, sm.utcnow(), 30))
        assert theirs.outcome == "run" and theirs.attempt == 1
        return {"preview": "first"}

    decision = _pipeline(services, first_handler).run_step("extract", doc_id, first_delivery=True)
    assert decision.outcome == "stale"
    step = _record(db, services, doc_id)["steps"]["extract"]
    assert step["state"] == "running" and step["attempts"] == 1  # theirs to commit, not completed by ours
    assert "preview" not in _record(db, services, doc_id) or _record(db, services, doc_id)["preview"] != "first"


def test_a_paid_call_is_made_only_after_the_claim_is_written(stack, db):
    """Before a billed call (the inference adapter calls ownership.before_paid_call) the deferred
    claim is written; a duplicate that claimed first makes this delivery stop before paying, not
    acknowledged and with no failure recorded."""
    from contentflow.errors import StepBusy
    from contentflow.ownership import before_paid_call

    services = Services(Settings())
    s = services.settings
    doc_id = _registered(services)
    seen = {}

    def paying(doc):
        before_paid_call()
        seen.update(_record(db, services, doc_id)["steps"]["extract"])  # what the model call would run under
        before_paid_call()  # a second call: the claim is not written twice
        return {"preview": "paid"}

    with metered() as costs:
        assert _pipeline(services, paying).run_step("extract", doc_id, first_delivery=True).outcome == "completed"
    assert seen["state"] == "running" and seen["attempts"] == 1
    assert costs["firestore.writes"] == 2

    raced = _registered(services)
    calls = []

    def raced_paying(doc):
        services.store.transition(raced, lambda cur: sm.begin_step(cur, "extract", s.spec, sm.utcnow(), 30))  # a duplicate claims
        before_paid_call()
        calls.append("paid")
        return {"preview": "never"}

    with pytest.raises(StepBusy):
        _pipeline(services, raced_paying).run_step("extract", raced, first_delivery=True)
    assert calls == []
    step = _record(db, services, raced)["steps"]["extract"]
    assert step["state"] == "running" and step["attempts"] == 1 and step["error"] is None
