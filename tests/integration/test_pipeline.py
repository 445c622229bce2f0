"""Documents uploaded through google-cloud-storage travel the real local stack to `done`."""

import hashlib
import json
import time
import unicodedata
import uuid

from google.cloud.firestore_v1.base_query import FieldFilter

from contentflow.documents import document_id_for, md5_base64


def _upload(inbox, name: str, data: bytes, content_type: str = "text/plain"):
    blob = inbox.blob(name)
    blob.upload_from_string(data, content_type=content_type)
    return blob, document_id_for(inbox.name, name, blob.md5_hash, blob.generation)


def test_uploads_reach_done_with_record_processed_object_and_event(stack, inbox, storage_client, wait_status, output_events):
    texts = {
        f"it/{uuid.uuid4().hex}/report.txt": "Quarterly report\n\nRevenue grew by twelve percent.\n".encode(),
        f"it/{uuid.uuid4().hex}/notes.md": "# Notes\n\nCafe\u0301 au lait, *markdown* text.\n".encode(),
    }
    ids = {name: _upload(inbox, name, data, "text/markdown" if name.endswith(".md") else "text/plain")[1]
           for name, data in texts.items()}
    processed = storage_client.bucket(stack.bucket("processed"))
    for name, doc_id in ids.items():
        record = wait_status(doc_id)
        assert record["status"] == "done", record.get("error")
        assert record["source"]["name"] == name and record["source"]["via"] == "storage"
        assert record["content_sha256"] == hashlib.sha256(texts[name]).hexdigest()
        assert {k: v["state"] for k, v in record["steps"].items()} == {"extract": "succeeded", "analyse": "succeeded", "index": "succeeded"}
        assert all(step["attempts"] == 1 for step in record["steps"].values())
        expected_text = unicodedata.normalize("NFC", texts[name].decode()).strip()  # extraction trims the ends
        assert processed.blob(f"{doc_id}/text.txt").download_as_bytes().decode() == expected_text
        assert record["preview"] == " ".join(expected_text.split())[:500]  # whitespace collapsed
        chunks = [json.loads(line) for line in processed.blob(f"{doc_id}/chunks.jsonl").download_as_text().splitlines()]
        assert chunks and expected_text[chunks[0]["start"]:chunks[0]["end"]].strip() == chunks[0]["text"]
        assert record["outputs"] == {"text": f"gs://{processed.name}/{doc_id}/text.txt", "chunks": f"gs://{processed.name}/{doc_id}/chunks.jsonl"}
        [event] = output_events.wait_for(doc_id)
        assert event["attributes"]["event_type"] == "document.processed"
        assert event["body"]["type"] == "contentflow.document.processed"
        assert event["body"]["id"] == f"{doc_id}.document.processed"
        assert event["body"]["data"]["outputs"] == record["outputs"]
    assert "Café" in processed.blob(f"{ids[next(n for n in ids if n.endswith('.md'))]}/text.txt").download_as_text()


def _redeliver(stack, blob):
    """Publishes the blob's finalize notification again, exactly as fake-gcs-server does (a
    redelivery of the same upload event through the relay)."""
    from google.cloud import pubsub_v1

    blob.reload()
    publisher = pubsub_v1.PublisherClient()
    attributes = {"eventType": "OBJECT_FINALIZE", "bucketId": blob.bucket.name, "objectId": blob.name,
                  "objectGeneration": str(blob.generation), "payloadFormat": "JSON_API_V1"}
    topic = f"projects/{stack.project_id}/topics/gcs-notifications"
    publisher.publish(topic, json.dumps(blob._properties).encode(), **attributes).result(timeout=10)


def test_same_upload_event_twice_is_one_document_and_one_event(stack, inbox, db, wait_status, output_events):
    name = f"it/{uuid.uuid4().hex}/twice.txt"
    blob, doc_id = _upload(inbox, name, b"Delivered more than once.")
    _redeliver(stack, blob)  # while the first delivery is being processed
    wait_status(doc_id)
    _redeliver(stack, blob)  # after the document is done
    output_events.wait_for(doc_id)
    time.sleep(2.0)  # time for any extra processing or event to show up
    assert len(output_events.for_document(doc_id)) == 1
    same_source = list(db.collection("documents").where(filter=FieldFilter("source.name", "==", name)).stream())
    assert [s.id for s in same_source] == [doc_id]
    assert all(step["attempts"] == 1 for step in same_source[0].to_dict()["steps"].values())


def test_identical_reupload_is_the_same_document_a_changed_file_a_new_one(inbox, wait_status):
    name = f"it/{uuid.uuid4().hex}/versioned.txt"
    _, first = _upload(inbox, name, b"version one")
    wait_status(first)
    _, again = _upload(inbox, name, b"version one")
    _, changed = _upload(inbox, name, b"version two")
    assert again == first
    assert changed != first
    assert wait_status(changed)["status"] == "done"


def test_unreadable_file_fails_once_with_a_reason(inbox, wait_status, output_events):
    _, doc_id = _upload(inbox, f"it/{uuid.uuid4().hex}/garbage.txt", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00binary")
    record = wait_status(doc_id)
    assert record["status"] == "failed"
    assert record["error"]["step"] == "extract"
    assert record["error"]["reason"]  # a person can read it: checked exactly below
    assert record["steps"]["extract"]["attempts"] == 1 and record["steps"]["extract"]["state"] == "failed"
    [event] = output_events.wait_for(doc_id)
    assert event["attributes"]["event_type"] == "document.failed"
    assert event["body"]["data"]["error"]["reason"] == record["error"]["reason"]
    time.sleep(1.5)
    assert len(output_events.for_document(doc_id)) == 1  # no retry loop


def test_document_id_matches_what_the_api_and_sdk_compute(inbox):
    data = b"id check"
    blob, doc_id = _upload(inbox, f"it/{uuid.uuid4().hex}/id.txt", data)
    assert blob.md5_hash == md5_base64(data)
    assert doc_id == document_id_for(inbox.name, blob.name, md5_base64(data), None)


def test_object_names_beyond_ascii_travel_the_relay(inbox, wait_status):
    """Eventarc percent-encodes CloudEvent header values (ce-subject carries the object name); an
    object named in any script reaches done, its name intact in the record."""
    name = f"it/{uuid.uuid4().hex}/Q3 report – 报告 \"final\" 100%.txt"
    _, doc_id = _upload(inbox, name, "Quarterly figures, final version.".encode())
    record = wait_status(doc_id)
    assert record["status"] == "done", record.get("error")
    assert record["source"]["name"] == name
