"""The scheduled jobs' pure parts: request validation, the report's grouping and percentiles, and
its tolerance of hostile record fields. (The jobs themselves run against the local stack in
tests/integration/test_jobs.py.)"""

from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from contentflow.jobs import JobRequest, ReconcileJob, ReportJob, RetentionJob
from contentflow.jobs.report import MAX_NAME_CHARS, MAX_REASON_CHARS, MAX_USAGE_GROUPS, _Tally, latency, normalise_reason


def test_job_requests_take_the_spec_bodies_and_bounded_options():
    assert isinstance(JobRequest.validate_json(b'{"job": "retention"}'), RetentionJob)
    assert JobRequest.validate_json(b'{"job": "reconcile", "min_age_s": 0}').min_age_s == 0
    now = datetime(2026, 3, 1, 0, 15, tzinfo=timezone.utc)
    assert JobRequest.validate_json(b'{"job": "report"}').day(now) == date(2026, 2, 28)  # yesterday, by default
    assert JobRequest.validate_json(b'{"job": "report", "date": "today"}').day(now) == date(2026, 3, 1)
    assert JobRequest.validate_json(b'{"job": "report", "date": "2025-12-31"}').day(now) == date(2025, 12, 31)
    assert ReportJob(job="report").max_documents == 5000 and ReconcileJob(job="reconcile").min_age_s == 600


@pytest.mark.parametrize("body", [
    b"{}", b'{"job": "vacuum"}', b"not json", b'{"job": "retention", "batch_size": 0}',
    b'{"job": "retention", "time_budget_s": 3600}', b'{"job": "reconcile", "page_size": 5000}',
    b'{"job": "report", "date": "2026-02-30"}', b'{"job": "report", "surprise": 1}',
])
def test_bad_job_requests_are_refused(body):
    with pytest.raises(ValidationError):
        JobRequest.validate_json(body)


def test_reasons_group_without_their_ids_urls_and_sizes():
    a = normalise_reason("Cloud Storage unavailable: 503 GET http://127.0.0.1:4443/storage/v1/b/x/o/y?alt=media\nTraceback ...")
    b = normalise_reason("Cloud Storage unavailable: 503 GET https://storage.googleapis.com/b/other")
    assert a == b == "Cloud Storage unavailable: 503 GET <url>"
    assert normalise_reason("document too large: 12345678 bytes > 10485760") == "document too large: <n> bytes > <n>"
    assert normalise_reason("document 0123456789abcdef0123456789abcdef gone") == "document <id> gone"
    assert normalise_reason("gave up after 5 attempts") == "gave up after 5 attempts"  # small numbers tell the story
    assert normalise_reason(None) == normalise_reason("   ") == "(no reason recorded)"
    assert len(normalise_reason("x" * 10_000)) == MAX_REASON_CHARS


def test_latency_is_nearest_rank():
    assert latency([]) is None
    one = latency([42])
    assert (one.count, one.p50_ms, one.p95_ms, one.max_ms) == (1, 42, 42, 42)
    values = list(range(100, 0, -1))  # 1..100, unordered
    lat = latency(values)
    assert (lat.count, lat.p50_ms, lat.p95_ms, lat.max_ms) == (100, 50, 95, 100)
    lat = latency([10, 20, 30, 1000])
    assert (lat.p50_ms, lat.p95_ms, lat.max_ms) == (20, 1000, 1000)


def _done(steps: dict, **fields) -> dict:
    created = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
    return {"status": "done", "created_at": created, "updated_at": created + timedelta(seconds=3),
            "steps": {name: {"state": "succeeded", "duration_ms": ms} for name, ms in steps.items()}, **fields}


def test_tally_adds_durations_failures_and_usage():
    tally = _Tally(["extract", "analyse"])
    usage = {"model_calls": 2, "input_tokens": 100, "output_tokens": 10, "billable_characters": 0, "retries": 1}
    tally.add("a" * 32, _done({"extract": 10, "analyse": 200},
                              analysis={"backend": "vertex", "model": "gemini", "reused": False, "usage": usage},
                              index={"backend": "vertex", "model": "emb", "reused_from": None, "usage": {"model_calls": 1}}))
    tally.add("b" * 32, _done({"extract": 30, "analyse": 0},
                              analysis={"backend": "vertex", "model": "gemini", "reused": True, "usage": {}}))
    tally.add("c" * 32, {"status": "failed", "steps": {"extract": {"state": "failed"}},
                         "error": {"step": "extract", "reason": "unsupported type at offset 123456"}})
    tally.add("d" * 32, {"status": "failed", "error": {"step": "extract", "reason": "unsupported type at offset 999999"}})
    assert tally.durations == {"extract": [10, 30], "analyse": [200, 0]}
    assert tally.end_to_end == [3000, 3000]
    assert dict(tally.failures) == {("extract", "unsupported type at offset <n>"): 2}
    assert tally.examples[("extract", "unsupported type at offset <n>")] == ["c" * 32, "d" * 32]
    analysis = tally.usage[("analysis", "vertex", "gemini")]
    assert (analysis.documents, analysis.reused, analysis.model_calls) == (2, 1, 2)
    assert (analysis.input_tokens, analysis.output_tokens, analysis.retries) == (100, 10, 1)
    assert tally.usage[("embeddings", "vertex", "emb")].model_calls == 1


def test_tally_survives_hostile_record_fields():
    tally = _Tally(["extract"])
    tally.add("e" * 32, {"status": "done", "steps": {"extract": {"state": "succeeded", "duration_ms": -5},
                                                     "not_a_step": {"state": "succeeded", "duration_ms": 1}},
                         "created_at": "yesterday", "analysis": {"backend": "x" * 5000, "model": 7,
                                                                 "usage": {"model_calls": "many", "input_tokens": True}}})
    tally.add("f" * 32, {"status": "failed", "steps": "nonsense", "error": {"step": "../../etc", "reason": ["a list"]}})
    tally.add("0" * 32, {"status": "done", "steps": {"extract": {"state": "succeeded", "duration_ms": True}}})
    assert tally.durations == {"extract": []} and tally.end_to_end == []
    [(key, group)] = tally.usage.items()
    assert key == ("analysis", "x" * MAX_NAME_CHARS, "unknown") and group.model_calls == 0 and group.input_tokens == 0
    [(step, _reason)] = tally.failures
    assert step == "unknown"
    for i in range(MAX_USAGE_GROUPS + 5):  # many models: the groups stay bounded
        tally.add(f"{i:032x}", {"status": "done", "analysis": {"backend": "b", "model": f"m{i}"}})
    assert sum(1 for k in tally.usage if k[0] == "analysis") == MAX_USAGE_GROUPS + 1  # the last one is "other"
    assert tally.usage[("analysis", "other", "other")].documents == 6


class _Snap:
    def __init__(self, doc_id: str, created_at: datetime):
        self.id, self.created_at = doc_id, created_at


class _Progress:
    def __init__(self):
        self.saved: list[dict] = []

    def save(self, fields: dict) -> None:
        self.saved.append(fields)


class _Deletion:
    """Deletes from `records`; refuses the ids in `refused` for good (a PermanentError)."""

    def __init__(self, records: dict, refused=(), on_delete=lambda: None):
        self.records, self.refused, self.on_delete, self.calls = records, set(refused), on_delete, []

    def delete(self, doc_id: str):
        from contentflow.deletion import Deleted
        from contentflow.errors import InvalidInput

        self.calls.append(doc_id)
        self.on_delete()
        if doc_id in self.refused:
            raise InvalidInput("cannot delete this one")
        found = self.records.pop(doc_id, None) is not None
        return Deleted(doc_id, found=found, objects=3 if found else 0, chunks=2 if found else 0)


def _retention(records: dict, deletion, clock_s: list[float]):
    """A Retention over `records` (id -> created_at) instead of Firestore; `clock_s[0]` is its monotonic clock."""
    from contentflow.jobs.retention import Retention

    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    jobs_collection = SimpleNamespace(document=lambda name: None)
    job = Retention(30, None, deletion, jobs_collection, 1.0, clock=lambda: now, monotonic=lambda: clock_s[0])
    job.progress = _Progress()

    def older_than(cutoff, limit, after):  # oldest first, after the last one seen
        rows = sorted((c, i) for i, c in records.items() if c < cutoff)
        if after is not None:
            rows = [r for r in rows if r > (after.created_at, after.id)]
        return [_Snap(i, c) for c, i in rows[:limit]]

    job._older_than = older_than
    return job, now


def test_retention_runs_in_batches_up_to_its_cap_and_skips_what_it_cannot_delete():
    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    records = {f"old{i}": now - timedelta(days=40 + i) for i in range(5)} | {"young": now - timedelta(days=1)}
    deletion = _Deletion(records, refused={"old3"})
    job, _ = _retention(records, deletion, [0.0])
    first = job.run(batch_size=2, max_documents=3)
    # oldest first: old4, old3 (refused: skipped, the scan moves past it), old2
    assert deletion.calls == ["old4", "old3", "old2"]
    assert (first["deleted"], first["skipped"], first["skipped_documents"], first["stopped_by"], first["more"]) == (
        2, 1, ["old3"], "max_documents", True)
    assert (first["objects_deleted"], first["chunks_deleted"]) == (6, 4)
    second = job.run(batch_size=2, max_documents=10)  # resumes; the refused one is tried again, once
    assert deletion.calls[3:] == ["old3", "old1", "old0"]
    assert (second["deleted"], second["skipped"], second["stopped_by"], second["more"]) == (2, 1, "done", False)
    assert set(records) == {"old3", "young"}
    increments = [f["deleted_total"].value for f in job.progress.saved if "deleted_total" in f]
    assert sum(increments) == 4


def test_retention_stops_before_its_time_budget():
    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    records = {f"old{i}": now - timedelta(days=40 + i) for i in range(10)}
    clock = [0.0]

    def tick():
        clock[0] += 1.0  # each deletion takes a second

    deletion = _Deletion(records, on_delete=tick)
    job, _ = _retention(records, deletion, clock)
    summary = job.run(batch_size=100, max_documents=100, time_budget_s=3.5)
    assert (summary["deleted"], summary["stopped_by"], summary["more"]) == (4, "time_budget", True)
    assert len(records) == 6
