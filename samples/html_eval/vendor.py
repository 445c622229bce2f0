"""Rebuilds samples/html_eval/ from trafilatura's evaluation data (its repository's tests/, not its
wheel) at a pinned commit: the pages whose own licence lets anyone redistribute them verbatim.

    python samples/html_eval/vendor.py /path/to/trafilatura.git [--commit SHA]

A page is taken only when its annotation records a Creative Commons licence of the BY, BY-SA or
BY-ND kind (no NonCommercial term) and the page's HTML links to that licence itself; most pages
of the set carry no licence (all rights reserved with their publishers) and are left out.
Writes pages/<file> byte for byte, evaldata.json (url, file, with, without, licence) and
PAGES.md (attribution per page). Deterministic: same commit, same files.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PINNED_COMMIT = "e90b0ef51ab026fdb905fb6c5b3c84dd3d784fd5"
# Licence kinds that allow verbatim redistribution for any purpose (with attribution).
OPEN_KINDS = {"by", "by-sa", "by-nd"}
_CC_LINK = re.compile(rb"creativecommons\.org/licenses/([a-z-]+)")


def licence_kind(recorded: str) -> str | None:
    """'CC BY-SA 3.0 DE' / 'CC-BY-SA' -> 'by-sa'; None when it is not a CC licence."""
    words = re.sub(r"[^a-z]+", " ", recorded.lower()).split()
    if not words or words[0] != "cc":
        return None
    kind = "-".join(w for w in words[1:] if w in {"by", "sa", "nd", "nc"})
    return kind or None


def git(gitdir: str, *args: str) -> bytes:
    return subprocess.run(["git", "-C", gitdir, *args], capture_output=True, check=True).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gitdir", help="a clone (or bare git directory) of trafilatura")
    parser.add_argument("--commit", default=PINNED_COMMIT)
    args = parser.parse_args()

    annotations = json.loads(git(args.gitdir, "show", f"{args.commit}:tests/evaldata.json"))
    listing = git(args.gitdir, "ls-tree", "-r", "-z", "--name-only", args.commit, "tests/eval", "tests/cache")
    paths = {p.split("/", 2)[2]: p for p in listing.decode().split("\0") if p}

    pages_dir = HERE / "pages"
    pages_dir.mkdir(exist_ok=True)
    chosen: dict[str, dict] = {}
    for url in sorted(annotations):
        item = annotations[url]
        recorded = (item.get("license") or "").strip()
        kind = licence_kind(recorded)
        source = paths.get(item["file"])
        if kind not in OPEN_KINDS or source is None:
            continue
        page = git(args.gitdir, "show", f"{args.commit}:{source}")
        if kind.encode() not in set(_CC_LINK.findall(page)):
            continue  # the page does not state the licence itself: not ours to copy
        (pages_dir / item["file"]).write_bytes(page)
        chosen[url] = {"file": item["file"], "with": item["with"], "without": item["without"],
                       "license": recorded, "source": source}

    (HERE / "evaldata.json").write_text(json.dumps(chosen, indent=2, ensure_ascii=False) + "\n")
    lines = ["# Pages and their licences", "",
             f"From trafilatura's evaluation set at commit `{args.commit}`; each page is the copy the",
             "trafilatura project archived from the address given, unmodified, under the licence the page",
             "states (as recorded in trafilatura's annotations and linked from the page itself).", "",
             "| file | licence | original address |", "| --- | --- | --- |"]
    lines += [f"| `{v['file']}` | {v['license']} | {url} |" for url, v in chosen.items()]
    (HERE / "PAGES.md").write_text("\n".join(lines) + "\n")
    print(f"{len(chosen)} pages, {sum(len(v['with']) + len(v['without']) for v in chosen.values())} snippets, "
          f"{sum((pages_dir / v['file']).stat().st_size for v in chosen.values()) / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
