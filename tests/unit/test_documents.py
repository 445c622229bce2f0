"""The state machine, decision by decision (pure functions, no emulator needed)."""

from datetime import timedelta

import pytest

from contentflow import documents as sm
from contentflow.documents import Source, StepState
from contentflow.spec import load_spec

SPEC = load_spec()
T0 = sm.utcnow()


def registered():
    source = Source(bucket="b", name="a.txt", generation="1", md5_hash="abc", size=3)
    return sm.register(None, "0" * 32, source, SPEC, T0).document


def test_document_id_is_stable_for_same_bytes_and_new_for_new_bytes():
    a = sm.document_id_for("inbox", "a.txt", sm.md5_base64(b"one"), "1")
    assert a == sm.document_id_for("inbox", "a.txt", sm.md5_base64(b"one"), "2")  # re-upload, same bytes
    assert a != sm.document_id_for("inbox", "a.txt", sm.md5_base64(b"two"), "3")  # new version
    assert a != sm.document_id_for("inbox", "b.txt", sm.md5_base64(b"one"), "1")
    assert len(a) == 32


def test_register_twice_is_a_duplicate():
    doc = registered()
    assert doc.status == "received" and doc.steps["extract"].state == StepState.queued
    again = sm.register(doc, doc.id, doc.source, SPEC, T0, redelivery=False)
    assert again.outcome == "duplicate" and again.document is None
    started = sm.begin_step(doc, "extract", SPEC, T0, 60).document  # its hand-on arrived
    assert sm.register(started, doc.id, doc.source, SPEC, T0).outcome == "duplicate"


def test_full_walk_to_done():
    doc = registered()
    for name in ("extract", "analyse", "index"):
        begun = sm.begin_step(doc, name, SPEC, T0, 60)
        assert begun.outcome == "run" and begun.document.status == SPEC.step(name).status
        done = sm.complete_step(begun.document, name, begun.attempt, {}, SPEC, T0 + timedelta(seconds=1))
        assert done.outcome == "completed"
        doc = done.document
        assert doc.steps[name].state == StepState.succeeded and doc.steps[name].duration_ms == 1000
    assert doc.status == "done"


def test_duplicate_and_out_of_order_deliveries():
    doc = registered()
    assert sm.begin_step(doc, "analyse", SPEC, T0, 60).outcome == "not_ready"  # before extract finished
    running = sm.begin_step(doc, "extract", SPEC, T0, 60).document
    assert sm.begin_step(running, "extract", SPEC, T0, 60).outcome == "busy"  # concurrent duplicate
    finished = sm.complete_step(running, "extract", 1, {}, SPEC, T0).document
    # A late duplicate before analyse started: retried while extract's hand-on may be in flight
    # (a sender that died after its commit is covered by this retry), a duplicate once analyse ran.
    early = sm.begin_step(finished, "extract", SPEC, T0, 60)
    assert early.outcome == "busy" and early.retry_after_s == sm.HAND_ON_GRACE_S and early.document is None
    analysing = sm.begin_step(finished, "analyse", SPEC, T0, 60).document
    assert sm.begin_step(analysing, "extract", SPEC, T0, 60).outcome == "duplicate"  # late duplicate
    assert sm.complete_step(finished, "extract", 1, {}, SPEC, T0).outcome == "stale"


def test_expired_lease_is_taken_over_and_the_old_attempt_is_stale():
    doc = sm.begin_step(registered(), "extract", SPEC, T0, 60).document
    later = T0 + timedelta(seconds=61)
    takeover = sm.begin_step(doc, "extract", SPEC, later, 60)
    assert takeover.outcome == "run" and takeover.attempt == 2
    assert sm.complete_step(takeover.document, "extract", 1, {}, SPEC, later).outcome == "stale"
    assert sm.complete_step(takeover.document, "extract", 2, {}, SPEC, later).outcome == "completed"


def test_transient_failure_releases_permanent_failure_ends():
    doc = sm.begin_step(registered(), "extract", SPEC, T0, 60).document
    released = sm.fail_step(doc, "extract", 1, "storage timed out", True, SPEC, T0)
    assert released.outcome == "released"
    assert released.document.steps["extract"].state == StepState.queued
    assert released.document.steps["extract"].error == "storage timed out"
    failed = sm.fail_step(doc, "extract", 1, "encrypted PDF: password required", False, SPEC, T0)
    assert failed.outcome == "failed" and failed.document.status == "failed"
    assert failed.document.error.reason == "encrypted PDF: password required"
    assert sm.begin_step(failed.document, "extract", SPEC, T0 + timedelta(hours=1), 60).outcome == "duplicate"


def test_attempt_cap_ends_a_step_that_keeps_failing():
    doc = registered()
    for attempt in range(1, SPEC.step("extract").max_attempts + 1):
        begun = sm.begin_step(doc, "extract", SPEC, T0, 60)
        assert begun.outcome == "run" and begun.attempt == attempt
        doc = sm.fail_step(begun.document, "extract", attempt, "timeout", True, SPEC, T0).document
    gave_up = sm.begin_step(doc, "extract", SPEC, T0, 60)
    assert gave_up.outcome == "gave_up" and gave_up.document.status == "failed"
    assert gave_up.document.error.reason == "gave up after 5 attempts: timeout"


@pytest.mark.parametrize("age_s, lease_s, stuck", [(299, None, False), (301, None, True), (400, 60, False)])
def test_stuck_step_detection(age_s, lease_s, stuck):
    doc = registered()
    if lease_s:
        doc = sm.begin_step(doc, "extract", SPEC, T0 + timedelta(seconds=age_s - 1), lease_s).document
    now = T0 + timedelta(seconds=age_s)
    assert (sm.stuck_step(doc, SPEC, now) == "extract") is stuck


def test_a_terminal_failure_marks_its_event_pending_and_other_changes_do_not():
    now = T0
    doc = registered()
    assert doc.event_pending_since is None
    running = sm.begin_step(doc, "extract", SPEC, now, lease_s=60)
    released = sm.fail_step(running.document, "extract", running.attempt, "flaky", True, SPEC, now)
    assert released.outcome == "released" and released.document.event_pending_since is None
    again = sm.begin_step(released.document, "extract", SPEC, now, lease_s=60)
    failed = sm.fail_step(again.document, "extract", again.attempt, "unreadable", False, SPEC, now)
    assert failed.outcome == "failed" and failed.document.event_pending_since == now


def test_a_redelivery_to_a_terminal_document_waits_for_its_event_then_sends_it_if_never_confirmed():
    """The owner commits `failed` with the outbox mark and dies before publishing: a redelivery
    within the grace period is told to retry (the owner may still be publishing); after it, the
    redelivery sends the event itself; once confirmed (mark cleared) it is a plain duplicate."""
    doc = registered()
    running = sm.begin_step(doc, "extract", SPEC, T0, lease_s=60)
    failed = sm.fail_step(running.document, "extract", running.attempt, "unreadable", False, SPEC, T0).document
    early = sm.begin_step(failed, "extract", SPEC, T0 + timedelta(seconds=2), lease_s=60)
    assert early.outcome == "busy" and early.document is None
    assert early.retry_after_s == sm.EVENT_CONFIRM_GRACE_S - 2
    later = sm.begin_step(failed, "extract", SPEC, T0 + timedelta(seconds=sm.EVENT_CONFIRM_GRACE_S), lease_s=60)
    assert later.outcome == "duplicate" and later.announce and later.document is None
    failed.event_pending_since = None  # the event went out
    confirmed = sm.begin_step(failed, "extract", SPEC, T0 + timedelta(seconds=2), lease_s=60)
    assert confirmed.outcome == "duplicate" and not confirmed.announce


def test_a_late_dead_letter_does_not_undo_a_step_that_succeeded_or_runs_now():
    doc = registered()
    running = sm.begin_step(doc, "extract", SPEC, T0, 60).document
    busy = sm.fail_step(running, "extract", None, "gave up", False, SPEC, T0 + timedelta(seconds=1))
    assert busy.outcome == "busy" and busy.document is None
    done = sm.complete_step(running, "extract", 1, {}, SPEC, T0 + timedelta(seconds=2)).document
    late = sm.fail_step(done, "extract", None, "gave up", False, SPEC, T0 + timedelta(seconds=3))
    assert late.outcome == "stale" and late.document is None
    expired = sm.fail_step(running, "extract", None, "gave up", False, SPEC, T0 + timedelta(seconds=61))
    assert expired.outcome == "failed"  # the lease ran out: nobody is running it


def test_a_duplicate_delivery_resends_a_hand_on_only_when_it_was_lost_and_records_it():
    """A duplicate (an api submission's own upload event, a redelivery after the step finished)
    resends the next step's hand-on only if that step is queued and never started AND its hand-on
    failed or is older than the grace period (else it is in flight, e.g. behind a backlog); the
    resend is written with the decision, so concurrent duplicates resend it once."""
    doc = registered()
    soon, late = T0 + timedelta(seconds=5), T0 + timedelta(seconds=sm.HAND_ON_GRACE_S)
    again = sm.register(doc, doc.id, doc.source, SPEC, soon)  # in flight: retried, so a dead sender's hand-on is resent
    assert again.outcome == "busy" and again.retry_after_s == sm.HAND_ON_GRACE_S - 5 and again.document is None
    api = sm.register(doc, doc.id, doc.source, SPEC, soon, redelivery=False)  # the api answers its client instead
    assert api.outcome == "duplicate" and api.hand_on is None and api.document is None
    # The upload event of an object the api (or the URL fetcher) wrote and handed on itself is
    # acknowledged: held, a retry could re-register a document deleted meanwhile.
    submitted = doc.model_copy(deep=True)
    submitted.source.via = "api"
    assert sm.register(submitted, doc.id, submitted.source, SPEC, soon).outcome == "duplicate"
    lost = sm.register(doc, doc.id, doc.source, SPEC, late)
    assert lost.hand_on == "extract" and lost.trace_id == doc.trace_id
    resent = lost.document.steps["extract"]
    assert resent.redrives == 1 and resent.redriven_at == late and lost.document.updated_at == late
    # A concurrent duplicate decides on the record the first one wrote: no second resend.
    assert sm.register(lost.document, doc.id, doc.source, SPEC, late).hand_on is None
    assert sm.register(doc, doc.id, doc.source, SPEC, late, resend_lost_hand_on=False).hand_on is None
    # A hand-on known to have failed is resent by the very next duplicate.
    marked = sm.hand_on_failed(doc, "extract", soon)
    assert marked.outcome == "marked"
    assert sm.register(marked.document, doc.id, doc.source, SPEC, soon).hand_on == "extract"
    begun = sm.begin_step(doc, "extract", SPEC, T0, 60)
    assert sm.register(begun.document, doc.id, doc.source, SPEC, late).hand_on is None  # it started
    assert sm.hand_on_failed(begun.document, "extract", soon).outcome == "stale"
    done = sm.complete_step(begun.document, "extract", 1, {}, SPEC, T0).document
    assert sm.begin_step(done, "extract", SPEC, soon, 60).hand_on is None  # handed on recently
    dup = sm.begin_step(done, "extract", SPEC, late, 60)
    assert dup.outcome == "duplicate" and dup.hand_on == "analyse" and dup.document.steps["analyse"].redrives == 1
    analysing = sm.begin_step(done, "analyse", SPEC, T0, 60).document
    assert sm.begin_step(analysing, "extract", SPEC, late, 60).hand_on is None  # the next step started


def test_the_sweeper_redrive_is_recorded_and_waits_a_stuck_period_before_the_next():
    doc = registered()
    stuck_after = timedelta(seconds=SPEC.step("extract").stuck_after_s)
    assert sm.redrive(doc, SPEC, T0 + stuck_after / 2).outcome == "stale"  # queued, still in flight
    first = sm.redrive(doc, SPEC, T0 + stuck_after)
    assert first.outcome == "redriven" and first.hand_on == "extract"
    rec = first.document.steps["extract"]
    assert rec.redrives == 1 and rec.redriven_at == T0 + stuck_after and first.document.updated_at == T0 + stuck_after
    # A second sweep (or a concurrent one) soon after sees the recorded re-drive.
    assert sm.redrive(first.document, SPEC, T0 + stuck_after + timedelta(seconds=1)).outcome == "stale"
    second = sm.redrive(first.document, SPEC, T0 + 2 * stuck_after)
    assert second.outcome == "redriven" and second.document.steps["extract"].redrives == 2
    # ... and a duplicate delivery right after a re-drive does not resend it again.
    assert sm.register(second.document, doc.id, doc.source, SPEC, T0 + 2 * stuck_after).hand_on is None
    running = sm.begin_step(doc, "extract", SPEC, T0, 60).document
    assert sm.redrive(running, SPEC, T0 + timedelta(seconds=30)).outcome == "stale"  # under a live lease
    assert sm.redrive(None, SPEC, T0).outcome == "stale"


def url_document():
    return sm.register_url(None, "1" * 32, "https://example.org/a.pdf", "inbox", "a.pdf", T0).document


def test_a_url_document_is_fetching_until_fetched_then_joins_the_first_step():
    doc = url_document()
    assert doc.status == "fetching" and doc.source.via == "url" and doc.steps[sm.FETCH_STEP].state == StepState.queued
    begun = sm.begin_fetch(doc, T0, 60, max_attempts=3)
    assert begun.outcome == "run" and begun.attempt == 1
    assert sm.begin_fetch(begun.document, T0 + timedelta(seconds=1), 60, 3).outcome == "busy"
    source = Source(bucket="inbox", name=f"url/{doc.id}/a.pdf", generation="1", md5_hash="x", size=10,
                    content_type="application/pdf", via="url", url=doc.source.url)
    assert sm.fetched(begun.document, 2, source, SPEC, T0).outcome == "stale"  # not the current attempt
    done = sm.fetched(begun.document, 1, source, SPEC, T0 + timedelta(seconds=2))
    assert done.outcome == "completed" and done.hand_on == SPEC.first_step().name
    doc = done.document
    assert doc.status == "received" and doc.steps["extract"].state == StepState.queued
    assert doc.steps[sm.FETCH_STEP].duration_ms == 2000 and doc.metadata["filename"] == "a.pdf"
    assert sm.begin_fetch(doc, T0, 60, 3).outcome == "duplicate"
    assert sm.register_url(doc, doc.id, "https://x.org/", "inbox", None, T0).outcome == "duplicate"


def test_a_fetch_that_keeps_failing_gives_up_and_a_stuck_fetch_is_found():
    doc = url_document()
    assert sm.stuck_step(doc, SPEC, T0 + timedelta(seconds=sm.FETCH_STUCK_AFTER_S - 1)) is None
    assert sm.stuck_step(doc, SPEC, T0 + timedelta(seconds=sm.FETCH_STUCK_AFTER_S)) == sm.FETCH_STEP
    for attempt in (1, 2):
        begun = sm.begin_fetch(doc, T0, 60, max_attempts=2)
        doc = sm.fail_step(begun.document, sm.FETCH_STEP, attempt, "503 from the site", True, SPEC, T0).document
    gave_up = sm.begin_fetch(doc, T0, 60, max_attempts=2)
    assert gave_up.outcome == "gave_up" and gave_up.document.status == "failed"
    assert gave_up.document.error.step == sm.FETCH_STEP and "503 from the site" in gave_up.document.error.reason


def test_retry_re_drives_a_failed_document_from_its_failed_step_with_fresh_attempts():
    doc = registered()
    begun = sm.begin_step(doc, "extract", SPEC, T0, 60)
    failed = sm.fail_step(begun.document, "extract", 1, "unreadable", False, SPEC, T0).document
    retried = sm.retry_failed(failed, SPEC, T0 + timedelta(seconds=5))
    assert retried.outcome == "retried" and retried.hand_on == "extract"
    doc = retried.document
    assert doc.status == "extracting" and doc.error is None and doc.event_pending_since is None and doc.retries == 1
    assert doc.steps["extract"].attempts == 0 and doc.steps["extract"].state == StepState.queued
    assert sm.begin_step(doc, "extract", SPEC, T0, 60).outcome == "run"
    assert sm.retry_failed(doc, SPEC, T0).outcome == "conflict"  # not failed now
    assert sm.retry_failed(None, SPEC, T0).outcome == "stale"
    url_failed = sm.fail_step(sm.begin_fetch(url_document(), T0, 60, 3).document, sm.FETCH_STEP, 1, "404", False, SPEC, T0)
    again = sm.retry_failed(url_failed.document, SPEC, T0)
    assert again.hand_on == sm.FETCH_STEP and again.document.status == "fetching"


def walk(doc, steps, at=T0):
    for name in steps:
        begun = sm.begin_step(doc, name, SPEC, at, 60)
        doc = sm.complete_step(begun.document, name, begun.attempt, {}, SPEC, at).document
    return doc


def test_done_is_committed_with_the_outbox_mark_and_can_never_fail():
    """`document.processed` is published after `done` is written (the mark makes the sweeper send
    it if that publish is lost); a done document refuses every failure, so it never announces both."""
    before_last = walk(registered(), ("extract", "analyse"))
    assert before_last.event_pending_since is None  # only a terminal state carries the mark
    done = walk(before_last, ("index",), at=T0 + timedelta(seconds=5))
    assert done.status == "done" and done.event_pending_since == T0 + timedelta(seconds=5)
    for attempt in (None, done.steps["index"].attempts):
        refused = sm.fail_step(done, "index", attempt, "late dead letter", False, SPEC, T0 + timedelta(hours=1))
        assert refused.outcome == "stale" and refused.document is None
    assert sm.retry_failed(done, SPEC, T0).outcome == "conflict"
    assert sm.begin_step(done, "index", SPEC, T0 + timedelta(hours=1), 60).outcome == "duplicate"


def test_busy_says_when_the_lease_expires():
    """A busy delivery is retried (not acknowledged) with the lease's remaining time as its hint;
    after the lease, a delivery takes the step over (the owner died)."""
    running = sm.begin_step(registered(), "extract", SPEC, T0, 60).document
    busy = sm.begin_step(running, "extract", SPEC, T0 + timedelta(seconds=20.5), 60)
    assert busy.outcome == "busy" and busy.document is None and busy.retry_after_s == 40
    takeover = sm.begin_step(running, "extract", SPEC, T0 + timedelta(seconds=60), 60)
    assert takeover.outcome == "run" and takeover.attempt == 2


def test_a_live_owner_renews_its_lease_up_to_the_function_timeout_and_a_stale_one_cannot():
    doc = registered()
    running = sm.begin_step(doc, "extract", SPEC, T0, lease_s=30).document
    until = T0 + timedelta(seconds=300)
    renewed = sm.renew_lease(running, "extract", 1, T0 + timedelta(seconds=10), 30, until)
    assert renewed.outcome == "renewed"
    assert renewed.document.steps["extract"].lease_until == T0 + timedelta(seconds=40)
    # near the timeout the lease ends with it: a request the platform ended holds nothing
    late = sm.renew_lease(renewed.document, "extract", 1, T0 + timedelta(seconds=290), 30, until)
    assert late.document.steps["extract"].lease_until == until
    # another delivery took the step over after the lease ran out: the old owner cannot renew
    taken = sm.begin_step(running, "extract", SPEC, T0 + timedelta(seconds=31), lease_s=30).document
    stale = sm.renew_lease(taken, "extract", 1, T0 + timedelta(seconds=32), 30, until)
    assert stale.outcome == "stale" and stale.document is None and "no longer current" in stale.detail
    # a step that finished meanwhile: nothing to renew
    done = sm.complete_step(running, "extract", 1, {}, SPEC, T0 + timedelta(seconds=5)).document
    assert sm.renew_lease(done, "extract", 1, T0 + timedelta(seconds=6), 30, until).outcome == "stale"


def test_a_busy_answer_names_the_short_lease_not_the_function_timeout():
    running = sm.begin_step(registered(), "extract", SPEC, T0, lease_s=SPEC.delivery.lease_s).document
    busy = sm.begin_step(running, "extract", SPEC, T0 + timedelta(seconds=1), lease_s=SPEC.delivery.lease_s)
    assert busy.outcome == "busy" and busy.retry_after_s == SPEC.delivery.lease_s - 1
    assert SPEC.delivery.redelivery_window_s() >= 2 * SPEC.delivery.lease_s


def test_a_deferred_claim_is_applied_at_the_start_only_while_the_step_waits_as_read():
    doc = registered()
    local = sm.begin_step(doc, "extract", SPEC, T0, 30)  # decided on the record, not written
    assert local.outcome == "run" and local.attempt == 1
    later = T0 + timedelta(seconds=2)
    # Still queued as read: the commit applies the claim as of the start, then completes.
    claimed = sm.with_deferred_claim(doc, "extract", 1, SPEC, T0, 30)
    assert claimed.steps["extract"].state == StepState.running and claimed.steps["extract"].started_at == T0
    done = sm.complete_step(claimed, "extract", 1, {"preview": "x"}, SPEC, later)
    assert done.outcome == "completed" and done.document.steps["extract"].attempts == 1
    assert done.document.steps["extract"].duration_ms == 2000
    # Another delivery claimed meanwhile (attempt 1 is theirs, under a live lease): ours is stale.
    # Their attempt has our number but not our start: not ours to commit, fail or renew.
    theirs = sm.begin_step(doc, "extract", SPEC, T0 + timedelta(seconds=1), 30).document
    assert sm.with_deferred_claim(theirs, "extract", 1, SPEC, T0, 30) is None
    assert sm.complete_step(None, "extract", 1, {"preview": "x"}, SPEC, later).outcome == "stale"
    assert sm.claim_deferred(theirs, "extract", 1, SPEC, T0, later, 30, later).outcome == "stale"
    # Our own claim, written by the lease keeper while we worked: the commit completes it.
    ours = sm.claim_deferred(doc, "extract", 1, SPEC, T0, later, 30, later + timedelta(seconds=30)).document
    assert sm.with_deferred_claim(ours, "extract", 1, SPEC, T0, 30) is ours
    # A failed earlier attempt changed the count: ours (attempt 1) is no longer the next one.
    released = sm.fail_step(theirs, "extract", 1, "boom", True, SPEC, later).document
    assert sm.complete_step(sm.with_deferred_claim(released, "extract", 1, SPEC, T0, 30), "extract", 1, {},
                            SPEC, later).outcome == "stale"
    # A terminal document is left as it is.
    failed = sm.fail_step(theirs, "extract", 1, "bad", False, SPEC, later).document
    assert sm.with_deferred_claim(failed, "extract", 1, SPEC, T0, 30) is failed


def test_a_long_first_delivery_writes_its_claim_with_a_lease_from_now_capped_at_the_timeout():
    doc = registered()
    now = T0 + timedelta(seconds=10)
    decision = sm.claim_deferred(doc, "extract", 1, SPEC, T0, now, 30, until=T0 + timedelta(seconds=25))
    assert decision.outcome == "claimed"
    rec = decision.document.steps["extract"]
    assert rec.state == StepState.running and rec.attempts == 1 and rec.started_at == T0
    assert rec.lease_until == T0 + timedelta(seconds=25)  # not now + 30: the function's timeout ends it
    # Once written, renewals take over; claiming again is stale.
    assert sm.claim_deferred(decision.document, "extract", 1, SPEC, T0, now, 30, now).outcome == "stale"
    assert sm.renew_lease(decision.document, "extract", 1, now + timedelta(seconds=5), 30,
                          T0 + timedelta(seconds=60)).outcome == "renewed"
