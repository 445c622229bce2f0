"""Limits that keep hostile input from hurting the extract function; all overridable by settings."""

from pydantic import BaseModel, Field


class ExtractionLimits(BaseModel):
    max_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    chunk_chars: int = Field(default=1500, ge=100)
    chunk_overlap_chars: int = Field(default=200, ge=0)
    preview_chars: int = Field(default=500, ge=0)
