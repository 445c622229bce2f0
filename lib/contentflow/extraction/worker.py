"""The parser worker: `python -m contentflow.extraction.worker`, started and fed by sandbox.py.

It reads one request at a time on stdin (a JSON frame, then the document's bytes), parses under an
address-space and CPU-time limit, and answers with one JSON frame on the stdout it was started
with. It stays up between documents, so each parser library is imported once, on the first
document of its type; the parent kills it on a timeout and starts another. Imports stay light
here: the worker must start fast and must not need pydantic.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import os
import resource
import signal
import sys
import time
import traceback
from types import SimpleNamespace

from contentflow.errors import UnreadableDocument
from contentflow.extraction import protocol

# kind -> (module, function); imported on first use.
PARSERS = {
    "text": ("contentflow.extraction.text", "parse"),
    "markdown": ("contentflow.extraction.text", "parse"),
    "html": ("contentflow.extraction.html", "parse"),
    "pdf": ("contentflow.extraction.pdf", "parse"),
    "docx": ("contentflow.extraction.docx", "parse"),
    "json": ("contentflow.extraction.tabular", "parse_json"),
    "csv": ("contentflow.extraction.tabular", "parse_csv"),
    "image": ("contentflow.extraction.image", "parse"),
}
PR_SET_PDEATHSIG = 1
_FROZEN_KINDS: set[str] = set()  # kinds whose parser libraries are moved out of the collector's way


def _die_with_parent(parent: int) -> None:
    """If the function process dies, so does the worker (and it never outlives a crash)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the stdin EOF still ends the loop
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def _set_soft(kind: int, soft: int) -> None:
    # Never above the hard limit the platform set (raising it needs privileges we lack).
    hard = resource.getrlimit(kind)[1]
    if hard != resource.RLIM_INFINITY and (soft == resource.RLIM_INFINITY or soft > hard):
        soft = hard
    resource.setrlimit(kind, (soft, hard))


def _limit(memory_mib: int, timeout_s: float) -> None:
    _set_soft(resource.RLIMIT_AS, memory_mib * 1024 * 1024)
    # CPU time is cumulative for the process: allow this job's share on top of what was used.
    used = resource.getrusage(resource.RUSAGE_SELF)
    _set_soft(resource.RLIMIT_CPU, int(used.ru_utime + used.ru_stime + timeout_s) + 2)


def _unlimit() -> None:
    for kind in (resource.RLIMIT_AS, resource.RLIMIT_CPU):
        _set_soft(kind, resource.RLIM_INFINITY)


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def handle(request: dict, data: bytes) -> dict:
    limits = SimpleNamespace(**request["limits"])
    deadline = time.monotonic() + limits.timeout_s
    module, function = PARSERS[request["kind"]]
    _limit(limits.max_memory_mib, limits.timeout_s)
    try:
        parse = getattr(importlib.import_module(module), function)
        parsed = parse(data, mime=request["mime"], kind=request["kind"], charset=request.get("charset"),
                       sniffed=request.get("sniffed", False), limits=limits, deadline=deadline)
        return {"ok": True, "parsed": parsed.to_wire()}
    except UnreadableDocument as err:
        return {"ok": False, "reason": err.reason}
    except MemoryError:
        # Fatal: the heap may be fragmented or a library left in a bad state; start afresh.
        return {"ok": False, "reason": f"extraction ran out of memory (limit {limits.max_memory_mib} MiB)",
                "fatal": True}
    except TimeoutError:
        return {"ok": False, "reason": f"extraction timed out after {limits.timeout_s:g} s", "fatal": True}
    except RecursionError:
        return {"ok": False, "reason": "document nested too deeply for the parser", "fatal": True}
    except Exception as err:
        if type(err).__name__ == "OcrUnavailable":
            return {"ok": False, "broken": str(err)}
        traceback.print_exc(file=sys.stderr)  # a parser bug or a library choking: keep the trace
        return {"ok": False, "reason": f"parser crashed: {type(err).__name__}: {err}"[:300],
                "fatal": True}
    finally:
        _unlimit()
        gc.collect()  # the document's reference cycles go now, not at some later document's peak
        if request["kind"] not in _FROZEN_KINDS:
            # The first document of a kind has imported its parser libraries (tens of thousands
            # of objects that live as long as the worker): the collector stops traversing them,
            # which made the collection above cost more than parsing an HTML page (8 ms of 15).
            # Refcounting still frees frozen objects; only cycles among them would stay.
            _FROZEN_KINDS.add(request["kind"])
            gc.freeze()


def main() -> int:
    reply_fd = os.dup(1)
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the protocol stream
    _die_with_parent(int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid())
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core files from crashing parsers
    protocol.write_all(reply_fd, protocol.encode({"ready": True, "pid": os.getpid()}))
    while True:
        request = protocol.read_frame(0)
        if request is None:
            return 0  # the parent closed stdin: shut down
        data = protocol.read_exact(0, request["size"])
        if data is None:
            return 0
        reply = handle(request, data)
        del data
        reply["rss_mib"] = round(_rss_mib(), 1)
        # Peaks since the worker started (ru_maxrss is in KiB on Linux); children = tesseract.
        reply["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        reply["children_peak_rss_mib"] = round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
        protocol.write_all(reply_fd, protocol.encode(reply))
        if reply.get("fatal"):
            return 0


if __name__ == "__main__":
    sys.exit(main())
