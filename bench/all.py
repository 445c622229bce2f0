"""Every performance figure of issue 12 in one run, written as JSON and a Markdown table
(bench/results/all-<time>.json and .md; `--readme` also puts the table in README.md's Performance
section).

1. Throughput on the local stack with the local backend (bench/throughput.py): the same mixed
   documents in-process and event-driven, side by side; latency percentiles; peak memory;
   operations counted per document and file type.
2. Cold start and import time of every function (bench/cold_start.py), on the same stack.
3. The vertex backend (against local/vertexfake, which counts tokens and billable characters as
   Vertex does): one-page documents of each type, their operations per document.
4. The cost of a million documents of each type (bench/cost_model.py, list prices in
   bench/prices.yaml), next to one synchronous function per document.
5. Capacity on paper (bench/capacity.py) from the measured operations per document.
6. The targets of the issue, each as measured.

Run: scripts/bench all [--docs 500] [--vertex-docs 50] [--readme]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import capacity
import cold_start
import cost_model
import throughput
from mixed_corpus import KINDS, generated
from report import RESULTS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BEGIN, END = "<!-- bench:all:begin -->", "<!-- bench:all:end -->"
# The functions that load a model: the local backend's embedder (analyse, index, reembed), and
# extract's language identification (py3langid's model, 91 MiB once loaded, in the function process).
MODEL_LOADERS = {"analyse": "embedder", "index": "embedder", "reembed": "embedder", "extract": "language model"}


def vertex_run(docs: int) -> dict:
    """One-page documents of each type through the stack on the vertex backend: operations per
    document by type (tokens and characters as the fake Vertex counts them)."""
    from google.cloud import firestore, storage
    from local.stack import LocalStack

    items = [generated(100_000 + i, KINDS[i % len(KINDS)]) for i in range(docs)]
    with tempfile.TemporaryDirectory(prefix="cf-bench-vertex-") as tmp:
        with LocalStack(Path(tmp) / "stack", with_scheduler=False, inference="vertex") as stack:
            os.environ.update(stack.client_env())
            bucket = storage.Client(project=stack.project_id).bucket(stack.bucket("inbox"))
            db = firestore.Client(project=stack.project_id)
            ends = throughput.EndEvents(stack)
            try:
                t0 = time.time()
                ids = throughput.upload_all(bucket, items, "v/")
                records = ends.wait(db, ids, 600)
            finally:
                ends.close()
            seconds = throughput.end_of(records) - t0
            time.sleep(1.0)
            per_doc = throughput.request_costs(stack.data_dir / "logs", set(ids), stack.spec)
    kinds = {doc: item.kind for doc, item in zip(ids, items)}
    uploads = {doc: len(item.data) for doc, item in zip(ids, items)}
    chunks = sum((r.get("index") or {}).get("chunks", 0) for r in records.values())
    return {"documents": docs, "done": sum(r["status"] == "done" for r in records.values()),
            "seconds": round(seconds, 1), "chunks_per_document": round(chunks / docs, 3),
            "operations_per_document_by_kind": throughput.by_kind(per_doc, kinds, uploads)}


def costs(vertex: dict, local: dict, spec_dict: dict) -> dict:
    prices = cost_model.load_prices()
    sizing = cost_model.sizing_from_spec(spec_dict)
    rows, out = {}, {}
    for kind, counts in vertex["operations_per_document_by_kind"].items():
        counts = {**counts, "eventarc.events": counts.get("eventarc.deliveries", 0)}
        rows[kind] = cost_model.cost_per_document(counts, prices, sizing)
        out[kind] = cost_model.million(rows[kind])
    every = vertex["operations_per_document_by_kind"]["all"]
    seconds = sum(v for k, v in every.items() if k.startswith("seconds."))
    # One function doing every step needs extract's sizing (1 vCPU, 2 GiB) for the whole time.
    sync = cost_model.synchronous_alternative({**every, "chunk_writes": vertex["chunks_per_document"]},
                                              prices, 1.0, 2048, seconds)
    local_rows = {}
    for kind, counts in local["operations_per_document_by_kind"].items():
        counts = {**counts, "eventarc.events": counts.get("eventarc.deliveries", 0)}
        local_rows[kind] = cost_model.cost_per_document(counts, prices, sizing)
    return {
        "vertex_per_million": out,
        "synchronous_function_per_million": cost_model.million(sync),
        "local_backend_infrastructure_per_million": {k: cost_model.million(v) for k, v in local_rows.items()},
        "markdown_vertex": cost_model.markdown_table(rows),
        "markdown_local": cost_model.markdown_table(local_rows),
        "markdown_sync": cost_model.markdown_table({"one synchronous function (all)": sync, "event-driven (all)": rows["all"]}),
        "as_of": prices.get("as_of"), "region": prices.get("region"),
    }


def targets(result: dict) -> list[dict]:
    t, cold = result["throughput"], result["cold_start"]
    e = t["event_driven"]
    ops = t["operations_per_document_by_kind"]["all"]
    chunks_per_doc = e["chunks"] / e["documents"]
    vertex_all = result["costs"]["vertex_per_million"]["all"]
    rows = [
        ("event-driven / in-process time", "<= 1.2", t["event_driven_over_in_process"], t["event_driven_over_in_process"] <= 1.2),
        ("documents a minute, local stack, local backend", ">= 1000", e["documents_per_minute"], e["documents_per_minute"] >= 1000),
        ("upload-to-done p50, small document, idle (s)", "< 1", t["idle_upload_to_done_s"]["p50"], t["idle_upload_to_done_s"]["p50"] < 1),
        ("upload-to-done p50 under the run's load (s)", "(reported)", e["latency_s"]["upload_to_done"]["p50"], None),
    ]
    for name, f in cold["functions"].items():
        rows.append((f"import of {name} (s){' (loads a model)' if f['loads_model'] else ''}", "< 0.5",
                     f["import_s"], f["import_target_met"]))
    for name, m in t["peak_memory"].items():  # one instance: main process and one worker
        if name in MODEL_LOADERS:
            rows.append((f"peak RSS of {name} (MiB) (loads a model: {MODEL_LOADERS[name]})", "(reported)", m["peak_rss_mib"], None))
        else:
            rows.append((f"peak RSS of {name} (MiB)", "< 256", m["peak_rss_mib"], m["peak_rss_mib"] < 256))
    writes_cap = 5 + chunks_per_doc
    rows.append(("Firestore writes per document", f"<= 5 + chunks ({writes_cap:.2f})", ops.get("firestore.writes"),
                 ops.get("firestore.writes", 99) <= writes_cap))
    share = 1 - vertex_all["model_share"]
    rows.append(("vertex: all but model calls, share of cost", "< 10%", f"{share:.1%}", share < 0.10))
    rows.append(("vertex: cost of a million one-page documents (USD)", "(reported)", round(vertex_all["total"], 2), None))
    return [{"target": n, "goal": g, "measured": m, "met": ok} for n, g, m, ok in rows]


def markdown(result: dict) -> str:
    t = result["throughput"]
    lines = [f"Measured {result['finished_at']} on {result['cpus']} CPUs (load average before: "
             f"{result['load_average_before']}), `scripts/bench all --docs {t['documents']}`, {result['seconds']} s; "
             f"the throughput run's model queues dispatch up to {t['queue_rate']} tasks a second (the spec's 5 a second, "
             "Vertex's quota guard, would cap any machine at 300 documents a minute).", "",
             "| target | goal | measured | met |", "|---|---|---:|---|"]
    for row in result["targets"]:
        met = "" if row["met"] is None else ("yes" if row["met"] else "**no**")
        lines.append(f"| {row['target']} | {row['goal']} | {row['measured']} | {met} |")
    lines += ["", "#### Throughput and latency (local backend)", "", throughput.markdown(t), "",
              "#### Cost of a million documents (vertex backend, counted)", "", result["costs"]["markdown_vertex"],
              "Against one synchronous function per document (1 vCPU, 2 GiB, the same model work):", "",
              result["costs"]["markdown_sync"],
              "#### Cold start", "", result["cold_start"]["markdown"], "",
              "#### Capacity on paper (deployed, from documented limits)", "", result["capacity_markdown"]]
    return "\n".join(lines)


def update_readme(text: str) -> None:
    readme = README.read_text()
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README.md has no {BEGIN} ... {END} section")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=500, help="mixed documents for the throughput runs")
    parser.add_argument("--vertex-docs", type=int, default=50, help="one-page documents on the vertex backend")
    parser.add_argument("--queue-rate", type=float, default=100,
                        help="the model queues' dispatches a second in the throughput run (0: the spec's 5; see bench/throughput.py)")
    parser.add_argument("--readme", action="store_true", help="write the table into README.md's Performance section")
    args = parser.parse_args()
    from local.stack import LocalStack

    started = time.time()
    load_before = cold_start._load_average()
    with tempfile.TemporaryDirectory(prefix="cf-bench-all-") as tmp:
        spec = throughput.spec_with_queue_rate(Path(tmp), args.queue_rate)
        with LocalStack(Path(tmp) / "stack", with_scheduler=False, spec_path=spec) as stack:
            ready_s = stack.ready_after_s
            tp = throughput.run(stack, args.docs)
            cold = cold_start.measure(stack)
    tp["queue_rate"] = args.queue_rate or "the spec's"
    for name in stack.client_env():  # the first stack's addresses and spec copy are gone with it
        os.environ.pop(name, None)
    vertex = vertex_run(args.vertex_docs)
    spec_dict = capacity.load_spec()
    result = {"cpus": os.cpu_count(), "load_average_before": load_before, "stack_ready_s": ready_s,
              "throughput": tp, "cold_start": cold, "vertex": vertex}
    result["costs"] = costs(vertex, tp, spec_dict)
    per_doc = dict(vertex["operations_per_document_by_kind"]["all"])
    per_doc["eventarc.events"] = per_doc.get("eventarc.deliveries", 1)
    table = capacity.capacity_table(spec_dict, per_doc)
    result["capacity"] = table
    result["capacity_markdown"] = capacity.markdown(table)
    result["seconds"] = round(time.time() - started, 1)
    result["finished_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    result["targets"] = targets(result)
    text = markdown(result)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"all-{stamp}.json").write_text(json.dumps(result, indent=2, default=str))
    (RESULTS / f"all-{stamp}.md").write_text(text + "\n")
    if args.readme:
        update_readme(text)
    print(text)
    print(f"\nwritten: bench/results/all-{stamp}.json and .md", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
