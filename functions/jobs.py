"""Cloud Function `jobs` (HTTP, called by Cloud Scheduler): runs the scheduled job the body names,
`{"job": "retention" | "report" | "reconcile", ...options}` (contentflow.jobs), and answers its
summary. A failed run answers 503 (Cloud Scheduler retries); each job resumes from its progress in
the jobs collection."""

import functions_framework
from pydantic import ValidationError

import _startup  # first of ours: the collector pauses until _startup.started()
from _trigger import handling
from contentflow.jobs import JobRequest, run_job
from contentflow.services import services

services().warm("store", "dispatcher")  # per instance, before the first request
_startup.started()
MAX_BODY_BYTES = 4096  # a job name and a few options


def _error(status: int, code: str, message: str):
    return {"error": {"code": code, "message": message}}, status


@functions_framework.http
def jobs(request):
    if request.method != "POST":
        return _error(405, "method_not_allowed", "POST a job: {\"job\": \"retention\" | \"report\" | \"reconcile\", ...}")
    body = request.stream.read(MAX_BODY_BYTES + 1)  # bounded, with or without a Content-Length
    if len(body) > MAX_BODY_BYTES:
        return _error(413, "payload_too_large", f"a job request is at most {MAX_BODY_BYTES} bytes")
    try:
        job = JobRequest.validate_json(body or b"{}")
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return _error(400, "invalid_request", f"{where}: {first['msg']}"[:300])
    result = None
    with handling("jobs", job=job.job):
        result = run_job(services(), job)
    if result is None:
        return _error(503, "job_failed", f"the {job.job} job failed; its next run resumes from its progress")
    return result, 200
