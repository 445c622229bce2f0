"""Documents: submit (inline, base64, multipart, URL), signed uploads, list, read, delete, retry."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter, ValidationError

from contentflow.api import cursors
from contentflow.api.errors import ApiError, ErrorResponse
from contentflow.api.models import (
    MIME_TYPE, Accepted, Base64Submission, DocumentPage, DocumentSummary, DocumentView, ListFilters,
    MultipartSubmission, RetryAccepted, TextSubmission, UploadGrant, UploadRequest, UrlSubmission,
)
from contentflow.api.deps import get_services
from contentflow.documents import Document
from contentflow.errors import InvalidInput
from contentflow.idempotency import KeyInUse, KeyReused, fingerprint
from contentflow.services import Services

router = APIRouter(tags=["documents"])
Submission = TextSubmission | Base64Submission | UrlSubmission
_submission = TypeAdapter(Submission)
DocId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="32 lowercase hex characters")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255, pattern=r"^[\x21-\x7e]+$",
                                              description="a retried POST with the same key gets the first answer")]

_ERRORS = {400: {"model": ErrorResponse}, 401: {"model": ErrorResponse}, 503: {"model": ErrorResponse}}


def _json_schema(model) -> dict:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


_SUBMIT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"anyOf": [_json_schema(m) for m in (TextSubmission, Base64Submission, UrlSubmission)]}},
            "multipart/form-data": {"schema": _json_schema(MultipartSubmission)},
        },
    }
}


async def _read_submission(request: Request) -> tuple[str, bytes | None, str | None, str | None]:
    """(filename, bytes, content type, url) from a JSON or multipart body."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=5)
        except Exception:  # a malformed multipart body
            raise ApiError(400, "invalid_request", "malformed multipart body") from None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(400, "invalid_request", "multipart body without a 'file' field")
        data = await upload.read()
        content_type = upload.content_type or None
        if content_type is not None and (len(content_type) > 100 or not MIME_TYPE.fullmatch(content_type)):
            raise ApiError(400, "invalid_request", "file content type: not a MIME type such as text/plain")
        return (upload.filename or "document")[:255], data, content_type, None
    if media != "application/json":
        raise ApiError(415, "unsupported_media_type", "send application/json or multipart/form-data")
    body = await request.body()
    try:
        sub = _submission.validate_json(body)
    except ValidationError as err:
        raise ApiError(400, "invalid_request", "body: give exactly one of text, content_base64 or url (with optional "
                       "filename and content_type)", details=_bounded_errors(err)) from None
    if isinstance(sub, TextSubmission):
        return sub.filename, sub.text.encode("utf-8"), sub.content_type or "text/plain; charset=utf-8", None
    if isinstance(sub, Base64Submission):
        try:
            data = base64.b64decode(sub.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "invalid_request", "content_base64 is not valid base64") from None
        return sub.filename, data, sub.content_type or "application/octet-stream", None
    return sub.filename or "", None, None, sub.url


def _bounded_errors(err: ValidationError) -> list[dict]:
    return [{"loc": [str(p)[:64] for p in e["loc"]][:6], "msg": e["msg"][:200]} for e in err.errors()[:5]]


@router.post("/documents", status_code=202, response_model=Accepted, openapi_extra=_SUBMIT_BODY,
             responses={**_ERRORS, 409: {"model": ErrorResponse}, 413: {"model": ErrorResponse},
                        415: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
             summary="Submit a document: inline text, base64, a multipart file, or a URL to fetch")
async def submit_document(request: Request, response: Response, idempotency_key: IdempotencyKey = None,
                          s: Services = Depends(get_services)):
    filename, data, content_type, url = await _read_submission(request)
    key_print = None
    if idempotency_key:
        key_print = fingerprint(request.url.path, data or b"", content_type or "", url or "", filename)
        try:
            first = await run_in_threadpool(s.idempotency.begin, idempotency_key, key_print)
        except KeyReused as err:
            raise ApiError(422, "idempotency_key_reused", err.reason) from None
        except KeyInUse as err:
            raise ApiError(409, "conflict", err.reason, headers={"Retry-After": "2"}) from None
        if first is not None:
            response.status_code = first.status
            response.headers["Idempotent-Replayed"] = "true"
            return first.body
    try:
        if url is not None:
            from contentflow.urlfetch import FetchFailed, UrlNotFetchable, UrlRefused, check_url

            def check(u):
                try:
                    check_url(u, s.url_policy)
                except (UrlRefused, UrlNotFetchable) as err:
                    raise ApiError(400, "url_refused", err.reason) from None
                except FetchFailed:  # name resolution hiccup: accepted; the fetch checks again, with retries
                    pass

            decision = await run_in_threadpool(s.intake.submit_url, url, filename or None, check)
        else:
            decision = await run_in_threadpool(s.intake.submit, filename, data, content_type)
        doc = decision.document
        body = Accepted(id=doc.id, status=doc.status, duplicate=decision.outcome == "duplicate",
                        status_url=f"/documents/{doc.id}").model_dump(mode="json")
    except BaseException:
        if idempotency_key:
            await run_in_threadpool(s.idempotency.abandon, idempotency_key)
        raise
    if idempotency_key:
        await run_in_threadpool(s.idempotency.finish, idempotency_key, 202, body)
    return body


@router.post("/uploads", status_code=201, response_model=UploadGrant, responses=_ERRORS,
             summary="Get a signed URL to upload a large file straight to the inbox bucket")
def create_upload(req: UploadRequest, s: Services = Depends(get_services)):
    grant = s.uploads.grant(req.filename, req.size, req.content_type)
    from urllib.parse import quote

    return UploadGrant(**grant, documents_url=f"/documents?object={quote(grant['object'], safe='')}")


def _summary(doc: Document) -> DocumentSummary:
    return DocumentSummary(id=doc.id, status=doc.status, filename=doc.metadata.get("filename"), created_at=doc.created_at,
                           updated_at=doc.updated_at, labels=doc.labels,
                           language=(doc.stats.get("extraction") or {}).get("language"),
                           size=doc.source.size, error=doc.error.model_dump() if doc.error else None)


@router.get("/documents", response_model=DocumentPage, responses=_ERRORS, summary="List documents, newest first")
def list_documents(filters: Annotated[ListFilters, Query()], s: Services = Depends(get_services)):
    if filters.object and (filters.status or filters.label or filters.language):
        raise ApiError(400, "invalid_request", "object cannot be combined with status, label or language")
    if filters.created_after and filters.created_before and filters.created_after >= filters.created_before:
        raise ApiError(400, "invalid_request", "created_after must be before created_before")
    key = filters.model_dump(mode="json", exclude={"cursor", "limit"})
    after = cursors.decode(filters.cursor, key) if filters.cursor else None
    docs = s.store.list_documents(status=filters.status, label=filters.label, language=filters.language,
                                  created_after=filters.created_after, created_before=filters.created_before,
                                  source_name=filters.object, after=after, limit=filters.limit + 1)
    more = len(docs) > filters.limit
    docs = docs[: filters.limit]
    next_cursor = cursors.encode(docs[-1].created_at, docs[-1].id, key) if more and docs else None
    return DocumentPage(documents=[_summary(d) for d in docs], next_cursor=next_cursor)


def _existing(s: Services, doc_id: str) -> Document:
    doc = s.store.get(doc_id)
    if doc is None:
        raise ApiError(404, "not_found", f"no document {doc_id}")
    return doc


@router.get("/documents/{doc_id}", response_model=DocumentView, responses={**_ERRORS, 404: {"model": ErrorResponse}},
            summary="A document: status, per-step timings, analysis, outputs")
def get_document(doc_id: DocId, s: Services = Depends(get_services)):
    return public_view(_existing(s, doc_id))


def public_view(doc: Document) -> dict:
    return doc.model_dump(mode="json", exclude={"trace_id", "event_pending_since", "reembed_failed"})


@router.delete("/documents/{doc_id}", status_code=204, responses=_ERRORS,
               summary="Delete a document: record, chunks and stored objects (idempotent)")
def delete_document(doc_id: DocId, s: Services = Depends(get_services)):
    s.deletion.delete(doc_id)
    return Response(status_code=204)


@router.post("/documents/{doc_id}:retry", status_code=202, response_model=RetryAccepted,
             responses={**_ERRORS, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
             summary="Re-drive a failed document from the step that failed")
def retry_document(doc_id: DocId, s: Services = Depends(get_services)):
    decision = s.recovery.retry(doc_id)
    if decision.outcome == "stale":
        raise ApiError(404, "not_found", f"no document {doc_id}")
    if decision.outcome == "conflict":
        raise ApiError(409, "conflict", decision.detail)
    doc = decision.document
    return RetryAccepted(id=doc.id, status=doc.status, step=decision.hand_on)
