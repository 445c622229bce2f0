"""The payloads that travel between steps and out of the pipeline."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from contentflow.documents import DOCUMENT_ID_PATTERN, Document
from contentflow.errors import InvalidInput


class StepMessage(BaseModel):
    """Asks a step to work on a document. Carried by Pub/Sub or a Cloud Tasks body."""

    document_id: str = Field(pattern=DOCUMENT_ID_PATTERN)
    step: str = Field(pattern=r"^[a-z_]{1,40}$")
    trace_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")

    @classmethod
    def parse(cls, raw: bytes) -> StepMessage:
        try:
            return cls.model_validate_json(raw)
        except ValidationError as err:
            raise InvalidInput(f"malformed step message: {err.errors()[0]['msg']}") from None


class StorageObject(BaseModel):
    """The object JSON of a GCS notification / Eventarc storage event (the fields we use)."""

    bucket: str
    name: str
    generation: str | None = None
    md5Hash: str | None = None
    size: int | None = None
    contentType: str | None = None
    timeCreated: datetime | None = None
    metadata: dict[str, str] | None = None  # the object's custom metadata

    @property
    def via(self) -> str:
        """How the object came in: the api marks what it writes (VIA_METADATA_KEY), so its
        documents say `api` whichever of the api and the upload event registers them first."""
        via = (self.metadata or {}).get(VIA_METADATA_KEY)
        return via if via in ("api", "url") else "storage"


VIA_METADATA_KEY = "contentflow-via"


def document_event(doc: Document, event_type: str) -> tuple[bytes, dict[str, str]]:
    """A `document.processed` / `document.failed` output event, CloudEvents-shaped JSON.

    The id is stable per document and type, so a consumer can drop the rare duplicate that
    at-least-once delivery produces."""
    body: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"{doc.id}.{event_type}",
        "type": f"contentflow.{event_type}",
        "source": "contentflow",
        "subject": doc.id,
        "time": doc.updated_at.isoformat(),
        "data": {
            "document_id": doc.id,
            "status": doc.status,
            "source": {"bucket": doc.source.bucket, "name": doc.source.name, "via": doc.source.via},
            "outputs": doc.outputs,
            "stats": doc.stats,
            "error": doc.error.model_dump(mode="json") if doc.error else None,
        },
    }
    attributes = {"event_type": event_type, "document_id": doc.id}
    return json.dumps(body).encode(), attributes
