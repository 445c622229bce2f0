"""Cloud Function `extract`: runs the extract step for the document named by a Pub/Sub message."""

import functions_framework

from _trigger import handling, step_message
from contentflow.services import services


services().warm("store", "dispatcher", "blobs")  # per instance, before the first request

@functions_framework.cloud_event
def extract(cloud_event):
    with handling("extract", step="extract"):
        msg = step_message(cloud_event, "extract")
        services().pipeline.run_step("extract", msg.document_id)
