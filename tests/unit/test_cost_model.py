"""The cost model (bench/cost_model.py) and the capacity table (bench/capacity.py) on hand-made
figures: each pricing rule on its own, the synchronous alternative, the Markdown, the bottleneck;
and the price and limit files' shape."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import capacity  # noqa: E402
from cost_model import (  # noqa: E402
    COMPONENTS, cost_per_document, load_prices, markdown_table, million, sizing_from_spec, synchronous_alternative)


@pytest.fixture(scope="module")
def prices():
    return load_prices()


def unit(prices, service, item):
    return prices[service][item]["usd"] / prices[service][item]["per"]


# --- prices.yaml -------------------------------------------------------------------------------
def test_prices_file_says_when_where_and_in_what(prices):
    assert prices["as_of"] == "2026-12-01"
    assert prices["region"] == "us-central1" and prices["firestore_location"]
    assert prices["currency"] == "USD"


def test_every_price_is_positive_except_the_documented_free_ones(prices):
    free, seen = set(), 0
    for service, entries in prices.items():
        if not isinstance(entries, dict) or "source" not in entries:
            continue
        assert entries["source"]["url"].startswith("https://cloud.google.com/"), service
        for item, entry in entries.items():
            if isinstance(entry, dict) and "usd" in entry:
                seen += 1
                assert entry["usd"] >= 0 and entry["per"] > 0, (service, item)
                if entry["usd"] == 0:
                    free.add(f"{service}.{item}")
    assert seen >= 15
    # Free by the pricing pages: Eventarc's Google-source events, same-region reads from a bucket.
    assert free == {"eventarc.google_source_events", "storage.egress_same_region"}


# --- the pricing rules -------------------------------------------------------------------------
def test_100000_firestore_writes_cost_the_listed_price(prices):
    cost = cost_per_document({"firestore.writes": 100_000}, prices)
    assert cost["firestore"] == pytest.approx(prices["firestore"]["writes"]["usd"], rel=1e-12)
    assert cost["total"] == pytest.approx(cost["firestore"])


def test_a_small_publish_and_its_delivery_are_billed_as_1_kb_each(prices):
    per_byte = unit(prices, "pubsub", "throughput")
    assert cost_per_document({"pubsub.messages": 1, "pubsub.bytes": 10}, prices)["pubsub"] == pytest.approx(1000 * per_byte)
    both = cost_per_document({"pubsub.messages": 1, "pubsub.deliveries": 1, "pubsub.bytes": 10}, prices)
    assert both["pubsub"] == pytest.approx(2000 * per_byte)
    # Above the minimum, the mean message size counts: 2 messages of 5,000 bytes, delivered once each.
    big = cost_per_document({"pubsub.messages": 2, "pubsub.deliveries": 2, "pubsub.bytes": 10_000}, prices)
    assert big["pubsub"] == pytest.approx(4 * 5000 * per_byte)
    # Eventarc: the event is free, its transport is one publish and one delivery of 1 kB.
    assert cost_per_document({"eventarc.events": 1}, prices)["pubsub"] == pytest.approx(2000 * per_byte)


def test_tasks_bill_each_creation_and_each_dispatch(prices):
    cost = cost_per_document({"tasks.created": 1, "tasks.dispatches": 3}, prices)
    assert cost["tasks"] == pytest.approx(4 * unit(prices, "tasks", "operations"))


def test_request_time_is_rounded_up_to_100_ms_per_invocation(prices):
    sizing = {"fn": (1.0, 1024)}
    request, cpu, gib = (unit(prices, "run", k) for k in ("requests", "cpu", "memory"))

    def billed(seconds):  # 1 vCPU, 1 GiB: cost of `seconds` billed seconds, without the requests
        return seconds * (cpu + gib)

    one = cost_per_document({"invocations.fn": 1, "seconds.fn": 0.01}, prices, sizing)
    assert one["functions"] == pytest.approx(request + billed(0.1))
    # 0.25 s over two invocations: 0.125 s each, billed 0.2 s each.
    two = cost_per_document({"invocations.fn": 2, "seconds.fn": 0.25}, prices, sizing)
    assert two["functions"] == pytest.approx(2 * request + billed(0.4))
    # An exact multiple stays as it is (no float rounding up of 0.3 to 0.4).
    exact = cost_per_document({"invocations.fn": 1, "seconds.fn": 0.3}, prices, sizing)
    assert exact["functions"] == pytest.approx(request + billed(0.3))
    # vCPU and memory come from the sizing: 0.167 vCPU and 256 MiB.
    small = cost_per_document({"invocations.fn": 1, "seconds.fn": 1.0}, prices, {"fn": (0.167, 256)})
    assert small["functions"] == pytest.approx(request + 0.167 * cpu + 0.25 * gib)


def test_a_function_without_sizing_is_refused(prices):
    with pytest.raises(ValueError, match="sizing"):
        cost_per_document({"seconds.extract": 1}, prices)


def test_storage_model_embeddings_and_logging(prices):
    cost = cost_per_document({"storage.writes": 1000, "storage.lists": 1000, "storage.reads": 1000,
                              "storage.bytes_read": 2**30, "model.input_tokens": 1_000_000,
                              "model.output_tokens": 1_000_000, "embedding.billable_characters": 1000,
                              "log.bytes": 2**30}, prices)
    assert cost["storage"] == pytest.approx(2 * prices["storage"]["class_a"]["usd"] + prices["storage"]["class_b"]["usd"])
    assert cost["model"] == pytest.approx(prices["vertex"]["generation_input"]["usd"]
                                          + prices["vertex"]["generation_output"]["usd"])
    assert cost["embeddings"] == pytest.approx(prices["vertex"]["embedding_input"]["usd"])
    assert cost["logging"] == pytest.approx(prices["logging"]["ingestion"]["usd"])
    assert cost["model_share"] == pytest.approx((cost["model"] + cost["embeddings"]) / cost["total"])
    assert cost["total"] == pytest.approx(sum(cost[c] for c in COMPONENTS))


# --- per million, the synchronous alternative, the table ----------------------------------------
COUNTS = {"firestore.reads": 9, "firestore.writes": 11, "pubsub.messages": 2, "pubsub.deliveries": 1,
          "pubsub.bytes": 900, "eventarc.events": 1, "tasks.created": 2, "tasks.dispatches": 2,
          "storage.reads": 4, "storage.writes": 2, "model.input_tokens": 6000, "model.output_tokens": 700,
          "embedding.billable_characters": 24_000, "invocations.on_upload": 1, "seconds.on_upload": 0.3,
          "invocations.extract": 1, "seconds.extract": 2.0, "invocations.analyse": 1, "seconds.analyse": 5.0,
          "invocations.index": 1, "seconds.index": 1.5, "chunk_writes": 6}


@pytest.fixture(scope="module")
def sizing():
    return sizing_from_spec(capacity.load_spec())


def test_million_scales_everything_but_the_share(prices, sizing):
    cost = cost_per_document(COUNTS, prices, sizing)
    scaled = million(cost)
    assert scaled["total"] == pytest.approx(cost["total"] * 1e6)
    assert scaled["model_share"] == cost["model_share"]


def test_the_synchronous_alternative_has_no_pubsub_or_tasks_cost(prices, sizing):
    pipeline = cost_per_document(COUNTS, prices, sizing)
    sync = synchronous_alternative(COUNTS, prices, sizing_cpu=1.0, sizing_memory_mb=2048, seconds=8.8)
    assert pipeline["pubsub"] > 0 and pipeline["tasks"] > 0
    assert sync["pubsub"] == 0 and sync["tasks"] == 0
    # One record read, one record write plus the chunks; the same model, storage and embedding work.
    assert sync["firestore"] == pytest.approx(unit(prices, "firestore", "reads")
                                              + 7 * unit(prices, "firestore", "writes"))
    for component in ("model", "embeddings", "storage"):
        assert sync[component] == pytest.approx(pipeline[component])
    request, cpu, gib = (unit(prices, "run", k) for k in ("requests", "cpu", "memory"))
    assert sync["functions"] == pytest.approx(request + 8.8 * (cpu + 2 * gib))


def test_markdown_table_has_a_row_per_document_type(prices, sizing):
    rows = {kind: cost_per_document({**COUNTS, "model.input_tokens": tokens}, prices, sizing)
            for kind, tokens in (("pdf", 9000), ("docx", 5000), ("html", 3000), ("txt", 1000))}
    table = markdown_table(rows)
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(lines) == 1 + 4  # the header and one row per type
    for kind in rows:
        assert sum(line.startswith(f"| {kind} |") for line in lines) == 1
    assert "total" in lines[0] and "model share" in lines[0]


# --- capacity ----------------------------------------------------------------------------------
def hand_spec(**queue_limits):
    """Two functions: extract (Pub/Sub) and analyse (queue model-calls), generous limits."""
    rate_limits = {"max_dispatches_per_second": 500, "max_concurrent_dispatches": 5000, **queue_limits}
    return {"queues": {"model-calls": {"rate_limits": rate_limits}},
            "functions": {"extract": {"trigger": {"type": "pubsub", "topic": "t"},
                                      "runtime": {"cpu": 1, "memory_mb": 2048, "concurrency": 1, "max_instances": 1000}},
                          "analyse": {"trigger": {"type": "queue", "queue": "model-calls"},
                                      "runtime": {"cpu": 1, "memory_mb": 512, "concurrency": 4, "max_instances": 1000}}}}


PER_DOC = {"firestore.writes": 3, "pubsub.messages": 1, "tasks.created": 1, "model.calls": 1,
           "model.input_tokens": 100, "model.output_tokens": 10, "embeddings.calls": 1,
           "storage.reads": 1, "storage.writes": 1, "seconds.extract": 1.0, "seconds.analyse": 2.0}


def bottleneck_by_hand(rows):
    """The row with the smallest limit / required (rows without a limit are not ranked)."""
    return min((r for r in rows if r["limit"] and r["required"]), key=lambda r: r["limit"] / r["required"])


def test_the_bottleneck_is_the_smallest_limit_over_required_ratio():
    table = capacity.capacity_table(hand_spec(), PER_DOC, rates=(10, 100, 1000))
    for rate, entry in table["rates"].items():
        assert entry["bottleneck"] is bottleneck_by_hand(entry["rows"]), rate
    # 3 writes per document against the records' 500 writes/s: saturated at 166.7 docs/s.
    assert table["rates"][100]["bottleneck"]["check"] == "writes moving an increasing indexed field, records"
    assert table["rates"][100]["passes"]
    assert table["sustainable_docs_per_s"] == pytest.approx(500 / 3)
    assert not table["rates"][1000]["passes"]


def test_more_tasks_per_document_make_the_model_calls_queue_the_first_bottleneck():
    # Five model-calls tasks per document (one per model call) at 100 docs/s: 500 dispatches/s
    # against a spec limit of 50/s, the smallest ratio of all.
    per_doc = {**PER_DOC, "model.calls": 5, "invocations.analyse": 5}
    entry = capacity.capacity_table(hand_spec(max_dispatches_per_second=50), per_doc, rates=(100,))["rates"][100]
    assert entry["bottleneck"]["check"] == "model-calls: dispatch rate"
    assert entry["bottleneck"]["required"] == pytest.approx(500)
    assert not entry["passes"]
    assert entry["fixes"][0] == "queues.model-calls.rate_limits.max_dispatches_per_second >= 500"


def test_more_model_tokens_per_document_make_the_model_quota_the_first_bottleneck():
    per_doc = {**PER_DOC, "model.input_tokens": 20_000, "model.output_tokens": 2_000}
    entry = capacity.capacity_table(hand_spec(), per_doc, rates=(100,))["rates"][100]
    assert entry["bottleneck"]["component"] == "Vertex AI"
    assert entry["bottleneck"]["check"].startswith("Gemini tokens")
    assert entry["bottleneck"]["required"] == pytest.approx(100 * 60 * 22_000)
    assert entry["bottleneck"]["from"].startswith("documented")


def test_the_records_hot_spot_counts_every_write_unless_the_spec_exempts_updated_at():
    check = "writes moving an increasing indexed field, records"
    entry = capacity.capacity_table(hand_spec(), PER_DOC, rates=(200,))["rates"][200]
    row = next(r for r in entry["rows"] if r["check"] == check)
    assert row["required"] == pytest.approx(600) and not row["passes"]  # 3 record writes per document
    assert "firestore.index_exemptions.documents: {field: updated_at, keep: []}" in entry["fixes"]
    spec = {**hand_spec(), "firestore": {"index_exemptions": {"documents": [{"field": "updated_at", "keep": []}]}}}
    entry = capacity.capacity_table(spec, PER_DOC, rates=(200,))["rates"][200]
    row = next(r for r in entry["rows"] if r["check"] == check)
    assert row["required"] == pytest.approx(200) and row["passes"]  # created_at only, once per document


def test_instances_follow_littles_law_and_name_the_spec_fix():
    spec = hand_spec()
    spec["functions"]["extract"]["runtime"]["max_instances"] = 20
    entry = capacity.capacity_table(spec, {**PER_DOC, "seconds.extract": 3.0}, rates=(100,))["rates"][100]
    row = next(r for r in entry["rows"] if r["check"].startswith("extract: instances"))
    assert row["required"] == pytest.approx(300) and not row["passes"]
    assert "functions.extract.runtime.max_instances >= 300" in entry["fixes"]
    analyse = next(r for r in entry["rows"] if r["check"].startswith("analyse: instances"))
    assert analyse["required"] == pytest.approx(100 * 2.0 / 4)


def test_the_deployed_spec_and_the_default_figures_print(tmp_path, capsys):
    text = capacity.main([])
    assert "first bottleneck" in text and "Placeholders until measured" in text
    results = tmp_path / "sizing.json"
    results.write_text(json.dumps({"per_document": {"seconds.extract": 2.5, "firestore.writes": 12}}))
    text = capacity.main(["--per-doc", str(results), "--rates", "5"])
    assert "5 docs/s" in text and "seconds.extract" not in text.split("Placeholders")[-1]
    capsys.readouterr()


def test_limits_file_names_value_unit_and_source_for_each_limit():
    limits = capacity.load_limits()
    for key, entry in limits.items():
        assert entry["kind"] in {"hard", "quota", "soft", "guidance"}, key
        assert entry["unit"] and entry["source"]["page"], key
        assert entry["source"]["url"].startswith("https://cloud.google.com/"), key
        if entry.get("evaluated") is False:
            continue
        assert entry["value"] > 0 and entry.get("when_exceeded"), key
