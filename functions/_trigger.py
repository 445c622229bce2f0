"""What every function shares: decoding its trigger and mapping outcomes to ack / retry.

- PermanentError (bad input, unreadable document): logged, acknowledged (2xx): a retry cannot help,
  and the document already says why it failed.
- TransientError: 503, so Pub/Sub / Cloud Tasks / Eventarc retry, then dead-letter (with a
  Retry-After when the error carries a hint: Cloud Tasks considers it, Pub/Sub push ignores it).
- Anything else is a bug: 500 (retried, then dead-lettered), with the stack trace logged.
"""

from __future__ import annotations

import base64
import contextlib
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING

from werkzeug.exceptions import InternalServerError, ServiceUnavailable

from contentflow.errors import InvalidInput, PermanentError, TransientError
from contentflow.logs import bind, get_logger
from contentflow.messages import StepMessage
from contentflow.metering import metered
from contentflow.services import services

if TYPE_CHECKING:
    # The step runner: imported by the functions that take tasks, when one comes (the steps
    # warm `pipeline`), not by every function that imports this module.
    from contentflow.pipeline import QueueAttempt

log = get_logger("contentflow.function")


@contextlib.contextmanager
def handling(function: str, **context):
    """The request's last log line carries what it cost (`costs`) and how long it took
    (`duration_ms`): bench/throughput.py sums both per document."""
    start = time.perf_counter()

    def elapsed_ms() -> int:
        return round((time.perf_counter() - start) * 1000)

    with bind(function=function, **context), metered() as costs:
        try:
            yield
        except PermanentError as err:
            log.error("request refused, not retried", reason=err.reason, detail=err.detail, costs=dict(costs),
                      duration_ms=elapsed_ms())
            return
        except TransientError as err:
            log.warning("will be retried", reason=err.reason, detail=err.detail, costs=dict(costs), duration_ms=elapsed_ms())
            # A hint (a busy step: its lease's remaining time) goes out as Retry-After.
            raise ServiceUnavailable(err.reason, retry_after=getattr(err, "retry_after_s", None)) from None
        except Exception:
            log.exception("unexpected error, will be retried", costs=dict(costs), duration_ms=elapsed_ms())
            raise InternalServerError("internal error") from None
        log.info("request finished", costs=dict(costs), duration_ms=elapsed_ms())


def pubsub_message(cloud_event) -> tuple[bytes, dict[str, str]]:
    """The data and attributes of a `google.cloud.pubsub.topic.v1.messagePublished` CloudEvent."""
    message = (cloud_event.data or {}).get("message") if isinstance(cloud_event.data, dict) else None
    if not isinstance(message, dict):
        raise InvalidInput("not a Pub/Sub message event")
    try:
        data = base64.b64decode(message.get("data") or "", validate=True)
    except ValueError:
        raise InvalidInput("Pub/Sub message data is not base64") from None
    return data, dict(message.get("attributes") or {})


def _push_message(body: dict) -> tuple[bytes, dict[str, str]]:
    return pubsub_message(SimpleNamespace(data=body))


def queue_attempt(request) -> QueueAttempt | None:
    """The Cloud Tasks delivery's queue and retry count, from its headers (None: not a task)."""
    queue = request.headers.get("X-CloudTasks-QueueName")
    if not queue:
        return None
    from contentflow.pipeline import QueueAttempt

    retries = request.headers.get("X-CloudTasks-TaskRetryCount", "0")
    return QueueAttempt(queue=queue.rsplit("/", 1)[-1], retry_count=int(retries) if retries.isdigit() else 0)


def step_delivery(request, expected_step: str) -> tuple[StepMessage, QueueAttempt | None, bool]:
    """(the step message, the Cloud Tasks attempt if a queue delivered it, whether this is the
    trigger's first try of it) from whichever way the step is triggered: a Cloud Tasks HTTP
    request, an Eventarc Pub/Sub CloudEvent, or a plain Pub/Sub push body. The spec decides the
    trigger; the function does not care.

    First try: a task's retry count 0; a push body's `deliveryAttempt` 1 (Pub/Sub sets it when the
    subscription has a dead-letter policy, as the spec's do). An Eventarc event does not say: not
    taken as a first try. A first try writes its claim with its commit (Pipeline.run_step)."""
    headers = request.headers
    attempt = queue_attempt(request)
    first = False
    if attempt is not None:
        data = request.get_data()
        first = attempt.retry_count == 0
    elif "ce-type" in headers or request.mimetype == "application/cloudevents+json":
        from cloudevents.http import from_http

        try:
            event = from_http(dict(headers), request.get_data())
        except Exception as err:
            raise InvalidInput(f"malformed CloudEvent: {err}") from None
        data, _ = pubsub_message(event)
    else:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidInput("expected a Pub/Sub push body, a CloudEvent or a Cloud Tasks request")
        data, _ = _push_message(body)
        first = body.get("deliveryAttempt") == 1
    msg = StepMessage.parse(data)
    if msg.step != expected_step:
        raise InvalidInput(f"message for step {msg.step!r} delivered to {expected_step!r}")
    return msg, attempt, first


def run_step_request(request, step: str):
    """The whole body of a step function."""
    with handling(step, step=step):
        msg, attempt, first = step_delivery(request, step)
        services().pipeline.run_step(step, msg.document_id, queue_attempt=attempt, first_delivery=first)
    return "", 204
