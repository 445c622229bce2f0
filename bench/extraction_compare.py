"""Extraction throughput of this tree against another git revision, side by side in one run.

    scripts/bench extraction_compare --base HEAD~1            # about three minutes on 2 cores
    scripts/bench extraction_compare --base HEAD~1 --quick    # smaller inputs, for a smoke run

The base revision is checked out with `git worktree add` into a temporary folder (removed again
at the end, also on failure or Ctrl-C). Each measurement runs in a fresh process pinned to CPU 0
that imports `contentflow` from one tree (its sandboxed worker too) and measures, with this
tree's bench/extraction.py `throughput()` and the same inputs (this tree's
bench/extraction_inputs.py), every type of the extraction benchmark. The two trees take turns,
in A-B-B-A order over the rounds, so a machine that slows down mid-run hurts both alike. Prints
per type the median pages/s (MB/s for formats without pages) of each tree and the ratio
this/base (the issue's guard: no type below 0.90), and the CPU seconds (function process and
parser worker, tesseract included) one pass over the type's inputs costs, the least of all runs,
with its ratio base/this: on a machine that other processes keep busy, wall-clock figures swing by
a factor of two between runs and only the CPU figures tell a change from the load. Writes
bench/results/extraction-compare-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GUARD_RATIO = 0.90  # "within 10 % of today's"


def measure(tree: Path, scale: float, seconds: float) -> list[dict]:
    """In this process (started by run_tree): throughput per type with `tree`'s contentflow."""
    sys.path.insert(0, str(tree / "lib"))
    import contentflow.extraction  # noqa: F401  (first import wins: the tree's package)

    loaded_from = Path(contentflow.extraction.__file__).resolve()
    if not loaded_from.is_relative_to(tree.resolve()):
        raise RuntimeError(f"contentflow came from {loaded_from}, not from {tree}")
    sys.path.insert(0, str(HERE))
    import extraction as bench  # this tree's benchmark code; its contentflow is the one above
    import extraction_inputs as inputs

    os.sched_setaffinity(0, {0})  # one core, as bench/extraction.py; the worker inherits it
    # The types of bench/extraction.py's throughput table, at the same scale.
    groups = {
        "PDF, text layer": [inputs.report_pdf(int(200 * scale) or 10)],
        "PDF, scanned (OCR)": [inputs.scanned_pdf(2)],
        "HTML": inputs.html_pages(int(30 * scale) or 5),
        "DOCX": [inputs.long_docx(int(60 * scale) or 5)],
        "text": [inputs.big_text(5 * scale)],
        "Markdown": [inputs.sample("documents/tidewater-release-notes.md"),
                     inputs.sample("documents/tidewater-api-guide.md")],
        "CSV": [inputs.big_csv(5 * scale)],
        "JSON": [inputs.big_json(2 * scale)],
        "PNG, A4 scan (OCR)": [inputs.full_page_scan("PNG")],
        "JPEG, A4 scan (OCR)": [inputs.full_page_scan("JPEG")],
        "TIFF G4, A4 scan (OCR)": [inputs.full_page_scan("TIFF")],
    }
    try:
        rows = bench.throughput(groups, seconds)
        for row in rows:  # the same inputs again, timed in CPU seconds (see cpu_seconds)
            row["cpu_s"] = cpu_seconds(bench, groups[row["type"]])
        return rows
    finally:
        bench.SANDBOX.close()


CPU_REPEATS = 5
CPU_MIN_S = 0.3  # a repetition runs the inputs this long at least: /proc counts in 10 ms ticks


def _worker_cpu(pid: int) -> float:
    """CPU seconds of the worker and of its children it has waited for (tesseract)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def cpu_seconds(bench, items) -> float | None:
    """CPU seconds (this process and the parser worker together) for one pass over `items`, the
    least of CPU_REPEATS repetitions. Wall-clock throughput on a machine other processes keep busy
    swings by a factor of two or more between runs; CPU time does not wait for the other processes,
    so it tells a real change from load. None if the worker was replaced mid-measurement."""
    def one_pass():
        for item in items:
            bench.extract_document(item.data, filename=item.name, declared_content_type=None, limits=bench.LIMITS)

    bench.SANDBOX.warm_up()
    one_pass()
    started = time.perf_counter()
    one_pass()
    passes = max(1, int(CPU_MIN_S / max(time.perf_counter() - started, 1e-6)) + 1)
    best = None
    for _ in range(CPU_REPEATS):
        pid = bench.SANDBOX.worker_pid()
        if pid is None:  # the sandbox let its worker go (a fresh one per OCR document, ...):
            bench.SANDBOX.warm_up()  # a new one, and its imports, before the timed passes
            one_pass()
            pid = bench.SANDBOX.worker_pid()
        try:
            before = time.process_time() + _worker_cpu(pid)
            for _ in range(passes):
                one_pass()
            if bench.SANDBOX.worker_pid() != pid:
                continue  # replaced mid-measurement: its CPU time is partly lost
            used = (time.process_time() + _worker_cpu(pid) - before) / passes
        except (FileNotFoundError, TypeError):  # no worker, or it ended between the two reads
            continue
        best = used if best is None else min(best, used)
    return best


def run_tree(tree: Path, scale: float, seconds: float) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(tree / "lib"))  # ahead of the venv's editable install
    out = subprocess.run([sys.executable, __file__, "--measure", str(tree), "--scale", str(scale),
                          "--seconds", str(seconds)], capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"measuring {tree} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


def speed(row: dict) -> float:
    """MB/s for the single big input of a text format (where pages/s would be documents/s),
    pages/s for the others; the ratio is the same either way, as both trees read the same inputs."""
    return row["mb_per_s"] if row["type"] in ("text", "CSV", "JSON", "DOCX") else row["pages_per_s"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="git revision to compare against (e.g. HEAD~1)")
    parser.add_argument("--quick", action="store_true", help="small inputs, short runs")
    parser.add_argument("--rounds", type=int, default=None, help="measurements per tree (default 3, quick 2)")
    parser.add_argument("--seconds", type=float, default=None, help="minimum time per measurement")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # internal: one tree, fresh process
    parser.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.scale, args.seconds), default=str))
        return 0
    if not args.base:
        parser.error("--base REVISION is required")
    seconds = args.seconds or (0.5 if args.quick else 2.0)
    scale = 0.2 if args.quick else 1.0
    rounds = args.rounds or (2 if args.quick else 3)

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{args.base}^{{commit}}"],
                            capture_output=True, text=True, check=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    worktree = Path(tempfile.mkdtemp(prefix="extraction-base-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), commit],
                   check=True, capture_output=True)
    samples: dict[str, dict[str, list[dict]]] = {"base": {}, "this": {}}
    try:
        for round_index in range(rounds):
            order = [("base", worktree), ("this", ROOT)]
            for label, tree in order if round_index % 2 == 0 else order[::-1]:
                print(f"[bench] round {round_index + 1} of {rounds}: {label}", file=sys.stderr, flush=True)
                for row in run_tree(tree, scale, seconds):
                    samples[label].setdefault(row["type"], []).append(row)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)],
                       capture_output=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)
        worktree.parent.rmdir() if worktree.parent.exists() and not any(worktree.parent.iterdir()) else None

    rows = []
    for kind, base_rows in samples["base"].items():
        this_rows = samples["this"].get(kind, [])
        base_speed = statistics.median(speed(r) for r in base_rows)
        this_speed = statistics.median(speed(r) for r in this_rows) if this_rows else None
        base_cpu = min((r["cpu_s"] for r in base_rows if r.get("cpu_s")), default=None)
        this_cpu = min((r["cpu_s"] for r in this_rows if r.get("cpu_s")), default=None)
        rows.append({"type": kind, "unit": "MB/s" if kind in ("text", "CSV", "JSON", "DOCX") else "pages/s",
                     "base": base_speed, "this": this_speed,
                     "ratio": this_speed / base_speed if this_speed and base_speed else None,
                     "base_runs": [speed(r) for r in base_rows], "this_runs": [speed(r) for r in this_rows],
                     # CPU seconds per pass over the type's inputs (least of all runs); ratio base/this,
                     # so above 1 is faster, as for the wall-clock ratio
                     "base_cpu_s": base_cpu, "this_cpu_s": this_cpu,
                     "cpu_ratio": base_cpu / this_cpu if base_cpu and this_cpu else None,
                     "base_cpu_runs": [r.get("cpu_s") for r in base_rows],
                     "this_cpu_runs": [r.get("cpu_s") for r in this_rows]})
    slower = [r["type"] for r in rows if r["ratio"] is not None and r["ratio"] < GUARD_RATIO]
    slower_cpu = [r["type"] for r in rows if r["cpu_ratio"] is not None and r["cpu_ratio"] < GUARD_RATIO]
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    print(f"\nextraction throughput, this tree (HEAD {head[:10]}{' + uncommitted changes' if dirty else ''}) "
          f"vs base {args.base} ({commit[:10]}), median of {rounds} runs each, one core\n")
    print("| type | unit | base | this | this/base | CPU s per pass, base | this | base/this (CPU) |\n"
          "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        ratio = f"{r['ratio']:.2f}" + (" (slower than the guard)" if r["type"] in slower else "") \
            if r["ratio"] is not None else "-"
        cpu_ratio = f"{r['cpu_ratio']:.2f}" + (" (slower than the guard)" if r["type"] in slower_cpu else "") \
            if r["cpu_ratio"] is not None else "-"
        cpu = [f"{v:.3f}" if v else "-" for v in (r["base_cpu_s"], r["this_cpu_s"])]
        print(f"| {r['type']} | {r['unit']} | {r['base']:.1f} | {r['this']:.1f} | {ratio} | {cpu[0]} | {cpu[1]} | {cpu_ratio} |")
    print(f"\nwall clock: {'types below ' + str(GUARD_RATIO) + ': ' + ', '.join(slower) if slower else 'every type within the guard'}")
    print(f"CPU time: {'types below ' + str(GUARD_RATIO) + ': ' + ', '.join(slower_cpu) if slower_cpu else 'every type within the guard'}")
    print(f"load average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())} "
          f"({os.cpu_count()} CPUs; wall clock is only meaningful on an otherwise idle machine)")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"extraction-compare-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"base": args.base, "base_commit": commit, "head": head, "uncommitted": bool(dirty),
                                "quick": args.quick, "rounds": rounds, "seconds": seconds, "types": rows,
                                "below_guard": slower, "below_guard_cpu": slower_cpu,
                                "load_average": os.getloadavg()}, indent=2))
    print(f"written {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
