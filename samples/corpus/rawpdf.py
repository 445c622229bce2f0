"""A tiny hand-rolled PDF writer for the files reportlab will not make (XMP-only metadata,
thousands of pages sharing one content stream, deliberately broken structures)."""

from __future__ import annotations

import zlib


def stream(content: bytes, compress: bool = True, extra: bytes = b"") -> bytes:
    if compress:
        content = zlib.compress(content, 9)
        extra += b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n" % (len(content), extra) + content + b"\nendstream"


def text_content(lines: list[str], size: int = 14) -> bytes:
    ops = [b"BT /F1 %d Tf 72 760 Td %d TL" % (size, size + 6)]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(b"(" + escaped.encode("latin-1") + b") Tj T*")
    ops.append(b"ET")
    return b"\n".join(ops)


def build(objects: list[bytes], *, info: int | None = None) -> bytes:
    """Objects are numbered from 1 in list order; object 1 must be the catalog."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    trailer = b"<< /Size %d /Root 1 0 R" % (len(objects) + 1)
    if info:
        trailer += b" /Info %d 0 R" % info
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def pages_document(page_streams: list[bytes], *, metadata: bytes | None = None,
                   share_first_stream: int = 0) -> bytes:
    """A PDF whose pages show the given content streams with Helvetica as /F1.

    share_first_stream=N adds N more pages that reuse the first page's content (tiny files with
    many pages). metadata, when given, is an XMP packet stored uncompressed as the spec suggests.
    """
    n_pages = len(page_streams) + share_first_stream
    # 1 catalog, 2 pages, 3 font, 4 metadata (or null), then streams, then page objects.
    first_stream = 5
    first_page = first_stream + len(page_streams)
    kids = b" ".join(b"%d 0 R" % (first_page + i) for i in range(n_pages))
    catalog = b"<< /Type /Catalog /Pages 2 0 R" + (b" /Metadata 4 0 R" if metadata else b"") + b" >>"
    objects = [
        catalog,
        b"<< /Type /Pages /Count %d /Kids [%s] >>" % (n_pages, kids),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        stream(metadata, compress=False, extra=b" /Type /Metadata /Subtype /XML") if metadata else b"null",
    ]
    objects += [stream(content) for content in page_streams]
    for i in range(n_pages):
        content = first_stream + (i if i < len(page_streams) else 0)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % content
        )
    return build(objects)


def xmp_packet(title: str, author: str, created: str, modified: str) -> bytes:
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
      xmlns:xmp="http://ns.adobe.com/xap/1.0/">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>
   <dc:creator><rdf:Seq><rdf:li>{author}</rdf:li></rdf:Seq></dc:creator>
   <xmp:CreateDate>{created}</xmp:CreateDate>
   <xmp:ModifyDate>{modified}</xmp:ModifyDate>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


# --- arbitrary objects: fonts without a Unicode mapping, annotations, form fields ---------------


class Writer:
    """Objects numbered as they are added; 1 is the catalog and 2 the page tree, written by
    `finish`. `page` adds a page object (kids of the tree in the order added)."""

    def __init__(self):
        self.objects: list[bytes | None] = [None, None]
        self.pages: list[int] = []

    def add(self, body: bytes) -> int:
        self.objects.append(body)
        return len(self.objects)

    def reserve(self) -> int:
        return self.add(b"null")

    def put(self, number: int, body: bytes) -> None:
        self.objects[number - 1] = body

    def page(self, content: bytes, fonts: dict[str, int], annots: list[int] = (), number: int | None = None) -> int:
        font_refs = b" ".join(b"/%s %d 0 R" % (name.encode(), ref) for name, ref in fonts.items())
        body = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << %s >> >> "
                b"/Contents %d 0 R" % (font_refs, self.add(stream(content))))
        if annots:
            body += b" /Annots [%s]" % b" ".join(b"%d 0 R" % a for a in annots)
        body += b" >>"
        if number is None:
            number = self.add(body)
        else:
            self.put(number, body)
        self.pages.append(number)
        return number

    def finish(self, catalog_extra: bytes = b"") -> bytes:
        self.objects[0] = b"<< /Type /Catalog /Pages 2 0 R" + catalog_extra + b" >>"
        kids = b" ".join(b"%d 0 R" % n for n in self.pages)
        self.objects[1] = b"<< /Type /Pages /Count %d /Kids [%s] >>" % (len(self.pages), kids)
        return build(self.objects)


def pdf_string(text: str) -> bytes:
    """A PDF text string: PDFDocEncoding-compatible ASCII as is, anything else as UTF-16BE."""
    if text.isascii():
        return b"(" + text.encode().replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode() + b">"


def helvetica(writer: Writer) -> int:
    return writer.add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")


def _glyph_procedure(font, text: str, pixels_per_em: int) -> bytes:
    """A Type3 glyph drawing `text` (one character or a ligature) as a 1-bit image mask, in a
    1000-unit em: how TeX bitmap (PK) fonts reach PDF."""
    import zlib as _zlib

    unit = 1000 / pixels_per_em
    advance = round(font.getlength(text) * unit)
    mask = font.getmask(text, mode="1")
    width, height = mask.size
    if not width or not height:
        return b"%d 0 d0" % advance
    left, _, _, bottom = font.getbbox(text)
    ascent = font.getmetrics()[0]
    stride = (width + 7) // 8
    rows = bytearray(stride * height)
    for y in range(height):
        for x in range(width):
            if mask.getpixel((x, y)):
                rows[y * stride + x // 8] |= 0x80 >> (x % 8)
    data = _zlib.compress(bytes(rows), 9)
    x0, y0 = left * unit, (ascent - bottom) * unit
    return (b"%d 0 %d %d %d %d d1 q %.2f 0 0 %.2f %.2f %.2f cm BI /W %d /H %d /IM true /BPC 1 /D [1 0] "
            b"/F /Fl /L %d ID " % (advance, round(x0), round(y0), round(x0 + width * unit),
                                   round(y0 + height * unit), width * unit, height * unit, x0, y0,
                                   width, height, len(data)) + data + b"\nEI Q")


def bitmap_type3_font(writer: Writer, glyphs: dict[int, tuple[str, str]], font_path: str,
                      to_unicode: dict[int, str] | None = None, pixels_per_em: int = 100) -> int:
    """A Type3 font of bitmap glyphs rendered from a TrueType font. `glyphs`: code -> (glyph name,
    text drawn). No ToUnicode unless `to_unicode` (code -> what it claims) is given: with names
    outside the Adobe Glyph List a PDF reader can only return the codes."""
    from PIL import ImageFont

    font = ImageFont.truetype(font_path, pixels_per_em)
    codes = sorted(glyphs)
    procs = {code: writer.add(stream(_glyph_procedure(font, glyphs[code][1], pixels_per_em))) for code in codes}
    charprocs = writer.add(b"<< " + b" ".join(b"/%s %d 0 R" % (glyphs[c][0].encode(), procs[c]) for c in codes) + b" >>")
    differences = b" ".join(b"%d /%s" % (c, glyphs[c][0].encode()) for c in codes)
    advances = {c: round(font.getlength(glyphs[c][1]) * 1000 / pixels_per_em) for c in codes}
    widths = b" ".join(b"%d" % advances.get(c, 0) for c in range(codes[0], codes[-1] + 1))
    extra = b""
    if to_unicode:
        cmap = ["/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
                "/CMapName /Custom def /CMapType 2 def", "1 begincodespacerange <00> <FF> endcodespacerange",
                f"{len(to_unicode)} beginbfchar"]
        cmap += [f"<{c:02X}> <{text.encode('utf-16-be').hex().upper()}>" for c, text in sorted(to_unicode.items())]
        cmap += ["endbfchar", "endcmap CMapName currentdict /CMap defineresource pop end end"]
        extra = b" /ToUnicode %d 0 R" % writer.add(stream("\n".join(cmap).encode()))
    return writer.add(
        b"<< /Type /Font /Subtype /Type3 /FontBBox [-200 -300 1200 1000] /FontMatrix [0.001 0 0 0.001 0 0] "
        b"/CharProcs %d 0 R /Encoding << /Type /Encoding /Differences [%s] >> /FirstChar %d /LastChar %d "
        b"/Widths [%s] /Resources << >>%s >>" % (charprocs, differences, codes[0], codes[-1], widths, extra))


def show_lines(font: str, encoded_lines: list[bytes], size: int = 13, top: int = 740) -> bytes:
    """A content stream showing already-encoded lines (byte strings of glyph codes)."""
    ops = [b"BT /%s %d Tf 72 %d Td %d TL" % (font.encode(), size, top, round(size * 1.5))]
    for line in encoded_lines:
        escaped = line.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
        escaped = escaped.replace(b"\r", b"\\r").replace(b"\n", b"\\n")
        ops.append(b"(" + escaped + b") Tj T*")
    ops.append(b"ET")
    return b"\n".join(ops)
