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


# --- HCL structure (issue 14's offline checks) ----------------------------------------------------
# bc-python-hcl2 cannot tell a block from an argument holding an object (`x { }` and `x = { }` come
# out alike) and keeps no line numbers, so the schema and unknown-value checks read the structure
# with this small parser: bodies, blocks with labels, arguments with their expression's text.

import re  # noqa: E402  (appended section: the helpers above need none of it)

SCHEMA_EXTRACT = TF_DIR / "schema" / "provider-schemas.json"


@dataclass
class HclArgument:
    name: str
    line: int
    expr: str  # the expression's source text

    @property
    def literal(self) -> Any:
        """The value when the expression is a plain literal (string without interpolation, number,
        bool, or a list of those), else NOT_LITERAL."""
        return hcl_literal(self.expr)


@dataclass
class HclBlock:
    type: str
    labels: list[str]
    line: int
    arguments: dict[str, HclArgument]
    blocks: list["HclBlock"]
    path: Path | None = None
    source: str = ""  # the block's text, braces included
    body_span: tuple[int, int] = (0, 0)  # offsets of the body inside the file's text

    def blocks_of(self, block_type: str) -> list["HclBlock"]:
        return [b for b in self.blocks if b.type == block_type]


NOT_LITERAL = object()


def hcl_literal(expr: str) -> Any:
    text = expr.strip()
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text) if "." in text else int(text)
    if re.fullmatch(r'"(?:[^"\\$%]|\\.|\$(?!\{)|%(?!\{))*"', text):
        return json.loads(text)
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip().rstrip(",")
        if not inner:
            return []
        items = [hcl_literal(part) for part in _split_top_level(inner)]
        return NOT_LITERAL if any(i is NOT_LITERAL for i in items) else items
    return NOT_LITERAL


def _split_top_level(text: str) -> list[str]:
    parts, depth, current, i = [], 0, [], 0
    while i < len(text):
        c = text[i]
        if c == '"':
            end = _skip_string(text, i)
            current.append(text[i:end])
            i = end
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    if "".join(current).strip():
        parts.append("".join(current))
    return parts


def _skip_string(s: str, i: int) -> int:
    """Index after the quoted template string starting at s[i] (interpolations may nest strings)."""
    i += 1
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if c in "$%" and s[i + 1:i + 2] == "{":
            i = _skip_braces(s, i + 1)
            continue
        i += 1
    raise SyntaxError("unterminated string")


def _skip_braces(s: str, i: int) -> int:
    """Index after the {...} group starting at s[i]."""
    depth = 0
    while i < len(s):
        c = s[i]
        if c == '"':
            i = _skip_string(s, i)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise SyntaxError("unbalanced braces")


class _HclParser:
    IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

    def __init__(self, text: str, path: Path | None):
        self.s, self.i, self.path = text, 0, path

    def line(self, offset: int) -> int:
        return self.s.count("\n", 0, offset) + 1

    def error(self, message: str) -> SyntaxError:
        return SyntaxError(f"{self.path}:{self.line(self.i)}: {message}")

    def skip_space(self, newlines: bool) -> None:
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.i += 1
            elif c == "#" or s.startswith("//", self.i):
                while self.i < len(s) and s[self.i] != "\n":
                    self.i += 1
            elif s.startswith("/*", self.i):
                self.i = s.index("*/", self.i) + 2
            else:
                return

    def body(self, closing: bool) -> tuple[dict[str, HclArgument], list[HclBlock]]:
        arguments: dict[str, HclArgument] = {}
        blocks: list[HclBlock] = []
        while True:
            self.skip_space(newlines=True)
            if self.i >= len(self.s):
                if closing:
                    raise self.error("missing }")
                return arguments, blocks
            if self.s[self.i] == "}":
                if not closing:
                    raise self.error("unexpected }")
                self.i += 1
                return arguments, blocks
            start = self.i
            match = self.IDENT.match(self.s, self.i)
            if not match:
                raise self.error(f"expected an argument or block, found {self.s[self.i:self.i + 10]!r}")
            name = match.group()
            self.i = match.end()
            self.skip_space(newlines=False)
            if self.s[self.i] == "=" and self.s[self.i + 1:self.i + 2] != "=":
                self.i += 1
                expr_start = self.i
                self.scan_expression()
                if name in arguments:
                    raise self.error(f"argument {name} set twice")
                arguments[name] = HclArgument(name, self.line(start), self.s[expr_start:self.i].strip())
                continue
            labels = []
            while self.s[self.i] != "{":
                if self.s[self.i] == '"':
                    end = _skip_string(self.s, self.i)
                    labels.append(json.loads(self.s[self.i:end]))
                    self.i = end
                else:
                    label = self.IDENT.match(self.s, self.i)
                    if not label:
                        raise self.error(f"block {name}: expected a label or {{")
                    labels.append(label.group())
                    self.i = label.end()
                self.skip_space(newlines=False)
            self.i += 1
            body_start = self.i
            inner_arguments, inner_blocks = self.body(closing=True)
            blocks.append(HclBlock(name, labels, self.line(start), inner_arguments, inner_blocks, self.path,
                                   self.s[start:self.i], (body_start, self.i - 1)))

    def scan_expression(self) -> None:
        """Move past one expression: to the newline (or the block's closing brace) outside brackets."""
        s, depth = self.s, 0
        while self.i < len(s):
            c = s[self.i]
            if c == '"':
                self.i = _skip_string(s, self.i)
                continue
            if s.startswith("<<", self.i):
                heredoc = re.match(r"<<-?([A-Za-z_][A-Za-z0-9_]*)\n", s[self.i:])
                if heredoc:
                    end = re.compile(rf"^\s*{heredoc.group(1)}\s*$", re.M).search(s, self.i + heredoc.end())
                    if not end:
                        raise self.error("unterminated heredoc")
                    self.i = end.end()
                    continue
            if c == "#" or s.startswith("//", self.i) or s.startswith("/*", self.i):
                if depth == 0 and not s.startswith("/*", self.i):
                    return
                self.skip_space(newlines=False)
                continue
            if c in "([{":
                depth += 1
            elif c in ")]}":
                if depth == 0:
                    return
                depth -= 1
            elif c == "\n" and depth == 0:
                return
            self.i += 1


def parse_hcl(text: str, path: Path | None = None) -> HclBlock:
    """The file as a root block (type "") with its top-level arguments and blocks."""
    parser = _HclParser(text, path)
    arguments, blocks = parser.body(closing=False)
    return HclBlock("", [], 1, arguments, blocks, path, text, (0, len(text)))


def tf_files(root: Path = TF_DIR) -> list[Path]:
    return [p for p in sorted(root.rglob("*.tf")) if ".terraform" not in p.parts]


def load_schema_extract(path: Path = SCHEMA_EXTRACT) -> dict[str, Any]:
    return json.loads(path.read_text())


def provider_of(block: HclBlock) -> str:
    """The provider local name a resource or data block uses: its `provider` argument (without an
    alias), else the type's prefix; terraform_data is built in."""
    if "provider" in block.arguments:
        return block.arguments["provider"].expr.split(".")[0]
    rtype = block.labels[0]
    return "terraform" if rtype == "terraform_data" else rtype.split("_")[0]


def schema_of(extract: dict[str, Any], block: HclBlock) -> dict[str, Any] | None:
    kind = "resource_schemas" if block.type == "resource" else "data_source_schemas"
    return extract[kind].get(provider_of(block), {}).get(block.labels[0])
