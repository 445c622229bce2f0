"""Extraction benchmark.

    scripts/bench extraction            # about three minutes on 2 cores
    scripts/bench extraction --quick    # smaller inputs, for a smoke run

Reports, on one core (the process and its worker are pinned to CPU 0):
- throughput per type through extract_document, sandbox included: MB/s, pages/s, documents/s;
- the chosen library next to alternatives on the same inputs, in-process: PDF (pypdfium2 vs
  pypdf vs pdfminer.six), HTML (trafilatura vs jusText), DOCX (lxml walker vs python-docx), with
  a quality score (known phrases found, boilerplate kept);
- language detectors (py3langid vs lingua vs langdetect): load time, speed, accuracy, memory;
- the worker's start cost, and peak memory (function process + worker) for the corpus and for a
  212 MB input refused and a 99 MB input processed.
Prints tables and writes bench/results/extraction-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(HERE))

import extraction_inputs as inputs  # noqa: E402

from contentflow.errors import UnreadableDocument  # noqa: E402
from contentflow.extraction import ExtractionLimits, extract_document  # noqa: E402
from contentflow.extraction.sandbox import SANDBOX  # noqa: E402

LIMITS = ExtractionLimits()


def peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) / 1024


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")


def normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def quality(text: str, item: inputs.Input) -> tuple[float, int]:
    text = normalised(text)
    found = sum(p in text for p in item.phrases) / max(len(item.phrases), 1)
    leaked = sum(b.lower() in text.lower() for b in item.absent)
    return found, leaked


def repeat(fn, seconds: float, at_least: int = 1) -> tuple[float, int]:
    """Mean seconds per call over at least `seconds` (and `at_least` calls)."""
    runs, started = 0, time.perf_counter()
    while runs < at_least or time.perf_counter() - started < seconds:
        fn()
        runs += 1
    return (time.perf_counter() - started) / runs, runs


def table(title: str, headers: list[str], rows: list[list]) -> None:
    cells = [[str(h) for h in headers]] + [[f"{c:.1f}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    print(f"\n{title}")
    for i, row in enumerate(cells):
        print("  " + "  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))


# --- through extract_document -------------------------------------------------------------


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def throughput(groups: dict[str, list[inputs.Input]], seconds: float) -> list[dict]:
    rows = []
    for label, items in groups.items():
        progress(f"throughput: {label}")
        SANDBOX.warm_up()
        first = items[0]
        extract_document(first.data, filename=first.name, declared_content_type=None, limits=LIMITS)  # imports

        results = {}

        def run_all():
            for item in items:
                results[item.name] = extract_document(item.data, filename=item.name,
                                                      declared_content_type=None, limits=LIMITS)

        per_round, rounds = repeat(run_all, seconds)
        size = sum(len(i.data) for i in items)
        pages = sum(r.page_count or 1 for r in results.values())
        found = statistics.mean(quality(results[i.name].text, i)[0] for i in items if i.phrases) \
            if any(i.phrases for i in items) else None
        rows.append({
            "type": label, "extractor": sorted({r.extractor for r in results.values()}),
            "documents": len(items), "mb": size / 1e6, "pages": pages, "rounds": rounds,
            "mb_per_s": size / 1e6 / per_round, "pages_per_s": pages / per_round,
            "documents_per_s": len(items) / per_round, "phrases_found": found,
            "worker_peak_rss_mib": SANDBOX.last_worker_memory.get("peak_rss_mib"),
            "ocr_peak_rss_mib": SANDBOX.last_worker_memory.get("children_peak_rss_mib"),
        })
    return rows


def start_cost(runs: int = 7) -> dict:
    from contentflow.extraction.language import detect_language

    loaded = time.perf_counter()
    detect_language("The language model loads once per function instance, on first use.")
    language_load_ms = (time.perf_counter() - loaded) * 1000
    times = []
    for _ in range(runs):
        SANDBOX.close()
        started = time.perf_counter()
        SANDBOX.warm_up()
        times.append(time.perf_counter() - started)
    # First document of a type in a fresh worker: the parser library's import is paid there.
    cold = {}
    for name, item in [("text", inputs.big_text(0.01)), ("pdf", inputs.report_pdf(1)),
                       ("html", inputs.html_page(0, 5, 5)), ("docx", inputs.long_docx(1)),
                       ("image", inputs.sample("documents/whiteboard-photo.png"))]:
        SANDBOX.close()
        SANDBOX.warm_up()
        first = time.perf_counter()
        extract_document(item.data, filename=item.name, declared_content_type=None, limits=LIMITS)
        first = time.perf_counter() - first
        second = time.perf_counter()
        extract_document(item.data, filename=item.name, declared_content_type=None, limits=LIMITS)
        second = time.perf_counter() - second
        cold[name] = {"first_ms": first * 1000, "warm_ms": second * 1000}
    return {"language_model_load_ms": language_load_ms,
            "worker_start_ms_median": statistics.median(times) * 1000,
            "worker_start_ms_max": max(times) * 1000, "first_document_by_type": cold}


# --- alternatives, in-process ---------------------------------------------------------------


def pdf_alternatives(item: inputs.Input, seconds: float) -> list[dict]:
    def pypdfium2_text(data):
        import pypdfium2 as pdfium

        doc = pdfium.PdfDocument(data)
        try:
            return "\n".join(page.get_textpage().get_text_bounded() for page in doc)
        finally:
            doc.close()

    def pypdf_text(data):
        import pypdf

        return "\n".join(page.extract_text() or "" for page in pypdf.PdfReader(io_bytes(data)).pages)

    def pdfminer_text(data):
        from pdfminer.high_level import extract_text

        return extract_text(io_bytes(data))

    return _compare(item, seconds, [
        ("pypdfium2 5.15.2 (chosen)", "Apache-2.0/BSD-3", pypdfium2_text),
        ("pypdf 7.1.0", "BSD-3", pypdf_text),
        ("pdfminer.six 20260107", "MIT", pdfminer_text),
    ])


def html_alternatives(items: list[inputs.Input], seconds: float) -> list[dict]:
    def trafilatura_text(data):
        import trafilatura

        found = trafilatura.bare_extraction(data.decode(), with_metadata=True, include_comments=False)
        return found.text if found else ""

    def justext_text(data):
        import justext

        paragraphs = justext.justext(data, justext.get_stoplist("English"))
        return "\n\n".join(p.text for p in paragraphs if not p.is_boilerplate)

    return _compare_many(items, seconds, [
        ("trafilatura 2.3.1 (chosen)", "Apache-2.0", trafilatura_text),
        ("jusText 3.0.2", "BSD-2", justext_text),
    ])


def docx_alternatives(item: inputs.Input, seconds: float) -> list[dict]:
    from types import SimpleNamespace

    from contentflow.extraction import docx as walker

    limits = SimpleNamespace(**LIMITS.model_dump())

    def lxml_walker(data):
        return walker.parse(data, limits=limits, deadline=time.monotonic() + 60).text

    def python_docx(data):
        import docx

        document = docx.Document(io_bytes(data))
        parts = []
        for block in document.iter_inner_content():
            if hasattr(block, "rows"):
                parts += [" | ".join(c.text for c in row.cells) for row in block.rows]
            else:
                parts.append(block.text)
        return "\n\n".join(parts)

    return _compare(item, seconds, [
        ("lxml iterparse walker (chosen)", "BSD-3", lxml_walker),
        ("python-docx 1.2.0", "MIT", python_docx),
    ])


def io_bytes(data: bytes):
    import io

    return io.BytesIO(data)


def _compare(item: inputs.Input, seconds: float, candidates) -> list[dict]:
    return _compare_many([item], seconds, candidates)


def _compare_many(items: list[inputs.Input], seconds: float, candidates) -> list[dict]:
    rows = []
    for name, licence, fn in candidates:
        progress(f"alternatives: {name}")
        fn(items[0].data)  # import and warm up
        texts = {}

        def run_all():
            for item in items:
                texts[item.name] = fn(item.data)

        per_round, _ = repeat(run_all, seconds)
        scores = [quality(texts[i.name], i) for i in items]
        pages = sum(i.pages for i in items)
        rows.append({"library": name, "licence": licence, "pages_per_s": pages / per_round,
                     "mb_per_s": sum(len(i.data) for i in items) / 1e6 / per_round,
                     "phrases_found": statistics.mean(s[0] for s in scores),
                     "boilerplate_kept": sum(s[1] for s in scores)})
    return rows


LANGUAGE_SCRIPT = r"""
import json, sys, time
SAMPLES = json.loads(sys.argv[2])
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20
before = rss(); t = time.perf_counter()
which = sys.argv[1]
if which == "py3langid":
    from py3langid.langid import LanguageIdentifier, MODEL_FILE
    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    detect = lambda s: ident.classify(s)[0]
elif which == "lingua":
    from lingua import LanguageDetectorBuilder
    d = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()
    detect = lambda s: (lambda l: l.iso_code_639_1.name.lower() if l else None)(d.detect_language_of(s))
else:
    from langdetect import DetectorFactory, detect as ld
    DetectorFactory.seed = 0
    detect = ld
detect("warm up the model with one sentence")
load = time.perf_counter() - t
ok = n = 0; t = time.perf_counter()
for _ in range(10):
    for lang, sentences in SAMPLES.items():
        for s in sentences:
            n += 1; ok += detect(s) == lang
print(json.dumps({"load_ms": load * 1000, "ms_per_text": (time.perf_counter() - t) / n * 1000,
                  "accuracy": ok / n, "rss_mib": rss() - before}))
"""
LANGUAGE_SAMPLES = {
    "en": ["The committee agreed to install a second rainwater tank before the summer.", "Please keep berth seven clear."],
    "de": ["Die Baukosten lagen leicht über der Planung, weil die Stahlpreise gestiegen sind.", "Wir treffen uns morgen früh."],
    "fr": ["La création d'un jardin partagé derrière l'école a été approuvée.", "Prochaine réunion jeudi soir."],
    "es": ["Los vecinos podrán aparcar gratis durante los fines de semana.", "Nos vemos mañana en la estación."],
    "it": ["I lavori inizieranno in primavera e dureranno circa diciotto mesi.", "Ci vediamo domani alla stazione."],
    "nl": ["De werkzaamheden beginnen in het voorjaar en duren anderhalf jaar.", "Tot morgen op het station."],
    "pt": ["As obras começam na primavera e devem durar cerca de dezoito meses.", "Até amanhã na estação."],
    "sv": ["Arbetet börjar i vår och beräknas pågå i ungefär arton månader.", "Vi ses imorgon på stationen."],
    "pl": ["Prace rozpoczną się wiosną i potrwają około osiemnastu miesięcy.", "Do zobaczenia jutro na dworcu."],
}


def languages() -> list[dict]:
    rows = []
    sizes = {"py3langid": ["py3langid", "numpy", "numpy.libs"], "lingua": ["lingua"], "langdetect": ["langdetect"]}
    site = Path(__import__("numpy").__file__).parents[1]
    for which in ("py3langid", "lingua", "langdetect"):
        out = subprocess.run([sys.executable, "-c", LANGUAGE_SCRIPT, which, json.dumps(LANGUAGE_SAMPLES)],
                             capture_output=True, text=True, check=True)
        row = {"detector": which, **json.loads(out.stdout)}
        row["installed_mib"] = sum(f.stat().st_size for d in sizes[which] for f in (site / d).rglob("*")
                                   if f.is_file()) / 2**20
        rows.append(row)
    return rows


# --- memory with a 100 MB input -------------------------------------------------------------


BIG_INPUTS = {
    "212 MB text (refused)": lambda: inputs.big_text(212),
    "99 MB text (processed, cut at max_text_chars)": lambda: inputs.big_text(99),
    "99 MB CSV (processed, cut at max_text_chars)": lambda: inputs.big_csv(99),
}


def big_input(label: str) -> dict:
    """In a fresh process (run by big_inputs): what one function instance needs for it."""
    from contentflow.extraction.language import detect_language

    detect_language("Load the language model first, as a warm instance has it.")
    SANDBOX.warm_up()
    baseline = peak_rss_mib()
    item = BIG_INPUTS[label]()
    reset_peak()
    sampler = TotalRss(SANDBOX.worker_pid())
    started = time.perf_counter()
    try:
        result = extract_document(item.data, filename=item.name, declared_content_type=None, limits=LIMITS)
        outcome = f"ok: {result.char_count:,} chars, {len(result.chunks):,} chunks"
        worker = SANDBOX.last_worker_memory
    except UnreadableDocument as err:
        outcome, worker = err.reason, {}
    seconds = time.perf_counter() - started
    return {"input": label, "outcome": outcome, "seconds": seconds,
            "function_baseline_mib": baseline, "input_mib": len(item.data) / 2**20,
            "function_peak_mib": peak_rss_mib(), "worker_peak_mib": worker.get("peak_rss_mib", 0.0),
            "worker_after_mib": worker.get("rss_mib", 0.0), "total_peak_mib": sampler.stop()}


class TotalRss:
    """Samples function process + worker RSS every 2 ms: the peak they reach together."""

    def __init__(self, worker_pid: int):
        import threading

        self.pids = [os.getpid(), worker_pid]
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _rss(self, pid: int) -> float:
        try:
            with open(f"/proc/{pid}/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, IndexError):
            return 0.0

    def sample(self) -> None:
        self.peak = max(self.peak, sum(self._rss(pid) for pid in self.pids))

    def _run(self) -> None:
        self.sample()
        while not self._stop.wait(0.002):
            self.sample()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.sample()
        return self.peak


def big_inputs() -> list[dict]:
    rows = []
    for label in BIG_INPUTS:
        progress(f"big input: {label}")
        out = subprocess.run([sys.executable, __file__, "--big-input", label], capture_output=True,
                             text=True, check=True)
        rows.append(json.loads(out.stdout))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, short runs")
    parser.add_argument("--seconds", type=float, default=None, help="minimum time per measurement")
    parser.add_argument("--big-input", help=argparse.SUPPRESS)  # internal: one case, fresh process
    args = parser.parse_args()
    if args.big_input:
        print(json.dumps(big_input(args.big_input)))
        SANDBOX.close()
        return 0
    seconds = args.seconds or (0.5 if args.quick else 2.0)
    scale = 0.2 if args.quick else 1.0
    os.sched_setaffinity(0, {0})  # one core; the worker inherits it

    report_pdf = inputs.report_pdf(int(200 * scale) or 10)
    html = inputs.html_pages(int(30 * scale) or 5)
    handbook = inputs.long_docx(int(60 * scale) or 5)
    groups = {
        "PDF, text layer": [report_pdf],
        "PDF, scanned (OCR)": [inputs.scanned_pdf(2)],
        "HTML": html,
        "DOCX": [handbook],
        "text": [inputs.big_text(5 * scale)],
        "Markdown": [inputs.sample("documents/tidewater-release-notes.md"),
                     inputs.sample("documents/tidewater-api-guide.md")],
        "CSV": [inputs.big_csv(5 * scale)],
        "JSON": [inputs.big_json(2 * scale)],
        "PNG, A4 scan (OCR)": [inputs.full_page_scan("PNG")],
        "JPEG, A4 scan (OCR)": [inputs.full_page_scan("JPEG")],
        "TIFF G4, A4 scan (OCR)": [inputs.full_page_scan("TIFF")],
    }
    results: dict = {"machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                                 "cores_used": 1}, "quick": args.quick}

    progress("worker start cost")
    results["start"] = start_cost()
    results["throughput"] = throughput(groups, seconds)
    results["alternatives"] = {"pdf": pdf_alternatives(report_pdf, seconds),
                               "html": html_alternatives(html, seconds),
                               "docx": docx_alternatives(handbook, seconds)}
    progress("language detectors")
    results["language"] = languages()
    results["big_inputs"] = big_inputs()
    SANDBOX.close()

    start = results["start"]
    print(f"worker start: median {start['worker_start_ms_median']:.0f} ms, max {start['worker_start_ms_max']:.0f} ms; "
          f"language model load (once per function instance): {start['language_model_load_ms']:.0f} ms")
    table("first document of a type in a fresh worker (library import) vs. warm", ["type", "first ms", "warm ms"],
          [[k, v["first_ms"], v["warm_ms"]] for k, v in start["first_document_by_type"].items()])
    table("throughput through extract_document (sandbox, language, chunks included), one core",
          ["type", "extractor", "docs", "MB", "pages", "MB/s", "pages/s", "docs/s", "found", "worker peak so far MiB"],
          [[r["type"], "+".join(r["extractor"]), r["documents"], r["mb"], r["pages"], r["mb_per_s"],
            r["pages_per_s"], r["documents_per_s"], "-" if r["phrases_found"] is None else f"{r['phrases_found']:.0%}",
            r["worker_peak_rss_mib"]] for r in results["throughput"]])
    for kind, rows in results["alternatives"].items():
        table(f"{kind.upper()}: chosen library vs alternatives (in-process, same inputs)",
              ["library", "licence", "pages/s", "MB/s", "phrases found", "boilerplate kept"],
              [[r["library"], r["licence"], r["pages_per_s"], r["mb_per_s"], f"{r['phrases_found']:.0%}",
                r["boilerplate_kept"]] for r in rows])
    table("language detectors (9 languages, 18 sentences x10)",
          ["detector", "load ms", "ms/text", "accuracy", "RSS MiB", "installed MiB"],
          [[r["detector"], r["load_ms"], f"{r['ms_per_text']:.2f}", f"{r['accuracy']:.0%}", r["rss_mib"],
            r["installed_mib"]] for r in results["language"]])
    table("100 MB inputs, each in a fresh function process (MiB; together = function + worker, sampled every 2 ms)",
          ["input", "outcome", "s", "input", "function base", "function peak", "worker peak", "worker after",
           "together peak"],
          [[r["input"], r["outcome"], r["seconds"], r["input_mib"], r["function_baseline_mib"], r["function_peak_mib"],
            r["worker_peak_mib"], r["worker_after_mib"], r["total_peak_mib"]] for r in results["big_inputs"]])

    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"extraction-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
