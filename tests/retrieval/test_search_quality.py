"""Search quality on the labelled set: every sample document and the retrieval set go through a
stack of their own (no other test's documents in the index), each query of
tests/retrieval/queries.yaml goes to GET /search, and the local backend must rank the document
that answers it first for at least 80% of the queries. The figures are printed (pytest -s) and
kept by `scripts/bench retrieval`."""

import json

import pytest

from bench.retrieval import evaluate, ingest, load_queries
from local.stack import LocalStack

TOP1_BAR = 0.80


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    stack = LocalStack(tmp_path_factory.mktemp("retrieval-stack"), with_scheduler=False).start()
    try:
        yield stack, ingest(stack, timeout_s=600)
    finally:
        stack.stop()


def test_the_labelled_set_is_sound(corpus):
    _, records = corpus
    queries = load_queries()
    files = {r["file"] for r in records.values()}
    assert len(queries) >= 30
    assert all(q["relevant"] in files for q in queries), sorted({q["relevant"] for q in queries} - files)
    assert len({q["query"] for q in queries}) == len(queries)
    relevant_done = {r["file"] for r in records.values() if r["status"] == "done"}
    assert all(q["relevant"] in relevant_done for q in queries), "a relevant document did not reach done"


def test_local_backend_ranks_the_answering_document_first_for_80_percent(corpus):
    stack, records = corpus
    result = evaluate(stack.function_url("api"), load_queries(), {i: r["file"] for i, r in records.items()})
    print(json.dumps(result, indent=2))
    assert result["top1"] >= TOP1_BAR, result["misses"]
    assert result["recall_at_5"] >= result["top1"] and result["mrr_at_10"] >= result["top1"]
