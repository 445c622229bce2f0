"""Inputs for bench/extraction.py, bigger than the committed samples and made in memory from the
same prose (samples/corpus), each with the phrases that tell good extraction from bad."""

from __future__ import annotations

import io
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "samples"))

from corpus import documents, texts  # noqa: E402

BOILERPLATE = ["Accept all cookies", "Subscribe to our newsletter", "Related articles",
               "All rights reserved", "Log in to My Journeys", "dataLayer", "Share this post"]


@dataclass
class Input:
    name: str
    data: bytes
    pages: int  # 1 for formats without pages
    phrases: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)


def report_pdf(pages: int) -> Input:
    """A text-layer report: the sample's twelve pages, over and over."""
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.pdfgen import canvas
    from reportlab.platypus import Paragraph

    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1)
    style = getSampleStyleSheet()["BodyText"]
    for number in range(pages):
        y = 730
        for text in texts.REPORT_PAGES[number % 12] * 3:
            para = Paragraph(f"{text} (section {number + 1})", style)
            _, height = para.wrap(468, 600)
            para.drawOn(c, 72, y - height)
            y -= height + 12
        c.showPage()
    c.save()
    phrases = [f"{texts.REPORT_PAGES[n % 12][0][:40]}" for n in range(0, pages, max(pages // 10, 1))]
    return Input(f"report-{pages}-pages.pdf", buf.getvalue(), pages, phrases)


def scanned_pdf(pages: int) -> Input:
    """Pages that are only pictures of text (OCR), each a full letter page at 150 dpi."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1)
    for number in range(pages):
        lines = [f"Scanned page {number + 1}"] + texts.LETTER_LINES * 3
        image = documents.render_lines(lines, size=24, width=1240)
        c.drawImage(ImageReader(image), 0, 792 - image.height * 72 / 150, 612, image.height * 72 / 150)
        c.showPage()
    c.save()
    return Input(f"scanned-{pages}-pages.pdf", buf.getvalue(), pages,
                 [f"Scanned page {n + 1}" for n in range(pages)] + ["riverside workshop"])


def html_page(index: int, paragraphs: int, menu_links: int) -> Input:
    """The sample blog page grown to a realistic size: long menus, footers, inline scripts."""
    rng = random.Random(index)
    article = [f"{rng.choice(texts.BLOG_PARAGRAPHS)} Note {index}-{i}." for i in range(paragraphs)]
    page = documents.blog_html().decode()
    menu = "".join(f'<li><a href="/route/{i}">Route {i} timetable</a></li>' for i in range(menu_links))
    script = "<script>" + "var cfg = {a: 1, b: [1, 2, 3]};" * 200 + "</script>"
    page = page.replace('<nav class="main-nav"><ul>', '<nav class="main-nav"><ul>' + menu)
    page = page.replace("</article>", "".join(f"<p>{p}</p>" for p in article) + "</article>")
    page = page.replace("</footer>", f"<ul>{menu}</ul></footer>{script}")
    return Input(f"page-{index}.html", page.encode(), 1,
                 [texts.BLOG_PARAGRAPHS[1][:50], f"Note {index}-{paragraphs - 1}."], BOILERPLATE)


def html_pages(count: int) -> list[Input]:
    return [html_page(i, paragraphs=10 + (i * 7) % 60, menu_links=20 + (i * 13) % 150)
            for i in range(count)]


def long_docx(sections: int) -> Input:
    import docx

    document = docx.Document()
    for s in range(sections):
        document.add_heading(f"Section {s + 1}", level=1)
        for style, text in texts.HANDBOOK[2:]:
            document.add_paragraph(text, style=style if style and style.startswith("List") else None)
        table = document.add_table(rows=len(texts.HANDBOOK_TABLE), cols=3)
        for r, row in enumerate(texts.HANDBOOK_TABLE):
            for col, value in enumerate(row):
                table.cell(r, col).text = f"{value} {s}"
    out = io.BytesIO()
    document.save(out)
    return Input(f"handbook-{sections}-sections.docx", out.getvalue(), 1,
                 [f"Section {sections}", f"Grafana {sections - 1}", "rotates every Wednesday"])


def big_text(megabytes: float) -> Input:
    body = "\n\n".join(texts.FIELD_NOTES.split("\n\n") + texts.REPORT_PAGES[2] + texts.REPORT_PAGES[5])
    data = (body + "\n\n").encode() * int(megabytes * 1e6 / (len(body) + 2))
    return Input(f"text-{megabytes:g}mb.txt", data, 1, ["forty-one grey seals"])


def big_csv(megabytes: float) -> Input:
    rows = ["id,region,product,units,revenue_eur"]
    size = i = 0
    while size < megabytes * 1e6:
        product = texts.SALES_ROWS[1 + i % 4][1]
        rows.append(f"{i},Region {i % 17},{product},{i % 997},{i * 31 % 100000}")
        size += len(rows[-1]) + 1
        i += 1
    return Input(f"table-{megabytes:g}mb.csv", ("\n".join(rows) + "\n").encode(), 1,
                 ["product: Waterproof jacket"])


def big_json(megabytes: float) -> Input:
    import json

    items = []
    size = 0
    while size < megabytes * 1e6:
        item = dict(texts.CATALOGUE["items"][len(items) % 3], sku=f"SKU-{len(items):06d}")
        items.append(item)
        size += len(json.dumps(item))
    return Input(f"catalogue-{megabytes:g}mb.json", json.dumps({"items": items}).encode(), 1,
                 ["name: Golden Beetroot", "sku: SKU-000001"])


def full_page_scan(fmt: str) -> Input:
    """One A4 page at 200 dpi, as a scanner or phone app saves it."""
    from PIL import Image

    lines = [f"Minutes, page one ({fmt})"] + [p[:80] for p in texts.BLOG_PARAGRAPHS for _ in range(3)]
    image = documents.render_lines(lines, size=26, width=1654, margin=100)
    canvas = Image.new("L", (1654, 2339), 255)
    canvas.paste(image, (0, 0))
    out = io.BytesIO()
    if fmt == "TIFF":
        canvas.point(lambda v: 255 if v > 128 else 0, "1").save(out, "TIFF", compression="group4")
    else:
        canvas.save(out, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    suffix = {"PNG": "png", "JPEG": "jpg", "TIFF": "tiff"}[fmt]
    return Input(f"scan-a4.{suffix}", out.getvalue(), 1, [f"Minutes, page one ({fmt})"])


def sample(path: str) -> Input:
    data = (ROOT / "samples" / path).read_bytes()
    return Input(Path(path).name, data, 1)
