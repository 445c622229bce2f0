"""The stack's command line: start, readiness, fire, and stopping by Ctrl-C or the stop command
leaves no process and no port behind."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from local.procs import end_process_group, group_alive, port_open
from local.stack import REPO, read_state


def _cli(*args, data_dir, timeout=120):
    return subprocess.run([sys.executable, "-m", "local", *args, "--data-dir", str(data_dir)],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)


def _wait_ready(data_dir, proc=None, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(data_dir)
        if state and state.get("ready"):
            return state
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"stack exited early: {proc.stdout.read()}")
        time.sleep(0.1)
    raise AssertionError("stack not ready in time")


def _assert_nothing_left(state):
    groups = state["process_groups"]
    assert len(groups) == 4 + len(state["function_urls"])  # pubsub, firestore, cloudtasks, gcs + one per function
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(group_alive(g) for g in groups.values()):
        time.sleep(0.1)
    assert not [name for name, g in groups.items() if group_alive(g)]
    assert not [name for name, port in state["ports"].items() if port_open(port)]


@pytest.fixture
def cleanup():
    started = []
    yield started
    for state in started:  # only on failure is anything still there: end our own groups
        for g in state["process_groups"].values():
            end_process_group(g, timeout=5)
        if state["supervisor_pid"]:
            end_process_group(state["supervisor_pid"], timeout=5)


def test_ctrl_c_stops_everything(tmp_path, cleanup):
    proc = subprocess.Popen([sys.executable, "-m", "local", "up", "--data-dir", str(tmp_path)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    state = _wait_ready(tmp_path, proc)
    cleanup.append(state)
    status = _cli("status", data_dir=tmp_path)
    assert status.returncode == 0 and "DOWN" not in status.stdout, status.stdout
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "stopped" in out
    _assert_nothing_left(state)
    assert read_state(tmp_path) is None


def test_stop_command_and_readiness_that_fails_until_every_component_answers(tmp_path, cleanup):
    started = _cli("start", data_dir=tmp_path)
    assert started.returncode == 0, started.stdout + started.stderr
    state = read_state(tmp_path)
    cleanup.append(state)
    fired = _cli("fire", "sweeper", data_dir=tmp_path)
    assert fired.returncode == 0 and '"examined"' in fired.stdout, fired.stdout + fired.stderr
    env = _cli("env", data_dir=tmp_path).stdout
    assert f"PUBSUB_EMULATOR_HOST=127.0.0.1:{state['ports']['pubsub']}" in env
    end_process_group(state["process_groups"]["fn:extract"])  # one component goes away
    status = _cli("status", data_dir=tmp_path)
    assert status.returncode == 1
    assert "DOWN   function extract" in status.stdout and "ready  pubsub" in status.stdout
    stopped = _cli("stop", data_dir=tmp_path)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    _assert_nothing_left(state)
    assert _cli("status", data_dir=tmp_path).returncode == 1
    assert not group_alive(state["supervisor_pid"])
    assert json.loads(json.dumps(state))["ready"] is True
