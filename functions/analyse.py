"""Cloud Function `analyse`: runs the analyse step (summary, labels, keywords, entities, sentiment,
sensitivity) for the document a delivery names.

Triggered as the spec says (a Pub/Sub topic through Eventarc or a push subscription, or a Cloud
Tasks queue); `_trigger.step_delivery` decodes each.
"""

import functions_framework

import _startup  # first of ours: the collector pauses until _startup.started()
from _trigger import run_step_request
from contentflow.services import services

services().warm("store", "dispatcher", "blobs", "inference", "results_lookup", "pipeline")  # per instance, before the first request
_startup.started()


@functions_framework.http
def analyse(request):
    return run_step_request(request, "analyse")
