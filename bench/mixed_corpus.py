"""The mixed documents of the throughput benchmark: the committed samples plus generated one-page
documents (plain text, Markdown, HTML, DOCX, PDF), each with its own content, so no document reuses
another's cached analysis or embeddings and the figures are those of first-time work."""

from __future__ import annotations

import io
import mimetypes
import random
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "documents"
sys.path.insert(0, str(ROOT / "samples"))

from corpus import texts  # noqa: E402

KINDS = ("txt", "md", "html", "docx", "pdf")
CONTENT_TYPES = {"txt": "text/plain", "md": "text/markdown", "html": "text/html",
                 "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                 "pdf": "application/pdf"}
# English prose of the samples, paragraph by paragraph: the pool a generated page draws from.
PARAGRAPHS = ([p for page in texts.REPORT_PAGES for p in page] + texts.BLOG_PARAGRAPHS
              + [text for _, text in texts.HANDBOOK if len(text) > 60]
              + [p for p in texts.FIELD_NOTES.split("\n\n") if len(p) > 60])
PLACES = ["Kerrera", "the north quay", "the rail yard", "the depot", "the library", "the allotments",
          "the ferry terminal", "the cold store", "the harbour office", "the night train"]


@dataclass(frozen=True)
class Item:
    name: str
    data: bytes
    content_type: str | None
    kind: str          # the file type, as the cost table groups documents
    generated: bool    # False: a committed sample


def samples() -> list[Item]:
    items = []
    for path in sorted(p for p in SAMPLES.iterdir() if p.is_file()):
        items.append(Item(path.name, path.read_bytes(), mimetypes.guess_type(path.name)[0],
                          path.suffix.lstrip(".").lower(), False))
    return items


def page_text(number: int) -> tuple[str, list[str]]:
    """A one-page text (about 2,500 characters): a title and paragraphs, with sentences that
    make it unlike every other page."""
    rng = random.Random(number)
    title = f"Report {number}: {rng.choice(PLACES)} in week {rng.randint(1, 52)}"
    paragraphs = []
    while sum(len(p) for p in paragraphs) < 2300:
        paragraphs.append(f"{rng.choice(PARAGRAPHS)} Observation {number}-{len(paragraphs)}: "
                          f"{rng.randint(2, 900)} items at {rng.choice(PLACES)}.")
    return title, paragraphs


def generated(number: int, kind: str) -> Item:
    title, paragraphs = page_text(number)
    if kind == "txt":
        data = (title + "\n\n" + "\n\n".join(paragraphs) + "\n").encode()
    elif kind == "md":
        data = (f"# {title}\n\n" + "\n\n".join(f"## Part {i + 1}\n\n{p}" if i % 2 == 0 else p
                                              for i, p in enumerate(paragraphs)) + "\n").encode()
    elif kind == "html":
        menu = "".join(f'<li><a href="/p/{i}">Section {i}</a></li>' for i in range(12))
        body = "".join(f"<p>{p}</p>" for p in paragraphs)
        data = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title></head><body>"
                f"<nav><ul>{menu}</ul></nav><main><article><h1>{title}</h1>{body}</article></main>"
                f"<footer>All rights reserved. <a href=/privacy>Privacy</a></footer></body></html>").encode()
    elif kind == "docx":
        import docx

        document = docx.Document()
        document.core_properties.title = title
        document.add_heading(title, level=1)
        for p in paragraphs:
            document.add_paragraph(p)
        out = io.BytesIO()
        document.save(out)
        data = out.getvalue()
    elif kind == "pdf":
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.styles import getSampleStyleSheet
        from reportlab.platypus import Paragraph, SimpleDocTemplate

        out = io.BytesIO()
        styles = getSampleStyleSheet()
        SimpleDocTemplate(out, pagesize=A4, title=title, invariant=1).build(
            [Paragraph(title, styles["Heading1"])] + [Paragraph(p, styles["BodyText"]) for p in paragraphs])
        data = out.getvalue()
    else:
        raise ValueError(f"unknown kind {kind}")
    return Item(f"page-{number:05d}.{kind}", data, CONTENT_TYPES[kind], kind, True)


def mixed(count: int, with_samples: bool = True, first_number: int = 0) -> list[Item]:
    """`count` documents: the samples (if asked), then generated pages of each kind in turn."""
    items = samples() if with_samples else []
    number = first_number
    while len(items) < count:
        items.append(generated(number, KINDS[number % len(KINDS)]))
        number += 1
    return items[:count]
