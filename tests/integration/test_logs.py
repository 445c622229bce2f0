"""Every function logs JSON lines in Cloud Logging's structured format, with the document id,
the step and the document's trace on each line about it."""

import json
import time
import uuid


def _complete_lines(path) -> list[str]:
    """The lines written so far, without a last one the function is still writing."""
    text = path.read_text() if path.exists() else ""
    return text.splitlines()[: text.count("\n")]


def _entries(path, doc_id: str, timeout: float = 20.0) -> list[dict]:
    """The function's log lines about the document, polled until its working request has logged
    its end (the record says done before the last function has logged `request finished`): the
    `request finished` after the step's `step succeeded`, or after any line for on_upload."""
    deadline = time.monotonic() + timeout
    while True:
        entries = [json.loads(line) for line in _complete_lines(path) if line.startswith("{") and doc_id in line]
        messages = [e["message"] for e in entries]
        worked = messages.index("step succeeded") if "step succeeded" in messages else (0 if path.name == "fn-on_upload.log" else None)
        if worked is not None and "request finished" in messages[worked:]:
            return entries
        assert time.monotonic() < deadline, f"{path.name}: no finished request about {doc_id} in {timeout:g} s: {messages}"
        time.sleep(0.05)


def test_function_logs_are_structured_and_carry_document_and_trace(stack, inbox, wait_status):
    from contentflow.documents import document_id_for

    name = f"it/{uuid.uuid4().hex}/logged.txt"
    blob = inbox.blob(name)
    blob.upload_from_string(b"Log me.", content_type="text/plain")
    doc_id = document_id_for(inbox.name, name, blob.md5_hash, blob.generation)
    record = wait_status(doc_id)
    trace = f"projects/{stack.project_id}/traces/{record['trace_id']}" if "trace_id" in record else None
    assert trace, "the record keeps the document's trace id"
    seen_steps = set()
    for function in ("on_upload", "extract", "analyse", "index"):
        entries = _entries(stack.data_dir / "logs" / f"fn-{function}.log", doc_id)
        assert entries, f"no log line about {doc_id} from {function}"
        for entry in entries:
            assert entry["severity"] in {"DEBUG", "INFO", "WARNING", "ERROR"}
            assert entry["message"]
            assert entry["document_id"] == doc_id
            assert entry["function"] == function
        traced = [e for e in entries if "logging.googleapis.com/trace" in e]
        assert traced and all(e["logging.googleapis.com/trace"] == trace for e in traced)
        seen_steps.update(e.get("step") for e in entries)
        costs = [e["costs"] for e in entries if e["message"] == "request finished"]
        # A duplicate delivery's request may finish later and write nothing: the working one wrote.
        assert costs and max(c.get("firestore.writes", 0) for c in costs) >= 1
    assert {"extract", "analyse", "index"} <= seen_steps
