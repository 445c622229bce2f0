"""Pay once per content, on the local stack's Firestore emulator: identical content reuses an
earlier analysis and earlier chunk vectors, found on the records themselves (`analysis.cache_key`,
`index.cache_key`), with no write of their own: the analyse step writes nothing (the pipeline
commits its result), the index step its chunks only, and no collection besides the records and
the chunks is written. A deleted record's results are no longer found."""

from __future__ import annotations

import uuid

import pytest
import requests
from google.cloud.firestore_v1.base_query import FieldFilter

from contentflow.documents import document_id_for
from contentflow.metering import metered
from contentflow.services import Services
from contentflow.settings import Settings

from tests.integration.test_logs import _entries

TEXT = """Keeping bees on a city roof

A hive on a flat roof needs shelter from the wind and shade in the afternoon. The bees fly up to
three kilometres for forage, so parks and street trees feed them well into the autumn. Inspect the
colony every nine days in spring to catch the queen cells before a swarm leaves. In August, treat
for varroa mites after the last honey is taken off, and leave the bees enough stores for winter.
"""


@pytest.fixture(scope="module")
def api(stack):
    return stack.function_url("api").rstrip("/")


@pytest.fixture(scope="module")
def services(stack):
    return Services(Settings())


def _upload(inbox, name: str, data: bytes) -> str:
    blob = inbox.blob(name)
    blob.upload_from_string(data, content_type="text/plain")
    return document_id_for(inbox.name, name, blob.md5_hash, blob.generation)


def _found_by(db, field: str, key: str) -> set[str]:
    return {s.id for s in db.collection("documents").where(filter=FieldFilter(field, "==", key)).stream()}


def _log(stack, function: str, doc_id: str) -> list[dict]:
    """The function's log lines about the document, once its working request has finished."""
    return _entries(stack.data_dir / "logs" / f"fn-{function}.log", doc_id)


def _costs(stack, function: str, doc_id: str) -> list[dict]:
    return [e["costs"] for e in _log(stack, function, doc_id) if e["message"] == "request finished"]


def _logged(stack, function: str, doc_id: str, message: str, field: str) -> list:
    return [e[field] for e in _log(stack, function, doc_id) if e["message"] == message]


def test_identical_content_is_analysed_and_embedded_once_while_a_record_holds_it(stack, api, db, inbox, wait_status):
    run = uuid.uuid4().hex
    data = f"{TEXT}\nRef {run}.\n".encode()  # unique per run: nothing reused from an earlier run
    first_id = _upload(inbox, f"reuse-{run}/first.txt", data)
    first = wait_status(first_id, timeout=60)
    assert first["status"] == "done", first.get("error")
    analysis_key, index_key = first["analysis"]["cache_key"], first["index"]["cache_key"]
    assert len(analysis_key) == len(index_key) == 40 and analysis_key != index_key
    assert first["analysis"]["reused"] is False and first["analysis"]["usage"]["model_calls"] >= 1
    assert first["index"]["reused_from"] is None and first["index"]["usage"]["model_calls"] >= 1
    assert any(c.get("model.calls", 0) >= 1 for c in _costs(stack, "analyse", first_id))
    assert _found_by(db, "analysis.cache_key", analysis_key) == _found_by(db, "index.cache_key", index_key) == {first_id}

    # Identical bytes under another name: no model call, the record says where it came from.
    second_id = _upload(inbox, f"reuse-{run}/second.txt", data)
    second = wait_status(second_id, timeout=60)
    assert second["status"] == "done" and second["content_sha256"] == first["content_sha256"]
    assert second["analysis"]["reused"] is True and second["analysis"]["usage"]["model_calls"] == 0
    assert {k: v for k, v in second["analysis"].items() if k not in ("reused", "usage")} == \
        {k: v for k, v in first["analysis"].items() if k not in ("reused", "usage")}
    assert second["labels"] == first["labels"]
    assert second["index"]["reused_from"] == first_id and second["index"]["usage"] is None
    assert second["index"]["cache_key"] == index_key and second["index"]["chunks"] == first["index"]["chunks"]
    for function in ("analyse", "index"):
        assert all(c.get("model.calls", 0) == 0 for c in _costs(stack, function, second_id)), function
    assert _logged(stack, "analyse", second_id, "analysis reused for identical content", "analysed_for") == [first_id]
    assert _logged(stack, "index", second_id, "embeddings reused for identical content", "source_document") == [first_id]

    # The first record deleted: the second still holds the results, and is found instead.
    assert requests.delete(f"{api}/documents/{first_id}", timeout=30).status_code == 204
    assert _found_by(db, "analysis.cache_key", analysis_key) == {second_id}
    third_id = _upload(inbox, f"reuse-{run}/third.txt", data)
    third = wait_status(third_id, timeout=60)
    assert third["status"] == "done" and third["analysis"]["reused"] is True
    assert third["index"]["reused_from"] == second_id

    # No record holds them any more: identical content is analysed and embedded again.
    for doc_id in (second_id, third_id):
        assert requests.delete(f"{api}/documents/{doc_id}", timeout=30).status_code == 204
    assert _found_by(db, "analysis.cache_key", analysis_key) == _found_by(db, "index.cache_key", index_key) == set()
    fourth_id = _upload(inbox, f"reuse-{run}/fourth.txt", data)
    fourth = wait_status(fourth_id, timeout=60)
    assert fourth["status"] == "done" and fourth["analysis"]["cache_key"] == analysis_key
    assert fourth["analysis"]["reused"] is False and fourth["analysis"]["usage"]["model_calls"] >= 1
    assert fourth["index"]["reused_from"] is None and fourth["index"]["usage"]["model_calls"] >= 1
    assert any(c.get("model.calls", 0) >= 1 for c in _costs(stack, "analyse", fourth_id))
    assert fourth["analysis"]["summary"] == first["analysis"]["summary"]  # the same analysis, paid for again


def test_the_steps_write_nothing_besides_the_record_and_its_chunks(stack, db, inbox, services, wait_status):
    """The handlers measured on the emulator: the analyse step writes nothing itself (its result is
    committed with the pipeline's transition), the index step one write per chunk; each lookup is
    one query."""
    run = uuid.uuid4().hex
    doc_id = _upload(inbox, f"reuse-{run}/measured.txt", f"{TEXT}\nMeasured {run}.\n".encode())
    assert wait_status(doc_id, timeout=60)["status"] == "done"
    doc = services.store.get(doc_id)
    chunks = doc.index["chunks"]
    assert chunks >= 1
    analyse, index = services.step_handler("analyse"), services.step_handler("index")

    # Content seen before (the record itself holds it): reused, one read, no write.
    with metered() as costs:
        updates = analyse(doc)
    assert updates["analysis"]["reused"] is True and updates["analysis"]["cache_key"] == doc.analysis["cache_key"]
    assert (costs["firestore.reads"], costs["firestore.writes"], costs["model.calls"]) == (1, 0, 0), costs

    # New content (another hash): the query finds nothing and costs its one read; the model is called.
    unseen = doc.model_copy(update={"content_sha256": uuid.uuid4().hex * 2})
    with metered() as costs:
        updates = analyse(unseen)
    assert updates["analysis"]["reused"] is False and updates["analysis"]["cache_key"] != doc.analysis["cache_key"]
    assert (costs["firestore.reads"], costs["firestore.writes"]) == (1, 0) and costs["model.calls"] >= 1, costs

    # Indexing a copy under another id: the vectors are copied from the record (its chunks only
    # are written), or embedded for content never seen; nothing else is written either way.
    copy_id = uuid.uuid4().hex
    try:
        with metered() as costs:
            updates = index(doc.model_copy(update={"id": copy_id}))
        assert updates["index"]["reused_from"] == doc_id and updates["index"]["cache_key"] == doc.index["cache_key"]
        assert costs["firestore.writes"] == chunks and costs["model.calls"] == 0, costs
        assert costs["firestore.reads"] == 1 + chunks, costs  # the lookup, then the source's vectors
        with metered() as costs:
            updates = index(doc.model_copy(update={"id": copy_id, "content_sha256": uuid.uuid4().hex * 2}))
        assert updates["index"]["reused_from"] is None and costs["model.calls"] >= 1
        assert (costs["firestore.reads"], costs["firestore.writes"]) == (1, chunks), costs
    finally:
        services.chunks.delete_document(copy_id)

    # Nothing outside the records and the chunks: the stack's collections are the code's own.
    written = {c.id for c in db.collections()}
    assert "results-cache" not in written
    settings = services.settings
    assert written <= {settings.collection, settings.spec.embeddings.collection, settings.jobs_collection,
                       settings.reports_collection, settings.idempotency_collection}, written
