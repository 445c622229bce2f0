"""Opaque page cursors for GET /documents: the last document's (created_at, id) and a hash of the
filters, base64url JSON. A cursor that does not decode, or belongs to other filters, is a 400."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime

from contentflow.api.errors import ApiError


def _filters_hash(filters: dict) -> str:
    return hashlib.sha256(json.dumps(filters, sort_keys=True, default=str).encode()).hexdigest()[:16]


def encode(created_at: datetime, doc_id: str, filters: dict) -> str:
    raw = json.dumps({"c": created_at.isoformat(), "i": doc_id, "f": _filters_hash(filters)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, filters: dict) -> tuple[datetime, str]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        created_at, doc_id, digest = datetime.fromisoformat(raw["c"]), raw["i"], raw["f"]
        valid = (isinstance(doc_id, str) and len(doc_id) == 32 and all(ch in "0123456789abcdef" for ch in doc_id)
                 and created_at.tzinfo is not None)
    except (ValueError, TypeError, KeyError, AttributeError):
        valid = False
    if not valid:
        raise ApiError(400, "bad_cursor", "cursor: not a cursor this api gave out")
    if digest != _filters_hash(filters):
        raise ApiError(400, "bad_cursor", "cursor: it belongs to a listing with other filters")
    return created_at, doc_id
