"""What people see: rich tables on stdout, progress on stderr. When a stream is not a terminal rich
writes no control codes, and progress becomes plain lines (no live redraw). Every value from the
api or a file name goes through `clean` and into a `Text` (never parsed as rich markup)."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from contentflow_cli.client import clean
from contentflow_cli.ingest import Reporter, Row, progress_line

STATUS_STYLES = {"done": "green", "failed": "red", "rejected": "red", "gone": "red"}
PLAIN_WIDTH = 200  # a table written to a file or a pipe is not wrapped at 80 columns


def stdout_console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=PLAIN_WIDTH)
    return console


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def print_json(value: Any) -> None:
    """The one JSON document of a `--json` run: plain text on stdout, nothing else there."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def cell(value: Any, limit: int = 200, style: str | None = None) -> Text:
    if value is None:
        return Text("")
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    return Text(clean(value, limit), style=style or "")


def status_cell(status: str | None) -> Text:
    return cell(status, 32, STATUS_STYLES.get(status or "", "yellow"))


def _table(*columns: str, title: str | None = None) -> Table:
    """Ids and statuses are never cut or wrapped (people copy ids); other columns give way."""
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False)
    for name in columns:
        if name in ("id", "document"):
            table.add_column(name, no_wrap=True, min_width=32)
        elif name in ("status", "score", "count", "state", "created", "step", "lang"):
            table.add_column(name, no_wrap=True)
        else:
            table.add_column(name, overflow="fold", min_width=10)
    return table


def ingest_table(rows: list[Row]) -> Table:
    table = _table("file", "id", "status", "labels", "reason")
    for row in rows:
        status = f"{row.status} (duplicate)" if row.duplicate and row.status == "done" else row.status
        table.add_row(cell(row.item.label, 120), cell(row.id), status_cell(status), cell(row.labels, 80),
                      cell(row.reason, 160))
    return table


def documents_table(documents: list[dict], with_reason: bool = False) -> Table:
    """A page of documents; `with_reason` (failed ones): the step that failed and why instead of
    status, language and labels."""
    if with_reason:
        table = _table("id", "filename", "created", "step", "reason")
    else:
        table = _table("id", "status", "filename", "created", "lang", "labels")
    for doc in documents:
        error = doc.get("error") or {}
        created = cell(_short_time(doc.get("created_at")))
        if with_reason:
            table.add_row(cell(doc.get("id")), cell(doc.get("filename"), 60), created, cell(error.get("step")),
                          cell(error.get("reason"), 200))
        else:
            table.add_row(cell(doc.get("id")), status_cell(doc.get("status")), cell(doc.get("filename"), 60), created,
                          cell(doc.get("language")), cell(doc.get("labels"), 60))
    return table


def _short_time(value: str | None) -> str | None:
    """2026-12-01T10:32:05.123456+00:00 -> 2026-12-01 10:32 (the api's times are UTC)."""
    if not value:
        return value
    return str(value).replace("T", " ")[:16]


def _duration(ms: Any) -> str:
    if not isinstance(ms, (int, float)):
        return ""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def document_detail(doc: dict) -> list:
    """A document's header lines and its steps table."""
    meta = doc.get("metadata") or {}
    source = doc.get("source") or {}
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    pairs = [("id", doc.get("id")), ("status", None), ("file", meta.get("filename") or source.get("name")),
             ("via", source.get("via")), ("url", source.get("url")), ("size", meta.get("size") or source.get("size")),
             ("created", _short_time(doc.get("created_at"))), ("updated", _short_time(doc.get("updated_at"))),
             ("labels", doc.get("labels") or None), ("retries", doc.get("retries") or None)]
    for name, value in pairs:
        if name == "status":
            header.add_row("status", status_cell(doc.get("status")))
        elif value is not None:
            header.add_row(name, cell(value, 300))
    error = doc.get("error")
    if error:
        header.add_row("error", cell(f"{error.get('step')}: {error.get('reason')}", 500, "red"))
    steps = _table("step", "state", "attempts", "duration", "error")
    for name, step in (doc.get("steps") or {}).items():
        steps.add_row(cell(name), status_cell(step.get("state")) if step.get("state") != "succeeded" else cell("succeeded", style="green"),
                      cell(step.get("attempts")), cell(_duration(step.get("duration_ms"))), cell(step.get("error"), 200))
    return [header, steps]


def counts_table(counts: dict[str, int], title: str | None = None) -> Table:
    table = _table("status", "documents", title=title)
    for status, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(status_cell(status), cell(n))
    return table


def search_table(answer: dict) -> Table:
    table = _table("score", "document", "title", "labels", "best passage")
    for result in answer.get("results") or []:
        hits = result.get("hits") or []
        passage = " ".join(str(hits[0].get("text", "")).split()) if hits else ""
        table.add_row(cell(f"{result.get('score', 0):.3f}"), cell(result.get("document_id")),
                      cell(result.get("title"), 60), cell(result.get("labels"), 50), cell(passage, 160))
    return table


def report_view(report: dict) -> list:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    finished = report.get("finished") or {}
    head.add_row("date", cell(f"{report.get('date')}{'' if report.get('complete') else ' (partial: the day is not over)'}"))
    head.add_row("generated", cell(_short_time(report.get("generated_at"))))
    head.add_row("received", cell(report.get("received")))
    head.add_row("finished", cell(f"{finished.get('done', 0)} done, {finished.get('failed', 0)} failed"))
    parts: list = [head, counts_table(report.get("by_status") or {}, title="documents by status now")]
    failures = _table("step", "reason", "count", title="failures by reason")
    for group in report.get("failures") or []:
        failures.add_row(cell(group.get("step")), cell(group.get("reason"), 200), cell(group.get("count")))
    if report.get("failures_other"):
        failures.add_row(cell("…"), cell("other failures"), cell(report["failures_other"]))
    parts.append(failures)
    latency = _table("step", "count", "p50", "p95", "max", title="latency of successful attempts")
    rows = dict(report.get("latency_ms") or {})
    if report.get("end_to_end_ms"):
        rows["end to end"] = report["end_to_end_ms"]
    for step, lat in rows.items():
        latency.add_row(cell(step), cell(lat.get("count")), cell(_duration(lat.get("p50_ms"))),
                        cell(_duration(lat.get("p95_ms"))), cell(_duration(lat.get("max_ms"))))
    parts.append(latency)
    usage = _table("kind", "backend", "model", "documents", "reused", "calls", "tokens in", "tokens out", "characters",
                   title="model usage")
    for u in report.get("model_usage") or []:
        usage.add_row(cell(u.get("kind")), cell(u.get("backend")), cell(u.get("model"), 60), cell(u.get("documents")),
                      cell(u.get("reused")), cell(u.get("model_calls")), cell(u.get("input_tokens")),
                      cell(u.get("output_tokens")), cell(u.get("billable_characters")))
    parts.append(usage)
    return parts


class PlainReporter(Reporter):
    """Progress as plain lines on stderr (no terminal: a pipe, a log, a test)."""

    def __init__(self, console: Console):
        self.console = console
        self._started = time.monotonic()
        self._last = ""
        self._lock = threading.Lock()

    def _say(self, line: str) -> None:
        with self._lock:
            self.console.print(Text(f"[{time.monotonic() - self._started:5.1f} s] {line}"), soft_wrap=True)

    def uploads_started(self, files: int, total_bytes: int) -> None:
        self._say(f"uploading {files} input{'s' if files != 1 else ''} ({_size(total_bytes)})")

    def submitted(self, row: Row, done: int, total: int) -> None:
        what = f"-> {row.id}" + (" (duplicate)" if row.duplicate else "") if row.id else f"refused: {row.reason}"
        self._say(f"uploaded {done}/{total} {clean(row.item.label, 120)} {what}")

    def following(self, total: int) -> None:
        self._say(f"following {total} document{'s' if total != 1 else ''} until each is done or failed")

    def progress(self, rows: list[Row]) -> None:
        line = progress_line(rows)
        if line != self._last:
            self._last = line
            self._say(line)


class RichReporter(Reporter):
    """A live progress display on a terminal: bytes uploaded, then documents finished."""

    def __init__(self, console: Console):
        self.progress_bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=console)
        self._upload: TaskID | None = None
        self._follow: TaskID | None = None
        self.progress_bar.start()

    def uploads_started(self, files: int, total_bytes: int) -> None:
        self._upload = self.progress_bar.add_task("uploading ", total=files, detail="")
        self._total_bytes, self._sent = total_bytes, 0

    def uploaded_bytes(self, n: int) -> None:
        self._sent += n
        if self._upload is not None:
            self.progress_bar.update(self._upload, detail=f"{_size(self._sent)} of {_size(self._total_bytes)}")

    def submitted(self, row: Row, done: int, total: int) -> None:
        self.progress_bar.update(self._upload, completed=done)

    def following(self, total: int) -> None:
        self._follow = self.progress_bar.add_task("processing", total=total, detail="")

    def progress(self, rows: list[Row]) -> None:
        finished = sum(1 for r in rows if r.terminal)
        self.progress_bar.update(self._follow, completed=finished, detail=progress_line(rows).split(" ", 1)[1])

    def close(self) -> None:
        self.progress_bar.stop()


def _size(n: int | None) -> str:
    if not n:
        return "0 B"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover
