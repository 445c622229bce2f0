"""Cloud Function `backfill` (HTTP, called by Cloud Scheduler): after an embedding model change,
enqueues the re-embedding of every done document still in another embedding space, a page at a
time, with its cursor kept in Firestore (resumable, safe to run twice). GET shows the progress."""

import functions_framework

import _startup  # first of ours: the collector pauses until _startup.started()
from _trigger import handling
from contentflow.services import services

services().warm("store", "dispatcher")  # per instance, before the first request
_startup.started()


@functions_framework.http
def backfill(request):
    if request.method not in ("POST", "GET"):
        return {"error": {"code": "method_not_allowed", "message": "POST runs a backfill pass, GET shows its progress"}}, 405
    result = None
    with handling("backfill"):
        if request.method == "GET":
            result = services().backfill.progress()
        else:
            body = request.get_json(silent=True) or {}
            page_size = body.get("page_size", 100) if isinstance(body, dict) else 100
            max_pages = body.get("max_pages", 50) if isinstance(body, dict) else 50
            if not (isinstance(page_size, int) and 1 <= page_size <= 500 and isinstance(max_pages, int) and 1 <= max_pages <= 1000):
                return {"error": {"code": "invalid_request", "message": "page_size must be 1..500 and max_pages 1..1000"}}, 400
            result = services().backfill.run(page_size=page_size, max_pages=max_pages)
    if result is None:
        return {"error": {"code": "unavailable", "message": "backfill failed; it resumes from its cursor on the next run"}}, 503
    return result, 200
