"""scripts/deploy, run against stand-ins for terraform and gcloud that record what they are asked
(the real ones need the network and a project)."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from .support import REPO

DEPLOY = REPO / "scripts" / "deploy"

FAKE = """#!/usr/bin/env bash
name="$(basename "$0")"
printf '%s\\n' "$name $*" >> "$FAKE_LOG"
if [ "$name" = terraform ] && [ "$2" = init ] && [ -n "${FAKE_INIT_FAILS:-}" ]; then
  echo "Error: Failed to query available provider packages" >&2; exit 1
fi
if [ "$name" = gcloud ] && [ "$3" = add ]; then
  printf 'stdin:%s\\n' "$(cat)" >> "$FAKE_LOG"
fi
if [ "$name" = gcloud ] && [ "$3" = list ] && [ -n "${FAKE_HAS_VERSION:-}" ]; then
  echo "projects/p/secrets/contentflow-api-key/versions/1"
fi
exit 0
"""


@pytest.fixture
def fakes(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("terraform", "gcloud"):
        path = bin_dir / name
        path.write_text(FAKE)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "calls.log"

    def run(*args: str, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
        full_env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(log), **env}
        if "CONTENTFLOW_API_KEY" not in env:
            full_env.pop("CONTENTFLOW_API_KEY", None)
        proc = subprocess.run(["bash", str(DEPLOY), *args], env=full_env, capture_output=True, text=True, timeout=60)
        calls = log.read_text().splitlines() if log.exists() else []
        log.unlink(missing_ok=True)
        return proc, calls

    return run


def test_is_an_executable_bash_script():
    assert DEPLOY.stat().st_mode & stat.S_IXUSR
    assert DEPLOY.read_text().startswith("#!/usr/bin/env bash")
    assert subprocess.run(["bash", "-n", str(DEPLOY)]).returncode == 0


def test_usage_and_argument_checks(fakes):
    proc, calls = fakes()
    assert proc.returncode == 2 and "usage: scripts/deploy" in proc.stderr and not calls
    proc, calls = fakes("Not_A_Project")
    assert proc.returncode == 1 and "not a Google Cloud project id" in proc.stderr and not calls
    proc, calls = fakes("my-project-1", "mars")
    assert proc.returncode == 1 and "not a region" in proc.stderr and not calls


def test_full_deploy_creates_the_secret_value_then_plans_and_applies_that_plan(fakes):
    proc, calls = fakes("my-project-1", "europe-west3", CONTENTFLOW_API_KEY="s3cret-key")
    assert proc.returncode == 0, proc.stderr
    chdir = {c.split(" ")[1] for c in calls if c.startswith("terraform ")}
    assert chdir == {f"-chdir={REPO / 'terraform'}"}
    verbs = [c.split(" ")[2] for c in calls if c.startswith("terraform ")]
    assert verbs == ["init", "validate", "apply", "plan", "apply", "output"]
    assert any("apply -input=false -auto-approve -target=module.secrets -var project_id=my-project-1 -var region=europe-west3" in c for c in calls)
    assert any("plan -input=false -out=.terraform/contentflow.tfplan -var project_id=my-project-1 -var region=europe-west3" in c for c in calls)
    assert calls[-2].endswith("apply -input=false .terraform/contentflow.tfplan")  # exactly the plan shown
    gcloud = [c for c in calls if c.startswith("gcloud ")]
    assert gcloud[0].startswith("gcloud secrets versions list contentflow-api-key --project my-project-1")
    assert gcloud[1] == "gcloud secrets versions add contentflow-api-key --project my-project-1 --data-file=-"
    assert "stdin:s3cret-key" in calls  # the key goes through standard input ...
    assert not any("s3cret-key" in c for c in calls if not c.startswith("stdin:"))  # ... never argv
    assert "s3cret-key" not in proc.stdout + proc.stderr


def test_an_existing_key_is_kept_and_a_missing_one_generated(fakes):
    proc, calls = fakes("my-project-1", FAKE_HAS_VERSION="1")
    assert proc.returncode == 0, proc.stderr
    assert not any(" add " in c for c in calls) and "has a value already" in proc.stdout
    assert any("-var region=europe-west3" in c for c in calls)  # the default region
    proc, calls = fakes("my-project-1")
    assert proc.returncode == 0, proc.stderr
    generated = [c[len("stdin:"):] for c in calls if c.startswith("stdin:")]
    assert len(generated) == 1 and len(generated[0]) == 64 and int(generated[0], 16) >= 0
    assert generated[0] not in proc.stdout + proc.stderr


def test_plan_only_changes_nothing(fakes):
    proc, calls = fakes("--plan-only", "my-project-1", "europe-west1")
    assert proc.returncode == 0, proc.stderr
    verbs = [c.split(" ")[2] for c in calls if c.startswith("terraform ")]
    assert verbs == ["init", "validate", "plan"]
    assert not any(c.startswith("gcloud") for c in calls)


def test_unreachable_providers_stop_before_validate(fakes):
    proc, calls = fakes("my-project-1", FAKE_INIT_FAILS="1")
    assert proc.returncode == 1
    assert "providers must be downloadable" in proc.stderr and "Failed to query available provider packages" in proc.stderr
    assert [c.split(" ")[2] for c in calls] == ["init"]


def test_an_empty_key_is_never_stored(fakes):
    """The api refuses an empty CONTENTFLOW_API_KEY at start-up: an empty variable counts as unset
    and a random key is stored instead."""
    proc, calls = fakes("my-project-1", CONTENTFLOW_API_KEY="")
    assert proc.returncode == 0, proc.stderr
    stored = [c[len("stdin:"):] for c in calls if c.startswith("stdin:")]
    assert len(stored) == 1 and len(stored[0]) == 64 and int(stored[0], 16) >= 0


def test_a_blank_key_is_refused_before_anything_is_stored(fakes):
    proc, calls = fakes("my-project-1", CONTENTFLOW_API_KEY="  \t")
    assert proc.returncode == 2 and "CONTENTFLOW_API_KEY is blank" in proc.stderr
    assert not [c for c in calls if c.startswith("stdin:")]
