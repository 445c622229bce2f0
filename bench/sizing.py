"""Sizing and cost from measurement: runs the sample documents through the local stack, then
reports per function its peak memory (its whole process group, extraction workers included)
next to the spec's memory_mb, and the billable operations per document counted by the functions
themselves (the `costs` on each request's last log line).

Run: scripts/bench sizing [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

from contentflow.documents import document_id_for
from report import report
from local.stack import REPO, LocalStack

SAMPLES = REPO / "samples" / "documents"


def peak_rss_mib(pgid: int) -> float:
    """Sum of the peak resident sizes (VmHWM) of the live processes in a process group."""
    total_kib = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kib += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total_kib / 1024


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2, help="times the sample folder is uploaded")
    args = parser.parse_args()
    files = sorted(p for p in SAMPLES.iterdir() if p.is_file())
    with tempfile.TemporaryDirectory(prefix="cf-sizing-") as tmp:
        with LocalStack(Path(tmp) / "stack", with_scheduler=False) as stack:
            os.environ.update(stack.client_env())
            from google.cloud import firestore, storage

            bucket = storage.Client(project=stack.project_id).bucket(stack.bucket("inbox"))
            db = firestore.Client(project=stack.project_id)
            ids = []
            t0 = time.perf_counter()
            for round_no in range(args.rounds):
                for path in files:
                    blob = bucket.blob(f"sizing/{round_no}/{path.name}")
                    blob.upload_from_filename(str(path), content_type=mimetypes.guess_type(path.name)[0])
                    ids.append(document_id_for(bucket.name, blob.name, blob.md5_hash, blob.generation))
            refs = [db.collection("documents").document(i) for i in ids]
            while time.perf_counter() - t0 < 600:
                statuses = [s.get("status") for s in db.get_all(refs) if s.exists]
                if len(statuses) == len(ids) and all(s in ("done", "failed") for s in statuses):
                    break
                time.sleep(0.5)
            elapsed = time.perf_counter() - t0
            memory = {name: round(peak_rss_mib(stack.processes[f"fn:{name}"].pid), 1) for name in stack.spec.functions}
            costs: Counter = Counter()
            for log in (stack.data_dir / "logs").glob("fn-*.log"):
                for line in log.read_text().splitlines():
                    if line.startswith("{") and '"costs"' in line:
                        costs.update(json.loads(line)["costs"])
    docs = len(ids)
    result = {
        "documents": docs,
        "done": statuses.count("done"),
        "seconds": round(elapsed, 1),
        "documents_per_s": round(docs / elapsed, 2),
        "peak_memory_mib": {n: {"measured": m, "spec_memory_mb": stack.spec.functions[n].runtime.memory_mb}
                            for n, m in memory.items()},
        "per_document": {k: round(v / docs, 2) for k, v in sorted(costs.items())},
    }
    return report("sizing", result)


if __name__ == "__main__":
    main()
