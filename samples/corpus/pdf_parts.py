"""Sample PDFs whose text a viewer shows but a plain text-layer reader gets wrong (issue 13):
fonts without a Unicode mapping (glyph codes instead of text, ligatures as control codes), text
only in annotations, and a filled form. Hand-rolled with rawpdf.Writer: reportlab always writes a
correct ToUnicode map and cannot make any of these."""

from __future__ import annotations

from corpus import rawpdf

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # Debian package fonts-dejavu-core

# --- a newsletter whose fonts have no Unicode mapping ---------------------------------------

# Page 1: a Type3 bitmap font, codes given in order of first use from 33 and glyph names that mean
# nothing (as TeX's PK fonts reach PDF): the text layer is punctuation residue.
NEWSLETTER_PAGE_1 = [
    "Parish newsletter, spring edition",
    "The village hall roof was repaired in March",
    "by volunteers from the carpentry club.",
    "The jumble sale raised four hundred pounds",
    "for new chairs in the reading room.",
]
# Page 2: the same kind of font with a ToUnicode map that sends every code to the private-use area.
NEWSLETTER_PAGE_2 = [
    "Choir practice moves to Thursday evenings",
    "and new singers are always welcome.",
    "The churchyard hedge will be cut in May",
    "after the blackbirds have left their nests.",
]
# Page 3: an ordinary font: its text layer is read as it is, no OCR.
NEWSLETTER_PAGE_3 = [
    "Contact the editor, Ruth Pemberton, at the post office.",
    "The summer edition appears in the first week of July.",
]


def _first_use_codes(lines: list[str], first: int = 33) -> dict[str, int]:
    codes: dict[str, int] = {}
    for line in lines:
        for ch in line:
            codes.setdefault(ch, first + len(codes))
    return codes


def glyph_codes_newsletter_pdf() -> bytes:
    writer = rawpdf.Writer()
    residue_codes = _first_use_codes(NEWSLETTER_PAGE_1)
    residue = rawpdf.bitmap_type3_font(
        writer, {code: (f"g{code}", ch) for ch, code in residue_codes.items()}, FONT)
    private_codes = _first_use_codes(NEWSLETTER_PAGE_2)
    private = rawpdf.bitmap_type3_font(
        writer, {code: (f"g{code}", ch) for ch, code in private_codes.items()}, FONT,
        to_unicode={code: chr(0xE000 + code) for code in private_codes.values()})
    plain = rawpdf.helvetica(writer)
    for font, codes, lines in (("T1", residue_codes, NEWSLETTER_PAGE_1), ("T2", private_codes, NEWSLETTER_PAGE_2)):
        encoded = [bytes(codes[ch] for ch in line) for line in lines]
        writer.page(rawpdf.show_lines(font, encoded, size=16), {"T1": residue, "T2": private})
    writer.page(rawpdf.show_lines("F1", [line.encode("latin-1") for line in NEWSLETTER_PAGE_3]), {"F1": plain})
    return writer.finish()


# --- ligatures at TeX's OT1 codes, glyph names for everything else ------------------------------

LIGATURE_LINES = [
    "The office staff find it efficient to file the affidavits first.",
    "A fluent offer of coffee and waffles fills the baffled buffet.",
    "Officials reflect on the difficult traffic in the final fifty days.",
]
# OT1 (TeX's text encoding) puts ff, fi, fl, ffi, ffl at 11-15; a font with no names for them
# gives the codes, which PDFium returns as control characters.
OT1_LIGATURES = {"ffi": 14, "ffl": 15, "ff": 11, "fi": 12, "fl": 13}
_GLYPH_NAMES = {" ": "space", ".": "period", ",": "comma"}


def _encode_with_ligatures(line: str) -> bytes:
    out, i = bytearray(), 0
    while i < len(line):
        for ligature, code in OT1_LIGATURES.items():  # longest first: ffi before ff before fi
            if line.startswith(ligature, i):
                out.append(code)
                i += len(ligature)
                break
        else:
            out.append(ord(line[i]))
            i += 1
    return bytes(out)


def ligature_codes_pdf() -> bytes:
    writer = rawpdf.Writer()
    glyphs = {ord(ch): (_GLYPH_NAMES.get(ch, ch), ch) for ch in sorted(set("".join(LIGATURE_LINES)))}
    glyphs.update({code: (f"lig{code}", ligature) for ligature, code in OT1_LIGATURES.items()})
    font = rawpdf.bitmap_type3_font(writer, glyphs, FONT)
    writer.page(rawpdf.show_lines("T1", [_encode_with_ligatures(line) for line in LIGATURE_LINES]), {"T1": font})
    return writer.finish()


# --- text only in annotations -----------------------------------------------------------------


def _appearance(writer: rawpdf.Writer, font: int, width: float, height: float, lines: list[str], size: int = 12,
                border: bool = True) -> int:
    """A form XObject showing `lines` in Helvetica: what a viewer draws for the annotation."""
    ops = [b"0.2 0.2 0.6 RG 1 w 0.5 0.5 %.1f %.1f re S" % (width - 1, height - 1)] if border else []
    ops.append(b"BT /Helv %d Tf 0 0 0.4 rg 6 %.1f Td %d TL" % (size, height - size - 4, size + 3))
    ops += [rawpdf.pdf_string(line) + b" Tj T*" for line in lines]
    ops.append(b"ET")
    content = b"\n".join(ops)
    return writer.add(rawpdf.stream(content, extra=b" /Type /XObject /Subtype /Form /BBox [0 0 %.1f %.1f] "
                                    b"/Resources << /Font << /Helv %d 0 R >> >>" % (width, height, font)))


ANNOTATION_TEXTS = {
    "free_text": "Hello World",
    "sticky_note": "Check the opening hours with the harbour master before printing.",
    "square": "Photo of the new pontoon goes here.",
    "hidden": "internal review marker 7731",
}


def annotations_only_pdf() -> bytes:
    """A page with no content of its own: everything a viewer shows is an annotation (a free
    text box, a sticky note with its popup, an Approved stamp, a commented rectangle). A hidden
    annotation's text is not shown, so it must not be read either."""
    writer = rawpdf.Writer()
    font = rawpdf.helvetica(writer)
    page = writer.reserve()
    annots = []

    def annotation(subtype: bytes, rect: tuple, extra: bytes, flags: int = 4) -> int:  # 4: print
        number = writer.add(b"<< /Type /Annot /Subtype /%s /Rect [%d %d %d %d] /P %d 0 R /F %d %s >>"
                            % (subtype, *rect, page, flags, extra))
        annots.append(number)
        return number

    free_text = _appearance(writer, font, 200, 40, [ANNOTATION_TEXTS["free_text"]], size=18)
    annotation(b"FreeText", (72, 680, 272, 720), b"/Contents %s /DA (/Helv 18 Tf 0 0 0.4 rg) /AP << /N %d 0 R >>"
               % (rawpdf.pdf_string(ANNOTATION_TEXTS["free_text"]), free_text))
    note = annotation(b"Text", (300, 690, 320, 710), b"/Contents %s /Name /Comment /T (Harbour office)"
                      % rawpdf.pdf_string(ANNOTATION_TEXTS["sticky_note"]))
    popup = annotation(b"Popup", (320, 600, 520, 700), b"/Parent %d 0 R /Open false" % note)
    writer.put(note, writer.objects[note - 1][:-2] + b" /Popup %d 0 R >>" % popup)
    stamp = _appearance(writer, font, 150, 40, ["APPROVED"], size=20)
    annotation(b"Stamp", (72, 560, 222, 600), b"/Name /Approved /AP << /N %d 0 R >>" % stamp)
    box = _appearance(writer, font, 240, 120, [], border=True)
    annotation(b"Square", (72, 400, 312, 520), b"/Contents %s /C [0.2 0.2 0.6] /AP << /N %d 0 R >>"
               % (rawpdf.pdf_string(ANNOTATION_TEXTS["square"]), box))
    annotation(b"FreeText", (72, 300, 272, 340), b"/Contents %s /DA (/Helv 12 Tf 0 g)"
               % rawpdf.pdf_string(ANNOTATION_TEXTS["hidden"]), flags=2)  # 2: hidden
    writer.page(b"", {"F1": font}, annots=annots, number=page)
    return writer.finish()


# --- a filled form --------------------------------------------------------------------------

FORM_TITLE = "Harbour festival volunteer registration"
FORM_LABELS = ["Full name", "Email", "Preferred shift", "Role", "First aid certificate", "Newsletter",
               "Portal password"]
FORM_VALUES = {
    "Full name": "Amara Okafor",
    "Email": "amara.okafor@example.org",
    "Preferred shift": "Saturday morning",
    "Role": "Kitchen",
}
FORM_SECRET = "tide-pool-5512"  # in a password field: a viewer shows dots, the extractor nothing


def volunteer_form_pdf() -> bytes:
    """An AcroForm filled in: labels printed on the page, values only in the fields (text
    fields with a tooltip label, a combo box, a radio group, two checkboxes, a password field
    and an empty comments field)."""
    writer = rawpdf.Writer()
    font = rawpdf.helvetica(writer)
    page = writer.reserve()
    fields, widgets = [], []
    rows = {label: 680 - 40 * i for i, label in enumerate(FORM_LABELS + ["Comments"])}

    def widget(rect: tuple, extra: bytes) -> int:
        number = writer.add(b"<< /Type /Annot /Subtype /Widget /Rect [%d %d %d %d] /P %d 0 R /F 4 %s >>"
                            % (*rect, page, extra))
        widgets.append(number)
        return number

    def text_field(name: bytes, label: str, value: str | None, flags: int = 0) -> None:
        y = rows[label]
        shown = "*" * len(value) if value and flags & 8192 else value
        ap = _appearance(writer, font, 260, 22, [shown] if shown else [], size=11, border=False)
        value_entry = b" /V %s" % rawpdf.pdf_string(value) if value else b""
        fields.append(widget((230, y - 6, 490, y + 16), b"/FT /Tx /T (%s) /TU %s /Ff %d /DA (/Helv 11 Tf 0 g)%s "
                             b"/AP << /N %d 0 R >>" % (name, rawpdf.pdf_string(label), flags, value_entry, ap)))

    def on_off(on: bytes, size: int = 14) -> bytes:
        checked = _appearance(writer, font, size, size, ["X"], size=10)
        empty = _appearance(writer, font, size, size, [], size=10)
        return b"/AP << /N << /%s %d 0 R /Off %d 0 R >> >>" % (on, checked, empty)

    text_field(b"applicant_name", "Full name", FORM_VALUES["Full name"])
    text_field(b"applicant_email", "Email", FORM_VALUES["Email"])
    shift = FORM_VALUES["Preferred shift"]
    ap = _appearance(writer, font, 260, 22, [shift], size=11, border=False)
    fields.append(widget((230, rows["Preferred shift"] - 6, 490, rows["Preferred shift"] + 16),
                         b"/FT /Ch /Ff 131072 /T (shift) /TU (Preferred shift) /Opt [(Friday evening) "
                         b"(Saturday morning) (Sunday afternoon)] /V %s /DA (/Helv 11 Tf 0 g) /AP << /N %d 0 R >>"
                         % (rawpdf.pdf_string(shift), ap)))
    role = writer.reserve()
    kids = [widget((230 + 110 * i, rows["Role"] - 2, 244 + 110 * i, rows["Role"] + 12),
                   b"/Parent %d 0 R /AS /%s %s" % (role, b"Kitchen" if name == b"Kitchen" else b"Off", on_off(name)))
            for i, name in enumerate((b"Guide", b"Kitchen"))]
    writer.put(role, b"<< /FT /Btn /Ff 49152 /T (role) /TU (Role) /V /Kitchen /Kids [%s] >>"
               % b" ".join(b"%d 0 R" % k for k in kids))
    fields.append(role)
    for label, name, checked in (("First aid certificate", b"first_aid", True), ("Newsletter", b"newsletter", False)):
        state = b"/Yes" if checked else b"/Off"
        fields.append(widget((230, rows[label] - 2, 244, rows[label] + 12),
                             b"/FT /Btn /T (%s) /TU %s /V %s /AS %s %s"
                             % (name, rawpdf.pdf_string(label), state, state, on_off(b"Yes"))))
    text_field(b"portal_password", "Portal password", FORM_SECRET, flags=8192)
    text_field(b"comments", "Comments", None)

    printed = [rawpdf.pdf_string(FORM_TITLE) + b" Tj"]
    content = [b"BT /F1 16 Tf 72 730 Td", *printed, b"ET"]
    for label, y in rows.items():
        content.append(b"BT /F1 11 Tf 72 %d Td %s Tj ET" % (y, rawpdf.pdf_string(label + ":")))
    content.append(b"BT /F1 11 Tf 244 %d Td (Guide) Tj 110 0 Td (Kitchen) Tj ET" % (rows["Role"] + 1))
    writer.page(b"\n".join(content), {"F1": font, "Helv": font}, annots=widgets, number=page)
    return writer.finish(b" /AcroForm << /Fields [%s] /DA (/Helv 11 Tf 0 g) /DR << /Font << /Helv %d 0 R >> >> >>"
                         % (b" ".join(b"%d 0 R" % f for f in fields), font))


PDF_PARTS = {
    "parish-newsletter-glyph-codes.pdf": glyph_codes_newsletter_pdf,
    "tex-ligature-codes.pdf": ligature_codes_pdf,
    "reviewed-draft-annotations.pdf": annotations_only_pdf,
    "volunteer-registration-form.pdf": volunteer_form_pdf,
}
