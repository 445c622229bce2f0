"""The whole committed sample corpus through the real local stack: every document ends `done`
with its known phrases in the extracted text, every hostile file ends `failed` with its exact
reason, and nothing is left non-terminal."""

import mimetypes
import time
import uuid

from contentflow.documents import document_id_for


def _expectations():
    from tests.extraction.support import expectations as module

    # Files too big to commit are covered by tests/extraction. Cases whose reason needs other
    # limits than the stack's defaults still go through: they must end, whatever the outcome.
    return [c for c in module.CASES if not c.generated]


def test_corpus_through_the_stack(stack, inbox, storage_client, db):
    cases = _expectations()
    assert len(cases) >= 50
    run = uuid.uuid4().hex[:8]
    ids = {}
    for case in cases:
        blob = inbox.blob(f"corpus-{run}/{case.path}")
        blob.upload_from_filename(str(case.file), content_type=mimetypes.guess_type(case.file.name)[0] or "application/octet-stream")
        ids[document_id_for(inbox.name, blob.name, blob.md5_hash, blob.generation)] = case
    refs = [db.collection("documents").document(doc_id) for doc_id in ids]
    deadline = time.monotonic() + 240
    records = {}
    while time.monotonic() < deadline:
        records = {s.id: s.to_dict() for s in db.get_all(refs) if s.exists}
        if len(records) == len(ids) and all(r["status"] in ("done", "failed") for r in records.values()):
            break
        time.sleep(0.5)
    stuck = {ids[i].path: (records.get(i) or {}).get("status") for i in ids if (records.get(i) or {}).get("status") not in ("done", "failed")}
    assert not stuck, f"not terminal after 240 s: {stuck}"
    processed = storage_client.bucket(stack.bucket("processed"))
    problems = []
    for doc_id, case in ids.items():
        record = records[doc_id]
        if case.limits:
            continue  # terminal is what holds at the default limits (checked above)
        if case.outcome == "failed":
            got = (record.get("error") or {}).get("reason")
            if record["status"] != "failed" or got != case.reason:
                problems.append(f"{case.path}: expected failed {case.reason!r}, got {record['status']} {got!r}")
            continue
        if record["status"] != "done":
            problems.append(f"{case.path}: expected done, got failed {record['error']['reason']!r}")
            continue
        text = " ".join(processed.blob(f"{doc_id}/text.txt").download_as_text().split())
        problems += [f"{case.path}: missing {p!r}" for p in case.phrases if " ".join(p.split()) not in text]
        problems += [f"{case.path}: boilerplate {a!r} kept" for a in case.absent if a in text]
        stats = record["stats"]["extraction"]
        for field in ("mime_type", "page_count", "title", "language"):
            want = getattr(case, field)
            if want is not None and stats.get(field) != want:
                problems.append(f"{case.path}: {field} {stats.get(field)!r} != {want!r}")
    assert not problems, "\n".join(problems)
