"""DocumentStore.transition against the Firestore emulator: a change is decided on what was read
and written only if nobody wrote the record in between; a lost race is decided again on the new
state, never written over it; only the fields that changed are sent."""

import uuid

from contentflow import documents as sm
from contentflow.documents import Source
from contentflow.services import Services
from contentflow.settings import Settings


def _new_id() -> str:
    return uuid.uuid4().hex


def _source(settings) -> Source:
    return Source(bucket=settings.bucket("inbox"), name=f"race/{uuid.uuid4().hex}.txt", md5_hash="x", size=3)


def test_a_write_between_read_and_write_makes_the_transition_decide_again(stack, db):
    services = Services(Settings())
    s = services.settings
    doc_id = _new_id()
    services.store.transition(doc_id, lambda cur: sm.register(cur, doc_id, _source(s), s.spec, sm.utcnow()))
    ref = db.collection(s.collection).document(doc_id)
    seen = []

    def decide(current):
        seen.append(current.retries)
        if len(seen) == 1:  # another writer changes the record after our read
            ref.update({"retries": 7})
        return sm.Decision(outcome="marked", document=current.model_copy(update={"preview": f"after {current.retries}"}))

    decision = services.store.transition(doc_id, decide)
    assert seen == [0, 7]  # decided again on the new state
    record = ref.get().to_dict()
    assert record["retries"] == 7 and record["preview"] == "after 7" == decision.document.preview


def test_two_registrations_at_once_create_one_record_and_the_other_sees_it(stack, db):
    services = Services(Settings())
    s = services.settings
    doc_id = _new_id()
    calls = []

    def first(current):
        calls.append(current)
        if len(calls) == 1:  # the other registration creates the record after our read
            services.store.transition(doc_id, lambda cur: sm.register(cur, doc_id, _source(s), s.spec, sm.utcnow()))
        return sm.register(current, doc_id, _source(s), s.spec, sm.utcnow())

    decision = services.store.transition(doc_id, first)
    assert calls[0] is None and calls[1] is not None
    assert decision.outcome != "created"  # the second one found the record: not created twice


def test_only_the_fields_that_changed_are_written(stack, db):
    """The update names only what changed; a decision that changes nothing writes nothing (a whole
    record rewritten with `set` would have been a billed write, a new update time and index work)."""
    services = Services(Settings())
    s = services.settings
    doc_id = _new_id()
    services.store.transition(doc_id, lambda cur: sm.register(cur, doc_id, _source(s), s.spec, sm.utcnow()))
    ref = db.collection(s.collection).document(doc_id)
    before = ref.get()
    services.store.transition(doc_id, lambda cur: sm.Decision(outcome="marked", document=cur.model_copy(update={"retries": 1})))
    after = ref.get()
    assert after.update_time > before.update_time
    changed = {k for k in after.to_dict() if after.to_dict()[k] != before.to_dict().get(k)}
    assert changed == {"retries"}
    unchanged = ref.get().update_time
    services.store.transition(doc_id, lambda cur: sm.Decision(outcome="marked", document=cur))
    assert ref.get().update_time == unchanged  # nothing changed: nothing written


def test_a_known_read_is_decided_on_without_reading_and_a_stale_one_decides_again(stack, db):
    from contentflow.metering import metered
    from contentflow.store import ABSENT

    services = Services(Settings())
    s = services.settings
    doc_id = _new_id()
    register = lambda cur: sm.register(cur, doc_id, _source(s), s.spec, sm.utcnow())  # noqa: E731
    with metered() as created:  # a new record: created without a read
        assert services.store.transition(doc_id, register, known=ABSENT).outcome == "created"
    assert created["firestore.reads"] == 0 and created["firestore.writes"] == 1
    with metered() as again:  # it exists: the create fails, then it reads and decides as before
        assert services.store.transition(doc_id, register, known=ABSENT).outcome != "created"
    assert again["firestore.reads"] == 1 and again["firestore.writes"] == 0

    ref = db.collection(s.collection).document(doc_id)
    read = services.store.read(doc_id)
    mark = lambda cur: sm.Decision(outcome="marked", document=cur.model_copy(update={"preview": f"after {cur.retries}"}))  # noqa: E731
    with metered() as fresh:
        services.store.transition(doc_id, mark, known=read)
    assert fresh["firestore.reads"] == 0 and fresh["firestore.writes"] == 1
    assert ref.get().to_dict()["preview"] == "after 0"

    stale = services.store.read(doc_id)
    ref.update({"retries": 5})  # another writer, after our read
    with metered() as raced:
        decision = services.store.transition(doc_id, mark, known=stale)
    assert raced["firestore.reads"] == 1 and raced["firestore.writes"] == 1  # the precondition sent it back
    assert ref.get().to_dict()["preview"] == "after 5" == decision.document.preview
