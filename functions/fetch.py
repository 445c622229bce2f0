"""Cloud Function `fetch` (Cloud Tasks, queue url-fetches): fetches a URL submitted to the api."""

import functions_framework
from pydantic import BaseModel, Field, ValidationError

import _startup  # first of ours: the collector pauses until _startup.started()
from _trigger import handling, queue_attempt
from contentflow.documents import DOCUMENT_ID_PATTERN, utcnow
from contentflow.errors import InvalidInput
from contentflow.pipeline import QueueAttempt  # loaded at start: every task carries one (queue_attempt)
from contentflow.services import services


class FetchTask(BaseModel):
    document_id: str = Field(pattern=DOCUMENT_ID_PATTERN)
    trace_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")


services().warm("store", "dispatcher", "blobs")  # per instance, before the first request
_startup.started()

@functions_framework.http
def fetch(request):
    with handling("fetch", step="fetch"):
        try:
            task = FetchTask.model_validate_json(request.get_data())
        except ValidationError as err:
            raise InvalidInput(f"malformed fetch task: {err.errors()[0]['msg']}") from None
        s = services()
        attempt: QueueAttempt | None = queue_attempt(request)
        retry = s.settings.spec.queues[attempt.queue].retry if attempt and attempt.queue in s.settings.spec.queues else None
        s.url_ingestion.run(task.document_id, lambda first: retry is not None and attempt.is_last(retry, first, utcnow()))
    return "", 204
