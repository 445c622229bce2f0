"""PDF text recovery against pdftotext: for each PDF of samples/pdf_eval/ (real PDFs with text
layers, see its FILES.md), the share of pdftotext's characters the pipeline recovers.

    scripts/bench pdf_quality [--dir DIR]     # about 10 s

Characters are compared as bags (multisets), so reading order and line breaks do not count:
both texts are NFKC-normalised (a ligature "ﬁ" is "f" + "i" in either) and whitespace is
dropped; recovered = sum over characters of min(ours, pdftotext's) / pdftotext's total, and
extra = the characters of ours pdftotext does not have, over the same total. The pipeline's text
is what `extract_document` returns (the sandboxed worker, OCR included), with its warnings: a
file recovered below half must carry a warning on its record (`flag` says when one does not).
Prints a Markdown table and writes bench/results/pdf-quality-<time>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import unicodedata
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "lib"))

EVAL_DIR = ROOT / "samples" / "pdf_eval" / "files"
WARN_BELOW = 0.5  # recovered share under which the record must say something went wrong


def character_bag(text: str) -> Counter:
    return Counter(c for c in unicodedata.normalize("NFKC", text) if not c.isspace())


def recovery(ours: str, reference: str) -> dict:
    """Bag overlap of `ours` against `reference`: recovered and extra shares of the reference's
    non-whitespace characters (None when the reference has none)."""
    mine, theirs = character_bag(ours), character_bag(reference)
    total = sum(theirs.values())
    common = sum((mine & theirs).values())
    return {"reference_chars": total, "our_chars": sum(mine.values()),
            "recovered": common / total if total else None,
            "extra": (sum(mine.values()) - common) / total if total else None}


def pdftotext(path: Path) -> str:
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"pdftotext failed on {path.name}: {out.stderr.decode(errors='replace')[:200]}")
    return out.stdout.decode("utf-8", "replace")


def poppler_version() -> str:
    out = subprocess.run(["pdftotext", "-v"], capture_output=True, text=True)
    return (out.stderr or out.stdout).splitlines()[0].strip()


def evaluate(paths: list[Path]) -> list[dict]:
    from contentflow.errors import UnreadableDocument
    from contentflow.extraction import ExtractionLimits, extract_document

    limits = ExtractionLimits()
    rows = []
    for path in paths:
        data = path.read_bytes()
        reference = pdftotext(path)
        started = time.perf_counter()
        try:
            result = extract_document(data, filename=path.name, declared_content_type="application/pdf",
                                      limits=limits)
            text, warnings, failure = result.text, result.warnings, None
            extractor, pages = result.extractor, result.page_count
        except UnreadableDocument as err:
            text, warnings, failure, extractor, pages = "", [], err.reason, None, None
        row = {"file": path.name, "bytes": len(data), "pages": pages, "extractor": extractor,
               **recovery(text, reference), "warnings": warnings, "failure": failure,
               "seconds": time.perf_counter() - started}
        low = row["recovered"] is not None and row["recovered"] < WARN_BELOW
        # A failed document's reason is on its record too; a low one that was read says nothing.
        row["flag"] = "below half without a warning" if low and not warnings and not failure else None
        rows.append(row)
    return rows


def markdown(rows: list[dict], version: str) -> str:
    lines = [f"Characters recovered against `pdftotext` ({version}), whitespace dropped, NFKC", "",
             "| file | pages | pdftotext chars | ours | recovered | extra | extractor | warnings / failure | flag |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |"]
    for r in rows:
        said = "; ".join(r["warnings"]) or r["failure"] or ""
        lines.append(f"| {r['file']} | {r['pages'] or ''} | {r['reference_chars']} | {r['our_chars']} | "
                     f"{r['recovered']:.1%} | {r['extra']:.1%} | {r['extractor'] or '-'} | {said[:120]} | "
                     f"{r['flag'] or ''} |")
    reference = sum(r["reference_chars"] for r in rows)
    recovered = sum(r["recovered"] * r["reference_chars"] for r in rows)
    lines.append(f"| **all {len(rows)} files** | | {reference} | {sum(r['our_chars'] for r in rows)} | "
                 f"{recovered / reference:.1%} | | | | {sum(bool(r['flag']) for r in rows)} flagged |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=EVAL_DIR, help="folder of PDFs (default samples/pdf_eval/files)")
    args = parser.parse_args()
    if shutil.which("pdftotext") is None:
        print("pdftotext not found: install poppler-utils (scripts/apt-packages.txt)", file=sys.stderr)
        return 2
    paths = sorted(args.dir.glob("*.pdf"))
    rows = evaluate(paths)
    from contentflow.extraction.sandbox import SANDBOX

    SANDBOX.close()
    version = poppler_version()
    table = markdown(rows, version)
    print(table)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stem = out_dir / f"pdf-quality-{time.strftime('%Y%m%d-%H%M%S')}"
    stem.with_suffix(".json").write_text(json.dumps({"pdftotext": version, "files": rows}, indent=2,
                                                    ensure_ascii=False))
    stem.with_suffix(".md").write_text(table)
    print(f"written {stem.relative_to(ROOT)}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
