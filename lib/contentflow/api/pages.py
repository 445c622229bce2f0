"""What the api's HTML pages (the status page, the API docs) share: one Jinja2 environment with
autoescaping on, one stylesheet inlined in every page, and the response headers.

The stylesheet is inlined (no second request, nothing external) and allowed by its hash in the
Content-Security-Policy, which allows nothing else: no script, no frame, no outside resource.
Templates and stylesheet are read when a page is first asked for, not at import: were they
missing from a deployment, the pages would fail, not the whole api."""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import re
from datetime import datetime, timezone
from pathlib import Path

from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

_HERE = Path(__file__).parent


@functools.cache
def stylesheet() -> str:
    return (_HERE / "static" / "contentflow.css").read_text(encoding="utf-8").strip()


@functools.cache
def content_security_policy() -> str:
    style_hash = base64.b64encode(hashlib.sha256(stylesheet().encode()).digest()).decode()
    return (f"default-src 'none'; style-src 'sha256-{style_hash}'; img-src 'self' data:; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def duration(ms: object) -> str:
    """1234 -> "1.23 s": the pages' one way to show a duration."""
    if not isinstance(ms, (int, float)) or isinstance(ms, bool) or math.isnan(ms):
        return "–"
    if ms < 1000:
        return f"{int(ms)} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    return f"{ms / 60_000:.1f} min"


def age(then: object, now: datetime | None = None) -> str:
    """How long ago, in the largest whole unit: "45 s ago", "3 min ago", "2 h ago", "5 d ago"."""
    if not isinstance(then, datetime):
        return ""
    now = now or datetime.now(timezone.utc)
    then = then if then.tzinfo else then.replace(tzinfo=timezone.utc)
    seconds = max(0, int((now - then).total_seconds()))
    for unit, span in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= span:
            return f"{seconds // span} {unit} ago"
    return f"{seconds} s ago"


def utc(moment: object) -> str:
    if not isinstance(moment, datetime):
        return "–"
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(moment: object) -> str:
    return moment.isoformat() if isinstance(moment, datetime) else ""


def size(n: object) -> str:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        return "–"
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


_CODE_SPAN = re.compile(r"`([^`]+)`")


def inline_markup(text: object) -> Markup:
    """Escaped text with `backticks` as <code>: the only markup of the OpenAPI descriptions."""
    escaped = str(escape(str(text or "")))
    return Markup(_CODE_SPAN.sub(lambda m: f"<code>{m.group(1)}</code>", escaped))


@functools.cache
def environment():
    import jinja2  # on first use: ~25 ms the api's cold start does not pay

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,  # every page is HTML: escape every value, whatever the file's name
        undefined=jinja2.StrictUndefined,  # a misspelt name is an error in the tests, not an empty cell
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(duration=duration, age=age, utc=utc, iso=iso, size=size, inline=inline_markup)
    return env


def render(template: str, context: dict) -> str:
    return environment().get_template(template).render({**context, "stylesheet": stylesheet()})


def page_response(html: str, status_code: int = 200, cache: str = "no-store") -> HTMLResponse:
    return HTMLResponse(html, status_code=status_code, headers={
        "Content-Security-Policy": content_security_policy(),
        "Cache-Control": cache,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    })
