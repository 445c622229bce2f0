"""PDF with pypdfium2 (PDFium, Apache-2.0/BSD-3-Clause): text layer per page, the text of
annotations and form fields, metadata from the Info dictionary and XMP, and OCR for pages that
have images but no text, or a text layer that is glyph codes rather than text (textlayer.py)."""

from __future__ import annotations

import ctypes
import re
import time
from functools import lru_cache

from contentflow.errors import UnreadableDocument
from contentflow.extraction import dates, deferred as deferred_ocr, ocr, textlayer
from contentflow.extraction.parsed import Parsed, from_pages

# Values that PDF producers write when they know nothing; not worth showing as a title.
PLACEHOLDERS = {"", "untitled", "anonymous", "unknown", "unspecified", "none", "(anonymous)"}
_XMP_START, _XMP_END = b"<x:xmpmeta", b"</x:xmpmeta>"
# A text layer this thin over a picture is a scan with a stamp ("Page 3", a Bates number): OCR it.
MIN_TEXT_LAYER_CHARS = 20
MAX_XMP_BYTES = 1 << 20
# Text outside the content stream, bounded: annotations and fields looked at per page, characters
# kept of one value and of one page's values, and the largest value read at all (PDFium copies a
# value whole or not at all).
MAX_ANNOTATIONS_PER_PAGE = 200
MAX_VALUE_CHARS = 2_000
MAX_EXTRA_CHARS_PER_PAGE = 20_000
MAX_VALUE_BYTES = 1 << 20
ANNOTATION, FORM, BODY = "annotation", "form", "body"  # segment kinds (parsed.py)
# Standard stamp names (PDF 32000 12.5.6.12): shown as words when a stamp has no /Contents.
STAMP_NAMES = {"Approved", "Experimental", "NotApproved", "AsIs", "Expired", "NotForPublicRelease",
               "Confidential", "Final", "Sold", "Departmental", "ForComment", "TopSecret", "Draft",
               "ForPublicRelease"}
MAX_LISTED_PAGES = 10


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
    # Page content only: annotation and field text is read as text (segments), not OCRed twice.
    bitmap = page.render(scale=scale, grayscale=True, draw_annots=False, may_draw_forms=False)
    try:
        return ocr.prepare(bitmap.to_pil(), limits.ocr_max_pixels), round(72 * scale)
    finally:
        bitmap.close()


def _ocr_page(page, limits, deadline: float) -> str:
    image, dpi = _render(page, limits)
    return ocr.recognise(image, languages=limits.ocr_languages, deadline=deadline, dpi=dpi)


def _utf16(read, limit: int = MAX_VALUE_BYTES) -> str:
    """A PDFium UTF-16LE string getter (`read(buffer, length) -> length needed`) as str; "" when
    absent or larger than `limit` bytes."""
    size = read(None, 0)
    if size <= 2 or size > limit:
        return ""
    buffer = (ctypes.c_ushort * (size // 2))()
    read(buffer, size)
    return bytes(buffer)[:size - 2].decode("utf-16-le", "replace")


def _one_line(value: str) -> str:
    return " ".join(value.split())[:MAX_VALUE_CHARS]


def _field_text(form, annot) -> str | None:
    """"Label: value" of a form field widget; None for buttons, signatures, passwords, empty fields
    and radio buttons that are not the chosen one."""
    import pypdfium2.raw as raw

    kind = raw.FPDFAnnot_GetFormFieldType(form, annot)
    if kind in (raw.FPDF_FORMFIELD_PUSHBUTTON, raw.FPDF_FORMFIELD_SIGNATURE, raw.FPDF_FORMFIELD_UNKNOWN, -1):
        return None
    if raw.FPDFAnnot_GetFormFieldFlags(form, annot) & raw.FPDF_FORMFLAG_TEXT_PASSWORD:
        return None  # what a viewer shows as dots
    # The tooltip (/TU) is the label a person reads; the name (/T) is often an identifier.
    label = (_one_line(_utf16(lambda b, n: raw.FPDFAnnot_GetFormFieldAlternateName(form, annot, b, n)))
             or _one_line(_utf16(lambda b, n: raw.FPDFAnnot_GetFormFieldName(form, annot, b, n))))
    if kind == raw.FPDF_FORMFIELD_CHECKBOX:
        value = "yes" if raw.FPDFAnnot_IsChecked(form, annot) else "no"
    elif kind == raw.FPDF_FORMFIELD_RADIOBUTTON:
        if not raw.FPDFAnnot_IsChecked(form, annot):
            return None
        value = _one_line(_utf16(lambda b, n: raw.FPDFAnnot_GetFormFieldExportValue(form, annot, b, n)))
    else:  # text, combo and list boxes
        value = _one_line(_utf16(lambda b, n: raw.FPDFAnnot_GetFormFieldValue(form, annot, b, n)))
    if not value:
        return None
    return f"{label}: {value}" if label else value


def _annotation_text(annot, subtype: int) -> str | None:
    """The /Contents a reader sees (a free text box, a sticky note, a stamp's or a markup's
    comment), or a standard stamp's name ("Not For Public Release") when it has none."""
    import pypdfium2.raw as raw

    text = _utf16(lambda b, n: raw.FPDFAnnot_GetStringValue(annot, b"Contents", b, n)).strip()
    if not text and subtype == raw.FPDF_ANNOT_STAMP:
        name = _utf16(lambda b, n: raw.FPDFAnnot_GetStringValue(annot, b"Name", b, n)).strip()
        if name in STAMP_NAMES:
            text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    return text[:MAX_VALUE_CHARS] or None


@lru_cache(maxsize=1)
def _markup_subtypes() -> frozenset[int]:
    """Annotations whose /Contents is text a person reads. Not popups (their parent's text
    again), links, widgets (fields, read as such), redactions (what they cover is to go), nor
    media and printer's marks."""
    import pypdfium2.raw as raw

    return frozenset({
        raw.FPDF_ANNOT_TEXT, raw.FPDF_ANNOT_FREETEXT, raw.FPDF_ANNOT_STAMP, raw.FPDF_ANNOT_LINE,
        raw.FPDF_ANNOT_SQUARE, raw.FPDF_ANNOT_CIRCLE, raw.FPDF_ANNOT_POLYGON, raw.FPDF_ANNOT_POLYLINE,
        raw.FPDF_ANNOT_HIGHLIGHT, raw.FPDF_ANNOT_UNDERLINE, raw.FPDF_ANNOT_SQUIGGLY,
        raw.FPDF_ANNOT_STRIKEOUT, raw.FPDF_ANNOT_CARET, raw.FPDF_ANNOT_INK,
        raw.FPDF_ANNOT_FILEATTACHMENT})


def page_extras(page, form) -> list[list[str]]:
    """The text of a page's annotations and form fields as [kind, text] segments, top to bottom
    and left to right as a reader meets them. `form`: the document's form handle, or None."""
    import pypdfium2.raw as raw

    count = min(raw.FPDFPage_GetAnnotCount(page.raw), MAX_ANNOTATIONS_PER_PAGE)
    if count <= 0:
        return []
    hidden = raw.FPDF_ANNOT_FLAG_HIDDEN | raw.FPDF_ANNOT_FLAG_NOVIEW
    markup = _markup_subtypes()
    found: list[tuple[float, float, str, str]] = []
    seen: set[tuple[str, str]] = set()
    total = 0
    for index in range(count):
        annot = raw.FPDFPage_GetAnnot(page.raw, index)
        if not annot:
            continue
        try:
            if raw.FPDFAnnot_GetFlags(annot) & hidden:
                continue
            subtype = raw.FPDFAnnot_GetSubtype(annot)
            if subtype == raw.FPDF_ANNOT_WIDGET:
                kind, text = FORM, _field_text(form, annot) if form else None
            elif subtype in markup:
                kind, text = ANNOTATION, _annotation_text(annot, subtype)
            else:
                continue
            if not text or (kind, text) in seen:  # a field's widgets repeat its value
                continue
            seen.add((kind, text))
            rect = raw.FS_RECTF()
            raw.FPDFAnnot_GetRect(annot, rect)
            found.append((-max(rect.top, rect.bottom), min(rect.left, rect.right), kind, text))
            total += len(text)
            if total >= MAX_EXTRA_CHARS_PER_PAGE:
                break
        finally:
            raw.FPDFPage_CloseAnnot(annot)
    found.sort(key=lambda item: (round(item[0]), item[1]))
    return [[kind, text] for _, _, kind, text in found]


def _segments_supported() -> bool:
    """Whether parsed.py reads pages given as [kind, text] segments (it records Parsed.regions)."""
    return "regions" in getattr(Parsed, "__dataclass_fields__", {})


def _page_value(body: str, extras: list[list[str]]):
    """What a page is for from_pages: its segments, or (without segment support) one string."""
    if not extras:
        return body
    if _segments_supported():
        return [[BODY, body], *extras] if body.strip() else extras
    return "\n\n".join([body, *(text for _, text in extras)]) if body.strip() else "\n\n".join(t for _, t in extras)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _listed(pages: list) -> str:
    shown = ", ".join(map(str, pages[:MAX_LISTED_PAGES]))
    return shown + (", ..." if len(pages) > MAX_LISTED_PAGES else "")


def no_text_reason(*, blank: int, no_layer: int, garbage: int, ocr_empty: int, not_ocred: int,
                   ocr_limit: int) -> str:
    """Why a PDF gave no text, counted, and what would help. `no_layer` and `garbage` count the
    pages that went to OCR or would have; `ocr_empty` those OCR read without finding text."""
    found = []
    if no_layer:
        found.append(f"{_plural(no_layer, 'page')} with images but no text layer")
    if garbage:
        found.append(f"{_plural(garbage, 'page')} whose text layer is glyph codes, not text")
    if blank:
        found.append(f"{_plural(blank, 'page')} with no text layer and no images to OCR")
    outcome = []
    if ocr_empty:
        outcome.append(f"OCR found no text in {_plural(ocr_empty, 'page image')}")
    if not_ocred:
        outcome.append("OCR is turned off (max_ocr_pages is 0)" if ocr_limit == 0 else
                       f"{_plural(not_ocred, 'page')} not OCRed (max_ocr_pages is {ocr_limit})")
    return "no text found: " + ", ".join(found) + ("; " + "; ".join(outcome) if outcome else "")


def parse(data: bytes, *, limits, deadline: float, **_) -> Parsed:
    import pypdfium2 as pdfium

    doc = _open(data)
    try:
        # Before any page is loaded: field values and names need the form environment.
        form = doc.formenv.raw if doc.init_forms() and doc.formenv else None
        count = len(doc)
        if count == 0:
            raise UnreadableDocument("malformed PDF: no pages")
        if count > limits.max_pages:
            raise UnreadableDocument(f"too many pages: {count:,} > {limits.max_pages:,}")
        info = _info(doc)
        xmp = xmp_metadata(data)
        deferred = deferred_ocr.collector(limits)  # None: tesseract reads the pages here
        pages, ocred, not_ocred, chars = [], 0, 0, 0
        unreadable, garbage, ligatures, extra_pages = [], [], [], 0
        blank = no_layer = ocr_empty = 0
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
                text, repaired = textlayer.repair_ligatures(text)
                if repaired:
                    ligatures.append(index + 1)
                why = textlayer.garbage_reason(text)
                if why:
                    garbage.append((index + 1, why))
                    text = ""  # glyph codes: OCR reads the page, and nothing is better than them
                thin = len("".join(text.split())) < MIN_TEXT_LAYER_CHARS
                if why or (thin and _has_images(page)):
                    no_layer += not why
                    if ocred >= limits.max_ocr_pages:
                        not_ocred += 1
                    elif deferred is None:
                        found = _ocr_page(page, limits, deadline)
                        ocr_empty += not found.strip()
                        text = found if found.strip() else text  # OCR reads the stamp too
                        ocred += 1
                    else:  # the parent's engine reads it; the stamp stays as the page's text
                        # (the placeholder) if it finds nothing
                        deferred.add(index, _render(page, limits)[0],
                                     pages_left=min(limits.max_ocr_pages - ocred, count - index))
                        ocred += 1
                elif not text.strip():
                    blank += 1
                extras = page_extras(page, form)
                extra_pages += bool(extras)
            finally:
                page.close()
            pages.append(_page_value(text, extras))
            chars += len(text) + (sum(len(t) for _, t in extras) if extras else 0)
            if chars > limits.max_text_chars:
                break  # assemble() cuts and warns; reading further pages is wasted time
            if time.monotonic() > deadline:
                raise TimeoutError
    finally:
        doc.close()
    if unreadable and len(unreadable) == len(pages):
        raise UnreadableDocument("malformed PDF: no page could be loaded")
    reason = no_text_reason(blank=blank, no_layer=no_layer, garbage=len(garbage), ocr_limit=limits.max_ocr_pages,
                            ocr_empty=ocr_empty if deferred is None else ocred, not_ocred=not_ocred)
    if not any(_has_text(p) for p in pages) and not (deferred and deferred.images):
        raise UnreadableDocument(reason)
    # Deferred: the parent names its engine and counts the pages it reads.
    parsed = from_pages(
        pages, extractor="pypdfium2" + ("+tesseract" if ocred and deferred is None else ""),
        ocr_images=deferred.images if deferred else None, no_text_reason=reason,
        max_chars=limits.max_text_chars, paged=True, page_count=count,
        title=_meta_value(info.get("Title")) or _meta_value(xmp.get("title")),
        author=_meta_value(info.get("Author")) or _meta_value(xmp.get("author")),
        created=dates.pdf_date(info.get("CreationDate")) or dates.iso_date(xmp.get("created")),
        modified=dates.pdf_date(info.get("ModDate")) or dates.iso_date(xmp.get("modified")),
        pages_ocred=ocred if deferred is None else 0,
    )
    if unreadable:
        parsed.warnings.append(f"{len(unreadable)} page(s) could not be loaded and were skipped: {_listed(unreadable)}")
    if garbage:
        what = "left out (OCR is turned off)" if limits.max_ocr_pages == 0 else "OCRed instead"
        listed = "; ".join(f"page {page}: {why}" for page, why in garbage[:MAX_LISTED_PAGES])
        parsed.warnings.append(f"text layer is glyph codes, not text, on {_plural(len(garbage), 'page')}, "
                               f"{what}: {listed}" + ("; ..." if len(garbage) > MAX_LISTED_PAGES else ""))
    if ligatures:
        parsed.warnings.append(f"ligatures read from font codes (ff, fi, fl, ffi, ffl) on "
                               f"{_plural(len(ligatures), 'page')}: {_listed(ligatures)}")
    if not_ocred:
        parsed.warnings.append(
            f"{not_ocred} page(s) without a text layer were not OCRed (limit {limits.max_ocr_pages})")
    return parsed


def _has_text(page) -> bool:
    if isinstance(page, str):
        return bool(page.strip())
    return any(text.strip() for _, text in page)
