"""PDF with pypdfium2 (PDFium, Apache-2.0/BSD-3-Clause): text layer per page, metadata from the
Info dictionary and XMP, and OCR for pages that have images but no text."""

from __future__ import annotations

import time

from contentflow.errors import UnreadableDocument
from contentflow.extraction import dates, deferred as deferred_ocr, ocr
from contentflow.extraction.parsed import Parsed, from_pages

# Values that PDF producers write when they know nothing; not worth showing as a title.
PLACEHOLDERS = {"", "untitled", "anonymous", "unknown", "unspecified", "none", "(anonymous)"}
_XMP_START, _XMP_END = b"<x:xmpmeta", b"</x:xmpmeta>"
# A text layer this thin over a picture is a scan with a stamp ("Page 3", a Bates number): OCR it.
MIN_TEXT_LAYER_CHARS = 20
MAX_XMP_BYTES = 1 << 20
NO_TEXT_AFTER_OCR = "no text found: the PDF has no text layer and OCR found no text in its images"


def _open(data: bytes):
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as err:
        code = getattr(err, "err_code", None)
        if code == raw.FPDF_ERR_PASSWORD:
            raise UnreadableDocument("encrypted PDF: password required") from None
        if code == raw.FPDF_ERR_SECURITY:
            raise UnreadableDocument("encrypted PDF: unsupported security handler") from None
        raise UnreadableDocument("malformed PDF: the file is damaged or not a PDF") from None


def _info(doc) -> dict[str, str]:
    """The Info dictionary, best effort: a value that is not valid UTF-16 (a lone surrogate made
    pypdfium2's own decoding raise and lose the whole document) is decoded with replacement
    characters; a value that cannot be read at all is left out."""
    import ctypes

    import pypdfium2.raw as raw

    found = {}
    for key in ("Title", "Author", "CreationDate", "ModDate"):
        try:
            name = (key + "\x00").encode("ascii")
            size = raw.FPDF_GetMetaText(doc, name, None, 0)
            if size <= 2:
                continue
            buffer = ctypes.create_string_buffer(size)
            raw.FPDF_GetMetaText(doc, name, buffer, size)
            found[key] = buffer.raw[:size - 2].decode("utf-16-le", "replace")
        except Exception:  # noqa: BLE001 - metadata never costs the document its text
            continue
    return found


def _meta_value(value: str | None) -> str | None:
    value = (value or "").strip()
    return None if value.lower() in PLACEHOLDERS else value[:1000]


def xmp_metadata(data: bytes) -> dict[str, str]:
    """Title, author and dates from the first uncompressed XMP packet that has any. The XMP spec
    asks for the packet to stay scannable in the raw file; compressed packets are not read."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    ns = {"dc": "http://purl.org/dc/elements/1.1/", "xmp": "http://ns.adobe.com/xap/1.0/",
          "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#"}
    start = data.find(_XMP_START)
    while start != -1:
        end = data.find(_XMP_END, start, start + MAX_XMP_BYTES)
        if end == -1:
            break
        try:
            root = etree.fromstring(data[start:end + len(_XMP_END)], parser)
        except etree.XMLSyntaxError:
            root = None
        if root is not None:
            def first(path: str) -> str | None:
                for node in root.iterfind(".//" + path, ns):
                    text = "".join(node.itertext()).strip()
                    if text:
                        return text
                return None

            found = {"title": first("dc:title//rdf:li") or first("dc:title"),
                     "author": first("dc:creator//rdf:li") or first("dc:creator"),
                     "created": first("xmp:CreateDate"), "modified": first("xmp:ModifyDate")}
            for node in root.iterfind(".//rdf:Description", ns):  # dates written as attributes
                for key, name in (("created", "CreateDate"), ("modified", "ModifyDate")):
                    found[key] = found[key] or node.get(f"{{{ns['xmp']}}}{name}")
            if any(found.values()):
                return {k: v for k, v in found.items() if v}
        start = data.find(_XMP_START, end)
    return {}


def _has_images(page) -> bool:
    import pypdfium2.raw as raw

    return next(iter(page.get_objects(filter=[raw.FPDF_PAGEOBJ_IMAGE], max_depth=4)), None) is not None


def _render(page, limits):
    """The page as an image prepared for OCR, and its resolution in dpi."""
    width, height = page.get_size()
    scale = limits.ocr_dpi / 72
    if width * height * scale * scale > limits.ocr_max_pixels:  # huge pages: lower the resolution
        scale = (limits.ocr_max_pixels / (width * height)) ** 0.5
    bitmap = page.render(scale=scale, grayscale=True)
    try:
        return ocr.prepare(bitmap.to_pil(), limits.ocr_max_pixels), round(72 * scale)
    finally:
        bitmap.close()


def _ocr_page(page, limits, deadline: float) -> str:
    image, dpi = _render(page, limits)
    return ocr.recognise(image, languages=limits.ocr_languages, deadline=deadline, dpi=dpi)


def parse(data: bytes, *, limits, deadline: float, **_) -> Parsed:
    import pypdfium2 as pdfium

    doc = _open(data)
    try:
        count = len(doc)
        if count == 0:
            raise UnreadableDocument("malformed PDF: no pages")
        if count > limits.max_pages:
            raise UnreadableDocument(f"too many pages: {count:,} > {limits.max_pages:,}")
        info = _info(doc)
        xmp = xmp_metadata(data)
        deferred = deferred_ocr.collector(limits)  # None: tesseract reads the pages here
        pages, ocred, not_ocred, chars = [], 0, 0, 0
        unreadable = []
        for index in range(count):
            try:
                page = doc[index]
            except pdfium.PdfiumError:  # one broken page object: keep the others
                unreadable.append(index + 1)
                pages.append("")
                continue
            try:
                textpage = page.get_textpage()
                text = textpage.get_text_bounded()
                textpage.close()
                if len("".join(text.split())) < MIN_TEXT_LAYER_CHARS and _has_images(page):
                    if ocred >= limits.max_ocr_pages:
                        not_ocred += 1
                    elif deferred is None:
                        text = _ocr_page(page, limits, deadline) or text  # OCR reads the stamp too
                        ocred += 1
                    else:  # the parent's engine reads it; the stamp stays as the page's text
                        # (the placeholder) if it finds nothing
                        deferred.add(index, _render(page, limits)[0],
                                     pages_left=min(limits.max_ocr_pages - ocred, count - index))
                        ocred += 1
            finally:
                page.close()
            pages.append(text)
            chars += len(text)
            if chars > limits.max_text_chars:
                break  # assemble() cuts and warns; reading further pages is wasted time
            if time.monotonic() > deadline:
                raise TimeoutError
    finally:
        doc.close()
    if unreadable and len(unreadable) == len(pages):
        raise UnreadableDocument("malformed PDF: no page could be loaded")
    if not any(p.strip() for p in pages) and not (deferred and deferred.images):
        if ocred:
            raise UnreadableDocument(NO_TEXT_AFTER_OCR)
        if not_ocred:  # only when max_ocr_pages is 0
            raise UnreadableDocument("no text found: the PDF has no text layer and OCR is turned off")
        raise UnreadableDocument("no text found: the PDF has no text layer and no images to OCR")
    # Deferred: the parent names its engine and counts the pages it reads.
    parsed = from_pages(
        pages, extractor="pypdfium2" + ("+tesseract" if ocred and deferred is None else ""),
        ocr_images=deferred.images if deferred else None, no_text_reason=NO_TEXT_AFTER_OCR,
        max_chars=limits.max_text_chars, paged=True, page_count=count,
        title=_meta_value(info.get("Title")) or _meta_value(xmp.get("title")),
        author=_meta_value(info.get("Author")) or _meta_value(xmp.get("author")),
        created=dates.pdf_date(info.get("CreationDate")) or dates.iso_date(xmp.get("created")),
        modified=dates.pdf_date(info.get("ModDate")) or dates.iso_date(xmp.get("modified")),
        pages_ocred=ocred if deferred is None else 0,
    )
    if unreadable:
        listed = ", ".join(map(str, unreadable[:20])) + (", ..." if len(unreadable) > 20 else "")
        parsed.warnings.append(f"{len(unreadable)} page(s) could not be loaded and were skipped: {listed}")
    if not_ocred:
        parsed.warnings.append(
            f"{not_ocred} page(s) without a text layer were not OCRed (limit {limits.max_ocr_pages})")
    return parsed

