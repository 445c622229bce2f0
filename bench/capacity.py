"""Capacity on paper, for when users outgrow a laptop: what the DEPLOYED pipeline sustains, per
component, from the spec's sizing (lib/contentflow/pipeline.yaml) and the documented limits
(bench/limits.yaml), for the operations one document makes.

For each rate (documents per second) and each component: the throughput required (rate x
operations per document; busy requests by Little's law, rate x seconds per document, and instances
= busy / concurrency), the limit (from the spec, or documented), and whether it passes. Then the
first bottleneck (the check with the smallest limit / required, which saturates first as the rate
rises) and what the spec must say, or what must be done, to pass each failing check.

Run: python bench/capacity.py [--per-doc results.json] [--spec pipeline.yaml] [--rates 10,100,1000]
(results.json: per-document counts, flat or as bench/sizing.py's report with `per_document`; missing
keys keep the defaults below). Pure arithmetic; the spec is the parsed YAML (a dict), so this file
imports nothing from lib/ (a contentflow PipelineSpec is accepted too, through model_dump()).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "lib" / "contentflow" / "pipeline.yaml"
LIMITS = Path(__file__).with_name("limits.yaml")

# Measured per document when run alone (scripts/bench all, December 7 evening: the vertex backend,
# one-page documents); bench/all.py passes the figures of its own run instead.
MEASURED = {"firestore.writes": 9, "firestore.reads": 11, "pubsub.messages": 2, "tasks.created": 2,
            "model.calls": 3.8, "storage.reads": 4, "storage.writes": 2}
# Placeholders until measured: estimated from nothing, only to make the table print.
PLACEHOLDERS = {"seconds.on_upload": 0.5, "seconds.extract": 4.0, "seconds.analyse": 10.0, "seconds.index": 3.0,
                "model.input_tokens": 8000, "model.output_tokens": 1000, "embedding.calls": 1}
# By construction: one object-finalized event per upload.
STRUCTURAL = {"eventarc.events": 1}
DEFAULT_PER_DOC = {**MEASURED, **PLACEHOLDERS, **STRUCTURAL}


def load_limits(path: Path = LIMITS) -> dict:
    return yaml.safe_load(Path(path).read_text())["limits"]


def load_spec(path: Path = SPEC) -> dict:
    return yaml.safe_load(Path(path).read_text())


def capacity_table(spec, per_doc: dict, rates=(10, 100, 1000), limits: dict | None = None) -> dict:
    """Checks per rate, the first bottleneck and the fixes; `sustainable_docs_per_s` is the rate at
    which the first bottleneck saturates."""
    spec = spec.model_dump() if hasattr(spec, "model_dump") else spec
    limits = limits if limits is not None else load_limits()
    result = {"per_doc": dict(per_doc), "rates": {}}
    for rate in rates:
        rows = _checks(spec, per_doc, float(rate), limits)
        ranked = [r for r in rows if r["limit"]]
        bottleneck = max(ranked, key=lambda r: r["ratio"]) if ranked else None
        failing = sorted((r for r in ranked if not r["passes"]), key=lambda r: -r["ratio"])
        result["rates"][rate] = {"rows": rows, "bottleneck": bottleneck, "passes": not failing,
                                 "fixes": [r["fix"] for r in failing]}
    first = result["rates"][rates[0]]["bottleneck"] if rates else None
    result["sustainable_docs_per_s"] = rates[0] / first["ratio"] if first and first["ratio"] else math.inf
    result["limiting"] = first["check"] if first else None
    result["not_evaluated"] = {k: v for k, v in limits.items() if v.get("evaluated") is False}
    return result


def _checks(spec: dict, per_doc: dict, rate: float, limits: dict) -> list[dict]:
    rows: list[dict] = []

    def n(key: str) -> float:
        return float(per_doc.get(key) or 0)

    def check(component: str, name: str, required: float, unit: str, limit, source: str, fix: str, note: str = ""):
        ratio = required / limit if limit else 0.0
        rows.append({"component": component, "check": name, "required": required, "unit": unit, "limit": limit,
                     "from": source, "ratio": ratio, "passes": limit is None or required <= limit,
                     "fix": fix, "note": note})

    def documented(component: str, name: str, required: float, unit: str, key: str, note: str = "",
                   fix: str | None = None):
        entry = limits[key]
        check(component, name, required, unit, entry["value"], f"documented ({entry['kind']}): {key}",
              fix or f"{component} {name}: {entry.get('when_exceeded', '')}", note)

    # Firestore: writes per database, and the records' writes under the sequential-index hot-spot limit.
    writes = rate * n("firestore.writes")
    ramp = 0 if writes <= 500 else 5 * math.ceil(math.log(writes / 500) / math.log(1.5))
    documented("Firestore", "writes, database", writes, "writes/s", "firestore.writes_per_database",
               f"500/50/5 rule: {ramp} min of ramp-up from 500 to {writes:,.0f} writes/s" if ramp else "")
    hot, note, fix = _sequential_index_writes(spec, per_doc)
    documented("Firestore", "writes moving an increasing indexed field, records", rate * hot, "writes/s",
               "firestore.writes_per_collection_sequential_index", note, fix)

    # Pub/Sub: publishes (the hand-on, the event, the storage trigger's transport), each >= 1 kB.
    messages = n("pubsub.messages")
    kb_each = max(1.0, n("pubsub.bytes") / messages / 1000) if messages else 1.0
    documented("Pub/Sub", "publish throughput, region", rate * 60 * (messages * kb_each + n("eventarc.events")),
               "kB/min", "pubsub.publisher_throughput_per_region")

    # Functions (Little's law) and the queues that trigger them.
    queues: dict[str, list[float]] = {}
    vcpu = 0.0
    for name, fn in spec["functions"].items():
        if f"seconds.{name}" not in per_doc:
            continue
        runtime = fn["runtime"]
        busy = rate * n(f"seconds.{name}")  # requests in flight
        instances = busy / runtime["concurrency"]
        vcpu += math.ceil(instances) * runtime["cpu"]
        check("Cloud Run functions", f"{name}: instances (busy / concurrency)", instances, "instances",
              runtime["max_instances"], "spec", f"functions.{name}.runtime.max_instances >= {math.ceil(instances)}",
              f"{n(f'seconds.{name}'):g} s/doc, concurrency {runtime['concurrency']}")
        if fn["trigger"]["type"] == "queue":
            dispatches = rate * (n(f"invocations.{name}") or 1.0)  # one task per document by default
            q = queues.setdefault(fn["trigger"]["queue"], [0.0, 0.0])
            q[0] += dispatches
            q[1] += busy
    check("Cloud Run functions", "vCPU in use, region", vcpu, "vCPU", None, "quota (project-specific)",
          "", "compare with the project's Cloud Run CPU allocation quota in the region")
    for queue, (dispatches, busy) in queues.items():
        limits_of_queue = spec["queues"][queue]["rate_limits"]
        check("Cloud Tasks", f"{queue}: dispatch rate", dispatches, "dispatches/s",
              limits_of_queue["max_dispatches_per_second"], "spec",
              f"queues.{queue}.rate_limits.max_dispatches_per_second >= {math.ceil(dispatches)}")
        documented("Cloud Tasks", f"{queue}: dispatch rate (API maximum)", dispatches, "dispatches/s",
                   "tasks.max_dispatches_per_second")
        check("Cloud Tasks", f"{queue}: concurrent dispatches", busy, "tasks in flight",
              limits_of_queue["max_concurrent_dispatches"], "spec",
              f"queues.{queue}.rate_limits.max_concurrent_dispatches >= {math.ceil(busy)}")
        documented("Cloud Tasks", f"{queue}: concurrent dispatches (API maximum)", busy, "tasks in flight",
                   "tasks.max_concurrent_dispatches")
    documented("Cloud Tasks", "API requests (CreateTask)", rate * 60 * n("tasks.created"), "requests/min",
               "tasks.api_requests_per_minute")

    # Vertex AI: Gemini by tokens (no per-project request quota), embeddings by requests.
    check("Vertex AI", "Gemini calls", rate * n("model.calls"), "calls/s",
          None, "no per-project request quota (dynamic shared quota)", "")
    documented("Vertex AI", "Gemini tokens (input + output)",
               rate * 60 * (n("model.input_tokens") + n("model.output_tokens")), "tokens/min",
               "vertex.gemini_tokens_per_minute")
    documented("Vertex AI", "embedding requests, region", rate * 60 * n("embedding.calls"), "requests/min",
               "vertex.online_prediction_requests_per_minute")

    # Cloud Storage: one bucket taking all of a document's object writes, and reads.
    documented("Cloud Storage", "object writes, bucket", rate * n("storage.writes"), "writes/s",
               "storage.bucket_writes_per_second")
    documented("Cloud Storage", "object reads, bucket", rate * n("storage.reads"), "reads/s",
               "storage.bucket_reads_per_second")
    return rows


def _sequential_index_writes(spec: dict, per_doc: dict) -> tuple[float, str, str | None]:
    """Record writes per document that add an entry at the end of a monotonically increasing
    single-field index (the 500 writes/s hot spot): created_at at registration, and updated_at on
    every transition unless the spec exempts it (firestore.index_exemptions.documents); given
    outright as `firestore.sequential_index_writes`. Returns (writes, note, the spec's fix or None)."""
    if "firestore.sequential_index_writes" in per_doc:
        return float(per_doc["firestore.sequential_index_writes"]), "", None
    exemptions = ((spec.get("firestore") or {}).get("index_exemptions") or {}).get("documents") or []
    if any(e["field"] == "updated_at" and not e.get("keep") for e in exemptions):
        return 1.0, "one per document (created_at, at registration): the spec exempts updated_at from indexing", None
    key = "firestore.writes.documents" if "firestore.writes.documents" in per_doc else "firestore.writes"
    note = "every record write moves updated_at (indexed)" + ("" if key.endswith("documents") else
                                                              ": all writes counted as the records' (conservative)")
    return float(per_doc.get(key) or 0), note, "firestore.index_exemptions.documents: {field: updated_at, keep: []}"


def _num(x) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if x >= 100 or float(x).is_integer() else f"{x:,.2f}".rstrip("0").rstrip(".")


def markdown(table: dict, limits: dict | None = None) -> str:
    limits = limits if limits is not None else load_limits()
    rates = list(table["rates"])
    head = ["component", "check", "unit", "limit", "from", *[f"{r:g} docs/s" for r in rates]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    first = table["rates"][rates[0]]["rows"]
    for i, row in enumerate(first):
        cells = []
        for rate in rates:
            r = table["rates"][rate]["rows"][i]
            mark = "" if r["limit"] is None else (" ok" if r["passes"] else " **FAIL**")
            cells.append(f"{_num(r['required'])}{mark}")
        lines.append(f"| {row['component']} | {row['check']} | {row['unit']} | {_num(row['limit'])} | "
                     f"{row['from']} | " + " | ".join(cells) + " |")
    out = ["Required throughput per rate against the limit (spec or documented).", "", *lines, ""]
    for rate in rates:
        entry = table["rates"][rate]
        b = entry["bottleneck"]
        verdict = "passes" if entry["passes"] else "fails"
        out.append(f"- **{rate:g} docs/s** {verdict}; first bottleneck: {b['component']} {b['check']} "
                   f"(required / limit = {b['ratio']:.2f})" + (f"; {b['note']}" if b["note"] else ""))
        for fix in entry["fixes"]:
            out.append(f"  - {fix}")
    out += ["", f"Sustainable on paper: {table['sustainable_docs_per_s']:.2f} docs/s "
            f"(limited by {table['limiting']}).", "", "Notes on rows:"]
    notes = dict.fromkeys(f"{r['component']} {r['check']}: {r['note']}"
                          for rate in rates for r in table["rates"][rate]["rows"] if r["note"])
    out += [f"- {note}" for note in notes]
    out += ["", "Documented limits not evaluated here:"]
    for key, entry in table["not_evaluated"].items():
        out.append(f"- {key}: {_num(entry['value'])} {entry['unit']} ({entry['source']['page']})")
    used = sorted({row["from"].split(": ", 1)[1] for row in first if row["from"].startswith("documented")})
    out += ["", "Sources (limits.yaml, as of the date there; check before relying):"]
    for key in used:
        out.append(f"- {key}: {limits[key]['source']['page']}, {limits[key]['source']['url']}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-doc", type=Path, help="JSON of per-document counts (flat, or with per_document)")
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--rates", default="10,100,1000", help="documents per second, comma-separated")
    args = parser.parse_args(argv)
    per_doc = dict(DEFAULT_PER_DOC)
    placeholders = set(PLACEHOLDERS)
    if args.per_doc:
        data = json.loads(args.per_doc.read_text())
        measured = data.get("per_document", data)
        per_doc.update(measured)
        placeholders -= set(measured)
    rates = tuple(float(r) for r in args.rates.split(","))
    text = markdown(capacity_table(load_spec(args.spec), per_doc, rates))
    if placeholders:
        text += ("\nPlaceholders until measured (estimated from nothing): "
                 + ", ".join(f"{k} = {per_doc[k]:g}" for k in sorted(placeholders)) + "\n")
    sys.stdout.write(text)
    return text


if __name__ == "__main__":
    main()
