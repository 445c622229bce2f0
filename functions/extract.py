"""Cloud Function `extract`: runs the extract step for the document a delivery names.

Triggered as the spec says (a Pub/Sub topic through Eventarc or a push subscription, or a Cloud
Tasks queue); `_trigger.step_delivery` decodes each.
"""

import functions_framework

import _startup  # first of ours: the collector pauses until _startup.started()
from _trigger import run_step_request
from contentflow import extraction
from contentflow.services import services

services().warm("store", "dispatcher", "blobs", "pipeline")  # per instance, before the first request
if services().settings.inference.backend == "vertex":
    services().warm("inference")  # OCR goes to Gemini; the local backend is never built here
extraction.warm_up()  # the sandboxed parser worker, likewise
_startup.started()


@functions_framework.http
def extract(request):
    return run_step_request(request, "extract")
