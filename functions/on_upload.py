"""Cloud Function `on_upload`: an object was finalized in the inbox bucket (Eventarc storage event)."""

import functions_framework
from pydantic import ValidationError

import _startup  # first of ours: the collector pauses until _startup.started()
from _trigger import handling
from contentflow.errors import InvalidInput
from contentflow.messages import StorageObject
from contentflow.services import services


services().warm("store", "dispatcher", "intake")  # per instance, before the first request
_startup.started()

@functions_framework.cloud_event
def on_upload(cloud_event):
    with handling("on_upload", event_id=cloud_event["id"]):
        try:
            obj = StorageObject.model_validate(cloud_event.data)
        except ValidationError as err:
            raise InvalidInput(f"not a storage object event: {err.errors()[0]['msg']}") from None
        services().intake.register_object(obj)
