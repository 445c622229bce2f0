"""Why the local stack pushes Pub/Sub messages itself (local/pusher.py): the official emulator's own
push, measured. 20 messages go to a push subscription (dead-letter policy, 10 attempts) whose
endpoint answers 502 for the first 10 s and 204 after; the run says how many were delivered
within 120 s, with and without a retry policy, and how often each was pushed.

    scripts/bench emulator_push

Seen with emulator 0.8.20 (Cloud SDK 528): with a retry policy 0 of 20 delivered after 120 s (its
redelivery task dies on a NullPointerException once several failed messages share a time slot);
without one, 20 of 20 after 11 s but pushed every second (10 attempts in 10 s: the dead-letter
policy would fire before a 30 s lease ran out). Bounded: each case stops after 120 s; the emulator's
process group is ended, also on failure."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from local.procs import free_port  # noqa: E402


def run_case(retry_policy: bool, messages: int = 20, fail_s: float = 10.0, bound_s: float = 120.0) -> dict:
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="emulator-push-", suffix=".log", delete=False)
    proc = subprocess.Popen(["gcloud", "beta", "emulators", "pubsub", "start", f"--host-port=127.0.0.1:{port}", "--project=bench"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"})
    server = None
    try:
        base = f"http://127.0.0.1:{port}/v1/projects/bench"

        def call(method: str, path: str, body: dict) -> dict:
            request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode(),
                                             headers={"content-type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read() or b"{}")

        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"the emulator did not start; see {log.name}") from None
                time.sleep(0.2)
        start = time.monotonic()
        pushes: dict[str, int] = {}
        delivered: set[str] = set()

        class Endpoint(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                key = base64.b64decode(body["message"]["data"]).decode()
                pushes[key] = pushes.get(key, 0) + 1
                failing = time.monotonic() < start + fail_s
                if not failing:
                    delivered.add(key)
                self.send_response(502 if failing else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        call("PUT", "/topics/bench-topic", {})
        call("PUT", "/topics/bench-dead-letters", {})
        subscription = {"topic": "projects/bench/topics/bench-topic", "ackDeadlineSeconds": 60,
                        "pushConfig": {"pushEndpoint": f"http://127.0.0.1:{server.server_port}/"},
                        "deadLetterPolicy": {"deadLetterTopic": "projects/bench/topics/bench-dead-letters", "maxDeliveryAttempts": 10}}
        if retry_policy:
            subscription["retryPolicy"] = {"minimumBackoff": "1s", "maximumBackoff": "60s"}
        call("PUT", "/subscriptions/bench-push", subscription)
        call("POST", "/topics/bench-topic:publish",
             {"messages": [{"data": base64.b64encode(str(i).encode()).decode()} for i in range(messages)]})
        while time.monotonic() < start + bound_s and len(delivered) < messages:
            time.sleep(0.5)
        return {"retry_policy": retry_policy, "delivered": len(delivered), "messages": messages,
                "seconds": round(time.monotonic() - start, 1), "pushes": sum(pushes.values()),
                "max_pushes_per_message": max(pushes.values(), default=0)}
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        Path(log.name).unlink(missing_ok=True)


def main() -> int:
    print("| retry policy | delivered | after | pushes | most pushes of one message |")
    print("|---|---|---|---|---|")
    for retry_policy in (True, False):
        r = run_case(retry_policy)
        print(f"| {'1-60 s' if retry_policy else 'none'} | {r['delivered']}/{r['messages']} | {r['seconds']} s | "
              f"{r['pushes']} | {r['max_pushes_per_message']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
