"""Inference settings, nested in Settings (CONTENTFLOW_INFERENCE__<FIELD>, e.g.
CONTENTFLOW_INFERENCE__BACKEND=vertex). Model ids are settings; embedding dimensions come from the
pipeline spec (`embeddings:`), because Terraform builds a vector index for each."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class InferenceOptions(BaseModel):
    backend: Literal["local", "vertex"] = "local"
    # The label taxonomy (YAML: `labels: [{name, description}]`); None: the one shipped with the code.
    taxonomy_path: str | None = None

    # --- local backend (offline, models inside PyPI packages) ---------------------------------
    local_embedding_model: str = "wordllama-l2_supercat"

    # --- local (added by the local backend) ---
    # Summary, keywords, sentiment and entities read at most the first this many characters (the
    # result then says input_truncated); labels read a sample of chunks spread over the whole
    # document. Bounds time and memory for texts of up to 10 million characters (bench/local_models.py).
    local_analysis_chars: int = Field(default=100_000, ge=1000)
    # The personal-data detectors scan this many characters: by default all that extraction keeps
    # (its max_text_chars), as personal data on the last page counts too.
    local_scan_chars: int = Field(default=10_000_000, ge=1000)
    # --- end local ---

    # --- vertex backend (google-genai, Vertex AI) -----------------------------------------------
    vertex_location: str = "global"
    generation_model: str = "gemini-3.5-flash-lite"
    embedding_model: str = "text-embedding-005"
    # Above this many input tokens a document is summarised map-reduce over its chunks.
    input_budget_tokens: int = Field(default=200_000, ge=1000)
    max_output_tokens: int = Field(default=2048, ge=256)
    # Every call has a deadline; 429 / 5xx get this many quick in-process retries with jittered
    # backoff, then the step fails transiently and the Cloud Tasks queue's retry config takes over.
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    retry_initial_s: float = Field(default=0.5, gt=0)
    retry_max_s: float = Field(default=8.0, gt=0)

    # --- both -----------------------------------------------------------------------------------
    # At most this many chunks of one document are embedded (the record says when more were left
    # out): bounds cost, time and the number of chunk documents.
    max_chunks_per_document: int = Field(default=2000, ge=1)
    max_chunk_chars_stored: int = Field(default=4000, ge=100)  # chunk text kept on the chunk document
