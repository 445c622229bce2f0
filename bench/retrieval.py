"""Search quality on the labelled set (tests/retrieval/queries.yaml): the sample documents and the
retrieval set are run through a local stack, every query goes to GET /search, and the rank of the
document that answers it gives top-1 accuracy, MRR@10 and recall@5.

Run: scripts/bench retrieval [--backend local|vertex]
(tests/retrieval/test_search_quality.py runs the same evaluation and holds it to its bar.)
"""

from __future__ import annotations

import argparse
import mimetypes
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
FOLDERS = [REPO / "samples" / "documents", REPO / "samples" / "retrieval"]
QUERIES = REPO / "tests" / "retrieval" / "queries.yaml"


def load_queries(path: Path = QUERIES) -> list[dict]:
    return yaml.safe_load(path.read_text())["queries"]


def ingest(stack, folders=FOLDERS, timeout_s: float = 600) -> dict[str, dict]:
    """Uploads every file of `folders` into the stack's inbox; returns {document id: record} once
    all are terminal, each record with `file` (the file name) added."""
    os.environ.update(stack.client_env())
    from google.cloud import firestore, storage

    from contentflow.documents import document_id_for

    bucket = storage.Client(project=stack.project_id).bucket(stack.bucket("inbox"))
    db = firestore.Client(project=stack.project_id)
    files: dict[str, str] = {}
    for folder in folders:
        for path in sorted(p for p in folder.iterdir() if p.is_file() and p.name != "README.md" and not p.name.startswith(".")):
            blob = bucket.blob(f"retrieval/{folder.name}/{path.name}")
            blob.upload_from_filename(str(path), content_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream")
            files[document_id_for(bucket.name, blob.name, blob.md5_hash, blob.generation)] = path.name
    refs = [db.collection("documents").document(doc_id) for doc_id in files]
    deadline = time.monotonic() + timeout_s
    while True:
        records = {s.id: s.to_dict() for s in db.get_all(refs) if s.exists}
        if len(records) == len(files) and all(r["status"] in ("done", "failed") for r in records.values()):
            return {doc_id: {**record, "file": files[doc_id]} for doc_id, record in records.items()}
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sum(r['status'] in ('done', 'failed') for r in records.values())} of {len(files)} documents finished in {timeout_s} s")
        time.sleep(0.3)


def evaluate(api_url: str, queries: list[dict], file_of: dict[str, str], k: int = 10) -> dict:
    """Top-1 accuracy, MRR@k and recall@5 of `queries` against GET /search; with every miss listed."""
    import requests

    session = requests.Session()
    ranks: list[int | None] = []
    misses = []
    t0 = time.perf_counter()
    for q in queries:
        response = session.get(f"{api_url.rstrip('/')}/search", params={"q": q["query"], "limit": k}, timeout=60)
        response.raise_for_status()
        ranked = [file_of.get(hit["document_id"], "?") for hit in response.json()["results"]]
        rank = ranked.index(q["relevant"]) + 1 if q["relevant"] in ranked else None
        ranks.append(rank)
        if rank != 1:
            misses.append({"query": q["query"], "relevant": q["relevant"], "rank": rank, "top": ranked[:3]})
    n = len(queries)
    return {
        "queries": n,
        "top1": round(sum(r == 1 for r in ranks) / n, 3),
        "mrr_at_10": round(sum(1 / r for r in ranks if r) / n, 3),
        "recall_at_5": round(sum(1 for r in ranks if r and r <= 5) / n, 3),
        "seconds_per_query": round((time.perf_counter() - t0) / n, 3),
        "misses": misses,
    }


def main() -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    from report import report

    from local.stack import LocalStack

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["local", "vertex"], default="local")
    args = parser.parse_args()
    queries = load_queries()
    with tempfile.TemporaryDirectory(prefix="cf-retrieval-") as tmp:
        with LocalStack(Path(tmp) / "stack", with_scheduler=False, inference=args.backend) as stack:
            t0 = time.perf_counter()
            records = ingest(stack)
            ingest_s = time.perf_counter() - t0
            result = evaluate(stack.function_url("api"), queries, {i: r["file"] for i, r in records.items()})
    result = {"backend": args.backend, "documents": len(records),
              "documents_done": sum(r["status"] == "done" for r in records.values()),
              "ingest_seconds": round(ingest_s, 1), **result}
    return report(f"retrieval-{args.backend}", result)


if __name__ == "__main__":
    main()
