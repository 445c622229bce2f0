"""What the fake answers: JSON instances that validate against the requested schema, filled from
the request's text; plain text; text read from images; embeddings that are deterministic,
model-specific, normalised and of the requested size. Through the real google-genai SDK."""

import io
import json
import math
from typing import Literal

import google.oauth2.credentials
import pytest
from google import genai
from google.genai import types
from PIL import Image, PngImagePlugin
from pydantic import BaseModel, ConfigDict, Field

from local.vertexfake import FakeVertex, count_tokens

pytestmark = pytest.mark.timeout(60)

DOC = ("The quarterly invoice from Acme Corp was paid three weeks late. The marketing budget was exceeded "
       "by 20 percent. Maria Lopez of Acme Corp sent a payment reminder to Globex Ltd. The contract "
       "requires payment within 30 days.")
TAXONOMY = ("Labels (name: description):\n- finance: money, invoices, budgets and payments\n"
            "- sport: football, athletes, games and tournaments\n- health: illness, doctors and hospitals\n"
            "- legal: contracts, courts and regulation")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Label(_Strict):
    name: Literal["finance", "sport", "health", "legal"]
    score: float = Field(ge=0, le=1)


class Entity(_Strict):
    type: Literal["person", "organization", "location", "other"]
    text: str = Field(min_length=1, max_length=200)
    count: int = Field(ge=1)


class Sentiment(_Strict):
    label: Literal["positive", "negative", "neutral", "mixed"]
    score: float = Field(ge=-1, le=1)


class Report(_Strict):
    summary: str = Field(max_length=400)
    labels: list[Label] = Field(max_length=3)
    keywords: list[str] = Field(min_length=1, max_length=20)
    entities: list[Entity] = Field(max_length=50)
    sentiment: Sentiment | None
    due_days: int = Field(ge=1, le=365)
    urgent: bool


@pytest.fixture(scope="module")
def fake():
    server = FakeVertex(port=0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(fake):
    c = genai.Client(vertexai=True, project="test-project", location="global",
                     credentials=google.oauth2.credentials.Credentials(token="t"),
                     http_options=types.HttpOptions(base_url=fake.url, timeout=10_000))
    yield c
    c.close()


def ask(client, schema_kw, contents=None, system=TAXONOMY, model="gemini-3.5-flash-lite"):
    return client.models.generate_content(
        model=model, contents=contents or [f"<document>\n{DOC}\n</document>"],
        config=types.GenerateContentConfig(temperature=0, response_mime_type="application/json",
                                           system_instruction=system, **schema_kw))


@pytest.mark.parametrize("schema_kw", [{"response_schema": Report},
                                       {"response_json_schema": Report.model_json_schema()}],
                         ids=["openapi-schema", "json-schema"])
def test_structured_answer_validates_and_comes_from_the_document(client, schema_kw):
    response = ask(client, schema_kw)
    report = Report.model_validate_json(response.text)
    assert report.summary.startswith("The quarterly invoice from Acme Corp was paid three weeks late.")
    assert report.summary in DOC
    assert report.labels[0].name == "finance"  # invoices, budget, payment: the finance description
    assert "sport" not in [lb.name for lb in report.labels] and "health" not in [lb.name for lb in report.labels]
    assert all(k.lower() in DOC.lower() for k in report.keywords)
    assert {"Acme Corp", "Maria Lopez"} & {e.text for e in report.entities}
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    meta = response.usage_metadata
    assert meta.prompt_token_count >= count_tokens(DOC) + count_tokens(TAXONOMY)
    assert meta.candidates_token_count == count_tokens(response.text)
    assert meta.total_token_count == meta.prompt_token_count + meta.candidates_token_count
    assert response.model_version == "gemini-3.5-flash-lite"


def test_answer_is_deterministic_and_follows_the_input(client):
    first, again = ask(client, {"response_schema": Report}).text, ask(client, {"response_schema": Report}).text
    assert first == again
    sport = "The football tournament ended with a late goal. The athletes celebrated the games."
    other = Report.model_validate_json(ask(client, {"response_schema": Report}, [f"<document>{sport}</document>"]).text)
    assert other.labels[0].name == "sport" and other.summary.startswith("The football tournament")


def test_enum_descriptions_in_the_schema_guide_the_choice(client):
    schema = {"type": "OBJECT", "required": ["topic"], "properties": {"topic": {
        "type": "STRING", "enum": ["t1", "t2"], "description": "t1: gardening and plants\nt2: invoices and payments"}}}
    answer = json.loads(ask(client, {"response_schema": schema}, system=None).text)
    assert answer == {"topic": "t2"}


def test_plain_text_without_schema_is_the_first_sentences(client):
    response = client.models.generate_content(model="gemini-3.5-flash", contents=DOC)
    assert response.text == ("The quarterly invoice from Acme Corp was paid three weeks late. "
                             "The marketing budget was exceeded by 20 percent.")


def test_max_output_tokens_cuts_the_answer(client):
    response = client.models.generate_content(model="gemini-3.5-flash", contents=DOC,
                                              config=types.GenerateContentConfig(max_output_tokens=5))
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert response.usage_metadata.candidates_token_count <= 5 and DOC.startswith(response.text)


def test_v1_path_and_count_tokens(fake):
    c = genai.Client(vertexai=True, project="p", location="europe-west4",
                     credentials=google.oauth2.credentials.Credentials(token="t"),
                     http_options=types.HttpOptions(base_url=fake.url, api_version="v1", timeout=10_000))
    try:
        assert c.models.generate_content(model="gemini-3.5-flash", contents=DOC).text
        assert c.models.count_tokens(model="gemini-3.5-flash", contents=DOC).total_tokens == count_tokens(DOC)
    finally:
        c.close()
    assert any(r["method"] == "countTokens" for r in fake.stats()["requests"])


def png_with_text(text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", text)
    out = io.BytesIO()
    Image.new("RGB", (40, 20), "white").save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def test_image_part_answers_the_text_embedded_in_the_image(client):
    response = client.models.generate_content(model="gemini-3.5-flash", contents=[
        types.Part.from_bytes(data=png_with_text("INVOICE 2026-0042\nTotal: 120 EUR"), mime_type="image/png"),
        "Transcribe the text in this image."])
    assert response.text == "INVOICE 2026-0042\nTotal: 120 EUR"
    assert response.usage_metadata.prompt_token_count == 258 + count_tokens("Transcribe the text in this image.")


# --- embeddings --------------------------------------------------------------------------------

def vectors(client, model, texts, dim, task="RETRIEVAL_DOCUMENT"):
    if model.startswith("gemini-embedding"):  # one text per request for these
        return [client.models.embed_content(model=model, contents=[t], config=types.EmbedContentConfig(
            task_type=task, output_dimensionality=dim)).embeddings[0].values for t in texts]
    return [e.values for e in client.models.embed_content(model=model, contents=texts, config=types.EmbedContentConfig(
        task_type=task, output_dimensionality=dim)).embeddings]


def cos(a, b):
    return sum(x * y for x, y in zip(a, b))


@pytest.mark.parametrize("model,dim", [("text-embedding-005", 256), ("text-multilingual-embedding-002", 768),
                                       ("gemini-embedding-001", 1536), ("gemini-embedding-2", 64)])
def test_vectors_have_the_requested_size_are_normalised_and_deterministic(client, model, dim):
    a1, b = vectors(client, model, [DOC, "A football match in the rain."], dim)
    (a2,) = vectors(client, model, [DOC], dim)
    assert len(a1) == dim and len(b) == dim
    assert math.isclose(math.sqrt(cos(a1, a1)), 1.0, abs_tol=1e-9)
    assert a1 == a2


def test_other_model_gives_an_unrelated_vector_of_the_same_size(client):
    (v005,) = vectors(client, "text-embedding-005", [DOC], 768)
    (v002,) = vectors(client, "text-multilingual-embedding-002", [DOC], 768)
    assert len(v005) == len(v002) and abs(cos(v005, v002)) < 0.2


def test_vectors_are_meaningful_enough_for_search(client):
    docs = ["Invoices and payments are due at the end of the month.", "The football team won the cup final.",
            "The hospital hired three new doctors."]
    query = vectors(client, "text-embedding-005", ["when are invoice payments due"], 128, "RETRIEVAL_QUERY")[0]
    ranked = sorted(range(3), key=lambda i: -cos(query, vectors(client, "text-embedding-005", [docs[i]], 128)[0]))
    assert ranked[0] == 0


def test_embed_content_answer_shape_and_billing_metadata(client):
    gem = client.models.embed_content(model="gemini-embedding-2", contents=["hello world"],
                                      config=types.EmbedContentConfig(output_dimensionality=8))
    assert gem.embeddings[0].statistics.token_count == count_tokens("hello world")
    assert gem.usage_metadata.prompt_token_count == count_tokens("hello world")
    text = client.models.embed_content(model="text-embedding-005", contents=["ab c", "d e"],
                                       config=types.EmbedContentConfig(output_dimensionality=8))
    assert text.metadata.billable_character_count == 5  # characters without whitespace
