"""Runs the parsers in a child process, so that a parser that hangs, crashes or eats memory costs
one document, never the function process.

The child (worker.py) is started with subprocess (no fork of this possibly threaded process, no
Python code between fork and exec) in a new session, so that killing its process group also ends
any tesseract it started. It lives across documents and keeps the parser libraries it imported;
it is replaced after a timeout, a crash, a memory failure, `MAX_JOBS` documents, or when its
resident memory stays above `RECYCLE_RSS_FRACTION` of the limit. Calls are serialised: one
worker, one document at a time.
"""

from __future__ import annotations

import atexit
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from contentflow.errors import UnreadableDocument
from contentflow.extraction import protocol

LIB_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the contentflow package
STARTUP_TIMEOUT_S = 30.0
# The worker enforces the timeout itself where it can (it knows what it is doing); the parent's
# kill is the backstop, a little later.
KILL_GRACE_S = 1.0
MAX_JOBS = 500
RECYCLE_RSS_FRACTION = 0.5


class WorkerUnavailable(RuntimeError):
    """The worker cannot run at all (cannot start, or OCR missing): a deployment problem."""


class _Timeout(Exception):
    pass


class _Died(Exception):
    pass


def _crash_reason(returncode: int | None, timeout_s: float) -> str:
    if returncode is not None and returncode < 0:
        sig = -returncode
        if sig == signal.SIGXCPU:
            return f"extraction timed out after {timeout_s:g} s"
        if sig == signal.SIGKILL:
            return "parser crashed: killed (SIGKILL), most likely out of memory"
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"parser crashed: {(signal.strsignal(sig) or name).lower()} ({name})"
    return f"parser crashed: the worker exited with status {returncode}"


class Worker:
    """One child process and the pipes to it."""

    def __init__(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(LIB_ROOT), env.get("PYTHONPATH")]))
        env.update(OMP_THREAD_LIMIT="1", OPENBLAS_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
        started = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "contentflow.extraction.worker", str(os.getpid())],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True,
                bufsize=0,
            )
        except OSError as err:
            raise WorkerUnavailable(f"cannot start the extraction worker: {err}") from err
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.jobs = 0
        try:
            ready = self._exchange([], time.monotonic() + STARTUP_TIMEOUT_S)
        except (_Timeout, _Died):
            self.kill()
            raise WorkerUnavailable("the extraction worker did not start") from None
        if not ready.get("ready"):
            self.kill()
            raise WorkerUnavailable("the extraction worker answered nonsense at start")
        self.start_seconds = time.monotonic() - started

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _exchange(self, parts: list, deadline: float) -> dict:
        """Write `parts` to the worker while waiting for its one reply frame, until `deadline`."""
        wfd, rfd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        pending = [memoryview(p) for p in parts if len(p)]
        received = bytearray()
        size = None
        with selectors.DefaultSelector() as selector:
            selector.register(rfd, selectors.EVENT_READ)
            if pending:
                selector.register(wfd, selectors.EVENT_WRITE)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _Timeout
                for key, _ in selector.select(remaining):
                    if key.fd == wfd:
                        try:
                            pending[0] = pending[0][os.write(wfd, pending[0][: 1 << 20]):]
                        except BlockingIOError:
                            continue
                        except BrokenPipeError:  # it died; the read side will see the EOF
                            pending = []
                        if pending and not pending[0]:
                            pending.pop(0)
                        if not pending:
                            selector.unregister(wfd)
                        continue
                    chunk = os.read(rfd, 1 << 20)
                    if not chunk:
                        raise _Died
                    received += chunk
                    if size is None and len(received) >= protocol.HEADER.size:
                        (size,) = protocol.HEADER.unpack_from(received)
                        if size > protocol.MAX_FRAME:
                            raise _Died
                    if size is not None and len(received) >= protocol.HEADER.size + size:
                        return protocol.decode_body(bytes(received[protocol.HEADER.size:]))

    def call(self, request: dict, data: bytes, timeout_s: float) -> dict:
        header = protocol.encode({**request, "size": len(data)})
        self.jobs += 1
        try:
            return self._exchange([header, data], time.monotonic() + timeout_s + KILL_GRACE_S)
        except _Timeout:
            self.kill()
            raise UnreadableDocument(f"extraction timed out after {timeout_s:g} s") from None
        except (_Died, ValueError):  # ValueError: a reply that is not a JSON object
            returncode = self.kill()
            raise UnreadableDocument(_crash_reason(returncode, timeout_s)) from None

    def kill(self) -> int | None:
        """End the worker and everything it started; returns its exit status."""
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=0.2)  # a crashed worker may still be exiting
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its session: tesseract included
        except (ProcessLookupError, PermissionError):
            pass
        returncode = self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        return returncode

    def close(self) -> None:
        """Polite shutdown: EOF on stdin ends the worker's loop; kill if it does not listen."""
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


class Sandbox:
    def __init__(self):
        self._lock = threading.Lock()
        self._worker: Worker | None = None
        self.last_start_seconds: float | None = None
        self.last_worker_memory: dict = {}  # the worker's rss/peak (MiB) after the last document

    def _get(self) -> Worker:
        if self._worker is None or self._worker.proc.poll() is not None:
            if self._worker is not None:
                self._worker.kill()
            self._worker = Worker()
            self.last_start_seconds = self._worker.start_seconds
        return self._worker

    def warm_up(self) -> None:
        with self._lock:
            self._get()

    def run(self, request: dict, data: bytes, *, timeout_s: float, memory_mib: int) -> dict:
        """The worker's reply for one document; UnreadableDocument for every way it can fail."""
        with self._lock:
            worker = self._get()
            try:
                reply = worker.call(request, data, timeout_s)
            except UnreadableDocument:
                self._worker = None  # already killed
                raise
            self.last_worker_memory = {k: v for k, v in reply.items() if k.endswith("_mib")}
            if reply.get("fatal"):
                self._worker = None
                worker.kill()  # it is exiting by itself; reap it and its children
            elif worker.jobs >= MAX_JOBS or reply.get("rss_mib", 0) > memory_mib * RECYCLE_RSS_FRACTION:
                self._worker = None
                worker.close()
        if "broken" in reply:
            raise WorkerUnavailable(reply["broken"])
        if not reply.get("ok"):
            raise UnreadableDocument(str(reply.get("reason") or "parser crashed: no reason given"))
        return reply

    def worker_pid(self) -> int | None:
        worker = self._worker
        return worker.pid if worker is not None and worker.proc.poll() is None else None

    def close(self) -> None:
        with self._lock:
            if self._worker is not None:
                self._worker.close()
                self._worker = None

    def forget(self) -> None:
        """In a forked child (a pre-forking server): the worker and its pipes are the parent's."""
        self._lock = threading.Lock()
        self._worker = None


SANDBOX = Sandbox()
atexit.register(SANDBOX.close)
os.register_at_fork(after_in_child=SANDBOX.forget)
