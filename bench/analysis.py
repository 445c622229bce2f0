"""Analysis benchmark, all figures from one run:

1. local backend, in process: chunks/s embedded and documents/s analysed over the sample documents
   and the retrieval set (their real text and chunks, as extract makes them);
2. vertex backend against the local Vertex AI server (local/vertexfake) through the real SDK: model
   calls, tokens and billable characters per document (what Vertex would bill), and a price estimate;
3. the whole pipeline on the local stack (local backend): peak memory of every function next to its
   spec memory_mb, and documents/s end to end.

Run: scripts/bench analysis [--skip-stack]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
FOLDERS = [REPO / "samples" / "documents", REPO / "samples" / "retrieval"]
# USD per million tokens (input, output) and per 1,000 embedding characters; see README "Analysis".
PRICES = {"gemini-3.5-flash-lite": (0.30, 2.50), "text-embedding-005": 0.000025}


def corpus() -> list[tuple[str, str, list[str], str | None]]:
    """(file, text, chunk texts, language) of every sample, extracted as the pipeline does."""
    from contentflow.extraction import extract_document
    from contentflow.extraction.limits import ExtractionLimits

    docs = []
    for folder in FOLDERS:
        for path in sorted(p for p in folder.iterdir() if p.is_file() and p.name != "README.md"):
            try:
                r = extract_document(path.read_bytes(), filename=path.name, declared_content_type=None, limits=ExtractionLimits())
            except Exception as err:  # an unreadable sample is not this benchmark's business
                print(f"skipped {path.name}: {err}", file=sys.stderr)
                continue
            docs.append((path.name, r.text, [c.text for c in r.chunks], r.language))
    return docs


def bench_local(docs) -> dict:
    from contentflow.inference import load_taxonomy
    from contentflow.inference.local import LocalBackend
    from contentflow.inference.options import InferenceOptions

    taxonomy = load_taxonomy()
    backend = LocalBackend(InferenceOptions(), 256)
    t0 = time.perf_counter()
    backend.embed_query("warm up")  # loads the embedder
    load_s = time.perf_counter() - t0
    chunks = [c for _, _, cs, _ in docs for c in cs]
    t0 = time.perf_counter()
    for _ in range(3):
        backend.embed_documents(chunks)
    embed_s = (time.perf_counter() - t0) / 3
    backend.analyse(docs[0][1], docs[0][2], taxonomy, docs[0][3])  # first call loads the rest
    times = []
    for _, text, cs, lang in docs:
        t0 = time.perf_counter()
        backend.analyse(text, cs, taxonomy, lang)
        times.append(time.perf_counter() - t0)
    return {"documents": len(docs), "chunks": len(chunks), "load_s": round(load_s, 2),
            "chunks_per_s_embedded": round(len(chunks) / embed_s, 1),
            "documents_per_s_analysed": round(len(docs) / sum(times), 1),
            "analyse_ms_median": round(statistics.median(times) * 1000, 1),
            "analyse_ms_max": round(max(times) * 1000, 1)}


def bench_vertex(docs) -> dict:
    from contentflow.inference import load_taxonomy
    from contentflow.inference.options import InferenceOptions
    from contentflow.inference.vertex import VertexBackend
    from local.vertexfake import FakeVertex

    taxonomy = load_taxonomy()
    with FakeVertex(port=0) as fake:
        os.environ["VERTEX_AI_EMULATOR_HOST"] = fake.host
        options = InferenceOptions(backend="vertex")
        backend = VertexBackend(options, "bench-project", 768)
        totals = {"model_calls": 0, "input_tokens": 0, "output_tokens": 0, "embedding_calls": 0,
                  "embedding_tokens_est": 0, "billable_characters": 0}
        for _, text, cs, lang in docs:
            a = backend.analyse(text, cs, taxonomy, lang)
            e = backend.embed_documents(cs)
            totals["model_calls"] += a.usage.model_calls + e.usage.model_calls
            totals["input_tokens"] += a.usage.input_tokens
            totals["output_tokens"] += a.usage.output_tokens
            totals["embedding_calls"] += e.usage.model_calls
            totals["embedding_tokens_est"] += e.usage.input_tokens
            totals["billable_characters"] += e.usage.billable_characters
        stats = fake.stats()
        os.environ.pop("VERTEX_AI_EMULATOR_HOST", None)
    n = len(docs)
    per_doc = {k: round(v / n, 1) for k, v in totals.items()}
    gen_in, gen_out = PRICES[options.generation_model] if options.generation_model in PRICES else (None, None)
    cost = None
    if gen_in is not None:
        cost = (per_doc["input_tokens"] * gen_in + per_doc["output_tokens"] * gen_out) / 1e6 \
            + per_doc["billable_characters"] / 1000 * PRICES.get(options.embedding_model, 0)
    return {"documents": n, "generation_model": options.generation_model, "embedding_model": options.embedding_model,
            "per_document": per_doc, "usd_per_document_estimate": round(cost, 5) if cost is not None else None,
            "usd_per_million_documents_estimate": round(cost * 1e6) if cost is not None else None,
            "refused_by_the_fake": len(stats["refusals"]),
            "max_instances_per_embedding_request": max((v["max_instances_per_request"] for k, v in stats["per_method"].items()
                                                        if k.endswith(":predict")), default=0)}


def bench_stack() -> dict:
    import requests
    from local.stack import LocalStack
    from retrieval import ingest
    from sizing import peak_rss_mib

    with tempfile.TemporaryDirectory(prefix="cf-analysis-") as tmp:
        with LocalStack(Path(tmp) / "stack", with_scheduler=False) as stack:
            t0 = time.perf_counter()
            records = ingest(stack, FOLDERS)
            elapsed = time.perf_counter() - t0
            for q in ("night trains", "battery warranty", "how to fix a flat tyre"):  # the api's embedder too
                requests.get(stack.function_url("api") + "search", params={"q": q}, timeout=60).raise_for_status()
            memory = {name: {"peak_mib": round(peak_rss_mib(stack.processes[f"fn:{name}"].pid), 1),
                             "spec_memory_mb": fn.runtime.memory_mb} for name, fn in stack.spec.functions.items()}
    return {"documents": len(records), "done": sum(r["status"] == "done" for r in records.values()),
            "seconds": round(elapsed, 1), "documents_per_s": round(len(records) / elapsed, 2), "peak_memory": memory,
            "every_function_inside_its_memory": all(m["peak_mib"] <= m["spec_memory_mb"] for m in memory.values())}


def main() -> dict:
    from report import report

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-stack", action="store_true", help="in-process figures only")
    args = parser.parse_args()
    docs = corpus()
    result = {"local": bench_local(docs), "vertex_against_the_fake": bench_vertex(docs)}
    if not args.skip_stack:
        result["stack"] = bench_stack()
    return report("analysis", result)


if __name__ == "__main__":
    main()
