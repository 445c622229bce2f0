"""Analysis and semantic search on the local stack with the default (local, offline) backend:
every document gets a bounded analysis from the taxonomy, its chunks become chunk documents with
vectors of the current embedding space, GET /search finds it, identical content is analysed and
embedded once."""

import uuid

import pytest
import requests
from google.cloud.firestore_v1.base_query import FieldFilter

from contentflow.documents import document_id_for
from contentflow.inference import load_taxonomy
from contentflow.spec import load_spec

SPEC = load_spec()
TAXONOMY = {label.name for label in load_taxonomy().labels}

TYPEWRITER = """Restoring a vintage typewriter

Before anything else, blow the dust out of the segment and the type bars with compressed air. A
sluggish type bar is almost always dried oil and grime in its slot: a drop of mineral spirits worked
in with the key pressed and released twenty times frees it. Never oil the segment afterwards, because
oil collects dust and the bars will stick again within months.

The platen hardens with age and the letters start to punch holes in the paper. A recovered platen
costs about as much as the machine itself, so most collectors first try a softer backing sheet.
Finally, replace the ribbon: a fresh cotton ribbon gives darker, more even letters than nylon."""

HEAT_PUMP = """Heating the house with a heat pump and solar panels

Our air-source heat pump replaced the gas boiler last spring. It draws about 3,200 kilowatt hours of
electricity a year and delivers nearly three times that as heat. The rooftop solar panels produce
4,100 kilowatt hours, most of it in summer, so a home battery stores the midday surplus for the
evening. The electricity tariff with cheap night rates makes charging the battery from the grid in
winter worthwhile. Radiators were enlarged in two rooms because a heat pump runs at lower water
temperatures than a boiler."""

TRAM_TIMETABLE = """Changes to the tram timetable from 3 March

Line 4 will run every eight minutes on weekdays between 6 am and 8 pm instead of every ten minutes.
Night services on lines 1 and 7 are extended to 2 am on Fridays and Saturdays. The stop at Market
Square is closed for platform works until the end of April; use the temporary stop on Bridge Street.
Season tickets bought before the change remain valid, and fares are unchanged."""


@pytest.fixture(scope="module")
def api(stack):
    return stack.function_url("api").rstrip("/")


def _upload(inbox, name: str, text: str) -> str:
    blob = inbox.blob(name)
    blob.upload_from_string(text.encode(), content_type="text/plain")
    return document_id_for(inbox.name, name, blob.md5_hash, blob.generation)


@pytest.fixture(scope="module")
def indexed(stack, inbox, wait_status):
    tag = uuid.uuid4().hex[:8]  # unique content per run: nothing cached from an earlier test
    texts = {"typewriter": TYPEWRITER + f"\n\nRef {tag}.", "trams": TRAM_TIMETABLE + f"\n\nRef {tag}.",
             "heating": HEAT_PUMP + f"\n\nRef {tag}."}
    ids = {key: _upload(inbox, f"search-{tag}/{key}.txt", text) for key, text in texts.items()}
    records = {key: wait_status(doc_id, timeout=60) for key, doc_id in ids.items()}
    for key, record in records.items():
        assert record["status"] == "done", record.get("error")
    return ids, records, texts


def test_every_document_has_a_bounded_analysis_from_the_taxonomy(indexed):
    ids, records, texts = indexed
    for key, record in records.items():
        analysis, text = record["analysis"], texts[key]
        assert analysis["backend"] == "local" and analysis["model"] and analysis["prompt_version"]
        assert analysis["summary"] and len(analysis["summary"]) <= 2000
        assert set(record["labels"]) <= TAXONOMY and record["labels"] == [label["name"] for label in analysis["labels"]]
        assert all(0.0 <= label["score"] <= 1.0 for label in analysis["labels"])
        assert analysis["reused"] is False
        # Never a made-up value: what the offline backend cannot do, it says (person, organization
        # and location names need the vertex backend); what it finds by pattern is real.
        assert "entities" in analysis["unavailable"] and all(analysis["unavailable"].values())
        assert {e["type"] for e in analysis["entities"]} <= {"email", "url", "phone", "money", "percent", "date"}
        assert analysis["sentiment"]["label"] in ("positive", "negative", "neutral", "mixed")  # English: VADER
        flat = " ".join(text.split()).lower()
        assert analysis["keywords"] and all(" ".join(k.split()).lower() in flat for k in analysis["keywords"])
    # The summary is taken from the document (extractive), not invented.
    first_sentence = records["typewriter"]["analysis"]["summary"].split(". ")[0]
    assert first_sentence[:40] in " ".join(TYPEWRITER.split())
    assert {"date": "3 March"}.items() <= {e["type"]: e["text"] for e in records["trams"]["analysis"]["entities"]}.items()


def test_chunks_are_stored_with_vectors_of_the_current_space(indexed, db):
    ids, records, _ = indexed
    record = records["typewriter"]
    space = record["embedding_space"]
    assert space == f"local:{record['index']['model']}:{SPEC.embeddings.dimensions['local']}"
    chunks = list(db.collection(SPEC.embeddings.collection).where(filter=FieldFilter("document_id", "==", ids["typewriter"])).stream())
    assert len(chunks) == record["index"]["chunks"] == record["stats"]["extraction"]["chunk_count"]
    for snap in chunks:
        data = snap.to_dict()
        assert data["embedding_space"] == space and data["labels"] == record["labels"]
        assert len(list(data[SPEC.embeddings.field])) == SPEC.embeddings.dimensions["local"]
        assert data["text"] and data["start"] < data["end"]


def test_search_ranks_the_matching_document_first_with_its_chunk(indexed, api):
    ids, _, _ = indexed
    r = requests.get(f"{api}/search", params={"q": "my old typing machine has keys that stick", "limit": 5}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["results"][0]["document_id"] == ids["typewriter"]
    top = body["results"][0]
    assert top["title"] and top["hits"] and 0 < top["score"] <= 1
    hit = top["hits"][0]
    assert {"text", "page", "start", "end", "score", "chunk"} <= set(hit)
    assert body["space"].startswith("local:") and body["coverage"]["documents_indexed"] >= 2
    assert len({d["document_id"] for d in body["results"]}) == len(body["results"])  # grouped by document

    r = requests.get(f"{api}/search", params={"q": "night trams at the weekend"}, timeout=30)
    assert r.json()["results"][0]["document_id"] == ids["trams"]


def test_search_filters_by_label_and_document(indexed, api):
    ids, records, _ = indexed
    assert "energy" in records["heating"]["labels"]
    r = requests.get(f"{api}/search", params={"q": "ribbon and platen", "label": "energy"}, timeout=30)
    assert r.status_code == 200 and r.json()["results"]
    assert all("energy" in d["labels"] for d in r.json()["results"])
    assert ids["heating"] in {d["document_id"] for d in r.json()["results"]}
    assert ids["typewriter"] not in {d["document_id"] for d in r.json()["results"]}
    r = requests.get(f"{api}/search", params={"q": "ribbon and platen", "document_id": ids["trams"]}, timeout=30)
    assert [d["document_id"] for d in r.json()["results"]] == [ids["trams"]]


@pytest.mark.parametrize("params, where", [
    ({}, "q"), ({"q": ""}, "q"), ({"q": "x" * 1001}, "q"), ({"q": "typewriter", "limit": "0"}, "limit"),
    ({"q": "typewriter", "limit": "many"}, "limit"), ({"q": "typewriter", "label": "Not A Label!"}, "label"),
    ({"q": "typewriter", "colour": "red"}, "colour"), ({"q": "typewriter", "document_id": "../etc"}, "document_id"),
])
def test_bad_search_requests_are_400_with_the_error_shape(api, params, where):
    r = requests.get(f"{api}/search", params=params, timeout=30)
    assert r.status_code == 400, r.text
    assert where in r.json()["error"]["message"]


def test_identical_content_reuses_analysis_and_embeddings(indexed, inbox, wait_status):
    ids, records, texts = indexed
    first = records["typewriter"]
    copy_id = _upload(inbox, f"copies-{uuid.uuid4().hex[:8]}/same-typewriter.txt", texts["typewriter"])  # another name, same bytes
    record = wait_status(copy_id, timeout=60)
    assert record["status"] == "done" and record["content_sha256"] == first["content_sha256"]
    assert record["analysis"]["reused"] is True and record["analysis"]["usage"]["model_calls"] == 0
    assert record["analysis"]["summary"] == first["analysis"]["summary"]
    assert record["index"]["reused_from"] == ids["typewriter"] and record["index"]["usage"] is None
    assert record["embedding_space"] == first["embedding_space"]
