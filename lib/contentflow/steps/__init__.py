"""Step handlers: the work of each pipeline step, one module per step, found by the step's name.

A step named `x` in the spec is handled by the module `contentflow.steps.x`, whose `build(ports)`
returns a callable `(document) -> updates` (the fields to change on the record). The handler never
writes the record's state: `Pipeline.run_step` claims the step, calls the handler, commits its
updates and hands the document on. Adding a step is a module here plus a spec entry; a spec step
with no module is refused when the spec loads (`contentflow.spec`), naming the step.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING, Callable, Protocol

if TYPE_CHECKING:
    from contentflow.documents import Document

StepHandler = Callable[["Document"], dict]


class StepPorts(Protocol):
    """What handlers may ask for (the composition root, `contentflow.services.Services`, has them
    all, built once per instance and only when first asked for)."""

    settings: object
    blobs: object
    store: object
    inference: object
    chunks: object
    results_lookup: object
    taxonomy: object


@cache
def registered_steps() -> frozenset[str]:
    """The step names that have a handler module (found without importing them)."""
    return frozenset(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def build_handler(step_name: str, ports: StepPorts) -> StepHandler:
    if step_name not in registered_steps():
        raise KeyError(f"no handler for step {step_name!r}")
    return importlib.import_module(f"{__name__}.{step_name}").build(ports)
