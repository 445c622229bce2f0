"""The fake refuses what Vertex AI refuses, with Vertex's status and error body, and serves the
faults tests ask for. Driven through the real google-genai SDK where it can send the request."""

import json
import time
import urllib.error
import urllib.request

import google.oauth2.credentials
import pytest
from google import genai
from google.genai import errors, types

from local.vertexfake import FakeVertex

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def fake():
    server = FakeVertex(port=0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def clean(fake):
    fake.reset()


@pytest.fixture(scope="module")
def client(fake):
    c = genai.Client(vertexai=True, project="test-project", location="us-central1",
                     credentials=google.oauth2.credentials.Credentials(token="t"),
                     http_options=types.HttpOptions(base_url=fake.url, timeout=10_000))
    yield c
    c.close()


def embed(client, model, texts, dim=None, auto_truncate=None, task="RETRIEVAL_DOCUMENT"):
    return client.models.embed_content(model=model, contents=texts, config=types.EmbedContentConfig(
        task_type=task, output_dimensionality=dim, auto_truncate=auto_truncate))


def raw_post(fake, path, body, token="t"):
    """(status, parsed body) of a POST that the SDK would not send as is."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(fake.url + path, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def words(n, word="alpha"):
    return " ".join([word] * n)  # each short ASCII word is one token for the fake


# --- refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["text-embedding-005", "text-multilingual-embedding-002"])
def test_more_than_250_instances_refused_250_accepted(fake, client, model):
    assert len(embed(client, model, ["short text"] * 250, dim=8).embeddings) == 250
    with pytest.raises(errors.ClientError) as exc:
        embed(client, model, ["short text"] * 251, dim=8)
    assert (exc.value.code, exc.value.status) == (400, "INVALID_ARGUMENT")
    assert "251" in exc.value.message and "250" in exc.value.message
    assert fake.stats()["refusals"][-1]["model"] == model


def test_error_body_is_vertex_shape(fake):
    status, body = raw_post(fake, "/v1/projects/p/locations/l/publishers/google/models/text-embedding-005:predict",
                            {"instances": [{"content": "x"}] * 251})
    assert status == 400
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "status"}
    assert body["error"]["code"] == 400 and body["error"]["status"] == "INVALID_ARGUMENT"


def test_more_than_20000_tokens_in_one_request_refused(fake, client):
    texts = [words(2000)] * 10  # 20,000 tokens: the limit itself is accepted
    assert len(embed(client, "text-embedding-005", texts, dim=8, auto_truncate=False).embeddings) == 10
    with pytest.raises(errors.ClientError) as exc:
        embed(client, "text-embedding-005", texts + ["one more"], dim=8, auto_truncate=False)
    assert exc.value.code == 400 and "20000" in exc.value.message
    assert fake.stats()["per_method"]["text-embedding-005:predict"]["tokens_per_request"] == [20000, 20002]


def test_text_over_2048_tokens_refused_without_auto_truncate_and_cut_with_it(fake, client):
    assert embed(client, "text-embedding-005", [words(2048)], dim=8, auto_truncate=False).embeddings
    with pytest.raises(errors.ClientError) as exc:
        embed(client, "text-embedding-005", [words(2049)], dim=8, auto_truncate=False)
    assert exc.value.code == 400 and "2049" in exc.value.message
    for auto in (True, None):  # Vertex truncates by default
        stats = embed(client, "text-embedding-005", [words(3000)], dim=8, auto_truncate=auto).embeddings[0].statistics
        assert stats.truncated is True and stats.token_count == 2048


def test_gemini_embedding_001_takes_one_instance(fake, client):
    one = embed(client, "gemini-embedding-001", ["a single text"])
    assert len(one.embeddings[0].values) == 3072  # native size when none is asked for
    with pytest.raises(errors.ClientError) as exc:
        embed(client, "gemini-embedding-001", ["first", "second"])
    assert exc.value.code == 400 and "1 instance" in exc.value.message


@pytest.mark.parametrize("model,bad,good", [
    ("text-embedding-005", 769, 768), ("text-embedding-005", 0, 1),
    ("text-multilingual-embedding-002", 1024, 768), ("gemini-embedding-001", 3073, 3072),
])
def test_unsupported_output_dimensionality_refused(client, model, bad, good):
    assert len(embed(client, model, ["text"], dim=good).embeddings[0].values) == good
    with pytest.raises(errors.ClientError) as exc:
        embed(client, model, ["text"], dim=bad)
    assert exc.value.code == 400 and "outputDimensionality" in exc.value.message


@pytest.mark.parametrize("model", ["text-embedding-999", "gemini-2.5-flash", "gemini-1.5-pro", "no-such-model"])
def test_unknown_or_retired_model_is_not_found(client, model):
    with pytest.raises(errors.ClientError) as exc:
        client.models.generate_content(model=model, contents="hello")
    assert (exc.value.code, exc.value.status) == (404, "NOT_FOUND")
    assert model in exc.value.message


def test_wrong_method_for_model_refused(client):
    with pytest.raises(errors.ClientError) as exc:
        client.models.generate_content(model="text-embedding-005", contents="hello")
    assert exc.value.code == 400


def test_missing_credentials_refused(fake):
    status, body = raw_post(fake, "/v1beta1/projects/p/locations/l/publishers/google/models/gemini-3.5-flash:generateContent",
                            {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, token=None)
    assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"


def test_schema_without_json_mime_type_refused(client):
    with pytest.raises(errors.ClientError) as exc:
        client.models.generate_content(model="gemini-3.5-flash", contents="hello", config=types.GenerateContentConfig(
            response_schema={"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}))
    assert exc.value.code == 400 and "application/json" in exc.value.message


def test_refusals_are_recorded_with_reasons(fake, client):
    with pytest.raises(errors.ClientError):
        embed(client, "gemini-embedding-001", ["a", "b"])
    (refusal,) = fake.stats()["refusals"]
    assert refusal["model"] == "gemini-embedding-001" and refusal["method"] == "predict"
    assert refusal["code"] == 400 and "1 instance" in refusal["reason"]


# --- faults ----------------------------------------------------------------------------------

def test_rate_limit_fault_answers_429_for_the_next_n_calls(fake, client):
    fake.add_fault("rate_limit", count=3)
    for _ in range(3):
        with pytest.raises(errors.ClientError) as exc:
            client.models.generate_content(model="gemini-3.5-flash-lite", contents="hello there. more text.")
        assert (exc.value.code, exc.value.status) == (429, "RESOURCE_EXHAUSTED")
        assert exc.value.message == "Resource exhausted, please try again later."
    assert client.models.generate_content(model="gemini-3.5-flash-lite", contents="hello there. more text.").text
    stats = fake.stats()
    assert stats["faults_served"] == {"rate_limit": 3} and stats["refusals"] == []
    assert stats["calls"]["gemini-3.5-flash-lite:generateContent"] == 4


def test_unavailable_fault_over_http_control_plane_hits_embeddings_too(fake, client):
    status, body = raw_post(fake, "/_fake/faults", {"mode": "unavailable", "count": 2})
    assert status == 200 and body["faults"][0]["mode"] == "unavailable"
    for _ in range(2):
        with pytest.raises(errors.ServerError) as exc:
            embed(client, "text-embedding-005", ["text"], dim=4)
        assert (exc.value.code, exc.value.status) == (503, "UNAVAILABLE")
    assert embed(client, "text-embedding-005", ["text"], dim=4).embeddings
    with urllib.request.urlopen(fake.url + "/_fake/stats", timeout=10) as resp:
        assert json.loads(resp.read())["faults_served"] == {"unavailable": 2}


def test_fault_storm_lasting_seconds(fake, client):
    fake.add_fault("rate_limit", seconds=0.4)
    failures, deadline = 0, time.monotonic() + 10
    while time.monotonic() < deadline:  # calls fail until the storm is over, then succeed
        try:
            embed(client, "text-embedding-005", ["text"], dim=4)
            break
        except errors.ClientError as exc:
            assert exc.code == 429
            failures += 1
    else:
        pytest.fail("the storm did not end")
    assert failures >= 1 and fake.faults() == []


JSON_CONFIG = types.GenerateContentConfig(response_mime_type="application/json", response_schema={
    "type": "OBJECT", "properties": {"summary": {"type": "STRING"}, "rank": {"type": "INTEGER"}},
    "required": ["summary", "rank"]})


def test_malformed_json_fault_once_then_valid(fake, client):
    fake.add_fault("malformed_json", count=1)
    bad = client.models.generate_content(model="gemini-3.5-flash", contents="Some text. More.", config=JSON_CONFIG)
    with pytest.raises(ValueError):
        json.loads(bad.text)
    good = client.models.generate_content(model="gemini-3.5-flash", contents="Some text. More.", config=JSON_CONFIG)
    assert set(json.loads(good.text)) == {"summary", "rank"}


def test_json_faults_leave_embeddings_and_plain_text_alone(fake, client):
    fake.add_fault("malformed_json", count=1)
    assert embed(client, "text-embedding-005", ["text"], dim=4).embeddings
    assert client.models.generate_content(model="gemini-3.5-flash", contents="Plain text. Answer.").text
    assert fake.faults()[0]["count_left"] == 1


def test_schema_violation_fault_is_json_that_breaks_the_schema(fake, client):
    fake.add_fault("schema_violation", count=1)
    answer = json.loads(client.models.generate_content(
        model="gemini-3.5-flash", contents="Some text. More.", config=JSON_CONFIG).text)
    assert "summary" not in answer and not isinstance(answer.get("rank"), int)
    assert fake.stats()["faults_served"] == {"schema_violation": 1}


def test_delay_fault_makes_the_call_slow(fake, client):
    fake.add_fault("delay", count=1, delay_s=2.0)
    with pytest.raises(Exception) as exc:
        client.models.generate_content(model="gemini-3.5-flash", contents="Text. More.",
                                       config=types.GenerateContentConfig(http_options=types.HttpOptions(timeout=300)))
    assert "Timeout" in type(exc.value).__name__


def test_faults_can_target_a_method(fake, client):
    fake.add_fault("rate_limit", count=1, methods=["predict"])
    assert client.models.generate_content(model="gemini-3.5-flash", contents="Text. More.").text
    with pytest.raises(errors.ClientError):
        embed(client, "text-embedding-005", ["text"], dim=4)


@pytest.mark.parametrize("spec", [{"mode": "meteor", "count": 1}, {"mode": "rate_limit"},
                                  {"mode": "rate_limit", "count": 0}, {"mode": "rate_limit", "count": 1, "x": 1}])
def test_bad_fault_requests_refused(fake, spec):
    status, body = raw_post(fake, "/_fake/faults", spec)
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    assert fake.faults() == []


def test_reset_clears_faults_and_stats(fake, client):
    fake.add_fault("rate_limit", count=5)
    with pytest.raises(errors.ClientError):
        embed(client, "text-embedding-005", ["text"], dim=4)
    status, _ = raw_post(fake, "/_fake/reset", {})
    assert status == 200 and fake.faults() == [] and fake.stats()["calls"] == {}
    assert embed(client, "text-embedding-005", ["text"], dim=4).embeddings
