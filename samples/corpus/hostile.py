"""Builders for hostile and broken files (samples/hostile/): each one exercises one limit or
failure path of the extractor. samples/expectations.py says which reason each must produce."""

from __future__ import annotations

import gzip
import io
import random
import struct
import zipfile
import zlib

from corpus import documents, rawpdf

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)


def _random(n: int, seed: int, low: int = 0, high: int = 256) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(low, high) for _ in range(n))


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data,
                       compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return out.getvalue()


def _docx_with_body(document_xml: bytes) -> bytes:
    return _zip({"[Content_Types].xml": CONTENT_TYPES.encode(), "_rels/.rels": RELS.encode(),
                 "word/document.xml": document_xml})


def zip_ratio_bomb_docx() -> bytes:
    # 50 MB of one letter deflates to ~50 kB: a 1000:1 ratio no real document has.
    body = (b'<?xml version="1.0"?><w:document xmlns:w="' + W_NS.encode() + b'"><w:body><w:p><w:r><w:t>'
            + b"A" * 50_000_000 + b"</w:t></w:r></w:p></w:body></w:document>")
    return _docx_with_body(body)


def lying_sizes_docx() -> bytes:
    """A small DOCX whose zip directory claims 3 GB of content: refused before any inflating."""
    data = bytearray(documents.handbook_docx())
    fake = 3_000_000_000
    cd = data.rfind(b"PK\x05\x06")
    cd_offset = struct.unpack_from("<I", data, cd + 16)[0]
    pos = cd_offset
    while data[pos:pos + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, pos + 28)
        name = bytes(data[pos + 46:pos + 46 + name_len])
        if name == b"word/document.xml":
            struct.pack_into("<I", data, pos + 24, fake)  # uncompressed size, central directory
            local = struct.unpack_from("<I", data, pos + 42)[0]
            struct.pack_into("<I", data, local + 22, fake)  # and in the local header
        pos += 46 + name_len + extra_len + comment_len
    return bytes(data)


def entity_bomb_docx() -> bytes:
    lol = "".join(f'<!ENTITY lol{i} "{"&lol%d;" % (i - 1) * 10}">' for i in range(1, 10))
    body = (f'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY lol0 "lol">{lol}]>'
            f'<w:document xmlns:w="{W_NS}"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p>'
            "</w:body></w:document>").encode()
    return _docx_with_body(body)


def missing_body_docx() -> bytes:
    return _zip({"[Content_Types].xml": CONTENT_TYPES.encode(), "_rels/.rels": RELS.encode(),
                 "docProps/core.xml": b'<?xml version="1.0"?><cp:coreProperties/>'})


def xlsx() -> bytes:
    return _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>",
                 "xl/worksheets/sheet1.xml": b"<worksheet/>"})


def cfb(stream_names: list[str]) -> bytes:
    """A minimal but valid OLE2 compound file holding empty streams with the given names,
    enough for a reader (or our detector) to recognise a legacy .doc or an encrypted OOXML file."""
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIIII", header, 44, 1, 1, 0, 4096, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0, 0)
    struct.pack_into("<I", header, 76, 0)  # DIFAT[0]: the FAT is sector 0
    for i in range(1, 109):
        struct.pack_into("<I", header, 76 + 4 * i, 0xFFFFFFFF)
    fat = bytearray(b"\xff" * 512)
    struct.pack_into("<II", fat, 0, 0xFFFFFFFD, 0xFFFFFFFE)  # sector 0 = FAT, sector 1 = directory
    directory = bytearray()
    entries = ["Root Entry"] + stream_names
    for i, name in enumerate(entries):
        entry = bytearray(128)
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        entry[0:len(encoded)] = encoded
        struct.pack_into("<HBB", entry, 64, len(encoded), 5 if i == 0 else 2, 1)
        right = i + 1 if 0 < i < len(entries) - 1 else 0xFFFFFFFF
        child = 1 if i == 0 and len(entries) > 1 else 0xFFFFFFFF
        struct.pack_into("<III", entry, 68, 0xFFFFFFFF, right, child)
        struct.pack_into("<II", entry, 116, 0xFFFFFFFE, 0)
        directory += entry
    directory += b"\x00" * (-len(directory) % 512)
    return bytes(header + fat + directory)


def png_pixel_bomb() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 50_000, 50_000, 1, 0, 0, 0, 0)  # 2.5 gigapixels, 1-bit grey
    idat = zlib.compress(b"\x00" * 100_000, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_pixel_bomb() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (16, 16), 255).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, 65_000, 65_000)  # height, width
    return bytes(data)


def gif_image() -> bytes:
    image = documents.render_lines(["A GIF is not on the list"], size=24, width=500)
    out = io.BytesIO()
    image.save(out, "GIF")
    return out.getvalue()


def blank_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (800, 600), 255).save(out, "PNG")
    return out.getvalue()


def blank_pages_pdf() -> bytes:
    return rawpdf.pages_document([b"", b"", b""])


def many_pages_pdf() -> bytes:
    return rawpdf.pages_document([rawpdf.text_content(["A page among many."])], share_first_stream=2000)


def ocr_heavy_pdf() -> bytes:
    """40 pages that all show the same scanned image: a tiny file that costs minutes of OCR."""

    image = documents.render_lines(["Every page of this file", "is the same scanned image."] * 8,
                                   size=30, width=1200)
    raw = image.tobytes()
    img = rawpdf.stream(raw, extra=b" /Type /XObject /Subtype /Image /Width %d /Height %d "
                        b"/ColorSpace /DeviceGray /BitsPerComponent 8" % image.size)
    n = 40
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(n))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Count %d /Kids [%s] >>" % (n, kids),
        img,
        rawpdf.stream(b"q 540 0 0 %d 36 %d cm /Im1 Do Q" % (540 * image.height // image.width, 300)),
    ]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                b"/Resources << /XObject << /Im1 3 0 R >> >> /Contents 4 0 R >>"] * n
    return rawpdf.build(objects)


def encrypted_pdf() -> bytes:
    from reportlab.lib.pdfencrypt import StandardEncryption
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1, encrypt=StandardEncryption("open-sesame", canPrint=0))
    c.drawString(72, 720, "The combination of the safe is 12-34-56.")
    c.showPage()
    c.save()
    return buf.getvalue()


def damaged_utf8() -> bytes:
    line = "Grüße aus Köln – the café’s menu is attached. ".encode("utf-8")
    broken = bytearray()
    for i in range(60):
        broken += line + (b"\xc3\x28\xff\xfe\x80" if i % 2 else b"")
    return bytes(broken)


def deep_html() -> bytes:
    return b"<html><body>" + b"<div>" * 5000 + b"deep" + b"</div>" * 5000 + b"</body></html>"


def boilerplate_only_html() -> bytes:
    return b"""<!DOCTYPE html><html><head><title>Loading...</title>
<script>document.write('<div id=app></div>'); loadBundle('/static/app.3f2a.js');</script>
<style>#app { min-height: 100vh }</style></head>
<body><nav><a href="/">Home</a> <a href="/shop">Shop</a></nav><div id="app"></div>
<noscript>Please enable JavaScript to use this site.</noscript>
<footer>&copy; 2024 Example Shop</footer><script src="/static/app.3f2a.js"></script></body></html>"""


def _pe_header() -> bytes:
    stub = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"\x80\x00\x00\x00"
    stub += b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21This program cannot be run in DOS mode.\r\r\n$"
    stub += b"\x00" * (0x80 - len(stub))
    return stub + b"PE\x00\x00\x4c\x01\x03\x00" + b"\x00" * 400


HOSTILE = {
    "empty.txt": lambda: b"",
    "whitespace-only.md": lambda: b"  \n\n\t \r\n   \n",
    "random-bytes.txt": lambda: _random(4096, seed=1),
    "binary-data.csv": lambda: _random(2048, seed=2),
    "no-encoding-fits.txt": lambda: _random(4096, seed=3, low=0x80),
    "damaged-utf8.txt": damaged_utf8,
    "invoice.pdf": _pe_header,  # a Windows program with a PDF name and content type
    "notes.txt": lambda: b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 300,
    "monthly-report.txt": lambda: gzip.compress(b"a compressed archive, not text\n" * 50, mtime=0),
    "encrypted.pdf": encrypted_pdf,
    "malformed.pdf": lambda: b"%PDF-1.7\n" + _random(3000, seed=4),
    "not-a-pdf.pdf": lambda: _random(3000, seed=5),
    "truncated.pdf": lambda: documents.quarterly_report_pdf()[:1500],
    "blank-pages.pdf": blank_pages_pdf,
    "too-many-pages.pdf": many_pages_pdf,
    "ocr-heavy.pdf": ocr_heavy_pdf,
    "zip-ratio-bomb.docx": zip_ratio_bomb_docx,
    "lying-sizes.docx": lying_sizes_docx,
    "entity-bomb.docx": entity_bomb_docx,
    "truncated.docx": lambda: documents.handbook_docx()[:20000],
    "missing-body.docx": missing_body_docx,
    "password-protected.docx": lambda: cfb(["EncryptionInfo", "EncryptedPackage"]),
    "legacy-word.doc": lambda: cfb(["WordDocument", "1Table"]),
    "spreadsheet.xlsx": xlsx,
    "deeply-nested.html": deep_html,
    "only-boilerplate.html": boilerplate_only_html,
    "deeply-nested.json": lambda: b"[" * 5000 + b"]" * 5000,
    "broken.json": lambda: b'{"title": "Spring sale", "items": [1, 2, }\n',
    "pixel-bomb.png": png_pixel_bomb,
    "pixel-bomb.jpg": jpeg_pixel_bomb,
    "truncated.png": lambda: documents.whiteboard_png()[:3000],
    "blank-scan.png": blank_png,
    "animation.gif": gif_image,
}


# Too big to commit: written by `make_corpus.py --big` into samples/hostile/generated/ (ignored).
def huge_text(size: int = 212_000_000) -> bytes:
    line = b"All work and no play makes a very large file.\n"
    return (line * (size // len(line) + 1))[:size]


def json_memory_bomb(size: int = 60_000_000) -> bytes:
    # Three bytes of input become a 56-byte list object plus a pointer: ~25x expansion in memory.
    return b"[" + b"[]," * (size // 3) + b"[]]"


BIG = {
    "huge-212mb.txt": huge_text,
    "json-memory-bomb.json": json_memory_bomb,
}
