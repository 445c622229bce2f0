"""Cloud Function `reembed` (Cloud Tasks, queue from the spec): re-embeds one done document under
the current embedding model. Tasks are enqueued by `backfill` after a model change; the queue's
rate limit paces the model calls and its retry config carries the backoff."""

import functions_framework
from pydantic import BaseModel, Field, ValidationError

import _startup  # first of ours: the collector pauses until _startup.started()
from _trigger import handling
from contentflow.documents import DOCUMENT_ID_PATTERN
from contentflow.errors import InvalidInput
from contentflow.logs import annotate
from contentflow.services import services

services().warm("store", "dispatcher", "blobs", "inference")  # per instance, before the first request
_startup.started()


class ReembedTask(BaseModel):
    document_id: str = Field(pattern=DOCUMENT_ID_PATTERN)
    space: str | None = Field(default=None, max_length=200)


@functions_framework.http
def reembed(request):
    with handling("reembed"):
        try:
            task = ReembedTask.model_validate_json(request.get_data())
        except ValidationError as err:
            raise InvalidInput(f"malformed re-embed task: {err.errors()[0]['msg']}") from None
        annotate(document_id=task.document_id)
        services().backfill.reembed(task.document_id)
    return "", 204
