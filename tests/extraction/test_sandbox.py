"""Containment: a parser that hangs, crashes or eats memory costs one document, never the
function process, and leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from .support import ROOT, SAMPLES, hostile_builders, process_group

from contentflow.errors import UnreadableDocument
from contentflow.extraction.sandbox import SANDBOX

OCR_HEAVY = (SAMPLES / "hostile/ocr-heavy.pdf").read_bytes()
TEXT = b"A short note that any worker can read in a millisecond."


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_worker_starts_fast_and_is_reused(extract):
    SANDBOX.close()
    extract(TEXT, "a.txt")
    assert SANDBOX.last_start_seconds is not None and SANDBOX.last_start_seconds < 2.0
    pid = SANDBOX.worker_pid()
    extract(TEXT, "b.txt")
    extract((SAMPLES / "documents/solar-battery-brochure.pdf").read_bytes(), "c.pdf")
    assert SANDBOX.worker_pid() == pid


def test_timeout_kills_the_worker_and_its_tesseract(extract):
    extract(TEXT, "warm.txt")
    pid = SANDBOX.worker_pid()
    started = time.monotonic()
    with pytest.raises(UnreadableDocument) as failure:
        extract(OCR_HEAVY, "scan.pdf", timeout_s=1.5)
    assert failure.value.reason == "extraction timed out after 1.5 s"
    assert time.monotonic() - started < 1.5 + 2.0
    assert wait_until(lambda: not process_group(pid), 5), "worker or tesseract still running"
    assert extract(TEXT, "after.txt").word_count == 11  # a fresh worker takes over
    assert SANDBOX.worker_pid() != pid


def test_a_crashing_parser_fails_the_document_only(extract):
    extract(TEXT, "warm.txt")
    pid = SANDBOX.worker_pid()
    outcome = {}

    def run():
        try:
            extract(OCR_HEAVY, "scan.pdf")
        except UnreadableDocument as err:
            outcome["reason"] = err.reason

    thread = threading.Thread(target=run)
    thread.start()
    # Crash it while it is busy (tesseract running under it), as a parser bug would.
    assert wait_until(lambda: len(process_group(pid)) > 1, 10), "the worker never started OCR"
    os.kill(pid, signal.SIGSEGV)
    thread.join(10)
    assert outcome["reason"] == "parser crashed: segmentation fault (SIGSEGV)"
    assert wait_until(lambda: not process_group(pid), 5)
    assert extract(TEXT, "after.txt").word_count == 11


def peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def test_out_of_memory_is_contained(extract):
    bomb = hostile_builders.json_memory_bomb(20_000_000)
    extract(TEXT, "warm.txt")
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset this process's peak RSS
    before = peak_rss_mib()
    with pytest.raises(UnreadableDocument) as failure:
        extract(bomb, "bomb.json", max_memory_mib=400)
    assert failure.value.reason == "extraction ran out of memory (limit 400 MiB)"
    # The 20 MB of JSON needs about 600 MiB as Python objects: none of it in this process.
    assert peak_rss_mib() - before < 50, (before, peak_rss_mib())
    assert extract(TEXT, "after.txt").word_count == 11


def test_worker_dies_with_its_parent():
    script = (
        "import time; from contentflow.extraction.sandbox import SANDBOX; SANDBOX.warm_up(); "
        "print(SANDBOX.worker_pid(), flush=True); time.sleep(60)"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"))
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    try:
        worker = int(parent.stdout.readline())
        assert os.path.exists(f"/proc/{worker}")
        parent.kill()
        parent.wait()
        assert wait_until(lambda: not os.path.exists(f"/proc/{worker}"), 5), "orphaned worker"
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()


def test_worker_respects_a_lower_hard_limit_set_by_the_platform():
    """Asking for more memory than the platform allows clamps to its limit instead of failing."""
    script = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30)); "
        "from contentflow.extraction import ExtractionLimits, extract_document; "
        "print(extract_document(b'five words in this file', filename='a.txt', declared_content_type=None, "
        "limits=ExtractionLimits(max_memory_mib=8192)).word_count)"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.strip() == "5", done.stderr


def test_a_forked_child_starts_its_own_worker(extract):
    """Pre-forking servers (gunicorn --preload) must not share the parent's worker pipes."""
    extract(TEXT, "parent.txt")
    parent_worker = SANDBOX.worker_pid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            result = extract(TEXT, "child.txt")
            code = 0 if result.word_count == 11 and SANDBOX.worker_pid() != parent_worker else 2
            os.write(write, str(SANDBOX.worker_pid()).encode())
            SANDBOX.close()
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(child, 0)
    child_worker = int(os.read(read, 32) or 0)
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_worker and child_worker != parent_worker
    assert SANDBOX.worker_pid() == parent_worker  # the parent's worker is untouched
    assert extract(TEXT, "parent-again.txt").word_count == 11
