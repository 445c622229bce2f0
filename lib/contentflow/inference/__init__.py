"""The inference port and its backends; `make_backend` picks one from the settings.

Importing this package is cheap: a backend's libraries (wordllama, google-genai) load only when
the backend first needs them, and only in the functions that analyse, embed or search.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from contentflow.inference.port import EmbeddingSpace, InferenceBackend, Taxonomy

DEFAULT_TAXONOMY = Path(__file__).resolve().parents[1] / "taxonomy.yaml"


def make_backend(settings) -> InferenceBackend:
    options = settings.inference
    dimension = settings.spec.embeddings.dimensions[options.backend]
    if options.backend == "vertex":
        from contentflow.inference.vertex import VertexBackend

        return VertexBackend(options, settings.project_id, dimension)
    from contentflow.inference.local import LocalBackend

    return LocalBackend(options, dimension)


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    path = Path(path) if path else DEFAULT_TAXONOMY
    data = yaml.safe_load(path.read_text())
    return Taxonomy.model_validate(data)


__all__ = ["EmbeddingSpace", "InferenceBackend", "Taxonomy", "load_taxonomy", "make_backend"]
