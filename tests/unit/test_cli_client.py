"""The CLI's api client against a small in-memory api that answers per the contract (FakeApi, also
used by the other test_cli_* modules): retries, error shape, credentials, timeouts."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from datetime import datetime, timedelta, timezone
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests

from contentflow_cli.client import ApiClient, ApiError, ExitCode, Unreachable, clean

STEPS = ("extract", "analyse", "index")


class FakeApi:
    """The contentflow api in memory on 127.0.0.1. A document advances one status per GET of it:
    received -> extracting -> analysing -> done; a filename with `fail` ends failed in extract, one
    with `slow` never finishes. Every request is recorded (method, path, query, headers, body)."""

    def __init__(self):
        self.documents: dict[str, dict] = {}
        self.objects: dict[str, bytes] = {}  # uploaded through signed URLs
        self.requests: list[dict] = []
        self.idempotency: dict[str, dict] = {}
        self.queued_errors: list[tuple[str, int, dict, dict]] = []  # (path regex, status, body, headers)
        self.inline_limit: int | None = None  # POST bodies above: 413
        self.registration_delay_lists = 1  # GET /documents?object= answers empty this many times
        self.report: dict | None = None
        self._clock = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> FakeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    # --- state --------------------------------------------------------------------------------
    def fail_next(self, path_pattern: str, status: int, code: str, message: str = "no", headers: dict | None = None):
        self.queued_errors.append((path_pattern, status, {"error": {"code": code, "message": message}}, headers or {}))

    def add(self, filename: str, status: str = "done", labels=(), reason: str | None = None, language="en") -> dict:
        with self._lock:
            self._clock += timedelta(seconds=1)
            doc_id = hashlib.sha256(f"{filename}{len(self.documents)}".encode()).hexdigest()[:32]
            doc = {"id": doc_id, "status": status, "filename": filename, "created_at": self._clock.isoformat(),
                   "updated_at": self._clock.isoformat(), "labels": list(labels), "language": language, "size": 10,
                   "error": {"step": "extract", "reason": reason, "at": self._clock.isoformat()} if reason else None,
                   "plan": [status], "via": "api", "object": None}
            self.documents[doc_id] = doc
            return doc

    def calls(self, method: str, path_prefix: str = "") -> list[dict]:
        return [r for r in self.requests if r["method"] == method and r["path"].startswith(path_prefix)]

    def _register(self, filename: str, data: bytes, via: str, object_name: str | None = None) -> tuple[dict, bool]:
        doc_id = hashlib.sha256(data).hexdigest()[:32]
        if doc_id in self.documents:
            return self.documents[doc_id], True
        self._clock += timedelta(seconds=1)
        if "slow" in filename:
            plan = ["received", "extracting"]
        elif "fail" in filename:
            plan = ["received", "extracting", "failed"]
        else:
            plan = ["received", "extracting", "analysing", "done"]
        doc = {"id": doc_id, "status": "received", "filename": filename, "created_at": self._clock.isoformat(),
               "updated_at": self._clock.isoformat(), "labels": [], "language": None, "size": len(data), "error": None,
               "plan": plan, "via": via, "object": object_name}
        self.documents[doc_id] = doc
        return doc, False

    def _advance(self, doc: dict) -> None:
        plan = doc["plan"]
        at = plan.index(doc["status"]) if doc["status"] in plan else len(plan) - 1
        before, doc["status"] = doc["status"], plan[min(at + 1, len(plan) - 1)]
        if doc["status"] == "failed" and before != "failed":
            doc["error"] = {"step": "extract", "reason": "unsupported type: application/x-fake", "at": doc["updated_at"]}
        if doc["status"] == "done":
            doc["labels"] = ["travel"]
            doc["language"] = "en"

    @staticmethod
    def summary(doc: dict) -> dict:
        return {k: doc[k] for k in ("id", "status", "filename", "created_at", "updated_at", "labels", "language",
                                    "size", "error")}

    def view(self, doc: dict) -> dict:
        steps = {}
        for i, name in enumerate(STEPS):
            state = "succeeded" if doc["status"] == "done" else ("failed" if doc["status"] == "failed" and i == 0 else "queued")
            steps[name] = {"state": state, "attempts": 1, "queued_at": doc["created_at"], "started_at": None,
                           "finished_at": None, "duration_ms": 1500 if state == "succeeded" else None,
                           "error": doc["error"]["reason"] if state == "failed" else None}
        return {**self.summary(doc), "source": {"bucket": "inbox", "name": doc["object"] or doc["filename"],
                                                "via": doc["via"], "size": doc["size"]},
                "steps": steps, "preview": "", "stats": {}, "outputs": {},
                "metadata": {"filename": doc["filename"], "content_type": "text/plain", "size": doc["size"]},
                "analysis": None, "index": None, "embedding_space": None}

    # --- HTTP ---------------------------------------------------------------------------------
    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _answer(self, status: int, body=None, headers: dict | None = None):
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, code: str, message: str, headers=None):
                self._answer(status, {"error": {"code": code, "message": message}}, headers)

            def _handle(self, method: str):
                parts = urlsplit(self.path)
                path, query = unquote(parts.path), {k: v[-1] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with api._lock:
                    api.requests.append({"method": method, "path": path, "query": query,
                                         "headers": dict(self.headers.items()), "body": body})
                    for i, (pattern, status, error_body, headers) in enumerate(api.queued_errors):
                        if re.fullmatch(pattern, f"{method} {path}"):
                            del api.queued_errors[i]
                            return self._answer(status, error_body, headers)
                    return self._route(method, path, query, body)

            def _route(self, method, path, query, body):
                if method == "POST" and path == "/documents":
                    return self._submit(body)
                if method == "POST" and path == "/uploads":
                    req = json.loads(body)
                    name = f"uploads/{len(api.objects):04d}/{req['filename']}"
                    api.objects[name] = b""
                    return self._answer(201, {"upload_url": f"{api.url}_upload/{name}", "method": "PUT",
                                              "headers": {"Content-Type": req["content_type"],
                                                          "X-Goog-Content-Length-Range": f"0,{req['size']}"},
                                              "object": name, "expires_at": "2026-12-01T10:00:00Z",
                                              "documents_url": f"/documents?object={name}"})
                if method == "PUT" and path.startswith("/_upload/"):
                    name = path[len("/_upload/"):]
                    if name not in api.objects:
                        return self._answer(403, None)
                    api.objects[name] = body
                    api._register(name.rsplit("/", 1)[-1], body, "storage", name)
                    return self._answer(200, {})
                if method == "GET" and path == "/documents":
                    return self._list(query)
                if m := re.fullmatch(r"/documents/([^/:]+)(:retry)?", path):
                    doc_id = m.group(1)
                    if not re.fullmatch(r"[0-9a-f]{32}", doc_id):
                        return self._error(400, "invalid_request", "doc_id: not a document id")
                    doc = api.documents.get(doc_id)
                    if method == "DELETE" and not m.group(2):
                        api.documents.pop(doc_id, None)
                        return self._answer(204)
                    if doc is None:
                        return self._error(404, "not_found", f"no document {doc_id}")
                    if method == "GET" and not m.group(2):
                        api._advance(doc)
                        return self._answer(200, api.view(doc))
                    if method == "POST" and m.group(2):
                        if doc["status"] != "failed":
                            return self._error(409, "conflict", f"document is {doc['status']}, not failed")
                        doc["status"], doc["error"] = "extracting", None
                        return self._answer(202, {"id": doc_id, "status": "extracting", "step": "extract"})
                if method == "GET" and path == "/search":
                    results = [{"document_id": d["id"], "title": d["filename"], "score": 0.8, "labels": d["labels"],
                                "language": "en", "hits": [{"chunk": 0, "text": f"about {query['q']}", "score": 0.8}]}
                               for d in api.documents.values() if d["status"] == "done"][: int(query.get("limit", 10))]
                    return self._answer(200, {"query": query["q"], "space": "local", "results": results,
                                              "coverage": {"space": "local", "documents_done": len(results),
                                                           "documents_indexed": len(results),
                                                           "documents_not_reembeddable": 0, "complete": True}})
                if method == "GET" and path.startswith("/reports/"):
                    if path == "/reports/latest" and api.report:
                        return self._answer(200, api.report)
                    return self._error(404, "not_found", "no report for that day")
                return self._error(404, "not_found", "no such route: see /docs")

            def _submit(self, body: bytes):
                if api.inline_limit is not None and len(body) > api.inline_limit:
                    return self._error(413, "payload_too_large", "body too large; use POST /uploads")
                ctype = self.headers.get("Content-Type", "")
                if ctype.startswith("multipart/form-data"):
                    msg = BytesParser(policy=email_policy).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + body)
                    part = next(p for p in msg.iter_parts() if p.get_param("name", header="content-disposition") == "file")
                    filename, data = part.get_filename(), part.get_payload(decode=True)
                elif ctype.startswith("application/json"):
                    sub = json.loads(body)
                    if "url" in sub:
                        filename, data = sub["url"], sub["url"].encode()
                    elif "content_base64" in sub:
                        filename, data = sub.get("filename", "document"), base64.b64decode(sub["content_base64"])
                    else:
                        filename, data = sub.get("filename", "document.txt"), sub["text"].encode()
                else:
                    return self._error(415, "unsupported_media_type", "send application/json or multipart/form-data")
                if not data:
                    return self._error(400, "invalid_request", "empty document: send some content")
                key = self.headers.get("Idempotency-Key")
                if key and key in api.idempotency:
                    return self._answer(202, api.idempotency[key], {"Idempotent-Replayed": "true"})
                doc, duplicate = api._register(filename, data, "api")
                answer = {"id": doc["id"], "status": doc["status"], "duplicate": duplicate,
                          "status_url": f"/documents/{doc['id']}"}
                if key:
                    api.idempotency[key] = answer
                return self._answer(202, answer)

            def _list(self, query):
                if "object" in query:
                    docs = [d for d in api.documents.values() if d["object"] == query["object"]]
                    if docs and api.registration_delay_lists > 0:
                        api.registration_delay_lists -= 1
                        docs = []
                else:
                    docs = sorted(api.documents.values(), key=lambda d: d["created_at"], reverse=True)
                    for field in ("status", "language"):
                        if query.get(field):
                            docs = [d for d in docs if d[field] == query[field]]
                    if query.get("label"):
                        docs = [d for d in docs if query["label"] in d["labels"]]
                    if query.get("created_after"):
                        after = datetime.fromisoformat(query["created_after"])
                        docs = [d for d in docs if datetime.fromisoformat(d["created_at"]) >= after]
                limit = int(query.get("limit", 20))
                start = 0
                if query.get("cursor"):
                    if not re.fullmatch(r"c\d+", query["cursor"]):
                        return self._error(400, "bad_cursor", "cursor: not a cursor of this listing")
                    start = int(query["cursor"][1:])
                page = docs[start:start + limit]
                more = start + limit < len(docs)
                return self._answer(200, {"documents": [api.summary(d) for d in page],
                                          "next_cursor": f"c{start + limit}" if more else None})

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_PUT(self):
                self._handle("PUT")

            def do_DELETE(self):
                self._handle("DELETE")

        return Handler


@pytest.fixture
def fake_api():
    api = FakeApi().start()
    try:
        yield api
    finally:
        api.stop()


def closed_port_url() -> str:
    """A loopback URL nobody listens on (bound, then closed)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# --- the client -------------------------------------------------------------------------------
def test_503_is_retried_after_its_retry_after_then_answers(fake_api):
    fake_api.fail_next(r"GET /documents", 503, "unavailable", headers={"Retry-After": "0"})
    fake_api.fail_next(r"GET /documents", 429, "rate_limited", headers={"Retry-After": "0"})
    pauses = []
    page = ApiClient(fake_api.url, sleep=pauses.append).list_documents(limit=5)
    assert page == {"documents": [], "next_cursor": None}
    assert len(fake_api.calls("GET", "/documents")) == 3
    assert pauses == [0.0, 0.0]


def test_retry_after_is_capped_and_retries_end(fake_api):
    for _ in range(6):
        fake_api.fail_next(r"GET /documents", 503, "unavailable", "a dependency is unavailable", {"Retry-After": "3600"})
    pauses = []
    with pytest.raises(ApiError) as err:
        ApiClient(fake_api.url, sleep=pauses.append).list_documents()
    assert err.value.code == "unavailable" and err.value.exit_code == ExitCode.UNREACHABLE
    assert pauses and max(pauses) <= 10.0  # never an hour
    assert len(fake_api.calls("GET", "/documents")) <= 5


def test_error_shape_becomes_code_message_and_exit_code(fake_api):
    client = ApiClient(fake_api.url)
    with pytest.raises(ApiError) as not_found:
        client.document("0" * 32)
    assert (not_found.value.status, not_found.value.code, not_found.value.exit_code) == (404, "not_found", ExitCode.FAILED)
    with pytest.raises(ApiError) as bad:
        client.list_documents(cursor="nonsense")
    assert (bad.value.code, bad.value.exit_code) == ("bad_cursor", ExitCode.USAGE)
    fake_api.fail_next(r"GET /search", 500, "internal", "internal error")
    with pytest.raises(ApiError) as internal:
        client.search("x")
    assert internal.value.exit_code == ExitCode.UNREACHABLE


def test_an_answer_outside_the_error_shape_is_described_without_its_body(fake_api):
    fake_api.queued_errors.append((r"GET /reports/latest", 502, ["<html>proxy \x1b[31mpage</html>"], {}))
    with pytest.raises(ApiError) as err:
        ApiClient(fake_api.url).report()
    assert err.value.code == "http_502" and "proxy" not in err.value.message


def test_a_post_without_idempotency_key_is_not_repeated_after_a_lost_connection():
    calls = []

    class Dropping(requests.Session):
        def request(self, *args, **kwargs):
            calls.append(kwargs.get("headers"))
            raise requests.ConnectionError("reset")

    with pytest.raises(Unreachable):
        ApiClient("http://127.0.0.1:9/", session=Dropping(), sleep=lambda s: None).request("POST", "documents", json={})
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(Unreachable) as err:
        ApiClient("http://127.0.0.1:9/", session=Dropping(), sleep=lambda s: None).request(
            "POST", "documents", json={}, headers={"Idempotency-Key": "k"})
    assert len(calls) == 3  # safe to repeat: retried, then given up
    assert err.value.exit_code == ExitCode.UNREACHABLE and "127.0.0.1:9" in err.value.message


def test_every_call_has_a_timeout():
    seen = []

    class Recording(requests.Session):
        def request(self, method, url, **kwargs):
            seen.append(kwargs.get("timeout"))
            raise requests.Timeout("slow")

    client = ApiClient("http://127.0.0.1:9/", session=Recording(), sleep=lambda s: None)
    with pytest.raises(Unreachable):
        client.document("a" * 32)
    with pytest.raises(Unreachable):
        client.put_upload("http://127.0.0.1:9/upload", {}, b"x")
    assert seen and all(isinstance(t, tuple) and all(v and v > 0 for v in t) for t in seen)


def test_credentials_go_to_the_api_only_never_to_an_upload_url(fake_api):
    asked = []
    client = ApiClient(fake_api.url, auth_headers=lambda: asked.append(1) or {"Authorization": "Bearer t0k", "X-API-Key": "s3cret"})
    assert asked == []  # not fetched before a call needs them
    grant = client.request("POST", "uploads", expect=(201,), json={"filename": "a.bin", "size": 3,
                                                                   "content_type": "application/octet-stream"}).json()
    client.put_upload(grant["upload_url"], grant["headers"], b"abc")
    client.list_documents()
    assert asked == [1]  # asked once
    post, put = fake_api.calls("POST", "/uploads")[0], fake_api.calls("PUT")[0]
    assert post["headers"]["Authorization"] == "Bearer t0k" and post["headers"]["X-API-Key"] == "s3cret"
    assert "Authorization" not in put["headers"] and "X-API-Key" not in put["headers"]
    assert put["headers"]["X-Goog-Content-Length-Range"] == "0,3" and put["body"] == b"abc"


def test_unreachable_api():
    with pytest.raises(Unreachable):
        ApiClient(closed_port_url(), sleep=lambda s: None).list_documents()


def test_clean_removes_control_characters_and_bounds_text():
    assert clean("a\x1b[31mred\x07\nb", 100) == "a?[31mred?\nb"
    assert clean("x" * 50, 10) == "x" * 9 + "…"
    assert clean(None) == ""

