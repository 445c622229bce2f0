"""Delivery faults for the local stack: an HTTP proxy in front of each function that every caller
(Pub/Sub push, Cloud Tasks, the storage-event relay) reaches instead of the function itself, and
that does to deliveries what production is allowed to do to them:

- `duplicate`: delivers a request a second time (at once, racing the first, or a little later,
  after the first may have finished): at-least-once delivery;
- `reorder_max_s`: holds each delivery a random time before passing it on, so deliveries overtake
  each other;
- `lost_ack`: passes a request on, then answers the caller 503 whatever the function said: the
  work happened, the caller does not know it and delivers again (an ack lost on the way back).

Hand-written because it must sit between the emulators and the functions and decide per request;
a generic proxy (mitmproxy, toxiproxy) would add a dependency for a hundred lines. It counts every
delivery per function, so a test can also see that nothing keeps cycling.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter, defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pydantic import BaseModel, Field

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
FORWARD_TIMEOUT_S = 330.0  # longer than any function's timeout: the function answers first


class DeliveryFaults(BaseModel):
    """What the proxies do; changed at run time (`DeliveryProxies.set_faults`)."""

    duplicate: float = Field(default=0.0, ge=0, le=1)  # share of deliveries sent twice
    duplicate_late_max_s: float = Field(default=2.0, ge=0, le=30)  # the copy follows within this
    reorder_max_s: float = Field(default=0.0, ge=0, le=30)
    lost_ack: float = Field(default=0.0, ge=0, le=1)
    functions: list[str] | None = None  # None: every function
    seed: int | None = None


class _Proxy(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: DeliveryProxies, name: str, listen_port: int, target_port: int):
        self.owner, self.function, self.target_port = owner, name, target_port
        super().__init__(("127.0.0.1", listen_port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Proxy

    def log_message(self, *args) -> None:  # the functions log their requests
        pass

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        owner, name = self.server.owner, self.server.function
        owner.arrived(name, self.command)
        plan = owner.plan_for(name, self.command, self.path)
        if plan.hold_s:
            time.sleep(plan.hold_s)
        if plan.duplicate_after_s is not None:
            threading.Thread(target=owner.forward_copy, args=(self.server.target_port, self.command, self.path, headers,
                                                              body, plan.duplicate_after_s, name), daemon=True).start()
        status, reason, out_headers, out_body = owner.forward(self.server.target_port, self.command, self.path, headers, body, name)
        if plan.lose_ack and 200 <= status < 300:
            owner.count(name, "acks_lost")
            status, reason, out_headers, out_body = 503, "Service Unavailable", [("Content-Type", "text/plain")], b"ack lost\n"
        try:
            self.send_response(status, reason)
            for key, value in out_headers:
                if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(out_body)))
            self.end_headers()
            self.wfile.write(out_body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _any


class _Plan(BaseModel):
    hold_s: float = 0.0
    duplicate_after_s: float | None = None
    lose_ack: bool = False


class DeliveryProxies:
    """One proxy per function: `ports[name]` is where callers go, `targets[name]` the function."""

    def __init__(self, ports: dict[str, int], targets: dict[str, int], faults: DeliveryFaults | None = None):
        self.ports, self.targets = dict(ports), dict(targets)
        self._faults = faults or DeliveryFaults()
        self._random = random.Random(self._faults.seed)
        self._lock = threading.Lock()
        self.counts: Counter[tuple[str, str]] = Counter()
        self._servers: list[_Proxy] = []
        self._threads: list[threading.Thread] = []
        self.last_delivery_at: float | None = None
        # When each caller's request arrived, per function (POSTs: deliveries, before any fault):
        # what a queue dispatched and when, for rate checks.
        self.arrivals: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=100_000))

    # --- control ---------------------------------------------------------------------------
    def set_faults(self, faults: DeliveryFaults) -> None:
        with self._lock:
            self._faults = faults
            if faults.seed is not None:
                self._random = random.Random(faults.seed)

    @property
    def faults(self) -> DeliveryFaults:
        return self._faults

    def arrived(self, name: str, method: str) -> None:
        if method == "POST":
            with self._lock:
                self.arrivals[name].append(time.monotonic())

    def arrival_times(self, name: str, since: float = 0.0) -> list[float]:
        with self._lock:
            return [t for t in self.arrivals.get(name, ()) if t >= since]

    def count(self, name: str, what: str) -> None:
        with self._lock:
            self.counts[(name, what)] += 1

    def deliveries(self, name: str | None = None) -> int:
        with self._lock:
            return sum(v for (n, what), v in self.counts.items() if what == "deliveries" and (name is None or n == name))

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            out: dict[str, dict[str, int]] = {}
            for (name, what), value in self.counts.items():
                out.setdefault(name, {})[what] = value
            return out

    def plan_for(self, name: str, method: str, path: str) -> _Plan:
        with self._lock:
            faults = self._faults
            if method != "POST" or (faults.functions is not None and name not in faults.functions):
                return _Plan()  # readiness probes and page views pass untouched
            rnd = self._random
            plan = _Plan(hold_s=rnd.uniform(0, faults.reorder_max_s) if faults.reorder_max_s else 0.0)
            if faults.duplicate and rnd.random() < faults.duplicate:
                # Half race the original, half arrive after it probably finished.
                plan.duplicate_after_s = 0.0 if rnd.random() < 0.5 else rnd.uniform(0, faults.duplicate_late_max_s)
            plan.lose_ack = bool(faults.lost_ack and rnd.random() < faults.lost_ack)
            return plan

    # --- forwarding ------------------------------------------------------------------------
    def forward(self, port: int, method: str, path: str, headers: dict, body: bytes, name: str):
        self.count(name, "deliveries")
        self.last_delivery_at = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=FORWARD_TIMEOUT_S)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            self.count(name, f"status_{response.status // 100}xx")
            return response.status, response.reason, response.getheaders(), data
        except (OSError, http.client.HTTPException):
            # The function is down (killed, restarting): the caller sees what it would see from a
            # crashed instance, and delivers again by its own policy.
            self.count(name, "unreachable")
            return 502, "Bad Gateway", [("Content-Type", "text/plain")], b"function unreachable\n"
        finally:
            conn.close()

    def forward_copy(self, port: int, method: str, path: str, headers: dict, body: bytes, after_s: float, name: str) -> None:
        if after_s:
            time.sleep(after_s)
        self.count(name, "duplicates")
        self.forward(port, method, path, headers, body, name)

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> DeliveryProxies:
        for name, port in self.ports.items():
            server = _Proxy(self, name, port, self.targets[name])
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                      name=f"proxy-{name}", daemon=True)
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def quiet_for(self, seconds: float) -> bool:
        """No delivery reached any function in the last `seconds`."""
        last = self.last_delivery_at
        return last is None or time.monotonic() - last >= seconds
