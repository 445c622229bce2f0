"""The demo: a local stack, the sample documents dropped into the inbox bucket (and one posted to
the api), a progress bar until each is finished, a table of what the pipeline made of them (labels
and a one-line summary from the analysis), then a semantic search and its hits.

    scripts/demo [--samples DIR] [--query TEXT] [--keep-running] [--timeout S]
"""

from __future__ import annotations

import argparse
import mimetypes
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from contentflow.documents import document_id_for
from local.stack import REPO, LocalStack, StackError

SAMPLES = REPO / "samples" / "documents"
DEFAULT_QUERY = "overnight rail journeys across Europe"


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def _kind(mime: str | None) -> str:
    """A short name for a MIME type (docx, not application/vnd.openxmlformats-...)."""
    if not mime:
        return ""
    ext = mimetypes.guess_extension(mime)
    return ext.lstrip(".") if ext else mime.split("/")[-1][:12]


def _short(text: str | None, n: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=Path, default=SAMPLES, help="folder whose files are uploaded")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for every document")
    parser.add_argument("--keep-running", action="store_true", help="leave the stack up until Ctrl-C")
    parser.add_argument("--query", default=DEFAULT_QUERY, help="the search the demo runs at the end")
    args = parser.parse_args(argv)
    files = sorted(p for p in args.samples.iterdir() if p.is_file() and not p.name.startswith(".")) if args.samples.is_dir() else []
    if not files:
        print(f"no sample documents in {args.samples}", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    data_dir = Path(tempfile.mkdtemp(prefix="contentflow-demo-"))
    print(f"== contentflow demo: {len(files)} sample documents from {args.samples.relative_to(REPO) if args.samples.is_relative_to(REPO) else args.samples}")
    print(f"== starting the local cloud (data under {data_dir})")
    stack = LocalStack(data_dir, say=print)
    code = 1
    try:
        stack.start()
        print(f"== stack ready in {stack.ready_after_s:.1f} s")
        code = _run(stack, files, args, t_start)
    except StackError as err:
        print(f"error: the local stack did not start: {err}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted")
        code = 130
    finally:
        print("== stopping the local cloud")
        stack.stop()
        print("== stopped; no process left running")
        if code == 0:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"== its data and logs are kept under {data_dir}")
    return code


def _run(stack: LocalStack, files: list[Path], args, t_start: float) -> int:
    os.environ.update(stack.client_env())
    import requests
    from google.cloud import firestore, storage

    bucket = storage.Client(project=stack.project_id).bucket(stack.bucket("inbox"))
    db = firestore.Client(project=stack.project_id)
    names: dict[str, str] = {}  # document id -> what the user dropped
    print(f"== dropping {len(files)} files into gs://{bucket.name}/samples/")
    for path in files:
        blob = bucket.blob(f"samples/{path.name}")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        blob.upload_from_filename(str(path), content_type=content_type, timeout=60)
        names[document_id_for(bucket.name, blob.name, blob.md5_hash, blob.generation)] = path.name
    note = "A note posted to the api.\n\nThe api stores it in the inbox bucket, so it takes the same path as a dropped file."
    response = requests.post(stack.function_url("api") + "documents", json={"text": note, "filename": "posted-note.txt"}, timeout=30)
    response.raise_for_status()
    names[response.json()["id"]] = "posted-note.txt (POST /documents)"
    print(f"== posted one note to {stack.function_url('api')}documents: HTTP {response.status_code}")

    refs = {doc_id: db.collection("documents").document(doc_id) for doc_id in names}
    docs: dict[str, dict] = {}
    deadline = time.monotonic() + args.timeout
    tty = sys.stdout.isatty()
    last_line = ""
    while True:
        for snap in db.get_all(list(refs.values()), timeout=10):
            if snap.exists:
                docs[snap.id] = snap.to_dict()
        finished = [d for d in docs.values() if d["status"] in ("done", "failed")]
        failed = sum(1 for d in finished if d["status"] == "failed")
        moving = {}
        for d in docs.values():
            if d["status"] not in ("done", "failed"):
                moving[d["status"]] = moving.get(d["status"], 0) + 1
        line = (f"{_bar(len(finished), len(names))} {len(finished)}/{len(names)} finished"
                f" ({len(finished) - failed} done, {failed} failed)"
                + ("; " + ", ".join(f"{n} {s}" for s, n in sorted(moving.items())) if moving else ""))
        if tty:
            print(f"\r{line} {time.perf_counter() - t_start:5.1f} s", end="", flush=True)
        elif line != last_line:
            print(line, flush=True)
        last_line = line
        if len(finished) == len(names):
            break
        if time.monotonic() > deadline:
            print(f"\nerror: {len(names) - len(finished)} documents not finished after {args.timeout:.0f} s")
            break
        time.sleep(0.2)
    if tty:
        print()
    _table(names, docs)
    _search(stack, args.query, names)
    elapsed = time.perf_counter() - t_start
    done = sum(1 for d in docs.values() if d["status"] == "done")
    print(f"== {done} of {len(names)} documents done, {len(names) - done} not; "
          f"{elapsed:.1f} s from start-up to this table")
    print(f"== extracted text and chunks: gs://{stack.bucket('processed')}/<document id>/")
    print("== the record of one document, as GET /documents/{id} shows it: "
          f"{stack.function_url('api')}documents/{next(iter(names))}")
    print(f"== status page: {stack.function_url('api')}   API docs: {stack.function_url('api')}docs")
    if args.keep_running:
        print("== the stack stays up; in another shell:  eval \"$(scripts/stack env --data-dir "
              f"{stack.data_dir})\"   Ctrl-C here stops it")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0 if done == len(names) else 1


def _search(stack: LocalStack, query: str, names: dict[str, str]) -> None:
    import requests

    print(f"== semantic search: GET /search?q={query}")
    response = requests.get(stack.function_url("api") + "search", params={"q": query, "limit": 5}, timeout=60)
    if response.status_code != 200:
        print(f"   search failed: HTTP {response.status_code} {response.text[:200]}")
        return
    body = response.json()
    for rank, hit in enumerate(body["results"], 1):
        best = hit["hits"][0]
        page = f" p.{best['page']}" if best.get("page") else ""
        print(f"  {rank}. {hit['score']:.3f}  {_short(names.get(hit['document_id'], hit['title']), 34)}{page}: "
              f"“{_short(best['text'], 90)}”")
    cov = body["coverage"]
    print(f"   ({cov['documents_indexed']} of {cov['documents_done']} done documents searchable under {body['space']})")


def _table(names: dict[str, str], docs: dict[str, dict]) -> None:
    rows = [("document", "status", "type", "words", "lang", "seconds", "labels", "summary (or why it failed)")]
    for doc_id, name in sorted(names.items(), key=lambda kv: kv[1]):
        d = docs.get(doc_id)
        if d is None:
            rows.append((name, "missing", "", "", "", "", "", "never registered"))
            continue
        ex = (d.get("stats") or {}).get("extraction") or {}
        seconds = ""
        if d.get("created_at") and d["status"] in ("done", "failed"):
            seconds = f"{(d['updated_at'] - d['created_at']).total_seconds():.2f}"
        analysis = d.get("analysis") or {}
        result = (d.get("error") or {}).get("reason") if d["status"] == "failed" else (analysis.get("summary") or d.get("preview"))
        rows.append((_short(name, 32), d["status"], _kind(ex.get("mime_type")), str(ex.get("word_count", "")),
                     ex.get("language") or "", seconds, _short(", ".join(d.get("labels") or []), 30), _short(result, 60)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    sys.exit(main())
