"""Chunks: exact offsets, size, boundaries, overlap, pages."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from contentflow.extraction.chunking import chunk_text

SENTENCES = [
    "The harbour opened at dawn.", "Ships waited in the outer roads for the tide!",
    "Would the pilots come in time?", "Nobody on the quay knew.",
    "A long sentence follows that keeps going with many plain words so that it needs real room.",
]


def prose(paragraphs: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    return "\n\n".join(" ".join(rng.choice(SENTENCES) for _ in range(rng.randint(1, 12)))
                       for _ in range(paragraphs))


def covered(text: str, chunks) -> set[int]:
    return {i for c in chunks for i in range(c.start, c.end)}


@pytest.mark.parametrize("size, overlap", [(100, 0), (300, 80), (1500, 200)])
def test_offsets_sizes_and_coverage(size, overlap):
    text = prose(60)
    chunks = chunk_text(text, size, overlap)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert text[chunk.start:chunk.end] == chunk.text
        assert len(chunk.text) <= size
        assert chunk.text == chunk.text.strip()
    # Every non-space character is in some chunk, and chunks move forward.
    assert {i for i, ch in enumerate(text) if not ch.isspace()} <= covered(text, chunks)
    assert all(a.start < b.start and a.end < b.end for a, b in zip(chunks, chunks[1:]))


def test_chunks_end_at_sentence_or_paragraph_boundaries():
    text = prose(40)
    for chunk in chunk_text(text, 300, 0)[:-1]:
        assert chunk.text[-1] in ".!?", chunk.text[-20:]
        following = text[chunk.end:chunk.end + 2]
        assert following[:1].isspace()


def test_paragraphs_are_not_split_when_they_fit():
    paragraphs = ["First paragraph. " * 5, "Second paragraph. " * 5, "Third paragraph. " * 5]
    text = "\n\n".join(p.strip() for p in paragraphs)
    chunks = chunk_text(text, 120, 0)  # room for one paragraph (about 90 characters), not two
    assert [c.text for c in chunks] == [p.strip() for p in paragraphs]
    assert [c.text for c in chunk_text(text, 200, 0)] == [text[:text.index("Third") - 2], paragraphs[2].strip()]


def test_overlap_repeats_whole_sentences_only():
    text = " ".join(f"Sentence number {i} ends here." for i in range(60))
    chunks = chunk_text(text, 200, 60)
    for previous, chunk in zip(chunks, chunks[1:]):
        assert chunk.start < previous.end  # there is an overlap
        assert previous.end - chunk.start <= 60
        assert re.match(r"Sentence number \d+ ends here\.", chunk.text)


def test_words_longer_than_a_chunk_are_cut():
    text = "short " + "x" * 250 + " end"
    chunks = chunk_text(text, 100, 20)
    assert max(len(c.text) for c in chunks) <= 100
    assert "".join(c.text for c in chunks if "x" in c.text).count("x") >= 250


def test_pages_of_chunks():
    pages = ["Page one text. " * 20, "Page two text. " * 20, "Page three text. " * 20]
    text = "\n\n".join(p.strip() for p in pages)
    starts = [0]
    for page in pages[:-1]:
        starts.append(starts[-1] + len(page.strip()) + 2)
    chunks = chunk_text(text, 250, 0, starts)
    for chunk in chunks:
        words = set(re.findall(r"Page (\w+)", chunk.text))
        expected = {1: "one", 2: "two", 3: "three"}
        assert {expected[p] for p in range(chunk.page, chunk.page_end + 1)} >= words


def test_empty_and_blank_text():
    assert chunk_text("", 100, 10) == []
    assert chunk_text(" \n\n \t", 100, 10) == []


def test_millions_of_short_lines_do_not_blow_up_the_calling_process():
    # 5 M one-letter lines made a list of 5 M (start, end) tuples: 811 MiB peak in the function
    # process. Streamed pieces: 168 MiB, most of it the language model and the input.
    script = (
        "import resource\n"
        "from contentflow.extraction import ExtractionLimits, extract_document\n"
        "result = extract_document(b'a\\n' * 5_000_000, filename='a.txt',\n"
        "                          declared_content_type=None, limits=ExtractionLimits())\n"
        "assert len(result.chunks) > 7000 and all(len(c.text) <= 1500 for c in result.chunks)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
    )
    lib = str(Path(__file__).resolve().parents[2] / "lib")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([lib, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          timeout=120, check=True)
    peak_mib = int(done.stdout.split()[-1])
    assert peak_mib < 400, f"calling process peaked at {peak_mib} MiB"
