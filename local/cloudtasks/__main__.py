"""python -m local.cloudtasks --port 0 --data-dir DIR [--project P --location L] [--queues FILE.json]

Prints `cloudtasks emulator listening on 127.0.0.1:PORT` once it serves, then runs until
SIGTERM or SIGINT, when it stops cleanly and exits 0.
"""

import argparse
import logging
import signal
import sys
import threading

from .emulator import DEFAULT_LOCATION, DEFAULT_PROJECT, CloudTasksEmulator, load_queue_specs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.cloudtasks", description="Local Cloud Tasks emulator")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--data-dir", default=None, help="folder for persistent state (default: in memory)")
    parser.add_argument("--project", default=DEFAULT_PROJECT, help="project of --queues queues")
    parser.add_argument("--location", default=DEFAULT_LOCATION, help="location of --queues queues")
    parser.add_argument("--queues", default=None, help="JSON file {queue_id: {rate_limits, retry_config}} to create")
    parser.add_argument("--fate-webhook", default=None, help="URL that receives a POST per task out of retries")
    parser.add_argument("--task-tombstone-seconds", type=float, default=3600.0,
                        help="how long a task name stays taken after the task ran or was deleted")
    parser.add_argument("--queue-tombstone-seconds", type=float, default=0.0,
                        help="how long a deleted queue's name stays taken (production: 7 days)")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")

    emulator = CloudTasksEmulator(
        port=args.port,
        data_dir=args.data_dir,
        project=args.project,
        location=args.location,
        queues=load_queue_specs(args.queues) if args.queues else None,
        fate_webhook_url=args.fate_webhook,
        task_tombstone_seconds=args.task_tombstone_seconds,
        queue_tombstone_seconds=args.queue_tombstone_seconds,
    )
    stop_requested = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop_requested.set())
    emulator.start()
    print(f"cloudtasks emulator listening on {emulator.address}", flush=True)
    try:
        while not stop_requested.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
