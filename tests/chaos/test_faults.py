"""Issue 11's acceptance under injected faults, on the chaos stack (tests/chaos/conftest.py):
duplicated and reordered deliveries change nothing, crashes every few seconds lose nothing and
double nothing, a model storm ends with everything done and no queue above its rate, emulator
outages end with every document terminal, and the hostile corpus fails cleanly with no message
left cycling. No scheduler runs: recovery comes from redelivery alone."""

from __future__ import annotations

import json
import os
import re
import time
import uuid

import requests

from local.chaos import Chaos, ChaosPlan, Outage, Storm, Workload, check, send_owed_events, upload, wait_terminal
from local.delivery_faults import DeliveryFaults

VOLATILE = re.compile(r"(_at|_ms|_s|_since)$")
VOLATILE_KEYS = {"trace_id", "generation", "uploaded_at", "duration_ms", "attempts", "redrives"}


def _normal(value, names: dict[str, str]):
    """A record without what differs between two runs of the same bytes under other names: times,
    durations, traces, the object generation; the document id and object name become `names`'
    placeholders."""
    if isinstance(value, dict):
        return {k: _normal(v, names) for k, v in sorted(value.items()) if k not in VOLATILE_KEYS and not VOLATILE.search(k)}
    if isinstance(value, list):
        return [_normal(v, names) for v in value]
    if hasattr(value, "isoformat"):
        return "<time>"
    if isinstance(value, str):
        for real, placeholder in names.items():
            value = value.replace(real, placeholder)
    return value


def _chunks(db, items) -> dict[str, list]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    out = {}
    for n, item in enumerate(items):
        snaps = db.collection("chunks").where(filter=FieldFilter("document_id", "==", item.doc_id)).get(timeout=30)
        out[item.doc_id] = sorted(json.dumps(_normal(s.to_dict(), _names(item, n)), sort_keys=True, default=str) for s in snaps)
    return out


def _names(item, n: int) -> dict[str, str]:
    return {item.doc_id: f"<doc {n}>", item.name: f"<name {n}>"}


def _wipe_firestore(stack) -> None:
    host = stack.client_env()["FIRESTORE_EMULATOR_HOST"]
    r = requests.delete(f"http://{host}/emulator/v1/projects/{stack.project_id}/databases/(default)/documents", timeout=30)
    r.raise_for_status()


def _calls(before: dict, after: dict) -> dict:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) - before.get(k, 0)}


def test_every_delivery_duplicated_and_reordered_leaves_the_state_of_a_clean_run(chaos):
    """The same 24 documents twice on an empty database (the same bytes under other names, so
    other ids: Cloud Tasks keeps task names): once clean, once with every delivery sent twice
    (half racing the original, half after it) and held up to half a second (so they overtake each
    other). Records and chunks are identical, each document announced exactly once, and the
    model was not called once more."""
    chaos.calm()
    run = f"dup-{uuid.uuid4().hex[:6]}"
    outcomes = []
    for label, faults in (("clean", DeliveryFaults()),
                          ("doubled", DeliveryFaults(duplicate=1.0, duplicate_late_max_s=2.0, reorder_max_s=0.5, seed=3))):
        _wipe_firestore(chaos.stack)
        chaos.stack.proxies.set_faults(faults)
        items = Workload.mixed(24, run, seed=5, with_samples=False, with_hostile=False).items
        for item in items:
            item.name = f"{label}/{item.name}"
        before, proxied = chaos.model_calls(), chaos.stack.proxies.snapshot()
        records, observer = chaos.run(items, timeout_s=180)
        try:
            chaos.wait_events(observer, items)
            time.sleep(3)  # late duplicates still on their way: they must change nothing either
            records = observer.records([i.doc_id for i in items])
            report = check(items, records, observer)
        finally:
            observer.close()
        chaos.stack.proxies.set_faults(DeliveryFaults())
        duplicates = sum(v.get("duplicates", 0) for v in chaos.stack.proxies.snapshot().values()) - \
            sum(v.get("duplicates", 0) for v in proxied.values())
        outcomes.append({"records": {n: _normal(records[i.doc_id], _names(i, n)) for n, i in enumerate(items)},
                         "chunks": dict(enumerate(_chunks(chaos.db, items).values())),
                         "calls": _calls(before, chaos.model_calls()), "report": report, "duplicates": duplicates})
    clean, doubled = outcomes
    assert clean["report"]["problems"] == [] and doubled["report"]["problems"] == [], doubled["report"]["problems"]
    assert clean["report"]["by_status"] == {"done": 24}
    assert doubled["duplicates"] >= 24 * 4  # every hop of every document was delivered twice
    assert clean["duplicates"] == 0
    for name, record in clean["records"].items():
        assert doubled["records"][name] == record, name
    assert doubled["chunks"] == clean["chunks"]
    assert all(chunks for chunks in clean["chunks"].values())
    assert doubled["calls"] == clean["calls"] and clean["calls"], (clean["calls"], doubled["calls"])


def test_crashes_every_few_seconds_lose_nothing_and_double_nothing(chaos):
    """150 documents while a pipeline function is killed (SIGKILL, requests in flight cut) about
    every 3 s and cold-started: every document done, announced exactly once, its chunks stored
    once; with no sweeper running, so no document waited for one."""
    chaos.calm()
    items = Workload.mixed(150, f"crash-{uuid.uuid4().hex[:6]}", seed=9, with_samples=False, with_hostile=False).items
    before = chaos.model_calls()
    started = time.monotonic()
    plan = ChaosPlan(crash_every_s=3.0, crash_down_max_s=1.0, seed=4)
    monkey = Chaos(chaos.stack, plan).start()
    try:
        records, observer = chaos.run(items, timeout_s=420, rate_per_s=2.5)
    finally:
        monkey.stop()
    try:
        chaos.wait_events(observer, items)
        report = check(items, records, observer)
    finally:
        observer.close()
    elapsed = time.monotonic() - started
    assert sum(monkey.crashes.values()) >= min(10, elapsed / 10), monkey.log
    assert len(monkey.crashes) >= 3, monkey.crashes  # the hops of every kind were cut
    assert report["problems"] == [], report["problems"][:20]
    assert report["by_status"] == {"done": 150}
    chunks = _chunks(chaos.db, items)
    for item in items:  # chunk ids are per document and index: a second index run would not add, but check
        assert len(chunks[item.doc_id]) == records[item.doc_id]["index"]["chunks"], item.name
    analyses = sum(n for key, n in _calls(before, chaos.model_calls()).items() if key.endswith(":generateContent"))
    # A crash between the model's answer and the commit costs one call again: at most one per crash.
    assert 150 <= analyses <= 150 + sum(monkey.crashes.values()), analyses


def test_a_429_storm_for_a_third_of_the_run_ends_with_every_document_done_within_the_queue_rate(chaos):
    """60 documents over about 30 s; the model answers 429 to the first 20 analyses (a third of
    the run, counted rather than timed, so a loaded machine that brings the documents late still
    meets the storm). All done after it, and the model-calls queue never dispatched above its rate
    (token bucket: in any window of w seconds at most burst + rate * w, seen at the analyse
    function's door)."""
    chaos.calm()
    items = Workload.mixed(60, f"storm-{uuid.uuid4().hex[:6]}", seed=13, with_samples=False, with_hostile=False).items
    since = time.monotonic()
    before = requests.get(chaos.stack.vertex_url + "/_fake/stats", timeout=10).json()["faults_served"].get("rate_limit", 0)
    storm = Storm(start_s=0, seconds=240, count=20, methods=["generateContent"], mode="rate_limit")
    monkey = Chaos(chaos.stack, ChaosPlan(storms=[storm])).start()
    try:
        records, observer = chaos.run(items, timeout_s=300, rate_per_s=2.0)
    finally:
        monkey.stop()
    try:
        chaos.wait_events(observer, items)
        report = check(items, records, observer)
    finally:
        observer.close()
    assert report["problems"] == [], report["problems"][:20]
    served = requests.get(chaos.stack.vertex_url + "/_fake/stats", timeout=10).json()["faults_served"].get("rate_limit", 0)
    assert served - before == 20, f"the storm refused {served - before} calls, not 20"
    limits = chaos.stack.spec.queues["model-calls"].rate_limits
    arrivals = chaos.stack.proxies.arrival_times("analyse", since)
    assert len(arrivals) >= 60
    for i, t0 in enumerate(arrivals):
        for j in range(i, len(arrivals)):
            window = arrivals[j] - t0
            allowed = limits.max_burst_size + limits.max_dispatches_per_second * window + 1
            assert j - i + 1 <= allowed, (i, j, window)


def test_emulator_outages_end_with_every_document_terminal_with_a_reason(chaos):
    """40 documents while Firestore, then Pub/Sub, are cut off from the functions for 10 s each
    (connections reset, new ones refused, as in an outage; both come back with their state). Every
    document ends done, or failed with a reason a person can read; none is lost, none announced
    twice."""
    chaos.calm()
    items = Workload.mixed(40, f"outage-{uuid.uuid4().hex[:6]}", seed=17, with_samples=False, with_hostile=False).items
    plan = ChaosPlan(outages=[Outage(component="firestore", start_s=3, seconds=10),
                              Outage(component="pubsub", start_s=16, seconds=10)])
    monkey = Chaos(chaos.stack, plan).start()
    try:
        records, observer = chaos.run(items, timeout_s=300, rate_per_s=2.0)
    finally:
        monkey.stop()
    assert [e["action"] for e in monkey.log] == ["outage", "back", "outage", "back"], monkey.log
    try:
        # A document that became terminal while Pub/Sub was out could not announce it: its record
        # keeps the outbox mark, and the sweeper sends the event once the grace period is over.
        owed = send_owed_events(observer, items, records)
        assert set(owed["silent"]) <= set(owed["owed"]), f"not announced and not owed: {owed}"
        if owed["silent"]:
            sweep = owed["sweep"]
            assert sweep["processed_events_resent"] + sweep["failure_events_resent"] >= len(owed["silent"]), owed
        report = check(items, records, observer)
    finally:
        observer.close()
    problems = [p for p in report["problems"] if "expected done" not in p]  # failing with a reason is allowed here
    assert problems == [], problems[:20]
    for item in items:
        record = records[item.doc_id]
        assert record["status"] == "done" or (record.get("error") or {}).get("reason"), item.name


def test_the_hostile_corpus_fails_cleanly_restarts_nothing_and_leaves_nothing_cycling(chaos):
    """Every hostile file fails with its expected reason; no function process (nor a worker of
    one) was restarted because of it; once all are failed, no delivery reaches any function for
    15 s (nothing left cycling between retries)."""
    chaos.calm()
    items = Workload.hostile(f"hostile-{uuid.uuid4().hex[:6]}").items
    assert len(items) >= 25
    pids_before = _function_pids(chaos.stack)
    records, observer = chaos.run(items, timeout_s=240)
    try:
        chaos.wait_events(observer, items)
        report = check(items, records, observer)
    finally:
        observer.close()
    assert report["problems"] == [], report["problems"][:20]
    assert report["by_status"] == {"failed": len(items)}
    deadline = time.monotonic() + 60
    while not chaos.stack.proxies.quiet_for(15):
        assert time.monotonic() < deadline, f"deliveries keep coming: {chaos.stack.proxies.snapshot()}"
        time.sleep(1)
    assert _function_pids(chaos.stack) == pids_before


def _function_pids(stack) -> dict[str, set[int]]:
    """Each function's gunicorn master and workers (the extraction sandbox's worker is meant to be
    replaced when a parse is stopped at its limits: not counted)."""
    out = {}
    for name in stack.spec.functions:
        pgid = stack.processes[f"fn:{name}"].pid
        pids = set()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        cmdline = f.read()
                except OSError:
                    continue
                if int(fields[2]) == pgid and fields[0] != "Z" and b"functions_framework" in cmdline:
                    pids.add(int(entry))
        out[name] = pids
    return out
