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


def _fire_until_answered(job, data_dir, timeout=90):
    """Fires a schedule's target as Cloud Scheduler does, again while it answers 503 (a dependency
    not answering in time, e.g. an emulator's first queries on a loaded machine: Cloud Scheduler
    retries those too), until the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        fired = _cli("fire", job, data_dir=data_dir)
        if fired.returncode == 0 or "HTTP 503" not in fired.stdout + fired.stderr or time.monotonic() > deadline:
            return fired
        time.sleep(1)


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
    fired = _fire_until_answered("sweeper", tmp_path)
    assert fired.returncode == 0 and '"examined"' in fired.stdout, fired.stdout + fired.stderr
    env = _cli("env", data_dir=tmp_path).stdout
    assert f"PUBSUB_EMULATOR_HOST=127.0.0.1:{state['ports']['pubsub']}" in env
    end_process_group(state["process_groups"]["fn:extract"])  # one component goes away
    status = _cli("status", data_dir=tmp_path)
    assert status.returncode == 1
    assert "DOWN   function extract" in status.stdout and "ready  pubsub" in status.stdout
    second = _cli("up", data_dir=tmp_path)  # a second stack on the same folder is refused ...
    assert second.returncode == 1 and "already running" in second.stderr, second.stdout + second.stderr
    assert read_state(tmp_path) == state  # ... and leaves the running one's record alone
    stopped = _cli("stop", data_dir=tmp_path)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    _assert_nothing_left(state)
    assert _cli("status", data_dir=tmp_path).returncode == 1
    assert not group_alive(state["supervisor_pid"])
    assert json.loads(json.dumps(state))["ready"] is True
    again = _cli("start", data_dir=tmp_path)  # the same folder again: its buckets are still there
    assert again.returncode == 0, again.stdout + again.stderr
    cleanup.append(read_state(tmp_path))
    assert cleanup[-1]["function_urls"] == state["function_urls"]  # same addresses: kept tasks still reach them
    assert _cli("stop", data_dir=tmp_path).returncode == 0
    _assert_nothing_left(cleanup[-1])


def _up(data_dir):
    return subprocess.Popen([sys.executable, "-m", "local", "up", "--data-dir", str(data_dir)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _assert_groups_end(state):
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(group_alive(g) for g in state["process_groups"].values()):
        time.sleep(0.1)
    assert not [name for name, g in state["process_groups"].items() if group_alive(g)]


def test_hangup_of_the_supervisor_alone_stops_everything(tmp_path, cleanup):
    """A closed terminal (SIGHUP) or a cancelled job (SIGTERM) reaches only the supervisor: its
    children run in sessions of their own, so the supervisor must stop them itself."""
    proc = _up(tmp_path)
    state = _wait_ready(tmp_path, proc)
    cleanup.append(state)
    os.kill(proc.pid, signal.SIGHUP)
    out, _ = proc.communicate(timeout=60)
    assert "stopping the stack (stopped by signal SIGHUP)" in out and "stopped" in out, out
    _assert_nothing_left(state)


def test_sigterm_during_start_up_stops_what_was_started(tmp_path, cleanup):
    proc = _up(tmp_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # emulators and functions running, the stack not ready yet
        state = read_state(tmp_path)
        if state and not state["ready"] and all(f"fn:{n}" in state["process_groups"] for n in state["function_urls"]):
            break
        time.sleep(0.02)
    else:
        raise AssertionError(f"start-up never seen: {read_state(tmp_path)}")
    cleanup.append(state)
    os.kill(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert "stack ready" not in out and "stopped by signal SIGTERM" in out, out
    _assert_groups_end(state)
    assert read_state(tmp_path) is None
    assert not _processes_of(state, tmp_path)  # also none started after the snapshot above


def _processes_of(state, data_dir) -> list[str]:
    """Live processes of that stack, recorded or not: found by its data folder or its functions' ports."""
    marks = [str(data_dir).encode(), *(f"--port\0{p}\0".encode() for k, p in state["ports"].items() if k.startswith("fn:"))]
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmdline = open(f"/proc/{entry.name}/cmdline", "rb").read()
            except OSError:
                continue
            if any(m in cmdline for m in marks):
                found.append(f"{entry.name}: {cmdline[:120]!r}")
    return found


def test_stop_leaves_alone_a_pid_that_is_no_longer_ours(tmp_path):
    """A stale record (after a reboot, say) whose pids now belong to somebody else."""
    from local.procs import start_ticks

    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        (tmp_path / "stack.json").write_text(json.dumps({
            "supervisor_pid": stranger.pid, "supervisor_started": start_ticks(stranger.pid) - 1,
            "process_groups": {"pubsub": stranger.pid}, "process_started": {"pubsub": start_ticks(stranger.pid) - 1}}))
        stopped = _cli("stop", data_dir=tmp_path)
        assert stopped.returncode == 0, stopped.stderr
        time.sleep(0.2)
        assert stranger.poll() is None  # still running: it was never ours
    finally:
        stranger.kill()
        stranger.wait()
