"""Cloud Function `analyse`: runs the analyse step for the document named by a Pub/Sub message."""

import functions_framework

from _trigger import handling, step_message
from contentflow.services import services


services().warm("store", "dispatcher")  # per instance, before the first request

@functions_framework.cloud_event
def analyse(cloud_event):
    with handling("analyse", step="analyse"):
        msg = step_message(cloud_event, "analyse")
        services().pipeline.run_step("analyse", msg.document_id)
