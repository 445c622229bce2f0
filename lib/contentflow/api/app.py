"""The api's FastAPI application: routers, the one error shape, the API key, per-request logs.

`create_app()` is called once per instance by functions/api.py. Endpoints that touch Firestore,
Storage or a model are plain `def` (FastAPI runs them in its thread pool); the few `async def`
ones only read the request and hand blocking work to `run_in_threadpool`."""

from __future__ import annotations

import hmac
import importlib

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from contentflow.api.errors import ApiError, error_body
from contentflow.errors import NotFound, PermanentError, TransientError
from contentflow.logs import bind, get_logger
from contentflow.metering import metered

log = get_logger("contentflow.api")

# Routes any caller may reach without the API key: liveness, readiness, the API's description.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs"})
# The routers, each a module of its own.
_ROUTERS = ("routes_documents", "routes_service", "routes_reports", "status_page", "docs_page")

_STATUS_CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
                 422: "invalid_request", 429: "rate_limited"}


def _error(status: int, code: str, message: str, details=None, headers=None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def create_app(api_key: str | None = None) -> FastAPI:
    """`api_key`: required in `X-API-Key` on every route but OPEN_PATHS (None: IAM alone guards
    the api, as on the local stack)."""

    app = FastAPI(title="contentflow", version="1", openapi_url="/openapi.json", docs_url=None, redoc_url=None,
                  description="Submit documents, follow them through the pipeline, search what they say. "
                              "Every error is `{\"error\": {\"code\", \"message\", \"details\"?}}`.")
    for name in _ROUTERS:
        app.include_router(importlib.import_module(f"contentflow.api.{name}").router)

    app.openapi = lambda: _openapi(app)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, err: ApiError):
        return _error(err.status, err.code, err.message, err.details, err.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError):
        details = [{"loc": [str(p)[:64] for p in e.get("loc", ())][:6], "msg": str(e.get("msg", ""))[:200]}
                   for e in err.errors()[:5]]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        return _error(400, "invalid_request", f"{'.'.join(first['loc']) or 'request'}: {first['msg']}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException):
        code = _STATUS_CODES.get(err.status_code, "internal" if err.status_code >= 500 else "invalid_request")
        message = "no such route: see /docs" if err.status_code == 404 else str(err.detail)[:200]
        return _error(err.status_code, code, message, headers=getattr(err, "headers", None))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, err: NotFound):
        return _error(404, "not_found", err.reason)

    @app.exception_handler(PermanentError)
    async def _permanent(request: Request, err: PermanentError):
        return _error(400, "invalid_request", err.reason)

    @app.exception_handler(TransientError)
    async def _transient(request: Request, err: TransientError):
        # The client retries. The dependency's own text (hosts, resource paths) stays in the log.
        log.warning("dependency unavailable", reason=err.reason, detail=err.detail)
        return _error(503, "unavailable", "a dependency is unavailable; retry shortly", headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _bug(request: Request, err: Exception):
        log.exception("unexpected error")
        return _error(500, "internal", "internal error")

    @app.middleware("http")
    async def _guard_and_log(request: Request, call_next):
        with bind(function="api", method=request.method, path=request.url.path[:200]), metered() as costs:
            if api_key is not None and request.url.path not in OPEN_PATHS:
                given = request.headers.get("x-api-key", "")
                if not hmac.compare_digest(given.encode(), api_key.encode()):
                    response = _error(401, "unauthorized", "missing or wrong X-API-Key")
                    log.info("request refused", status=401)
                    return response
            response = await call_next(request)
            log.info("request finished", status=response.status_code, costs=dict(costs))
            return response

    return app


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document, made to say what the api does: the submission bodies that POST
    /documents validates by hand (JSON or multipart) added from their models, and FastAPI's
    default 422 validation answers replaced by the 400 `invalid_request` this api gives."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi
    from pydantic.json_schema import models_json_schema

    from contentflow.api import models

    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    submissions = (models.TextSubmission, models.Base64Submission, models.UrlSubmission, models.MultipartSubmission)
    _, extra = models_json_schema([(m, "validation") for m in submissions], ref_template="#/components/schemas/{model}")
    schemas.update(extra.get("$defs", {}))
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.get("responses", {})
            validation = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if validation.get("$ref", "").endswith("/HTTPValidationError"):
                del responses["422"]
                if operation.get("parameters") or operation.get("requestBody"):
                    responses.setdefault("400", {"description": "Bad Request",
                                                 "content": {"application/json": {"schema": error_ref}}})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.setdefault("ErrorResponse", models.ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}"))
    app.openapi_schema = doc
    return doc
