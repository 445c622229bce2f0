"""Where text came from (issue 13): pages as [kind, text] segments, `regions` with exact offsets
through cleaning, cutting, the wire and deferred OCR, each chunk's `source`, and the search hit
that says it."""

from __future__ import annotations

import base64
import io
import json
import types

import pytest
from PIL import Image

from contentflow.errors import UnreadableDocument
from contentflow.extraction import ExtractionLimits, core, deferred, extract_document, parsed
from contentflow.extraction.chunking import Chunk, chunk_text
from contentflow.extraction.parsed import Parsed, assemble, clean, from_pages


def build(pages, max_chars=1_000_000, **meta) -> Parsed:
    return from_pages(pages, extractor="test", max_chars=max_chars, paged=True, **meta)


def marked(result) -> list[tuple[str, str]]:
    """(kind, text) of each region, as a person would check them."""
    return [(r["kind"], result.text[r["start"]:r["end"]]) for r in result.regions]


# --- parsed.py: assembling segments -----------------------------------------------------------

def test_string_pages_give_the_same_text_and_no_regions():
    result = build(["First page.", "Second\r\npage.  \n"])
    assert result.text == "First page.\n\nSecond\npage." and result.page_starts == [0, 13]
    assert result.regions == []


def test_segments_are_joined_as_paragraphs_and_marked_by_kind():
    result = build([[["body", "Body of page one."], ["footnote", "1 A footnote."]],
                    [["annotation", "Sticky note"], ["body", "Body of page two."], ["form", "Name: Ada"]]])
    assert result.text == ("Body of page one.\n\n1 A footnote.\n\n"
                           "Sticky note\n\nBody of page two.\n\nName: Ada")
    assert result.page_starts == [0, result.text.index("Sticky note")]
    assert marked(result) == [("footnote", "1 A footnote."), ("annotation", "Sticky note"), ("form", "Name: Ada")]


def test_each_segment_is_cleaned_on_its_own_so_offsets_stay_exact():
    dirty = "  Header\x07 line\r\n\r\n\r\n\r\nsecond   \n"
    result = build([[["header", dirty], ["body", "\ufeffBody\x00 text"], ["footer", "e\u0301te\f"]]])
    assert marked(result) == [("header", clean(dirty)), ("footer", "\u00e9te")]
    assert result.text == "Header line\n\nsecond\n\nBody text\n\n\u00e9te"


def test_neighbours_of_one_kind_make_one_region_and_empty_segments_vanish():
    result = build([[["body", "Body."], ["comment", "First comment."], ["comment", "  \n "],
                     ["comment", "Second comment."], ["footnote", "A note."]],
                    [["comment", "On the next page."]]])
    assert marked(result) == [("comment", "First comment.\n\nSecond comment."), ("footnote", "A note."),
                              ("comment", "On the next page.")]


def test_a_cut_inside_a_segment_keeps_the_region_inside_the_text():
    result = build([[["body", "Short body."], ["endnote", "word " * 100]]], max_chars=60)
    assert result.truncated and len(result.text) <= 60
    [region] = result.regions
    assert region["kind"] == "endnote" and region["end"] == len(result.text)
    assert result.text[region["start"]:].startswith("word word")
    assert result.warnings == [parsed.truncation_warning(60)]
    # Cut exactly before a segment: it is not recorded at all.
    result = build([[["body", "x" * 60], ["footnote", "never seen"]]], max_chars=60)
    assert result.text == "x" * 60 and result.regions == [] and result.truncated


@pytest.mark.parametrize("page", [[["sidebar", "text"]], [["body"]], [["body", 3]], 42, [("body", "ok"), "loose"]])
def test_malformed_segments_are_refused(page):
    with pytest.raises(ValueError):
        assemble([page], 1000)


def test_regions_past_the_cap_count_as_body_with_a_warning(monkeypatch):
    monkeypatch.setattr(parsed, "MAX_REGIONS", 3)
    result = build([[["annotation", f"note {n}"]] for n in range(5)])
    assert [r["kind"] for r in result.regions] == ["annotation"] * 3
    assert result.warnings == ["where text came from is marked for the first 3 regions; 2 more count as body"]


def test_segments_and_regions_survive_the_wire():
    result = build([[["body", "Body"], ["header", "Acme Ltd \ud800"]]])
    wire = json.loads(json.dumps(result.to_wire()))
    back = Parsed.from_wire(wire)
    # A lone surrogate becomes U+FFFD, one character for one: the offsets still hold.
    assert back.regions == result.regions and marked(back) == [("header", "Acme Ltd \ufffd")]
    # Deferred pages keep their segments (lone surrogates replaced, as in plain pages).
    waiting = build([[["body", ""], ["annotation", "Stamp \udfff"]], "plain"], ocr_images=[{"page": 0, "png": ""}])
    wire = json.loads(json.dumps(waiting.to_wire()))
    assert wire["pages"] == [[["body", ""], ["annotation", "Stamp \ufffd"]], "plain"]
    assert Parsed.from_wire(wire).pages == wire["pages"]


# --- deferred OCR: the OCR text becomes the page's body, its other segments stay -----------------

def _png() -> str:
    out = io.BytesIO()
    Image.new("L", (8, 8), 255).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode("ascii")


def test_deferred_ocr_replaces_the_body_and_keeps_annotations():
    waiting = build([[["annotation", "APPROVED"]], [["body", "Page 2"], ["form", "Name: Ada"]], "Plain page three."],
                    ocr_images=[{"page": 0, "png": _png()}, {"page": 1, "png": _png()}])
    answers = iter(["Scanned text one.", "Scanned text two."])
    done = deferred.complete(waiting, lambda png, mime: next(answers), "fake", limits=ExtractionLimits(),
                             deadline=float("inf"))
    assert done.text == ("Scanned text one.\n\nAPPROVED\n\nScanned text two.\n\nName: Ada\n\nPlain page three.")
    assert marked(done) == [("annotation", "APPROVED"), ("form", "Name: Ada")]
    assert done.page_starts == [0, done.text.index("Scanned text two."), done.text.index("Plain page")]


def test_deferred_ocr_refuses_malformed_segments_before_any_call():
    waiting = Parsed(text="", extractor="x", pages=[[["marginalia", "x"]]], ocr_images=[{"page": 0, "png": _png()}])
    calls = []
    with pytest.raises(UnreadableDocument, match="parser crashed: malformed reply"):
        deferred.complete(waiting, lambda png, mime: calls.append(1) or "text", "fake",
                          limits=ExtractionLimits(), deadline=float("inf"))
    assert calls == []


# --- chunks: the kind most of a chunk's text lies in ------------------------------------------

def test_each_chunk_is_marked_with_the_kind_most_of_its_text_lies_in():
    body = "Body sentence number one. " * 20
    note = "Footnote words here. " * 20
    result = build([[["body", body], ["footnote", note], ["body", "Tail."]]])
    chunks = chunk_text(result.text, 300, 0, None, result.regions)
    by_source = {c.source for c in chunks}
    assert by_source == {"body", "footnote"}
    for chunk in chunks:
        inside = sum(max(0, min(chunk.end, r["end"]) - max(chunk.start, r["start"])) for r in result.regions)
        assert chunk.source == ("footnote" if inside * 2 > chunk.end - chunk.start else "body"), chunk
    # Without regions every chunk is body, as before.
    assert {c.source for c in chunk_text(result.text, 300, 0)} == {"body"}


def test_a_tie_goes_to_body_and_the_largest_kind_wins_otherwise():
    text = "aaaa bbbb cccc dddd"
    regions = [{"start": 5, "end": 9, "kind": "header"}, {"start": 10, "end": 14, "kind": "footer"},
               {"start": 15, "end": 19, "kind": "footer"}]
    [chunk] = chunk_text(text, 100, 0, None, regions)
    assert chunk.source == "footer"  # 8 footer characters against 7 body (spaces count) and 4 header
    [chunk] = chunk_text("aaaa bbbb", 100, 0, None, [{"start": 4, "end": 9, "kind": "header"}])
    assert chunk.source == "header"  # " bbbb": 5 header characters against 4 body
    [chunk] = chunk_text("aaaaa bbbb", 100, 0, None, [{"start": 5, "end": 10, "kind": "header"}])
    assert chunk.source == "body"  # 5 against 5: a tie is body


def test_chunks_stored_before_sources_read_as_body_and_unknown_kinds_are_refused():
    old = {"index": 0, "text": "t", "start": 0, "end": 1, "page": None, "page_end": None}
    assert Chunk.model_validate(old).source == "body"
    assert Chunk.model_validate_json(Chunk(**old, source="footnote").model_dump_json()).source == "footnote"
    with pytest.raises(ValueError, match="unknown source kind"):
        Chunk(**old, source="marginalia")


# --- extract_document: regions checked, carried, summarised -----------------------------------

class FakeSandbox:
    """Answers every request with one prepared Parsed, as a worker would (or a compromised one)."""

    def __init__(self, wire: dict):
        self.wire = wire

    def run(self, request, data, **_):
        return {"ok": True, "parsed": json.loads(json.dumps(self.wire))}


def extract_with(monkeypatch, wire: dict):
    monkeypatch.setattr(core, "SANDBOX", FakeSandbox(wire))
    return extract_document(b"any text", filename="a.txt", declared_content_type=None,
                            limits=ExtractionLimits(chunk_chars=200, chunk_overlap_chars=0))


def test_extraction_carries_regions_chunk_sources_and_a_small_summary(monkeypatch):
    pages = [[["body", "Body text. " * 30], ["footnote", "Note text. " * 30]]]
    result = extract_with(monkeypatch, build(pages).to_wire())
    assert marked(result) == [("footnote", ("Note text. " * 30).strip())]
    assert [c.source for c in result.chunks][0] == "body" and result.chunks[-1].source == "footnote"
    stats = result.statistics()
    assert "regions" not in stats and stats["source_chars"] == {"footnote": len(("Note text. " * 30).strip())}


def test_a_document_whose_only_text_is_in_a_header_is_not_empty(monkeypatch):
    result = extract_with(monkeypatch, build([[["header", "Harbour Authority"]]]).to_wire())
    assert result.text == "Harbour Authority" and [c.source for c in result.chunks] == ["header"]


@pytest.mark.parametrize("regions, why", [
    ([{"start": 5, "end": 2, "kind": "header"}], "out of order"),
    ([{"start": 0, "end": 4, "kind": "header"}, {"start": 2, "end": 6, "kind": "footer"}], "out of order"),
    ([{"start": 0, "end": 99, "kind": "header"}], "outside the text"),
    ([{"start": 0, "end": 4, "kind": "sidebar"}], "regions: "),
    ([{"start": -1, "end": 4, "kind": "header"}], "regions: "),
    ("nonsense", "regions: "),
    ([{"start": 0, "end": 1, "kind": "header"}] * 10_001, "regions: "),
])
def test_malformed_regions_from_the_worker_fail_as_a_malformed_reply(monkeypatch, regions, why):
    wire = build(["Some body text"]).to_wire() | {"regions": regions}
    with pytest.raises(UnreadableDocument, match="parser crashed: malformed reply") as failure:
        extract_with(monkeypatch, wire)
    assert why in failure.value.reason


# --- stored chunks and search hits say where the text came from --------------------------------

def test_chunk_rows_and_search_hits_carry_the_source_and_old_rows_read_as_body():
    from contentflow.api.models import SearchAnswer
    from contentflow.chunks import chunk_row
    from contentflow.search import Search, SearchRequest

    chunk = Chunk(index=0, text="1 See the harbour bylaws.", start=10, end=35, source="footnote")
    row = chunk_row(chunk, title="Rules", labels=[], language="en", date=None, max_text_chars=100)
    assert row["source"] == "footnote"
    old_row = {k: v for k, v in row.items() if k != "source"} | {"index": 1}
    space = types.SimpleNamespace(key="space-key")
    doc_id = "0" * 32
    stored = [{**row, "document_id": doc_id, "embedding_space": space.key, "distance": 0.1},
              {**old_row, "document_id": doc_id, "embedding_space": space.key, "distance": 0.2}]
    backend = types.SimpleNamespace(embedding_space=space,
                                    embed_query=lambda q: types.SimpleNamespace(vectors=[[1.0, 0.0]]))
    chunks = types.SimpleNamespace(nearest=lambda *a, **k: stored)
    store = types.SimpleNamespace(count=lambda field, value: 1)
    answer = Search(backend, chunks, store).search(SearchRequest(q="bylaws"))
    hits = answer["results"][0]["hits"]
    assert [h["source"] for h in hits] == ["footnote", "body"]
    assert [h.source for h in SearchAnswer.model_validate(answer).results[0].hits] == ["footnote", "body"]


def test_source_at_names_the_kind_of_any_offset(monkeypatch):
    pages = [[["header", "Acme"], ["body", "Body"], ["comment", "Ada: ok"]]]
    result = extract_with(monkeypatch, build(pages).to_wire())
    assert [result.source_at(i) for i in (0, 3, 4, 6, 9, 12, len(result.text) - 1)] == [
        "header", "header", "body", "body", "body", "comment", "comment"]
