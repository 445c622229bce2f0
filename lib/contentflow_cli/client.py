"""The api client: one `requests.Session`, a timeout on every call, bounded retries, and the api's
error shape (`{"error": {"code", "message"}}`) turned into `ApiError`.

Retries: a 429 or 503 (and a 409 that carries Retry-After: an Idempotency-Key still in use) is
retried after its Retry-After (capped), within a few attempts and a time budget; a connection
error is retried only for requests that are safe to repeat (GET, DELETE, PUT, and POSTs that carry
an Idempotency-Key)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from enum import IntEnum
from typing import Any

import requests

USER_AGENT = "contentflow-cli/0.1"
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
MAX_ATTEMPTS = 5
RETRY_BUDGET_S = 30.0  # no request keeps retrying longer than this
MAX_RETRY_AFTER_S = 10.0  # a server asking for a longer pause is waited for this long at most
MAX_MESSAGE_CHARS = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # terminal escapes and the like, never printed
_CLIENT_INPUT_STATUSES = {400, 413, 415, 422}


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # documents failed, or the api refused the operation (not found, conflict, unauthorized)
    USAGE = 2  # bad arguments, or input the api rejected as invalid
    UNREACHABLE = 3  # no api answered (no local stack running, connection refused) or it kept failing (5xx)
    TIMED_OUT = 4  # documents were not finished before --timeout


def clean(text: Any, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Text from the api or a file name, safe to print: no control characters, bounded."""
    text = _CONTROL.sub("?", str(text if text is not None else ""))
    return text if len(text) <= limit else text[: limit - 1] + "…"


class CliError(Exception):
    """Shown as `error: <code>: <message>` on stderr; the command exits with `exit_code`."""

    def __init__(self, code: str, message: str, exit_code: ExitCode):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.exit_code = exit_code


class ApiError(CliError):
    """The api answered with an error."""

    def __init__(self, status: int, code: str, message: str):
        if status >= 500:
            exit_code = ExitCode.UNREACHABLE
        elif status in _CLIENT_INPUT_STATUSES:
            exit_code = ExitCode.USAGE
        else:
            exit_code = ExitCode.FAILED
        super().__init__(code, message, exit_code)
        self.status = status


class Unreachable(CliError):
    def __init__(self, message: str):
        super().__init__("unreachable", message, ExitCode.UNREACHABLE)


def error_from(response: requests.Response) -> ApiError:
    """The api's error shape, or a plain description of an answer that is not in it (a proxy's page)."""
    try:
        body = response.json()
        err = body["error"]
        return ApiError(response.status_code, clean(err["code"], 64), clean(err["message"]))
    except (ValueError, KeyError, TypeError):
        return ApiError(response.status_code, f"http_{response.status_code}",
                        clean(f"HTTP {response.status_code} {response.reason or ''}".strip()))


def _retry_after(response: requests.Response, default: float) -> float:
    try:
        value = float(response.headers.get("Retry-After", ""))
    except ValueError:
        value = default
    return max(0.0, min(value, MAX_RETRY_AFTER_S))


class ApiClient:
    """Calls to one api. `auth_headers` is asked once, at the first call (an ID token is fetched only
    when a command needs the api), and those headers go to the api only, never to an upload URL."""

    def __init__(self, base_url: str, auth_headers: Callable[[], dict[str, str]] | None = None,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._auth_headers = auth_headers
        self._resolved_auth: dict[str, str] | None = None
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self._sleep = sleep

    def _auth(self) -> dict[str, str]:
        if self._resolved_auth is None:
            self._resolved_auth = self._auth_headers() if self._auth_headers else {}
        return self._resolved_auth

    def url(self, path: str) -> str:
        return self.base_url + path.lstrip("/")

    def request(self, method: str, path: str, *, expect: tuple[int, ...] = (200,), headers: dict | None = None,
                read_timeout: float = READ_TIMEOUT_S, **kwargs) -> requests.Response:
        """`path` relative to the api's base URL. Answers with a status in `expect`, or raises
        ApiError / Unreachable. A body given as bytes or a dict is re-sent as is on a retry."""
        all_headers = {**self._auth(), **(headers or {})}
        repeatable = method in ("GET", "HEAD", "DELETE", "PUT") or "Idempotency-Key" in all_headers
        return self._send(method, self.url(path), all_headers, expect, repeatable, read_timeout, kwargs)

    def put_upload(self, url: str, headers: dict[str, str], body, read_timeout: float = 120.0) -> None:
        """PUTs a file to a signed upload URL: exactly the granted headers, no api credentials.
        Not retried: `body` is a stream, read once."""
        self._send("PUT", url, dict(headers), (200, 201), False, read_timeout, {"data": body}, max_attempts=1)

    def _send(self, method: str, url: str, headers: dict, expect: tuple[int, ...], repeatable: bool,
              read_timeout: float, kwargs: dict, max_attempts: int = MAX_ATTEMPTS) -> requests.Response:
        deadline = time.monotonic() + RETRY_BUDGET_S
        backoff = 0.5
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.session.request(method, url, headers=headers,
                                                timeout=(CONNECT_TIMEOUT_S, read_timeout), **kwargs)
            except (requests.ConnectionError, requests.Timeout) as err:
                if not repeatable or attempt >= min(max_attempts, 3) or time.monotonic() + backoff > deadline:
                    raise Unreachable(f"no answer from {_origin(url)} ({type(err).__name__})") from None
                self._sleep(backoff)
                backoff *= 2
                continue
            if response.status_code in expect:
                return response
            retryable = response.status_code in (429, 503) or (
                response.status_code == 409 and "Retry-After" in response.headers and repeatable)
            if retryable and attempt < max_attempts:
                pause = _retry_after(response, backoff)
                if time.monotonic() + pause <= deadline:
                    response.close()
                    self._sleep(pause)
                    backoff *= 2
                    continue
            raise error_from(response)

    # --- the api's routes -------------------------------------------------------------------
    def get_json(self, path: str, params: dict | None = None) -> Any:
        return self.request("GET", path, params={k: v for k, v in (params or {}).items() if v is not None}).json()

    def document(self, doc_id: str) -> dict:
        return self.get_json(f"documents/{doc_id}")

    def list_documents(self, **filters) -> dict:
        return self.get_json("documents", filters)

    def delete(self, doc_id: str) -> None:
        self.request("DELETE", f"documents/{doc_id}", expect=(204,))

    def retry(self, doc_id: str) -> dict:
        return self.request("POST", f"documents/{doc_id}:retry", expect=(202,)).json()

    def search(self, query: str, **filters) -> dict:
        return self.get_json("search", {"q": query, **filters})

    def report(self, day: str | None = None) -> dict:
        return self.get_json(f"reports/{day or 'latest'}")


def _origin(url: str) -> str:
    """scheme://host:port of a URL: enough to say what did not answer, without a signed query."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return clean(f"{parts.scheme}://{parts.netloc}", 200)
