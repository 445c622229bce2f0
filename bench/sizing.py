"""Sizing and cost from measurement: runs the sample documents through the local stack, then
reports per function its peak memory (its whole local process group)
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


def _processes() -> list[tuple[int, int, int, int]]:
    """(pid, parent pid, process group, peak resident KiB) of every live process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            peak = next((int(line.split()[1]) for line in (entry / "status").read_text().splitlines()
                         if line.startswith("VmHWM:")), 0)
            found.append((int(entry.name), int(fields[1]), int(fields[2]), peak))
        except (OSError, ValueError, IndexError):
            continue
    return found


def peak_rss_mib(pgid: int) -> float:
    """Sum of the peak resident sizes (VmHWM) of the live processes in a process group."""
    return sum(peak for _, _, group, peak in _processes() if group == pgid) / 1024


def instance_peak_rss_mib(pgid: int) -> dict:
    """Peak memory of one instance of a function whose local process group stands for several.

    The group is the server's main process (it loads the function, then forks its workers) and
    one worker per local instance; a deployed instance is the main process and one worker. So:
    the main process plus its largest worker, and apart, the largest of the workers' children
    that live in their own session (extract's sandboxed parser workers), which a deployed
    instance also holds. Peaks of forked processes count the pages they share with the main
    process in each, so summing all workers (`peak_rss_mib`) counts those pages once per worker."""
    processes = _processes()
    group = {pid: peak for pid, _, g, peak in processes if g == pgid}
    workers = [peak for pid, peak in group.items() if pid != pgid]
    helpers = [peak for pid, parent, g, peak in processes if parent in group and parent != pgid and g != pgid]
    return {"instance_mib": round((group.get(pgid, 0) + max(workers, default=0)) / 1024, 1),
            "main_mib": round(group.get(pgid, 0) / 1024, 1), "worker_mib": round(max(workers, default=0) / 1024, 1),
            "workers": len(workers), "group_sum_mib": round(sum(group.values()) / 1024, 1),
            "helper_process_mib": round(max(helpers, default=0) / 1024, 1) if helpers else None}


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
