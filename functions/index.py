"""Cloud Function `index`: runs the index step for the document named by a Pub/Sub message."""

import functions_framework

from _trigger import handling, step_message
from contentflow.services import services


services().warm("store", "dispatcher")  # per instance, before the first request

@functions_framework.cloud_event
def index(cloud_event):
    with handling("index", step="index"):
        msg = step_message(cloud_event, "index")
        services().pipeline.run_step("index", msg.document_id)
