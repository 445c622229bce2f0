"""The daily report: what the pipeline did on one UTC day, kept as a Firestore document
(`reports/<YYYY-MM-DD>`) and as the same JSON in the processed bucket (`reports/<YYYY-MM-DD>.json`).

- Counts are Firestore count aggregations (exact, billed one read per 1,000 entries): documents
  received that day (created_at), finished that day (done / failed with their last change that
  day: the composite index (status, updated_at) of the sweeper serves it), and every document by
  its status now.
- Failures, latency and model usage come from a bounded scan of the documents finished that day
  (failed first, then done; at most `max_documents`, `scan.truncated` says when more were left):
  failures grouped by step and a normalised reason (ids, URLs and long numbers masked), the top
  MAX_FAILURE_GROUPS; nearest-rank p50 / p95 / max of each step's `duration_ms` and of the whole
  journey (created -> done); model calls, tokens and characters as the analyse and index steps
  recorded them, per backend and model. Firestore / Storage operation counts are logged per request
  (`costs` on each function's last log line), not recorded on documents: they are not in here.

"Finished that day" is "terminal, last changed that day": a done document re-embedded later (the
backfill) counts on the day of its re-embedding.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, Field

from contentflow import documents as sm
from contentflow.errors import TransientError
from contentflow.jobs._progress import JobProgress
from contentflow.logs import get_logger
from contentflow.metering import count
from contentflow.store import FIRESTORE_TRANSIENT

log = get_logger("contentflow.jobs.report")
JOB_ID = "report"
MAX_FAILURE_GROUPS = 20
MAX_EXAMPLES = 3
MAX_USAGE_GROUPS = 20
MAX_REASON_CHARS = 200
MAX_NAME_CHARS = 200  # a model id (the local analysis model names its libraries: ~100 characters)
PAGE_SIZE = 500
BLOB_PREFIX = "reports/"
# Only what the report reads: a record's summary, entities and previews stay in Firestore.
SCAN_FIELDS = ["status", "created_at", "updated_at", "steps", "error",
               "analysis.backend", "analysis.model", "analysis.reused", "analysis.usage",
               "index.backend", "index.model", "index.reused_from", "index.usage"]
USAGE_COUNTERS = ("model_calls", "input_tokens", "output_tokens", "billable_characters", "retries")


class Latency(BaseModel):
    count: int
    p50_ms: int
    p95_ms: int
    max_ms: int


class FailureGroup(BaseModel):
    step: str
    reason: str = Field(max_length=MAX_REASON_CHARS)
    count: int
    example_document_ids: list[str] = Field(default_factory=list, max_length=MAX_EXAMPLES)


class ModelUsage(BaseModel):
    kind: Literal["analysis", "embeddings"]
    backend: str
    model: str
    documents: int = 0
    reused: int = 0  # reused from a record of identical content: no model call
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    billable_characters: int = 0
    retries: int = 0


class Finished(BaseModel):
    done: int
    failed: int


class ScanInfo(BaseModel):
    documents: int  # finished documents read for failures, latency and usage
    limit: int
    truncated: bool  # more finished documents than `limit`: those figures cover a part of the day


class DailyReport(BaseModel):
    date: date
    generated_at: datetime
    complete: bool  # generated after the day ended (a report of today is partial)
    received: int  # documents registered that day
    finished: Finished  # documents that ended that day
    by_status: dict[str, int]  # every document, by its status when the report was made
    failures: list[FailureGroup] = Field(max_length=MAX_FAILURE_GROUPS)
    failures_other: int  # failed documents outside the groups listed
    latency_ms: dict[str, Latency]  # per step: its successful attempts' duration
    end_to_end_ms: Latency | None  # done documents: registered -> done
    model_usage: list[ModelUsage] = Field(max_length=MAX_USAGE_GROUPS * 2)
    scan: ScanInfo


_URL = re.compile(r"\b(?:gs|https?)://\S+")
_HEX_ID = re.compile(r"\b[0-9a-fA-F]{12,}\b")
_LONG_NUMBER = re.compile(r"\d{4,}")


def normalise_reason(reason: object) -> str:
    """The failure reason as a group key: its first line, URLs, ids and numbers of 4+ digits (sizes,
    byte offsets, ports) masked, whitespace collapsed, cut to MAX_REASON_CHARS."""
    text = str(reason or "").strip()[:2000]
    text = text.splitlines()[0] if text else ""
    text = _URL.sub("<url>", text)
    text = _HEX_ID.sub("<id>", text)
    text = _LONG_NUMBER.sub("<n>", text)
    return " ".join(text.split())[:MAX_REASON_CHARS] or "(no reason recorded)"


def latency(values: list[int]) -> Latency | None:
    """Nearest-rank percentiles (each one a measured value)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = lambda q: ordered[max(0, math.ceil(q * len(ordered)) - 1)]  # noqa: E731
    return Latency(count=len(ordered), p50_ms=rank(0.50), p95_ms=rank(0.95), max_ms=ordered[-1])


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def _count(value: object) -> int:
    """A counter read from a record: a non-negative int, anything else 0 (records are bounded input)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _name(value: object) -> str:
    return str(value)[:MAX_NAME_CHARS] if isinstance(value, str) and value else "unknown"


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class _Tally:
    """What the scan adds up, one finished document at a time."""

    def __init__(self, steps: list[str]):
        self.steps = steps
        self.durations: dict[str, list[int]] = {s: [] for s in steps}
        self.end_to_end: list[int] = []
        self.failures: Counter = Counter()
        self.examples: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.usage: dict[tuple[str, str, str], ModelUsage] = {}

    def add(self, doc_id: str, data: dict) -> None:
        steps = data.get("steps") if isinstance(data.get("steps"), dict) else {}
        for step in self.steps:
            record = steps.get(step)
            if isinstance(record, dict) and record.get("state") == "succeeded":
                duration = record.get("duration_ms")
                if isinstance(duration, int) and not isinstance(duration, bool) and duration >= 0:
                    self.durations[step].append(duration)
        status = data.get("status")
        if status == "done":
            created, finished = _aware(data.get("created_at")), _aware(data.get("updated_at"))
            if created and finished and finished >= created:
                self.end_to_end.append(int((finished - created).total_seconds() * 1000))
        elif status == "failed":
            error = data.get("error") if isinstance(data.get("error"), dict) else {}
            step = error.get("step") if error.get("step") in self.steps else "unknown"
            key = (step, normalise_reason(error.get("reason")))
            self.failures[key] += 1
            if len(self.examples[key]) < MAX_EXAMPLES:
                self.examples[key].append(doc_id)
        self._add_usage("analysis", data.get("analysis"), reused=lambda a: a.get("reused") is True)
        self._add_usage("embeddings", data.get("index"), reused=lambda i: bool(i.get("reused_from")))

    def _add_usage(self, kind: str, record: object, reused: Callable[[dict], bool]) -> None:
        if not isinstance(record, dict):
            return
        key = (kind, _name(record.get("backend")), _name(record.get("model")))
        group = self.usage.get(key)
        if group is None:
            if sum(1 for k in self.usage if k[0] == kind) >= MAX_USAGE_GROUPS:
                key = (kind, "other", "other")
                group = self.usage.get(key)
            if group is None:
                group = self.usage[key] = ModelUsage(kind=kind, backend=key[1], model=key[2])
        group.documents += 1
        group.reused += int(reused(record))
        usage = record.get("usage") if isinstance(record.get("usage"), dict) else {}
        for counter in USAGE_COUNTERS:
            setattr(group, counter, getattr(group, counter) + _count(usage.get(counter)))


class Reports:
    def __init__(self, spec, documents_collection, reports_collection, jobs_collection, blobs, processed_bucket: str,
                 timeout_s: float, retry=None, clock: Callable[[], datetime] = sm.utcnow):
        self.spec = spec
        self._documents = documents_collection
        self._reports = reports_collection
        self.blobs = blobs
        self.processed_bucket = processed_bucket
        self.progress = JobProgress(jobs_collection, JOB_ID, timeout_s, retry)
        self._timeout = timeout_s
        self._retry = retry
        self.clock = clock

    @staticmethod
    def object_name(day: date) -> str:
        return f"{BLOB_PREFIX}{day.isoformat()}.json"

    def yesterday(self) -> date:
        return (self.clock().astimezone(timezone.utc) - timedelta(days=1)).date()

    def run(self, day: date | None = None, max_documents: int = 5000) -> dict:
        """Builds the report of `day` (default yesterday, UTC) and keeps it; answers it with where it went."""
        day = day or self.yesterday()
        report = self.build(day, max_documents)
        body = report.model_dump(mode="json")
        # JSON values in both places: the document and the object are the same report.
        self._write_document(day, body)
        uri = self.blobs.write(self.processed_bucket, self.object_name(day), json.dumps(body, indent=1), "application/json")
        self.progress.save({"last_run": {"date": day.isoformat(), "generated_at": report.generated_at,
                                         "scanned": report.scan.documents, "truncated": report.scan.truncated}})
        log.info("daily report written", date=day.isoformat(), received=report.received,
                 done=report.finished.done, failed=report.finished.failed, scanned=report.scan.documents,
                 truncated=report.scan.truncated)
        return {"job": JOB_ID, "document": f"{self._reports.id}/{day.isoformat()}", "object": uri, "report": body}

    def build(self, day: date, max_documents: int = 5000) -> DailyReport:
        from google.cloud.firestore_v1.base_query import FieldFilter

        start, end = day_bounds(day)
        now = self.clock()
        # `fetching`: a URL document before its fetch (documents.register_url).
        statuses = ["fetching", "received", *(s.status for s in self.spec.steps), "done", "failed"]
        by_status = {s: self._count(self._documents.where(filter=FieldFilter("status", "==", s))) for s in statuses}
        received = self._count(self._documents.where(filter=FieldFilter("created_at", ">=", start))
                               .where(filter=FieldFilter("created_at", "<", end)))
        finished = {s: self._count(self._finished(s, start, end)) for s in ("done", "failed")}
        tally = _Tally([sm.FETCH_STEP, *(s.name for s in self.spec.steps)])
        scanned, truncated = 0, False
        for status in ("failed", "done"):  # failures first: the scan's cap never hides them behind successes
            for doc_id, data in self._scan(status, start, end, max_documents - scanned + 1):
                if scanned >= max_documents:
                    truncated = True
                    break
                tally.add(doc_id, data)
                scanned += 1
            if truncated:
                break
        ranked = tally.failures.most_common()
        groups = [FailureGroup(step=step, reason=reason, count=n, example_document_ids=tally.examples[(step, reason)])
                  for (step, reason), n in ranked[:MAX_FAILURE_GROUPS]]
        return DailyReport(
            date=day, generated_at=now, complete=now >= end, received=received,
            finished=Finished(**finished), by_status=by_status,
            failures=groups, failures_other=sum(n for _, n in ranked[MAX_FAILURE_GROUPS:]),
            latency_ms={step: lat for step, values in tally.durations.items() if (lat := latency(values))},
            end_to_end_ms=latency(tally.end_to_end),
            model_usage=sorted(tally.usage.values(), key=lambda u: (u.kind, u.backend, u.model)),
            scan=ScanInfo(documents=scanned, limit=max_documents, truncated=truncated),
        )

    # --- reading kept reports (the api) -------------------------------------------------------
    def get(self, day: date) -> DailyReport | None:
        try:
            snap = self._reports.document(day.isoformat()).get(timeout=self._timeout, retry=self._retry)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.reads")
        return DailyReport.model_validate(snap.to_dict()) if snap.exists else None

    def latest(self) -> DailyReport | None:
        """The report of the most recent day reported (ISO dates sort as days)."""
        from google.cloud import firestore

        query = self._reports.order_by("date", direction=firestore.Query.DESCENDING).limit(1)
        try:
            snaps = list(query.stream(timeout=self._timeout, retry=self._retry))
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.reads")
        return DailyReport.model_validate(snaps[0].to_dict()) if snaps else None

    # --- internals ------------------------------------------------------------------------------
    def _finished(self, status: str, start: datetime, end: datetime):
        from google.cloud.firestore_v1.base_query import FieldFilter

        return (self._documents.where(filter=FieldFilter("status", "==", status))
                .where(filter=FieldFilter("updated_at", ">=", start))
                .where(filter=FieldFilter("updated_at", "<", end)))

    def _scan(self, status: str, start: datetime, end: datetime, limit: int):
        """(id, fields) of the documents of `status` last changed in [start, end), a page at a
        time, at most `limit` (ordered by updated_at: the (status, updated_at) index serves it)."""
        query = self._finished(status, start, end).order_by("updated_at").select(SCAN_FIELDS)
        after, seen = None, 0
        while seen < limit:
            size = min(PAGE_SIZE, limit - seen)
            page_query = query.start_after(after) if after is not None else query
            try:
                snaps = list(page_query.limit(size).stream(timeout=self._timeout, retry=self._retry))
            except FIRESTORE_TRANSIENT as err:
                raise TransientError("Firestore unavailable", detail=str(err)) from err
            count("firestore.reads", max(1, len(snaps)))
            for snap in snaps:
                yield snap.id, snap.to_dict() or {}
            seen += len(snaps)
            if len(snaps) < size:
                return
            after = snaps[-1]

    def _count(self, query) -> int:
        try:
            [[result]] = query.count().get(timeout=self._timeout, retry=self._retry)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        value = int(result.value)
        count("firestore.reads", 1 + value // 1000)
        return value

    def _write_document(self, day: date, body: dict) -> None:
        try:
            self._reports.document(day.isoformat()).set(body, timeout=self._timeout, retry=self._retry)
        except FIRESTORE_TRANSIENT as err:
            raise TransientError("Firestore unavailable", detail=str(err)) from err
        count("firestore.writes")
