"""`contentflow status | ls | failed | search | retry | report | rm`, errors and --project, against
the in-memory api (no stack)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contentflow_cli import target as target_module
from contentflow_cli.main import app, parse_time
from tests.unit.test_cli_client import fake_api  # noqa: F401 (fixture)
from tests.unit.test_cli_ingest import ANSI, CLEAN_ENV

REPO = Path(__file__).resolve().parents[2]


def run(*args, env=None):
    return CliRunner().invoke(app, [str(a) for a in args], env={**CLEAN_ENV, **(env or {})})


@pytest.fixture
def filled(fake_api):
    """Five documents: three done, two failed (one with a timeout reason)."""
    fake_api.add("a.txt", labels=["travel"])
    fake_api.add("b.pdf", status="failed", reason="malformed PDF: the file is damaged or not a PDF")
    fake_api.add("c.md", labels=["finance"], language="de")
    fake_api.add("d.png", status="failed", reason="extraction timed out after 2 s")
    fake_api.add("e.html", labels=["travel"])
    return fake_api


def ids(fake_api, status=None):
    return [d["id"] for d in fake_api.documents.values() if status is None or d["status"] == status]


# --- ls and failed: filters and pagination ----------------------------------------------------
def test_ls_pages_with_a_cursor_and_all_pages_through(filled):
    first = run("ls", "--limit", 2, "--api-url", filled.url)
    assert first.exit_code == 0, first.output
    newest = list(reversed(ids(filled)))
    assert newest[0] in first.stdout and newest[1] in first.stdout and newest[2] not in first.stdout
    cursor = re.search(r"--cursor (\S+)", first.stdout).group(1)
    second = run("ls", "--limit", 2, "--cursor", cursor, "--api-url", filled.url, "--json")
    page = json.loads(second.stdout)
    assert [d["id"] for d in page["documents"]] == newest[2:4] and page["next_cursor"]
    every = json.loads(run("ls", "--limit", 2, "--all", "--api-url", filled.url, "--json").stdout)
    assert [d["id"] for d in every["documents"]] == newest and every["next_cursor"] is None
    assert len(filled.calls("GET", "/documents")) == 2 + 3


def test_ls_passes_its_filters(filled):
    result = run("ls", "--status", "done", "--label", "travel", "--language", "en", "--since", "2026-11-30",
                 "--api-url", filled.url, "--json")
    assert result.exit_code == 0, result.output
    query = filled.calls("GET", "/documents")[-1]["query"]
    assert query == {"status": "done", "label": "travel", "language": "en",
                     "created_after": "2026-11-30T00:00:00+00:00", "limit": "20"}
    assert {d["filename"] for d in json.loads(result.stdout)["documents"]} == {"a.txt", "e.html"}


def test_parse_time_forms():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    assert parse_time("2h", now) == "2026-12-01T10:00:00+00:00"
    assert parse_time("7d", now) == "2026-11-24T12:00:00+00:00"
    assert parse_time("2026-12-01T10:30:00Z", now) == "2026-12-01T10:30:00+00:00"
    assert parse_time("2026-12-01T10:30:00+01:00", now) == "2026-12-01T10:30:00+01:00"


def test_a_bad_time_or_cursor_exits_2_with_the_error(filled):
    bad_time = run("ls", "--since", "yesterday-ish", "--api-url", filled.url)
    assert bad_time.exit_code == 2 and "error: usage: not a time" in bad_time.stderr
    assert filled.requests == []
    bad_cursor = run("ls", "--cursor", "nonsense", "--api-url", filled.url)
    assert bad_cursor.exit_code == 2
    assert bad_cursor.stderr.strip() == "error: bad_cursor: cursor: not a cursor of this listing"
    assert bad_cursor.stdout == ""


def test_failed_lists_reasons(filled):
    result = run("failed", "--api-url", filled.url)
    assert result.exit_code == 0, result.output
    assert "malformed PDF: the file is damaged or not a PDF" in result.stdout
    assert "extraction timed out after 2 s" in result.stdout
    assert "a.txt" not in result.stdout
    assert filled.calls("GET", "/documents")[0]["query"]["status"] == "failed"


# --- status -----------------------------------------------------------------------------------
def test_status_of_one_document_shows_its_steps(filled):
    doc_id = ids(filled, "failed")[0]
    result = run("status", doc_id, "--api-url", filled.url)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("status") and "failed" in line for line in lines)
    extract = next(line for line in lines if line.strip().startswith("extract"))
    assert "failed" in extract and "malformed PDF" in extract
    assert json.loads(run("status", doc_id, "--api-url", filled.url, "--json").stdout)["id"] == doc_id


def test_status_without_id_counts_by_status(filled):
    result = run("status", "--api-url", filled.url, "--json")
    assert json.loads(result.stdout) == {"counts": {"done": 3, "failed": 2}, "documents": 5, "complete": True}
    table = run("status", "--api-url", filled.url)
    assert re.search(r"done\s+3", table.stdout) and re.search(r"failed\s+2", table.stdout)


def test_unknown_and_malformed_ids(filled):
    unknown = run("status", "f" * 32, "--api-url", filled.url)
    assert unknown.exit_code == 1 and unknown.stderr.strip() == f"error: not_found: no document {'f' * 32}"
    requests_before = len(filled.requests)
    malformed = run("status", "not-an-id", "--api-url", filled.url, "--json")
    assert malformed.exit_code == 2 and len(filled.requests) == requests_before
    assert json.loads(malformed.stdout) == {"error": {"code": "usage", "message": malformed.stderr.split(": ", 2)[2].strip()},
                                            "exit_code": 2}


# --- retry --------------------------------------------------------------------------------------
def test_retry_by_id_and_a_conflict(filled):
    failed_id = ids(filled, "failed")[0]
    done_id = ids(filled, "done")[0]
    ok = run("retry", failed_id, "--api-url", filled.url)
    assert ok.exit_code == 0 and f"re-driven {failed_id}" in ok.stdout and "from extract" in ok.stdout
    conflict = run("retry", done_id, "--api-url", filled.url)
    assert conflict.exit_code == 1
    assert f"error: conflict: document is done, not failed ({done_id})" in conflict.stderr


def test_retry_by_reason_re_drives_only_matching_documents(filled):
    timed_out = next(d["id"] for d in filled.documents.values() if "timed out" in str(d["error"]))
    dry = run("retry", "--reason", "TIMED OUT", "--dry-run", "--api-url", filled.url, "--json")
    assert json.loads(dry.stdout)["matched"][0]["id"] == timed_out and filled.calls("POST") == []
    result = run("retry", "--reason", "timed out", "--api-url", filled.url, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [r["id"] for r in body["retried"]] == [timed_out] and body["refused"] == []
    assert [c["path"] for c in filled.calls("POST")] == [f"/documents/{timed_out}:retry"]
    nothing = run("retry", "--reason", "no such reason", "--api-url", filled.url)
    assert nothing.exit_code == 0 and "no failed document's reason contains 'no such reason'" in nothing.stdout


@pytest.mark.parametrize("args", [[], ["a" * 32, "--reason", "x"], ["--reason", "  "], ["a" * 32, "--dry-run"]])
def test_retry_needs_ids_or_a_reason(fake_api, args):
    result = run("retry", *args, "--api-url", fake_api.url)
    assert result.exit_code == 2 and result.stderr.startswith("error: usage:")
    assert fake_api.requests == []


# --- search, report, rm -----------------------------------------------------------------------
def test_search_shows_results_and_passes_filters(filled):
    result = run("search", "night trains", "--label", "travel", "--limit", 3, "--api-url", filled.url)
    assert result.exit_code == 0, result.output
    assert filled.calls("GET", "/search")[0]["query"] == {"q": "night trains", "label": "travel", "limit": "3"}
    assert "about night trains" in result.stdout and "a.txt" in result.stdout
    assert json.loads(run("search", "x", "--api-url", filled.url, "--json").stdout)["query"] == "x"
    assert run("search", "  ", "--api-url", filled.url).exit_code == 2


def test_report_latest_a_missing_day_and_a_bad_date(fake_api):
    fake_api.report = {"date": "2026-11-30", "generated_at": "2026-12-01T00:05:00+00:00", "complete": True,
                       "received": 7, "finished": {"done": 5, "failed": 2}, "by_status": {"done": 5, "failed": 2},
                       "failures": [{"step": "extract", "reason": "unsupported type: image/gif", "count": 2,
                                     "example_document_ids": []}], "failures_other": 0,
                       "latency_ms": {"extract": {"count": 5, "p50_ms": 900, "p95_ms": 2400, "max_ms": 2500}},
                       "end_to_end_ms": {"count": 5, "p50_ms": 4000, "p95_ms": 9000, "max_ms": 9100},
                       "model_usage": [], "scan": {"documents": 7, "limit": 5000, "truncated": False}}
    latest = run("report", "--api-url", fake_api.url)
    assert latest.exit_code == 0, latest.output
    assert "unsupported type: image/gif" in latest.stdout and "2.4 s" in latest.stdout
    assert json.loads(run("report", "--api-url", fake_api.url, "--json").stdout) == fake_api.report
    missing = run("report", "--date", "2026-01-01", "--api-url", fake_api.url)
    assert missing.exit_code == 1 and "error: not_found:" in missing.stderr
    assert fake_api.calls("GET", "/reports/")[-1]["path"] == "/reports/2026-01-01"
    assert run("report", "--date", "01/01/2026", "--api-url", fake_api.url).exit_code == 2


def test_rm_is_idempotent(filled):
    doc_id = ids(filled)[0]
    first = run("rm", doc_id, "--api-url", filled.url)
    assert first.exit_code == 0 and f"deleted {doc_id}" in first.stdout and doc_id not in filled.documents
    again = run("rm", doc_id, "--api-url", filled.url, "--json")
    assert again.exit_code == 0 and json.loads(again.stdout) == {"deleted": [doc_id]}
    assert [c["path"] for c in filled.calls("DELETE")] == [f"/documents/{doc_id}"] * 2


# --- errors, target, output -------------------------------------------------------------------
def test_an_answer_that_is_not_json_exits_3(fake_api):
    fake_api.queued_errors.append((r"GET /documents", 200, None, {}))  # 200 with an empty body
    result = run("ls", "--api-url", fake_api.url, "--json")
    assert result.exit_code == 3 and result.stderr.startswith("error: bad_answer:")
    assert json.loads(result.stdout)["error"]["code"] == "bad_answer"


def test_api_failures_exit_3_and_text_from_the_api_is_printed_safely(filled):
    filled.fail_next(r"GET /documents", 500, "internal", "internal \x1b[2Jerror")
    result = run("ls", "--api-url", filled.url)
    assert result.exit_code == 3
    assert result.stderr.strip() == "error: internal: internal ?[2Jerror"
    filled.add("[bold red]x[/] \x1b[31mname.txt")
    listed = run("ls", "--api-url", filled.url)
    assert "[bold red]x[/] ?[31mname.txt" in listed.stdout  # neither rich markup nor an escape code
    assert not ANSI.search(listed.stdout + listed.stderr)


def test_project_calls_the_deployed_url_with_an_id_token_and_the_api_key(fake_api, monkeypatch):
    audiences = []
    monkeypatch.setattr(target_module, "id_token", lambda audience: audiences.append(audience) or "id-t0ken")
    result = run("ls", "--project", "my-project-1", "--api-url", fake_api.url, "--json", env={"CONTENTFLOW_API_KEY": "k3y"})
    assert result.exit_code == 0, result.output
    headers = fake_api.calls("GET", "/documents")[0]["headers"]
    assert headers["Authorization"] == "Bearer id-t0ken" and headers["X-API-Key"] == "k3y"
    assert audiences == [fake_api.url.rstrip("/")]
    assert "k3y" not in result.output and "id-t0ken" not in result.output
    client = target_module.resolve(target_module.Target(project="my-project-1", region="us-east1"))
    assert client.base_url == "https://us-east1-my-project-1.cloudfunctions.net/api/"
    bad = run("ls", "--project", "Not_A_Project", "--json")
    assert bad.exit_code == 2 and "not a Google Cloud project id" in bad.stderr


def test_the_api_url_comes_from_the_environment_too(filled):
    result = run("ls", "--json", env={"CONTENTFLOW_API_URL": filled.url})
    assert result.exit_code == 0 and len(json.loads(result.stdout)["documents"]) == 5


def test_help_documents_the_exit_codes():
    result = run("--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for code in ("0 success", "1 some documents failed", "2 bad arguments", "3 the api is unreachable", "4 timed out"):
        assert code in text
    for command in ("ingest", "status", "ls", "search", "failed", "retry", "report", "rm", "local"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.M)


def test_local_status_without_a_stack_exits_3(tmp_path):
    result = run("local", "status", "--data-dir", tmp_path, "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout) == {"running": False, "ready": False, "components": {}}


# --- the console script -----------------------------------------------------------------------
def test_the_installed_console_script_runs_the_cli_without_pythonpath(tmp_path):
    """scripts/bootstrap installs the package (pip, editable) with its [project.scripts] entry."""
    script = REPO / ".venv" / "bin" / "contentflow"
    assert script.exists(), "scripts/bootstrap installs the contentflow command"
    done = subprocess.run([str(script), "ls", "--json", "--data-dir", str(tmp_path / "none")], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert json.loads(done.stdout)["error"]["code"] == "unreachable"
