"""HTML main-content quality: precision and recall of the pipeline's HTML extraction and of plain
trafilatura on the same labelled pages, in one run.

    scripts/bench html_quality                       # the vendored set, samples/html_eval/ (~1 min)
    scripts/bench html_quality --trafilatura-repo G  # trafilatura's whole evaluation set, read from
                                                     # a clone G of its repository (not vendored:
                                                     # most of its pages carry no licence)

Scored the way trafilatura's own evaluation scores (its tests/eval_common.py): each page has
snippets the main text must contain ("with") and must not contain ("without"); after collapsing
whitespace, a "with" snippet found is a true positive, missed a false negative, a "without"
snippet found a false positive, absent a true negative; an extractor that fails on a page misses
all its "with" snippets. Text and snippets are NFC-normalised for every extractor alike (the
pipeline's text is NFC, trafilatura's is not).

Compared:
- contentflow: `extract_document` (sandboxed worker, html.py), as a document takes it;
- trafilatura.extract with default settings;
- trafilatura.extract with its evaluation settings (no comments, tables), for reference.
Prints a Markdown table and writes bench/results/html-quality-<time>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "lib"))

EVAL_DIR = ROOT / "samples" / "html_eval"


class LabelledPage(BaseModel):
    url: str
    file: str
    must_contain: list[str] = Field(alias="with", min_length=1)
    must_not_contain: list[str] = Field(alias="without", min_length=1)
    license: str | None = None


class Counts(BaseModel):
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(tp=self.tp + other.tp, fp=self.fp + other.fp, fn=self.fn + other.fn,
                      tn=self.tn + other.tn)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp + self.fp + self.fn else 0.0

    @property
    def accuracy(self) -> float:
        total = self.tp + self.fp + self.fn + self.tn
        return (self.tp + self.tn) / total if total else 0.0

    def scores(self) -> dict:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1,
                "accuracy": self.accuracy, **self.model_dump()}


def normalised(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


def score(page: LabelledPage, text: str | None) -> tuple[Counts, list[str], list[str]]:
    """(counts, "with" snippets missed, "without" snippets kept) for one extractor's text of a page;
    None (the extractor failed) misses every "with" snippet and keeps no "without" one."""
    found = normalised(text) if text is not None else None
    missed = [s for s in page.must_contain if found is None or normalised(s) not in found]
    kept = [s for s in page.must_not_contain if found is not None and normalised(s) in found]
    counts = Counts(tp=len(page.must_contain) - len(missed), fn=len(missed),
                    fp=len(kept), tn=len(page.must_not_contain) - len(kept))
    return counts, missed, kept


# --- the labelled set ---------------------------------------------------------------------------


def vendored_set(eval_dir: Path = EVAL_DIR) -> list[tuple[LabelledPage, bytes]]:
    annotations = json.loads((eval_dir / "evaldata.json").read_text())
    return [(LabelledPage(url=url, **item), (eval_dir / "pages" / item["file"]).read_bytes())
            for url, item in annotations.items()]


def repository_set(gitdir: str, commit: str) -> list[tuple[LabelledPage, bytes]]:
    """trafilatura's whole evaluation set at `commit`, read with git from a clone (bare or not)."""
    def git(*args: str) -> bytes:
        return subprocess.run(["git", "-C", gitdir, *args], capture_output=True, check=True).stdout

    annotations = json.loads(git("show", f"{commit}:tests/evaldata.json"))
    listing = git("ls-tree", "-r", "-z", "--name-only", commit, "tests/cache", "tests/eval").decode()
    paths: dict[str, str] = {}
    for path in filter(None, listing.split("\0")):  # tests/cache first: it wins, as in eval_common
        paths.setdefault(path.split("/", 2)[2], path)
    pages = []
    for url in sorted(annotations):
        item = annotations[url]
        if item["file"] in paths:
            pages.append((LabelledPage(url=url, **{k: item[k] for k in ("file", "with", "without")},
                                       license=item.get("license") or None),
                          git("show", f"{commit}:{paths[item['file']]}")))
    return pages


# --- the extractors -----------------------------------------------------------------------------


def contentflow_text() -> Callable[[LabelledPage, bytes], str]:
    from contentflow.extraction import ExtractionLimits, extract_document

    limits = ExtractionLimits()

    def run(page: LabelledPage, data: bytes) -> str:
        return extract_document(data, filename=page.file, declared_content_type="text/html", limits=limits).text

    return run


def trafilatura_text(**settings) -> Callable[[LabelledPage, bytes], str | None]:
    import trafilatura

    def run(page: LabelledPage, data: bytes) -> str | None:
        return trafilatura.extract(data, **settings)

    return run


def extractors() -> dict[str, Callable[[LabelledPage, bytes], str | None]]:
    import trafilatura

    version = trafilatura.__version__
    return {
        "contentflow (extract_document)": contentflow_text(),
        f"trafilatura {version} extract(), defaults": trafilatura_text(),
        f"trafilatura {version} extract(), evaluation settings": trafilatura_text(
            include_comments=False, include_tables=True, include_formatting=False),
    }


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def evaluate(pages: list[tuple[LabelledPage, bytes]],
             candidates: dict[str, Callable[[LabelledPage, bytes], str | None]]) -> dict:
    """Every candidate on every page: totals per candidate and, per page, each one's misses."""
    totals = {name: Counts() for name in candidates}
    seconds = dict.fromkeys(candidates, 0.0)
    failures: dict[str, list[dict]] = {name: [] for name in candidates}
    per_page = []
    for index, (page, data) in enumerate(pages):
        if index % 25 == 0:
            progress(f"page {index + 1} of {len(pages)}")
        row = {"file": page.file, "url": page.url, "license": page.license}
        for name, run in candidates.items():
            started = time.perf_counter()
            try:
                text, error = run(page, data), None
            except Exception as err:  # a failure costs recall, as in trafilatura's evaluation
                text, error = None, getattr(err, "reason", None) or f"{type(err).__name__}: {err}"
                failures[name].append({"file": page.file, "error": error})
            seconds[name] += time.perf_counter() - started
            counts, missed, kept = score(page, text)
            totals[name] += counts
            row[name] = {**counts.model_dump(), "missed": missed, "kept": kept, "error": error}
        per_page.append(row)
    return {
        "pages": len(pages),
        "snippets": {"with": sum(len(p.must_contain) for p, _ in pages),
                     "without": sum(len(p.must_not_contain) for p, _ in pages)},
        "extractors": {name: {**totals[name].scores(), "seconds": seconds[name],
                              "pages_per_s": len(pages) / seconds[name] if seconds[name] else None,
                              "failures": failures[name]}
                       for name in candidates},
        "per_page": per_page,
    }


def markdown(result: dict) -> str:
    lines = [f"{result['pages']} pages, {result['snippets']['with']} must-contain and "
             f"{result['snippets']['without']} must-not-contain snippets ({result['set']})", "",
             "| extractor | precision | recall | F1 | accuracy | tp | fp | fn | tn | failed | pages/s |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in result["extractors"].items():
        lines.append(f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
                     f"{r['accuracy']:.3f} | {r['tp']} | {r['fp']} | {r['fn']} | {r['tn']} | "
                     f"{len(r['failures'])} | {r['pages_per_s']:.1f} |")
    return "\n".join(lines) + "\n"


def differences(result: dict, ours: str, theirs: str) -> list[str]:
    """Pages where ours misses a snippet the other finds, or keeps one the other drops."""
    notes = []
    for row in result["per_page"]:
        lost = sorted(set(row[ours]["missed"]) - set(row[theirs]["missed"]))
        leaked = sorted(set(row[ours]["kept"]) - set(row[theirs]["kept"]))
        if lost or leaked:
            notes.append(f"{row['file']}: missed {lost} kept {leaked}"
                         + (f" ({row[ours]['error']})" if row[ours]["error"] else ""))
    return notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trafilatura-repo", metavar="GITDIR",
                        help="score trafilatura's whole evaluation set from this clone instead of the vendored subset")
    parser.add_argument("--commit", default="HEAD", help="commit of --trafilatura-repo (default HEAD)")
    args = parser.parse_args()

    if args.trafilatura_repo:
        commit = subprocess.run(["git", "-C", args.trafilatura_repo, "rev-parse", args.commit],
                                capture_output=True, text=True, check=True).stdout.strip()
        pages, label = repository_set(args.trafilatura_repo, commit), f"trafilatura's evaluation set at {commit[:12]}"
    else:
        pages, label = vendored_set(), "samples/html_eval/, CC-licensed subset of trafilatura's evaluation set"
    candidates = extractors()
    for run in candidates.values():  # imports and the worker's start, outside the timings
        try:
            run(*pages[0])
        except Exception:
            pass
    result = {"set": label, **evaluate(pages, candidates)}
    from contentflow.extraction.sandbox import SANDBOX

    SANDBOX.close()

    table = markdown(result)
    print(table)
    names = list(candidates)
    for other in names[1:]:
        notes = differences(result, names[0], other)
        print(f"pages where {names[0]} does worse than {other}: {len(notes)}")
        for note in notes:
            print(f"  {note}")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stem = out_dir / f"html-quality-{time.strftime('%Y%m%d-%H%M%S')}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    stem.with_suffix(".md").write_text(table)
    print(f"\nwritten {stem.relative_to(ROOT)}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
