"""The inference port and its backends; `make_backend` picks one from the settings.

Importing this package is cheap: a backend's libraries (wordllama, google-genai) load only when
the backend first needs them, and only in the functions that analyse, embed or search. The port's
result models (`contentflow.inference.port`) load with the first of those too, not with the
settings (which import `contentflow.inference.options`, and so this package, in every function).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contentflow.inference.port import EmbeddingSpace, InferenceBackend, Taxonomy

DEFAULT_TAXONOMY = Path(__file__).resolve().parents[1] / "taxonomy.yaml"
_PORT_NAMES = frozenset({"EmbeddingSpace", "InferenceBackend", "Taxonomy"})


def __getattr__(name: str):
    """The port's names, re-exported here, imported on first access."""
    if name in _PORT_NAMES:
        from contentflow.inference import port

        return getattr(port, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_backend(settings) -> InferenceBackend:
    options = settings.inference
    dimension = settings.spec.embeddings.dimensions[options.backend]
    if options.backend == "vertex":
        from contentflow.inference.vertex import VertexBackend

        return VertexBackend(options, settings.project_id, dimension)
    from contentflow.inference.local import LocalBackend

    return LocalBackend(options, dimension)


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    import yaml

    from contentflow.inference.port import Taxonomy
    from contentflow.spec import SAFE_LOADER

    path = Path(path) if path else DEFAULT_TAXONOMY
    data = yaml.load(path.read_text(), Loader=SAFE_LOADER)
    return Taxonomy.model_validate(data)


__all__ = ["EmbeddingSpace", "InferenceBackend", "Taxonomy", "load_taxonomy", "make_backend"]
