"""Fixtures for the extraction tests: an `extract` helper and a check that no worker (or
tesseract) outlives the session."""

from __future__ import annotations

import os

import pytest

from .support import children_of


@pytest.fixture
def limits():
    from contentflow.extraction import ExtractionLimits

    return ExtractionLimits


@pytest.fixture
def extract():
    from contentflow.extraction import ExtractionLimits, extract_document

    def run(data: bytes, filename: str = "file", content_type: str | None = None, **overrides):
        return extract_document(data, filename=filename, declared_content_type=content_type,
                                limits=ExtractionLimits(**overrides))

    return run


@pytest.fixture(scope="session", autouse=True)
def no_worker_left_behind():
    yield
    from contentflow.extraction.sandbox import SANDBOX

    SANDBOX.close()
    leftovers = children_of(os.getpid())
    assert not leftovers, f"processes left running after the extraction tests: {leftovers}"
