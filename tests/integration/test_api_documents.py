"""The api's document routes against the running local stack: listing with filters and cursors,
deletion, retry, Idempotency-Key, signed uploads, body limits (also chunked), the API key."""

from __future__ import annotations

import base64
import sys
import time
import uuid

import pytest
import requests

from local.stack import REPO


@pytest.fixture(scope="module")
def api(stack):
    return stack.function_url("api").rstrip("/")


def _post_text(api, text, filename="note.txt", **headers):
    r = requests.post(f"{api}/documents", json={"text": text, "filename": filename}, headers=headers, timeout=30)
    assert r.status_code == 202, r.text
    return r.json()


def _error(r, status, code):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"], body
    return body["error"]


def test_listing_filters_and_pages_with_cursors(api, wait_status):
    tag = uuid.uuid4().hex[:8]
    ids = [_post_text(api, f"Listing test {tag} number {i}. The quarterly invoice is attached.", f"list-{i}.txt")["id"]
           for i in range(5)]
    for doc_id in ids:
        assert wait_status(doc_id)["status"] == "done"
    since = requests.get(f"{api}/documents/{ids[0]}", timeout=10).json()["created_at"]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"status": "done", "created_after": since, "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = requests.get(f"{api}/documents", params=params, timeout=10)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["documents"]) <= 2
        seen += [d["id"] for d in page["documents"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert set(ids) <= set(seen) and len(seen) == len(set(seen)) and pages >= 3  # every one once, across pages
    assert seen.index(ids[4]) < seen.index(ids[0])  # newest first
    mine = [d for d in requests.get(f"{api}/documents", params={"created_after": since, "limit": 100}, timeout=10).json()["documents"]
            if d["id"] in ids]
    assert all(d["status"] == "done" and d["filename"].startswith("list-") and d["language"] == "en" for d in mine)
    label = mine[0]["labels"][0]
    by_label = requests.get(f"{api}/documents", params={"label": label, "language": "en", "created_after": since}, timeout=10)
    assert by_label.status_code == 200 and {d["id"] for d in by_label.json()["documents"]} >= {d["id"] for d in mine if label in d["labels"]}
    assert requests.get(f"{api}/documents", params={"status": "failed", "created_after": since, "label": label},
                        timeout=10).json()["documents"] == []
    later = requests.get(f"{api}/documents", params={"created_before": since, "created_after": since}, timeout=10)
    _error(later, 400, "invalid_request")


@pytest.mark.parametrize("params, code", [
    ({"cursor": "not-a-cursor"}, "bad_cursor"),
    ({"cursor": base64.urlsafe_b64encode(b'{"c": "2026-01-01T00:00:00+00:00", "i": "x", "f": "y"}').decode()}, "bad_cursor"),
    ({"cursor": "A" * 600}, "invalid_request"),
    ({"limit": 0}, "invalid_request"),
    ({"limit": "many"}, "invalid_request"),
    ({"status": "DONE; drop"}, "invalid_request"),
    ({"created_after": "yesterday"}, "invalid_request"),
    ({"created_after": "2026-01-01T00:00:00"}, "invalid_request"),  # no time zone
    ({"object": "a", "status": "done"}, "invalid_request"),
    ({"colour": "blue"}, "invalid_request"),
])
def test_bad_listing_parameters_are_400(api, params, code):
    _error(requests.get(f"{api}/documents", params=params, timeout=10), 400, code)


def test_a_cursor_of_other_filters_is_refused(api, wait_status):
    for i in range(2):
        _post_text(api, f"Cursor filter test {uuid.uuid4().hex} {i}")
    page = requests.get(f"{api}/documents", params={"limit": 1}, timeout=10).json()
    assert page["next_cursor"]
    err = _error(requests.get(f"{api}/documents", params={"limit": 1, "status": "done", "cursor": page["next_cursor"]},
                              timeout=10), 400, "bad_cursor")
    assert "other filters" in err["message"]


def test_delete_removes_record_chunks_reusable_results_and_objects_and_is_idempotent(stack, api, db, storage_client, wait_status):
    text = f"Delete me {uuid.uuid4().hex}. A letter about the annual budget and its review by the board."
    doc_id = _post_text(api, text, "gone.txt")["id"]
    record = wait_status(doc_id)
    assert record["status"] == "done"
    from google.cloud.firestore_v1.base_query import FieldFilter

    naming = FieldFilter("document_id", "==", doc_id)
    chunks = lambda: list(db.collection("chunks").where(filter=naming).stream())  # noqa: E731
    # What identical content would reuse is found on the record by its keys (contentflow.results_cache).
    reusable = lambda: [s.id for field in ("analysis.cache_key", "index.cache_key") for s in db.collection("documents")  # noqa: E731
                        .where(filter=FieldFilter(field, "==", record[field.split(".")[0]]["cache_key"])).stream()]
    outputs = lambda: list(storage_client.list_blobs(stack.bucket("processed"), prefix=f"{doc_id}/"))  # noqa: E731
    assert chunks() and reusable() == [doc_id, doc_id] and outputs()
    upload = storage_client.bucket(record["source"]["bucket"]).blob(record["source"]["name"])
    assert upload.exists()
    r = requests.delete(f"{api}/documents/{doc_id}", timeout=30)
    assert r.status_code == 204 and r.content == b""
    _error(requests.get(f"{api}/documents/{doc_id}", timeout=10), 404, "not_found")
    assert not chunks() and not reusable() and not outputs() and not upload.exists()
    assert requests.delete(f"{api}/documents/{doc_id}", timeout=30).status_code == 204  # idempotent
    _error(requests.delete(f"{api}/documents/not-an-id", timeout=10), 400, "invalid_request")


def test_retry_re_drives_a_failed_document_from_its_failed_step(api, db, wait_status):
    junk = bytes(range(256)) * 20  # binary: no parser takes it
    r = requests.post(f"{api}/documents", json={"content_base64": base64.b64encode(junk).decode(), "filename": "junk.bin"},
                      timeout=30)
    doc_id = r.json()["id"]
    failed = wait_status(doc_id)
    assert failed["status"] == "failed" and failed["error"]["step"] == "extract"
    view = requests.get(f"{api}/documents/{doc_id}", timeout=10).json()
    assert view["error"]["reason"] and view["steps"]["extract"]["state"] == "failed"
    retried = requests.post(f"{api}/documents/{doc_id}:retry", timeout=30)
    assert retried.status_code == 202, retried.text
    assert retried.json() == {"id": doc_id, "status": "extracting", "step": "extract"}
    deadline = time.monotonic() + 30
    while (rec := db.collection("documents").document(doc_id).get().to_dict())["retries"] != 1 or rec["status"] != "failed":
        assert time.monotonic() < deadline, rec
        time.sleep(0.1)
    assert rec["steps"]["extract"]["attempts"] == 1 and rec["error"]["reason"] == failed["error"]["reason"]
    done_id = _post_text(api, f"Retry of a done document {uuid.uuid4().hex}")["id"]
    wait_status(done_id)
    _error(requests.post(f"{api}/documents/{done_id}:retry", timeout=10), 409, "conflict")
    _error(requests.post(f"{api}/documents/{'0' * 32}:retry", timeout=10), 404, "not_found")


def test_idempotency_key_returns_the_first_answer(api, db):
    key = f"key-{uuid.uuid4().hex}"
    body = {"text": f"Idempotent post {uuid.uuid4().hex}", "filename": "idem.txt"}
    first = requests.post(f"{api}/documents", json=body, headers={"Idempotency-Key": key}, timeout=30)
    again = requests.post(f"{api}/documents", json=body, headers={"Idempotency-Key": key}, timeout=30)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is False  # the first answer, as it was
    other = requests.post(f"{api}/documents", json={**body, "text": "something else"}, headers={"Idempotency-Key": key}, timeout=30)
    _error(other, 422, "idempotency_key_reused")
    _error(requests.post(f"{api}/documents", json=body, headers={"Idempotency-Key": "bad key\u00e9"}, timeout=10),
           400, "invalid_request")
    stored = [s.to_dict() for s in db.collection("idempotency").stream() if s.to_dict().get("body", {}).get("id") == first.json()["id"]]
    assert len(stored) == 1 and stored[0]["state"] == "done" and stored[0]["expires_at"] > stored[0]["created_at"]
    assert key not in str(stored[0])  # the key itself is kept only as a hash


def test_signed_upload_url_takes_a_large_file_to_done(api, wait_status):
    data = (f"A large report {uuid.uuid4().hex}. " + "The committee reviewed the budget line by line. " * 400).encode()
    grant = requests.post(f"{api}/uploads", json={"filename": "../big report.txt", "size": len(data), "content_type": "text/plain"},
                          timeout=30)
    assert grant.status_code == 201, grant.text
    g = grant.json()
    assert g["method"] == "PUT" and g["object"].startswith("uploads/") and g["object"].endswith("/big_report.txt")
    assert "X-Goog-Signature=" in g["upload_url"] and "Host" not in g["headers"]
    put = requests.put(g["upload_url"], data=data, headers=g["headers"], timeout=30)
    assert put.status_code == 200, put.text
    deadline = time.monotonic() + 30
    while not (found := requests.get(f"{api}{g['documents_url']}", timeout=10).json()["documents"]):
        assert time.monotonic() < deadline, "the upload was never registered"
        time.sleep(0.2)
    assert wait_status(found[0]["id"])["status"] == "done"
    for bad in ({"filename": "x", "size": 0}, {"filename": "x", "size": 10, "content_type": "text\r\nplain"}, {"size": 5}):
        _error(requests.post(f"{api}/uploads", json=bad, timeout=10), 400, "invalid_request")


def test_body_limit_holds_for_chunked_bodies_too(api):
    big = b'{"text": "' + b"a" * (15 * 1024 * 1024) + b'"}'
    sized = requests.post(f"{api}/documents", data=big, headers={"Content-Type": "application/json"}, timeout=60)
    _error(sized, 413, "payload_too_large")

    def chunks():  # no Content-Length: requests sends Transfer-Encoding: chunked
        for start in range(0, len(big), 1 << 20):
            yield big[start:start + (1 << 20)]
    chunked = requests.post(f"{api}/documents", data=chunks(), headers={"Content-Type": "application/json"}, timeout=60)
    _error(chunked, 413, "payload_too_large")
    small = requests.post(f"{api}/documents", data=iter([b'{"text": "chunked ', uuid.uuid4().hex.encode(), b'"}']),
                          headers={"Content-Type": "application/json"}, timeout=30)
    assert small.status_code == 202, small.text


def _start_api(stack, tmp_path, env_extra):
    from local.procs import ManagedProcess, free_port, port_open

    port = free_port()
    env = {**stack.client_env(), "PYTHONPATH": "lib", "K_SERVICE": "api", **env_extra}
    proc = ManagedProcess("api-keyed", [sys.executable, "-m", "functions_framework", "--target", "api", "--source",
                                        "functions/api.py", "--host", "127.0.0.1", "--port", str(port)],
                          tmp_path / "api.log", env=env, cwd=REPO).start()
    deadline = time.monotonic() + 30
    while not port_open(port) and proc.alive():
        assert time.monotonic() < deadline, proc.log_tail()
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}"


def test_api_key_when_configured_and_an_empty_key_refused_at_start(stack, tmp_path):
    proc, url = _start_api(stack, tmp_path, {"CONTENTFLOW_API_KEY": "s3cret-key"})
    try:
        _error(requests.get(f"{url}/documents", timeout=10), 401, "unauthorized")
        _error(requests.get(f"{url}/documents", headers={"X-API-Key": "wrong"}, timeout=10), 401, "unauthorized")
        assert requests.get(f"{url}/documents", headers={"X-API-Key": "s3cret-key"}, timeout=10).status_code == 200
        assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
        assert requests.get(f"{url}/openapi.json", timeout=10).status_code == 200
    finally:
        proc.stop()
    assert "s3cret-key" not in (tmp_path / "api.log").read_text()
    empty, _ = _start_api(stack, tmp_path, {"CONTENTFLOW_API_KEY": "  "})
    try:
        deadline = time.monotonic() + 30
        while empty.alive() and "set but empty" not in (tmp_path / "api.log").read_text():
            assert time.monotonic() < deadline, empty.log_tail()
            time.sleep(0.1)
        assert "set but empty" in (tmp_path / "api.log").read_text()
    finally:
        empty.stop()
