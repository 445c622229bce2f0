"""Test support: a local HTTP target (127.0.0.1) that records every request and answers as each
test tells it, and small helpers for driving the emulator through the official client."""

import http.server
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Received:
    path: str
    method: str
    headers: dict
    body: bytes
    arrived: float  # time.monotonic() when the request line arrived


@dataclass
class Reply:
    status: int = 200
    delay: float = 0.0  # seconds the target takes before answering
    headers: dict = field(default_factory=dict)


class TargetServer:
    """A threaded HTTP/1.1 (keep-alive) server. `respond(path, behaviour)` sets how a path
    answers: behaviour(attempt_index) -> Reply. It counts requests in flight per path."""

    def __init__(self):
        self._cond = threading.Condition()
        self._closing = threading.Event()
        self._received: dict[str, list[Received]] = defaultdict(list)
        self._behaviours: dict[str, Callable[[int], Reply]] = {}
        self.in_flight: dict[str, int] = defaultdict(int)
        self.max_in_flight: dict[str, int] = defaultdict(int)
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10  # a kept-alive connection left idle ends its thread

            def _handle(self):
                arrived = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                reply = target._record(Received(path, self.command, dict(self.headers), body, arrived))
                if reply.delay:
                    target._closing.wait(reply.delay)  # cut short when the target closes
                with target._cond:
                    target.in_flight[path] -= 1
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the emulator gave up (dispatch deadline) and closed the connection

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-target", daemon=True
        )
        self._thread.start()

    def _record(self, request: Received) -> Reply:
        with self._cond:
            index = len(self._received[request.path])
            self._received[request.path].append(request)
            self.in_flight[request.path] += 1
            self.max_in_flight[request.path] = max(self.max_in_flight[request.path], self.in_flight[request.path])
            behaviour = self._behaviours.get(request.path)
            self._cond.notify_all()
        return behaviour(index) if behaviour else Reply()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def respond(self, path: str, behaviour: Callable[[int], Reply]) -> None:
        with self._cond:
            self._behaviours[path] = behaviour

    def received(self, path: str) -> list[Received]:
        with self._cond:
            return list(self._received[path])

    def wait_for(self, path: str, count: int, timeout: float) -> list[Received]:
        """The first `count` requests to `path`; fails the test if they do not come in time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._received[path]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{path}: {len(self._received[path])} of {count} requests within {timeout} s"
                    )
                self._cond.wait(remaining)
            return list(self._received[path][:count])

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def make_queue(client, emulator, queue_id: str, **config):
    """Creates a queue through the client: config holds rate_limits / retry_config dicts."""
    return client.create_queue(parent=emulator.parent, queue={"name": emulator.queue_path(queue_id), **config})


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class RawTarget:
    """A keep-alive HTTP/1.1 target on raw sockets (127.0.0.1) for faults http.server cannot
    make: `plan(path, index) -> "ok" | "reset" | "ok_then_close"` decides, per request to a path,
    to answer 200 and keep the connection, to read the request and then reset the connection
    (SO_LINGER 0: an RST, no answer), or to answer 200 and then close the connection at once (a
    target ending an idle keep-alive connection)."""

    def __init__(self, plan: Callable[[str, int], str]):
        import socket

        self._socket_module = socket
        self._plan = plan
        self._cond = threading.Condition()
        self._received: dict[str, list[Received]] = defaultdict(list)
        self._connections: list = []
        self._threads: list[threading.Thread] = []
        self.connections_accepted = 0
        self.connections_closed = 0  # by the target's side
        self._closing = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._accepting = threading.Thread(target=self._accept, name="test-raw-target", daemon=True)
        self._accepting.start()

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self, path: str) -> list[Received]:
        with self._cond:
            return list(self._received[path])

    def wait_for(self, path: str, count: int, timeout: float) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._received[path]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{path}: {len(self._received[path])} of {count} requests within {timeout} s")
                self._cond.wait(remaining)
            return list(self._received[path][:count])

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            connection.settimeout(5)
            thread = threading.Thread(target=self._serve, args=(connection,), name="test-raw-target-conn", daemon=True)
            with self._cond:
                self.connections_accepted += 1
                self._connections.append(connection)
                self._threads.append(thread)
            thread.start()

    def _serve(self, connection) -> None:
        socket = self._socket_module
        reader = connection.makefile("rb")
        try:
            while not self._closing.is_set():
                request_line = reader.readline(65536)
                if not request_line:
                    return
                method, target_path, _ = request_line.decode("latin-1").split(" ", 2)
                headers = {}
                while True:
                    line = reader.readline(65536).decode("latin-1")
                    if line in ("\r\n", "\n", ""):
                        break
                    key, _, value = line.partition(":")
                    headers[key.strip()] = value.strip()
                length = int(headers.get("Content-Length") or 0)
                body = reader.read(length) if length else b""
                path = target_path.split("?", 1)[0]
                with self._cond:
                    index = len(self._received[path])
                    self._received[path].append(Received(path, method, headers, body, time.monotonic()))
                    self._cond.notify_all()
                action = self._plan(path, index)
                if action == "reset":
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct_linger_zero())
                    return
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                if action == "ok_then_close":
                    return
        except OSError:
            return
        finally:
            reader.close()
            connection.close()
            with self._cond:
                self.connections_closed += 1

    def close(self) -> None:
        self._closing.set()
        self._accepting.join(5)
        self._listener.close()
        with self._cond:
            connections, threads = list(self._connections), list(self._threads)
        for connection in connections:
            try:
                connection.shutdown(self._socket_module.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(5)


def struct_linger_zero() -> bytes:
    """SO_LINGER on, 0 s: close() then sends an RST instead of a FIN."""
    import struct

    return struct.pack("ii", 1, 0)
