"""URL ingestion through the running local stack: POST {"url"} records the document at once
(`fetching`), the fetch function (Cloud Tasks) fetches it SSRF-safely and hands it to the pipeline.

The stack's api and fetch functions allow loopback only for this module, by setting (restarted
with CONTENTFLOW_URL_FETCH__ALLOW_LOOPBACK=true, and back to the default afterwards): the test
server binds to 127.0.0.1. Private ranges and the metadata server stay refused even then."""

from __future__ import annotations

import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

ALLOW = "CONTENTFLOW_URL_FETCH__ALLOW_LOOPBACK"
REPORT = f"Field report {uuid.uuid4().hex}. The river crossing was rebuilt after the spring floods.".encode()


class _Site(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path == "/report.txt":
            self._send(200, REPORT, "text/plain; charset=utf-8")
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/report.txt")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/computeMetadata/v1/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, b"not here", "text/plain")

    def _send(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def api(stack):
    for name in ("api", "fetch"):
        stack.restart_function(name, {ALLOW: "true"})
    try:
        yield stack.function_url("api").rstrip("/")
    finally:
        stack.function_env.pop(ALLOW, None)
        for name in ("api", "fetch"):
            stack.restart_function(name)
        from local.stack import read_state

        assert read_state(stack.data_dir)["ready"]  # a restarted function leaves the stack ready (the CLI reads this)


def _post_url(api, url, **extra):
    return requests.post(f"{api}/documents", json={"url": url, **extra}, timeout=30)


def test_a_url_is_fetched_and_processed(api, site, wait_status):
    r = _post_url(api, f"{site}/moved")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "fetching" and body["duplicate"] is False
    record = wait_status(body["id"])
    assert record["status"] == "done", record.get("error")
    source = record["source"]
    assert source["via"] == "url" and source["url"] == f"{site}/moved"
    assert source["name"] == f"url/{body['id']}/report.txt" and source["content_type"].startswith("text/plain")
    assert record["steps"]["fetch"]["state"] == "succeeded" and record["preview"].startswith("Field report")
    view = requests.get(f"{api}/documents/{body['id']}", timeout=10).json()
    assert view["source"]["url"] == f"{site}/moved" and view["metadata"]["filename"] == "report.txt"


def test_a_redirect_to_the_metadata_server_fails_the_document_with_the_reason(api, site, wait_status):
    r = _post_url(api, f"{site}/to-metadata")
    assert r.status_code == 202, r.text
    record = wait_status(r.json()["id"])
    assert record["status"] == "failed" and record["error"]["step"] == "fetch"
    assert "refused" in record["error"]["reason"] and "169.254.169.254" in record["error"]["reason"]
    missing = wait_status(_post_url(api, f"{site}/nothing-here", filename="x.txt").json()["id"])
    assert missing["status"] == "failed" and "404" in missing["error"]["reason"]


def test_a_failed_fetch_can_be_retried(api, site, db, wait_status):
    doc_id = _post_url(api, f"{site}/gone-for-now").json()["id"]
    assert wait_status(doc_id)["status"] == "failed"
    again = requests.post(f"{api}/documents/{doc_id}:retry", timeout=10)
    assert again.status_code == 202 and again.json()["step"] == "fetch" and again.json()["status"] == "fetching"
    deadline = time.monotonic() + 30
    while (rec := db.collection("documents").document(doc_id).get().to_dict())["status"] != "failed" or rec["retries"] != 1:
        assert time.monotonic() < deadline, rec
        time.sleep(0.1)


@pytest.mark.parametrize("url", [
    "http://10.0.0.1/", "http://172.16.5.4/a", "http://192.168.1.1/", "http://100.64.0.1/",
    "http://169.254.169.254/computeMetadata/v1/", "http://metadata.google.internal/", "http://[fd00::1]/",
    "http://0x7f000001/", "http://2130706433/", "http://user:pw@127.0.0.1/", "http://[::ffff:10.0.0.1]/",
])
def test_hostile_urls_are_refused_at_submission(api, url):
    r = _post_url(api, url)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "url_refused" and "refused" in r.json()["error"]["message"]


def test_non_http_urls_are_invalid(api):
    for url in ("file:///etc/passwd", "gopher://127.0.0.1/", "ftp://example.org/a"):
        r = _post_url(api, url)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"


def test_the_sweeper_re_enqueues_a_fetch_whose_task_was_lost(api, stack, site, db, wait_status):
    """The record is written as submission writes it, but no task is enqueued (as if the enqueue
    was lost after the commit), and it is older than FETCH_STUCK_AFTER_S: the sweeper takes it on."""
    from datetime import timedelta

    from contentflow import documents as sm

    doc_id = uuid.uuid4().hex
    long_ago = sm.utcnow() - timedelta(seconds=sm.FETCH_STUCK_AFTER_S + 5)
    doc = sm.register_url(None, doc_id, f"{site}/report.txt", stack.bucket("inbox"), None, long_ago).document
    db.collection("documents").document(doc_id).set(doc.to_firestore())
    swept = stack.fire("sweeper")
    assert swept.status_code == 200 and {"document_id": doc_id, "step": "fetch"} in swept.json()["documents"]
    assert wait_status(doc_id)["status"] == "done"
