"""Own the step before paying for it. A first delivery writes its claim late (with its commit, see
Pipeline.run_step), so a duplicate racing it could do the same work; that must never mean paying
twice. The pipeline sets a guard while a step works; the inference adapter calls
`before_paid_call` before each request that is billed (Vertex AI), which writes the claim if it
is not written yet, or raises StepBusy if another delivery holds the step. Outside a step (a
search query's embedding) there is no guard and nothing to own."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

_guard: ContextVar[Callable[[], None] | None] = ContextVar("contentflow_paid_call_guard", default=None)


def before_paid_call() -> None:
    guard = _guard.get()
    if guard is not None:
        guard()


@contextlib.contextmanager
def guarded(guard: Callable[[], None] | None) -> Iterator[None]:
    token = _guard.set(guard)
    try:
        yield
    finally:
        _guard.reset(token)
