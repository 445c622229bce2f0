"""The api function: POST /documents, GET /documents/{id}, JSON errors, readiness."""

import base64
import sys
import time
import uuid

import pytest
import requests
from google.cloud.firestore_v1.base_query import FieldFilter

from local.stack import REPO


@pytest.fixture(scope="module")
def api(stack):
    return stack.function_url("api").rstrip("/")


def test_posted_text_reaches_done_and_reads_back(api, wait_status, output_events):
    text = f"Posted through the api {uuid.uuid4().hex}.\n\nSecond paragraph."
    r = requests.post(f"{api}/documents", json={"text": text, "filename": "../../etc/passwd note.txt"}, timeout=30)
    assert r.status_code == 202, r.text
    body = r.json()
    doc_id = body["id"]
    assert body["status_url"] == f"/documents/{doc_id}" and body["duplicate"] is False
    record = wait_status(doc_id)
    assert record["status"] == "done"
    assert record["source"]["via"] == "api"
    assert record["source"]["name"].startswith("api/") and ".." not in record["source"]["name"]
    assert record["source"]["name"].endswith("/passwd_note.txt")
    got = requests.get(f"{api}/documents/{doc_id}", timeout=10)
    assert got.status_code == 200
    assert got.json()["status"] == "done" and got.json()["preview"].startswith("Posted through the api")
    assert "trace_id" not in got.json()
    output_events.wait_for(doc_id)
    again = requests.post(f"{api}/documents", json={"text": text, "filename": "other.txt"}, timeout=30)
    assert again.status_code == 202  # same bytes, other name: its own object, so its own document
    same = requests.post(f"{api}/documents", json={"text": text, "filename": "../../etc/passwd note.txt"}, timeout=30)
    assert same.json() == {**body, "status": "done", "duplicate": True}



def test_submission_is_new_even_when_its_upload_event_registers_first(stack, db, wait_status):
    """The api writes the object, then registers it; the bucket's upload event may win that race.
    Forced here: the real upload event registers the document before the api's own registration."""
    from contentflow.blobs import BlobStore
    from contentflow.services import Services
    from contentflow.settings import Settings

    services = Services(Settings())

    class UploadEventWins(BlobStore):
        def create_if_absent(self, bucket, name, data, content_type, metadata=None):
            stored = super().create_if_absent(bucket, name, data, content_type, metadata)
            deadline = time.monotonic() + 20
            while not list(db.collection("documents").where(filter=FieldFilter("source.name", "==", name)).limit(1).stream()):
                assert time.monotonic() < deadline, "the upload event never registered the object"
                time.sleep(0.05)
            return stored

    services.blobs = UploadEventWins(services.storage, services.settings.storage_timeout_s)
    pipeline = services.intake
    data = f"Raced submission {uuid.uuid4().hex}".encode()
    first = pipeline.submit("race.txt", data, "text/plain")
    assert first.outcome == "created" and first.document.source.via == "api"  # registered by the upload event, marked by the api
    assert wait_status(first.document.id)["status"] == "done"
    again = pipeline.submit("race.txt", data, "text/plain")
    assert again.outcome == "duplicate" and again.document.id == first.document.id

def test_multipart_and_base64_uploads(api, wait_status):
    data = f"Multipart body {uuid.uuid4().hex}".encode()
    r = requests.post(f"{api}/documents", files={"file": ("upload.md", data, "text/markdown")}, timeout=30)
    assert r.status_code == 202, r.text
    assert wait_status(r.json()["id"])["stats"]["extraction"]["mime_type"] == "text/markdown"
    b64 = requests.post(f"{api}/documents", timeout=30, json={
        "content_base64": base64.b64encode(b"Encoded " + data).decode(), "filename": "enc.txt", "content_type": "text/plain"})
    assert b64.status_code == 202 and wait_status(b64.json()["id"])["status"] == "done"


@pytest.mark.parametrize("kwargs, status, code, message", [
    ({"json": {"filename": "x.txt"}}, 400, "invalid_request", "exactly one of text, content_base64 or url"),
    ({"json": {"text": "a", "content_base64": "YQ=="}}, 400, "invalid_request", "exactly one of"),
    ({"json": {"text": 5}}, 400, "invalid_request", "exactly one of"),
    ({"json": ["text"]}, 400, "invalid_request", "exactly one of"),
    ({"json": {"content_base64": "***"}}, 400, "invalid_request", "not valid base64"),
    ({"json": {"text": ""}}, 400, "invalid_request", "exactly one of"),
    ({"json": {"text": "a", "filename": ""}}, 400, "invalid_request", "exactly one of"),
    ({"json": {"url": "ftp://example.org/a"}}, 400, "invalid_request", "exactly one of"),
    ({"data": "not json", "headers": {"Content-Type": "application/json"}}, 400, "invalid_request", "exactly one of"),
    ({"data": "plain", "headers": {"Content-Type": "text/plain"}}, 415, "unsupported_media_type", "application/json or multipart/form-data"),
    ({"files": {"other": ("a.txt", b"a")}}, 400, "invalid_request", "'file' field"),
    ({"data": "--x\r\nbroken", "headers": {"Content-Type": "multipart/form-data; boundary=x"}}, 400, "invalid_request", "multipart"),
    ({"json": {"text": "a", "content_type": "text/plain\r\nX-Injected: 1"}}, 400, "invalid_request", "exactly one of"),
    ({"json": {"text": "a", "content_type": "text/plain; charset=\u20ac"}}, 400, "invalid_request", "exactly one of"),
    ({"json": {"text": "a", "content_type": "text/plain;\x0b\ncharset=utf-8"}}, 400, "invalid_request", "exactly one of"),  # found by the schema test
    ({"files": {"file": ("a.txt", b"a", "text/\u20ac")}}, 400, "invalid_request", "not a MIME type"),
    ({"files": {"file": ("a.txt", b"", "text/plain")}}, 400, "invalid_request", "empty document"),
])
def test_bad_posts_get_json_errors(api, kwargs, status, code, message):
    r = requests.post(f"{api}/documents", timeout=10, **kwargs)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]["message"]
    assert r.json()["error"]["code"] == code


def test_get_errors_and_routes(api):
    assert requests.get(f"{api}/documents/{'0' * 32}", timeout=10).status_code == 404
    bad = requests.get(f"{api}/documents/not-an-id", timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"
    assert "doc_id" in bad.json()["error"]["message"]
    nowhere = requests.get(f"{api}/nowhere", timeout=10)
    assert nowhere.status_code == 404 and nowhere.json()["error"]["code"] == "not_found"
    wrong = requests.delete(f"{api}/documents", timeout=10)
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    assert requests.get(f"{api}/healthz", timeout=10).json() == {"status": "ok"}
    ready = requests.get(f"{api}/readyz", timeout=30)
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "checks": {
        "firestore": "ok", "bucket:inbox": "ok", "bucket:processed": "ok", "inference": "ok"}}
    for bad in ("q=", "q=a&limit=0", "q=a&limit=x", "q=a&document_id=zz", "q=a&label=Bad+Label", "q=a&nope=1"):
        refused = requests.get(f"{api}/search?{bad}", timeout=10)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_request", (bad, refused.text)


def test_an_unavailable_dependency_is_a_json_503_that_does_not_leak_its_error(stack, tmp_path):
    """The api's own process, as the stack starts it, but its Firestore is a port nobody answers."""
    from local.procs import ManagedProcess, free_port, port_open

    port, dead = free_port(), free_port()
    env = {**stack.client_env(), "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{dead}", "CONTENTFLOW_FIRESTORE_TIMEOUT_S": "1",
           "PYTHONPATH": "lib", "K_SERVICE": "api"}
    proc = ManagedProcess("api-no-firestore", [sys.executable, "-m", "functions_framework", "--target", "api",
                                               "--source", "functions/api.py", "--host", "127.0.0.1", "--port", str(port)],
                          tmp_path / "api.log", env=env, cwd=REPO).start()
    try:
        deadline = time.monotonic() + 30
        while not port_open(port):
            assert proc.alive() and time.monotonic() < deadline, proc.log_tail()
            time.sleep(0.05)
        r = requests.get(f"http://127.0.0.1:{port}/documents/{'0' * 32}", timeout=30)
        assert r.status_code == 503 and r.headers["Retry-After"] == "5"
        assert r.json() == {"error": {"code": "unavailable", "message": "a dependency is unavailable; retry shortly"}}
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200  # alive
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=30)
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"
        checks = ready.json()["error"]["details"]
        assert checks["firestore"] != "ok" and checks["bucket:inbox"] == "ok" and checks["inference"] == "ok"
        assert str(dead) not in ready.text  # the dependency's own error text stays in the log
    finally:
        proc.stop()
    assert "dependency unavailable" in (tmp_path / "api.log").read_text()  # the detail is in the log
