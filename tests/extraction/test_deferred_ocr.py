"""OCR by an engine in the function process (Gemini through the vertex backend), for deployments
without tesseract: the worker returns the pages that need OCR as PNGs it made itself, and
extract_document has them read by its `ocr` callable before page offsets, chunks and statistics.

The worker tests run in a worker whose PATH has no tesseract, as on the Cloud Functions runtime."""

from __future__ import annotations

import base64
import io
import os
import time

import pytest
from PIL import Image, PngImagePlugin

from contentflow.errors import PermanentError, TransientError, UnreadableDocument
from contentflow.extraction import ExtractionLimits, deferred, extract_document
from contentflow.extraction.parsed import Parsed

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def no_tesseract(tmp_path_factory):
    """extract_document's sandbox replaced by one whose worker cannot find tesseract."""
    from contentflow.extraction import core
    from contentflow.extraction.sandbox import Sandbox

    with pytest.MonkeyPatch.context() as patch:
        with pytest.MonkeyPatch.context() as path:  # the worker copies the environment as it starts
            path.setenv("PATH", str(tmp_path_factory.mktemp("empty-path")))
            sandbox = Sandbox()
            sandbox.warm_up()
        patch.setattr(core, "SANDBOX", sandbox)
        try:
            yield sandbox
        finally:
            sandbox.close()


class Recorder:
    """A stand-in OCR engine: records each image and answers `answer(image, call_number)`."""

    def __init__(self, answer=lambda image, n: f"text of a {image.width}x{image.height} image"):
        self.answer, self.calls = answer, []

    def __call__(self, png: bytes, mime: str) -> str:
        assert mime == "image/png" and png.startswith(PNG_MAGIC)
        image = Image.open(io.BytesIO(png))
        image.load()
        self.calls.append({"image": image, "bytes": len(png)})
        return self.answer(image, len(self.calls))


def run(data: bytes, filename: str, ocr, **overrides):
    return extract_document(data, filename=filename, declared_content_type=None,
                            limits=ExtractionLimits(**overrides), ocr=ocr, ocr_name="fake")


def png_bytes(image: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **options)
    return out.getvalue()


def lines(*texts: str, width: int = 800) -> Image.Image:
    from corpus.documents import render_lines  # samples/ is on the path (see support.py)

    return render_lines(list(texts), size=28, width=width)


# --- the worker defers the pages, no tesseract needed -------------------------------------------

def test_without_an_ocr_engine_the_worker_needs_tesseract(no_tesseract):
    from contentflow.extraction.sandbox import WorkerUnavailable

    with pytest.raises(WorkerUnavailable, match="tesseract command is not installed"):
        extract_document(png_bytes(lines("Harbour crane")), filename="a.png", declared_content_type=None,
                         limits=ExtractionLimits())


def test_png_is_read_by_the_engine_from_a_prepared_png(no_tesseract):
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "Harbour crane")
    ocr = Recorder()
    big = lines("Harbour crane", width=1200).convert("RGB").resize((1200, 600))
    result = run(png_bytes(big, pnginfo=info), "crane.png", ocr, ocr_max_pixels=200_000)
    [call] = ocr.calls
    image = call["image"]
    # Prepared as for tesseract: greyscale, scaled to ocr_max_pixels; only pixels, no file metadata.
    assert image.mode == "L" and image.width * image.height <= 200_000 and image.width < 1200
    assert "Comment" not in image.info
    assert result.text == f"text of a {image.width}x{image.height} image"
    assert result.extractor == "fake" and result.pages_ocred == 1
    assert result.page_count == 1 and result.page_starts == [0] and result.chunks[0].page == 1
    assert result.statistics()["extractor"] == "fake"


def test_tiff_frames_are_read_in_order_at_their_page_offsets(no_tesseract):
    frames = [lines(f"Frame {n}", width=300 + 100 * n) for n in range(3)]
    tiff = io.BytesIO()
    frames[0].save(tiff, "TIFF", save_all=True, append_images=frames[1:])
    ocr = Recorder(lambda image, n: f"Page {n} is {image.width} pixels wide.")
    result = run(tiff.getvalue(), "fax.tiff", ocr)
    assert [c["image"].width for c in ocr.calls] == [300, 400, 500]
    assert result.text == "Page 1 is 300 pixels wide.\n\nPage 2 is 400 pixels wide.\n\nPage 3 is 500 pixels wide."
    assert result.page_starts == [0, 28, 56] and result.page_of(result.text.index("Page 3")) == 3
    assert result.pages_ocred == 3 and result.page_count == 3 and result.extractor == "fake"
    # max_ocr_pages: the worker sends no more than that.
    ocr = Recorder()
    result = run(tiff.getvalue(), "fax.tiff", ocr, max_ocr_pages=2)
    assert len(ocr.calls) == 2 and result.pages_ocred == 2 and result.page_count == 3
    assert result.warnings == ["only the first 2 of 3 pages were OCRed"]


def _pdf(pages: list[str | None]) -> bytes:
    """One page per item: its text layer, or None for a scan (an image, a "Page n" stamp)."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out)
    for number, text in enumerate(pages, 1):
        if text is None:
            image = lines("Invoice 4711 for the harbour crane", width=900)
            pdf.drawImage(ImageReader(image), 36, 600, image.width * 0.5, image.height * 0.5)
            pdf.drawString(500, 20, f"Page {number}")
        else:
            pdf.drawString(72, 700, text)
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def test_scanned_pdf_pages_are_read_in_place_and_a_stamp_stays_when_ocr_finds_nothing(no_tesseract):
    data = _pdf(["The first page has a proper text layer.", None, "The third page has one too.", None])
    answers = {1: "Invoice 4711 for the harbour crane", 2: "   "}
    ocr = Recorder(lambda image, n: answers[n])
    result = run(data, "mixed.pdf", ocr, ocr_max_pixels=1_000_000)
    assert len(ocr.calls) == 2
    assert all(c["image"].mode == "L" and c["image"].width * c["image"].height <= 1_000_000 for c in ocr.calls)
    assert result.text == ("The first page has a proper text layer.\n\nInvoice 4711 for the harbour crane\n\n"
                           "The third page has one too.\n\nPage 4")
    assert [result.page_of(result.text.index(s)) for s in ("first", "Invoice", "third", "Page 4")] == [1, 2, 3, 4]
    assert result.extractor == "pypdfium2+fake" and result.pages_ocred == 2 and result.page_count == 4
    # Text-layer pages need no engine: no call, no engine in the name.
    text_only = run(_pdf(["Only text here, nothing scanned at all."]), "text.pdf", Recorder())
    assert text_only.extractor == "pypdfium2" and text_only.pages_ocred == 0


def test_pdf_pages_past_max_ocr_pages_are_not_sent(no_tesseract):
    ocr = Recorder(lambda image, n: f"Scanned page number {n}")
    result = run(_pdf([None, None, None]), "scans.pdf", ocr, max_ocr_pages=1, ocr_max_pixels=500_000)
    assert len(ocr.calls) == 1 and result.pages_ocred == 1
    assert result.text == "Scanned page number 1\n\nPage 2\n\nPage 3"
    assert result.warnings == ["2 page(s) without a text layer were not OCRed (limit 1)"]


def test_nothing_read_is_no_text_with_the_formats_reason(no_tesseract):
    with pytest.raises(UnreadableDocument) as failure:
        run(png_bytes(lines("Harbour crane")), "a.png", Recorder(lambda image, n: ""))
    assert failure.value.reason == "no text found: OCR found no text in the image"
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out)
    pdf.drawImage(ImageReader(lines("Invoice")), 36, 600, 200, 50)  # a scan without a stamp
    pdf.showPage()
    pdf.save()
    with pytest.raises(UnreadableDocument) as failure:
        run(out.getvalue(), "scan.pdf", Recorder(lambda image, n: ""))
    assert failure.value.reason == "no text found: 1 page with images but no text layer; OCR found no text in 1 page image"


def test_ocr_text_past_max_text_chars_is_cut_with_a_warning(no_tesseract):
    result = run(_pdf([None, None]), "long.pdf", Recorder(lambda image, n: f"word{n} " * 300), max_text_chars=1000)
    assert result.truncated and len(result.text) <= 1000 and result.text.startswith("word1 ")
    assert result.warnings == ["text cut at 1,000 characters; the rest was not extracted"]


def test_engine_failures(no_tesseract):
    data = png_bytes(lines("Harbour crane"))

    def failing(error):
        def ocr(png, mime):
            raise error
        return ocr

    with pytest.raises(TransientError, match="429"):  # the step is retried
        run(data, "a.png", failing(TransientError("Vertex AI OCR failed after 3 attempts: 429")))
    with pytest.raises(UnreadableDocument) as failure:
        run(data, "a.png", failing(PermanentError("Vertex AI refused OCR: 400 INVALID_ARGUMENT: bad image")))
    assert failure.value.reason == "OCR failed on page 1: Vertex AI refused OCR: 400 INVALID_ARGUMENT: bad image"


def test_the_deadline_covers_the_engine_calls(no_tesseract):
    tiff = io.BytesIO()
    frame = lines("Frame")
    frame.save(tiff, "TIFF", save_all=True, append_images=[frame, frame, frame])
    slow = Recorder(lambda image, n: time.sleep(0.6) or "text")
    with pytest.raises(UnreadableDocument) as failure:
        run(tiff.getvalue(), "slow.tiff", slow, timeout_s=1.0)
    assert failure.value.reason == "extraction timed out after 1 s"
    assert len(slow.calls) < 4  # no call starts after the deadline


# --- the parent's half on its own (deferred.complete) ----------------------------------------------

def _parsed(pages: list[str], images: list[dict]) -> Parsed:
    return Parsed(text="", extractor="", pages=pages, ocr_images=images, no_text_reason="no text found: x")


def _item(page: int, image: Image.Image | None = None) -> dict:
    return {"page": page, "png": base64.b64encode(png_bytes(image or Image.new("L", (8, 8), 255))).decode()}


def test_the_parent_does_not_trust_the_worker_with_max_ocr_pages_or_page_numbers():
    ocr = Recorder(lambda image, n: f"page text {n}")
    parsed = deferred.complete(_parsed(["", "", ""], [_item(0), _item(1), _item(2)]), ocr, "fake",
                               limits=ExtractionLimits(max_ocr_pages=2), deadline=time.monotonic() + 60)
    assert len(ocr.calls) == 2 and parsed.pages_ocred == 2 and parsed.extractor == "fake"
    assert parsed.text.strip() == "page text 1\n\npage text 2" and parsed.page_starts[:2] == [0, 13]
    for bad in ({"page": 3, "png": _item(0)["png"]}, {"page": "0", "png": _item(0)["png"]},
                {"page": 0, "png": base64.b64encode(b"GIF89a").decode()}, {"page": 0, "png": "not base64!"},
                {"page": 0}):
        with pytest.raises(UnreadableDocument, match="^parser crashed: malformed reply"):
            deferred.complete(_parsed(["", "", ""], [bad]), Recorder(), "fake", limits=ExtractionLimits(),
                              deadline=time.monotonic() + 60)


def test_no_call_starts_after_the_deadline():
    slow = Recorder(lambda image, n: time.sleep(0.15) or "text")
    with pytest.raises(UnreadableDocument, match="^extraction timed out after 60 s$"):
        deferred.complete(_parsed(["", "", ""], [_item(0), _item(1), _item(2)]), slow, "fake",
                          limits=ExtractionLimits(), deadline=time.monotonic() + 0.2)
    assert len(slow.calls) == 2


# --- bounded images ------------------------------------------------------------------------------

def _noise(width: int, height: int) -> Image.Image:
    return Image.frombytes("L", (width, height), os.urandom(width * height))  # PNG cannot compress it


def test_a_png_over_its_share_is_scaled_down_until_it_fits():
    image = _noise(600, 600)
    assert len(png_bytes(image)) > 300_000
    png = deferred.encode_png(image, 100_000)
    assert len(png) <= 100_000 and png.startswith(PNG_MAGIC)
    smaller = Image.open(io.BytesIO(png))
    assert smaller.mode == "L" and smaller.width < 600
    assert len(deferred.encode_png(image, deferred.MAX_PNG_BYTES)) > 300_000  # within its share: as it is


def test_the_page_images_of_one_reply_stay_within_the_budget():
    pages = deferred.Deferred(budget=400_000)
    for index in range(4):
        pages.add(index, _noise(500, 500), pages_left=4 - index)  # 250 KB each as they are
    sizes = [len(base64.b64decode(item["png"])) for item in pages.images]
    assert [item["page"] for item in pages.images] == [0, 1, 2, 3]
    # Each may use an equal share of what the pages before it left: the total never exceeds it.
    assert sum(sizes) <= 400_000 and sizes[0] <= 100_000 and max(sizes) < 250_000


def test_only_pixels_leave_for_the_engine_never_the_files_own_metadata(no_tesseract):
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "private note of the author")
    seen = []
    extract_document(png_bytes(lines("Harbour crane").convert("RGB"), pnginfo=info), filename="a.png",
                     declared_content_type=None, limits=ExtractionLimits(),
                     ocr=lambda png, mime: seen.append(png) or "Harbour crane")
    [png] = seen
    assert Image.open(io.BytesIO(png)).info == {} and b"private note" not in png


# --- the whole path through the real SDK ------------------------------------------------------------

def test_vertex_backend_reads_a_png_through_the_real_sdk(no_tesseract, monkeypatch):
    from contentflow.inference.options import InferenceOptions
    from contentflow.inference.vertex import VertexBackend
    from local.vertexfake import FakeVertex

    fake = FakeVertex(port=0).start()
    backend = None
    try:
        monkeypatch.setenv("VERTEX_AI_EMULATOR_HOST", fake.host)
        options = InferenceOptions(backend="vertex", timeout_s=10.0, retry_initial_s=0.001, retry_max_s=0.01)
        backend = VertexBackend(options, "test-project", 768)
        # The fake reads the pixels it is sent with the local tesseract (a stand-in for Gemini's vision).
        data = png_bytes(lines("RECHNUNG 2026-0042", "Summe: 120 EUR").convert("RGB"))
        result = extract_document(data, filename="rechnung.png", declared_content_type="image/png",
                                  limits=ExtractionLimits(), ocr=backend.ocr_image)
        assert "RECHNUNG 2026-0042" in result.text and "120 EUR" in result.text
        assert result.extractor == "gemini" and result.pages_ocred == 1
        stats = fake.stats()
        assert stats["refusals"] == [] and list(stats["answered"]) == [f"{options.generation_model}:generateContent"]
        [request] = fake.recent_requests(method="generateContent")
        [image] = [p["inlineData"] for p in request["body"]["contents"][-1]["parts"] if "inlineData" in p]
        assert image.get("mimeType", image.get("mime_type")) == "image/png"  # the SDK may send snake_case
        sent = base64.urlsafe_b64decode(image["data"] + "=" * (-len(image["data"]) % 4))  # the SDK's encoding
        assert sent.startswith(PNG_MAGIC) and sent != data  # the worker's PNG, not the uploaded file

        fake.add_fault("unavailable", count=10)  # beyond the backend's quick retries: retry the step
        with pytest.raises(TransientError, match="503"):
            extract_document(data, filename="rechnung.png", declared_content_type=None,
                             limits=ExtractionLimits(), ocr=backend.ocr_image)
    finally:
        if backend is not None:
            backend.close()
        fake.stop()


# --- the extract step --------------------------------------------------------------------------

class _Blobs:
    def __init__(self, data: bytes):
        self.data, self.written = data, {}

    def read(self, *_):
        return self.data

    def write(self, bucket, name, data, content_type):
        self.written[name] = data
        return f"gs://{bucket}/{name}"


def _step_inputs(backend_name: str, data: bytes):
    from types import SimpleNamespace

    settings = SimpleNamespace(extraction=ExtractionLimits(), inference=SimpleNamespace(backend=backend_name),
                               bucket=lambda name: name)
    source = SimpleNamespace(size=len(data), bucket="inbox", name="scan.png", generation=1, md5_hash=None,
                             content_type="image/png")
    return settings, SimpleNamespace(id="doc1", source=source, stats={}, outputs={})


def test_extract_step_uses_the_vertex_backends_ocr(no_tesseract):
    from contentflow.steps.extract import build

    class Backend:
        def ocr_image(self, image_bytes, mime_type):
            return "Read by the backend"

    class Ports:
        built = 0

        @property
        def inference(self):
            Ports.built += 1
            return Backend()

    data = png_bytes(lines("Harbour crane"))
    ports = Ports()
    ports.settings, doc = _step_inputs("vertex", data)
    ports.blobs = _Blobs(data)
    updates = build(ports)(doc)
    assert updates["stats"]["extraction"]["extractor"] == "gemini"
    assert ports.blobs.written["doc1/text.txt"] == b"Read by the backend" and Ports.built == 1


def test_extract_step_with_the_local_backend_builds_no_backend_and_keeps_tesseract(monkeypatch):
    from contentflow.extraction import core, sandbox
    from contentflow.steps.extract import build

    monkeypatch.setattr(core, "SANDBOX", sandbox.SANDBOX)  # the worker that has tesseract

    class Ports:
        @property
        def inference(self):
            raise AssertionError("the local backend must not be built by the extract step")

    data = png_bytes(lines("Harbour crane"))
    ports = Ports()
    ports.settings, doc = _step_inputs("local", data)
    ports.blobs = _Blobs(data)
    updates = build(ports)(doc)
    assert updates["stats"]["extraction"]["extractor"] == "tesseract"
