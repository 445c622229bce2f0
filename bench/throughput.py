"""Throughput, latency, memory and counted operations of the local stack, and the overhead of being
event-driven, measured side by side in one run (issue 12).

The same N mixed documents (bench/mixed_corpus.py: the samples and generated one-page pages) go
(a) in-process: a pool of workers, as many as the local stack runs function instances for the
    pipeline's functions (processes as its processes, threads as its threads), each uploading a
    document, registering it and running its steps with lib's own Intake and Pipeline against the
    same emulators; the worker runs the next step itself instead of handing it on;
(b) event-driven: dropped into the inbox bucket of the running local stack, all at once.
Firestore is emptied between the two, so neither reuses the other's cached model results.

From (b): documents a minute and chunks a second, per-step latency percentiles from the step
records (waiting: queued to started, which is queueing plus the hop; working: started to finished),
Firestore's share of the work (each request's `costs`), upload-to-done percentiles, peak memory per
function next to its spec, and the operations each document cost, by file type (for the cost model).
Then the idle baseline: small documents one at a time on the quiet stack.

The spec's model queues dispatch at most 5 tasks a second each (the quota guard for Vertex AI):
that alone caps the stack at 300 documents a minute whatever the machine. The local backend has no
quota, so to measure the pipeline itself the stack runs a copy of the spec whose queues dispatch up
to `--queue-rate` a second (default 100; 0 keeps the shipped spec); nothing else changes.

Run: scripts/bench throughput [--docs 500] [--queue-rate 100]   (bench/all.py runs it with the rest)
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from mixed_corpus import Item, mixed
from report import report

ROOT = Path(__file__).resolve().parents[1]
PATH_FUNCTIONS = ("on_upload", "extract", "analyse", "index")  # the functions a dropped file goes through
TERMINAL = ("done", "failed")


# --- (a) in-process ------------------------------------------------------------------------------
def _inprocess_worker(env: dict, bucket_name: str, items: list[Item], threads: int, warm_item: Item,
                      ready, start, log_path: str) -> list[dict]:
    """One worker process: builds the services once (as a function instance does), warms up on one
    document, waits for the common start, then takes its share of documents through the pipeline."""
    os.environ.update(env)
    sys.stdout = sys.stderr = open(log_path, "a", buffering=1)  # the pipeline's JSON logs, kept apart
    sys.path[:0] = [str(ROOT / "lib")]
    from functools import cached_property

    from contentflow import extraction
    from contentflow.errors import ContentflowError
    from contentflow.messages import StorageObject
    from contentflow.metering import metered
    from contentflow.services import Services
    from contentflow.settings import get_settings

    class NoHandOn:
        """The dispatcher, except that a hand-on is left out: the worker runs the next step itself."""

        def __init__(self, dispatcher):
            self._dispatcher = dispatcher

        def hand_on(self, *args, **kwargs) -> None:
            return None

        def __getattr__(self, name):
            return getattr(self._dispatcher, name)

    class InProcess(Services):
        @cached_property
        def dispatcher(self):
            return NoHandOn(Services.dispatcher.func(self))

    svc = InProcess(get_settings())
    svc.warm("store", "dispatcher", "blobs", "inference")
    extraction.warm_up()
    bucket = svc.storage.bucket(bucket_name)
    steps = [s.name for s in svc.settings.spec.steps]

    def one(item: Item) -> dict:
        blob = bucket.blob(item.name)
        blob.upload_from_string(item.data, content_type=item.content_type)
        obj = StorageObject(bucket=bucket_name, name=item.name, generation=str(blob.generation), md5Hash=blob.md5_hash,
                            size=blob.size, contentType=blob.content_type, timeCreated=blob.time_created)
        with metered() as costs:
            decision = svc.intake.register_object(obj)
            doc_id = decision.document.id if decision.document else None
            for step in steps:
                for attempt in range(5):
                    try:
                        # as the triggers say: a first try defers its claim, a retry claims first
                        decision = svc.pipeline.run_step(step, doc_id, first_delivery=attempt == 0)
                        break
                    except ContentflowError:  # retried here as the trigger would retry it
                        time.sleep(0.2 * (attempt + 1))
                if decision.document is not None and decision.document.status in TERMINAL:
                    break
        return {"id": doc_id, "kind": item.kind, "costs": dict(costs)}

    one(warm_item)
    ready.release()
    start.wait()
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, items))


def in_process(stack, items: list[Item], prefix: str, log_path: Path) -> tuple[dict, list[str]]:
    """Runs `items` through the in-process pool; answers its figures and the document ids."""
    from local.stack import local_capacity

    capacity = {name: local_capacity(stack.spec.functions[name]) for name in PATH_FUNCTIONS}
    processes = sum(w for w, _ in capacity.values())
    slots = sum(w * t for w, t in capacity.values())
    threads = math.ceil(slots / processes)
    env = {**stack.client_env(), "PYTHONUNBUFFERED": "1"}
    bucket_name = stack.bucket("inbox")
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager()  # its proxies go through the pool's pickling, plain primitives do not
    ready, start = manager.Semaphore(0), manager.Event()
    shares = [[Item(f"{prefix}{it.name}", it.data, it.content_type, it.kind, it.generated) for it in items[i::processes]]
              for i in range(processes)]
    with ctx.Pool(processes) as pool:
        jobs = [pool.apply_async(_inprocess_worker, (env, bucket_name, share, threads,
                                                     Item(f"{prefix}warm-{i}.txt", f"Warm-up {i} of the in-process pool. " .encode() * 20,
                                                          "text/plain", "txt", True),
                                                     ready, start, str(log_path)))
                for i, share in enumerate(shares)]
        for _ in range(processes):
            if not ready.acquire(timeout=180):
                raise RuntimeError("an in-process worker did not warm up within 180 s")
        t0 = time.time()
        start.set()
        results = [r for job in jobs for r in job.get(timeout=1800)]
        elapsed = time.time() - t0
    manager.shutdown()
    ids = [r["id"] for r in results]
    costs = Counter()
    for r in results:
        costs.update(r["costs"])
    return ({"workers": processes * threads, "processes": processes, "threads_each": threads,
             "seconds": round(elapsed, 2), "documents": len(ids),
             "operations_per_document": {k: round(v / len(ids), 3) for k, v in sorted(costs.items())}}, ids)


# --- (b) event-driven --------------------------------------------------------------------------
def upload_all(bucket, items: list[Item], prefix: str) -> list[str]:
    from contentflow.documents import document_id_for

    def put(item: Item) -> str:
        blob = bucket.blob(f"{prefix}{item.name}")
        blob.upload_from_string(item.data, content_type=item.content_type)
        return document_id_for(bucket.name, blob.name, blob.md5_hash, blob.generation)

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(put, items))


def wait_terminal(db, ids: list[str], timeout_s: float) -> dict[str, dict]:
    """Polls until every record is done or failed; answers the records."""
    refs = [db.collection("documents").document(i) for i in ids]
    deadline = time.time() + timeout_s
    records: dict[str, dict] = {}
    while time.time() < deadline:
        pending = [r for r in refs if records.get(r.id, {}).get("status") not in TERMINAL]
        if not pending:
            return records
        for start in range(0, len(pending), 300):
            for snap in db.get_all(pending[start:start + 300]):
                if snap.exists:
                    records[snap.id] = snap.to_dict()
        time.sleep(0.25)
    missing = [i for i in ids if records.get(i, {}).get("status") not in TERMINAL]
    raise TimeoutError(f"{len(missing)} of {len(ids)} documents not terminal after {timeout_s} s")


class EndEvents:
    """The pipeline's output events (document.processed / document.failed), read as a consumer
    reads them, through a pull subscription of the bench's own: waiting on them costs the
    emulators one stream, where polling every record would load Firestore with reads that are
    not the pipeline's."""

    def __init__(self, stack):
        import threading
        import uuid

        from google.cloud import pubsub_v1

        self._client = pubsub_v1.SubscriberClient()
        self._path = f"projects/{stack.project_id}/subscriptions/bench-ends-{uuid.uuid4().hex[:8]}"
        self._client.create_subscription(name=self._path, topic=f"projects/{stack.project_id}/topics/document-events",
                                         ack_deadline_seconds=60)
        self._lock = threading.Lock()
        self.ended: set[str] = set()
        self._future = self._client.subscribe(self._path, self._on_message)

    def _on_message(self, message) -> None:
        with self._lock:
            self.ended.add(message.attributes.get("document_id", ""))
        message.ack()

    def wait(self, db, ids: list[str], timeout_s: float) -> dict[str, dict]:
        """Waits until every document announced its end, then reads the records once."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            with self._lock:
                if self.ended.issuperset(ids):
                    break
            time.sleep(0.2)
        return wait_terminal(db, ids, max(10.0, deadline - time.time()))  # one pass, or polls what is missing

    def close(self) -> None:
        self._future.cancel()
        try:
            self._client.delete_subscription(subscription=self._path, timeout=10)
        finally:
            self._client.close()


def end_of(records: dict[str, dict]) -> float:
    """When the last document became terminal (its record's own time)."""
    return max(r["updated_at"] for r in records.values()).timestamp()


def percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]  # noqa: E731
    return {"n": len(values), "p50": round(pick(0.50), 3), "p95": round(pick(0.95), 3), "p99": round(pick(0.99), 3),
            "mean": round(statistics.fmean(values), 3)}


def step_latencies(records: dict[str, dict], steps: list[str]) -> dict:
    """Seconds per step, from the step records: waiting (queued to started: the hop and the queue)
    and working (started to finished); and the registration hop (upload to record created)."""
    out = {"registration_hop": percentiles([(r["created_at"] - r["source"]["uploaded_at"]).total_seconds()
                                            for r in records.values() if r.get("source", {}).get("uploaded_at")])}
    for step in steps:
        recs = [r["steps"][step] for r in records.values() if r.get("steps", {}).get(step, {}).get("finished_at")]
        out[step] = {"waiting": percentiles([(s["started_at"] - s["queued_at"]).total_seconds() for s in recs
                                             if s.get("started_at") and s.get("queued_at")]),
                     "working": percentiles([(s["finished_at"] - s["started_at"]).total_seconds() for s in recs])}
    done = [r for r in records.values() if r["status"] == "done" and r.get("source", {}).get("uploaded_at")]
    out["upload_to_done"] = percentiles([(r["updated_at"] - r["source"]["uploaded_at"]).total_seconds() for r in done])
    return out


def request_costs(log_dir: Path, ids: set[str], spec) -> dict[str, Counter]:
    """Per document: the operations its requests counted, and invocations and seconds per function
    (from each request's last log line)."""
    from contentflow.spec import PubsubTrigger, QueueTrigger, StorageTrigger

    per_doc: dict[str, Counter] = defaultdict(Counter)
    for log in log_dir.glob("fn-*.log"):
        function = log.stem[3:]
        trigger = spec.functions[function].trigger if function in spec.functions else None
        for line in log.read_text(errors="replace").splitlines():
            if not line.startswith("{") or '"costs"' not in line:
                continue
            entry = json.loads(line)
            doc = entry.get("document_id")
            if doc not in ids:
                continue
            c = per_doc[doc]
            c.update(entry["costs"])
            c[f"invocations.{function}"] += 1
            c[f"seconds.{function}"] += entry.get("duration_ms", 0) / 1000
            c[f"firestore.ms.{function}"] += entry["costs"].get("firestore.ms", 0)
            if isinstance(trigger, QueueTrigger):
                c["tasks.dispatches"] += 1
            elif isinstance(trigger, PubsubTrigger):
                c["pubsub.deliveries"] += 1
            elif isinstance(trigger, StorageTrigger):
                c["eventarc.deliveries"] += 1
    return per_doc


def by_kind(per_doc: dict[str, Counter], kinds: dict[str, str], uploads: dict[str, int]) -> dict[str, dict]:
    """Mean operations per document of each file type; the user's upload counted as one Storage
    write of its size (the pipeline does not see it, the bill does)."""
    groups: dict[str, list[Counter]] = defaultdict(list)
    for doc, c in per_doc.items():
        c = Counter(c)
        c["storage.writes"] += 1
        c["storage.bytes_written"] += uploads.get(doc, 0)
        groups[kinds[doc]].append(c)
        groups["all"].append(c)
    out = {}
    for kind, counters in sorted(groups.items()):
        total = Counter()
        for c in counters:
            total.update(c)
        out[kind] = {"documents": len(counters), **{k: round(v / len(counters), 4) for k, v in sorted(total.items())}}
    return out


def cpu_seconds(stack) -> dict[str, float]:
    """CPU time used so far by each of the stack's process groups (emulators, functions with
    their workers) and by this process (the relay and the push dispatcher are its threads; in the
    in-process run, also the pool's parent)."""
    tick = os.sysconf("SC_CLK_TCK")
    groups = {proc.pid: name for name, proc in stack.processes.items() if proc.pid}
    from local.procs import process_stats

    used: dict[str, float] = defaultdict(float)
    for _, fields in process_stats():
        name = groups.get(int(fields[2]))
        if name is not None:
            used[name] += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    me = os.times()
    used["bench process (relay, push dispatcher)"] = me.user + me.system
    return dict(used)


def cpu_share(before: dict[str, float], after: dict[str, float], documents: int) -> dict:
    """CPU milliseconds per document by component between two readings, emulators grouped."""
    spent = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    out = {k: round(v * 1000 / documents, 1) for k, v in sorted(spent.items(), key=lambda kv: -kv[1]) if v > 0.05}
    out["total"] = round(sum(spent.values()) * 1000 / documents, 1)
    return out


def wipe_firestore(stack) -> None:
    """The emulator's reset: every document of the project's database goes."""
    url = (f"http://127.0.0.1:{stack.ports['firestore']}/emulator/v1/projects/{stack.project_id}"
           f"/databases/(default)/documents")
    urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=30).read()


def wait_for_lines(path: Path, text: str, count: int, timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if path.exists() and path.read_text(errors="replace").count(text) >= count:
            return
        time.sleep(0.5)
    raise TimeoutError(f"fewer than {count} lines with {text!r} in {path.name} after {timeout_s} s")


def idle_latency(bucket, db, docs: int) -> dict:
    """Upload-to-done of small documents one at a time on the quiet stack (the idle baseline)."""
    from contentflow.documents import document_id_for

    times = []
    for i in range(docs):
        t0 = time.perf_counter()
        blob = bucket.blob(f"idle/{i}.txt")
        blob.upload_from_string(f"Idle baseline note {i}: the ferry left {i} minutes late. " * 4, content_type="text/plain")
        ref = db.collection("documents").document(document_id_for(bucket.name, blob.name, blob.md5_hash, blob.generation))
        while True:
            snap = ref.get()
            if snap.exists and snap.get("status") in TERMINAL:
                break
            if time.perf_counter() - t0 > 60:
                raise TimeoutError(f"idle document {i} not terminal after 60 s")
            time.sleep(0.005)
        times.append(time.perf_counter() - t0)
    return percentiles(times)


def run(stack, docs: int) -> dict:
    """Both runs and the idle baseline on a started stack (no scheduler)."""
    from google.cloud import firestore, storage
    from sizing import instance_peak_rss_mib

    os.environ.update(stack.client_env())
    bucket = storage.Client(project=stack.project_id).bucket(stack.bucket("inbox"))
    db = firestore.Client(project=stack.project_id)
    steps = [s.name for s in stack.spec.steps]
    items = mixed(docs)
    log_dir = stack.data_dir / "logs"

    # Warm the stack's functions the way the pool warms its workers: one document through.
    warm = upload_all(bucket, [Item("warm/warm-up.txt", b"Warm-up of the local stack. " * 20, "text/plain", "txt", True)], "")
    wait_terminal(db, warm, 120)

    # (a) in-process; the upload events wait on the relay and reach on_upload afterwards, which
    # finds each document registered and acknowledges it.
    with stack.storage_events_held():
        inproc, inproc_ids = in_process(stack, items, "a/", stack.data_dir / "inprocess.log")
    inproc_records = wait_terminal(db, inproc_ids, 60)
    inproc["done"] = sum(r["status"] == "done" for r in inproc_records.values())
    wait_for_lines(log_dir / "fn-on_upload.log", "duplicate upload event ignored", len(items), 180)
    wipe_firestore(stack)

    # (b) event-driven
    ends = EndEvents(stack)
    try:
        cpu_before = cpu_seconds(stack)
        t0 = time.time()
        ids = upload_all(bucket, items, "b/")
        uploaded_s = time.time() - t0
        records = ends.wait(db, ids, 1200)
    finally:
        ends.close()
    elapsed = end_of(records) - t0
    cpu = cpu_share(cpu_before, cpu_seconds(stack), len(ids))
    time.sleep(1.0)  # the last requests' closing log lines
    memory = {}
    for name in stack.spec.functions:
        peaks = instance_peak_rss_mib(stack.processes[f"fn:{name}"].pid)
        memory[name] = {"peak_rss_mib": peaks["instance_mib"], **peaks,
                        "spec_memory_mb": stack.spec.functions[name].runtime.memory_mb}
    kinds = {doc: item.kind for doc, item in zip(ids, items)}
    per_doc = request_costs(log_dir, set(ids), stack.spec)
    chunks = sum((r.get("index") or {}).get("chunks", 0) for r in records.values())
    event = {
        "documents": len(ids), "done": sum(r["status"] == "done" for r in records.values()),
        "failed": sum(r["status"] == "failed" for r in records.values()),
        "upload_seconds": round(uploaded_s, 2), "seconds": round(elapsed, 2),
        "documents_per_minute": round(len(ids) / elapsed * 60, 1), "chunks": chunks,
        "chunks_per_second": round(chunks / elapsed, 2),
        # where the machine's time went: CPU ms per document by process group (emulators included)
        "cpu_ms_per_document": cpu,
        "latency_s": step_latencies(records, steps),
        "function_seconds_per_document": {fn: round(sum(c.get(f"seconds.{fn}", 0) for c in per_doc.values()) / len(ids), 4)
                                          for fn in PATH_FUNCTIONS},
        # of which in Firestore calls (transactions, chunk batches), per function
        "firestore_seconds_per_document": {fn: round(sum(c.get(f"firestore.ms.{fn}", 0) for c in per_doc.values()) / 1000 / len(ids), 4)
                                           for fn in PATH_FUNCTIONS},
    }
    uploads = {doc: len(item.data) for doc, item in zip(ids, items)}
    idle = idle_latency(bucket, db, 20)
    return {
        "documents": len(items), "kinds": dict(Counter(i.kind for i in items)),
        "in_process": inproc, "event_driven": event,
        "event_driven_over_in_process": round(event["seconds"] / inproc["seconds"], 3),
        "idle_upload_to_done_s": idle,
        "peak_memory": memory,
        "operations_per_document_by_kind": by_kind(per_doc, kinds, uploads),
    }


def spec_with_queue_rate(folder: Path, rate: float) -> Path | None:
    """A copy of the pipeline spec whose queues dispatch up to `rate` tasks a second (None: rate 0,
    the shipped spec)."""
    import yaml

    if not rate:
        return None
    raw = yaml.safe_load((ROOT / "lib" / "contentflow" / "pipeline.yaml").read_text())
    for queue in raw["queues"].values():
        queue["rate_limits"]["max_dispatches_per_second"] = rate
        queue["rate_limits"]["max_burst_size"] = max(queue["rate_limits"]["max_burst_size"], int(rate))
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def markdown(result: dict) -> str:
    e, a = result["event_driven"], result["in_process"]
    lines = [
        f"| {result['documents']} mixed documents | seconds | documents/min | done |",
        "|---|---:|---:|---:|",
        f"| in-process pool ({a['workers']} workers) | {a['seconds']} | {round(a['documents'] / a['seconds'] * 60, 1)} | {a['done']} |",
        f"| event-driven local stack | {e['seconds']} | {e['documents_per_minute']} | {e['done']} |",
        f"| ratio event-driven / in-process | {result['event_driven_over_in_process']} | | |",
        "",
        "| latency (s) | p50 | p95 | p99 |", "|---|---:|---:|---:|",
    ]
    lat = e["latency_s"]
    rows = [("upload → registered", lat["registration_hop"])]
    for step, v in lat.items():
        if isinstance(v, dict) and "waiting" in v:
            rows += [(f"{step}: waiting (hop + queue)", v["waiting"]), (f"{step}: working", v["working"])]
    rows += [("upload → done, under load", lat["upload_to_done"]), ("upload → done, idle, one at a time", result["idle_upload_to_done_s"])]
    lines += [f"| {name} | {v.get('p50', '')} | {v.get('p95', '')} | {v.get('p99', '')} |" for name, v in rows]
    lines += ["", "| CPU per document, event-driven run (ms) | " + " | ".join(e["cpu_ms_per_document"]) + " |",
              "|---|" + "---:|" * len(e["cpu_ms_per_document"]),
              "| | " + " | ".join(str(v) for v in e["cpu_ms_per_document"].values()) + " |"]
    lines += ["", "| function | peak RSS of an instance, MiB (main process + worker) | its parser worker | local workers (sum of their peaks) | spec memory_mb |",
              "|---|---:|---:|---:|---:|"]
    lines += [f"| {fn} | {m['peak_rss_mib']} ({m.get('main_mib', '-')} + {m.get('worker_mib', '-')}) | "
              f"{m.get('helper_process_mib') or '-'} | {m.get('workers', '-')} ({m.get('group_sum_mib', '-')}) | {m['spec_memory_mb']} |"
              for fn, m in result["peak_memory"].items()]
    return "\n".join(lines)


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=500)
    parser.add_argument("--queue-rate", type=float, default=100, help="the model queues' dispatches a second (0: the spec's)")
    args = parser.parse_args()
    from local.stack import LocalStack

    with tempfile.TemporaryDirectory(prefix="cf-throughput-") as tmp:
        spec = spec_with_queue_rate(Path(tmp), args.queue_rate)
        with LocalStack(Path(tmp) / "stack", with_scheduler=False, spec_path=spec) as stack:
            result = run(stack, args.docs)
    result["queue_rate"] = args.queue_rate or "the spec's"
    result["markdown"] = markdown(result)
    report("throughput", result)
    print(result["markdown"])
    return result


if __name__ == "__main__":
    main()
