"""What extracting each sample must give: `ok` with phrases that must (and must not) be in the
text and the metadata, or `failed` with the exact reason a person will read.

Used by tests/extraction and meant for the integration test that runs the corpus through the
local stack. Paths are relative to samples/. A case with `limits` holds only under those
overrides of ExtractionLimits (env CONTENTFLOW_EXTRACTION__<NAME>); a case marked `generated`
is written by `make_corpus.py --big` into samples/hostile/generated/ (git-ignored).

    import importlib.util
    spec = importlib.util.spec_from_file_location("expectations", "samples/expectations.py")
    expectations = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(expectations)
    for case in expectations.CASES: ...
"""

from dataclasses import dataclass, field
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class Case:
    path: str
    outcome: str  # "ok" or "failed"
    reason: str | None = None  # for "failed": the exact UnreadableDocument.reason
    phrases: tuple[str, ...] = ()  # must be in the text (whitespace-normalised)
    absent: tuple[str, ...] = ()  # must not be (boilerplate)
    mime_type: str | None = None
    page_count: int | None = None
    title: str | None = None
    author: str | None = None
    language: str | None = None
    created: str | None = None  # ISO date prefix, e.g. "2024-10-14"
    pages_ocred: int | None = None
    phrase_pages: tuple[tuple[str, int], ...] = ()  # (phrase, page) for paged formats' chunks
    limits: dict = field(default_factory=dict)
    generated: bool = False
    ocr: bool = False  # needs tesseract: seconds, not milliseconds
    warnings: tuple[str, ...] = ()  # each must be part of one of the record's warnings
    # (phrase, kind): where the phrase's text came from, "body", "header", "footnote", "comment",
    # "annotation", ... (Extraction.source_at; parsed.SEGMENT_KINDS lists the kinds)
    phrase_sources: tuple[tuple[str, str], ...] = ()

    @property
    def file(self) -> Path:
        return SAMPLES / self.path


def ok(path: str, *phrases: str, **fields) -> Case:
    return Case(path, "ok", phrases=phrases, **fields)


def failed(path: str, reason: str, **fields) -> Case:
    return Case(path, "failed", reason=reason, **fields)


DOCUMENTS = [
    ok("documents/quarterly-report-q3-2024.pdf", "Net revenue grew by fourteen percent",
       "The full-year guidance of 700 million euros", mime_type="application/pdf", page_count=12,
       title="Harbour Logistics Quarterly Report Q3 2024", author="Mara Lindqvist", language="en",
       created="2024-10-14", pages_ocred=0,
       phrase_pages=(("third quarter 2024", 1), ("Net revenue grew", 3), ("full-year guidance", 12))),
    ok("documents/scanned-letter.pdf", "riverside workshop", "held in escrow", "Daniel Finch",
       mime_type="application/pdf", page_count=1, pages_ocred=1, language="en", ocr=True),
    ok("documents/solar-battery-brochure.pdf", "13.5 kilowatt hours", "Ten year warranty",
       mime_type="application/pdf", page_count=3, title="Evergreen Solar Home Battery",
       author="Evergreen Energy Design Team", created="2024-02-01",
       phrase_pages=(("Ten year warranty", 3),)),
    ok("documents/team-handbook.docx", "# Welcome", "## On-call rotation",
       "- Acknowledge every page within fifteen minutes.", "Grafana | Dashboards and alerts | Observability guild",
       mime_type=DOCX, title="Team Handbook for New Engineers", author="Priya Raman", language="en",
       created="2024-10-14"),
    ok("documents/allotment-committee-minutes.docx", "second rainwater tank",
       "Order the rainwater tank | Greta | 30 April",
       "Decision log: the compost bins move to the north gate.",  # inside a content control
       mime_type=DOCX, title="Minutes of the Garden Allotment Committee", author="Tomasz Nowak"),
    ok("documents/night-trains-blog-post.html", "dedicated path through the freight yards",
       "Nothing motivates a crew like a number",
       absent=("Accept all cookies", "Subscribe to our newsletter", "Related articles", "dataLayer",
               "All rights reserved", "Log in to My Journeys", "font-family", "Share this post"),
       mime_type="text/html", title="Why our night trains run on time", author="Elena Sørensen",
       language="en", created="2024-01-22"),
    ok("documents/fahrradbruecke-artikel.html", "Die Brücke ist 180 Meter lang",
       "Bürgermeisterin Anja Keller", "gestiegene Stahlpreise",
       absent=("Anmelden", "Impressum", "Weitere Nachrichten", "trackPageView", "Startseite"),
       mime_type="text/html", title="Neue Fahrradbrücke verbindet die Altstadt mit dem Hafen",
       language="de", created="2024-06-08"),
    ok("documents/tidewater-release-notes.md", "Harmonic constants for the Severn estuary",
       mime_type="text/markdown", title="Release notes for Tidewater 3.2", language="en"),
    ok("documents/tidewater-api-guide.md", "sixty requests per minute", mime_type="text/markdown",
       title="Tidewater API guide"),
    ok("documents/kerrera-field-notes.txt", "forty-one grey seals", "Zoë recommended the rhubarb crumble",
       mime_type="text/plain", language="en"),
    ok("documents/conseil-de-quartier-cp1252.txt", "jardin partagé derrière l'école élémentaire",
       "rue des Tanneurs", mime_type="text/plain", language="fr"),
    ok("documents/library-inventory-utf16.txt", "adult fiction, 2,140 volumes", "donated globe from 1954",
       mime_type="text/plain", language="en"),
    ok("documents/seed-catalogue.json", "name: Crimson Flowered Broad Bean", "publisher: Fenwick Seed Cooperative",
       mime_type="application/json"),
    ok("documents/weather-station.json", "wind: north-westerly gale", "technician: Ines Moreau",
       mime_type="application/json"),
    ok("documents/sales-q3.csv", "region: South; product: Insulated bottle; units: 2310; revenue_eur: 57750",
       mime_type="text/csv"),
    ok("documents/kontakte.csv", "Name: Käthe Schröder; Straße: Gartenstraße 19; Ort: Göttingen",
       mime_type="text/csv", language="de"),
    ok("documents/whiteboard-photo.png", "Ship the invoice export", "Plan the database upgrade",
       mime_type="image/png", page_count=1, pages_ocred=1, ocr=True),
    ok("documents/bakery-receipt.jpg", "CORNER BAKERY", "Sourdough loaf", mime_type="image/jpeg",
       page_count=1, ocr=True),
    ok("documents/pilot-station-fax.tiff", "FAX COVER SHEET", "enter the channel at dawn",
       mime_type="image/tiff", page_count=2, pages_ocred=2, ocr=True,
       phrase_pages=(("FAX COVER SHEET", 1), ("berth seven clear", 2))),
    # Issue 13: text a viewer shows that a plain text-layer reader gets wrong (corpus/pdf_parts.py).
    ok("documents/parish-newsletter-glyph-codes.pdf", "The village hall roof was repaired in March",
       "after the blackbirds have left their nests", "Contact the editor, Ruth Pemberton",
       mime_type="application/pdf", page_count=3, pages_ocred=2, language="en", ocr=True,
       phrase_pages=(("jumble sale", 1), ("Choir practice", 2), ("summer edition", 3)),
       warnings=("text layer is glyph codes, not text, on 2 pages, OCRed instead: page 1: ",
                 "page 2: 100 % private-use or unmapped characters")),
    ok("documents/tex-ligature-codes.pdf", "The office staff find it efficient to file the affidavits first.",
       "A fluent offer of coffee and waffles fills the baffled buffet.",
       "Officials reflect on the difficult traffic in the final fifty days.",
       absent=("ecient", "adavits", " nd "), mime_type="application/pdf", page_count=1, pages_ocred=0,
       warnings=("ligatures read from font codes (ff, fi, fl, ffi, ffl) on 1 page: 1",)),
    ok("documents/reviewed-draft-annotations.pdf", "Hello World",
       "Check the opening hours with the harbour master before printing.", "Approved",
       "Photo of the new pontoon goes here.", absent=("internal review marker",),
       mime_type="application/pdf", page_count=1, pages_ocred=0,
       phrase_sources=(("Hello World", "annotation"), ("Check the opening hours", "annotation"),
                       ("Approved", "annotation"), ("Photo of the new pontoon", "annotation"))),
    ok("documents/volunteer-registration-form.pdf", "Harbour festival volunteer registration",
       "Full name: Amara Okafor", "Email: amara.okafor@example.org", "Preferred shift: Saturday morning",
       "Role: Kitchen", "First aid certificate: yes", "Newsletter: no",
       absent=("tide-pool-5512",), mime_type="application/pdf", page_count=1, pages_ocred=0,
       phrase_sources=(("Harbour festival volunteer registration", "body"), ("Full name: Amara Okafor", "form"),
                       ("Email: amara.okafor@example.org", "form"), ("Preferred shift: Saturday", "form"),
                       ("Role: Kitchen", "form"), ("First aid certificate: yes", "form"),
                       ("Newsletter: no", "form"))),
    # Issue 13: DOCX text outside the body, each phrase marked with where it came from (corpus/docx_parts.py).
    ok("documents/moorings-survey-notes-comments.docx", "The survey counted 214 moorings in use",
       "Pontoon | Moorings", "Kestrel Bay Harbour Board", "Prepared by the harbour office",
       "Counted from the water on 3 and 4 September", "Sources: the harbour dues ledger",
       "Tomas Reid: Check the north pontoon figure", "Ines Carvalho: Confirmed with the dive team",
       mime_type=DOCX, title="Annual Survey of the Town Moorings 2024", author="Ines Carvalho", language="en",
       phrase_sources=(("The survey counted 214 moorings", "body"), ("Appendix: mooring register", "body"),
                       ("Kestrel Bay Harbour Board", "header"), ("draft for the board meeting", "header"),
                       ("Kestrel Bay Harbour Board, moorings survey", "header"),
                       ("Prepared by the harbour office", "footer"),
                       ("Counted from the water", "footnote"), ("2019 inspection standard", "footnote"),
                       ("Sources: the harbour dues ledger", "endnote"),
                       ("Tomas Reid: Check the north pontoon", "comment"),
                       ("Ines Carvalho: Confirmed", "comment"))),
    ok("documents/berth-letter-altchunk-html.docx", "Dear Ms Okonkwo,",
       "confirm berth 14 on the south pontoon", "Length overall | 9.8 m", "Harbour master, Kestrel Bay",
       mime_type=DOCX, title="Berth allocation for the 2025 season", language="en",
       phrase_sources=(("Dear Ms Okonkwo", "body"), ("confirm berth 14", "body"), ("Length overall", "body"),
                       ("Harbour master, Kestrel Bay", "body"))),
    ok("documents/dredging-notice-altchunk-mht.docx", "Dredging of the inner channel starts on 18 November",
       "shows two green lights by night", "Bélanger Marine carries out the work",  # windows-1252, quoted-printable
       mime_type=DOCX, title="Notice to mariners 7/2024", language="en",
       phrase_sources=(("Dredging of the inner channel", "body"), ("two green lights", "body"),
                       ("Bélanger Marine", "body"))),
    # The two demo texts that came with the walking skeleton.
    ok("documents/release-notes.txt", "Duplicate upload events are recognised", mime_type="text/plain"),
    ok("documents/welcome.md", "How a document travels", mime_type="text/markdown",
       title="Welcome to contentflow"),
]

HOSTILE = [
    failed("hostile/empty.txt", "empty file: no text to extract"),
    failed("hostile/whitespace-only.md", "empty file: no text to extract"),
    failed("hostile/random-bytes.txt", "binary data in a text/plain file: not text"),
    failed("hostile/binary-data.csv", "binary data in a text/csv file: not text"),
    failed("hostile/no-encoding-fits.txt", "invalid text encoding: no known text encoding fits the bytes"),
    failed("hostile/damaged-utf8.txt", "invalid text encoding: damaged UTF-8 (120 invalid bytes in 3,390)"),
    failed("hostile/invoice.pdf", "unsupported type: application/x-msdownload"),
    failed("hostile/notes.txt", "unsupported type: application/x-executable"),
    failed("hostile/monthly-report.txt", "unsupported type: application/gzip"),
    failed("hostile/legacy-word.doc", "unsupported type: application/msword"),
    failed("hostile/spreadsheet.xlsx",
           "unsupported type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    failed("hostile/animation.gif", "unsupported type: image/gif"),
    failed("hostile/encrypted.pdf", "encrypted PDF: password required"),
    failed("hostile/password-protected.docx", "encrypted Office document: password required"),
    failed("hostile/malformed.pdf", "malformed PDF: the file is damaged or not a PDF"),
    failed("hostile/truncated.pdf", "malformed PDF: the file is damaged or not a PDF"),
    failed("hostile/not-a-pdf.pdf", "malformed PDF: not a PDF file (no valid signature)"),
    failed("hostile/blank-pages.pdf", "no text found: 3 pages with no text layer and no images to OCR"),
    failed("hostile/too-many-pages.pdf", "too many pages: 2,001 > 2,000"),
    failed("hostile/zip-ratio-bomb.docx", "compression bomb: word/document.xml expands 1026 times (limit 100)"),
    failed("hostile/lying-sizes.docx", "DOCX too large when unpacked: 3.0 GB > 200 MB"),
    failed("hostile/entity-bomb.docx",
           "malformed DOCX: word/document.xml declares a DTD (not allowed in Office files)"),
    failed("hostile/truncated.docx", "malformed DOCX: not a valid zip archive"),
    failed("hostile/missing-body.docx", "malformed DOCX: no main document part (word/document.xml)"),
    failed("hostile/deeply-nested.html", "HTML nested too deeply: more than 200 levels"),
    failed("hostile/only-boilerplate.html", "no text found: the page has no readable content"),
    failed("hostile/deeply-nested.json", "JSON nested too deeply: more than 200 levels"),
    failed("hostile/broken.json", "malformed JSON: Expecting value: line 1 column 42 (char 41)"),
    failed("hostile/pixel-bomb.png", "image too large: 2500 megapixels > 100 megapixels"),
    failed("hostile/pixel-bomb.jpg", "image too large: 4225 megapixels > 100 megapixels"),
    failed("hostile/truncated.png", "malformed image: image file is truncated"),
    failed("hostile/blank-scan.png", "no text found: OCR found no text in the image", ocr=True),
    # 40 scanned pages in 35 kB: at the default limits the first 20 are OCRed (about 10 s) and
    # the rest skipped with a warning; with a short timeout it is the timeout case.
    failed("hostile/ocr-heavy.pdf", "extraction timed out after 2 s", limits={"timeout_s": 2}, ocr=True),
    # Too big to commit: `make_corpus.py --big`, or built in memory by the tests.
    failed("hostile/generated/huge-212mb.txt", "file too large: 212 MB > 100 MB", generated=True),
    failed("hostile/generated/json-memory-bomb.json", "extraction ran out of memory (limit 1024 MiB)",
           generated=True),
]

CASES = DOCUMENTS + HOSTILE


def by_path() -> dict[str, Case]:
    return {case.path: case for case in CASES}
