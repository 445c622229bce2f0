"""Every `for_each` and `count` under terraform/ is known at plan time (issue 14), checked offline by
Terraform itself.

The google providers cannot be downloaded, so the module graph is copied into a temporary folder
with every provider resource replaced by what Terraform has built in:
- each managed resource becomes a `terraform_data` with the same `for_each`/`count`, `depends_on`
  and preconditions, so Terraform judges its `for_each`/`count` exactly as it would the real one;
- the resource's attributes, as other expressions read them, become a local: the configured
  arguments and blocks are the configured expressions (known when those are), and every attribute
  the provider computes and the configuration leaves unset (the schema extract's computed ones:
  `name`, `id`, `email`, `member`, ...) is a value unknown until apply (derived from a
  `terraform_data`'s id, which Terraform knows only after creating it);
- each data source becomes a local likewise; its computed attributes are known at plan (read
  during plan) unless the read waits for apply: a `depends_on` on it or on its module call, or an
  unknown argument.
Then `terraform plan` runs (no provider is needed) and must not say "Invalid for_each argument" or
"Invalid count argument" — or anything else: a reference to an attribute the schema does not have
fails the plan too ("Unsupported attribute").
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .support import (
    PROJECT_ID,
    REGION,
    REPO,
    SPEC_PATH,
    TF_DIR,
    HclBlock,
    load_schema_extract,
    parse_hcl,
    schema_of,
    terraform_binary,
    terraform_env,
)

META_ARGUMENTS = {"count", "for_each", "provider", "depends_on"}
META_BLOCKS = {"lifecycle", "provisioner", "connection"}
UNKNOWN = "local.unknown_after_apply__"
# Values unknown until apply, one of each type: derived from a terraform_data's id.
UNKNOWN_SOURCE = """
resource "terraform_data" "unknown_after_apply__" {}

locals {
  unknown_after_apply__ = {
    string = terraform_data.unknown_after_apply__.id
    number = length(terraform_data.unknown_after_apply__.id)
    bool   = terraform_data.unknown_after_apply__.id == ""
    list   = split(",", terraform_data.unknown_after_apply__.id)
    map    = { for s in split(",", terraform_data.unknown_after_apply__.id) : s => s }
  }
}
"""


def _kind_of(type_name: str) -> str:
    base = type_name.split("(")[0]
    return {"string": "string", "number": "number", "bool": "bool", "list": "list", "set": "list",
            "map": "map"}.get(base, "string")


def _known_placeholder(type_name: str, digest: str) -> str:
    return {"string": digest, "number": f"length({digest})", "bool": f"{digest} != \"\"",
            "list": f"[{digest}]", "map": f"{{ value = {digest} }}"}[_kind_of(type_name)]


class ModuleRewriter:
    """One module directory of the copy: its resources and data sources replaced as the module
    docstring says, every reference to them rewritten."""

    def __init__(self, directory: Path, extract: dict[str, Any], deferred_data: bool):
        self.directory = directory
        self.extract = extract
        self.deferred_data = deferred_data
        self.docs = {path: parse_hcl(path.read_text(), path) for path in sorted(directory.glob("*.tf"))}
        self.managed: set[tuple[str, str]] = set()
        self.data: set[tuple[str, str]] = set()
        for doc in self.docs.values():
            for block in doc.blocks:
                if block.type == "resource" and block.labels[0] != "terraform_data":
                    self.managed.add(tuple(block.labels))
                elif block.type == "data":
                    self.data.add(tuple(block.labels))

    # references
    def refs(self, text: str, iteration: dict[str, str] | None = None) -> str:
        def data_ref(m: re.Match) -> str:
            return f"local.d__{m.group(1)}__{m.group(2)}" if (m.group(1), m.group(2)) in self.data else m.group(0)

        def managed_ref(m: re.Match) -> str:
            return f"local.r__{m.group(1)}__{m.group(2)}" if (m.group(1), m.group(2)) in self.managed else m.group(0)

        text = re.sub(r"(?<![\w.])data\.([a-z0-9_]+)\.([\w-]+)", data_ref, text)
        text = re.sub(r"(?<![\w.])([a-z][a-z0-9_]*)\.([A-Za-z_][\w-]*)", managed_ref, text)
        for name, replacement in (iteration or {}).items():
            text = re.sub(rf"(?<![\w.]){re.escape(name)}(?![\w])", replacement, text)
        return text

    def depends_on(self, expr: str) -> str:
        """depends_on may name only resources and modules: a replaced resource is its terraform_data;
        a data source does nothing at apply, so it is dropped."""
        items = [i.strip() for i in expr.strip()[1:-1].split(",") if i.strip()]
        kept = []
        for item in items:
            parts = item.split(".")
            if parts[0] == "data":
                continue
            if (parts[0], parts[-1]) in self.managed:
                kept.append(f"terraform_data.r__{parts[0]}__{parts[1]}")
            else:
                kept.append(item)
        return "[" + ", ".join(kept) + "]"

    # objects
    def configured_object(self, block: HclBlock, schema: dict, iteration: dict[str, str], depth: int = 0,
                          fill_unset: str | None = "unknown", digest: str | None = None) -> str:
        """The block as an HCL object: configured arguments and blocks, then what is unset (computed
        → unknown or, for a data source read at plan, a known placeholder; the rest → null / [])."""
        attributes, blocks = schema.get("attributes", {}), schema.get("blocks", {})
        fields: dict[str, str] = {}
        for name, arg in block.arguments.items():
            if depth == 0 and name in META_ARGUMENTS:
                continue
            fields[name] = f"({self.refs(arg.expr, iteration)})"
        grouped: dict[str, list[str]] = {}
        for child in block.blocks:
            if depth == 0 and child.type in META_BLOCKS:
                continue
            if child.type == "dynamic":
                name = child.labels[0]
                iterator = child.arguments["iterator"].expr if "iterator" in child.arguments else name
                content = child.blocks_of("content")[0]
                k, v = f"k{depth}__", f"v{depth}__"
                inner = self.configured_object(content, blocks.get(name, {}), {**iteration}, depth + 1, None)
                for_each = self.refs(child.arguments["for_each"].expr, iteration)
                grouped.setdefault(name, []).append(
                    f"[for {iterator} in [for {k}, {v} in ({for_each}) : {{ key = {k}, value = {v} }}] : {inner}]")
            else:
                inner = self.configured_object(child, blocks.get(child.type, {}), iteration, depth + 1, None)
                grouped.setdefault(child.type, []).append(f"[{inner}]")
        for name, parts in grouped.items():
            fields[name] = parts[0] if len(parts) == 1 else f"concat({', '.join(parts)})"
        for name, spec in attributes.items():
            if name in fields:
                continue
            if spec.get("computed") and fill_unset == "unknown":
                fields[name] = f'{UNKNOWN}["{_kind_of(spec.get("type", "string"))}"]'
            elif spec.get("computed") and fill_unset == "known":
                fields[name] = _known_placeholder(spec.get("type", "string"), digest)
            else:
                fields[name] = "null"
        for name in blocks:
            fields.setdefault(name, "[]")
        return "{\n" + "\n".join(f"    {k} = {v}" for k, v in fields.items()) + "\n  }"

    def managed_replacement(self, block: HclBlock) -> str:
        rtype, name = block.labels
        schema = schema_of(self.extract, block)
        assert schema is not None, f"{rtype} is not in the schema extract: run the schema check first"
        local = f"r__{rtype}__{name}"
        lines = [f'resource "terraform_data" "{local}" {{']
        if "for_each" in block.arguments:
            lines.append(f"  for_each = {self.refs(block.arguments['for_each'].expr)}")
        if "count" in block.arguments:
            lines.append(f"  count = {self.refs(block.arguments['count'].expr)}")
        if "depends_on" in block.arguments:
            lines.append(f"  depends_on = {self.depends_on(block.arguments['depends_on'].expr)}")
        for lifecycle in block.blocks_of("lifecycle"):
            conditions = [c for c in lifecycle.blocks if c.type == "precondition"]
            if conditions:
                lines.append("  lifecycle {")
                for c in conditions:
                    lines.append("    precondition {")
                    lines += [f"      {a.name} = {self.refs(a.expr)}" for a in c.arguments.values()]
                    lines.append("    }")
                lines.append("  }")
        lines.append("}")
        if "for_each" in block.arguments:
            obj = self.configured_object(block, schema, {"each.key": "k__", "each.value": "v__"})
            value = f"{{ for k__, v__ in ({self.refs(block.arguments['for_each'].expr)}) : k__ => {obj} }}"
        elif "count" in block.arguments:
            obj = self.configured_object(block, schema, {"count.index": "i__"})
            value = f"[for i__ in range({self.refs(block.arguments['count'].expr)}) : {obj}]"
        else:
            value = self.configured_object(block, schema, {})
        lines.append(f"locals {{\n  {local} = {value}\n}}")
        return "\n".join(lines)

    def data_replacement(self, block: HclBlock) -> str:
        rtype, name = block.labels
        schema = schema_of(self.extract, block)
        assert schema is not None, f"data {rtype} is not in the schema extract"
        assert not ({"for_each", "count"} & set(block.arguments)), f"data.{rtype}.{name}: for_each/count not modelled"
        local = f"d__{rtype}__{name}"
        configured = self.configured_object(block, schema, {}, fill_unset=None)
        deferred = self.deferred_data or "depends_on" in block.arguments
        digest = f"sha1(jsonencode(local.{local}__config))"
        value = self.configured_object(block, schema, {}, fill_unset="unknown" if deferred else "known", digest=digest)
        return f"locals {{\n  {local}__config = {configured}\n  {local} = {value}\n}}"

    def rewrite(self) -> None:
        needs_unknown = bool(self.managed or self.data)
        for path, doc in self.docs.items():
            out = []
            for block in doc.blocks:
                if block.type in ("terraform", "provider"):
                    continue  # no provider requirements, no provider configuration
                if block.type == "resource" and tuple(block.labels) in self.managed:
                    out.append(self.managed_replacement(block))
                elif block.type == "data":
                    out.append(self.data_replacement(block))
                elif block.type == "module":
                    text = block.source
                    if "providers" in block.arguments:
                        text = text.replace(f"providers = {block.arguments['providers'].expr}", "")
                    out.append(self.refs(text))
                else:
                    out.append(self.refs(block.source))
            path.write_text("\n\n".join(out) + "\n")
        if needs_unknown:
            (self.directory / "unknown_after_apply__.tf").write_text(UNKNOWN_SOURCE)


def provider_free_copy(source: Path, destination: Path, extract: dict[str, Any]) -> Path:
    """The module graph under `source` (a terraform/ folder) copied to `destination`, rewritten."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "schema"))
    directories = sorted({p.parent for p in destination.rglob("*.tf")})
    # A module called with depends_on reads its data sources only at apply (on a first apply).
    deferred: set[Path] = set()
    for directory in directories:
        for path in directory.glob("*.tf"):
            for block in parse_hcl(path.read_text(), path).blocks:
                if block.type == "module" and "depends_on" in block.arguments:
                    src = block.arguments["source"].expr.strip('"')
                    deferred.add((directory / src).resolve())
    for directory in directories:
        ModuleRewriter(directory, extract, directory.resolve() in deferred).rewrite()
    return destination


def plan(root: Path, workdir: Path, variables: dict[str, str] | None = None,
         var_files: list[Path] = ()) -> subprocess.CompletedProcess:
    env = terraform_env(workdir)
    (workdir / "tf-plugins").mkdir(exist_ok=True)
    init = subprocess.run([terraform_binary(), f"-chdir={root}", "init", "-input=false", "-no-color", "-backend=false"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, f"terraform init failed:\n{init.stdout}\n{init.stderr}"
    args = [f"-var={k}={v}" for k, v in (variables or {}).items()] + [f"-var-file={f}" for f in var_files]
    return subprocess.run([terraform_binary(), f"-chdir={root}", "plan", "-input=false", "-no-color", "-lock=false",
                           "-refresh=false", *args], env=env, capture_output=True, text=True, timeout=180)


ROOT_VARIABLES = {"project_id": PROJECT_ID, "region": REGION, "spec_path": str(SPEC_PATH), "source_root": str(REPO)}
UNKNOWN_ERRORS = ("Invalid for_each argument", "Invalid count argument")


def assert_plans_with_known_keys(proc: subprocess.CompletedProcess) -> None:
    output = proc.stdout + proc.stderr
    unknown = [e for e in UNKNOWN_ERRORS if e in output]
    assert not unknown, f"for_each/count over values known only after apply:\n{proc.stderr}"
    assert proc.returncode == 0, f"terraform plan of the provider-free copy failed:\n{proc.stderr[-6000:]}"


@pytest.fixture(scope="module")
def extract() -> dict[str, Any]:
    return load_schema_extract()


def test_the_shipped_spec_has_a_queue_triggered_function():
    """The case issue 14 names: a queue-triggered function makes the tasks module grant actAs on the
    tasks invoker, whose for_each must not wait for the account's id."""
    from contentflow.spec import QueueTrigger, load_spec_file

    spec = load_spec_file(SPEC_PATH)
    assert any(isinstance(f.trigger, QueueTrigger) for f in spec.functions.values())
    assert any(f.enqueues for f in spec.functions.values())


@pytest.mark.parametrize("var_file", [None, "cmek.tfvars", "europe-west3.tfvars"])
def test_every_for_each_and_count_is_known_at_plan_time(tmp_path, extract, var_file):
    root = provider_free_copy(TF_DIR, tmp_path / "terraform", extract)
    var_files = [TF_DIR / "examples" / var_file] if var_file else []
    proc = plan(root, tmp_path / "work", ROOT_VARIABLES, var_files)
    assert_plans_with_known_keys(proc)
    # Every resource of the tree was planned (as its stand-in): the plan covered the whole graph.
    planned = set(re.findall(r"# (?:module\.\w+(?:\[[^\]]*\])?\.)*terraform_data\.r__([a-z0-9_]+?)__([\w-]+?)(?:\[.*?\])? will be created",
                             proc.stdout))
    for path in TF_DIR.rglob("*.tf"):
        for block in parse_hcl(path.read_text(), path).blocks:
            if block.type == "resource" and block.labels[0] != "terraform_data" and \
                    "count" not in block.arguments and "for_each" not in block.arguments:
                assert tuple(block.labels) in planned, f"{block.labels} missing from the plan"


# --- planted errors ------------------------------------------------------------------------------------

PLANTED_MODULE = """
resource "google_service_account" "x" {
  account_id = "planted"
}

resource "google_service_account_iam_member" "by_name" {
  for_each           = toset([google_service_account.x.name])
  service_account_id = google_service_account.x.name
  role               = "roles/iam.serviceAccountUser"
  member             = "user:someone@example.com"
}
"""


def test_for_each_over_a_computed_attribute_fails(tmp_path, extract):
    source = tmp_path / "planted"
    source.mkdir()
    (source / "main.tf").write_text(PLANTED_MODULE)
    root = provider_free_copy(source, tmp_path / "copy", extract)
    proc = plan(root, tmp_path / "work")
    assert proc.returncode != 0
    assert "Invalid for_each argument" in proc.stderr, proc.stderr
    assert "google_service_account.x.name" not in (root / "main.tf").read_text()  # it was rewritten


def test_count_over_a_computed_attribute_fails_and_a_configured_one_passes(tmp_path, extract):
    source = tmp_path / "planted"
    source.mkdir()
    (source / "main.tf").write_text("""
resource "google_service_account" "x" {
  account_id = "planted"
}

resource "google_project_iam_member" "configured" {
  count   = google_service_account.x.account_id == "planted" ? 1 : 0
  project = "p"
  role    = "roles/viewer"
  member  = "serviceAccount:${google_service_account.x.email}"
}

resource "google_project_iam_member" "computed" {
  count   = google_service_account.x.unique_id == "" ? 0 : 1
  project = "p"
  role    = "roles/viewer"
  member  = google_service_account.x.member
}
""")
    root = provider_free_copy(source, tmp_path / "copy", extract)
    proc = plan(root, tmp_path / "work")
    assert "Invalid count argument" in proc.stderr, proc.stderr
    assert proc.stderr.count("Invalid count argument") == 1, proc.stderr  # the configured one is known
    assert 'resource "google_project_iam_member" "computed"' in proc.stderr or "r__google_project_iam_member__computed" in proc.stderr


def test_the_tasks_bug_of_issue_14_fails_the_check(tmp_path, extract):
    """The for_each issue 14 reports (keys conditioned on the tasks invoker's id), planted back into a
    copy of the tree: the check sees it."""
    copy = tmp_path / "terraform"
    shutil.copytree(TF_DIR, copy, ignore=shutil.ignore_patterns(".terraform"))
    tasks = copy / "modules" / "tasks" / "main.tf"
    text = tasks.read_text()
    found = re.search(r'(resource "google_service_account_iam_member" "enqueuer_acts_as_invoker" \{\n\s*for_each\s*=\s*)(.+)\n',
                      text)
    assert found, "the tasks module's actAs grant moved: update this test"
    tasks.write_text(text[:found.start(2)] + f"var.tasks_invoker_id == null ? toset([]) : {found.group(2)}"
                     + text[found.end(2):])
    root = provider_free_copy(copy, tmp_path / "copy", extract)
    proc = plan(root, tmp_path / "work", ROOT_VARIABLES)
    assert proc.returncode != 0
    assert "Invalid for_each argument" in proc.stderr, proc.stderr[-4000:]
    assert "enqueuer_acts_as_invoker" in proc.stderr


def test_a_data_source_read_at_apply_is_unknown_and_one_read_at_plan_is_known(tmp_path, extract):
    source = tmp_path / "planted"
    source.mkdir()
    (source / "main.tf").write_text("""
data "google_project" "read_at_plan" {
  project_id = "p"
}

resource "time_sleep" "wait" {
  create_duration = "1s"
}

data "google_storage_project_service_account" "read_at_apply" {
  project    = "p"
  depends_on = [time_sleep.wait]
}

resource "google_project_iam_member" "known" {
  for_each = toset([data.google_project.read_at_plan.number])
  project  = "p"
  role     = "roles/viewer"
  member   = "user:${each.key}@example.com"
}

resource "google_project_iam_member" "unknown" {
  for_each = toset([data.google_storage_project_service_account.read_at_apply.email_address])
  project  = "p"
  role     = "roles/viewer"
  member   = "serviceAccount:${each.key}"
}
""")
    root = provider_free_copy(source, tmp_path / "copy", extract)
    proc = plan(root, tmp_path / "work")
    assert proc.stderr.count("Invalid for_each argument") == 1, proc.stderr
    assert "r__google_project_iam_member__unknown" in proc.stderr, proc.stderr
