"""Where tasks that ran out of retries end up: a record the pipeline's failure handling can read.

Production just deletes such a task. The emulator records its fate three ways: in memory
(`dead_tasks()`), as one JSON line per task in DATA_DIR/dead-tasks.jsonl, and optionally as a
JSON POST to a "fate webhook" so the local pipeline can mark the document failed.
"""

import base64
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from .names import short_id
from .pbtime import rfc3339
from .tasks import HttpMethod, TaskRecord

log = logging.getLogger(__name__)

DEAD_TASKS_FILE = "dead-tasks.jsonl"
WEBHOOK_TIMEOUT_SECONDS = 5.0
WEBHOOK_ATTEMPTS = 3


def fate_record(record: TaskRecord, reason: str, now: float) -> dict:
    task = record.task
    request = task.http_request
    last = task.last_attempt
    return {
        "task": task.name,
        "task_id": short_id(task.name),
        "queue": record.queue_name,
        "reason": reason,
        "url": request.url,
        "http_method": HttpMethod(request.http_method).name,
        "headers": {k: v for k, v in request.headers.items() if k.lower() != "authorization"},
        "body_base64": base64.b64encode(request.body).decode("ascii"),
        "dispatch_count": task.dispatch_count,
        "response_count": task.response_count,
        "last_response_status": record.previous_response,
        "last_error": record.retry_reason,
        "last_attempt_status_code": last.response_status.code,
        "first_attempt_time": rfc3339(record.first_attempt_time) if record.first_attempt_time else None,
        "dropped_time": rfc3339(now),
    }


class FateLog:
    def __init__(self, folder: Path | None, webhook_url: str | None):
        self._path = folder / DEAD_TASKS_FILE if folder is not None else None
        self._webhook_url = webhook_url
        self._lock = threading.Lock()
        self._records: list[dict] = self._read_existing()
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._sender = None
        if webhook_url:
            self._sender = threading.Thread(target=self._send_loop, name="cloudtasks-fate-webhook", daemon=True)
            self._sender.start()

    def _read_existing(self) -> list[dict]:
        if self._path is None or not self._path.exists():
            return []
        with self._path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def record(self, fate: dict) -> None:
        with self._lock:
            self._records.append(fate)
            if self._path is not None:
                with self._path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(fate) + "\n")
        if self._sender is not None:
            self._outbox.put(fate)

    def records(self) -> list[dict]:
        with self._lock:
            return [dict(fate) for fate in self._records]

    def stop(self, timeout: float = 2.0) -> None:
        if self._sender is not None:
            self._outbox.put(None)
            self._sender.join(timeout)

    def _send_loop(self) -> None:
        while True:
            fate = self._outbox.get()
            if fate is None:
                return
            self._post(fate)

    def _post(self, fate: dict) -> None:
        body = json.dumps(fate).encode("utf-8")
        for attempt in range(WEBHOOK_ATTEMPTS):
            request = urllib.request.Request(
                self._webhook_url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
                    response.read()
                    return
            except (urllib.error.URLError, OSError) as exc:
                log.warning("fate webhook %s failed (attempt %d): %s", self._webhook_url, attempt + 1, exc)
                time.sleep(0.5 * 2**attempt)
        log.error("fate of %s not delivered to %s", fate["task"], self._webhook_url)
