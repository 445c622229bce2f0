"""Cold start per function (issue 12): module import time and process start to first answer.

For every function of the spec, against a started local stack (the clients' emulators must be
there: the function modules build their clients at import):

1. Import: `python -X importtime` imports the function's module in a fresh process, with the
   environment the stack gives the function and the functions folder first on sys.path (as
   functions-framework puts it). Reported: `import_s`, the time spent in Python imports (the
   module's cumulative import time less its own body's; functions_framework included, as every
   instance pays it), `module_body_s`, the wall time of the whole `import <module>` (the imports
   plus what the module body does: building clients, the local embedder's weights, extract's
   parser worker), the same two in CPU seconds (`import_cpu_s` estimated from the body's
   CPU/wall ratio: on a busy machine the wall times include waiting for a core), the costliest
   packages, and the heavy libraries the import pulled in, with the chain of imports that
   brought each one (flagged in `unexpected_heavy_imports` where the function does not need it).
2. Cold start: one extra process of the function, started as the stack starts it
   (`python -m functions_framework ...`, WORKERS=1, THREADS=1), timed from the process start to
   the first HTTP answer to a request the function answers without pipeline work (GET /healthz
   for the api; DELETE, refused with 405, for the other HTTP functions; an empty JSON body,
   refused as not a delivery, for the triggered ones). Any status counts.

Target (issue 12): each function's import under 0.5 s, except where a model must load
(`loads_model`: the module's import loaded the local backend's embedder; analyse, index and
reembed warm it at import, the api loads it lazily on the first search).

Run: scripts/bench cold_start   (starts its own stack; bench/all.py calls `measure(stack)`)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from local.procs import ManagedProcess, end_process_group, free_port, is_same_process, port_open, start_ticks
from local.stack import REPO, LocalStack
from report import report

IMPORT_TARGET_S = 0.5
COLD_START_DEADLINE_S = 60.0
IMPORT_PROBE_TIMEOUT_S = 120.0

# The heavy libraries contentflow depends on (requirements.txt; lib/ imports each lazily), by the
# role that needs them, and the dev/benchmark-only ones (requirements-dev.txt) or the ones the
# issue names but the repo does not use, which no function should ever load.
HEAVY: dict[str, str] = {
    # the local inference backend's embedder (contentflow.inference.local): WordLlama's weights
    # (safetensors), its Rust tokenizer, numpy for the pooling
    "wordllama": "model", "tokenizers": "model", "safetensors": "model", "numpy": "model", "huggingface_hub": "model",
    # the local backend's analysis (summary, keywords, sentiment): loaded on the first analysis
    "segtok": "analysis", "stop_words": "analysis", "vaderSentiment": "analysis",
    # the vertex backend (Google Gen AI SDK)
    "google.genai": "vertex",
    # the extraction parsers: imported by the sandboxed parser worker, a process of its own
    "trafilatura": "parser", "lxml": "parser", "lxml_html_clean": "parser", "pypdfium2": "parser", "PIL": "parser",
    "py3langid": "parser",
    # the api's app: routing, validation, the OpenAPI document, multipart uploads
    "fastapi": "api", "starlette": "api", "a2wsgi": "api", "python_multipart": "api", "multipart": "api",
    # never in a function: benchmark alternatives (requirements-dev.txt), or named by the issue and not used
    "pypdf": "unused", "pdfminer": "unused", "docx": "unused", "langdetect": "unused", "lingua": "unused",
    "pytesseract": "unused", "onnxruntime": "unused", "fastembed": "unused", "torch": "unused",
    "transformers": "unused", "sklearn": "unused", "scipy": "unused", "google.cloud.aiplatform": "unused",
    "vertexai": "unused",
}
# Where each role's libraries may be loaded by a function module's import.
STEP_FUNCTIONS_WITH_MODEL = frozenset({"analyse", "index", "reembed"})  # warm the inference backend at import


def heavy_allowed(role: str, function: str, loads_model: bool, backend: str) -> bool:
    if role == "model":
        return loads_model  # the functions that load the local embedder at start
    if role == "analysis":
        return False  # loaded by the first analysis, not at start
    if role == "vertex":
        return backend == "vertex" and (function in STEP_FUNCTIONS_WITH_MODEL or function == "extract")
    if role == "api":
        return function == "api"
    return False  # parsers live in the extraction worker; "unused" nowhere


# --- the import probe ----------------------------------------------------------------------------

_IMPORT_PROBE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])  # as functions-framework does with the --source folder
t0, c0 = time.perf_counter(), time.process_time()
__import__(sys.argv[2])  # the import statement's path: importlib.import_module bypasses -X importtime's report
body, cpu = time.perf_counter() - t0, time.process_time() - c0
local = sys.modules.get("contentflow.inference.local")
print(json.dumps({"module_body_s": body, "module_body_cpu_s": cpu,
                  "loads_model": bool(local is not None and getattr(local, "_embedders", None))}))
"""


def function_env(stack, name: str) -> dict[str, str]:
    """The variables the stack gives a function's process (LocalStack._spawn_functions)."""
    env = {**stack.client_env(), "PYTHONPATH": str(REPO / "lib"), "PYTHONUNBUFFERED": "1"}
    signing_key = getattr(stack, "_upload_signing_key", None)
    if signing_key is not None:
        env["CONTENTFLOW_UPLOAD_SIGNING_KEY_FILE"] = str(signing_key())
    env.update(stack.function_env)
    env.update({"WORKERS": "1", "THREADS": "1", "K_SERVICE": name})
    return env


def parse_importtime(stderr: str) -> list[dict]:
    """`-X importtime` lines in their printed order (a module after everything it imported), each
    {name, depth, self_us, cumulative_us}."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header
        field = parts[2].rstrip()
        spaces = len(field) - len(field.lstrip(" "))
        rows.append({"name": field.strip(), "depth": max(0, (spaces - 1) // 2),
                     "self_us": int(parts[0]), "cumulative_us": int(parts[1])})
    return rows


def import_chain(rows: list[dict], index: int) -> list[str]:
    """The modules from the outermost import down to rows[index]: its parents are the next rows
    printed at each lower depth."""
    chain = [rows[index]["name"]]
    depth = rows[index]["depth"]
    for row in rows[index + 1:]:
        if row["depth"] < depth:
            chain.append(row["name"])
            depth = row["depth"]
            if depth == 0:
                break
    return chain[::-1]


def _parents(rows: list[dict]) -> list[str | None]:
    """Each row's importer (None at depth 0): walking back, the latest row one level up."""
    parents: list[str | None] = [None] * len(rows)
    above: dict[int, str] = {}
    for i in range(len(rows) - 1, -1, -1):
        depth = rows[i]["depth"]
        parents[i] = above.get(depth - 1) if depth > 0 else None
        above[depth] = rows[i]["name"]
    return parents


def _package(name: str) -> str:
    parts = name.split(".")
    if parts[0] == "google" and len(parts) > 2 and parts[1] == "cloud":
        return ".".join(parts[:3])
    if parts[0] == "google" and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def _heavy_key(name: str) -> str | None:
    for lib in HEAVY:
        if name == lib or name.startswith(lib + "."):
            return lib
    return None


def analyse_imports(rows: list[dict], module: str) -> dict:
    top = next((i for i, r in enumerate(rows) if r["name"] == module and r["depth"] == 0), None)
    if top is None:
        raise RuntimeError(f"-X importtime printed no line for {module}")
    own = rows[top]
    inside = rows[:top + 1]
    # Only the modules this import loaded (the interpreter's start-up imports come before, at depth 0).
    first_inside = top
    while first_inside > 0 and rows[first_inside - 1]["depth"] > 0:
        first_inside -= 1
    inside = rows[first_inside:top + 1]
    # Per package: its modules' own (self) time, and the cumulative time of its entries (the
    # imports of it from another package: what importing it cost, with what it pulled in).
    parents = _parents(inside)
    packages: dict[str, dict] = {}
    for row, parent in zip(inside[:-1], parents[:-1]):
        key = _package(row["name"])
        pkg = packages.setdefault(key, {"package": key, "self_us": 0, "cumulative_us": 0})
        pkg["self_us"] += row["self_us"]
        if parent is None or _package(parent) != key:
            pkg["cumulative_us"] += row["cumulative_us"]
    top_self = sorted(packages.values(), key=lambda p: -p["self_us"])[:5]
    direct = sorted((r for r in inside if r["depth"] == 1), key=lambda r: -r["cumulative_us"])[:5]
    heavy: dict[str, list[str]] = {}
    for offset, row in enumerate(inside[:-1]):
        lib = _heavy_key(row["name"])
        if lib and lib not in heavy:
            chain = import_chain(inside, offset)
            # down to the library's outermost module (its first loaded submodule is printed first)
            heavy[lib] = chain[:next(i for i, m in enumerate(chain) if _heavy_key(m) == lib) + 1]
    framework = next((r["cumulative_us"] for r in inside if r["depth"] == 1 and r["name"] == "functions_framework"), 0)
    return {
        "import_s": (own["cumulative_us"] - own["self_us"]) / 1e6,
        "importtime_total_s": own["cumulative_us"] / 1e6,
        "framework_s": framework / 1e6,
        "modules": len(inside),
        "top_imports": [{"package": p["package"], "self_s": round(p["self_us"] / 1e6, 3),
                         "cumulative_s": round(p["cumulative_us"] / 1e6, 3)} for p in top_self],
        "top_direct_imports": [{"module": r["name"], "cumulative_s": round(r["cumulative_us"] / 1e6, 3)} for r in direct],
        "heavy_chains": heavy,
    }


def _descendants(pid: int) -> list[tuple[int, int | None]]:
    """(pid, start ticks) of every live descendant of `pid`."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append((child, start_ticks(child)))
        todo.extend(children.get(child, []))
    return found


def _end_leftovers(processes: list[tuple[int, int | None]]) -> None:
    """Ends what our child started in sessions of its own (extract's parser worker) if it outlived it."""
    for pid, ticks in processes:
        if is_same_process(pid, ticks):
            try:
                if os.getpgid(pid) == pid:
                    end_process_group(pid, timeout=5)
                else:
                    os.kill(pid, 9)
            except ProcessLookupError:
                pass


def measure_import(stack, name: str, fn) -> dict:
    source = REPO / fn.source
    module = source.stem
    env = {**os.environ, **function_env(stack, name)}
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-c", _IMPORT_PROBE, str(source.parent), module],
                            env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    spawned: list[tuple[int, int | None]] = []
    try:
        try:
            out, err = proc.communicate(timeout=IMPORT_PROBE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            spawned = _descendants(proc.pid)
            raise RuntimeError(f"importing {module} took over {IMPORT_PROBE_TIMEOUT_S:.0f} s") from None
    finally:
        end_process_group(proc.pid, timeout=5)
        proc.wait(timeout=5)
        _end_leftovers(spawned)
    if proc.returncode != 0:
        tail = "\n".join(line for line in err.splitlines() if not line.startswith("import time:"))[-2000:]
        raise RuntimeError(f"importing {module} failed (exit {proc.returncode}):\n{tail}")
    probe = json.loads(out.strip().splitlines()[-1])
    result = analyse_imports(parse_importtime(err), module)
    result.update(probe)
    return result


# --- the cold start ------------------------------------------------------------------------------

def probe_request(name: str, fn, port: int) -> urllib.request.Request:
    """A request the function answers without pipeline work."""
    base = f"http://127.0.0.1:{port}/"
    if name == "api":
        return urllib.request.Request(base + "healthz", method="GET")
    if fn.trigger.type == "http":
        return urllib.request.Request(base, method="DELETE")  # refused: 405
    # not a Pub/Sub push body, CloudEvent or task: refused as bad input (acknowledged) or 400
    return urllib.request.Request(base, data=b"{}", method="POST", headers={"Content-Type": "application/json"})


def _answer(request: urllib.request.Request, timeout: float) -> int | None:
    """The HTTP status of the answer; None when nothing answered (refused, reset, timed out)."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, OSError):
        return None


def measure_cold_start(stack, name: str, fn, log_dir: Path) -> dict:
    port = free_port()
    argv = [sys.executable, "-m", "functions_framework", "--target", fn.entry_point, "--source", str(REPO / fn.source),
            "--host", "127.0.0.1", "--port", str(port)]
    proc = ManagedProcess(f"cold-start:{name}", argv, log_dir / f"{name}.log", env=function_env(stack, name), cwd=REPO)
    spawned: list[tuple[int, int | None]] = []
    started = time.monotonic()
    deadline = started + COLD_START_DEADLINE_S
    proc.start()
    try:
        listening_s = None
        while True:
            now = time.monotonic()
            if now > deadline:
                raise RuntimeError(f"{name}: no answer within {COLD_START_DEADLINE_S:.0f} s; its log ends:\n{proc.log_tail()}")
            if not proc.alive():
                raise RuntimeError(f"{name} exited during start-up; its log ends:\n{proc.log_tail()}")
            if listening_s is None and port_open(port):
                listening_s = now - started
            if listening_s is not None:
                # Listening: a request waits in the backlog until the worker takes it, so one
                # request with a long timeout is answered at the first moment the function can.
                status = _answer(probe_request(name, fn, port), timeout=max(0.1, deadline - now))
                if status is not None:
                    return {"cold_start_s": time.monotonic() - started, "listening_s": listening_s, "status": status}
            time.sleep(0.02)
    finally:
        spawned = _descendants(proc.pid) if proc.pid else []
        proc.stop(timeout=10)
        _end_leftovers(spawned)


# --- the whole measurement -------------------------------------------------------------------------

def measure_function(stack, name: str, fn, log_dir: Path, backend: str, with_cold_start: bool = True) -> dict:
    imported = measure_import(stack, name, fn)
    cold = (measure_cold_start(stack, name, fn, log_dir) if with_cold_start
            else {"cold_start_s": None, "listening_s": None, "status": None})
    loads_model = bool(imported["loads_model"])
    heavy = sorted(imported["heavy_chains"])
    unexpected = {lib: imported["heavy_chains"][lib] for lib in heavy
                  if not heavy_allowed(HEAVY[lib], name, loads_model, backend)}
    return {
        "module": fn.source,
        "import_s": round(imported["import_s"], 3),
        "module_body_s": round(imported["module_body_s"], 3),
        # CPU time: on a busy machine the wall times include waiting for a core
        "module_body_cpu_s": round(imported["module_body_cpu_s"], 3),
        "import_cpu_s": round(imported["import_s"] * min(1.0, imported["module_body_cpu_s"] / imported["module_body_s"]), 3),
        "framework_s": round(imported["framework_s"], 3),
        "cold_start_s": None if cold["cold_start_s"] is None else round(cold["cold_start_s"], 3),
        "listening_s": None if cold["listening_s"] is None else round(cold["listening_s"], 3),
        "first_status": cold["status"],
        "modules_imported": imported["modules"],
        "loads_model": loads_model,
        "heavy_imports": heavy,
        "heavy_import_chains": imported["heavy_chains"],
        "unexpected_heavy_imports": unexpected,
        "top_imports": imported["top_imports"],
        "top_direct_imports": imported["top_direct_imports"],
        "import_target_met": imported["import_s"] < IMPORT_TARGET_S or loads_model,
    }


def measure(stack, names: list[str] | None = None, jobs: int = 1, cold_start_for: set[str] | None = None) -> dict:
    """Measures every function of `stack.spec` (or `names`) against an already started LocalStack,
    which it leaves as it found it; every process it starts is ended before it returns. `jobs` > 1
    measures that many functions at once (quicker, for tests; the timings then include waiting
    for a core). `cold_start_for`: the functions whose cold start is timed too (None: all)."""
    backend = getattr(stack, "inference", "local")
    selected = [(n, fn) for n, fn in stack.spec.functions.items() if names is None or n in names]
    load_before = _load_average()
    with tempfile.TemporaryDirectory(prefix="cf-cold-start-") as tmp:
        run = lambda item: measure_function(stack, item[0], item[1], Path(tmp), backend,  # noqa: E731
                                            cold_start_for is None or item[0] in cold_start_for)
        if jobs > 1:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                measured = list(pool.map(run, selected))
        else:
            measured = [run(item) for item in selected]
    functions = {name: m for (name, _), m in zip(selected, measured)}
    result = {
        "inference_backend": backend,
        "import_target_s": IMPORT_TARGET_S,
        "cpus": os.cpu_count(),
        "jobs": jobs,
        "load_average_1m": {"before": load_before, "after": _load_average()},
        "all_import_targets_met": all(f["import_target_met"] for f in functions.values()),
        "unexpected_heavy_imports": {n: f["unexpected_heavy_imports"] for n, f in functions.items()
                                     if f["unexpected_heavy_imports"]},
        "functions": functions,
    }
    result["markdown"] = markdown(result)
    return result


def _load_average() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def markdown(result: dict) -> str:
    lines = [
        f"Cold start per function (inference backend {result['inference_backend']}; import target "
        f"< {result['import_target_s']} s unless a model loads; {result['cpus']} CPUs, load average "
        f"{result['load_average_1m']['before']} before, {result['load_average_1m']['after']} after)",
        "",
        "| function | import (s) | import CPU (s) | of it functions_framework (s) | module body (s) | module body CPU (s) "
        "| cold start to first answer (s) | model loads | target met | heavy imports | costliest packages (self s) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---|---|",
    ]
    for name, f in result["functions"].items():
        heavy = ", ".join(f"**{h}**" if h in f["unexpected_heavy_imports"] else h for h in f["heavy_imports"]) or "-"
        costly = ", ".join(f"{p['package']} {p['self_s']:.2f}" for p in f["top_imports"][:3])
        lines.append(f"| {name} | {f['import_s']:.2f} | {f['import_cpu_s']:.2f} | {f['framework_s']:.2f} | "
                     f"{f['module_body_s']:.2f} | {f['module_body_cpu_s']:.2f} | "
                     f"{'-' if f['cold_start_s'] is None else format(f['cold_start_s'], '.2f')} | "
                     f"{'yes' if f['loads_model'] else 'no'} | "
                     f"{'yes' if f['import_target_met'] else 'NO'} | {heavy} | {costly} |")
    if result["unexpected_heavy_imports"]:
        lines += ["", "Heavy libraries imported where they are not needed (**bold** above), with the import chain:"]
        for name, chains in result["unexpected_heavy_imports"].items():
            for lib, chain in chains.items():
                lines.append(f"- {name}: {lib}: {' -> '.join(chain)}")
    return "\n".join(lines)


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--functions", nargs="*", help="only these functions (default: all of the spec)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cf-cold-start-stack-") as tmp:
        with LocalStack(Path(tmp) / "stack", with_scheduler=False) as stack:
            result = measure(stack, args.functions or None)
    report("cold-start", result)
    print()
    print(result["markdown"])
    return result


if __name__ == "__main__":
    main()
