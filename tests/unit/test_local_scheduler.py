"""The local scheduler's cron loop fires jobs on time, with Cloud Scheduler's headers and body."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from contentflow.spec import Schedule, ScheduleTarget
from local.scheduler import LocalScheduler


def test_cron_loop_fires_with_scheduler_headers():
    received = []

    class Target(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((time.monotonic(), dict(self.headers), json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # The spec allows 5-field crons; croniter's sixth (seconds) field keeps this test short.
    schedule = Schedule.model_construct(description="t", cron="* * * * * */1", time_zone="Etc/UTC",
                                        target=ScheduleTarget(function="sweeper", body={"probe": 1}))
    fired = []
    scheduler = LocalScheduler({"sweeper": schedule}, {"sweeper": f"http://127.0.0.1:{server.server_port}/"},
                               on_fired=lambda name, status: fired.append((name, status))).start()
    try:
        deadline = time.monotonic() + 10
        while len(received) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.stop()
        server.shutdown()
        server.server_close()
    assert len(received) >= 3, received
    gaps = [b[0] - a[0] for a, b in zip(received, received[1:])]
    assert all(0.5 < gap < 1.6 for gap in gaps), gaps  # once a second, not in a burst
    _, headers, body = received[0]
    assert body == {"probe": 1}
    assert headers["X-CloudScheduler"] == "true" and headers["X-CloudScheduler-JobName"] == "sweeper"
    assert headers["User-Agent"] == "Google-Cloud-Scheduler" and "X-CloudScheduler-ScheduleTime" in headers
    assert fired[0] == ("sweeper", 200)
    count = len(received)
    time.sleep(1.5)
    assert len(received) == count  # stopped means stopped
