"""Cold start per function (bench/cold_start.py, issue 12) against the running stack: every
function's module imports and a fresh process of it answers its first request, and a function that
loads no model imports none of the local inference backend's model libraries. Timings are the
benchmark's business (`scripts/bench cold_start`), never asserted here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import cold_start  # noqa: E402

# What contentflow.inference.local loads for its embedder (WordLlama: numpy pooling over its
# safetensors weights, the Rust tokenizer), the analysis libraries it loads on the first analysis,
# and the model runtimes the repo does not use at all.
MODEL_LIBRARIES = {"wordllama", "tokenizers", "safetensors", "numpy", "huggingface_hub",
                   "segtok", "stop_words", "vaderSentiment", "onnxruntime", "fastembed", "torch", "transformers"}


# A cold start costs a process and its imports: timed here for two functions (an event function
# and an HTTP one), for every function by the benchmark.
COLD_STARTED = {"dead_letter", "jobs"}


@pytest.fixture(scope="module")
def measured(stack):
    # Two at a time: quicker; the timings (not asserted) then include waiting for a core.
    return cold_start.measure(stack, jobs=2, cold_start_for=COLD_STARTED)


def test_every_function_is_measured(stack, measured):
    assert set(measured["functions"]) == set(stack.spec.functions)
    assert measured["markdown"].count("\n| ") == len(stack.spec.functions) + 1  # a row per function


def test_a_function_answers_from_a_cold_start_and_every_module_imports(stack, measured):
    for name, fn in measured["functions"].items():
        assert fn["import_s"] > 0 and fn["module_body_s"] > 0, name
        if name in COLD_STARTED:
            assert isinstance(fn["cold_start_s"], float) and fn["cold_start_s"] > 0, name
            assert 100 <= fn["first_status"] < 600, name
        else:
            assert fn["cold_start_s"] is None, name


def test_functions_without_a_model_import_no_model_library(measured):
    # loads_model: the import loaded the local embedder (analyse, index and reembed warm the
    # backend at start; the api loads its query embedder on the first search, not at import)
    for name, fn in measured["functions"].items():
        if fn["loads_model"]:
            assert "wordllama" in fn["heavy_imports"], name  # the detection and the import agree
            continue
        found = MODEL_LIBRARIES & set(fn["heavy_imports"])
        assert not found, f"{name} imports {sorted(found)}: " + "; ".join(
            " -> ".join(fn["heavy_import_chains"][lib]) for lib in sorted(found))


def test_no_function_imports_a_heavy_library_it_does_not_need(measured):
    assert measured["unexpected_heavy_imports"] == {}, measured["markdown"]
