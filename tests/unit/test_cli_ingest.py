"""`contentflow ingest` against the in-memory api (no stack): inputs, uploads, following, the table,
--json, exit codes, and the target resolution (local stack state file, --api-url, --project)."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from contentflow_cli import ingest as ingest_module
from contentflow_cli.main import app
from tests.unit.test_cli_client import closed_port_url, fake_api  # noqa: F401 (fixture)

ANSI = re.compile(r"\x1b\[")
# Nothing from the developer's shell may change what the CLI does or how rich writes.
CLEAN_ENV = {"CONTENTFLOW_API_URL": None, "CONTENTFLOW_API_KEY": None, "FORCE_COLOR": None, "TTY_COMPATIBLE": None,
             "COLUMNS": None, "NO_COLOR": None}


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch):
    monkeypatch.setattr(ingest_module, "FIRST_POLL_S", 0.01)
    monkeypatch.setattr(ingest_module, "MAX_POLL_S", 0.02)


def run(*args, env=None):
    return CliRunner().invoke(app, [str(a) for a in args], env={**CLEAN_ENV, **(env or {})})


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "notes.txt").write_text("night trains across Europe")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "report.md").write_text("# quarterly report")
    (tmp_path / ".hidden.txt").write_text("not for the pipeline")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]")
    return tmp_path


def test_ingest_a_folder_shows_progress_then_a_table_of_finished_documents(fake_api, folder):
    result = run("ingest", folder, "--api-url", fake_api.url)
    assert result.exit_code == 0, result.output
    posts = fake_api.calls("POST", "/documents")
    assert sorted(p["headers"]["Content-Type"].split(";")[0] for p in posts) == ["multipart/form-data"] * 2
    assert {d["filename"] for d in fake_api.documents.values()} == {"notes.txt", "report.md"}  # hidden ones skipped
    for doc in fake_api.documents.values():
        assert doc["status"] == "done"
        row = next(line for line in result.stdout.splitlines() if doc["id"] in line)
        assert "done" in row and "travel" in row
    assert str(folder / "sub" / "report.md") in result.stdout
    assert "2 documents: 2 done" in result.stdout
    # progress, as plain lines on stderr (no terminal here): uploads, then the finished count
    assert re.search(r"uploaded 2/2 ", result.stderr) and "2/2 finished (2 done, 0 failed)" in result.stderr
    assert not ANSI.search(result.stdout + result.stderr)


def test_each_post_carries_its_own_idempotency_key_kept_on_a_retry(fake_api, folder):
    fake_api.fail_next(r"POST /documents", 503, "unavailable", headers={"Retry-After": "0"})
    result = run("ingest", folder / "notes.txt", folder / "sub" / "report.md", "--api-url", fake_api.url)
    assert result.exit_code == 0, result.output
    posts = fake_api.calls("POST", "/documents")
    assert len(posts) == 3
    keys = [p["headers"]["Idempotency-Key"] for p in posts]
    assert len(set(keys)) == 2 and all(re.fullmatch(r"[\x21-\x7e]{1,255}", k) for k in keys)
    assert len(fake_api.documents) == 2


def test_a_failed_document_exits_1_with_its_reason(fake_api, tmp_path):
    (tmp_path / "good.txt").write_text("fine")
    (tmp_path / "will-fail.txt").write_text("not fine")
    result = run("ingest", tmp_path, "--api-url", fake_api.url)
    assert result.exit_code == 1, result.output
    failed_row = next(line for line in result.stdout.splitlines() if "will-fail.txt" in line)
    assert "failed" in failed_row and "unsupported type: application/x-fake" in failed_row
    assert "1 done" in result.stdout and "1 failed" in result.stdout


def test_json_output_is_one_document_and_nothing_else(fake_api, folder):
    (folder / "fail-me.txt").write_text("broken")
    result = run("ingest", folder, "--api-url", fake_api.url, "--json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["exit_code"] == 1 and body["counts"] == {"done": 2, "failed": 1}
    by_input = {d["input"]: d for d in body["documents"]}
    assert set(by_input) == {str(folder / "notes.txt"), str(folder / "sub" / "report.md"), str(folder / "fail-me.txt")}
    failed = by_input[str(folder / "fail-me.txt")]
    assert failed["status"] == "failed" and failed["error"]["step"] == "extract" and failed["id"] in fake_api.documents
    assert result.stderr == ""  # no progress with --json


def test_a_rejected_input_is_listed_and_the_others_go_on(fake_api, tmp_path):
    (tmp_path / "a.txt").write_text("content")
    (tmp_path / "empty.txt").write_bytes(b"")
    result = run("ingest", tmp_path, "--api-url", fake_api.url, "--json")
    assert result.exit_code == 1
    rows = {d["input"].rsplit("/", 1)[-1]: d for d in json.loads(result.stdout)["documents"]}
    assert rows["a.txt"]["status"] == "done"
    assert rows["empty.txt"]["status"] == "rejected" and rows["empty.txt"]["id"] is None
    assert rows["empty.txt"]["reason"] == "invalid_request: empty document: send some content"


def test_large_files_go_through_a_signed_upload_and_are_found_by_object(fake_api, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"B" * 5000)
    result = run("ingest", big, "--api-url", fake_api.url, "--inline-limit", 1000, env={"CONTENTFLOW_API_KEY": "s3cret"})
    assert result.exit_code == 0, result.output
    assert fake_api.calls("POST", "/documents") == []
    grant_request = json.loads(fake_api.calls("POST", "/uploads")[0]["body"])
    assert grant_request == {"filename": "big.bin", "size": 5000, "content_type": "application/octet-stream"}
    put = fake_api.calls("PUT")[0]
    assert put["body"] == b"B" * 5000 and put["headers"]["Content-Length"] == "5000"
    assert put["headers"]["X-Goog-Content-Length-Range"] == "0,5000" and "X-API-Key" not in put["headers"]
    lookups = fake_api.calls("GET", "/documents")
    assert lookups[0]["query"]["object"] == "uploads/0000/big.bin"
    (doc,) = fake_api.documents.values()
    assert doc["status"] == "done" and doc["id"] in result.stdout
    assert "s3cret" not in result.output


def test_a_413_for_an_inline_post_falls_back_to_the_upload_path(fake_api, tmp_path):
    fake_api.inline_limit = 500
    (tmp_path / "medium.txt").write_text("m" * 2000)
    result = run("ingest", tmp_path, "--api-url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert len(fake_api.calls("POST", "/documents")) == 1 and len(fake_api.calls("PUT")) == 1
    assert next(iter(fake_api.documents.values()))["via"] == "storage"


def test_urls_are_posted_for_the_pipeline_to_fetch(fake_api):
    result = run("ingest", "https://example.org/page.html", "--api-url", fake_api.url, "--json")
    assert result.exit_code == 0, result.output
    (post,) = fake_api.calls("POST", "/documents")
    assert json.loads(post["body"]) == {"url": "https://example.org/page.html"}
    assert json.loads(result.stdout)["documents"][0]["kind"] == "url"


def test_documents_not_finished_in_time_exit_4(fake_api, tmp_path):
    (tmp_path / "slow.txt").write_text("takes forever")
    (tmp_path / "quick.txt").write_text("quick")
    result = run("ingest", tmp_path, "--api-url", fake_api.url, "--timeout", 1)
    assert result.exit_code == 4, result.output
    assert "error: timed_out: 1 of 2 documents not finished after 1 s" in result.stderr
    slow_row = next(line for line in result.stdout.splitlines() if "slow.txt" in line)
    assert "extracting" in slow_row


@pytest.mark.parametrize("args, message", [
    (["/no/such/path"], "no such file or folder"),
    ([], "Missing argument"),
])
def test_bad_inputs_exit_2_before_any_request(fake_api, args, message):
    result = run("ingest", *args, "--api-url", fake_api.url)
    assert result.exit_code == 2
    assert message in result.stderr
    assert fake_api.requests == []


def test_a_folder_with_only_hidden_files_is_a_usage_error(fake_api, tmp_path):
    (tmp_path / ".DS_Store").write_bytes(b"x")
    result = run("ingest", tmp_path, "--api-url", fake_api.url)
    assert result.exit_code == 2 and "nothing to ingest" in result.stderr


def test_an_unreachable_api_exits_3(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    result = run("ingest", tmp_path, "--api-url", closed_port_url())
    assert result.exit_code == 3
    assert "error: unreachable: no answer from http://127.0.0.1:" in result.stderr


def test_default_target_is_the_running_local_stack_from_its_state_file(fake_api, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("a")
    data_dir = tmp_path / "stack"
    result = run("ingest", docs, "--data-dir", data_dir)
    assert result.exit_code == 3 and f"no local stack running under {data_dir}" in result.stderr
    data_dir.mkdir()
    (data_dir / "stack.json").write_text(json.dumps({"ready": True, "function_urls": {"api": fake_api.url}}))
    result = run("ingest", docs, "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    assert len(fake_api.calls("POST", "/documents")) == 1


def test_on_a_terminal_progress_is_a_live_display_that_ends_cleanly():
    import io

    from rich.console import Console

    from contentflow_cli.ingest import Item, Row
    from contentflow_cli.render import RichReporter

    screen = io.StringIO()
    reporter = RichReporter(Console(file=screen, force_terminal=True, width=100))
    rows = [Row(item=Item(label="a.txt"), id="a" * 32, status="extracting"), Row(item=Item(label="b.txt"))]
    reporter.uploads_started(2, 2048)
    reporter.uploaded_bytes(1024)
    reporter.submitted(rows[0], 1, 2)
    reporter.following(2)
    rows[0].status, rows[1].status = "done", "rejected"
    reporter.progress(rows)
    reporter.close()
    text = screen.getvalue()
    assert "\x1b[" in text  # a terminal: drawn with control codes
    assert "1.0 kB of 2.0 kB" in text and "2/2" in text and "(1 done, 1 failed)" in text
    assert "\x1b[?25h" in text  # the cursor is shown again


def test_when_the_api_drops_connections_ingest_stops_without_trying_every_file(tmp_path):
    import socket
    import threading

    accepted = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    stop = threading.Event()

    def drop_every_connection():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            accepted.append(1)
            conn.close()

    thread = threading.Thread(target=drop_every_connection, daemon=True)
    thread.start()
    try:
        for i in range(12):
            (tmp_path / f"f{i:02d}.txt").write_text(f"file {i}")
        result = run("ingest", tmp_path, "--api-url", f"http://127.0.0.1:{server.getsockname()[1]}/")
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
    assert result.exit_code == 3 and "error: unreachable: no answer from" in result.stderr
    # 4 uploads in flight, 3 tries each at most: the other files were never sent
    assert 3 <= len(accepted) <= 4 * 3
