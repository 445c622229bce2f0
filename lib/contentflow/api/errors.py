"""One error shape for every answer that is not a success:
`{"error": {"code": <stable string>, "message": <text for people>, "details": <optional>}}`.

Codes are part of the API (clients branch on them); messages may change. A dependency's own error
text (hosts, resource paths) is logged, never put in a message."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


# Every code the api answers with: (code, HTTP status, when). /docs lists them from here.
ERROR_CODES = (
    ("invalid_request", 400, "a parameter or the body does not validate; `details` lists what and where"),
    ("bad_cursor", 400, "the `cursor` is not one this api gave out"),
    ("url_refused", 400, "a submitted URL is not http(s) or points at a private or internal address"),
    ("unauthorized", 401, "an API key is configured and `X-API-Key` is missing or wrong"),
    ("not_found", 404, "no such document, report or route"),
    ("method_not_allowed", 405, "the path exists, the method does not"),
    ("conflict", 409, "the document is not in a state that allows this (e.g. retrying one that did not fail)"),
    ("payload_too_large", 413, "inline content over the limit: use POST /uploads"),
    ("unsupported_media_type", 415, "send application/json or multipart/form-data"),
    ("idempotency_key_reused", 422, "the `Idempotency-Key` came before with another request"),
    ("internal", 500, "a bug: the details are in the api's log, not in the answer"),
    ("not_ready", 503, "a dependency does not answer (GET /readyz); `details` has each check"),
    ("unavailable", 503, "a dependency is unavailable: retry after the `Retry-After` seconds"),
)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    """Raised by a route: answered as the error shape with `status`."""

    def __init__(self, status: int, code: str, message: str, details: Any | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def error_body(code: str, message: str, details: Any | None = None) -> dict:
    body: dict = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}
