"""Writes the sample corpus: samples/documents/ (what a demo uploads) and samples/hostile/.

    .venv/bin/python samples/make_corpus.py          # the committed files
    .venv/bin/python samples/make_corpus.py --big    # also the large hostile files (git-ignored)
    .venv/bin/python samples/make_corpus.py --check  # exit 1 if a committed file is out of date

Needs the dev requirements (reportlab, python-docx, Pillow) and fonts-dejavu-core.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import documents, hostile, pdf_parts  # noqa: E402
from corpus import docx_parts  # noqa: E402

TARGETS = {
    HERE / "documents": {**documents.DOCUMENTS, **pdf_parts.PDF_PARTS, **docx_parts.DOCX_PARTS},
    HERE / "hostile": hostile.HOSTILE,
}
BIG_DIR = HERE / "hostile" / "generated"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="also write the large hostile files")
    parser.add_argument("--check", action="store_true", help="only compare with what is on disk")
    args = parser.parse_args()
    targets = dict(TARGETS)
    if args.big:
        targets[BIG_DIR] = hostile.BIG
    stale = []
    for folder, builders in targets.items():
        folder.mkdir(parents=True, exist_ok=True)
        for name, build in builders.items():
            path = folder / name
            data = build()
            if args.check:
                if not path.exists() or path.read_bytes() != data:
                    stale.append(path)
                continue
            if not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)
                print(f"wrote {path.relative_to(HERE)} ({len(data):,} bytes)")
    for path in stale:
        print(f"out of date: {path.relative_to(HERE)}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
