"""`contentflow ingest`: submit files and URLs, then follow every document to a terminal state.

Files up to the inline limit are POSTed as multipart (a 413 falls back to the upload path); larger
ones get a signed upload URL (`POST /uploads`), are PUT there, and are found again through
`GET /documents?object=` once the bucket's upload event has registered them. URLs are POSTed as
`{"url": ...}`. Every POST carries an Idempotency-Key made of this run's nonce, the input and its
content hash: the client's own retries of a POST are safe, while a later run submits again (the
api answers `duplicate` for content it has seen)."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from contentflow_cli.client import ApiClient, ApiError, ExitCode, Unreachable, clean
from contentflow_cli.target import usage_error

TERMINAL = ("done", "failed")
NOT_PROCESSED = ("rejected", "gone")  # the api refused the input; the document was deleted while followed
INLINE_LIMIT_BYTES = 10 * 1024 * 1024  # the api's default api_max_upload_bytes
MAX_INPUTS = 10_000
UPLOAD_WORKERS = 4
POLL_WORKERS = 4
FIRST_POLL_S, MAX_POLL_S = 0.3, 2.0
MAX_POLLS_PER_S = 20.0  # many documents are polled less often each, not faster in total
REGISTRATION_WAIT_S = 60.0  # an uploaded object's event registers it within seconds; this is the most we wait


@dataclass
class Item:
    label: str  # what the user gave, as shown in the table
    path: Path | None = None
    url: str | None = None

    @property
    def kind(self) -> str:
        return "url" if self.url else "file"


@dataclass
class Row:
    item: Item
    id: str | None = None
    status: str = "pending"  # then the api's status; "rejected" when the api refused the input
    duplicate: bool = False
    labels: list[str] = field(default_factory=list)
    reason: str | None = None
    error: dict | None = None  # the document's failure (step, reason, at) or the api's refusal (code, message)
    size: int | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL or self.status in NOT_PROCESSED

    def as_json(self) -> dict:
        return {"input": self.item.label, "kind": self.item.kind, "id": self.id, "status": self.status,
                "duplicate": self.duplicate, "labels": self.labels, "reason": self.reason, "error": self.error,
                "size": self.size}


def gather(inputs: list[str]) -> list[Item]:
    """Files, directories (walked, hidden files and folders skipped) and http(s) URLs, in order."""
    items: list[Item] = []
    for given in inputs:
        if given.lower().startswith(("http://", "https://")):
            items.append(Item(label=clean(given, 2048), url=given))
            continue
        path = Path(given)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    file = Path(root) / name
                    if not name.startswith(".") and file.is_file():
                        items.append(Item(label=str(file), path=file))
        elif path.is_file():
            items.append(Item(label=str(path), path=path))
        elif path.exists():
            raise usage_error(f"not a file or a folder: {clean(given, 200)}")
        else:
            raise usage_error(f"no such file or folder: {clean(given, 200)}")
        if len(items) > MAX_INPUTS:
            raise usage_error(f"more than {MAX_INPUTS} files: ingest them in parts")
    if not items:
        raise usage_error("nothing to ingest: the folders hold no visible files")
    return items


class Reporter:
    """Progress for people: the default says nothing (--json)."""

    def uploads_started(self, files: int, total_bytes: int) -> None: ...
    def uploaded_bytes(self, n: int) -> None: ...
    def submitted(self, row: Row, done: int, total: int) -> None: ...
    def following(self, total: int) -> None: ...
    def progress(self, rows: list[Row]) -> None: ...
    def close(self) -> None: ...


def progress_line(rows: list[Row]) -> str:
    """`12/21 finished (11 done, 1 failed); 5 extracting, 4 analysing`."""
    counts = Counter(r.status for r in rows)
    finished = sum(1 for r in rows if r.terminal)
    moving = {s: n for s, n in counts.items() if s not in (*TERMINAL, *NOT_PROCESSED)}
    failed = counts["failed"] + sum(counts[s] for s in NOT_PROCESSED)
    line = f"{finished}/{len(rows)} finished ({counts['done']} done, {failed} failed)"
    if moving:
        line += "; " + ", ".join(f"{n} {s}" for s, n in sorted(moving.items()))
    return line


class Ingest:
    def __init__(self, client: ApiClient, reporter: Reporter | None = None, timeout_s: float = 300.0,
                 inline_limit: int = INLINE_LIMIT_BYTES, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.reporter = reporter or Reporter()
        self.timeout_s = timeout_s
        self.inline_limit = inline_limit
        self._clock = clock
        self._sleep = sleep
        self._nonce = secrets.token_hex(8)
        self._lock = threading.Lock()

    def run(self, items: list[Item]) -> tuple[list[Row], ExitCode]:
        deadline = self._clock() + self.timeout_s
        rows = [Row(item=i) for i in items]
        sizes = [self._size(r) for r in rows]
        submitted = 0
        unreachable = threading.Event()

        def submit(row: Row) -> Row:
            nonlocal submitted
            if unreachable.is_set():  # no api: the inputs not yet sent are not tried
                return row
            try:
                self._submit(row, deadline)
            except Unreachable:
                unreachable.set()
                raise
            with self._lock:
                submitted += 1
                self.reporter.submitted(row, submitted, len(rows))
            return row

        try:
            self.reporter.uploads_started(len(rows), sum(s for s in sizes if s))
            with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
                list(pool.map(submit, rows))  # re-raises the first Unreachable
            self.reporter.following(len(rows))
            self._follow(rows, deadline)
        finally:
            self.reporter.close()
        if any(not r.terminal for r in rows):
            return rows, ExitCode.TIMED_OUT
        if any(r.status != "done" for r in rows):
            return rows, ExitCode.FAILED
        return rows, ExitCode.OK

    @staticmethod
    def _size(row: Row) -> int | None:
        if row.item.path is None:
            return None
        try:
            row.size = row.item.path.stat().st_size
        except OSError:
            row.size = None
        return row.size

    def _key(self, item: Item, digest: str) -> str:
        what = hashlib.sha256(f"{item.label}\n{digest}".encode()).hexdigest()[:40]
        return f"cli-{self._nonce}-{what}"

    # --- submission -------------------------------------------------------------------------
    def _submit(self, row: Row, deadline: float) -> None:
        try:
            if row.item.url:
                self._post(row, {"json": {"url": row.item.url}}, hashlib.sha256(row.item.url.encode()).hexdigest())
            elif row.size is not None and row.size > self.inline_limit:
                self._upload(row, deadline)
            else:
                self._post_file(row, deadline)
        except ApiError as err:  # this input refused (or kept failing): the others go on
            self._reject(row, err.code, err.message)
        except OSError as err:  # the file went away or cannot be read
            self._reject(row, "unreadable", clean(err.strerror or type(err).__name__, 200))

    def _reject(self, row: Row, code: str, message: str) -> None:
        row.status = "rejected"
        row.error = {"code": code, "message": message}
        row.reason = f"{code}: {message}"

    def _post_file(self, row: Row, deadline: float) -> None:
        data = row.item.path.read_bytes()
        name = row.item.path.name
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        try:
            self._post(row, {"files": {"file": (name, data, content_type)}}, hashlib.sha256(data).hexdigest())
        except ApiError as err:
            if err.status != 413:
                raise
            self._upload(row, deadline)  # the api's inline limit is lower than ours: the upload path
            return
        self.reporter.uploaded_bytes(len(data))

    def _post(self, row: Row, body: dict, digest: str) -> None:
        answer = self.client.request("POST", "documents", expect=(202,),
                                     headers={"Idempotency-Key": self._key(row.item, digest)}, **body).json()
        row.id = clean(answer["id"], 64)
        row.status = clean(answer.get("status", "received"), 32)
        row.duplicate = bool(answer.get("duplicate"))

    def _upload(self, row: Row, deadline: float) -> None:
        path = row.item.path
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        size = path.stat().st_size
        grant = self.client.request("POST", "uploads", expect=(201,),
                                    json={"filename": path.name[:255], "size": size, "content_type": content_type}).json()
        with open(path, "rb") as fh:
            self.client.put_upload(grant["upload_url"], grant.get("headers") or {},
                                   _CountingReader(fh, size, self.reporter.uploaded_bytes))
        row.status = "uploaded"
        wait_until = min(deadline, self._clock() + REGISTRATION_WAIT_S)
        pause = FIRST_POLL_S
        while True:
            page = self.client.list_documents(object=grant["object"], limit=1)
            if page.get("documents"):
                found = page["documents"][0]
                row.id = clean(found["id"], 64)
                row.status = clean(found.get("status", "received"), 32)
                return
            if self._clock() + pause > wait_until:
                row.reason = "uploaded, but not registered in time"
                return  # stays "uploaded": not terminal, counted as timed out
            self._sleep(pause)
            pause = min(pause * 1.5, MAX_POLL_S)

    # --- following --------------------------------------------------------------------------
    def _follow(self, rows: list[Row], deadline: float) -> None:
        pause = FIRST_POLL_S
        with ThreadPoolExecutor(max_workers=POLL_WORKERS) as pool:
            while True:
                pending = [r for r in rows if not r.terminal and r.id]
                if pending:
                    list(pool.map(self._refresh, pending))
                self.reporter.progress(rows)
                pending = [r for r in rows if not r.terminal and r.id]
                if not pending or self._clock() + pause > deadline:
                    return
                self._sleep(pause)
                pause = max(min(pause * 1.3, MAX_POLL_S), len(pending) / MAX_POLLS_PER_S)

    def _refresh(self, row: Row) -> None:
        try:
            doc = self.client.document(row.id)
        except ApiError as err:
            if err.status == 404:  # deleted while we watched
                row.status = "gone"
                row.reason = "deleted while it was followed"
                return
            raise
        row.status = clean(doc.get("status", ""), 32)
        row.labels = [clean(label, 64) for label in (doc.get("labels") or [])[:20]]
        error = doc.get("error")
        if error:
            row.error = {k: clean(v, 500) for k, v in error.items() if k in ("step", "reason", "at")}
            row.reason = row.error.get("reason")
        if row.size is None:
            row.size = (doc.get("metadata") or {}).get("size") or (doc.get("source") or {}).get("size")


class _CountingReader:
    """A file for requests to stream (its length known: Content-Length, not chunked), reporting
    each block read."""

    def __init__(self, fh, size: int, on_read: Callable[[int], None]):
        self._fh = fh
        self._size = size
        self._on_read = on_read

    def __len__(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        block = self._fh.read(n)
        if block:
            self._on_read(len(block))
        return block
