"""The emulator's state machine: queues, tasks, name tombstones and the dispatch loop.

One lock (a Condition) guards all state. API calls and attempt completions change state under
it and notify; the dispatch loop wakes up, hands every task that is due, has a token in its
queue's bucket and fits under max_concurrent_dispatches to the worker pool, then sleeps until
the next schedule_time or token. HTTP calls run in the workers, outside the lock.
"""

import base64
import logging
import math
import threading
import time
from dataclasses import dataclass

from google.protobuf import field_mask_pb2

from .dispatcher import NOT_SENT_STOPPING, AttemptOutcome, DispatchRequest, HttpDispatcher, cloud_tasks_headers
from .errors import QUEUE_NOT_FOUND, already_exists, failed_precondition, invalid, not_found
from .fate import FateLog, fate_record
from .names import parse_parent, parse_queue_name, parse_task_name, short_id
from .oidc import TokenIssuer
from .pbtime import duration_seconds, make_timestamp
from .queue import PAUSED, RUNNING, QueuePb, QueueState, configured_queue, queue_from_spec, updated_queue
from .store import MemoryStore
from .tasks import HttpMethod, TaskPb, TaskRecord, new_task, task_view
from .workers import WorkerPool

log = logging.getLogger(__name__)

MAX_QUEUES_PAGE = 9800
MAX_TASKS_PAGE = 1000
_IDLE_WAKE_SECONDS = 5.0  # also how often expired tombstones are forgotten


@dataclass(frozen=True)
class _AttemptUndo:
    """What _begin_attempt changed, to put a task back as it was when its attempt is never sent."""

    last_attempt: bytes | None  # None: the task had no attempt before
    first_attempt_time: float | None
    had_first_attempt: bool


@dataclass(frozen=True)
class EngineSettings:
    task_tombstone_seconds: float = 3600.0
    queue_tombstone_seconds: float = 0.0
    min_dispatch_deadline: float = 15.0
    dispatch_workers: int = 64


class Engine:
    def __init__(
        self,
        settings: EngineSettings,
        store: MemoryStore,
        dispatcher: HttpDispatcher,
        token_issuer: TokenIssuer,
        fate_log: FateLog,
    ):
        self.settings = settings
        self._store = store
        self._dispatcher = dispatcher
        self._token_issuer = token_issuer
        self._fate_log = fate_log
        self._workers = WorkerPool(settings.dispatch_workers)
        self._cond = threading.Condition()
        self._queues: dict[str, QueueState] = {}
        self._tasks: dict[str, TaskRecord] = {}
        self._task_tombstones: dict[str, float] = {}
        self._queue_tombstones: dict[str, float] = {}
        self._sequence = 0
        self._busy_workers = 0
        self._stopping = False
        self._store_closed = False
        self._loop = threading.Thread(target=self._dispatch_loop, name="cloudtasks-scheduler", daemon=True)

    # ----- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        stored = self._store.load()
        now_mono = time.monotonic()
        with self._cond:
            for config in stored.queues:
                self._queues[config.name] = QueueState(config, now_mono)
            for record in stored.tasks:
                queue = self._queues.get(record.queue_name)
                if queue is None:
                    continue
                # An attempt cut short by the stop is simply due again: at-least-once, as in production.
                self._tasks[record.name] = record
                queue.task_names.add(record.name)
                self._make_due(record, queue, record.schedule_time)
            self._task_tombstones.update(stored.task_tombstones)
            self._queue_tombstones.update(stored.queue_tombstones)
        self._workers.start()
        self._loop.start()

    def stop(self, timeout: float = 2.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._loop.join(timeout)
        self._dispatcher.close_all()
        self._workers.stop(timeout)
        self._fate_log.stop()
        with self._cond:
            self._store_closed = True  # a worker still finishing must not write to a closed store
            self._store.close()

    # ----- queues ----------------------------------------------------------------------------

    def create_queue(self, parent: str, requested: QueuePb) -> QueuePb:
        parse_parent(parent)
        name = str(parse_queue_name(requested.name))
        if not name.startswith(parent + "/"):
            raise invalid(f"Queue name '{name}' is not in parent '{parent}'.")
        config = configured_queue(name, requested)
        with self._cond:
            if name in self._queues:
                raise already_exists("Queue already exists")
            if self._queue_tombstones.get(name, 0.0) > time.time():
                raise failed_precondition(
                    "The queue cannot be created because a queue with this name existed too recently."
                )
            self._add_queue(config)
            return _copy(config)

    def ensure_queues(self, specs: dict[str, dict], project: str, location: str) -> list[QueuePb]:
        """Creates or reconfigures queues from the local stack's spec (short or full names)."""
        created = []
        for queue_id, spec in specs.items():
            name = queue_id if queue_id.startswith("projects/") else f"projects/{project}/locations/{location}/queues/{queue_id}"
            config = queue_from_spec(str(parse_queue_name(name)), spec or {})
            with self._cond:
                existing = self._queues.get(name)
                if existing is None:
                    self._add_queue(config)
                else:
                    config.state = existing.config.state
                    config.purge_time.CopyFrom(existing.config.purge_time)
                    self._reconfigure(existing, config)
                created.append(_copy(config))
        return created

    def get_queue(self, name: str) -> QueuePb:
        with self._cond:
            return _copy(self._queue(name).config)

    def list_queues(self, parent: str, filter_text: str, page_size: int, page_token: str) -> tuple[list[QueuePb], str]:
        parse_parent(parent)
        wanted_state = _state_filter(filter_text)
        with self._cond:
            names = sorted(
                name
                for name, queue in self._queues.items()
                if name.startswith(parent + "/queues/") and (wanted_state is None or queue.config.state == wanted_state)
            )
            page, next_token = _page(names, page_size, page_token, MAX_QUEUES_PAGE)
            return [_copy(self._queues[name].config) for name in page], next_token

    def update_queue(self, requested: QueuePb, mask: field_mask_pb2.FieldMask) -> QueuePb:
        name = str(parse_queue_name(requested.name))
        with self._cond:
            queue = self._queues.get(name)
            if queue is None:
                # UpdateQueue creates a queue that does not exist yet.
                if self._queue_tombstones.get(name, 0.0) > time.time():
                    raise failed_precondition(
                        "The queue cannot be created because a queue with this name existed too recently."
                    )
                config = configured_queue(name, requested)
                self._add_queue(config)
                return _copy(config)
            config = updated_queue(queue.config, requested, mask)
            self._reconfigure(queue, config)
            return _copy(config)

    def delete_queue(self, name: str) -> None:
        with self._cond:
            queue = self._queue(name, message="Requested entity was not found.")
            now = time.time()
            self._queue_tombstones[queue.name] = now + self.settings.queue_tombstone_seconds
            self._drop_tasks(list(queue.task_names), now)
            del self._queues[queue.name]
            self._store.delete_queue(queue.name, now + self.settings.queue_tombstone_seconds)

    def purge_queue(self, name: str) -> QueuePb:
        with self._cond:
            queue = self._queue(name)
            now = time.time()
            self._drop_tasks(list(queue.task_names), now)
            queue.clear_due()
            queue.config.purge_time.CopyFrom(make_timestamp(now))
            self._store.save_queue(queue.config)
            return _copy(queue.config)

    def pause_queue(self, name: str) -> QueuePb:
        return self._set_state(name, PAUSED)

    def resume_queue(self, name: str) -> QueuePb:
        return self._set_state(name, RUNNING)

    # ----- tasks -----------------------------------------------------------------------------

    def create_task(self, parent: str, requested: TaskPb, view: int) -> TaskPb:
        now = time.time()
        record = new_task(parent, requested, now, self.settings.min_dispatch_deadline)
        with self._cond:
            queue = self._queue(record.queue_name)
            if record.name in self._tasks or self._task_tombstones.get(record.name, 0.0) > now:
                raise already_exists()
            self._tasks[record.name] = record
            queue.task_names.add(record.name)
            self._store.save_task(record)
            self._make_due(record, queue, record.schedule_time)
            return task_view(record, view)

    def get_task(self, name: str, view: int) -> TaskPb:
        with self._cond:
            return task_view(self._task(name), view)

    def list_tasks(self, parent: str, view: int, page_size: int, page_token: str) -> tuple[list[TaskPb], str]:
        with self._cond:
            queue = self._queue(parent)
            page, next_token = _page(sorted(queue.task_names), page_size, page_token, MAX_TASKS_PAGE)
            return [task_view(self._tasks[name], view) for name in page], next_token

    def delete_task(self, name: str) -> None:
        with self._cond:
            record = self._task(name)
            self._drop_tasks([record.name], time.time())

    def run_task(self, name: str, view: int) -> TaskPb:
        """Dispatches now, even if the queue is paused or out of tokens, as production's RunTask."""
        with self._cond:
            record = self._task(name)
            queue = self._queues[record.queue_name]
            record.due_sequence = -1  # any waiting heap entry is stale now
            request, undo = self._begin_attempt(record, queue, time.time())
            shown = task_view(record, view)
        self._workers.submit(lambda: self._attempt(request, record, queue, undo))
        return shown

    # ----- inspection for the local stack and tests ------------------------------------------

    def dead_tasks(self) -> list[dict]:
        return self._fate_log.records()

    # ----- internals: state changes (all under self._cond) -----------------------------------

    def _queue(self, name: str, message: str = QUEUE_NOT_FOUND) -> QueueState:
        queue = self._queues.get(str(parse_queue_name(name)))
        if queue is None:
            raise not_found(message)
        return queue

    def _task(self, name: str) -> TaskRecord:
        parse_task_name(name)
        record = self._tasks.get(name)
        if record is None:
            if self._task_tombstones.get(name, 0.0) > time.time():
                raise not_found(
                    "The task no longer exists, though a task with this name existed recently. "
                    "The task either successfully completed or was deleted."
                )
            raise not_found()
        return record

    def _add_queue(self, config: QueuePb) -> None:
        self._queues[config.name] = QueueState(config, time.monotonic())
        self._queue_tombstones.pop(config.name, None)
        self._store.save_queue(config)

    def _reconfigure(self, queue: QueueState, config: QueuePb) -> None:
        queue.reconfigure(config, time.monotonic())
        self._store.save_queue(config)
        self._cond.notify_all()

    def _set_state(self, name: str, state: int) -> QueuePb:
        with self._cond:
            queue = self._queue(name)
            queue.config.state = state
            self._store.save_queue(queue.config)
            self._cond.notify_all()
            return _copy(queue.config)

    def _make_due(self, record: TaskRecord, queue: QueueState, schedule_time: float) -> None:
        self._sequence += 1
        record.due_sequence = self._sequence
        queue.push_due(schedule_time, self._sequence, record.name)
        self._cond.notify_all()

    def _drop_tasks(self, names: list[str], now: float) -> None:
        """Deletes tasks and reserves their names for the tombstone window."""
        expires = now + self.settings.task_tombstone_seconds
        for name in names:
            record = self._tasks.pop(name, None)
            if record is not None:
                record.due_sequence = -1
                queue = self._queues.get(record.queue_name)
                if queue is not None:
                    queue.task_names.discard(name)
            self._task_tombstones[name] = expires
        if names:
            self._store.delete_tasks(names, expires)

    def _begin_attempt(self, record: TaskRecord, queue: QueueState, now: float) -> tuple[DispatchRequest, _AttemptUndo]:
        """Counts an attempt as dispatched (as the Task fields show it) and builds its request."""
        task = record.task
        undo = _AttemptUndo(
            task.last_attempt.SerializeToString() if task.HasField("last_attempt") else None,
            record.first_attempt_time,
            task.HasField("first_attempt"),
        )
        retry_count = task.dispatch_count
        task.dispatch_count += 1
        if not task.HasField("first_attempt"):
            task.first_attempt.dispatch_time.CopyFrom(make_timestamp(now))
            record.first_attempt_time = now
        task.last_attempt.Clear()
        task.last_attempt.schedule_time.CopyFrom(task.schedule_time)
        task.last_attempt.dispatch_time.CopyFrom(make_timestamp(now))
        record.in_flight += 1
        queue.in_flight += 1
        self._busy_workers += 1
        self._store.save_task(record)
        http = task.http_request
        request = DispatchRequest(
            task_name=record.name,
            queue_id=short_id(queue.name),
            task_id=short_id(record.name),
            url=http.url,
            method=HttpMethod(http.http_method).name,
            headers=dict(http.headers),
            body=http.body,
            deadline=duration_seconds(task.dispatch_deadline),
            retry_count=retry_count,
            execution_count=record.execution_count,
            eta=record.schedule_time,
            previous_response=record.previous_response,
            retry_reason=record.retry_reason,
            oidc_audience=(http.oidc_token.audience or http.url) if http.HasField("oidc_token") else None,
            oidc_email=http.oidc_token.service_account_email if http.HasField("oidc_token") else None,
            oauth_email=http.oauth_token.service_account_email if http.HasField("oauth_token") else None,
        )
        return request, undo

    def _attempt(self, request: DispatchRequest, record: TaskRecord, queue: QueueState, undo: _AttemptUndo) -> None:
        """Runs in a worker: one HTTP attempt, then its result applied to the task. A job picked
        up once the emulator is stopping sends nothing (the dispatcher refuses too, should the
        stop begin while it connects): the task is kept as it was for the next start."""
        if self._stopping:
            self._finish_attempt(record, queue, NOT_SENT_STOPPING, undo)
            return
        try:
            bearer = None
            if request.oidc_email:
                bearer = self._token_issuer.id_token(request.oidc_audience, request.oidc_email)
            elif request.oauth_email:
                bearer = self._token_issuer.access_token(request.oauth_email)
            outcome = self._dispatcher.send(request, cloud_tasks_headers(request, bearer))
        except Exception as exc:  # never lose the bookkeeping of an attempt
            log.exception("dispatch of %s failed", request.task_name)
            outcome = AttemptOutcome(None, error=f"INTERNAL: {exc}")
        self._finish_attempt(record, queue, outcome, undo)

    def _finish_attempt(self, record: TaskRecord, queue: QueueState, outcome: AttemptOutcome, undo: _AttemptUndo) -> None:
        with self._cond:
            queue.in_flight -= 1
            self._busy_workers -= 1
            self._cond.notify_all()
            if not outcome.sent:
                self._undo_attempt(record, queue, undo)
                return
            if self._stopping:
                return  # cut by the stop: the stored task is dispatched again after a restart
            if self._tasks.get(record.name) is not record:
                return  # deleted, purged or its queue deleted while the attempt was under way
            record.in_flight -= 1
            now = time.time()
            task = record.task
            task.last_attempt.response_time.CopyFrom(make_timestamp(now))
            task.last_attempt.response_status.CopyFrom(outcome.rpc_status())
            if outcome.http_status is not None:
                task.response_count += 1
                record.previous_response = outcome.http_status
                if outcome.http_status < 500:
                    record.execution_count += 1
            if outcome.succeeded:
                self._drop_tasks([record.name], now)
                return
            policy = record.retry_policy(queue.retry_policy)
            reason = policy.give_up_reason(task.dispatch_count, now - (record.first_attempt_time or now))
            record.retry_reason = outcome.retry_reason()
            if reason is not None:
                self._fate_log.record(fate_record(record, reason, now))
                self._drop_tasks([record.name], now)
                return
            delay = policy.backoff(task.dispatch_count)
            if outcome.retry_after is not None:
                # Production "considers" Retry-After; the emulator never retries sooner than it asks.
                delay = max(delay, min(outcome.retry_after, policy.max_backoff))
            task.schedule_time.CopyFrom(make_timestamp(now + delay))
            self._store.save_task(record)
            self._make_due(record, queue, record.schedule_time)

    def _undo_attempt(self, record: TaskRecord, queue: QueueState, undo: _AttemptUndo) -> None:
        """An attempt refused before it was sent counts for nothing: the task is stored as it was
        and stays due (dispatched at the next start when the emulator is stopping)."""
        if self._tasks.get(record.name) is not record:
            return
        record.in_flight -= 1
        task = record.task
        task.dispatch_count -= 1
        task.ClearField("last_attempt")
        if undo.last_attempt is not None:
            task.last_attempt.ParseFromString(undo.last_attempt)
        if not undo.had_first_attempt:
            task.ClearField("first_attempt")
        record.first_attempt_time = undo.first_attempt_time
        if not self._store_closed:
            self._store.save_task(record)
        if not self._stopping:
            self._make_due(record, queue, record.schedule_time)

    # ----- the dispatch loop -----------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        next_cleanup = 0.0
        with self._cond:
            while not self._stopping:
                now = time.time()
                now_mono = time.monotonic()
                wait = _IDLE_WAKE_SECONDS
                for queue in list(self._queues.values()):
                    if queue.running:
                        wait = min(wait, self._dispatch_due(queue, now, now_mono))
                if now >= next_cleanup:
                    self._forget_expired_tombstones(now)
                    next_cleanup = now + _IDLE_WAKE_SECONDS
                self._cond.wait(max(0.0005, wait))

    def _dispatch_due(self, queue: QueueState, now: float, now_mono: float) -> float:
        """Starts every attempt the queue may start now; returns seconds until it may start another
        (inf when only an attempt finishing, a new task or a config change can allow one)."""
        while True:
            head = queue.peek_due()
            if head is None:
                return math.inf
            schedule_time, sequence, name = head
            record = self._tasks.get(name)
            if record is None or record.due_sequence != sequence:
                queue.pop_due()  # stale: the task was deleted, run or rescheduled since
                continue
            if schedule_time > now:
                return schedule_time - now
            if queue.in_flight >= queue.max_concurrent or self._busy_workers >= self._workers.size:
                return math.inf
            token_wait = queue.bucket.seconds_until_token(now_mono)
            if token_wait > 0:
                return token_wait
            queue.bucket.take(now_mono)
            queue.pop_due()
            record.due_sequence = -1
            request, undo = self._begin_attempt(record, queue, now)
            self._workers.submit(lambda r=request, rec=record, q=queue, u=undo: self._attempt(r, rec, q, u))

    def _forget_expired_tombstones(self, now: float) -> None:
        for tombstones in (self._task_tombstones, self._queue_tombstones):
            for name in [name for name, expires in tombstones.items() if expires <= now]:
                del tombstones[name]
        self._store.forget_tombstones(now)


def _copy(queue: QueuePb) -> QueuePb:
    shown = QueuePb()
    shown.CopyFrom(queue)
    return shown


def _state_filter(filter_text: str) -> int | None:
    """ListQueues' filter: only `state: RUNNING|PAUSED|DISABLED` (or `state=...`) is supported."""
    text = (filter_text or "").strip()
    if not text:
        return None
    for separator in (":", "="):
        field_name, found, value = text.partition(separator)
        if found and field_name.strip().lower() == "state":
            try:
                return QueuePb.State.Value(value.strip().upper())
            except ValueError:
                break
    raise invalid(f"Unsupported filter '{filter_text}': the emulator supports only 'state: <STATE>'.")


def _page(names: list[str], page_size: int, page_token: str, max_page: int) -> tuple[list[str], str]:
    """A page of sorted names after the token (the last name of the previous page, base64)."""
    if page_size < 0:
        raise invalid("page_size cannot be negative.")
    size = min(page_size or max_page, max_page)
    start = 0
    if page_token:
        try:
            after = base64.urlsafe_b64decode(page_token.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise invalid("Invalid page_token.") from None
        start = next((i for i, name in enumerate(names) if name > after), len(names))
    page = names[start : start + size]
    more = start + size < len(names)
    return page, base64.urlsafe_b64encode(page[-1].encode()).decode() if more and page else ""
