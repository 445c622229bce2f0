"""The static security scan: checkov over terraform/, offline. No check may fail; every skip is an
inline `#checkov:skip=ID:reason` with its reason, and is listed in terraform/README.md."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .support import REPO, TF_DIR

CONFIG = TF_DIR / ".checkov.yaml"


def _checkov() -> list[str]:
    exe = shutil.which("checkov") or str(Path(sys.executable).with_name("checkov"))
    if not Path(exe).exists():
        pytest.fail("checkov is not installed: pip install -r requirements-dev.txt")
    return [exe]


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("checkov-home")
    env = {**os.environ, "HOME": str(home)}  # checkov keeps nothing in the real home
    start = time.monotonic()
    proc = subprocess.run([*_checkov(), "--config-file", str(CONFIG), "-d", str(TF_DIR), "-o", "json"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - start
    assert proc.stdout.strip(), f"checkov printed nothing (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    assert [r["check_type"] for r in reports] == ["terraform"]
    print(f"checkov {reports[0]['summary']['checkov_version']}: {elapsed:.1f} s, {reports[0]['summary']}")
    return {"report": reports[0], "exit": proc.returncode, "elapsed": elapsed}


def test_no_check_fails(scan):
    summary = scan["report"]["summary"]
    failed = scan["report"]["results"].get("failed_checks", [])
    details = [f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}" for c in failed]
    assert summary["failed"] == 0 and not failed, "\n".join(details)
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0 and summary["resource_count"] >= 30
    assert scan["exit"] == 0


def test_every_skip_has_a_reason_and_is_documented(scan):
    skipped = scan["report"]["results"].get("skipped_checks", [])
    assert skipped, "the skips below are expected to be reported as skipped"
    readme = (TF_DIR / "README.md").read_text()
    for check in skipped:
        reason = (check["check_result"].get("suppress_comment") or "").strip()
        assert len(reason) > 30, f"{check['check_id']} on {check['resource']}: no reason given"
        assert check["check_id"] in readme, f"{check['check_id']} is skipped but not listed in terraform/README.md"
    inline = set()
    for path in TF_DIR.rglob("*.tf"):
        inline |= {(m.group(1), path.name) for m in re.finditer(r"#checkov:skip=(CKV2?_[A-Z]+_\d+):\S", path.read_text())}
    assert {c["check_id"] for c in skipped} == {cid for cid, _ in inline}


def test_scan_is_fast(scan):
    assert scan["elapsed"] < 60, f"checkov took {scan['elapsed']:.0f} s"
