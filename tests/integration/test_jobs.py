"""The scheduled jobs (retention, report, reconcile), each fired through the local scheduler's path
(the same request Cloud Scheduler sends) against the shared local stack.

The stack is shared with other tests: a job sees their documents too, so expectations are either
about this test's own documents or bracketed by what Firestore holds before and after the run."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import requests
from google.cloud.firestore_v1.base_query import FieldFilter

from contentflow.documents import document_id_for
from contentflow.jobs.report import normalise_reason
from local.scheduler import fire


def _upload(inbox, name: str, data: bytes, content_type: str = "text/plain") -> str:
    blob = inbox.blob(name)
    blob.upload_from_string(data, content_type=content_type)
    return document_id_for(inbox.name, name, blob.md5_hash, blob.generation)


def _fire(stack, job_name: str, **options) -> dict:
    """Fires the spec's schedule through the local scheduler's path, with `options` added to its body."""
    schedule = stack.spec.schedules[job_name]
    if options:
        target = schedule.target.model_copy(update={"body": {**schedule.target.body, **options}})
        schedule = schedule.model_copy(update={"target": target})
    response = fire(job_name, schedule, stack.function_url(schedule.target.function), timeout_s=120)
    assert response.status_code == 200, response.text
    return response.json()


def _text(topic: str) -> bytes:
    return (f"{topic}\n\nA short note about {topic}, written for the scheduled jobs' tests. "
            f"It has a few sentences so that it is chunked and indexed. {uuid.uuid4().hex}\n").encode()


def _chunk_ids(db, doc_id: str) -> list[str]:
    return [s.id for s in db.collection("chunks").where(filter=FieldFilter("document_id", "==", doc_id)).stream()]


def _reusable(db, record: dict) -> list[str]:
    """The records identical content to `record`'s would reuse results of (found by its keys)."""
    return [s.id for field in ("analysis.cache_key", "index.cache_key") for s in db.collection("documents")
            .where(filter=FieldFilter(field, "==", record[field.split(".")[0]]["cache_key"])).stream()]


def _processed_objects(storage_client, stack, doc_id: str) -> list[str]:
    return [b.name for b in storage_client.list_blobs(stack.bucket("processed"), prefix=f"{doc_id}/")]


def _everything_of(db, storage_client, stack, inbox, doc_id: str, name: str, record: dict) -> dict:
    return {"record": db.collection("documents").document(doc_id).get().exists,
            "chunks": len(_chunk_ids(db, doc_id)), "reusable_results": len(_reusable(db, record)),
            "inbox_object": inbox.blob(name).exists(), "processed_objects": len(_processed_objects(storage_client, stack, doc_id))}


def test_the_jobs_function_refuses_bad_requests_with_the_error_shape(stack):
    url = stack.function_url("jobs")
    for body in ({"job": "vacuum"}, {"job": "retention", "batch_size": 0}, {"job": "report", "date": "2026-02-30"}, {}):
        response = requests.post(url, json=body, timeout=10)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["code"] == "invalid_request"
    assert requests.post(url, data=b"x" * 5000, timeout=10).status_code == 413
    assert requests.get(url, timeout=10).status_code == 405


def test_retention_deletes_old_documents_whole_in_batches_and_resumes(stack, db, inbox, storage_client, wait_status):
    run = uuid.uuid4().hex
    names = {key: f"jobs/{run}/{key}.txt" for key in ("old-1", "old-2", "old-3", "young")}
    ids = {key: _upload(inbox, name, _text(f"retention {key}")) for key, name in names.items()}
    records = {key: wait_status(doc_id, timeout=60) for key, doc_id in ids.items()}
    assert all(r["status"] == "done" for r in records.values())
    everything = lambda key: _everything_of(db, storage_client, stack, inbox, ids[key], names[key], records[key])  # noqa: E731
    before = {key: everything(key) for key in ids}
    for key, found in before.items():  # everything the deletion must remove is there to begin with
        assert found["record"] and found["inbox_object"] and found["chunks"], (key, found)
        assert found["reusable_results"] == 2, (key, found)  # its analysis and its vectors, each found by its key
        assert found["processed_objects"] >= 2, (key, found)
    # Older than the spec's retention, by a different margin each: the oldest go first.
    days = stack.spec.retention.documents_days
    now = datetime.now(timezone.utc)
    for i, key in enumerate(("old-1", "old-2", "old-3")):
        db.collection("documents").document(ids[key]).update({"created_at": now - timedelta(days=days + 3 - i)})

    first = _fire(stack, "retention", batch_size=1, max_documents=2)
    assert (first["deleted"], first["stopped_by"], first["more"]) == (2, "max_documents", True), first
    assert first["chunks_deleted"] == before["old-1"]["chunks"] + before["old-2"]["chunks"]
    assert first["objects_deleted"] == sum(before[k]["processed_objects"] + 1 for k in ("old-1", "old-2"))
    assert not db.collection("documents").document(ids["old-1"]).get().exists
    assert not db.collection("documents").document(ids["old-2"]).get().exists
    assert db.collection("documents").document(ids["old-3"]).get().exists  # left for the next run

    second = _fire(stack, "retention")  # the schedule's own body: resumes with what is left
    assert (second["deleted"], second["stopped_by"], second["more"]) == (1, "done", False), second
    for key in ("old-1", "old-2", "old-3"):
        assert everything(key) == {
            "record": False, "chunks": 0, "reusable_results": 0, "inbox_object": False, "processed_objects": 0}, key
    assert everything("young") == before["young"]

    again = _fire(stack, "retention")  # idempotent: nothing more to do, nothing else touched
    assert (again["deleted"], again["more"]) == (0, False), again
    assert everything("young") == before["young"]
    progress = db.collection("jobs").document("retention").get().to_dict()
    assert progress["deleted_total"] >= 3 and progress["last_run"]["deleted"] == 0


def _finished_count(db, status: str, start: datetime, end: datetime) -> int:
    query = (db.collection("documents").where(filter=FieldFilter("status", "==", status))
             .where(filter=FieldFilter("updated_at", ">=", start)).where(filter=FieldFilter("updated_at", "<", end)))
    return int(query.count().get()[0][0].value)


def test_daily_report_is_kept_in_firestore_and_as_json_and_served_by_the_api(stack, db, inbox, storage_client, wait_status):
    run = uuid.uuid4().hex
    done_ids = [_upload(inbox, f"jobs/{run}/report-{i}.txt", _text(f"report {i}")) for i in range(2)]
    failed_id = _upload(inbox, f"jobs/{run}/report-garbage.txt", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00binary")
    records = {doc_id: wait_status(doc_id, timeout=60) for doc_id in [*done_ids, failed_id]}
    assert [records[i]["status"] for i in done_ids] == ["done", "done"] and records[failed_id]["status"] == "failed"
    day = records[failed_id]["updated_at"].astimezone(timezone.utc).date()
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    end = start + timedelta(days=1)
    before = {s: _finished_count(db, s, start, end) for s in ("done", "failed")}

    summary = _fire(stack, "report", date=day.isoformat())

    after = {s: _finished_count(db, s, start, end) for s in ("done", "failed")}
    report = summary["report"]
    # Kept twice, the same report: a Firestore document and a JSON object in the processed bucket.
    assert summary["document"] == f"reports/{day.isoformat()}"
    assert summary["object"] == f"gs://{stack.bucket('processed')}/reports/{day.isoformat()}.json"
    stored = db.collection("reports").document(day.isoformat()).get().to_dict()
    kept_object = json.loads(storage_client.bucket(stack.bucket("processed")).blob(f"reports/{day.isoformat()}.json").download_as_bytes())
    assert stored == kept_object == report
    assert report["date"] == day.isoformat()
    assert report["complete"] == (datetime.fromisoformat(report["generated_at"]) >= end)  # today's is partial

    for status in ("done", "failed"):
        assert before[status] <= report["finished"][status] <= after[status]
    assert report["finished"]["done"] >= 2 and report["finished"]["failed"] >= 1
    assert report["received"] >= 3
    assert set(report["by_status"]) >= {"received", *(s.status for s in stack.spec.steps), "done", "failed"}
    assert report["by_status"]["done"] >= 2 and report["by_status"]["failed"] >= 1
    assert report["scan"]["limit"] == 5000 and report["scan"]["truncated"] is False
    assert sum(before.values()) <= report["scan"]["documents"] <= sum(after.values())
    # The failure, grouped under its step and its reason as the record has it (normalised).
    reason = normalise_reason(records[failed_id]["error"]["reason"])
    [group] = [g for g in report["failures"] if (g["step"], g["reason"]) == ("extract", reason)]
    assert 1 <= group["count"] <= report["finished"]["failed"]
    for example in group["example_document_ids"]:
        assert normalise_reason(db.collection("documents").document(example).get().get("error.reason")) == reason
    # Latency for every step, bracketing this test's own documents' durations.
    for step in (s.name for s in stack.spec.steps):
        latency = report["latency_ms"][step]
        ours = [records[i]["steps"][step]["duration_ms"] for i in done_ids]
        assert latency["count"] >= 2 and latency["p50_ms"] <= latency["p95_ms"] <= latency["max_ms"] >= max(ours), (step, latency)
    assert report["end_to_end_ms"]["count"] >= 2
    # Model usage as the steps recorded it, per backend and model.
    analysis = [u for u in report["model_usage"] if u["kind"] == "analysis"]
    embeddings = [u for u in report["model_usage"] if u["kind"] == "embeddings"]
    for ours, groups in (("analysis", analysis), ("index", embeddings)):
        record = records[done_ids[0]][ours]
        assert any((g["backend"], g["model"]) == (record["backend"], record["model"]) for g in groups), (ours, groups)
    assert sum(u["documents"] for u in analysis) >= 2 and sum(u["model_calls"] for u in analysis) >= 1

    # The api serves it, by day and as the latest.
    api = stack.function_url("api")
    by_day = requests.get(f"{api}reports/{day.isoformat()}", timeout=10)
    assert by_day.status_code == 200, by_day.text
    assert by_day.json() == report
    latest = requests.get(f"{api}reports/latest", timeout=10)
    assert latest.status_code == 200 and latest.json()["date"] >= day.isoformat()
    for bad in ("2026-02-30", "yesterday", "1" * 300):
        refused = requests.get(f"{api}reports/{bad}", timeout=10)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_request", (bad, refused.text)
    missing = requests.get(f"{api}reports/1999-01-01", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_reconcile_registers_an_upload_whose_event_was_lost(stack, db, inbox, wait_status):
    run = uuid.uuid4().hex
    delivered = _upload(inbox, f"jobs/{run}/1-delivered.txt", _text("reconcile delivered"))
    lost_name = f"jobs/{run}/2-lost.txt"
    with stack.storage_events_held() as held:
        lost = _upload(inbox, lost_name, _text("reconcile lost"))
        dropped = held.drop(lambda attrs: attrs.get("objectId") == lost_name)  # acknowledged: never delivered
    assert dropped["eventType"] == "OBJECT_FINALIZE" and dropped["bucketId"] == inbox.name
    after = _upload(inbox, f"jobs/{run}/3-after.txt", _text("reconcile after"))  # the relay works again
    for doc_id in (delivered, after):
        assert wait_status(doc_id, timeout=60)["status"] == "done"
    assert not db.collection("documents").document(lost).get().exists  # its event is gone for good

    # Too young: its event might still be on its way, so the schedule's own run leaves it alone.
    young = _fire(stack, "reconcile")
    assert lost not in young["registered_documents"] and young["too_young"] >= 1, young
    assert not db.collection("documents").document(lost).get().exists

    # One object per run: the page token is kept, the next run resumes after it.
    step = _fire(stack, "reconcile", min_age_s=0, page_size=1, max_objects=1)
    assert (step["listed"], step["pass_complete"]) == (1, False) and step["next_page_token"], step
    assert lost not in step["registered_documents"]  # the bucket's first object sorts before ours
    assert db.collection("jobs").document("reconcile").get().get("page_token") == step["next_page_token"]

    resumed = _fire(stack, "reconcile", min_age_s=0)
    assert resumed["resumed"] and resumed["pass_complete"] and resumed["next_page_token"] is None, resumed
    assert lost in resumed["registered_documents"] and resumed["registered"] >= 1
    record = wait_status(lost, timeout=60)
    assert record["status"] == "done", record.get("error")
    assert record["source"]["name"] == lost_name and record["source"]["via"] == "storage"
    assert {k: v["state"] for k, v in record["steps"].items()} == {s.name: "succeeded" for s in stack.spec.steps}

    again = _fire(stack, "reconcile", min_age_s=0)  # registered once: a record now, nothing to do for it
    assert lost not in again["registered_documents"] and again["pass_complete"], again
    assert db.collection("documents").document(lost).get().to_dict()["steps"] == record["steps"]
