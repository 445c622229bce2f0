"""Rebuilds samples/pdf_eval/ from py-pdf's sample-files repository (every PDF there is
CC-BY-SA-4.0) at a pinned commit: the PDFs with a text layer, byte for byte.

    python samples/pdf_eval/vendor.py /path/to/sample-files.git [--commit SHA]

A PDF is taken when `pdftotext` (poppler-utils) finds at least 10 characters other than
whitespace in it (scanned-only and password-protected files have nothing to compare against).
Writes files/<name>.pdf and FILES.md (source path and producer of each).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PINNED_COMMIT = "6921079eb3e1ed0944db5ec75016910d59da7fdb"
MIN_REFERENCE_CHARS = 10


def git(gitdir: str, *args: str) -> bytes:
    return subprocess.run(["git", "-C", gitdir, *args], capture_output=True, check=True).stdout


def reference_chars(data: bytes) -> int:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as pdf:
        pdf.write(data)
        pdf.flush()
        out = subprocess.run(["pdftotext", "-enc", "UTF-8", pdf.name, "-"], capture_output=True)
    return sum(not c.isspace() for c in out.stdout.decode("utf-8", "replace")) if out.returncode == 0 else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gitdir", help="a clone (or bare git directory) of py-pdf/sample-files")
    parser.add_argument("--commit", default=PINNED_COMMIT)
    args = parser.parse_args()

    catalogue = {entry["path"]: entry for entry in json.loads(git(args.gitdir, "show", f"{args.commit}:files.json"))["data"]}
    files_dir = HERE / "files"
    files_dir.mkdir(exist_ok=True)
    lines = ["# PDFs and where they come from", "",
             f"From py-pdf/sample-files at commit `{args.commit}`, unmodified. Every PDF of that",
             "repository is under the Creative Commons Attribution-ShareAlike 4.0 licence (its README;",
             "LICENSE-CC-BY-SA-4.0 here).", "",
             "| file | source path | producer | pages |", "| --- | --- | --- | --- |"]
    chosen = 0
    for path in sorted(catalogue):
        try:
            data = git(args.gitdir, "show", f"{args.commit}:{path}")
        except subprocess.CalledProcessError:
            continue  # listed but not stored (a large file left out of the snapshot)
        if catalogue[path].get("encrypted") or reference_chars(data) < MIN_REFERENCE_CHARS:
            continue
        name = Path(path).name
        (files_dir / name).write_bytes(data)
        entry = catalogue[path]
        lines.append(f"| `{name}` | `{path}` | {entry.get('producer', '?')} | {entry.get('pages', '?')} |")
        chosen += 1
    (HERE / "FILES.md").write_text("\n".join(lines) + "\n")
    (HERE / "LICENSE-CC-BY-SA-4.0").write_bytes(git(args.gitdir, "show", f"{args.commit}:LICENSE"))
    print(f"{chosen} PDFs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
