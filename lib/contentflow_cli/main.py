"""The `contentflow` command (Typer): see `contentflow --help`, and the README's CLI section."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Optional

import requests
import typer
from rich.text import Text

from contentflow_cli import render
from contentflow_cli.client import ApiClient, ApiError, CliError, ExitCode, clean
from contentflow_cli.events import events_app
from contentflow_cli.ingest import INLINE_LIMIT_BYTES, Ingest, Reporter, gather
from contentflow_cli.target import DEFAULT_DATA_DIR, DEFAULT_REGION, REPO, Target, resolve, usage_error

EXIT_CODES = """Exit codes: 0 success; 1 some documents failed, or the api refused the operation (not found,
conflict, unauthorized); 2 bad arguments or input the api rejected as invalid; 3 the api is
unreachable or failing (no local stack running, connection refused, 5xx); 4 timed out waiting
for documents (ingest --timeout)."""

HELP = f"""Submit documents to contentflow, follow them through the pipeline, list, search, retry and
delete them. Talks to the local stack by default (`contentflow local up`), to any api with
--api-url (or CONTENTFLOW_API_URL), or to a deployed project with --project (ADC ID token).
CONTENTFLOW_API_KEY, when set, is sent as X-API-Key. Add --json for one JSON document on stdout.

{EXIT_CODES}"""

app = typer.Typer(name="contentflow", help=HELP, no_args_is_help=True, add_completion=False,
                  # tracebacks with locals could show a key or a token: plain ones only
                  pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]})
local_app = typer.Typer(help="The local stack (emulators and functions on this machine).", no_args_is_help=True,
                        rich_markup_mode=None)
app.add_typer(local_app, name="local")
app.add_typer(events_app, name="events")

DOCUMENT_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_LISTED = 10_000  # --all and retry --reason read at most this many documents
COUNT_SCAN = 1_000  # `status` without an id counts the newest this many

# Options every api command takes.
ApiUrl = Annotated[Optional[str], typer.Option(
    "--api-url", envvar="CONTENTFLOW_API_URL", show_envvar=True, rich_help_panel="Target",
    help="The api's base URL (e.g. http://127.0.0.1:PORT/). Default: the running local stack's.")]
Project = Annotated[Optional[str], typer.Option(
    "--project", rich_help_panel="Target",
    help="A deployed project: its api at https://REGION-PROJECT.cloudfunctions.net/api, with an ID token from ADC.")]
Region = Annotated[str, typer.Option("--region", rich_help_panel="Target", help="The deployed project's region.")]
DataDir = Annotated[Optional[Path], typer.Option(
    "--data-dir", rich_help_panel="Target", help=f"The local stack's data folder. Default: {DEFAULT_DATA_DIR}.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables and progress.")]


def _target(api_url, project, region, data_dir) -> Target:
    return Target(api_url=api_url, project=project, region=region, data_dir=data_dir)


def handles_errors(command):
    """Shows a CliError as `error: <code>: <message>` on stderr (with --json, also as JSON on stdout)
    and exits with its code."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            try:
                return command(*args, **kwargs)
            except requests.JSONDecodeError:
                raise CliError("bad_answer", "the api answered with something that is not JSON", ExitCode.UNREACHABLE) from None
        except CliError as err:
            render.stderr_console().print(Text(f"error: {err.code}: {clean(err.message)}"), soft_wrap=True)
            if kwargs.get("json_output"):
                render.print_json({"error": {"code": err.code, "message": clean(err.message)},
                                   "exit_code": int(err.exit_code)})
            raise typer.Exit(int(err.exit_code)) from None
        except KeyboardInterrupt:
            render.stderr_console().print("interrupted")
            raise typer.Exit(130) from None

    return run


def _document_id(value: str) -> str:
    if not DOCUMENT_ID.fullmatch(value):
        raise usage_error(f"not a document id (32 lowercase hex characters): {clean(value, 80)!r}")
    return value


def parse_time(value: str | None, now: datetime | None = None) -> str | None:
    """`30m`, `12h`, `7d` (that long ago), a date (`2026-12-01`, midnight UTC) or an ISO date-time
    (UTC when it names no zone) -> an ISO date-time with its zone."""
    if value is None:
        return None
    now = now or datetime.now(timezone.utc)
    text = value.strip()
    if m := re.fullmatch(r"(\d{1,6})\s*([mhd])", text):
        unit = {"m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return (now - timedelta(**{unit: int(m.group(1))})).isoformat()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise usage_error(f"not a time: {clean(value, 60)!r} (give 30m, 12h, 7d, 2026-12-01 or 2026-12-01T10:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat()


def _pages(client: ApiClient, filters: dict, limit: int, cursor: str | None, every: bool):
    """Yields pages of GET /documents: one, or (every) all of them up to MAX_LISTED documents."""
    seen = 0
    while True:
        page = client.list_documents(**filters, limit=limit, cursor=cursor)
        yield page
        seen += len(page.get("documents") or [])
        next_cursor = page.get("next_cursor")
        if not every or not next_cursor or seen >= MAX_LISTED:
            return
        if next_cursor == cursor:  # a server that gives the same page again: stop rather than loop
            raise CliError("bad_cursor", "the api answered the same cursor twice", ExitCode.FAILED)
        cursor = next_cursor


def _list(client: ApiClient, filters: dict, limit: int, cursor: str | None, every: bool) -> tuple[list[dict], str | None]:
    documents: list[dict] = []
    next_cursor = None
    for page in _pages(client, filters, limit, cursor, every):
        documents.extend(page.get("documents") or [])
        next_cursor = page.get("next_cursor")
    return documents, next_cursor


def _show_page(documents: list[dict], next_cursor: str | None, json_output: bool, with_reason: bool, command: str) -> None:
    if json_output:
        render.print_json({"documents": documents, "next_cursor": next_cursor})
        return
    out = render.stdout_console()
    if not documents:
        out.print("no documents")
    else:
        out.print(render.documents_table(documents, with_reason=with_reason))
    if next_cursor:
        out.print(Text(f"more: contentflow {command} --cursor {clean(next_cursor, 600)}  (or --all)"), soft_wrap=True)


# --- ingest -----------------------------------------------------------------------------------
@app.command(epilog=EXIT_CODES)
@handles_errors
def ingest(
    inputs: Annotated[list[str], typer.Argument(
        metavar="PATH|URL", help="Files, folders (walked; hidden files skipped) and http(s) URLs.", show_default=False)],
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every document to be done or failed.", min=1)] = 300.0,
    inline_limit: Annotated[int, typer.Option(help="Files larger than this many bytes go through a signed upload URL.",
                                              min=1, hidden=True)] = INLINE_LIMIT_BYTES,
    json_output: Json = False, api_url: ApiUrl = None, project: Project = None, region: Region = DEFAULT_REGION,
    data_dir: DataDir = None,
):
    """Upload files, folders and URLs, follow every document until it is done or failed, then
    print a table: file, id, status, labels, and the reason of each failure."""
    items = gather(inputs)
    client = resolve(_target(api_url, project, region, data_dir))
    err = render.stderr_console()
    if json_output:
        reporter = Reporter()
    elif err.is_terminal and render.stdout_console().is_terminal:  # piped or redirected: plain lines
        reporter = render.RichReporter(err)
    else:
        reporter = render.PlainReporter(err)
    rows, code = Ingest(client, reporter, timeout_s=timeout, inline_limit=inline_limit).run(items)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    if json_output:
        render.print_json({"documents": [r.as_json() for r in rows], "counts": counts, "exit_code": int(code)})
    else:
        out = render.stdout_console()
        out.print(render.ingest_table(rows))
        out.print(Text(f"{len(rows)} documents: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))))
    if code == ExitCode.TIMED_OUT:
        left = sum(1 for r in rows if not r.terminal)
        err.print(Text(f"error: timed_out: {left} of {len(rows)} documents not finished after {timeout:g} s"))
    raise typer.Exit(int(code))


# --- reading ----------------------------------------------------------------------------------
@app.command(epilog=EXIT_CODES)
@handles_errors
def status(
    doc_id: Annotated[Optional[str], typer.Argument(metavar="ID", help="A document id.", show_default=False)] = None,
    json_output: Json = False, api_url: ApiUrl = None, project: Project = None, region: Region = DEFAULT_REGION,
    data_dir: DataDir = None,
):
    """One document: its status, steps (state, attempts, duration, error) and failure. Without an
    ID: how many documents are in each status (the newest 1,000; `report` has every document)."""
    if doc_id is not None:
        _document_id(doc_id)
    client = resolve(_target(api_url, project, region, data_dir))
    if doc_id is not None:
        doc = client.document(doc_id)
        if json_output:
            render.print_json(doc)
        else:
            out = render.stdout_console()
            for part in render.document_detail(doc):
                out.print(part)
        return
    documents, next_cursor = [], None
    for page in _pages(client, {}, 100, None, every=True):
        documents.extend(page.get("documents") or [])
        next_cursor = page.get("next_cursor")
        if len(documents) >= COUNT_SCAN:
            break
    counts: dict[str, int] = {}
    for doc in documents[:COUNT_SCAN]:
        counts[doc.get("status", "?")] = counts.get(doc.get("status", "?"), 0) + 1
    complete = next_cursor is None or len(documents) < COUNT_SCAN
    if json_output:
        render.print_json({"counts": counts, "documents": min(len(documents), COUNT_SCAN), "complete": complete})
        return
    out = render.stdout_console()
    title = "documents by status" if complete else f"the newest {COUNT_SCAN} documents by status (`contentflow report` counts all)"
    out.print(render.counts_table(counts, title=title) if counts else "no documents")


@app.command(name="ls", epilog=EXIT_CODES)
@handles_errors
def list_documents(
    status_: Annotated[Optional[str], typer.Option("--status", help="received, extracting, analysing, indexing, fetching, done or failed.")] = None,
    label: Annotated[Optional[str], typer.Option(help="A label (e.g. finance).")] = None,
    language: Annotated[Optional[str], typer.Option(help="A language code (e.g. en).")] = None,
    since: Annotated[Optional[str], typer.Option(help="Created at or after: 30m, 12h, 7d, a date or an ISO time.")] = None,
    until: Annotated[Optional[str], typer.Option(help="Created before: as --since.")] = None,
    limit: Annotated[int, typer.Option(help="Documents per page.", min=1, max=100)] = 20,
    cursor: Annotated[Optional[str], typer.Option(help="The next page's cursor, as printed after a page.")] = None,
    every: Annotated[bool, typer.Option("--all", help=f"Page through everything (at most {MAX_LISTED:,}).")] = False,
    json_output: Json = False, api_url: ApiUrl = None, project: Project = None, region: Region = DEFAULT_REGION,
    data_dir: DataDir = None,
):
    """List documents, newest first."""
    filters = {"status": status_, "label": label, "language": language,
               "created_after": parse_time(since), "created_before": parse_time(until)}
    client = resolve(_target(api_url, project, region, data_dir))
    documents, next_cursor = _list(client, filters, limit, cursor, every)
    _show_page(documents, next_cursor, json_output, with_reason=status_ == "failed", command="ls")


@app.command(epilog=EXIT_CODES)
@handles_errors
def failed(
    limit: Annotated[int, typer.Option(help="Documents per page.", min=1, max=100)] = 20,
    cursor: Annotated[Optional[str], typer.Option(help="The next page's cursor, as printed after a page.")] = None,
    every: Annotated[bool, typer.Option("--all", help=f"Page through everything (at most {MAX_LISTED:,}).")] = False,
    json_output: Json = False, api_url: ApiUrl = None, project: Project = None, region: Region = DEFAULT_REGION,
    data_dir: DataDir = None,
):
    """Failed documents with the step that failed and the reason, newest first."""
    client = resolve(_target(api_url, project, region, data_dir))
    documents, next_cursor = _list(client, {"status": "failed"}, limit, cursor, every)
    _show_page(documents, next_cursor, json_output, with_reason=True, command="failed")


@app.command(epilog=EXIT_CODES)
@handles_errors
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.", show_default=False)],
    label: Annotated[Optional[str], typer.Option(help="Only documents with this label.")] = None,
    language: Annotated[Optional[str], typer.Option(help="Only documents in this language (e.g. en).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many documents.", min=1, max=50)] = 10,
    json_output: Json = False, api_url: ApiUrl = None, project: Project = None, region: Region = DEFAULT_REGION,
    data_dir: DataDir = None,
):
    """Semantic search over the documents that are done."""
    if not query.strip():
        raise usage_error("the query is empty")
    client = resolve(_target(api_url, project, region, data_dir))
    answer = client.search(query, label=label, language=language, limit=limit)
    if json_output:
        render.print_json(answer)
        return
    out = render.stdout_console()
    out.print(render.search_table(answer) if answer.get("results") else "no results")
    coverage = answer.get("coverage") or {}
    if coverage and not coverage.get("complete", True):
        out.print(Text(f"note: {coverage.get('documents_indexed')} of {coverage.get('documents_done')} done documents "
                       "are searchable with the current model (re-embedding in progress)"))


@app.command(epilog=EXIT_CODES)
@handles_errors
def report(
    date: Annotated[Optional[str], typer.Option(help="A UTC day, YYYY-MM-DD. Default: the latest report.")] = None,
    json_output: Json = False, api_url: ApiUrl = None, project: Project = None, region: Region = DEFAULT_REGION,
    data_dir: DataDir = None,
):
    """The daily report: counts by status, failures by reason, latency per step, model usage."""
    if date is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise usage_error(f"--date: expected YYYY-MM-DD, not {clean(date, 40)!r}")
    client = resolve(_target(api_url, project, region, data_dir))
    body = client.report(date)
    if json_output:
        render.print_json(body)
        return
    out = render.stdout_console()
    for part in render.report_view(body):
        out.print(part)


# --- changing ---------------------------------------------------------------------------------
@app.command(epilog=EXIT_CODES)
@handles_errors
def retry(
    doc_ids: Annotated[Optional[list[str]], typer.Argument(metavar="ID", help="Failed documents to re-drive.",
                                                           show_default=False)] = None,
    reason: Annotated[Optional[str], typer.Option(help="Re-drive every failed document whose reason contains this text (any case).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --reason: only list what would be re-driven.")] = False,
    json_output: Json = False, api_url: ApiUrl = None, project: Project = None, region: Region = DEFAULT_REGION,
    data_dir: DataDir = None,
):
    """Re-drive failed documents from the step that failed: by ID, or every one whose failure
    reason contains --reason TEXT. Prints what it re-drove."""
    if bool(doc_ids) == (reason is not None):
        raise usage_error("give document ids or --reason TEXT (one of the two)")
    if reason is not None and not reason.strip():
        raise usage_error("--reason: give some text")
    if dry_run and reason is None:
        raise usage_error("--dry-run goes with --reason")
    for doc_id in doc_ids or []:
        _document_id(doc_id)
    client = resolve(_target(api_url, project, region, data_dir))
    chosen: list[dict]
    if reason is not None:
        failed_docs, _ = _list(client, {"status": "failed"}, 100, None, every=True)
        needle = reason.strip().casefold()
        chosen = [d for d in failed_docs if needle in str((d.get("error") or {}).get("reason", "")).casefold()]
    else:
        chosen = [{"id": doc_id} for doc_id in doc_ids]
    retried, refused = [], []
    if not dry_run:
        for doc in chosen:
            try:
                answer = client.retry(doc["id"])
                retried.append({"id": doc["id"], "filename": doc.get("filename"), "step": answer.get("step"),
                                "status": answer.get("status")})
            except ApiError as err:
                if err.exit_code == ExitCode.UNREACHABLE:
                    raise
                refused.append({"id": doc["id"], "filename": doc.get("filename"), "code": err.code, "message": err.message})
    code = ExitCode.FAILED if refused else ExitCode.OK
    if json_output:
        render.print_json({"matched": [{"id": d["id"], "filename": d.get("filename"),
                                        "reason": (d.get("error") or {}).get("reason")} for d in chosen],
                           "retried": retried, "refused": refused, "dry_run": dry_run, "exit_code": int(code)})
    else:
        out = render.stdout_console()
        if reason is not None and not chosen:
            out.print(Text(f"no failed document's reason contains {clean(reason, 100)!r}"))
        if dry_run:
            out.print(render.documents_table(chosen, with_reason=True) if chosen else "nothing would be re-driven")
        for item in retried:
            name = f" ({clean(item['filename'], 80)})" if item.get("filename") else ""
            out.print(Text(f"re-driven {item['id']}{name} from {clean(item.get('step'), 40)}"))
        for item in refused:
            render.stderr_console().print(Text(f"error: {item['code']}: {clean(item['message'])} ({item['id']})"), soft_wrap=True)
    raise typer.Exit(int(code))


@app.command(name="rm", epilog=EXIT_CODES)
@handles_errors
def remove(
    doc_ids: Annotated[list[str], typer.Argument(metavar="ID", help="Documents to delete.", show_default=False)],
    json_output: Json = False, api_url: ApiUrl = None, project: Project = None, region: Region = DEFAULT_REGION,
    data_dir: DataDir = None,
):
    """Delete documents: record, chunks and stored objects. Deleting one that is
    already gone succeeds (idempotent)."""
    for doc_id in doc_ids:
        _document_id(doc_id)
    client = resolve(_target(api_url, project, region, data_dir))
    for doc_id in doc_ids:
        client.delete(doc_id)
        if not json_output:
            render.stdout_console().print(f"deleted {doc_id}")
    if json_output:
        render.print_json({"deleted": doc_ids})


# --- the local stack --------------------------------------------------------------------------
LocalDataDir = Annotated[Optional[Path], typer.Option("--data-dir", help=f"The stack's data folder. Default: {DEFAULT_DATA_DIR}.")]


def _run_local(command: str, data_dir: Path | None, timeout_s: float, capture: bool = False) -> subprocess.CompletedProcess:
    if not (REPO / "local" / "__main__.py").is_file():
        raise CliError("no_checkout", "the local stack runs from a contentflow checkout; this CLI is installed without one",
                       ExitCode.FAILED)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "lib"), str(REPO), env.get("PYTHONPATH")) if p)
    argv = [sys.executable, "-m", "local", command, "--data-dir", str(data_dir or DEFAULT_DATA_DIR)]
    try:
        return subprocess.run(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, timeout=timeout_s,
                              capture_output=capture, text=True)
    except subprocess.TimeoutExpired:
        raise CliError("timed_out", f"`local {command}` did not finish in {timeout_s:g} s", ExitCode.TIMED_OUT) from None


@local_app.command("up")
@handles_errors
def local_up(data_dir: LocalDataDir = None):
    """Start the local stack in the background; returns once it is ready (about 10-20 s)."""
    done = _run_local("start", data_dir, timeout_s=180)
    raise typer.Exit(0 if done.returncode == 0 else int(ExitCode.FAILED))


@local_app.command("down")
@handles_errors
def local_down(data_dir: LocalDataDir = None):
    """Stop the background local stack and every process it started."""
    done = _run_local("stop", data_dir, timeout_s=90)
    raise typer.Exit(0 if done.returncode == 0 else int(ExitCode.FAILED))


@local_app.command("status")
@handles_errors
def local_status(data_dir: LocalDataDir = None, json_output: Json = False):
    """Readiness of every component of the local stack (exit 3 unless all answer)."""
    done = _run_local("status", data_dir, timeout_s=60, capture=json_output)
    code = ExitCode.OK if done.returncode == 0 else ExitCode.UNREACHABLE
    if json_output:
        components = {}
        for line in done.stdout.splitlines():
            state, _, name = line.partition("  ")
            if state.strip() in ("ready", "DOWN"):
                components[name.strip()] = state.strip() == "ready"
        render.print_json({"running": bool(components), "ready": code == ExitCode.OK, "components": components})
    raise typer.Exit(int(code))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
