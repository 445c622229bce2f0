"""Request and response models of the api. The same pydantic models validate requests, shape
responses and generate the OpenAPI document (FastAPI), so the document cannot drift from the code."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contentflow.api.errors import ErrorResponse  # noqa: F401 (part of the documented models)

# A MIME type as HTTP carries it (RFC 9110 tokens, optional parameters): it becomes the stored
# object's Content-Type header, so nothing else may pass (CR/LF, non-ASCII).
_TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
MIME_TYPE_PATTERN = rf'^{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|"[\x20-\x21\x23-\x7e]*"))*$'
MIME_TYPE = re.compile(MIME_TYPE_PATTERN)

DocumentId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$", description="32 lowercase hex characters")]
Filename = Annotated[str, Field(min_length=1, max_length=255)]
ContentType = Annotated[str, Field(max_length=100, pattern=MIME_TYPE_PATTERN,
                                   description="a MIME type such as text/plain or application/pdf")]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextSubmission(_Request):
    """Inline text."""

    text: str = Field(min_length=1, description="the document's text (UTF-8)")
    filename: Filename = "document.txt"
    content_type: ContentType | None = None


class Base64Submission(_Request):
    """A small file, base64-encoded."""

    content_base64: str = Field(min_length=1)
    filename: Filename = "document"
    content_type: ContentType | None = None


class UrlSubmission(_Request):
    """A document the pipeline fetches (http or https; private and internal addresses are refused)."""

    url: str = Field(min_length=8, max_length=2048, pattern=r"^[hH][tT][tT][pP][sS]?://")
    filename: Filename | None = None


class MultipartSubmission(BaseModel):
    """multipart/form-data with the file in a `file` field."""

    file: bytes = Field(json_schema_extra={"format": "binary"})


class Accepted(BaseModel):
    id: DocumentId
    status: str
    duplicate: bool = Field(description="the same content was submitted before: this is that document")
    status_url: str


class UploadRequest(_Request):
    filename: Filename
    size: int = Field(ge=1, description="the file's size in bytes")
    content_type: ContentType = "application/octet-stream"


class UploadGrant(BaseModel):
    upload_url: str = Field(description="PUT the bytes here, with exactly `headers`, before `expires_at`")
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str]
    object: str = Field(description="the object's name in the inbox bucket")
    expires_at: datetime
    documents_url: str = Field(description="lists the document once the upload event has registered it")


class FailureView(BaseModel):
    step: str
    reason: str
    at: datetime


class DocumentSummary(BaseModel):
    id: DocumentId
    status: str
    filename: str | None = None
    created_at: datetime
    updated_at: datetime
    labels: list[str] = Field(default_factory=list)
    language: str | None = None
    size: int | None = None
    error: FailureView | None = None


class DocumentPage(BaseModel):
    documents: list[DocumentSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class StepView(BaseModel):
    state: str
    attempts: int
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    error: str | None = None


class SourceView(BaseModel):
    bucket: str
    name: str
    size: int | None = None
    content_type: str | None = None
    uploaded_at: datetime | None = None
    via: str
    url: str | None = None


class DocumentView(BaseModel):
    id: DocumentId
    status: str
    source: SourceView
    created_at: datetime
    updated_at: datetime
    steps: dict[str, StepView]
    error: FailureView | None = None
    retries: int = 0
    content_sha256: str | None = None
    preview: str | None = None
    stats: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    analysis: dict[str, Any] | None = None
    labels: list[str] = Field(default_factory=list)
    index: dict[str, Any] | None = None
    embedding_space: str | None = None


class RetryAccepted(BaseModel):
    id: DocumentId
    status: str
    step: str = Field(description="the step the document is re-driven from")


class SearchHit(BaseModel):
    chunk: int | None = None
    text: str
    page: int | None = None
    start: int | None = None
    end: int | None = None
    source: str = Field(default="body", description="where the text came from: body, header, footer, "
                        "footnote, endnote, comment, annotation or form")
    score: float


class SearchResult(BaseModel):
    document_id: DocumentId
    title: str
    score: float
    labels: list[str]
    language: str | None = None
    hits: list[SearchHit]


class Coverage(BaseModel):
    space: str
    documents_done: int
    documents_indexed: int
    documents_not_reembeddable: int
    complete: bool


class SearchAnswer(BaseModel):
    query: str
    space: str
    results: list[SearchResult]
    coverage: Coverage


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str]


class ListFilters(BaseModel):
    """GET /documents query parameters."""

    model_config = ConfigDict(extra="forbid")

    status: str | None = Field(default=None, pattern=r"^[a-z]{3,20}$",
                               description="received, a step's status (e.g. extracting), fetching, done or failed")
    label: str | None = Field(default=None, max_length=64, pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$")
    created_after: datetime | None = None
    created_before: datetime | None = None
    object: str | None = Field(default=None, min_length=1, max_length=1024,
                               description="the inbox object's name (finds the document of a signed upload)")
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=512)

    @field_validator("created_after", "created_before")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-12-01T00:00:00Z")
        return value
