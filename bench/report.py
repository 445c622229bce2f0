"""Where benchmarks leave their figures: printed as JSON and kept in bench/results/ (git-ignored)."""

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def report(name: str, result: dict) -> dict:
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
    return result
