"""The local cloud's command line.

  python -m local up     [--data-dir D]   run the stack in the foreground; Ctrl-C stops it
  python -m local start  [--data-dir D]   start it in the background, return when ready
  python -m local stop   [--data-dir D]   stop a background stack
  python -m local status [--data-dir D]   readiness of every component (exit 1 unless all answer)
  python -m local fire JOB [--data-dir D] fire a scheduler job now (e.g. sweeper)
  python -m local env    [--data-dir D]   print the variables that point clients at the stack
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from local.procs import end_process_group, group_alive, http_ok, is_same_process, port_open
from local.stack import REPO, LocalStack, StackError, cloudtasks_ready, read_state

DEFAULT_DATA_DIR = REPO / ".local-data"


def _say(msg: str) -> None:
    print(msg, flush=True)


def cmd_up(args) -> int:
    stack = LocalStack(args.data_dir, say=_say)
    try:
        # Ctrl-C, SIGTERM and SIGHUP raise KeyboardInterrupt (LocalStack.start installs that), also
        # during start-up: start() then stops what it had started.
        stack.start()
        _say(f"stack ready in {stack.ready_after_s:.1f} s; data under {stack.data_dir}")
        _say("api: " + stack.function_url("api") + "documents")
        _say("point clients at it with:  eval \"$(scripts/stack env)\"   (Ctrl-C stops)")
        while True:
            time.sleep(0.5)
    except StackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:
        _say(f"stopping the stack ({interrupt or 'interrupted'})")
    finally:
        stack.stop()
    _say("stopped")
    return 0


def cmd_start(args) -> int:
    state = read_state(args.data_dir)
    if state and is_same_process(state["supervisor_pid"], state.get("supervisor_started")):
        print(f"a stack is already running (pid {state['supervisor_pid']})")
        return 0
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    log = open(Path(args.data_dir) / "supervisor.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "local", "up", "--data-dir", str(args.data_dir)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            cwd=REPO, env=os.environ, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = read_state(args.data_dir)
        if state and state.get("ready") and state["supervisor_pid"] == proc.pid:
            print(f"stack ready in {state['ready_after_s']:.1f} s (supervisor pid {proc.pid})")
            return 0
        if proc.poll() is not None:
            print((Path(args.data_dir) / "supervisor.log").read_text()[-3000:], file=sys.stderr)
            return 1
        time.sleep(0.1)
    end_process_group(proc.pid, timeout=30)  # the supervisor stops what it started, then exits
    print("the stack did not become ready in 120 s", file=sys.stderr)
    return 1


def cmd_stop(args) -> int:
    state = read_state(args.data_dir)
    if not state:
        print("no stack running under", args.data_dir)
        return 0
    # Only processes that are still the ones recorded (pid and start time): a pid the kernel has
    # given to somebody else since (after a reboot, say) is left alone.
    pid = state["supervisor_pid"]
    if is_same_process(pid, state.get("supervisor_started")):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while is_same_process(pid, state.get("supervisor_started")) and time.monotonic() < deadline:
            time.sleep(0.1)
    started = state.get("process_started", {})
    for name, group in state.get("process_groups", {}).items():
        if is_same_process(group, started.get(name)) and group_alive(group):
            end_process_group(group)
    (Path(args.data_dir) / "stack.json").unlink(missing_ok=True)
    print("stopped")
    return 0


def cmd_status(args) -> int:
    state = read_state(args.data_dir)
    if not state:
        print("no stack running under", args.data_dir)
        return 1
    ports, project = state["ports"], state["project_id"]
    checks = {
        "pubsub": http_ok(f"http://127.0.0.1:{ports['pubsub']}/"),
        "firestore": http_ok(f"http://127.0.0.1:{ports['firestore']}/"),
        "gcs": http_ok(f"http://127.0.0.1:{ports['gcs']}/storage/v1/b?project={project}"),
        "relay": port_open(ports["relay"]),
        "cloudtasks": cloudtasks_ready(ports["cloudtasks"], project),
        **{f"function {k[3:]}": port_open(v) for k, v in ports.items() if k.startswith("fn:")},
    }
    if "api" in state["function_urls"]:
        checks["api /healthz"] = http_ok(state["function_urls"]["api"] + "healthz", timeout=10)
    for name, ok in checks.items():
        print(f"{'ready' if ok else 'DOWN ':5}  {name}")
    return 0 if all(checks.values()) else 1


def cmd_fire(args) -> int:
    from contentflow.spec import load_spec_file, DEFAULT_SPEC_PATH
    from local.scheduler import fire

    state = read_state(args.data_dir)
    if not state:
        print("no stack running under", args.data_dir, file=sys.stderr)
        return 1
    spec = load_spec_file(state.get("spec_path") or DEFAULT_SPEC_PATH)
    if args.job not in spec.schedules:
        print(f"no job {args.job!r}; jobs: {', '.join(spec.schedules)}", file=sys.stderr)
        return 2
    schedule = spec.schedules[args.job]
    response = fire(args.job, schedule, state["function_urls"][schedule.target.function])
    print(f"{args.job}: HTTP {response.status_code} {response.text.strip()[:2000]}")
    return 0 if response.ok else 1


def cmd_env(args) -> int:
    state = read_state(args.data_dir)
    if not state:
        print("no stack running under", args.data_dir, file=sys.stderr)
        return 1
    for key, value in state["env"].items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "start", "stop", "status", "fire", "env"):
        p = sub.add_parser(name)
        if name == "fire":
            p.add_argument("job")
        p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args(argv)
    return globals()[f"cmd_{args.command}"](args)


if __name__ == "__main__":
    sys.exit(main())
