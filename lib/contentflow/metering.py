"""Counts billable operations (Firestore reads/writes, messages, bytes, model calls) per request,
and the time spent in Firestore.

Adapters call `count()`; each function logs the totals of its request on its last log line, so
costs per document are summed from logs, not guessed.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections import Counter

_counts: contextvars.ContextVar[Counter | None] = contextvars.ContextVar("contentflow_costs", default=None)


def count(operation: str, n: int = 1) -> None:
    counter = _counts.get()
    if counter is not None:
        counter[operation] += n


@contextlib.contextmanager
def timed(operation: str):
    """Adds the block's wall time in milliseconds to `<operation>.ms` (where a request's time goes)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        count(f"{operation}.ms", round((time.perf_counter() - start) * 1000))


@contextlib.contextmanager
def metered():
    """Collects counts inside the block; yields the Counter."""
    counter: Counter = Counter()
    token = _counts.set(counter)
    try:
        yield counter
    finally:
        _counts.reset(token)
