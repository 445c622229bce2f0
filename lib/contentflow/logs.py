"""Structured JSON logs in Cloud Logging's format, with the document id, step and trace on every line.

Cloud Logging reads one JSON object per stdout line: `severity`, `message`, and the special key
`logging.googleapis.com/trace` ("projects/P/traces/T") that groups a document's lines across
functions. Context is bound per request with `bind()`; every record carries what is bound.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from datetime import datetime, timezone

_context: contextvars.ContextVar[dict] = contextvars.ContextVar("contentflow_log_context", default={})
_project_id: str | None = None

_SEVERITY = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARNING", "ERROR": "ERROR", "CRITICAL": "CRITICAL"}


class CloudLoggingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "logger": record.name,
        }
        context = dict(_context.get())
        trace = context.pop("trace_id", None)
        if trace:
            entry["logging.googleapis.com/trace"] = f"projects/{_project_id or '-'}/traces/{trace}"
        entry.update(context)
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _FieldsAdapter(logging.LoggerAdapter):
    """`log.info("msg", reason=...)`: keyword fields become JSON keys."""

    def log(self, level, msg, *args, exc_info=None, **fields):  # type: ignore[override]
        if self.isEnabledFor(level):
            self.logger.log(level, msg, *args, exc_info=exc_info, extra={"fields": fields}, stacklevel=2)

    def debug(self, msg, *a, **kw): self.log(logging.DEBUG, msg, *a, **kw)  # noqa: E704
    def info(self, msg, *a, **kw): self.log(logging.INFO, msg, *a, **kw)  # noqa: E704
    def warning(self, msg, *a, **kw): self.log(logging.WARNING, msg, *a, **kw)  # noqa: E704
    def error(self, msg, *a, **kw): self.log(logging.ERROR, msg, *a, **kw)  # noqa: E704

    def exception(self, msg, *a, **kw):
        self.log(logging.ERROR, msg, *a, exc_info=True, **kw)


def get_logger(name: str = "contentflow") -> _FieldsAdapter:
    return _FieldsAdapter(logging.getLogger(name), {})


def setup_logging(project_id: str | None, level: str = "INFO") -> None:
    """Once per instance: every logger writes JSON lines to stdout."""
    global _project_id
    _project_id = project_id
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "google", "grpc", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def annotate(**fields) -> None:
    """Adds fields to the innermost bound context in place, so lines logged later in the same
    request by an outer block (e.g. the function's closing line) carry them too."""
    _context.get().update({k: v for k, v in fields.items() if v is not None})


@contextlib.contextmanager
def bind(**fields):
    """Adds fields (document_id, step, trace_id, ...) to every log line inside the block."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)
