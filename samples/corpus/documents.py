"""Builders for the human-facing sample documents (samples/documents/), one function per file.

Everything is deterministic: the same script run twice writes the same bytes, so the committed
corpus only changes when this code does.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

from PIL import Image, ImageDraw, ImageFont

from corpus import rawpdf, texts

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # Debian package fonts-dejavu-core
FIXED_DATE = datetime(2024, 10, 14, 9, 30, tzinfo=timezone.utc)


def render_lines(lines: list[str], *, size: int = 30, width: int = 1000, margin: int = 40,
                 background: int = 255, mode: str = "L") -> Image.Image:
    font = ImageFont.truetype(FONT, size)
    line_height = int(size * 1.5)
    image = Image.new(mode, (width, margin * 2 + line_height * len(lines)), background)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((margin, margin + i * line_height), line, fill=0, font=font)
    return image


def _image_bytes(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


# --- PDF ------------------------------------------------------------------------------------


def _canvas(buf, title: str, author: str, date: str = "D:20241014093000+00'00'"):
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(buf, invariant=1)  # invariant: no random IDs, so builds are reproducible
    c.setTitle(title)
    c.setAuthor(author)
    c.setCreator("contentflow samples")
    c.setDateFormatter(lambda *_: date)
    return c


def quarterly_report_pdf() -> bytes:
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph

    buf = io.BytesIO()
    c = _canvas(buf, texts.REPORT_TITLE, texts.REPORT_AUTHOR)
    style = getSampleStyleSheet()["BodyText"]
    for number, paragraphs in enumerate(texts.REPORT_PAGES, 1):
        c.setFont("Helvetica-Bold", 9)
        c.drawString(72, 760, f"Harbour Logistics - page {number} of {len(texts.REPORT_PAGES)}")
        y = 730
        for text in paragraphs:
            para = Paragraph(text, style)
            _, height = para.wrap(468, 600)
            para.drawOn(c, 72, y - height)
            y -= height + 12
        c.showPage()
    c.save()
    return buf.getvalue()


def scanned_letter_pdf() -> bytes:
    """One page that is only a picture of text: no text layer, so the extractor must OCR it."""
    from reportlab.lib.utils import ImageReader

    buf = io.BytesIO()
    c = _canvas(buf, "", "")
    image = render_lines(texts.LETTER_LINES, size=28, width=1100)
    c.drawImage(ImageReader(image), 36, 792 - 36 - image.height * 0.5, image.width * 0.5,
                image.height * 0.5)
    c.showPage()
    c.save()
    return buf.getvalue()


def brochure_pdf() -> bytes:
    """Title and author only in XMP (no /Info dictionary), as some design tools write them."""
    streams = [rawpdf.text_content(lines, size=18) for lines in texts.BROCHURE_PAGES]
    xmp = rawpdf.xmp_packet(texts.BROCHURE_TITLE, texts.BROCHURE_AUTHOR,
                            "2024-02-01T08:00:00Z", "2024-03-05T16:45:00+01:00")
    return rawpdf.pages_document(streams, metadata=xmp)


# --- DOCX -----------------------------------------------------------------------------------


def _docx(title: str, author: str, blocks, table, control_text: str | None = None) -> bytes:
    import docx
    from docx.oxml import parse_xml

    document = docx.Document()
    props = document.core_properties
    props.title, props.author = title, author
    props.created = props.modified = FIXED_DATE.replace(tzinfo=None)
    props.last_modified_by = author
    props.revision = 1
    for style, text in blocks:
        document.add_paragraph(text, style=style)
    grid = document.add_table(rows=len(table), cols=len(table[0]))
    grid.style = "Table Grid"
    for r, row in enumerate(table):
        for c, value in enumerate(row):
            grid.cell(r, c).text = value
    if control_text:
        ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
        document.element.body.append(parse_xml(
            f"<w:sdt {ns}><w:sdtPr><w:alias w:val=\"Decisions\"/></w:sdtPr><w:sdtContent>"
            f"<w:p><w:r><w:t>{control_text}</w:t></w:r></w:p></w:sdtContent></w:sdt>"
        ))
    out = io.BytesIO()
    document.save(out)
    return _fixed_zip_times(out.getvalue())


def _fixed_zip_times(data: bytes) -> bytes:
    """Rewrite a zip with constant timestamps so the file is reproducible."""
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2024, 10, 14, 9, 30, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def handbook_docx() -> bytes:
    return _docx(texts.HANDBOOK_TITLE, texts.HANDBOOK_AUTHOR, texts.HANDBOOK, texts.HANDBOOK_TABLE)


def minutes_docx() -> bytes:
    return _docx(texts.MINUTES_TITLE, texts.MINUTES_AUTHOR, texts.MINUTES, texts.MINUTES_TABLE,
                 control_text=texts.MINUTES_CONTROL_TEXT)


# --- HTML -----------------------------------------------------------------------------------


def blog_html() -> bytes:
    paragraphs = "\n".join(f"      <p>{p}</p>" for p in texts.BLOG_PARAGRAPHS)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{texts.BLOG_TITLE} | Nordic Night Trains Blog</title>
  <meta name="author" content="{texts.BLOG_AUTHOR}">
  <meta property="article:published_time" content="2024-01-22T07:15:00+01:00">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <style>body {{ font-family: sans-serif; }} .cookie-banner {{ position: fixed; bottom: 0; }}</style>
  <script>window.dataLayer = window.dataLayer || []; function gtag(){{dataLayer.push(arguments);}}</script>
  <script type="application/ld+json">{{"@type": "BlogPosting", "headline": "{texts.BLOG_TITLE}"}}</script>
</head>
<body>
  <div class="cookie-banner" id="cookie-consent">
    We use cookies to improve your experience. <button>Accept all cookies</button> <a href="/privacy">Manage preferences</a>
  </div>
  <header class="site-header">
    <a class="logo" href="/">Nordic Night Trains</a>
    <nav class="main-nav"><ul>
      <li><a href="/timetables">Timetables</a></li><li><a href="/tickets">Buy tickets</a></li>
      <li><a href="/sleeper-cars">Our sleeper cars</a></li><li><a href="/blog">Blog</a></li>
      <li><a href="/login">Log in to My Journeys</a></li>
    </ul></nav>
  </header>
  <div class="breadcrumbs"><a href="/">Home</a> &rsaquo; <a href="/blog">Blog</a> &rsaquo; Operations</div>
  <main>
    <article>
      <h1>{texts.BLOG_TITLE}</h1>
      <p class="byline">By {texts.BLOG_AUTHOR}, head of operations &middot; 22 January 2024</p>
{paragraphs}
      <figure><img src="/img/sleeper.jpg" alt="A sleeper car at dawn"><figcaption>The 22:40 to Narvik at the platform.</figcaption></figure>
      <div class="share-buttons">Share this post: <a href="#">Facebook</a> <a href="#">Mastodon</a> <a href="#">Email</a></div>
    </article>
  </main>
  <aside class="sidebar">
    <h2>Related articles</h2>
    <ul><li><a href="/blog/winter">How we prepare sleeper cars for minus thirty degrees</a></li>
        <li><a href="/blog/menu">The new breakfast menu on board</a></li></ul>
    <form class="newsletter"><h3>Subscribe to our newsletter</h3><input type="email" placeholder="Your email"><button>Sign up</button></form>
  </aside>
  <footer class="site-footer">
    <p>&copy; 2024 Nordic Night Trains AB. All rights reserved.</p>
    <ul><li><a href="/terms">Terms of carriage</a></li><li><a href="/careers">Careers</a></li><li><a href="/press">Press room</a></li></ul>
  </footer>
  <script src="/js/analytics.js"></script>
  <script>gtag('config', 'NNT-TRACKING-42'); document.querySelector('.cookie-banner').hidden = false;</script>
</body>
</html>
""".encode("utf-8")


def news_html() -> bytes:
    """A German page served in windows-1252, declared only by its meta tag."""
    paragraphs = "\n".join(f"<p>{p}</p>" for p in texts.NEWS_PARAGRAPHS)
    page = f"""<html lang="de">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">
<title>{texts.NEWS_TITLE} - Hafenblatt Online</title>
<meta name="author" content="Redaktion Hafenblatt">
<meta name="date" content="2024-06-08">
<link rel="stylesheet" href="/css/site.css">
<script>var _paq = window._paq || []; _paq.push(['trackPageView']);</script>
</head>
<body>
<div id="top-bar">Anmelden | Registrieren | E-Paper lesen</div>
<div id="menu" role="navigation"><a href="/">Startseite</a> <a href="/lokales">Lokales</a> <a href="/sport">Sport</a> <a href="/wetter">Wetter</a></div>
<div id="content">
<div class="article-body">
<h1>{texts.NEWS_TITLE}</h1>
<p class="meta">Von Jens Albers, 8. Juni 2024</p>
{paragraphs}
</div>
<div class="teaser-box"><h3>Weitere Nachrichten</h3><ul><li><a href="/a/1">Stadtfest lockt Tausende an</a></li><li><a href="/a/2">Neue Buslinie zum Flughafen</a></li></ul></div>
</div>
<div id="footer">Impressum | Datenschutz | Kontakt | Mediadaten &copy; Hafenblatt Verlag GmbH</div>
</body>
</html>
"""
    return page.encode("windows-1252")


# --- text, Markdown, JSON, CSV --------------------------------------------------------------


def csv_bytes(rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def json_bytes(value) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# --- images ---------------------------------------------------------------------------------


def whiteboard_png() -> bytes:
    return _image_bytes(render_lines(texts.WHITEBOARD_LINES, size=34, width=900, background=235), "PNG")


def receipt_jpg() -> bytes:
    font_image = render_lines(texts.RECEIPT_LINES, size=26, width=620, background=250)
    return _image_bytes(font_image.convert("RGB"), "JPEG", quality=85)


def fax_tiff() -> bytes:
    """Two pages in one TIFF, bilevel with CCITT G4 compression like a real fax."""
    pages = [render_lines(lines, size=30, width=800).point(lambda v: 255 if v > 128 else 0, "1")
             for lines in texts.FAX_PAGES]
    return _image_bytes(pages[0], "TIFF", compression="group4", save_all=True, append_images=pages[1:])


DOCUMENTS = {
    "quarterly-report-q3-2024.pdf": quarterly_report_pdf,
    "scanned-letter.pdf": scanned_letter_pdf,
    "solar-battery-brochure.pdf": brochure_pdf,
    "team-handbook.docx": handbook_docx,
    "allotment-committee-minutes.docx": minutes_docx,
    "night-trains-blog-post.html": blog_html,
    "fahrradbruecke-artikel.html": news_html,
    "tidewater-release-notes.md": lambda: texts.RELEASE_NOTES.encode(),
    "tidewater-api-guide.md": lambda: texts.API_GUIDE.encode(),
    "kerrera-field-notes.txt": lambda: texts.FIELD_NOTES.encode("utf-8"),
    "conseil-de-quartier-cp1252.txt": lambda: texts.FRENCH_NOTES.encode("cp1252"),
    "library-inventory-utf16.txt": lambda: texts.INVENTORY_NOTES.encode("utf-16"),
    "seed-catalogue.json": lambda: json_bytes(texts.CATALOGUE),
    "weather-station.json": lambda: json_bytes(texts.STATION_STATUS),
    "sales-q3.csv": lambda: csv_bytes(texts.SALES_ROWS),
    "kontakte.csv": lambda: csv_bytes(texts.CONTACT_ROWS, delimiter=";", encoding="cp1252"),
    "whiteboard-photo.png": whiteboard_png,
    "bakery-receipt.jpg": receipt_jpg,
    "pilot-station-fax.tiff": fax_tiff,
}
