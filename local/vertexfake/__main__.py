"""python -m local.vertexfake [--port N]

Prints `vertexfake listening on http://127.0.0.1:PORT` once it serves (point
VERTEX_AI_EMULATOR_HOST at 127.0.0.1:PORT), then runs until SIGTERM or SIGINT, when it stops
cleanly and exits 0.
"""

import argparse
import signal
import sys
import threading

from .server import FakeVertex


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.vertexfake", description="Local fake of Vertex AI's model endpoints")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    args = parser.parse_args(argv)
    stop_requested = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop_requested.set())
    fake = FakeVertex(port=args.port).start()
    print(f"vertexfake listening on {fake.url}", flush=True)
    try:
        while not stop_requested.wait(0.5):
            pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
