"""What a document costs on Google Cloud, from the operations measured per document and the list
prices in prices.yaml. Pure arithmetic: no cloud calls, no contentflow imports, so other benches can
`from cost_model import ...` with bench/ on sys.path.

`counts` are MEASURED operations per document (missing keys count 0):
  firestore.reads, firestore.writes, firestore.deletes
  pubsub.messages (published), pubsub.deliveries (push deliveries, redeliveries included),
  pubsub.bytes (payload bytes published, all messages)
  eventarc.events (object-finalized events: Eventarc is free for Google sources, its Pub/Sub
    transport is not: one publish and one push delivery of at least 1 kB each)
  tasks.created, tasks.dispatches (dispatch attempts, retries included)
  storage.writes, storage.lists (class A), storage.reads (class B), storage.bytes_written,
  storage.bytes_read (free: ingress and same-region reads)
  model.calls, model.input_tokens, model.output_tokens (Gemini),
  embedding.calls, embedding.billable_characters (embeddings; priced per character)
  invocations.<function>, seconds.<function> (billed request time, summed per document)
  log.bytes
`sizing` maps each function to (vCPU, memory MiB), the spec's runtime: sizing_from_spec().

Approximations (free tiers are never applied):
- Cloud Run request-based billing rounds each request up to 100 ms; only the sum of seconds is
  known, so every invocation is taken to last seconds / invocations (off by less than 100 ms per
  invocation, either way). Instance start-up is billed too: count it in seconds.<function>.
- With concurrency > 1, requests running together on one instance share its billed time; the model
  does not share it (each request is billed as if alone on its instance): it errs high.
"""

from __future__ import annotations

import math
from pathlib import Path

import yaml

COMPONENTS = ("firestore", "pubsub", "tasks", "functions", "storage", "model", "embeddings", "logging")


def load_prices(path: Path = Path(__file__).with_name("prices.yaml")) -> dict:
    return yaml.safe_load(Path(path).read_text())


def sizing_from_spec(spec: dict) -> dict[str, tuple[float, int]]:
    """{function: (cpu, memory_mb)} from the parsed pipeline spec (the YAML as a dict)."""
    return {name: (fn["runtime"]["cpu"], fn["runtime"]["memory_mb"]) for name, fn in spec["functions"].items()}


def _unit(prices: dict, key: str) -> float:
    """USD per unit of `service.item` (its `usd` per `per`)."""
    service, item = key.split(".")
    entry = prices[service][item]
    return entry["usd"] / entry["per"]


def _billed_seconds(invocations: float, seconds: float, granularity: float) -> float:
    """Request time as billed: each invocation rounded up to the granularity (100 ms)."""
    if seconds <= 0:
        return 0.0
    calls = invocations if invocations > 0 else 1.0
    per_call = math.ceil(round(seconds / calls / granularity, 9)) * granularity
    return calls * per_call


def cost_per_document(counts: dict[str, float], prices: dict, sizing: dict[str, tuple[float, int]] | None = None) -> dict:
    """USD per document by component, with `total` and `model_share` ((model + embeddings) / total)."""
    def n(key: str) -> float:
        return float(counts.get(key) or 0)

    functions = sorted({k.split(".", 1)[1] for k in counts if k.startswith(("invocations.", "seconds."))})
    sizing = sizing or {}
    missing = [f for f in functions if f not in sizing]
    if missing:
        raise ValueError(f"no sizing (cpu, memory_mb) for {missing}: pass sizing_from_spec(spec)")

    cost = dict.fromkeys(COMPONENTS, 0.0)
    # Firestore: each document read, write and delete is one billed operation.
    cost["firestore"] = (n("firestore.reads") * _unit(prices, "firestore.reads")
                         + n("firestore.writes") * _unit(prices, "firestore.writes")
                         + n("firestore.deletes") * _unit(prices, "firestore.deletes"))

    # Pub/Sub: throughput, each publish and each delivery billed at max(1,000 bytes, its size).
    minimum = prices["pubsub"]["min_billable_bytes"]["value"]
    messages = n("pubsub.messages")
    size = max(minimum, n("pubsub.bytes") / messages) if messages else minimum
    transport = 2 * n("eventarc.events") * minimum  # Eventarc: free event, billed Pub/Sub publish + push
    cost["pubsub"] = ((messages + n("pubsub.deliveries")) * size + transport) * _unit(prices, "pubsub.throughput")

    # Cloud Tasks: every API call (CreateTask) and every push delivery attempt is a billable operation.
    cost["tasks"] = (n("tasks.created") + n("tasks.dispatches")) * _unit(prices, "tasks.operations")

    # Cloud Run request-based billing: per request, plus vCPU-seconds and GiB-seconds of billed time.
    granularity = prices["run"]["billing_granularity_s"]["value"]
    for fn in functions:
        cpu, memory_mb = sizing[fn]
        billed = _billed_seconds(n(f"invocations.{fn}"), n(f"seconds.{fn}"), granularity)
        cost["functions"] += (n(f"invocations.{fn}") * _unit(prices, "run.requests")
                              + billed * cpu * _unit(prices, "run.cpu")
                              + billed * memory_mb / 1024 * _unit(prices, "run.memory"))

    # Cloud Storage: class A (writes, lists) and class B (reads) per operation; bytes in-region are free.
    cost["storage"] = ((n("storage.writes") + n("storage.lists")) * _unit(prices, "storage.class_a")
                       + n("storage.reads") * _unit(prices, "storage.class_b")
                       + n("storage.bytes_read") / 2**30 * _unit(prices, "storage.egress_same_region"))

    # Gemini: input and output tokens at their per-token prices (thinking tokens are output).
    cost["model"] = (n("model.input_tokens") * _unit(prices, "vertex.generation_input")
                     + n("model.output_tokens") * _unit(prices, "vertex.generation_output"))
    # Embeddings: billable characters (text-embedding-005 is priced per 1,000 characters).
    cost["embeddings"] = n("embedding.billable_characters") * _unit(prices, "vertex.embedding_input")
    # Cloud Logging: ingested bytes (the free 50 GiB a month not applied).
    cost["logging"] = n("log.bytes") * _unit(prices, "logging.ingestion")

    cost["total"] = sum(cost[c] for c in COMPONENTS)
    cost["model_share"] = (cost["model"] + cost["embeddings"]) / cost["total"] if cost["total"] else 0.0
    return cost


def million(cost: dict) -> dict:
    """The same breakdown for 1,000,000 documents (model_share unchanged)."""
    return {k: (v if k == "model_share" else v * 1_000_000) for k, v in cost.items()}


def synchronous_alternative(counts: dict[str, float], prices: dict, sizing_cpu: float, sizing_memory_mb: int,
                            seconds: float) -> dict:
    """The same work done by ONE synchronous function per document, for comparison.

    Assumptions: one invocation runs register + extract + analyse + index in-process for `seconds`
    (on `sizing_cpu` vCPU and `sizing_memory_mb` MiB); no Pub/Sub hand-ons and no Cloud Tasks;
    what starts the function is left out (were it the same storage trigger, its Pub/Sub transport
    adds 2 kB, $0.00000008 a document); no state machine, so Firestore does one read
    (is the document already there?) and one write (the record, at the end) plus the chunk writes
    (`counts["chunk_writes"]`); the same model calls, tokens, characters, storage operations and
    log bytes as measured. It gives up what the hand-ons buy: retries per step, rate limits on the
    model, a step's failure not redoing the others.
    """
    sync = {key: counts[key] for key in counts if key.startswith(("storage.", "model.", "embedding.", "log."))}
    sync.update({"firestore.reads": 1, "firestore.writes": 1 + float(counts.get("chunk_writes") or 0),
                 "invocations.pipeline": 1, "seconds.pipeline": seconds})
    return cost_per_document(sync, prices, {"pipeline": (sizing_cpu, sizing_memory_mb)})


def markdown_table(rows: dict[str, dict]) -> str:
    """Rows keyed by document type, each a cost_per_document() result: USD per million documents."""
    head = ["type", *COMPONENTS, "total", "model share"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for kind, cost in rows.items():
        per_million = million(cost)
        cells = [f"${per_million[c]:,.2f}" for c in (*COMPONENTS, "total")]
        lines.append(f"| {kind} | " + " | ".join(cells) + f" | {per_million['model_share']:.0%} |")
    note = "USD per 1,000,000 documents at list prices (bench/prices.yaml), free tiers not applied."
    return "\n".join(lines) + f"\n\n{note}\n"
