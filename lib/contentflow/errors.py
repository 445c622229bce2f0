"""The error hierarchy: each class says whether a retry can help.

Functions map them to outcomes: a PermanentError fails the document with its reason and acks the
message (a retry would fail the same way); a TransientError answers 5xx so the trigger retries,
and after the spec's attempts the message is dead-lettered and the document fails with the last
reason. Anything else is a bug and is treated as transient (retried, then dead-lettered).
"""


class ContentflowError(Exception):
    """Base class. `reason` is the human-readable text stored on a failed document and shown by
    the api: our own words only. `detail` is the dependency's own error text (hosts, resource
    paths, request ids): it goes to the log, never into a record or a response."""

    retryable = False

    def __init__(self, reason: str, detail: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail[:2000] if detail else None


class PermanentError(ContentflowError):
    """Bad input or a state no retry can fix."""


class InvalidInput(PermanentError):
    """A request or event that does not validate."""


class UnreadableDocument(PermanentError):
    """The document's bytes cannot be turned into text (unsupported, hostile, broken)."""


class NotFound(PermanentError):
    """The document or object does not exist."""


class TransientError(ContentflowError):
    """A dependency failed or timed out; the same call may succeed later."""

    retryable = True


class NotReady(TransientError):
    """Delivered before the step it depends on finished (out-of-order delivery)."""


class StepBusy(TransientError):
    """The step runs under another delivery's live lease: retry, after `retry_after_s` (the
    lease's remaining time) where the trigger honours a Retry-After (Cloud Tasks considers it on a
    503; a Pub/Sub push subscription follows its own retry policy)."""

    def __init__(self, reason: str, retry_after_s: int | None = None):
        super().__init__(reason)
        self.retry_after_s = retry_after_s
