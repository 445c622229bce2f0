"""The index step (the pipeline's last): the document's chunks embedded and stored for search.
The pipeline then announces `document.processed` and marks the document done."""

from __future__ import annotations

from contentflow.indexing import Indexer


def build(ports):
    s = ports.settings
    return Indexer(ports.blobs, ports.inference, ports.chunks, ports.results_lookup, s.inference, s.extraction).index
