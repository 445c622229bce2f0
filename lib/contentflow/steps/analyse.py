"""The analyse step: one analysis per document (summary, labels from the taxonomy, keywords,
entities, sentiment, sensitivity) from the inference backend; identical content reuses an earlier
analysis of the same backend, model, prompt version and taxonomy instead of calling the model."""

from __future__ import annotations

from contentflow.documents import Document
from contentflow.inference.port import Analysis, AnalysisResult
from contentflow.logs import get_logger
from contentflow.metering import count
from contentflow.results_cache import cache_key
from contentflow.steps._outputs import read_chunks, read_text

log = get_logger("contentflow.steps.analyse")
# What an AnalysisResult holds beside the analysis and its usage: all written to the record's map.
_RESULT_FIELDS = ("backend", "model", "prompt_version", "map_reduce", "map_reduce_parts", "input_truncated")


class AnalyseStep:
    def __init__(self, blobs, backend, lookup, taxonomy, max_chunks: int):
        self.blobs = blobs
        self.backend = backend
        self.lookup = lookup
        self.taxonomy = taxonomy
        self.max_chunks = max_chunks

    def key(self, content_sha256: str) -> str:
        b = self.backend
        return cache_key("analysis", content_sha256, b.name, b.analysis_model, b.prompt_version, self.taxonomy.fingerprint)

    def __call__(self, doc: Document) -> dict:
        key = self.key(doc.content_sha256) if doc.content_sha256 else None
        found = self.lookup.analysis(key) if key else None
        result = None
        if found:
            try:
                result = _from_record(found[1])
            except ValueError:  # a record written by another version: analyse again
                log.warning("earlier analysis does not validate; analysing again", analysed_for=found[0])
        reused = result is not None
        if reused:
            count("model.cache_hits")
            log.info("analysis reused for identical content", analysed_for=found[0])
        else:
            text = read_text(self.blobs, doc)
            chunks, _ = read_chunks(self.blobs, doc, self.max_chunks)
            language = (doc.stats.get("extraction") or {}).get("language")
            result = self.backend.analyse(text, [c.text for c in chunks], self.taxonomy, language)
        record = {
            **result.analysis.model_dump(mode="json"),
            "backend": result.backend, "model": result.model, "prompt_version": result.prompt_version,
            "map_reduce": result.map_reduce, "map_reduce_parts": result.map_reduce_parts,
            "input_truncated": result.input_truncated,
            "reused": reused,
            # What this document cost: nothing when reused.
            "usage": (type(result.usage)() if reused else result.usage).model_dump(mode="json"),
            # Identical content finds this record by it (contentflow.results_cache), reused or not.
            "cache_key": key,
        }
        return {"analysis": record, "labels": [label.name for label in result.analysis.labels]}


def _from_record(record: dict) -> AnalysisResult:
    """The AnalysisResult an `analysis` map was written from (its usage aside: a reuse costs nothing)."""
    return AnalysisResult.model_validate({
        "analysis": {k: v for k, v in record.items() if k in Analysis.model_fields},
        **{k: record[k] for k in _RESULT_FIELDS if k in record},
    })


def build(ports) -> AnalyseStep:
    return AnalyseStep(ports.blobs, ports.inference, ports.results_lookup, ports.taxonomy,
                       ports.settings.inference.max_chunks_per_document)
