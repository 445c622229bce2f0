"""The api function's cost of routing by a library: import time, memory and per-request overhead of
the FastAPI app (run through a2wsgi inside functions-framework) next to the regex-routed Flask
handler it replaced (functions/api.py at commit 86fcfbd), measured side by side in one run, each
in fresh processes, alternating. Requests go through functions-framework's Flask app in-process
(werkzeug's test client): a 404, i.e. routing and the error shape without any dependency (the
previous /healthz read Firestore).

Run: scripts/bench api_startup [--rounds 5] [--requests 500]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from local.stack import REPO
from report import report

PREVIOUS = "86fcfbd"
_PROBE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from functions_framework import create_app
app = create_app("api", sys.argv[1])
imported = time.perf_counter() - t0
client = app.test_client()
client.get("/nowhere")  # first request: builds what is lazy
n = int(sys.argv[2])
t2 = time.perf_counter()
for _ in range(n):
    assert client.get("/nowhere").status_code == 404
missing_ms = (time.perf_counter() - t2) / n * 1000
print(json.dumps({"import_s": imported, "missing_ms": missing_ms,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def probe(source: Path, requests: int) -> dict:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO / 'lib'}:{source.parent}", "CONTENTFLOW_PROJECT_ID": "bench-api",
           # clients are built at start, never called: unreachable emulator addresses, no credentials needed
           "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9", "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9",
           "PUBSUB_EMULATOR_HOST": "127.0.0.1:9", "CONTENTFLOW_LOG_LEVEL": "WARNING"}
    out = subprocess.run([sys.executable, "-c", _PROBE, str(source), str(requests)], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old_dir = Path(tmp) / "previous"
        old_dir.mkdir()
        old = old_dir / "api.py"
        old.write_text(subprocess.run(["git", "show", f"{PREVIOUS}:functions/api.py"], cwd=REPO, capture_output=True,
                                      text=True, check=True).stdout)
        (old_dir / "_trigger.py").write_text((REPO / "functions" / "_trigger.py").read_text())
        runs: dict[str, list[dict]] = {"regex + Flask (before)": [], "FastAPI via a2wsgi (now)": []}
        for _ in range(args.rounds):  # alternating, so drift on a noisy machine hits both alike
            runs["regex + Flask (before)"].append(probe(old, args.requests))
            runs["FastAPI via a2wsgi (now)"].append(probe(REPO / "functions" / "api.py", args.requests))
    rows = []
    for name, samples in runs.items():
        med = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
        rows.append({"api": name, "import + app (s)": round(med["import_s"], 3), "peak RSS (MiB)": round(med["peak_rss_mib"]),
                     "GET 404 (ms)": round(med["missing_ms"], 3)})
    before, now = ({k: statistics.median(s[k] for s in v) for k in v[0]} for v in runs.values())
    ratios = {"import": round(now["import_s"] / before["import_s"], 2), "peak_rss": round(now["peak_rss_mib"] / before["peak_rss_mib"], 2),
              "request": round(now["missing_ms"] / before["missing_ms"], 2)}
    report("api_startup", {"rounds": args.rounds, "requests": args.requests, "medians": rows, "ratio_now_over_before": ratios})


if __name__ == "__main__":
    main()
