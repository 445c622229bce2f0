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
