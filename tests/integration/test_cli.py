"""The installed `contentflow` command against the local stack, run as a subprocess with no
terminal (stdin closed, output captured), as a script or CI would run it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / ".venv" / "bin" / "contentflow"  # written by scripts/bootstrap from pyproject.toml
SAMPLES = REPO / "samples" / "documents"
DOC_ID = re.compile(r"\b[0-9a-f]{32}\b")


def cli(stack, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CONTENTFLOW_API_URL", "CONTENTFLOW_API_KEY", "FORCE_COLOR", "TTY_COMPATIBLE", "PYTHONPATH")}
    return subprocess.run([str(CLI), *args, "--api-url", stack.function_url("api")], cwd=REPO, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def ingested(stack):
    """`contentflow ingest samples/documents`, once for this module."""
    assert CLI.is_file(), f"{CLI} is missing: run scripts/bootstrap (it writes the console script)"
    return cli(stack, "ingest", "samples/documents", "--timeout", "150", timeout=200)


def test_ingest_samples_shows_progress_and_ends_with_every_document_terminal(stack, ingested):
    samples = sorted(p.name for p in SAMPLES.iterdir() if p.is_file() and not p.name.startswith("."))
    # every sample extracts (samples/README.md): all done, exit 0
    assert ingested.returncode == 0, f"stdout:\n{ingested.stdout}\nstderr:\n{ingested.stderr}"
    # progress on stderr, as plain lines (no terminal): each upload, then the finished count
    assert re.search(rf"uploaded {len(samples)}/{len(samples)} ", ingested.stderr), ingested.stderr
    assert f"{len(samples)}/{len(samples)} finished ({len(samples)} done, 0 failed)" in ingested.stderr
    assert "\x1b[" not in ingested.stdout + ingested.stderr  # no control codes without a terminal
    ids = {}
    for name in samples:
        row = next((line for line in ingested.stdout.splitlines() if f"samples/documents/{name}" in line), None)
        assert row is not None, f"{name} missing from the table:\n{ingested.stdout}"
        assert " done" in row and DOC_ID.search(row), row
        ids[name] = DOC_ID.search(row).group(0)
    assert len(set(ids.values())) == len(samples)
    assert f"{len(samples)} documents: {len(samples)} done" in ingested.stdout
    # the api agrees
    for name, doc_id in ids.items():
        doc = requests.get(f"{stack.function_url('api')}documents/{doc_id}", timeout=10).json()
        assert doc["status"] == "done", (name, doc)


def test_ingest_json_parses_and_a_second_run_finds_the_same_documents(stack, ingested):
    first_ids = set(DOC_ID.findall(ingested.stdout))
    again = cli(stack, "ingest", "samples/documents", "--json", "--timeout", "60", timeout=90)
    assert again.returncode == 0, again.stderr
    assert again.stderr == ""
    body = json.loads(again.stdout)
    assert body["exit_code"] == 0 and body["counts"] == {"done": len(first_ids)}
    assert {d["id"] for d in body["documents"]} == first_ids
    assert all(d["duplicate"] and d["status"] == "done" for d in body["documents"])


def test_status_search_ls_and_rm_against_the_stack(stack, ingested, tmp_path):
    night_trains = next(DOC_ID.search(line).group(0) for line in ingested.stdout.splitlines()
                        if "night-trains-blog-post.html" in line)
    status = cli(stack, "status", night_trains)
    assert status.returncode == 0, status.stderr
    for step in ("extract", "analyse", "index"):
        assert re.search(rf"^\s*{step}\s+succeeded\s+\d", status.stdout, re.M), status.stdout

    found = cli(stack, "search", "overnight rail journeys across Europe", "--json")
    assert found.returncode == 0, found.stderr
    assert night_trains in [r["document_id"] for r in json.loads(found.stdout)["results"][:3]]

    first = json.loads(cli(stack, "ls", "--limit", "2", "--json").stdout)
    assert len(first["documents"]) == 2 and first["next_cursor"]
    second = json.loads(cli(stack, "ls", "--limit", "2", "--cursor", first["next_cursor"], "--json").stdout)
    assert not {d["id"] for d in first["documents"]} & {d["id"] for d in second["documents"]}
    bad = cli(stack, "ls", "--cursor", "not-a-cursor")
    assert bad.returncode == 2 and bad.stderr.startswith("error: bad_cursor: ")

    # a document of this test's own, deleted twice (idempotent)
    note = tmp_path / "cli-note.txt"
    note.write_text(f"A note for the command line test {uuid.uuid4()}: trains, ferries and timetables.")
    made = json.loads(cli(stack, "ingest", str(note), "--json", "--timeout", "60", timeout=90).stdout)
    (doc,) = made["documents"]
    assert doc["status"] == "done", made
    assert cli(stack, "rm", doc["id"]).returncode == 0
    gone = cli(stack, "status", doc["id"])
    assert gone.returncode == 1 and gone.stderr.startswith("error: not_found: ")
    assert cli(stack, "rm", doc["id"]).returncode == 0
