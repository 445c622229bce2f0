"""What every function shares: decoding its trigger and mapping outcomes to ack / retry.

- PermanentError (bad input, unreadable document): logged, acknowledged (2xx): a retry cannot help,
  and the document already says why it failed.
- TransientError: 503, so Pub/Sub / Cloud Tasks / Eventarc retry, then dead-letter.
- Anything else is a bug: 500 (retried, then dead-lettered), with the stack trace logged.
"""

from __future__ import annotations

import base64
import contextlib

from werkzeug.exceptions import InternalServerError, ServiceUnavailable

from contentflow.errors import InvalidInput, PermanentError, TransientError
from contentflow.logs import bind, get_logger
from contentflow.messages import StepMessage
from contentflow.metering import metered

log = get_logger("contentflow.function")


@contextlib.contextmanager
def handling(function: str, **context):
    with bind(function=function, **context), metered() as costs:
        try:
            yield
        except PermanentError as err:
            log.error("request refused, not retried", reason=err.reason, costs=dict(costs))
            return
        except TransientError as err:
            log.warning("will be retried", reason=err.reason, costs=dict(costs))
            raise ServiceUnavailable(err.reason) from None
        except Exception:
            log.exception("unexpected error, will be retried", costs=dict(costs))
            raise InternalServerError("internal error") from None
        log.info("request finished", costs=dict(costs))


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


def step_message(cloud_event, expected_step: str) -> StepMessage:
    data, _ = pubsub_message(cloud_event)
    msg = StepMessage.parse(data)
    if msg.step != expected_step:
        raise InvalidInput(f"message for step {msg.step!r} delivered to {expected_step!r}")
    return msg
