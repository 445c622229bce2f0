"""Storage-event relay: turns the GCS notification that fake-gcs-server publishes to Pub/Sub into
the CloudEvent that Eventarc hands a function in production
(`google.cloud.storage.object.v1.finalized`, binary content mode, data = the object JSON).

It receives the notification by Pub/Sub push and answers with the function's own status, so the
subscription's retry and dead-letter policy apply as they do to Eventarc's subscription.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import requests

EVENT_TYPES = {"OBJECT_FINALIZE": "google.cloud.storage.object.v1.finalized"}


def to_cloudevent(push_body: dict, bucket_filter: str | None = None) -> tuple[dict[str, str], bytes] | None:
    """(headers, body) of the Eventarc CloudEvent for a notification push body; None to ignore.

    fake-gcs-server notifies for every bucket; an Eventarc trigger filters on one, so does this."""
    message = push_body.get("message") or {}
    attributes = message.get("attributes") or {}
    event_type = EVENT_TYPES.get(attributes.get("eventType", ""))
    if event_type is None or (bucket_filter and attributes.get("bucketId") != bucket_filter):
        return None
    data = base64.b64decode(message.get("data") or "")
    obj = json.loads(data)
    bucket, name = obj["bucket"], obj["name"]
    headers = {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": str(message.get("messageId") or message.get("message_id")),
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-type": event_type,
        "ce-subject": f"objects/{name}",
        "ce-time": obj.get("updated") or obj.get("timeCreated") or message.get("publishTime", ""),
        "ce-bucket": bucket,
    }
    return {k: _header_value(v) for k, v in headers.items()}, data


def _header_value(value: str) -> str:
    """CloudEvents HTTP binding: outside printable ASCII, and space, '"' and '%', a header value is
    percent-encoded (UTF-8), so an object named `报告 – final.pdf` travels as Eventarc sends it."""
    return "".join(c if "!" <= c <= "~" and c not in '"%' else quote(c, safe="") for c in value)


class StorageEventRelay:
    def __init__(self, target_url: str, bucket: str, port: int, timeout_s: float = 60.0):
        self.target_url = target_url
        self.bucket = bucket
        self.port = port
        self._session = requests.Session()  # pooled, reused for every event
        self._timeout = timeout_s
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                status = relay.forward(self.rfile.read(length))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet: the functions log what matters
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="storage-relay", daemon=True)

    def forward(self, raw: bytes) -> int:
        try:
            event = to_cloudevent(json.loads(raw), self.bucket)
        except (ValueError, KeyError, TypeError):
            return 204  # not a notification we understand: ack it, retrying cannot help
        if event is None:
            return 204
        headers, body = event
        try:
            response = self._session.post(self.target_url, data=body, headers=headers, timeout=self._timeout)
        except requests.RequestException:
            return 503
        except Exception:  # a bug here must still answer, so the subscription retries, then dead-letters
            return 500
        return response.status_code

    def start(self) -> StorageEventRelay:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._session.close()
