"""Helpers for the Terraform tests: run terraform on the provider-free spec module (offline, with
its data dir and CLI config in a temporary folder) and read the .tf files as HCL.

The google providers cannot be downloaded here, so nothing runs `terraform validate` on the root
module: the tests evaluate the spec module's real expressions with `terraform plan` and check, on
the parsed HCL, that every other module only passes those values through.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
import pytest

REPO = Path(__file__).resolve().parents[2]
TF_DIR = REPO / "terraform"
SPEC_MODULE = TF_DIR / "modules" / "spec"
SPEC_PATH = REPO / "lib" / "contentflow" / "pipeline.yaml"
PROJECT_ID = "contentflow-test-1"
REGION = "europe-west3"


def terraform_binary() -> str:
    found = shutil.which("terraform") or ("/usr/local/bin/terraform" if Path("/usr/local/bin/terraform").exists() else None)
    if not found:
        pytest.fail("terraform (>= 1.5) is not installed: these tests run it offline on terraform/modules/spec")
    return found


def terraform_env(workdir: Path) -> dict[str, str]:
    """No state, data dir, plugin cache or CLI config in the repository or the home folder; no
    update check over the network."""
    workdir.mkdir(parents=True, exist_ok=True)
    cli_config = workdir / "terraformrc"
    cli_config.write_text("")
    return {
        **os.environ,
        "TF_DATA_DIR": str(workdir / "tf-data"),
        "TF_PLUGIN_CACHE_DIR": str(workdir / "tf-plugins"),
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
    }


def run_terraform(args: list[str], workdir: Path, cwd: Path = SPEC_MODULE) -> subprocess.CompletedProcess:
    proc = subprocess.run([terraform_binary(), f"-chdir={cwd}", *args], env=terraform_env(workdir),
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"terraform {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def evaluate_spec_module(workdir: Path, spec_path: Path = SPEC_PATH, project_id: str = PROJECT_ID,
                         region: str = REGION, variables: dict[str, str] | None = None) -> dict[str, Any]:
    """The spec module's outputs, as Terraform computes them from `spec_path`: init (no provider
    to download), plan to a file in `workdir`, then `show -json`. `variables`: further inputs of
    the module (e.g. inference_backend), unset ones keep their defaults."""
    plan = workdir / "spec.tfplan"
    run_terraform(["init", "-input=false", "-no-color"], workdir)
    run_terraform(["plan", "-input=false", "-no-color", "-lock=false", f"-out={plan}",
                   f"-var=spec_path={spec_path}", f"-var=source_root={REPO}",
                   f"-var=project_id={project_id}", f"-var=region={region}",
                   *(f"-var={k}={v}" for k, v in (variables or {}).items())], workdir)
    shown = run_terraform(["show", "-json", "-no-color", str(plan)], workdir)
    outputs = json.loads(shown.stdout)["planned_values"]["outputs"]
    return {name: out["value"] for name, out in outputs.items()}


# --- HCL ---------------------------------------------------------------------------------------
# The hcl2 module is bc-python-hcl2 (checkov's fork of python-hcl2, same API): attribute values
# come wrapped in a one-element list, blocks as lists of dicts.

def attr(body: dict, name: str, default: Any = None) -> Any:
    value = body.get(name, default)
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def blocks(body: dict, name: str) -> list[dict]:
    value = body.get(name, [])
    return value if isinstance(value, list) else [value]


def dynamic_blocks(body: dict, name: str) -> list[dict]:
    return [d[name] for d in blocks(body, "dynamic") if name in d]



@dataclass(frozen=True)
class Resource:
    path: Path
    kind: str  # resource or data
    type: str
    name: str
    body: dict

    @property
    def module(self) -> str:
        rel = self.path.relative_to(TF_DIR)
        return rel.parts[1] if rel.parts[0] == "modules" else "root"


@dataclass(frozen=True)
class Terraform:
    files: dict[Path, dict]

    def resources(self) -> list[Resource]:
        found = []
        for path, doc in self.files.items():
            for kind in ("resource", "data"):
                for block in doc.get(kind, []):
                    for rtype, instances in block.items():
                        for name, body in instances.items():
                            found.append(Resource(path, kind, rtype, name, body))
        return found

    def resource(self, module: str, rtype: str, name: str) -> Resource:
        matches = [r for r in self.resources() if r.module == module and r.type == rtype and r.name == name]
        assert len(matches) == 1, f"expected one {rtype}.{name} in module {module}, found {len(matches)}"
        return matches[0]

    def module_calls(self) -> dict[str, dict]:
        calls = {}
        for block in self.files[TF_DIR / "main.tf"].get("module", []):
            calls.update(block)
        return calls

    def variables(self, module: str) -> dict[str, dict]:
        path = TF_DIR / "modules" / module / "variables.tf"
        found = {}
        for block in self.files[path].get("variable", []):
            found.update(block)
        return found


def load_terraform() -> Terraform:
    files = {}
    for path in sorted(TF_DIR.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        with path.open() as fh:
            files[path] = hcl2.load(fh)
    return Terraform(files)


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under `root` (ignored ones included) with its content hash."""
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# --- rules of terraform/README.md, written again in Python from contentflow.spec ---------------

MODEL_ROLE = "roles/aiplatform.user"
INFERENCE_ENV = ("CONTENTFLOW_INFERENCE__BACKEND", "CONTENTFLOW_INFERENCE__VERTEX_LOCATION",
                 "CONTENTFLOW_INFERENCE__GENERATION_MODEL", "CONTENTFLOW_INFERENCE__EMBEDDING_MODEL")


def expected_model_users(spec) -> set[str]:
    """Functions that call the model (roles/aiplatform.user) and functions that enqueue tasks for one."""
    callers = {n for n, f in spec.functions.items() if MODEL_ROLE in f.project_roles}
    return callers | {n for n, f in spec.functions.items() if callers & set(f.enqueues)}


def expected_vector_indexes(spec) -> dict[str, tuple[int, tuple[tuple[str, str], ...]]]:
    """"<dimension>/<fields>" => (dimension, ((field, "ASCENDING" | "CONTAINS"), ...)): per distinct
    dimension, the embedding space with every subset of filter_fields, and with the document id."""
    from itertools import combinations

    fields = list(spec.embeddings.filter_fields)
    subsets = [list(c) for r in range(len(fields) + 1) for c in combinations(fields, r)]
    combos = [["embedding_space", *s] for s in subsets] + [["embedding_space", "document_id"]]
    kind = {"labels": "CONTAINS"}
    return {f"{d}/{'+'.join(c)}": (d, tuple((f, kind.get(f, "ASCENDING")) for f in c))
            for d in set(spec.embeddings.dimensions.values()) for c in combos}


def vector_indexes_of(outputs: dict[str, Any]) -> dict[str, tuple[int, tuple[tuple[str, str], ...]]]:
    """The spec module's vector indexes in the shape of expected_vector_indexes."""
    found = {}
    for key, index in outputs["firestore"]["vector_indexes"].items():
        filters = []
        for f in index["filters"]:
            assert (f["order"] is None) != (f["array_config"] is None), (key, f)
            filters.append((f["field_path"], f["order"] or f["array_config"]))
        found[key] = (index["dimension"], tuple(filters))
    return found
