"""Fault injection for the local stack, and the soak run built on it.

`Chaos` runs a timeline of production's faults against a running `LocalStack`, each bounded in
count and time and stopped by `stop()`:
- crashes: SIGKILL to a function's process group every few seconds (requests in flight are cut),
  then a cold start;
- model storms: the local Vertex AI server answers 429 (or 503) for a while;
- outages: the Pub/Sub or Firestore emulator is cut off from the functions for a while and comes
  back with its state (`LocalStack.cut`, local/outage.py);
- delivery faults (duplicates, reordering, lost acknowledgements) are the stack's proxies'
  (local/delivery_faults.py), switched with `LocalStack.proxies.set_faults`.

`Workload` makes the documents (the committed samples, the hostile corpus with its expected
reasons, and generated documents with unique text), `Observer` follows their records and output
events, and `soak()` puts it together and returns a report whose invariants a script or a test
asserts. `python -m local.chaos soak --docs 2000` (scripts/chaos) runs it from the command line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import mimetypes
import random
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from local.delivery_faults import DeliveryFaults

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
TERMINAL = ("done", "failed")
STEP_FUNCTIONS = ("on_upload", "extract", "analyse", "index")


# --- the fault timeline ------------------------------------------------------------------------

class Storm(BaseModel):
    start_s: float = Field(ge=0)
    seconds: float = Field(gt=0, le=1800)
    mode: str = "rate_limit"  # or "unavailable" (503)
    # Ends after this many refused calls too (whichever comes first): a storm over the first N
    # calls does not depend on how fast a loaded machine brings documents to the model.
    count: int | None = Field(default=None, ge=1)
    methods: list[str] | None = None  # e.g. ["generateContent"]; default every method


class Outage(BaseModel):
    component: Literal["pubsub", "firestore"]  # cut off from the functions by the stack's gate
    start_s: float = Field(ge=0)
    seconds: float = Field(gt=0, le=300)


class ChaosPlan(BaseModel):
    crash_every_s: float | None = Field(default=None, gt=0)  # mean time between crashes
    crash_functions: list[str] = Field(default_factory=lambda: list(STEP_FUNCTIONS))
    crash_down_max_s: float = Field(default=1.0, ge=0, le=30)
    max_crashes: int = Field(default=200, ge=0)
    storms: list[Storm] = Field(default_factory=list)
    outages: list[Outage] = Field(default_factory=list)
    seed: int = 7


class Chaos:
    """Runs a plan's timeline in threads from `start()`; `stop()` ends it (a frozen component is
    continued first). `log` says what was done and when."""

    def __init__(self, stack, plan: ChaosPlan):
        self.stack, self.plan = stack, plan
        self._random = random.Random(plan.seed)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.log: list[dict] = []
        self.crashes = Counter()
        self._t0 = 0.0

    def _say(self, **event) -> None:
        with self._lock:
            self.log.append({"t_s": round(time.monotonic() - self._t0, 2), **event})

    def start(self) -> Chaos:
        self._t0 = time.monotonic()
        if self.plan.crash_every_s:
            self._spawn(self._crashes)
        for storm in self.plan.storms:
            self._spawn(self._storm, storm)
        for outage in self.plan.outages:
            self._spawn(self._outage, outage)
        return self

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name=f"chaos-{target.__name__}")
        thread.start()
        self._threads.append(thread)

    def _crashes(self) -> None:
        while sum(self.crashes.values()) < self.plan.max_crashes:
            if self._stop.wait(self._random.expovariate(1 / self.plan.crash_every_s)):
                return
            name = self._random.choice(self.plan.crash_functions)
            down = self._random.uniform(0, self.plan.crash_down_max_s)
            self._say(action="crash", function=name, down_s=round(down, 2))
            try:
                self.stack.crash_function(name, down_s=down)
            except Exception as exc:  # noqa: BLE001 - the report says it; the run goes on
                self._say(action="crash-failed", function=name, error=repr(exc))
                continue
            self.crashes[name] += 1

    def _storm(self, storm: Storm) -> None:
        if self._stop.wait(storm.start_s):
            return
        import requests

        self._say(action="storm", mode=storm.mode, seconds=storm.seconds, count=storm.count)
        fault = {"mode": storm.mode, "seconds": storm.seconds}
        if storm.count is not None:
            fault["count"] = storm.count
        if storm.methods:
            fault["methods"] = storm.methods
        requests.post(self.stack.vertex_url + "/_fake/faults", json=fault, timeout=10).raise_for_status()

    def _outage(self, outage: Outage) -> None:
        if self._stop.wait(outage.start_s):
            return
        self._say(action="outage", component=outage.component, seconds=outage.seconds)
        self.stack.cut(outage.component, outage.seconds)
        if not self._stop.wait(outage.seconds):
            self._say(action="back", component=outage.component)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)


# --- the documents -------------------------------------------------------------------------------

def _expectations():
    spec = importlib.util.spec_from_file_location("contentflow_sample_expectations", SAMPLES / "expectations.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


WORDS = ("harbour lantern orchard meadow granite copper willow ferry bakery ledger glacier signal "
         "archive compass tide lighthouse quarry beacon market timber canal orchard thistle pepper "
         "violin saddle kettle chapel mill ridge basalt heron estuary loom forge satchel").split()


@dataclass
class Item:
    name: str
    data: bytes
    content_type: str
    kind: str  # sample, hostile, generated
    expect: str | None = None  # "done", or the exact failure reason
    doc_id: str | None = None
    uploaded_at: float | None = None


@dataclass
class Workload:
    items: list[Item] = field(default_factory=list)

    @classmethod
    def mixed(cls, total: int, run: str, seed: int = 11, with_samples: bool = True, with_hostile: bool = True) -> Workload:
        """The committed samples and the hostile corpus (once each, when asked and there is room),
        the rest generated: text, Markdown, HTML and CSV with text unique to this run (no result
        cache hit, so every document costs its model calls)."""
        rnd = random.Random(seed)
        items: list[Item] = []
        expectations = _expectations()
        if with_samples:
            for case in expectations.DOCUMENTS:
                if not case.generated and not case.limits:
                    items.append(Item(f"{run}/samples/{case.path}", case.file.read_bytes(), _type(case.file), "sample", "done"))
        if with_hostile:
            for case in expectations.HOSTILE:
                if not case.generated and not case.limits:
                    items.append(Item(f"{run}/hostile/{case.path}", case.file.read_bytes(), _type(case.file), "hostile", case.reason))
        items = items[:total]
        for i in range(total - len(items)):
            items.append(_generated(rnd, run, i))
        rnd.shuffle(items)
        return cls(items)


    @classmethod
    def hostile(cls, run: str) -> Workload:
        """The committed hostile corpus, each file with the reason it must fail with."""
        return cls([Item(f"{run}/hostile/{case.path}", case.file.read_bytes(), _type(case.file), "hostile", case.reason)
                    for case in _expectations().HOSTILE if not case.generated and not case.limits])


def _type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _generated(rnd: random.Random, run: str, i: int) -> Item:
    sentences = [" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(6, 14))).capitalize() + "." for _ in range(rnd.randint(4, 20))]
    marker = f"Reference {run}-{i}."
    kind = i % 4
    if kind == 0:
        return Item(f"{run}/gen/{i}.txt", (marker + " " + " ".join(sentences)).encode(), "text/plain", "generated", "done")
    if kind == 1:
        body = "\n\n".join(sentences)
        return Item(f"{run}/gen/{i}.md", f"# Note {i}\n\n{marker}\n\n{body}\n".encode(), "text/markdown", "generated", "done")
    if kind == 2:
        paragraphs = "".join(f"<p>{s}</p>" for s in sentences)
        html = (f"<!doctype html><html lang=en><head><title>Page {i}</title></head><body><nav>Home | About</nav>"
                f"<article><h1>Page {i}</h1><p>{marker}</p>{paragraphs}</article><footer>Contact</footer></body></html>")
        return Item(f"{run}/gen/{i}.html", html.encode(), "text/html", "generated", "done")
    rows = "\n".join(f"{rnd.choice(WORDS)},{rnd.randint(1, 999)},{rnd.choice(WORDS)}" for _ in range(rnd.randint(3, 30)))
    return Item(f"{run}/gen/{i}.csv", f"item,count,place\n{marker},0,start\n{rows}\n".encode(), "text/csv", "generated", "done")


# --- watching the run ----------------------------------------------------------------------------

class Observer:
    """Output events (through a pull subscription of its own on the events topic) and records."""

    def __init__(self, stack, project_id: str):
        import grpc
        from google.cloud import firestore, pubsub_v1
        from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

        self.stack = stack
        self.db = firestore.Client(project=project_id)
        # Straight to the emulator, not through the outage gate: the observer is the run's eye,
        # not a pipeline client, and must not lose what it was sent while the gate is shut.
        self._subscriber = pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(
            channel=grpc.insecure_channel(f"127.0.0.1:{stack.ports['pubsub']}")))
        self._path = f"projects/{project_id}/subscriptions/chaos-observer-{uuid.uuid4().hex[:8]}"
        self._subscriber.create_subscription(name=self._path, topic=f"projects/{project_id}/topics/document-events",
                                             ack_deadline_seconds=60, timeout=30)
        self._lock = threading.Lock()
        self.events: dict[str, list[dict]] = defaultdict(list)
        self._future = self._subscriber.subscribe(self._path, self._on_message)

    def _on_message(self, message) -> None:
        with self._lock:
            self.events[message.attributes.get("document_id", "")].append(dict(message.attributes))
        message.ack()

    def events_of(self, doc_id: str) -> list[dict]:
        with self._lock:
            return list(self.events.get(doc_id, []))

    def records(self, doc_ids: list[str]) -> dict[str, dict]:
        refs = [self.db.collection("documents").document(d) for d in doc_ids]
        for attempt in range(60):  # through an outage of Firestore that the run itself injects
            try:
                out: dict[str, dict] = {}
                for start in range(0, len(refs), 300):
                    for snap in self.db.get_all(refs[start:start + 300], timeout=30):
                        if snap.exists:
                            out[snap.id] = snap.to_dict()
                return out
            except Exception:  # noqa: BLE001
                if attempt == 59:
                    raise
                time.sleep(1)
        return {}

    def close(self) -> None:
        self._future.cancel()
        try:
            self._future.result(timeout=10)
        except Exception:  # noqa: BLE001 - cancelled
            pass
        try:
            self._subscriber.delete_subscription(subscription=self._path, timeout=10)
        except Exception:  # noqa: BLE001 - the emulator goes with the stack
            pass
        self._subscriber.close()


def upload(stack, items: list[Item], rate_per_s: float | None = None, stop: threading.Event | None = None) -> None:
    """Drops the items into the inbox (at `rate_per_s`, or as fast as it goes), as users do."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from contentflow.documents import document_id_for

    client = storage.Client(project=stack.project_id, credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": stack.client_env()["STORAGE_EMULATOR_HOST"]})
    bucket = client.bucket(stack.bucket("inbox"))
    started = time.monotonic()
    for n, item in enumerate(items):
        if stop is not None and stop.is_set():
            return
        if rate_per_s:
            wait = started + n / rate_per_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        blob = bucket.blob(item.name)
        for attempt in range(30):  # the storage emulator is not among the faults, but the machine is busy
            try:
                blob.upload_from_string(item.data, content_type=item.content_type, timeout=30)
                break
            except Exception:  # noqa: BLE001
                if attempt == 29:
                    raise
                time.sleep(1)
        item.uploaded_at = time.monotonic()
        item.doc_id = document_id_for(bucket.name, blob.name, blob.md5_hash, blob.generation)


def wait_terminal(observer: Observer, items: list[Item], deadline_s: float, say=lambda m: None) -> dict[str, dict]:
    ids = [i.doc_id for i in items if i.doc_id]
    end = time.monotonic() + deadline_s
    last_say = 0.0
    records: dict[str, dict] = {}
    while True:
        records = observer.records(ids)
        terminal = sum(1 for r in records.values() if r.get("status") in TERMINAL)
        if terminal == len(ids) or time.monotonic() > end:
            return records
        if time.monotonic() - last_say > 10:
            say(f"  {terminal}/{len(ids)} terminal, {len(records)} registered")
            last_say = time.monotonic()
        time.sleep(1.0)


# --- the report ----------------------------------------------------------------------------------

def send_owed_events(observer: Observer, items: list[Item], records: dict[str, dict], wait_s: float = 10.0) -> dict:
    """A document that became terminal while Pub/Sub was out could not announce it: its record
    keeps the outbox mark, and the sweeper sends the event once the grace period is over. This runs
    that sweeper use case once, with real clients (from the environment) and its clock moved past
    the grace period, so a run does not sit out the two minutes; then waits for the events.
    Answers what it found: documents silent, owed (marked), and the sweep's counts."""
    from datetime import timedelta

    from contentflow import documents as sm
    from contentflow.recovery import OUTPUT_EVENT_GRACE_S, Recovery
    from contentflow.services import Services
    from contentflow.settings import Settings

    deadline = time.monotonic() + wait_s  # events go out right after each commit: give them a moment
    while time.monotonic() < deadline and not all(observer.events_of(i.doc_id) for i in items if i.doc_id in records):
        time.sleep(0.2)
    silent = sorted(i.doc_id for i in items if i.doc_id in records and not observer.events_of(i.doc_id))
    owed = sorted(i.doc_id for i in items if (records.get(i.doc_id or "") or {}).get("event_pending_since"))
    result = {"silent": silent, "owed": owed, "sweep": None}
    if owed:
        services = Services(Settings())
        later = sm.utcnow() + timedelta(seconds=OUTPUT_EVENT_GRACE_S + 1)
        summary = Recovery(services.settings, services.store, services.dispatcher, clock=lambda: later).sweep()
        result["sweep"] = {k: v for k, v in summary.items() if k != "documents"}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(observer.events_of(d) for d in silent):
            time.sleep(0.2)
    return result


def check(items: list[Item], records: dict[str, dict], observer: Observer, model_calls: dict | None = None) -> dict:
    """Counts and invariants: every document registered and terminal, hostile files failed with
    their reasons, exactly one output event per document (processed for done, failed for failed)
    and never both."""
    by_status = Counter()
    failed_by_reason = Counter()
    problems: list[str] = []
    events_per_doc = []
    duplicate_events = 0
    for item in items:
        record = records.get(item.doc_id or "")
        if record is None:
            problems.append(f"lost: {item.name} has no record")
            continue
        status = record.get("status")
        by_status[status] += 1
        if status == "failed":
            failed_by_reason[(record.get("error") or {}).get("reason", "?")] += 1
        if status not in TERMINAL:
            problems.append(f"not terminal: {item.name} is {status}")
            continue
        if item.expect == "done" and status != "done":
            problems.append(f"{item.name}: expected done, got failed: {(record.get('error') or {}).get('reason')}")
        elif item.expect not in (None, "done") and (status != "failed" or (record.get("error") or {}).get("reason") != item.expect):
            problems.append(f"{item.name}: expected failed {item.expect!r}, got {status} {(record.get('error') or {}).get('reason')!r}")
        events = observer.events_of(item.doc_id)
        types = Counter(e.get("event_type") for e in events)
        ids = {e.get("event_id") for e in events}
        events_per_doc.append(len(events))
        duplicate_events += len(events) - len(ids)
        want = "document.processed" if status == "done" else "document.failed"
        if set(types) - {want}:
            problems.append(f"{item.name}: {status} but announced {dict(types)}")
        if len(ids) != 1 or types[want] < 1:
            problems.append(f"{item.name}: {len(ids)} distinct {want} events (want exactly 1): {dict(types)}")
    report = {
        "documents_in": len(items),
        "registered": sum(1 for i in items if (i.doc_id or "") in records),
        "by_status": dict(by_status),
        "failed_by_reason": dict(failed_by_reason.most_common()),
        "events_per_document": round(sum(events_per_doc) / max(1, len(events_per_doc)), 3),
        "duplicate_event_deliveries": duplicate_events,  # same event id seen again: allowed, counted
        "problems": problems,
    }
    if model_calls is not None:
        report["model_calls"] = model_calls
        report["model_calls_per_document"] = round(sum(model_calls.values()) / max(1, len(items)), 3)
    return report


def model_call_counts(stack) -> dict[str, int]:
    import requests

    stats = requests.get(stack.vertex_url + "/_fake/stats", timeout=10).json()
    return {method: per["answered"] for method, per in stats.get("per_method", {}).items()}


def markdown(report: dict) -> str:
    lines = ["| what | value |", "|---|---|"]
    for key in ("documents_in", "registered", "by_status", "events_per_document", "duplicate_event_deliveries",
                "model_calls_per_document", "model_calls", "deliveries", "crashes", "duration_s", "rss_mib", "rss_growth"):
        if key in report:
            lines.append(f"| {key} | {json.dumps(report[key]) if isinstance(report[key], (dict, list)) else report[key]} |")
    if report.get("failed_by_reason"):
        lines += ["", "| failed because | documents |", "|---|---|"]
        lines += [f"| {reason} | {n} |" for reason, n in report["failed_by_reason"].items()]
    lines += ["", f"problems: {len(report['problems'])}"] + [f"- {p}" for p in report["problems"][:50]]
    return "\n".join(lines)


# --- the soak run --------------------------------------------------------------------------------

def soak(docs: int, minutes: float, out_dir: Path, say=print, faults: bool = True, seed: int = 7,
         rate_per_s: float | None = None) -> dict:
    """A bounded soak run on a stack of its own: `docs` mixed documents with every fault switched
    on (unless `faults` is False), a report with its invariants, and each function's RSS at the
    end against its RSS after the warm-up (the first tenth of the documents)."""
    import os
    import shutil

    from local.stack import LocalStack

    out_dir.mkdir(parents=True, exist_ok=True)
    run = f"soak-{uuid.uuid4().hex[:6]}"
    data_dir = out_dir / f"{run}-stack"  # kept, with every process's log, when an invariant broke
    report: dict = {"problems": ["the run did not finish"]}
    deadline = time.monotonic() + minutes * 60
    delivery = DeliveryFaults(duplicate=0.2, reorder_max_s=0.5, lost_ack=0.05, seed=seed) if faults else DeliveryFaults()
    stack = LocalStack(data_dir, with_scheduler=False, inference="vertex", delivery_faults=delivery,
                       outage_gates=True, say=say)
    stack.start()
    saved = {k: os.environ.get(k) for k in stack.client_env()}
    os.environ.update(stack.client_env())
    observer = chaos = None
    try:
        observer = Observer(stack, stack.project_id)
        workload = Workload.mixed(docs, run, seed=seed)
        warm, rest = workload.items[: max(20, docs // 10)], workload.items[max(20, docs // 10):]
        say(f"warm-up: {len(warm)} documents")
        upload(stack, warm)
        wait_terminal(observer, warm, max(60.0, deadline - time.monotonic()), say)
        rss_warm = stack.function_rss_mib()
        plan = ChaosPlan(seed=seed)
        if faults:
            # The storm covers about a third of the expected run; outages come after it.
            expected_s = max(60.0, len(rest) / 4.0)
            # Crashes hit on_upload and index (a storage-event hop and a task hop): extract and
            # analyse keep their processes, so their RSS at the end says whether they leak.
            plan = ChaosPlan(crash_every_s=5.0, crash_functions=["on_upload", "index"], seed=seed, storms=[Storm(start_s=expected_s * 0.1, seconds=expected_s / 3)],
                             outages=[Outage(component="firestore", start_s=expected_s * 0.5, seconds=10),
                                      Outage(component="pubsub", start_s=expected_s * 0.7, seconds=10)])
        started = time.monotonic()
        chaos = Chaos(stack, plan).start()
        say(f"run: {len(rest)} documents, faults {'on' if faults else 'off'}")
        upload(stack, rest, rate_per_s=rate_per_s)
        records = wait_terminal(observer, rest, max(30.0, deadline - time.monotonic()), say)
        chaos.stop()
        # Everything terminal: let deliveries still under way settle, then look again.
        records = wait_terminal(observer, workload.items, 60.0, say)
        time.sleep(5)
        rss_end = stack.function_rss_mib()
        owed = send_owed_events(observer, workload.items, records)
        report = check(workload.items, records, observer, model_call_counts(stack))
        report["events_sent_by_the_sweeper"] = owed
        report.update({
            "duration_s": round(time.monotonic() - started, 1),
            "faults": {"delivery": delivery.model_dump(), "plan": plan.model_dump()},
            "crashes": dict(chaos.crashes),
            "chaos_log": chaos.log,
            "deliveries": stack.proxies.snapshot() if stack.proxies else {},
            "rss_mib": {"after_warm_up": {k: round(v, 1) for k, v in rss_warm.items()},
                        "end": {k: round(v, 1) for k, v in rss_end.items()}},
        })
        # A crashed function starts fresh: its RSS is compared only where no crash reset it.
        growth = {name: round(rss_end[name] / rss_warm[name] - 1, 3) for name in rss_warm
                  if name in rss_end and rss_warm[name] and not chaos.crashes.get(name)}
        report["rss_growth"] = growth
        for name, g in growth.items():
            if g > 0.10:
                report["problems"].append(f"{name}: RSS grew {g:.0%} from warm-up ({rss_warm[name]:.0f} -> {rss_end[name]:.0f} MiB)")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (out_dir / f"soak-{stamp}.json").write_text(json.dumps(report, indent=2, default=str))
        (out_dir / f"soak-{stamp}.md").write_text(markdown(report) + "\n")
        return report
    finally:
        if chaos is not None:
            chaos.stop()
        if observer is not None:
            observer.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stack.stop()
        if not report["problems"]:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            say(f"the stack's folder, with its logs, is kept: {data_dir}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/chaos", description="Fault injection and soak runs on the local stack.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("soak", help="a bounded soak run with faults; exits 1 if an invariant breaks")
    run.add_argument("--docs", type=int, default=2000)
    run.add_argument("--minutes", type=float, default=30.0, help="the run's time bound")
    run.add_argument("--no-faults", action="store_true", help="the same run without faults (a baseline)")
    run.add_argument("--rate", type=float, default=None, help="uploads per second (default: as fast as it goes)")
    run.add_argument("--seed", type=int, default=7)
    run.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    report = soak(args.docs, args.minutes, args.out, faults=not args.no_faults, seed=args.seed, rate_per_s=args.rate)
    print(markdown(report))
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
