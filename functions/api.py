"""Cloud Function `api` (HTTP): the contentflow HTTP API, documented at /docs and /openapi.json.

functions-framework serves this entry point (WSGI, as deployed); the routes, validation and the
OpenAPI document are a FastAPI app (lib/contentflow/api), run here through a2wsgi. Before the app
sees a request, its body is capped, also when it comes chunked without a Content-Length: read at
most the limit plus one byte, never more, so memory stays bounded.
"""

import io
import json
import threading

import functions_framework
from a2wsgi import ASGIMiddleware
from werkzeug.wrappers import Response

import _startup  # first of ours: the collector pauses until _startup.started()
from contentflow.api.app import create_app
from contentflow.services import services

_settings = services().settings
# A base64 body is 4/3 of its content, plus room for the JSON or multipart around it.
MAX_BODY_BYTES = _settings.api_max_upload_bytes * 4 // 3 + 65536
_asgi = create_app(api_key=_settings.api_key.get_secret_value() if _settings.api_key else None)
_bridge: ASGIMiddleware | None = None  # its event loop thread is started in the serving process
_bridge_lock = threading.Lock()


def _app() -> ASGIMiddleware:
    """a2wsgi runs the app on an event loop in a thread of its own. A thread does not survive the
    fork of a pre-loading server (gunicorn loads this module, then forks its worker), so the
    bridge is built on the first request, in the process that serves it."""
    global _bridge
    with _bridge_lock:
        if _bridge is None:
            _bridge = ASGIMiddleware(_asgi)
        return _bridge

services().warm("store", "dispatcher", "blobs")  # per instance, before the first request
_startup.started()


def _too_large() -> Response:
    body = {"error": {"code": "payload_too_large",
                      "message": f"body too large: at most {_settings.api_max_upload_bytes} bytes of content; "
                                 "use POST /uploads for larger files"}}
    return Response(json.dumps(body), status=413, mimetype="application/json", headers={"Connection": "close"})


@functions_framework.http
def api(request):
    environ = request.environ
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        return _too_large()
    if length is None and request.method in ("POST", "PUT", "PATCH"):
        # No Content-Length (chunked): the server decodes the chunks; read up to the cap only.
        body = request.stream.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            return _too_large()
        environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        environ.pop("HTTP_TRANSFER_ENCODING", None)
    return Response.from_app(_app(), environ)
