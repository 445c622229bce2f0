"""Cloud Function `sweeper` (HTTP, called by Cloud Scheduler): re-drives stuck documents."""

import functions_framework

import _startup  # first of ours: the collector pauses until _startup.started()
from _trigger import handling
from contentflow.services import services


services().warm("store", "dispatcher")  # per instance, before the first request
_startup.started()

@functions_framework.http
def sweeper(request):
    if request.method != "POST":
        return {"error": {"code": "method_not_allowed", "message": "POST only"}}, 405
    summary = None
    with handling("sweeper"):
        summary = services().recovery.sweep()
    if summary is None:
        return {"error": {"code": "unavailable", "message": "sweep failed; the next run tries again"}}, 503
    return summary, 200
