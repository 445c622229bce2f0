"""Outages of a backing service, as the functions see them: a TCP gate between the clients
(`PUBSUB_EMULATOR_HOST`, `FIRESTORE_EMULATOR_HOST` point at it) and the emulator. While it is cut,
open connections are reset and new ones are closed at once, so calls fail or time out as they do
when a Google service is unavailable; then it opens again and the service is there with its state.

Why not stop the emulator: a restarted emulator comes back empty (a production outage does not
lose data), and a Pub/Sub emulator paused with SIGSTOP never pushed again after SIGCONT (seen in
a soak run). Written by hand: a byte pump of a page, where a proxy package would add a dependency.
"""

from __future__ import annotations

import socket
import struct
import threading
import time


class TcpGate:
    def __init__(self, name: str, listen_port: int, target_port: int):
        self.name, self.listen_port, self.target_port = name, listen_port, target_port
        self._server: socket.socket | None = None
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._cut_until = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cuts = 0

    @property
    def is_cut(self) -> bool:
        return time.monotonic() < self._cut_until

    def start(self) -> TcpGate:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.listen_port))
        server.listen(256)
        server.settimeout(0.2)
        self._server = server
        self._thread = threading.Thread(target=self._accept, name=f"gate-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self._server:
            self._server.close()
        self._reset_all()

    def cut(self, seconds: float) -> None:
        """The service is unreachable for `seconds` (connections reset, new ones closed); returns at once."""
        with self._lock:
            self._cut_until = time.monotonic() + seconds
            self.cuts += 1
        self._reset_all()

    def _reset_all(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            _reset(conn)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            if self.is_cut:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                _reset(client)
                continue
            for s in (client, upstream):
                s.settimeout(None)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):  # the other pump sees the end too, and closes its own source
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self._lock:
                self._conns.discard(src)
            src.close()


def _reset(conn: socket.socket) -> None:
    """Close with RST (linger 0): the peer sees a reset connection, not a clean end."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        conn.close()
    except OSError:
        pass
