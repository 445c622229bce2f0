"""Tasks: what CreateTask accepts and stores, the record the emulator keeps per task, and views."""

import json
from dataclasses import dataclass, field

from google.cloud.tasks_v2.types import task as task_types
from google.cloud.tasks_v2.types import target as target_types

from .errors import invalid, unimplemented
from .names import generated_task_id, parse_queue_name, parse_task_name
from .pbtime import duration_seconds, make_duration, make_timestamp, timestamp_seconds
from .queue import normalize_retry_config
from .retry import RetryPolicy

TaskPb = task_types.Task.pb()
HttpMethod = target_types.HttpMethod
BASIC = TaskPb.View.BASIC
FULL = TaskPb.View.FULL

DEFAULT_DISPATCH_DEADLINE = 600.0
MIN_DISPATCH_DEADLINE = 15.0
MAX_DISPATCH_DEADLINE = 1800.0
MAX_SCHEDULE_AHEAD = 30 * 24 * 3600.0
MAX_TASK_BYTES = 1024 * 1024
USER_AGENT = "Google-Cloud-Tasks"

_METHODS_WITH_BODY = {HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH}
_HEADERS_COMPUTED_BY_CLOUD_TASKS = {"host", "content-length", "user-agent"}
_HEADER_PREFIXES_RESERVED = ("x-google-", "x-appengine-")


@dataclass
class TaskRecord:
    """A stored task (its public Task message, FULL view) plus dispatch bookkeeping that the
    Task message has no field for but the X-CloudTasks-* headers need."""

    task: TaskPb
    queue_name: str
    first_attempt_time: float | None = None
    execution_count: int = 0  # responses other than 5xx, as X-CloudTasks-TaskExecutionCount counts
    previous_response: int | None = None
    retry_reason: str | None = None
    in_flight: int = 0
    due_sequence: int = field(default=-1)  # which entry of the queue's heap is current

    @property
    def name(self) -> str:
        return self.task.name

    @property
    def schedule_time(self) -> float:
        return timestamp_seconds(self.task.schedule_time)

    def retry_policy(self, queue_policy: RetryPolicy) -> RetryPolicy:
        """A task-level retry_config overrides the queue's."""
        return RetryPolicy.from_pb(self.task.retry_config) if self.task.HasField("retry_config") else queue_policy

    def bookkeeping_json(self) -> str:
        return json.dumps(
            {
                "first_attempt_time": self.first_attempt_time,
                "execution_count": self.execution_count,
                "previous_response": self.previous_response,
                "retry_reason": self.retry_reason,
            }
        )

    @classmethod
    def restore(cls, queue_name: str, task_bytes: bytes, bookkeeping: str) -> "TaskRecord":
        extra = json.loads(bookkeeping)
        return cls(task=TaskPb.FromString(task_bytes), queue_name=queue_name, **extra)


def new_task(parent: str, requested: TaskPb, now: float, min_dispatch_deadline: float) -> TaskRecord:
    """Validates a CreateTask request the way production does and returns the task to store."""
    queue_name = str(parse_queue_name(parent))
    task = TaskPb()
    task.CopyFrom(requested)
    if task.name:
        named_queue, _ = parse_task_name(task.name)
        if named_queue != queue_name:
            raise invalid(
                f"The queue name from request ('{queue_name}') must be the same as the queue name in the named task ('{named_queue}')."
            )
    else:
        task.name = f"{queue_name}/tasks/{generated_task_id()}"
    if task.HasField("app_engine_http_request"):
        raise unimplemented("App Engine tasks are not emulated; use an HTTP target (http_request).")
    if not task.HasField("http_request") or not task.http_request.url:
        raise invalid("HttpRequest.url is required.")
    _normalize_http_request(task.http_request)
    _normalize_timing(task, now, min_dispatch_deadline)
    if task.HasField("retry_config"):
        normalize_retry_config(task.retry_config)
    for output_only in ("create_time", "dispatch_count", "response_count", "first_attempt", "last_attempt", "view"):
        task.ClearField(output_only)
    task.create_time.CopyFrom(make_timestamp(now))
    if task.ByteSize() > MAX_TASK_BYTES:
        raise invalid(f"Task size exceeds the maximum of {MAX_TASK_BYTES} bytes.")
    return TaskRecord(task=task, queue_name=queue_name)


def _normalize_http_request(request) -> None:
    if not request.url.startswith(("http://", "https://")):
        raise invalid("HttpTarget.url must start with 'http://' or 'https://'.")
    if request.http_method == HttpMethod.HTTP_METHOD_UNSPECIFIED:
        request.http_method = HttpMethod.POST
    if request.body and request.http_method not in _METHODS_WITH_BODY:
        raise invalid("A request body is allowed only if the HTTP method is POST, PUT, or PATCH.")
    if request.HasField("oidc_token") and not request.oidc_token.service_account_email:
        raise invalid("OidcToken.serviceAccountEmail is required.")
    if request.HasField("oauth_token") and not request.oauth_token.service_account_email:
        raise invalid("OAuthToken.serviceAccountEmail is required.")
    # Production drops the headers it computes or reserves, and stores its own User-Agent.
    for key in list(request.headers):
        lowered = key.lower()
        if lowered in _HEADERS_COMPUTED_BY_CLOUD_TASKS or lowered.startswith(_HEADER_PREFIXES_RESERVED):
            del request.headers[key]
    request.headers["User-Agent"] = USER_AGENT
    # Production's default for a task with a body and no Content-Type of its own.
    if request.body and not any(key.lower() == "content-type" for key in request.headers):
        request.headers["Content-Type"] = "application/octet-stream"


def _normalize_timing(task: TaskPb, now: float, min_dispatch_deadline: float) -> None:
    scheduled = timestamp_seconds(task.schedule_time)
    if scheduled > now + MAX_SCHEDULE_AHEAD:
        raise invalid("Task.scheduleTime cannot be more than 30 days in the future.")
    task.schedule_time.CopyFrom(make_timestamp(max(scheduled, now)))
    if not task.HasField("dispatch_deadline"):
        task.dispatch_deadline.CopyFrom(make_duration(DEFAULT_DISPATCH_DEADLINE))
    deadline = duration_seconds(task.dispatch_deadline)
    if not min_dispatch_deadline <= deadline <= MAX_DISPATCH_DEADLINE:
        raise invalid(
            f"Task.dispatchDeadline must be between {min_dispatch_deadline:g}s and {MAX_DISPATCH_DEADLINE:g}s."
        )


def task_view(record: TaskRecord, view: int) -> TaskPb:
    """The task as an API response shows it: BASIC (the default) leaves out the body."""
    shown = TaskPb()
    shown.CopyFrom(record.task)
    if view != FULL:
        view = BASIC
        shown.http_request.ClearField("body")
    shown.view = view
    return shown
