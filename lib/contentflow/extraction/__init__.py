"""Turns a document's bytes into text, metadata and chunks.

The one entry point is `extract_document`; it raises UnreadableDocument with a reason a person
understands for anything it cannot or must not read.

The names are loaded on first use (PEP 562) so that the parser worker, which imports modules of
this package, starts without pydantic and the models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contentflow.extraction.chunking import Chunk
    from contentflow.extraction.core import Extraction, extract_document, warm_up
    from contentflow.extraction.limits import ExtractionLimits

__all__ = ["Chunk", "Extraction", "ExtractionLimits", "extract_document", "warm_up"]
_HOMES = {
    "Chunk": "contentflow.extraction.chunking",
    "Extraction": "contentflow.extraction.core",
    "extract_document": "contentflow.extraction.core",
    "warm_up": "contentflow.extraction.core",
    "ExtractionLimits": "contentflow.extraction.limits",
}


def __getattr__(name: str):
    if name in _HOMES:
        import importlib

        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
