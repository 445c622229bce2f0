"""Extraction throughput of this tree against another git revision, side by side in one run.

    scripts/bench extraction_compare --base HEAD~1            # about five minutes on 2 cores
    scripts/bench extraction_compare --base HEAD~1 --quick    # fewer, smaller repetitions
    scripts/bench extraction_compare --base HEAD              # A/A: the noise floor of the method

The base revision is checked out with `git worktree add` into a temporary folder (removed again
at the end, also on failure or Ctrl-C). Two measuring processes run at once, one per tree, each
importing `contentflow` (its sandboxed parser worker too) from its own tree, both pinned to CPU 0,
with this tree's inputs (bench/extraction_inputs.py) and the types of the extraction benchmark.
Only one of them works at a time: for each type, this process asks them in turn for short
repetitions (a few passes over the type's inputs, at least --seconds long), in A-B-B-A order,
`--repetitions` times each. A slowdown of the machine therefore lands on both trees within a
second of each other, where a median of a few long runs, minutes apart, moved by 10-15 points
between runs of the same two trees.

Per type and tree it keeps the least wall-clock time and the least CPU time of a pass (function
process, parser worker and tesseract, also workers replaced meanwhile): the least is the
repetition the rest of the machine disturbed least, as `timeit` reports. Printed: throughput
(pages/s; MB/s for one big input) of each tree from its best pass, the ratio this/base (the
issue-13 guard: no type below 0.90), the median of the paired ratios of repetitions run side by
side (a cross-check that does not rest on one repetition), and the CPU seconds per pass with
their ratio base/this. Writes bench/results/extraction-compare-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GUARD_RATIO = 0.90  # "within 10 % of today's"
BIG_INPUT_TYPES = ("text", "CSV", "JSON", "DOCX")  # one big input: MB/s says more than pages/s


# The types of bench/extraction.py's throughput table, at the same scale; built on first use.
TYPES = {
    "PDF, text layer": lambda inputs, scale: [inputs.report_pdf(int(200 * scale) or 10)],
    "PDF, scanned (OCR)": lambda inputs, scale: [inputs.scanned_pdf(2)],
    "HTML": lambda inputs, scale: inputs.html_pages(int(30 * scale) or 5),
    "DOCX": lambda inputs, scale: [inputs.long_docx(int(60 * scale) or 5)],
    "text": lambda inputs, scale: [inputs.big_text(5 * scale)],
    "Markdown": lambda inputs, scale: [inputs.sample("documents/tidewater-release-notes.md"),
                                       inputs.sample("documents/tidewater-api-guide.md")],
    "CSV": lambda inputs, scale: [inputs.big_csv(5 * scale)],
    "JSON": lambda inputs, scale: [inputs.big_json(2 * scale)],
    "PNG, A4 scan (OCR)": lambda inputs, scale: [inputs.full_page_scan("PNG")],
    "JPEG, A4 scan (OCR)": lambda inputs, scale: [inputs.full_page_scan("JPEG")],
    "TIFF G4, A4 scan (OCR)": lambda inputs, scale: [inputs.full_page_scan("TIFF")],
}


# --- the measuring process (one per tree) ---------------------------------------------------

def _proc_cpu(pid: int) -> float:
    """CPU seconds of a live process and of the children it has waited for (tesseract)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def _cpu_now(sandbox) -> float:
    """This process, the workers it has already reaped (replaced ones), and the live worker."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime
    pid = sandbox.worker_pid()
    if pid is not None:
        try:
            total += _proc_cpu(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass  # ended between the two reads: reaped by now, counted above on the next read
    return total


def serve(tree: Path, scale: float) -> int:
    """Answer the controller's requests, one JSON line each, for `tree`'s contentflow."""
    protocol_out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever the code under test prints must not corrupt the protocol
    sys.stdout = sys.stderr
    sys.path.insert(0, str(tree / "lib"))
    import contentflow.extraction  # noqa: F401  (first import wins: the tree's package)

    loaded_from = Path(contentflow.extraction.__file__).resolve()
    if not loaded_from.is_relative_to(tree.resolve()):
        raise RuntimeError(f"contentflow came from {loaded_from}, not from {tree}")
    sys.path.insert(0, str(HERE))
    import extraction as bench  # this tree's benchmark code; its contentflow is the one above
    import extraction_inputs as inputs

    os.sched_setaffinity(0, {0})  # one core, as bench/extraction.py; the worker inherits it
    groups: dict[str, list] = {}

    def one_pass(items) -> list:
        return [bench.extract_document(item.data, filename=item.name, declared_content_type=None,
                                       limits=bench.LIMITS) for item in items]

    try:
        for line in sys.stdin:
            request = json.loads(line)
            kind = request["type"]
            if kind not in groups:
                groups[kind] = TYPES[kind](inputs, scale)
            items = groups[kind]
            if request["op"] == "warm":  # the worker, the parser's imports, caches: not timed
                bench.SANDBOX.warm_up()
                results = one_pass(items)
                started = time.perf_counter()
                one_pass(items)
                reply = {"pass_s": time.perf_counter() - started,
                         "pages": sum(r.page_count or 1 for r in results),
                         "mb": sum(len(i.data) for i in items) / 1e6, "documents": len(items),
                         "extractor": sorted({r.extractor for r in results})}
            else:  # "time": `passes` passes
                bench.SANDBOX.warm_up()
                cpu_before, wall_before = _cpu_now(bench.SANDBOX), time.perf_counter()
                for _ in range(request["passes"]):
                    one_pass(items)
                wall = time.perf_counter() - wall_before
                bench.SANDBOX.warm_up()  # a worker ended by the last document is reaped, its CPU counted
                reply = {"wall_s": wall / request["passes"],
                         "cpu_s": (_cpu_now(bench.SANDBOX) - cpu_before) / request["passes"]}
            protocol_out.write(json.dumps(reply) + "\n")
    finally:
        bench.SANDBOX.close()
    return 0


# --- the controller ---------------------------------------------------------------------------

class Tree:
    """A measuring process for one tree."""

    def __init__(self, label: str, path: Path, scale: float):
        self.label = label
        env = dict(os.environ, PYTHONPATH=str(path / "lib"))  # ahead of the venv's editable install
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(path), "--scale", str(scale)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=env, start_new_session=True)

    def ask(self, **request) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.label} tree's measuring process ended (status {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, 9)
            self.proc.wait()


def compare(trees: dict[str, Tree], kinds: list[str], repetitions: int, seconds: float) -> list[dict]:
    rows = []
    for kind in kinds:
        print(f"[bench] {kind}", file=sys.stderr, flush=True)
        info = {label: tree.ask(op="warm", type=kind) for label, tree in trees.items()}
        # The same number of passes for both trees, so a repetition lasts `seconds` at least.
        passes = max(1, round(seconds / max(min(i["pass_s"] for i in info.values()), 1e-6) + 0.5))
        runs: dict[str, list[dict]] = {"base": [], "this": []}
        for index in range(repetitions):
            order = ["base", "this"] if index % 2 == 0 else ["this", "base"]
            for label in order:
                runs[label].append(trees[label].ask(op="time", type=kind, passes=passes))
        amount = info["base"]["mb"] if kind in BIG_INPUT_TYPES else info["base"]["pages"]
        best = {label: min(r["wall_s"] for r in runs[label]) for label in runs}
        best_cpu = {label: min(r["cpu_s"] for r in runs[label]) for label in runs}
        paired = [b["wall_s"] / t["wall_s"] for b, t in zip(runs["base"], runs["this"], strict=True)]
        rows.append({
            "type": kind, "unit": "MB/s" if kind in BIG_INPUT_TYPES else "pages/s",
            "extractor": info["this"]["extractor"], "passes_per_repetition": passes,
            "base": amount / best["base"], "this": amount / best["this"],
            "ratio": best["base"] / best["this"],
            "paired_ratio_median": statistics.median(paired),
            "base_cpu_s": best_cpu["base"], "this_cpu_s": best_cpu["this"],
            "cpu_ratio": best_cpu["base"] / best_cpu["this"] if best_cpu["this"] > 0 else None,
            "base_wall_runs": [r["wall_s"] for r in runs["base"]], "this_wall_runs": [r["wall_s"] for r in runs["this"]],
            "base_cpu_runs": [r["cpu_s"] for r in runs["base"]], "this_cpu_runs": [r["cpu_s"] for r in runs["this"]],
        })
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="git revision to compare against (e.g. HEAD~1)")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, fewer repetitions")
    parser.add_argument("--repetitions", type=int, default=None, help="repetitions per tree and type (default 11, quick 4)")
    parser.add_argument("--seconds", type=float, default=None, help="least length of a repetition (default 0.25 s)")
    parser.add_argument("--types", help="a subset: comma-separated starts of type names, e.g. 'html,markdown,pdf'")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # internal: one tree's measuring process
    parser.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.scale)
    if not args.base:
        parser.error("--base REVISION is required")
    seconds = args.seconds or 0.25
    scale = 0.2 if args.quick else 1.0
    repetitions = args.repetitions or (4 if args.quick else 11)
    kinds = list(TYPES)
    if args.types:  # each word picks the types whose names start with it: "html,markdown,png"
        wanted = [w.strip().lower() for w in args.types.split(",") if w.strip()]
        kinds = [k for k in kinds if any(k.lower().startswith(w) for w in wanted)]
        if not kinds:
            parser.error(f"no type starts with {args.types!r}; known: {'; '.join(TYPES)}")

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{args.base}^{{commit}}"],
                            capture_output=True, text=True, check=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    worktree = Path(tempfile.mkdtemp(prefix="extraction-base-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), commit],
                   check=True, capture_output=True)
    trees: dict[str, Tree] = {}
    started = time.monotonic()
    try:
        trees["base"] = Tree("base", worktree, scale)
        trees["this"] = Tree("this", ROOT, scale)
        rows = compare(trees, kinds, repetitions, seconds)
    finally:
        for tree in trees.values():
            tree.close()
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)],
                       capture_output=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)
        worktree.parent.rmdir() if worktree.parent.exists() and not any(worktree.parent.iterdir()) else None

    slower = [r["type"] for r in rows if r["ratio"] < GUARD_RATIO]
    slower_cpu = [r["type"] for r in rows if r["cpu_ratio"] is not None and r["cpu_ratio"] < GUARD_RATIO]
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    print(f"\nextraction throughput, this tree (HEAD {head[:10]}{' + uncommitted changes' if dirty else ''}) "
          f"vs base {args.base} ({commit[:10]}): best of {repetitions} interleaved repetitions each, one core, "
          f"{time.monotonic() - started:.0f} s\n")
    print("| type | unit | base | this | this/base | paired median | CPU s per pass, base | this | base/this (CPU) |\n"
          "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        ratio = f"{r['ratio']:.2f}" + (" (below the guard)" if r["type"] in slower else "")
        cpu_ratio = f"{r['cpu_ratio']:.2f}" + (" (below the guard)" if r["type"] in slower_cpu else "") \
            if r["cpu_ratio"] is not None else "-"
        print(f"| {r['type']} | {r['unit']} | {r['base']:.1f} | {r['this']:.1f} | {ratio} | "
              f"{r['paired_ratio_median']:.2f} | {r['base_cpu_s']:.3f} | {r['this_cpu_s']:.3f} | {cpu_ratio} |")
    print(f"\nwall clock: {'types below ' + str(GUARD_RATIO) + ': ' + ', '.join(slower) if slower else 'every type within the guard'}")
    print(f"CPU time: {'types below ' + str(GUARD_RATIO) + ': ' + ', '.join(slower_cpu) if slower_cpu else 'every type within the guard'}")
    print(f"load average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())} ({os.cpu_count()} CPUs)")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"extraction-compare-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"base": args.base, "base_commit": commit, "head": head, "uncommitted": bool(dirty),
                                "quick": args.quick, "repetitions": repetitions, "seconds": seconds,
                                "method": "best of interleaved repetitions", "types": rows,
                                "below_guard": slower, "below_guard_cpu": slower_cpu,
                                "load_average": os.getloadavg()}, indent=2))
    print(f"written {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
