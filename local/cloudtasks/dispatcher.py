"""HTTP dispatch of one task attempt: the request production sends, over pooled connections."""

import email.utils
import http.client
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import grpc
from google.rpc import status_pb2

# How production reports an HTTP answer in Attempt.response_status (google.rpc.Code).
_HTTP_TO_RPC = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ABORTED,
    412: grpc.StatusCode.FAILED_PRECONDITION,
    416: grpc.StatusCode.OUT_OF_RANGE,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


@dataclass(frozen=True)
class DispatchRequest:
    """Everything one attempt needs, copied out of the task so the HTTP call runs unlocked."""

    task_name: str
    queue_id: str
    task_id: str
    url: str
    method: str
    headers: dict
    body: bytes
    deadline: float
    retry_count: int
    execution_count: int
    eta: float
    previous_response: int | None
    retry_reason: str | None
    oidc_audience: str | None = None
    oidc_email: str | None = None
    oauth_email: str | None = None


@dataclass(frozen=True)
class AttemptOutcome:
    http_status: int | None  # None when no HTTP response came back
    error: str | None = None  # why no response came back
    retry_after: float | None = None  # from a Retry-After response header
    sent: bool = True  # False: refused before any connection (the emulator is stopping)

    @property
    def succeeded(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300

    def rpc_status(self) -> status_pb2.Status:
        if self.http_status is None:
            code = grpc.StatusCode.DEADLINE_EXCEEDED if self.error == "DEADLINE_EXCEEDED" else grpc.StatusCode.UNAVAILABLE
            return status_pb2.Status(code=code.value[0], message=self.error or "")
        if self.succeeded:
            return status_pb2.Status(code=grpc.StatusCode.OK.value[0])
        code = _HTTP_TO_RPC.get(self.http_status)
        if code is None:
            code = grpc.StatusCode.FAILED_PRECONDITION if self.http_status < 500 else grpc.StatusCode.INTERNAL
        return status_pb2.Status(code=code.value[0], message=f"HTTP status code {self.http_status}")

    def retry_reason(self) -> str:
        """Value of X-CloudTasks-TaskRetryReason on the next attempt. Production's wording is not
        documented; the emulator says what happened."""
        if self.http_status is not None:
            return f"HTTP status code {self.http_status}"
        return self.error or "UNAVAILABLE"


def cloud_tasks_headers(request: DispatchRequest, bearer_token: str | None) -> dict:
    """The task's own headers plus the ones Cloud Tasks adds to every attempt."""
    headers = {
        key: value
        for key, value in request.headers.items()
        if not key.lower().startswith("x-cloudtasks-") and not (bearer_token and key.lower() == "authorization")
    }
    headers["X-CloudTasks-QueueName"] = request.queue_id
    headers["X-CloudTasks-TaskName"] = request.task_id
    headers["X-CloudTasks-TaskRetryCount"] = str(request.retry_count)
    headers["X-CloudTasks-TaskExecutionCount"] = str(request.execution_count)
    headers["X-CloudTasks-TaskETA"] = f"{request.eta:.6f}"
    if request.previous_response is not None:
        headers["X-CloudTasks-TaskPreviousResponse"] = str(request.previous_response)
    if request.retry_reason:
        headers["X-CloudTasks-TaskRetryReason"] = request.retry_reason
    if bearer_token:
        headers["Authorization"] = f"Bearer {bearer_token}"
    return headers


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


NOT_SENT_STOPPING = AttemptOutcome(None, error="NOT_SENT: the emulator is stopping", sent=False)


class _Stopping(Exception):
    """The dispatcher was closed: no new connection may be opened."""


class HttpDispatcher:
    """Sends attempts with http.client, keeping one keep-alive connection per worker thread and
    target host. Every call has a timeout (the task's dispatch deadline); close_all() unblocks
    calls under way so the emulator can stop promptly, and after it nothing connects again.

    One attempt is one request: a connection reset or closed before the answer is a failed
    attempt (production retries it after the queue's backoff), never re-sent at once, since the
    target may already have run it. A pooled connection the target has closed meanwhile is seen
    before it is used (as urllib3 checks), so an idle-closed keep-alive connection is replaced
    instead of costing an attempt."""

    def __init__(self):
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[http.client.HTTPConnection] = set()
        self._closed = False

    def send(self, request: DispatchRequest, headers: dict) -> AttemptOutcome:
        parts = urlsplit(request.url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = (parts.scheme, parts.hostname, parts.port)
        started = time.monotonic()
        try:
            connection = self._connection(key, request.deadline)
        except _Stopping:
            return NOT_SENT_STOPPING
        except (socket.timeout, TimeoutError):
            return AttemptOutcome(None, error="DEADLINE_EXCEEDED")
        except (OSError, ssl.SSLError) as exc:
            return AttemptOutcome(None, error=f"UNAVAILABLE: {exc.__class__.__name__}: {exc}")
        try:
            connection.sock.settimeout(max(0.001, request.deadline - (time.monotonic() - started)))
            connection.request(request.method, path, body=request.body or None, headers=headers)
            response = connection.getresponse()
            response.read()  # drained so the connection can be reused
            if response.will_close:
                self._discard(key)
            return AttemptOutcome(response.status, retry_after=_parse_retry_after(response.getheader("Retry-After")))
        except (socket.timeout, TimeoutError):
            self._discard(key)
            return AttemptOutcome(None, error="DEADLINE_EXCEEDED")
        except (OSError, http.client.HTTPException, ssl.SSLError, AttributeError) as exc:
            # AttributeError: close_all() closed the connection under us (its sock is None).
            self._discard(key)
            return AttemptOutcome(None, error=f"UNAVAILABLE: {exc.__class__.__name__}: {exc}")

    def _connection(self, key, timeout: float) -> http.client.HTTPConnection:
        """This thread's open connection to the target, or a new one; raises _Stopping once closed."""
        pool = self._pool()
        connection = pool.get(key)
        if connection is not None and _still_open(connection):
            return connection
        if connection is not None:
            self._discard(key)
        with self._lock:
            if self._closed:
                raise _Stopping()
        scheme, host, port = key
        if scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        # Connected here, never lazily inside request(): a connection close_all() closed must
        # fail, not reopen itself untracked.
        connection.auto_open = 0
        try:
            connection.connect()
        except BaseException:
            connection.close()
            raise
        with self._lock:
            if self._closed:  # close_all() ran while connecting
                connection.close()
                raise _Stopping()
            self._open.add(connection)
        pool[key] = connection
        return connection

    def _pool(self) -> dict:
        if not hasattr(self._local, "connections"):
            self._local.connections = {}
        return self._local.connections

    def _discard(self, key) -> None:
        connection = self._pool().pop(key, None)
        if connection is not None:
            with self._lock:
                self._open.discard(connection)
            connection.close()

    @property
    def closed(self) -> bool:
        with self._lock:
            return self._closed

    def close_all(self) -> None:
        """Ends every connection, including ones a worker is blocked on; none is opened after."""
        with self._lock:
            self._closed = True
            connections = list(self._open)
            self._open.clear()
        for connection in connections:
            sock = connection.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            connection.close()


def _still_open(connection: http.client.HTTPConnection) -> bool:
    """False when a pooled connection is unusable: closed here, or readable while idle (the
    peer closed or reset it, or sent something unasked)."""
    sock = connection.sock
    if sock is None:
        return False
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    try:
        return not poller.poll(0)
    except OSError:
        return False
