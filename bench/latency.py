"""Upload-to-done latency of small documents on the local stack, and stack start-up time.

Run: scripts/bench latency   (or: PYTHONPATH=lib:. .venv/bin/python bench/latency.py --docs 20)
Starts its own stack in a temporary folder, warms every function with one document (cold starts
are reported apart), then uploads documents one at a time and times each from the upload call to
the moment Firestore says `done`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from contentflow.documents import document_id_for
from report import report
from local.stack import LocalStack


def upload_and_wait(bucket, store, name: str, text: str, timeout_s: float = 30.0) -> float:
    t0 = time.perf_counter()
    blob = bucket.blob(name)
    blob.upload_from_string(text, content_type="text/plain")
    doc_id = document_id_for(bucket.name, name, blob.md5_hash, blob.generation)
    ref = store.collection("documents").document(doc_id)
    while time.perf_counter() - t0 < timeout_s:
        snap = ref.get()
        if snap.exists and snap.get("status") in ("done", "failed"):
            if snap.get("status") != "done":
                raise RuntimeError(f"{name} failed: {snap.get('error')}")
            return time.perf_counter() - t0
        time.sleep(0.005)
    raise TimeoutError(f"{name} not done after {timeout_s} s")


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cf-bench-") as tmp:
        t0 = time.perf_counter()
        with LocalStack(Path(tmp) / "stack", with_scheduler=False) as stack:
            ready_s = time.perf_counter() - t0
            os.environ.update(stack.client_env())
            from google.cloud import firestore, storage

            bucket = storage.Client(project=stack.project_id).bucket(stack.bucket("inbox"))
            store = firestore.Client(project=stack.project_id)
            cold = upload_and_wait(bucket, store, "bench/cold.txt", "The first document wakes every function.")
            warm = [upload_and_wait(bucket, store, f"bench/doc-{i}.txt", f"Document {i}. A short paragraph of text.")
                    for i in range(args.docs)]
    warm.sort()
    result = {
        "stack_ready_s": round(ready_s, 2),
        "cold_document_s": round(cold, 3),
        "documents": len(warm),
        "p50_s": round(statistics.median(warm), 3),
        "p95_s": round(warm[min(len(warm) - 1, int(0.95 * len(warm)))], 3),
        "max_s": round(warm[-1], 3),
    }
    return report("latency", result)


if __name__ == "__main__":
    main()
