"""The status page (`GET /`): documents by status, recent failures with their reasons, per-step
latency, the latest daily report, recent documents and a search box; server-rendered HTML and
CSS (no JavaScript, no external assets), so it works behind a proxy and with scripts disabled.

Each section reads its own data; one that fails is shown as unavailable (the error goes to the
log) and the rest of the page still renders. Once a dependency times out or is unavailable, the
later sections are not tried: a Firestore outage answers in one timeout, not one per section."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from contentflow.api.deps import get_services
from contentflow.api.pages import page_response, render
from contentflow.documents import FETCH_STEP, Document, StepState, utcnow
from contentflow.errors import PermanentError, TransientError
from contentflow.jobs.report import latency
from contentflow.logs import get_logger
from contentflow.search import MAX_QUERY_CHARS, SearchRequest
from contentflow.services import Services

router = APIRouter(include_in_schema=False)
log = get_logger("contentflow.api.status_page")

RECENT_DOCUMENTS = 20
RECENT_FAILURES = 10
LATENCY_SAMPLE = 100  # the most recent done documents the latency figures are taken from
SEARCH_RESULTS = 10
# What the page shows of a field that comes from a document or a request, at most.
MAX_REASON_CHARS = 300
MAX_SNIPPET_CHARS = 240
MAX_TITLE_CHARS = 120
MAX_FILENAME_CHARS = 80
MAX_LABELS = 6
MAX_LABEL_CHARS = 40


@dataclass
class Section:
    """One part of the page: its data, or why it is missing."""

    data: Any = None
    unavailable: bool = False
    skipped: bool = False  # not tried: an earlier section found a dependency down


@dataclass
class _Sections:
    dependency_down: bool = False

    def read(self, name: str, reader: Callable[[], Any]) -> Section:
        if self.dependency_down:
            return Section(unavailable=True, skipped=True)
        try:
            return Section(data=reader())
        except TransientError as err:
            self.dependency_down = True
            log.warning("status page: a dependency is unavailable", section=name, reason=str(err.reason)[:500])
        except Exception:
            log.exception("status page: section failed", section=name)
        return Section(unavailable=True)


def _cut(text: object, limit: int) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def _labels(labels: object) -> list[str]:
    return [_cut(label, MAX_LABEL_CHARS) for label in (labels or [])[:MAX_LABELS]] if isinstance(labels, list) else []


def _filename(doc: Document) -> str:
    name = doc.metadata.get("filename") or doc.source.name.rsplit("/", 1)[-1] or doc.source.url or ""
    return _cut(name, MAX_FILENAME_CHARS) or "(unnamed)"


def _statuses(s: Services) -> list[str]:
    return ["fetching", "received", *(step.status for step in s.settings.spec.steps), "done", "failed"]


def _counts(s: Services) -> dict:
    by_status = {status: s.store.count("status", status) for status in _statuses(s)}
    return {"by_status": by_status, "total": sum(by_status.values())}


def _failures(s: Services) -> list[dict]:
    rows = []
    for doc in s.store.list_documents(status="failed", limit=RECENT_FAILURES):
        error = doc.error
        rows.append({"id": doc.id, "filename": _filename(doc), "step": _cut(error.step if error else "", 40) or "unknown",
                     "reason": _cut(error.reason if error else "", MAX_REASON_CHARS) or "(no reason recorded)",
                     "at": error.at if error else doc.updated_at})
    return rows


def _latency(s: Services) -> dict:
    """Nearest-rank p50 / p95 / max of each step's successful duration, and of the whole journey,
    over the most recent done documents."""
    done = s.store.list_documents(status="done", limit=LATENCY_SAMPLE)
    steps = [step.name for step in s.settings.spec.steps]
    if any(FETCH_STEP in doc.steps for doc in done):
        steps.insert(0, FETCH_STEP)
    durations: dict[str, list[int]] = {step: [] for step in steps}
    journeys = []
    for doc in done:
        for step in steps:
            record = doc.steps.get(step)
            if record is not None and record.state == StepState.succeeded and record.duration_ms is not None:
                durations[step].append(max(0, record.duration_ms))
        journeys.append(max(0, int((doc.updated_at - doc.created_at).total_seconds() * 1000)))
    rows = [{"step": step, "figures": latency(values)} for step, values in durations.items()]
    return {"sample": len(done), "limit": LATENCY_SAMPLE, "rows": rows, "end_to_end": latency(journeys)}


def _report(s: Services):
    return s.reports.latest()


def _recent(s: Services) -> list[dict]:
    return [{"id": doc.id, "filename": _filename(doc), "status": doc.status, "labels": _labels(doc.labels),
             "language": _cut((doc.stats.get("extraction") or {}).get("language") if isinstance(doc.stats.get("extraction"), dict) else None, 8),
             "size": doc.metadata.get("size") if isinstance(doc.metadata.get("size"), int) else doc.source.size,
             "created_at": doc.created_at, "updated_at": doc.updated_at}
            for doc in s.store.list_documents(limit=RECENT_DOCUMENTS)]


def _search(s: Services, q: str) -> dict:
    """Results, or a message for a query the search refuses (shown on the page, never a 500)."""
    if len(q) > MAX_QUERY_CHARS:
        return {"message": f"The query is too long: at most {MAX_QUERY_CHARS} characters."}
    try:
        request = SearchRequest(q=q, limit=SEARCH_RESULTS)
    except ValidationError:
        return {"message": "Type some words to search for."}
    try:
        answer = s.search.search(request)
    except PermanentError as err:  # our own validation (e.g. a query of spaces): its reason is for people
        return {"message": _cut(err.reason, 200)}
    results = []
    for result in answer.get("results", [])[:SEARCH_RESULTS]:
        hits = result.get("hits") or []
        results.append({"id": str(result.get("document_id") or "")[:32], "title": _cut(result.get("title"), MAX_TITLE_CHARS) or "(untitled)",
                        "score": result.get("score"), "labels": _labels(result.get("labels")),
                        "language": _cut(result.get("language"), 8),
                        "snippet": _cut(hits[0].get("text") if hits else "", MAX_SNIPPET_CHARS)})
    coverage = answer.get("coverage") or {}
    return {"results": results, "coverage": coverage if isinstance(coverage, dict) else {}}


@router.get("/", response_class=HTMLResponse)
def status_page(q: str | None = Query(default=None), s: Services = Depends(get_services)) -> HTMLResponse:
    # `q` is taken as given and bounded by _search: a too long query is a message on the page, not a JSON 400.
    sections = _Sections()
    counts = sections.read("counts", lambda: _counts(s))
    failures = sections.read("failures", lambda: _failures(s))
    latency_section = sections.read("latency", lambda: _latency(s))
    report = sections.read("report", lambda: _report(s))
    recent = sections.read("recent", lambda: _recent(s))
    # Last: it also needs the inference backend, whose outage must not cost the Firestore sections.
    search = sections.read("search", lambda: _search(s, q)) if q is not None else None
    html = render("status.html", {
        "now": utcnow(), "statuses": _statuses(s), "q": (q or "")[:MAX_QUERY_CHARS], "counts": counts,
        "search": search, "failures": failures, "latency": latency_section, "report": report, "recent": recent,
    })
    # Nothing the page shows may be cached by a proxy: it is live and may be private.
    return page_response(html, status_code=200, cache="no-store")

