"""Child processes of the local stack: each in its own process group, so stopping it ends the
whole chain (gcloud -> bash -> java) and nothing is left behind."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


_handed_out: set[int] = set()


def free_port(preferred: int | None = None) -> int:
    """A free 127.0.0.1 port, never the same twice in this process, and outside the kernel's
    ephemeral range when it can be: a port picked now is bound seconds later, and in between an
    outgoing connection or an emulator's own bind(0) (the JVMs open extra ports) would take one
    from the ephemeral range. `preferred` is taken if it is free."""
    if preferred and preferred not in _handed_out and _bindable(preferred):
        _handed_out.add(preferred)
        return preferred
    low = _ephemeral_range()[0]
    if low > 12000:
        for _ in range(200):
            port = random.randrange(10000, low)
            if port not in _handed_out and _bindable(port):
                _handed_out.add(port)
                return port
    while True:  # no room below the ephemeral range: let the kernel choose
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        # As the servers bind: a port whose old connections linger in TIME_WAIT is free to listen on.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return 200 <= r.status < 300
    except Exception:
        return False


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    popen: subprocess.Popen | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env}, cwd=self.cwd, start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen is None:
            return
        end_process_group(self.popen.pid, timeout)
        try:
            self.popen.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass


def end_process_group(pgid: int, timeout: float = 10.0) -> None:
    """SIGTERM the group we started (its leader's pid is the group id), then SIGKILL what is left."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot): with its pid, it names one process, so
    a pid the kernel gave to somebody else since is never taken for ours."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def is_same_process(pid: int, ticks: int | None) -> bool:
    return ticks is not None and start_ticks(pid) == ticks


def process_stats():
    """(/proc entry, the fields of its stat after the command name) of every process now running:
    fields[0] is the state, fields[2] the process group, fields[11] and [12] user and system ticks."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            yield entry, (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue


def group_rss_mib(pgid: int) -> float:
    """Resident memory of every live process in the group, in MiB (0 when it is gone)."""
    total_kib = 0
    for entry, fields in process_stats():
        if int(fields[2]) != pgid or fields[0] == "Z":
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


def group_alive(pgid: int) -> bool:
    """True while any process of the group exists (zombies of our own children excluded)."""
    return any(int(fields[2]) == pgid and fields[0] != "Z" for _, fields in process_stats())


class TerminationSignals:
    """While installed, SIGTERM and SIGHUP (and Ctrl-C) raise KeyboardInterrupt in the main thread,
    once: a closed terminal or a cancelled CI job then runs the same `finally: stack.stop()` as
    Ctrl-C, and later signals are ignored so the stop is not cut short. Only handlers still at
    their defaults are replaced; `restore()` puts them back."""

    def __init__(self):
        self._saved: dict[int, object] = {}
        self._holding = False
        self._pending: int | None = None

    def install(self) -> None:
        if self._saved or threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            current = signal.getsignal(sig)
            if current in (signal.SIG_DFL, signal.default_int_handler):
                self._saved[sig] = current
                signal.signal(sig, self._interrupt)

    def _interrupt(self, signum, frame) -> None:
        for sig in self._saved:
            signal.signal(sig, signal.SIG_IGN)
        if self._holding:  # between starting a child and recording it: interrupt right after
            self._pending = signum
            return
        raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")

    @contextmanager
    def held(self):
        """Defers the interrupt to the end of the block: a child started inside it is recorded
        (and so stopped) before the interrupt unwinds the start-up."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
            if self._pending is not None:
                signum, self._pending = self._pending, None
                raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")

    def restore(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved.clear()
