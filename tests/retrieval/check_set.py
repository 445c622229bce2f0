"""Validates the labelled retrieval set (tests/retrieval/queries.yaml). A plain script, not a test.

    PYTHONPATH=lib:. .venv/bin/python tests/retrieval/check_set.py            # errors exit 1
    PYTHONPATH=lib:. .venv/bin/python tests/retrieval/check_set.py --strict   # warnings exit 1 too

Errors: a `relevant` or `also_relevant` file that does not exist (in samples/documents/ or
samples/retrieval/), a file name present in both folders, a missing or empty field, unknown keys,
a duplicate query, fewer than 45 queries or fewer than 15 on samples/documents/.

Warnings: a query that shares a run of 4+ consecutive words with the text of a file it is labelled
with (a sign of copying rather than paraphrasing); a document of samples/retrieval/ outside 250-900
words or with no query. Document text comes from contentflow's own extractor (so PDFs, DOCX and
images are read as the pipeline reads them, images by OCR: a few seconds); if the extractor cannot
be imported, only text files are compared and the others are listed as unchecked.

This script checks the set's form only. It never runs a search: the labels must stay independent
of the system they measure.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"documents": ROOT / "samples" / "documents", "retrieval": ROOT / "samples" / "retrieval"}
QUERIES = Path(__file__).resolve().parent / "queries.yaml"
SKIP = {"README.md"}  # describes the set; not part of it
MIN_QUERIES, MIN_ON_DOCUMENTS = 45, 15
WORDS_MIN, WORDS_MAX = 250, 900
RUN = 4  # consecutive words that count as copying
TEXT_SUFFIXES = {".txt", ".md", ".csv", ".json", ".html"}


def words(text: str) -> list[str]:
    """Lower-case word tokens; punctuation, hyphens and apostrophes separate words."""
    return re.findall(r"[^\W_]+", text.lower())


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def shared_runs(query: str, doc_grams: set[tuple[str, ...]]) -> list[str]:
    """The maximal runs of >= RUN consecutive query words that also occur in the document."""
    tokens = words(query)
    hit = [tuple(tokens[i:i + RUN]) in doc_grams for i in range(len(tokens) - RUN + 1)]
    runs, i = [], 0
    while i < len(hit):
        if hit[i]:
            j = i
            while j + 1 < len(hit) and hit[j + 1]:
                j += 1
            runs.append(" ".join(tokens[i:j + RUN]))
            i = j + 1
        else:
            i += 1
    return runs


def make_reader():
    """A function path -> text or None, using the pipeline's extractor when it can be imported."""
    sys.path[:0] = [str(ROOT / "lib"), str(ROOT)]
    try:
        from contentflow.extraction import extract_document
        from contentflow.extraction.limits import ExtractionLimits
    except Exception as error:  # noqa: BLE001 - any import problem means: fall back
        print(f"note: contentflow extractor not importable ({error}); comparing text files only")

        def read_plain(path: Path) -> str | None:
            if path.suffix.lower() not in TEXT_SUFFIXES:
                return None
            data = path.read_bytes()
            for encoding in ("utf-8-sig", "utf-16", "cp1252"):
                try:
                    return data.decode(encoding)
                except UnicodeDecodeError:
                    continue
            return None
        return read_plain

    limits = ExtractionLimits()

    def read_extracted(path: Path) -> str | None:
        try:
            return extract_document(path.read_bytes(), filename=path.name,
                                    declared_content_type=None, limits=limits).text
        except Exception as error:  # noqa: BLE001 - report, do not stop the whole check
            print(f"note: could not extract {path.name}: {error}")
            return None
    return read_extracted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 on warnings as well")
    parser.add_argument("--queries", type=Path, default=QUERIES)
    args = parser.parse_args()

    errors: list[str] = []
    warnings: list[str] = []

    # The files a label may name, by file name, and which folder holds each.
    folder_of: dict[str, str] = {}
    path_of: dict[str, Path] = {}
    for folder, directory in FOLDERS.items():
        for path in sorted(directory.iterdir()) if directory.is_dir() else []:
            if not path.is_file() or path.name.startswith(".") or path.name in SKIP:
                continue
            if path.name in folder_of:
                errors.append(f"{path.name} is in both samples/{folder_of[path.name]}/ and samples/{folder}/")
            folder_of[path.name], path_of[path.name] = folder, path

    data = yaml.safe_load(args.queries.read_text(encoding="utf-8"))
    entries = data.get("queries") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        print(f"ERROR: {args.queries} has no list under `queries`")
        return 1

    seen: dict[str, int] = {}
    per_folder: Counter[str] = Counter()
    per_document: Counter[str] = Counter()
    labelled: list[tuple[int, str, list[str]]] = []  # (number, query, files to compare with)
    for number, entry in enumerate(entries, 1):
        where = f"query {number}"
        if not isinstance(entry, dict):
            errors.append(f"{where}: not a mapping")
            continue
        unknown = set(entry) - {"query", "relevant", "also_relevant"}
        if unknown:
            errors.append(f"{where}: unknown keys {sorted(unknown)}")
        query, relevant = entry.get("query"), entry.get("relevant")
        also = entry.get("also_relevant") or []
        if isinstance(also, str):
            also = [also]
        if not isinstance(query, str) or not query.strip():
            errors.append(f"{where}: missing or empty `query`")
            continue
        where = f"query {number} ({query!r})"
        key = " ".join(words(query))
        if key in seen:
            errors.append(f"{where}: duplicate of query {seen[key]}")
        seen.setdefault(key, number)
        if not isinstance(relevant, str) or not relevant.strip():
            errors.append(f"{where}: missing `relevant`")
            continue
        if not isinstance(also, list) or not all(isinstance(a, str) for a in also):
            errors.append(f"{where}: `also_relevant` must be a list of file names")
            also = []
        for name in [relevant, *also]:
            if name not in folder_of:
                errors.append(f"{where}: no file {name!r} in samples/documents/ or samples/retrieval/")
        if relevant in also:
            errors.append(f"{where}: {relevant} is both relevant and also_relevant")
        if len(set(also)) != len(also):
            errors.append(f"{where}: repeated file in also_relevant")
        if relevant in folder_of:
            per_folder[folder_of[relevant]] += 1
            per_document[relevant] += 1
        labelled.append((number, query, [n for n in [relevant, *also] if n in folder_of]))

    total = sum(per_folder.values())
    if len(entries) < MIN_QUERIES:
        errors.append(f"only {len(entries)} queries (at least {MIN_QUERIES})")
    if per_folder["documents"] < MIN_ON_DOCUMENTS:
        errors.append(f"only {per_folder['documents']} queries on samples/documents/ (at least {MIN_ON_DOCUMENTS})")

    # Copying check against the text each labelled file really yields.
    read = make_reader()
    texts: dict[str, str | None] = {}
    unchecked: set[str] = set()
    for number, query, names in labelled:
        for name in names:
            if name not in texts:
                texts[name] = read(path_of[name])
            text = texts[name]
            if text is None:
                unchecked.add(name)
                continue
            runs = shared_runs(query, ngrams(words(text), RUN))
            if runs:
                warnings.append(f"query {number} ({query!r}) copies from {name}: "
                                + "; ".join(repr(r) for r in runs))

    # The new documents themselves: length, and every one is the answer to some query.
    for name, folder in sorted(folder_of.items()):
        if folder != "retrieval":
            continue
        if name not in texts:
            texts[name] = read(path_of[name])
        if texts[name] is not None:
            count = len(texts[name].split())
            if not WORDS_MIN <= count <= WORDS_MAX:
                warnings.append(f"samples/retrieval/{name}: {count} words (expected {WORDS_MIN}-{WORDS_MAX})")
        if per_document[name] == 0:
            warnings.append(f"samples/retrieval/{name}: no query has it as `relevant`")

    print(f"{len(entries)} queries: {per_folder['documents']} on samples/documents/, "
          f"{per_folder['retrieval']} on samples/retrieval/ ({total} with a known file)")
    for folder in FOLDERS:
        names = sorted(n for n, f in folder_of.items() if f == folder)
        targeted = sum(1 for n in names if per_document[n])
        print(f"  samples/{folder}/: {len(names)} files, {targeted} of them targeted by a query")
        untargeted = [n for n in names if not per_document[n]]
        if untargeted and folder == "documents":
            print(f"    without a query: {', '.join(untargeted)}")
    with_also = sum(1 for _, _, names in labelled if len(names) > 1)
    print(f"  {with_also} queries list also_relevant files")
    if unchecked:
        print(f"  not checked for copying (no text): {', '.join(sorted(unchecked))}")
    for message in warnings:
        print(f"WARNING: {message}")
    for message in errors:
        print(f"ERROR: {message}")
    if not errors and not warnings:
        print("clean")
    return 1 if errors or (args.strict and warnings) else 0


if __name__ == "__main__":
    sys.exit(main())
