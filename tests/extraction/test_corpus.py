"""Every sample in samples/ against samples/expectations.py: text, metadata, exact reasons."""

from __future__ import annotations

import re

import pytest
from .support import expectations, hostile_builders

from contentflow.errors import UnreadableDocument

COMMITTED = [c for c in expectations.CASES if not c.generated]


def normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_every_committed_sample_has_an_expectation():
    on_disk = {str(p.relative_to(expectations.SAMPLES)) for folder in ("documents", "hostile")
               for p in (expectations.SAMPLES / folder).iterdir() if p.is_file()}
    assert on_disk == {c.path for c in COMMITTED}


def test_corpus_has_two_documents_of_every_type_and_twenty_hostile_files():
    types = [c.mime_type for c in expectations.DOCUMENTS]
    for mime in ("text/plain", "text/markdown", "text/html", "application/pdf", expectations.DOCX,
                 "application/json", "text/csv", "image/png", "image/jpeg", "image/tiff"):
        assert types.count(mime) >= (1 if mime.startswith("image/") else 2), mime
    assert sum(t.startswith("image/") for t in types) >= 2
    assert len([c for c in expectations.HOSTILE if not c.generated]) >= 20


@pytest.mark.parametrize("case", expectations.DOCUMENTS, ids=lambda c: c.path)
def test_document(case, extract):
    result = extract(case.file.read_bytes(), case.file.name, **case.limits)
    text = normalised(result.text)
    for phrase in case.phrases:
        assert phrase in text, phrase
    for phrase in case.absent:
        assert phrase.lower() not in text.lower(), f"boilerplate kept: {phrase}"
    for name in ("mime_type", "page_count", "title", "author", "language", "pages_ocred"):
        expected = getattr(case, name)
        if expected is not None:
            assert getattr(result, name) == expected, name
    for warning in case.warnings:
        assert any(warning in w for w in result.warnings), (warning, result.warnings)
    for verdict in ("ligatures read from font codes", "text layer is glyph codes"):  # never unexpected
        if not any(verdict in w for w in case.warnings):
            assert not any(verdict in w for w in result.warnings), result.warnings
    if case.created:
        assert result.created is not None and result.created.isoformat().startswith(case.created)
    for phrase, page in case.phrase_pages:
        offset = re.search(r"\s+".join(map(re.escape, phrase.split())), result.text).start()
        assert result.page_of(offset) == page, phrase
        chunk = next(c for c in result.chunks if c.start <= offset < c.end)
        assert chunk.page <= page <= chunk.page_end, phrase
    for phrase, source in case.phrase_sources:
        offset = re.search(r"\s+".join(map(re.escape, phrase.split())), result.text).start()
        assert result.source_at(offset) == source, phrase
    # every region is of a kind the expectation names (a document with none has no regions)
    assert {r["kind"] for r in result.regions} <= {kind for _, kind in case.phrase_sources} - {"body"}
    assert result.chunks and all(result.text[c.start:c.end] == c.text for c in result.chunks)
    assert result.word_count == len(result.text.split())


@pytest.mark.parametrize("case", [c for c in expectations.HOSTILE if not c.generated], ids=lambda c: c.path)
def test_hostile_file(case, extract):
    with pytest.raises(UnreadableDocument) as failure:
        extract(case.file.read_bytes(), case.file.name, **case.limits)
    assert failure.value.reason == case.reason


@pytest.mark.parametrize("case", [c for c in expectations.HOSTILE if c.generated], ids=lambda c: c.path)
def test_generated_hostile_file(case, extract):
    """The big ones, built in memory by the same code as `make_corpus.py --big`."""
    data = hostile_builders.BIG[case.file.name]()
    with pytest.raises(UnreadableDocument) as failure:
        extract(data, case.file.name, **case.limits)
    assert failure.value.reason == case.reason


def test_same_document_gives_same_hash_and_text(extract):
    data = (expectations.SAMPLES / "documents/quarterly-report-q3-2024.pdf").read_bytes()
    first, second = extract(data, "a.pdf"), extract(data, "b.pdf")
    assert first.content_sha256 == second.content_sha256 != extract(data + b"\n", "c.pdf").content_sha256
    assert first.text == second.text
