"""Cloud Function `api` (HTTP): POST /documents, GET /documents/{id}, GET /search?q=, GET /healthz.

POST takes JSON (`{"text": ..., "filename": ...}` or `{"content_base64": ..., "filename": ...}`)
or a multipart form with a `file` field; the bytes go to the inbox bucket and take the same path
as a dropped file. Answers 202 with the document id. Errors are JSON: {"error": {code, message}}.
"""

import base64
import hmac
import re

import functions_framework
from pydantic import BaseModel, Field, ValidationError, model_validator

from _trigger import handling
from contentflow.documents import DOCUMENT_ID_PATTERN
from contentflow.errors import InvalidInput, PermanentError, TransientError
from contentflow.logs import get_logger
from contentflow.pipeline import public_view
from contentflow.services import services

log = get_logger("contentflow.api")
_DOC_PATH = re.compile(r"^/documents/([^/]+)/?$")
# A MIME type as HTTP carries it (RFC 9110 tokens, optional parameters): it becomes the stored
# object's Content-Type header, so nothing else may pass (CR/LF, non-ASCII).
_TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
_MIME_TYPE = re.compile(rf'^{_TOKEN}/{_TOKEN}(?:\s*;\s*{_TOKEN}=(?:{_TOKEN}|"[\x20-\x21\x23-\x7e]*"))*$')


def _checked_content_type(value: str | None) -> str | None:
    if value is not None and not _MIME_TYPE.fullmatch(value):
        raise InvalidInput("content_type: not a MIME type such as text/plain or application/pdf")
    return value


class Submission(BaseModel):
    filename: str = Field(default="document.txt", min_length=1, max_length=255)
    text: str | None = None
    content_base64: str | None = None
    content_type: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _one_content(self):
        if (self.text is None) == (self.content_base64 is None):
            raise ValueError("give exactly one of 'text' or 'content_base64'")
        return self

    def content(self) -> tuple[bytes, str]:
        _checked_content_type(self.content_type)
        if self.text is not None:
            return self.text.encode("utf-8"), self.content_type or "text/plain; charset=utf-8"
        try:
            return base64.b64decode(self.content_base64, validate=True), self.content_type or "application/octet-stream"
        except ValueError:
            raise InvalidInput("content_base64 is not valid base64") from None


def _first_error(err: ValidationError, whole: str) -> str:
    first = err.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc']) or whole}: {first['msg']}"


def _error(code: int, message: str):
    return {"error": {"code": code, "message": message}}, code


def _authorised(request) -> bool:
    key = services().settings.api_key
    if key is None:  # no key configured (the local stack): open
        return True
    given = request.headers.get("X-API-Key", "")
    return hmac.compare_digest(given.encode(), key.get_secret_value().encode())


def _submission(request) -> tuple[str, bytes, str | None]:
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise InvalidInput("multipart body without a 'file' field")
        return upload.filename or "document", upload.read(), _checked_content_type(upload.mimetype or None)
    if request.mimetype != "application/json":
        raise InvalidInput("send application/json or multipart/form-data")
    try:
        sub = Submission.model_validate_json(request.get_data())
    except ValidationError as err:
        raise InvalidInput(_first_error(err, "body")) from None
    data, content_type = sub.content()
    return sub.filename, data, content_type


def _post(request):
    settings = services().settings
    if (request.content_length or 0) > settings.api_max_upload_bytes * 4 // 3 + 65536:
        return _error(413, f"body too large: at most {settings.api_max_upload_bytes} bytes of content")
    try:
        filename, data, content_type = _submission(request)
        decision = services().intake.submit(filename, data, content_type)
    except InvalidInput as err:
        return _error(400, err.reason)
    doc = decision.document
    return {"id": doc.id, "status": doc.status, "duplicate": decision.outcome == "duplicate",
            "status_url": f"/documents/{doc.id}"}, 202


def _get(doc_id: str):
    if not re.fullmatch(DOCUMENT_ID_PATTERN, doc_id):
        return _error(400, "a document id is 32 lowercase hex characters")
    doc = services().store.get(doc_id)
    if doc is None:
        return _error(404, f"no document {doc_id}")
    return public_view(doc), 200


def _search(request):
    from contentflow.search import SearchRequest

    args = request.args
    unknown = set(args) - set(SearchRequest.model_fields)
    if unknown:
        return _error(400, f"unknown parameter: {sorted(unknown)[0][:40]}; use q, limit, label, language, document_id")
    try:
        query = SearchRequest.model_validate({k: args.get(k) for k in args})
    except ValidationError as err:
        return _error(400, _first_error(err, "query"))
    return services().search.search(query), 200


def _health():
    s = services()
    try:
        s.store.get("0" * 32)
        s.blobs.ping(s.settings.bucket("inbox"))
    except Exception as err:  # readiness: any dependency that does not answer
        return _error(503, f"not ready: {type(err).__name__}")
    return {"status": "ok"}, 200


services().warm("store", "dispatcher", "blobs")  # per instance, before the first request

@functions_framework.http
def api(request):
    response = _error(500, "internal error")
    with handling("api", method=request.method, path=request.path):
        try:
            response = _route(request)
        except PermanentError as err:
            response = _error(400, err.reason)
        except TransientError as err:
            # The client retries, not a trigger: JSON like every other answer, and the dependency's
            # own error text stays in the log (it names hosts and resource paths).
            log.warning("dependency unavailable", reason=err.reason)
            response = (*_error(503, "a dependency is unavailable; retry shortly"), {"Retry-After": "5"})
        except Exception:
            log.exception("unexpected error")
            response = _error(500, "internal error")
    return response


def _route(request):
    if request.path == "/healthz" and request.method == "GET":
        return _health()
    if not _authorised(request):
        return _error(401, "missing or wrong X-API-Key")
    if request.path.rstrip("/") == "/documents":
        return _post(request) if request.method == "POST" else _error(405, "POST a document here")
    if m := _DOC_PATH.match(request.path):
        return _get(m.group(1)) if request.method == "GET" else _error(405, "GET only")
    if request.path.rstrip("/") == "/search":
        return _search(request) if request.method == "GET" else _error(405, "GET only")
    return _error(404, "no such route: see POST /documents, GET /documents/{id} and GET /search?q=")
