"""The vertex backend runs the whole pipeline on the local stack, against the local server that
speaks Vertex AI's REST shapes (local/vertexfake) through the real google-genai SDK: analysis with
structured output, embeddings batched within the model's limits, search; identical content makes
no model call; a 429 storm ends with every document done and no queue above its rate; after an
embedding model change search never returns an old-model hit, and the backfill finishes, resumes
after a kill and is a no-op when run again."""

import json
import time
import uuid
from datetime import datetime

import pytest
import requests
from google.cloud.firestore_v1.base_query import FieldFilter

from contentflow.documents import document_id_for
from local.stack import LocalStack

TOPICS = {
    "lighthouse": "The lighthouse keeper climbs the spiral stairs at dusk to light the lamp and wind the clockwork "
                  "that turns the lens. Fog signals sound every thirty seconds when visibility drops below two miles.",
    "sourdough": "A sourdough starter needs flour and water every day. Bake the loaf in a hot cast iron pot; the "
                 "crust browns when the lid comes off for the last twenty minutes.",
    "chess": "In the endgame the king becomes an attacking piece. Opposition decides most pawn endings: the side "
             "that does not have to move wins the race to the queening square.",
    "glacier": "Glaciers retreat when summer melt exceeds winter snowfall. Meltwater lakes form behind moraines "
               "and can burst through them in sudden floods.",
}


class Env:
    def __init__(self, stack):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import firestore, storage

        self.stack = stack
        env = stack.client_env()
        self.storage = storage.Client(project=stack.project_id, credentials=AnonymousCredentials(),
                                      client_options={"api_endpoint": env["STORAGE_EMULATOR_HOST"]})
        self.inbox = self.storage.bucket(stack.bucket("inbox"))
        import os

        saved = os.environ.get("FIRESTORE_EMULATOR_HOST")
        os.environ["FIRESTORE_EMULATOR_HOST"] = env["FIRESTORE_EMULATOR_HOST"]
        try:
            self.db = firestore.Client(project=stack.project_id)
        finally:
            if saved is None:
                os.environ.pop("FIRESTORE_EMULATOR_HOST")
            else:
                os.environ["FIRESTORE_EMULATOR_HOST"] = saved
        self.api = stack.function_url("api").rstrip("/")
        self.fake = stack.vertex_url

    def upload(self, name: str, text: str) -> str:
        blob = self.inbox.blob(name)
        blob.upload_from_string(text.encode(), content_type="text/plain")
        return document_id_for(self.inbox.name, name, blob.md5_hash, blob.generation)

    def wait(self, doc_ids, timeout=90.0) -> dict[str, dict]:
        refs = [self.db.collection("documents").document(i) for i in doc_ids]
        deadline = time.monotonic() + timeout
        while True:
            records = {s.id: s.to_dict() for s in self.db.get_all(refs) if s.exists}
            if len(records) == len(refs) and all(r["status"] in ("done", "failed") for r in records.values()):
                return records
            assert time.monotonic() < deadline, {i: r.get("status") for i, r in records.items()}
            time.sleep(0.1)

    def stats(self) -> dict:
        return requests.get(f"{self.fake}/_fake/stats", timeout=10).json()

    def fault(self, **fault) -> None:
        requests.post(f"{self.fake}/_fake/faults", json=fault, timeout=10).raise_for_status()

    def search(self, q: str, **params) -> dict:
        r = requests.get(f"{self.api}/search", params={"q": q, **params}, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def vertex(tmp_path_factory):
    stack = LocalStack(tmp_path_factory.mktemp("vertex-stack"), with_scheduler=False, inference="vertex").start()
    try:
        yield Env(stack)
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def corpus(vertex):
    tag = uuid.uuid4().hex[:8]
    ids = {key: vertex.upload(f"v-{tag}/{key}.txt", text) for key, text in TOPICS.items()}
    records = vertex.wait(ids.values())
    assert all(r["status"] == "done" for r in records.values()), {i: r.get("error") for i, r in records.items()}
    return ids, records


def test_the_whole_pipeline_runs_on_the_vertex_backend(vertex, corpus):
    ids, records = corpus
    stats = vertex.stats()
    assert stats["refusals"] == []  # nothing the fake (like Vertex) would refuse was sent
    assert any(k.endswith(":generateContent") for k in stats["answered"])
    assert any(k.startswith("text-embedding-005:") for k in stats["answered"])
    for record in records.values():
        analysis = record["analysis"]
        assert analysis["backend"] == "vertex" and analysis["model"].startswith("gemini-3")
        assert analysis["summary"] and analysis["usage"]["model_calls"] >= 1 and analysis["usage"]["input_tokens"] > 0
        assert record["embedding_space"] == "vertex:text-embedding-005:768"
        assert record["index"]["chunks"] >= 1 and record["index"]["usage"]["model_calls"] >= 1
    assert vertex.search("when is the fog horn sounded")["results"][0]["document_id"] == ids["lighthouse"]


def test_content_analysed_before_makes_no_model_call(vertex, corpus):
    ids, records = corpus
    before = vertex.stats()["calls"]
    again = vertex.upload(f"copy-{uuid.uuid4().hex[:8]}/same.txt", TOPICS["chess"])
    record = vertex.wait([again])[again]
    assert record["status"] == "done"
    assert vertex.stats()["calls"] == before  # not one model call for content seen before
    assert record["analysis"]["reused"] is True and record["index"]["reused_from"] == ids["chess"]


# How late a step's logged start may be after Cloud Tasks dispatched it: a Firestore transaction
# comes first, and under a busy core one of them took 0.5 s+ (a run's 45 starts in 6.3 s against
# 44.9 allowed). A queue ignoring its rate (30 dispatches at once) still fails by far.
LATENCY_S = 1.0


def _starts(log_path, since: datetime, expected: int, timeout_s: float = 20.0) -> list[float]:
    """When the analyse function started steps (its own log lines), after `since`; waits until at
    least `expected` are written (another process writes them), skipping a line still half-written."""
    deadline = time.monotonic() + timeout_s
    while True:
        times = _read_starts(log_path, since)
        if len(times) >= expected or time.monotonic() > deadline:
            return times
        time.sleep(0.1)


def _read_starts(log_path, since: datetime) -> list[float]:
    times = []
    for line in log_path.read_text().splitlines():
        if line.startswith("{") and line.endswith("}") and '"step started"' in line:
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["time"])
            if at >= since:
                times.append(at.timestamp())
    return sorted(times)


def test_a_429_storm_ends_with_every_document_done_and_no_queue_above_its_rate(vertex):
    from contentflow.documents import utcnow

    since = utcnow()
    # Longer than the backend's in-process retries: the Cloud Tasks queue's retries carry it.
    vertex.fault(mode="rate_limit", count=60, methods=["generateContent"])
    tag = uuid.uuid4().hex[:8]
    # More documents than the queue's burst, so a queue ignoring its rate could not pass the check below.
    ids = [vertex.upload(f"storm-{tag}/{i}.txt", f"Storm document {i} {tag}. " + TOPICS["glacier"]) for i in range(30)]
    records = vertex.wait(ids, timeout=240)
    assert all(r["status"] == "done" for r in records.values()), {i: r.get("error") for i, r in records.items()}
    assert vertex.stats()["faults_served"].get("rate_limit") == 60
    assert any(r["steps"]["analyse"]["attempts"] > 1 for r in records.values())  # the queue retried
    # Token bucket: in any window of w seconds at most burst + rate * w dispatches. The function logs
    # a start a little after Cloud Tasks dispatched it (a transaction first): LATENCY_S allows for it.
    limits = vertex.stack.spec.queues["model-calls"].rate_limits
    starts = _starts(vertex.stack.data_dir / "logs" / "fn-analyse.log", since, expected=len(ids))
    assert len(starts) >= len(ids)
    for i, t0 in enumerate(starts):
        for j in range(i, len(starts)):
            window = starts[j] - t0
            allowed = limits.max_burst_size + limits.max_dispatches_per_second * (window + LATENCY_S) + 1
            assert j - i + 1 <= allowed, (i, j, window)


def _backfill(vertex, **body) -> dict:
    r = requests.post(vertex.stack.function_url("backfill"), json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def _wait_coverage(vertex, timeout=120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        coverage = requests.get(vertex.stack.function_url("backfill"), timeout=30).json()["coverage"]
        if coverage["complete"]:
            return coverage
        assert time.monotonic() < deadline, coverage
        time.sleep(0.3)


def test_a_model_change_never_mixes_vectors_and_the_backfill_finishes_resumes_and_is_idempotent(vertex, corpus):
    ids, records = corpus
    old_space = records[ids["lighthouse"]]["embedding_space"]
    done = vertex.search("lighthouse")["coverage"]["documents_done"]
    assert done >= len(TOPICS)
    # Redeploy with another embedding model of the SAME dimension (768): Firestore alone would
    # happily compare the two models' vectors.
    new_model = {"CONTENTFLOW_INFERENCE__EMBEDDING_MODEL": "text-multilingual-embedding-002"}
    for function in ("api", "index", "reembed", "backfill"):
        vertex.stack.restart_function(function, new_model)
    new_space = "vertex:text-multilingual-embedding-002:768"
    body = vertex.search("when is the fog horn sounded")
    assert body["space"] == new_space and body["results"] == []  # no old-model hit, ever
    assert body["coverage"]["documents_indexed"] == 0

    # A document whose chunks are gone cannot be re-embedded: it is recorded, not retried forever.
    vertex.storage.bucket(vertex.stack.bucket("processed")).blob(f"{ids['glacier']}/chunks.jsonl").delete()
    # One page, then the run stops, as a killed run would after saving its cursor.
    first = _backfill(vertex, page_size=2, max_pages=1)
    assert first["space"] == new_space and first["complete"] is False and first["cursor"]
    assert first["scanned"] == 2 and first["this_run"]["enqueued"] == 2
    vertex.stack.restart_function("backfill")  # the job's state lives in Firestore, not the instance
    rest = _backfill(vertex, page_size=2)
    assert rest["pass"] == first["pass"] and rest["scanned"] == done  # resumed after the cursor, not from the start
    assert rest["complete"] is True and rest["enqueued"] == done
    coverage = _wait_coverage(vertex)
    assert coverage["documents_indexed"] == coverage["documents_done"] - 1
    assert coverage["documents_not_reembeddable"] == 1
    glacier = vertex.db.collection("documents").document(ids["glacier"]).get().to_dict()
    assert glacier["reembed_failed"]["space"] == new_space and "no longer exists" in glacier["reembed_failed"]["reason"]
    assert glacier["embedding_space"] == old_space  # its record still says where its vectors are

    body = vertex.search("when is the fog horn sounded")
    assert body["results"][0]["document_id"] == ids["lighthouse"]
    chunks = vertex.db.collection("chunks").where(filter=FieldFilter("document_id", "==", ids["lighthouse"])).stream()
    assert {c.get("embedding_space") for c in chunks} == {new_space}  # the old model's vectors are gone
    assert vertex.db.collection("documents").document(ids["lighthouse"]).get().get("embedding_space") == new_space

    calls = vertex.stats()["calls"]
    again = _backfill(vertex)
    assert again["this_run"] == {"pages": 0, "enqueued": 0} and vertex.stats()["calls"] == calls  # a no-op
    assert old_space != new_space


def test_an_image_is_read_by_gemini_and_the_record_says_so(vertex):
    """No tesseract in the Cloud Functions runtime: with the vertex backend, extract sends the
    page images the sandboxed worker prepared to Gemini (the local server reads their pixels)."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (900, 160), "white")
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 40)
    ImageDraw.Draw(image).text((20, 50), "RECHNUNG 2026-0042", fill="black", font=font)
    out = io.BytesIO()
    image.save(out, "PNG")
    blob = vertex.inbox.blob(f"ocr-{uuid.uuid4().hex[:8]}/rechnung.png")
    blob.upload_from_string(out.getvalue(), content_type="image/png")
    doc_id = document_id_for(vertex.inbox.name, blob.name, blob.md5_hash, blob.generation)
    record = vertex.wait([doc_id])[doc_id]
    assert record["status"] == "done", record.get("error")
    extraction = record["stats"]["extraction"]
    assert extraction["extractor"] == "gemini" and extraction["pages_ocred"] == 1
    assert "RECHNUNG" in record["preview"]
