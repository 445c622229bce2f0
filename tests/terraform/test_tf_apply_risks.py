"""What would break a first `terraform apply` although the configuration is valid (issue 14): a
for_each over a value known only after apply, a vector index Firestore reads back differently,
eventual consistency (new APIs, IAM grants, a new log-based metric), a dashboard that never stops
diffing, CMEK keys in the wrong location, and grants wider than the code needs.

The google providers cannot be downloaded here, so most checks read the parsed HCL; the ones that
can run (the dashboard tiles' expression, the provider-free CMEK module) run `terraform plan`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import hcl2
import pytest

from .support import REPO, TF_DIR, attr, blocks, dynamic_blocks, terraform_binary, terraform_env

# --- 1. for_each / count over values known only after apply -------------------------------------

# A managed resource's type (google_*, time_*, archive_* or Terraform's own terraform_data).
MANAGED = r"(?:google|google_beta|time|archive|random|null)_\w+|terraform_data"
REF = re.compile(rf"(?<![\w.])(?:(var|local)\.(\w+)|module\.(\w+)\.(\w+)|data\.(\w+)\.(\w+)|({MANAGED})\.(\w+))((?:\[[^\]]*\]|\.\w+)*)")
# { for K, V in COLL : KEY => VALUE [if COND] } (hcl2 renders for-expressions like this).
MAP_FOR = re.compile(r"^\{\s*for\s+(\w+)\s*(?:,\s*(\w+))?\s+in\s+(.+?)\s*:\s*(.+?)\s*=>\s*(.+?)(?:\s+if\s+(.+))?\s*\}$", re.S)
KEYS_OF = re.compile(r"^keys\((.+)\)$", re.S)


@dataclass
class Module:
    name: str
    locals: dict = field(default_factory=dict)
    variables: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    resources: dict = field(default_factory=dict)  # "type.name" => body
    data: dict = field(default_factory=dict)
    calls: dict = field(default_factory=dict)  # module call name => body


def load_modules(tf_dir: Path) -> dict[str, Module]:
    """Every module under tf_dir (the root is "root"), from its .tf files."""
    found: dict[str, Module] = {}
    for path in sorted(tf_dir.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        rel = path.relative_to(tf_dir)
        name = rel.parts[1] if rel.parts[0] == "modules" else "root"
        mod = found.setdefault(name, Module(name))
        with path.open() as fh:
            doc = hcl2.load(fh)
        for block in doc.get("locals", []):
            mod.locals.update({k: v for k, v in block.items() if not k.startswith("__")})
        for block in doc.get("variable", []):
            mod.variables.update(block)
        for block in doc.get("output", []):
            mod.outputs.update(block)
        for block in doc.get("module", []):
            mod.calls.update(block)
        for kind, target in (("resource", mod.resources), ("data", mod.data)):
            for block in doc.get(kind, []):
                for rtype, instances in block.items():
                    for rname, body in instances.items():
                        target[f"{rtype}.{rname}"] = body
    return found


class UnknownAtPlan:
    """Follows each resource's for_each / count through variables, locals, module calls and
    outputs and reports those that reach a managed resource's attribute (computed: known only once
    the resource exists) or a data source read after its dependencies change. A for_each needs only
    its keys known: a map built with `{ for k, v in X : KEY => VALUE }` needs KEY (and its `if`)
    known, not VALUE; a resource's instance keys are known when its own for_each is."""

    def __init__(self, modules: dict[str, Module]):
        self.modules = modules
        self.sources = {call: attr(body, "source").rsplit("/", 1)[-1]
                        for call, body in modules["root"].calls.items()}
        self.callers = {target: call for call, target in self.sources.items()}
        self._active: set = set()

    def violations(self) -> list[str]:
        found = []
        for mod in self.modules.values():
            for rid, body in mod.resources.items():
                for meta, mode in (("for_each", "keys"), ("count", "full")):
                    if meta in body:
                        why = self.unknown(mod.name, attr(body, meta), mode)
                        if why:
                            found.append(f"{mod.name}: {rid}.{meta} is known only after apply: {why}")
        return found

    def unknown(self, module: str, expr, mode: str) -> str | None:
        """Why `expr` (evaluated in `module`) is unknown at plan time in `mode` ("keys": only the
        keys or elements matter; "full": the whole value), or None when it is known."""
        if isinstance(expr, dict):
            values = [] if mode == "keys" else [v for k, v in expr.items() if not str(k).startswith("__")]
            return next((w for w in (self.unknown(module, v, "full") for v in values) if w), None)
        if isinstance(expr, list):
            return next((w for w in (self.unknown(module, v, mode) for v in expr) if w), None)
        if not isinstance(expr, str) or "${" not in expr:
            return None
        inner = expr[2:-1].strip() if expr.startswith("${") and expr.endswith("}") and expr.count("${") == 1 else None
        if inner is not None and mode == "keys":
            m = MAP_FOR.match(inner)
            if m:
                _k, value_var, collection, key, _value, cond = m.groups()
                decides = " ".join(x for x in (key, cond) if x)
                uses_value = bool(value_var) and re.search(rf"(?<![\w.]){value_var}\b", decides)
                return (self.unknown(module, "${" + collection + "}", "full" if uses_value else "keys")
                        or self._refs(module, decides, "full"))
            m = KEYS_OF.match(inner)
            if m:
                return self.unknown(module, "${" + m.group(1) + "}", "keys")
            whole = REF.fullmatch(inner)
            if whole:
                return self._ref(module, whole, "keys")
        return self._refs(module, expr, "full")

    def _refs(self, module: str, text: str, mode: str) -> str | None:
        for m in REF.finditer(text):
            why = self._ref(module, m, mode)
            if why:
                return why
        return None

    def _ref(self, module: str, m: re.Match, mode: str) -> str | None:
        key = (module, m.group(0), mode)
        if key in self._active:
            return None
        self._active.add(key)
        try:
            return self._resolve(module, m, mode)
        finally:
            self._active.discard(key)

    def _resolve(self, module: str, m: re.Match, mode: str) -> str | None:
        kind, name, call, output, dtype, dname, rtype, rname, suffix = m.groups()
        mod = self.modules[module]
        # An attribute of the value decides only through that attribute: the whole value counts.
        mode = mode if not suffix else "full"
        if kind == "var":
            if module == "root":
                return None  # root variables are given before the plan
            arg = self.modules["root"].calls[self.callers[module]].get(name)
            return None if arg is None else self.unknown("root", attr(self.modules["root"].calls[self.callers[module]], name), mode)
        if kind == "local":
            return self.unknown(module, mod.locals[name], mode)
        if call:
            target = self.sources[call]
            return self.unknown(target, attr(self.modules[target].outputs[output], "value"), mode)
        if dtype:
            body = mod.data[f"{dtype}.{dname}"]
            if body.get("depends_on"):
                return f"data.{dtype}.{dname} (read during apply: it depends on resources that change)"
            return self.unknown(module, {k: v for k, v in body.items() if not k.startswith("__")}, "full")
        rid = f"{rtype}.{rname}"
        if rid not in mod.resources:
            return None  # not a resource reference (e.g. a provider-defined name in a string)
        if mode == "keys" and not suffix:
            body = mod.resources[rid]
            return self.unknown(module, attr(body, "for_each"), "keys") if "for_each" in body else None
        return f"{module}: {rid}{suffix} (an attribute of a managed resource)"


def test_no_for_each_or_count_over_a_value_known_only_after_apply():
    """Issue 14, error 1: tasks' enqueuer_acts_as_invoker iterated over the tasks invoker's id (its
    `name`, known once the account exists) and failed the plan ("Invalid for_each argument") as
    soon as the spec had a queue-triggered function. Every for_each's keys and every count must
    come from the spec module, the root variables or keys the configuration fixes."""
    assert UnknownAtPlan(load_modules(TF_DIR)).violations() == []


def test_the_spec_has_queue_triggered_functions_whose_enqueuers_are_known(spec_outputs):
    """The shipped spec is the case that failed: queue-triggered functions, a tasks invoker, and
    enqueuers whose set comes from module.spec (evaluated by a real plan)."""
    queue_triggered = [n for n, f in spec_outputs["functions"].items() if f["trigger_type"] == "queue"]
    assert queue_triggered and "tasks" in spec_outputs["invokers"]
    assert spec_outputs["queue_enqueuers"]
    calls = load_modules(TF_DIR)["root"].calls
    assert attr(calls["tasks"], "enqueuers") == "${module.spec.queue_enqueuers}"
    acts_as = load_modules(TF_DIR)["tasks"].resources["google_service_account_iam_member.enqueuer_acts_as_invoker"]
    assert "tasks_invoker_id" not in attr(acts_as, "for_each")


def _planted(tmp_path: Path, module: str, old: str, new: str) -> Path:
    copy = tmp_path / "terraform"
    shutil.copytree(TF_DIR, copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    main = copy / "modules" / module / "main.tf"
    text = main.read_text()
    assert old in text, f"{module}/main.tf no longer has {old!r}"
    main.write_text(text.replace(old, new, 1))
    return copy


@pytest.mark.parametrize("module, old, new, offender", [
    # Today's bug, planted back: the for_each decided by the account's id.
    ("tasks", "for_each = toset(distinct([for e in values(var.enqueuers) : e.function]))",
     "for_each = var.tasks_invoker_id == null ? toset([]) : toset(distinct([for e in values(var.enqueuers) : e.function]))",
     "tasks: google_service_account_iam_member.enqueuer_acts_as_invoker.for_each"),
    # A map keyed by an account's email (values may be unknown, keys may not).
    ("service_accounts", "for_each = toset(var.url_signers)",
     "for_each = { for n, sa in google_service_account.function : sa.email => n if contains(var.url_signers, n) }",
     "service_accounts: google_service_account_iam_member.signs_as_itself.for_each"),
    # A count decided by a data source read during apply.
    ("project", "count = var.storage_triggers ? 1 : 0",
     "count = data.google_storage_project_service_account.gcs.email_address != \"\" ? 1 : 0",
     "project: google_project_iam_member.gcs_publishes_events.count"),
])
def test_the_check_finds_a_planted_unknown_for_each_or_count(tmp_path, module, old, new, offender):
    found = UnknownAtPlan(load_modules(_planted(tmp_path, module, old, new))).violations()
    assert [v for v in found if v.startswith(offender)], found


def test_a_map_with_known_keys_and_unknown_values_is_fine(tmp_path):
    """The secrets' accessors: keys from the spec, values the accounts' members (unknown until
    they exist) — a valid for_each the check must not refuse."""
    modules = load_modules(TF_DIR)
    assert attr(modules["root"].calls["secrets"], "accessors").startswith("${{for n in module.spec.secret_readers")
    assert "module.service_accounts.function_members" in attr(modules["root"].calls["secrets"], "accessors")
    assert UnknownAtPlan(modules).unknown("secrets", "${var.accessors}", "keys") is None
    assert UnknownAtPlan(modules).unknown("secrets", "${var.accessors}", "full")  # its values are unknown


# --- 2. vector indexes as Firestore reads them back ---------------------------------------------

def test_vector_indexes_declare_the_key_before_the_vector_field_after_the_pre_filters(spec_outputs):
    """The provider's schema (magic-modules Index.yaml, vectorConfig): "Vector Fields should come
    after the field path `__name__`"; its example is [filter, __name__ ASCENDING, vector]. Firestore
    records the key there and reads the index back that way: anything else replaces every index on
    every apply (`fields` forces replacement). The pre-filters are the chunk search's."""
    index = load_modules(TF_DIR)["firestore"].resources["google_firestore_index.vector"]
    dynamic = dynamic_blocks(index, "fields")
    static = blocks(index, "fields")
    assert len(dynamic) == 1 and attr(dynamic[0], "for_each") == "${each.value.filters}"
    assert [(attr(f, "field_path"), attr(f, "order")) for f in static[:-1]] == [("__name__", "ASCENDING")]
    assert "vector_config" in static[-1] and "order" not in static[-1]
    # hcl2 keeps a resource's blocks in source order per kind: the dynamic filters come first in
    # the file (Terraform expands a dynamic block where it is written).
    text = (TF_DIR / "modules" / "firestore" / "main.tf").read_text()
    body = text[text.index('resource "google_firestore_index" "vector"'):]
    body = body[:body.index("\n}\n")]
    assert body.index('dynamic "fields"') < body.index('"__name__"') < body.index("vector_config")
    # Every pre-filter combination of the search, none of them the key or the vector.
    from contentflow.search import SearchRequest

    filtered = {"label": "labels", "language": "language", "document_id": "document_id"}
    assert set(filtered) <= set(SearchRequest.model_fields)
    for key, idx in spec_outputs["firestore"]["vector_indexes"].items():
        paths = [f["field_path"] for f in idx["filters"]]
        assert paths[0] == "embedding_space", key
        assert set(paths[1:]) <= set(filtered.values()) and "__name__" not in paths, key
    combos = {tuple(f["field_path"] for f in i["filters"]) for i in spec_outputs["firestore"]["vector_indexes"].values()}
    assert ("embedding_space", "labels", "language") in combos and ("embedding_space", "document_id") in combos


# --- 3 and 4. monitoring ------------------------------------------------------------------------

def _seconds(duration: str) -> int:
    m = re.fullmatch(r"(\d+)([smh])", duration)
    assert m, duration
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


def test_what_uses_the_log_based_metric_waits_until_monitoring_knows_it():
    """terraform-provider-google issue 11102: an alert policy on a log-based metric created in
    the same apply gets 404 "Cannot find metric(s) ... up to 10 minutes". Each resource that
    names the metric depends on a time_sleep started by the metric, of at least 10 minutes."""
    mon = load_modules(TF_DIR)["monitoring"]
    sleeps = {rid: b for rid, b in mon.resources.items() if rid.startswith("time_sleep.")}
    waits_for_metric = {rid for rid, b in sleeps.items()
                        if any("google_logging_metric.failures" in str(v) for v in attr(b, "triggers", {}).values())}
    assert waits_for_metric, "no time_sleep started by the failures metric"
    for rid in waits_for_metric:
        duration = attr(sleeps[rid], "create_duration")
        if duration.startswith("${var."):
            duration = attr(mon.variables[duration[6:-1]], "default")
        assert _seconds(duration) >= 600, (rid, duration)
    users = [rid for rid, b in mon.resources.items()
             if rid.startswith(("google_monitoring_alert_policy.", "google_monitoring_dashboard."))
             and ("local.failures_type" in json.dumps(b) or "google_logging_metric" in json.dumps(b))]
    assert "google_monitoring_alert_policy.error_rate" in users
    for rid in users:
        depends = [d for group in mon.resources[rid].get("depends_on", []) for d in (group if isinstance(group, list) else [group])]
        assert any(f"${{{w}}}" in depends for w in waits_for_metric), f"{rid} does not wait for the metric"


def _balanced(text: str, start: int) -> str:
    """The bracketed expression starting at text[start] ("[")."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"[": 1, "{": 1, "(": 1, "]": -1, "}": -1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i + 1]
    raise AssertionError("unbalanced expression")


def _evaluate(tmp_path: Path, hcl: str) -> dict:
    """Plans a provider-free module holding `hcl` and returns its outputs."""
    module = tmp_path / "module"
    module.mkdir()
    (module / "main.tf").write_text(hcl)
    env = terraform_env(tmp_path / "work")
    for args in (["init", "-input=false", "-no-color"],
                 ["plan", "-input=false", "-no-color", "-lock=false", f"-out={tmp_path / 'p.tfplan'}"]):
        proc = subprocess.run([terraform_binary(), f"-chdir={module}", *args], env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = subprocess.run([terraform_binary(), f"-chdir={module}", "show", "-json", str(tmp_path / "p.tfplan")],
                           env=env, capture_output=True, text=True, timeout=120, check=True)
    return {k: v["value"] for k, v in json.loads(shown.stdout)["planned_values"]["outputs"].items()}


@pytest.mark.parametrize("charts", [1, 2, 7, 8])
def test_dashboard_tiles_leave_out_zero_positions(tmp_path, charts):
    """terraform-provider-google issue 16173: the Monitoring API drops xPos/yPos 0, so a tile at 0
    diffs on every plan. The dashboard's own tiles expression, evaluated by terraform with stand-in
    charts: no zero position, every tile in its own cell of a two-column grid."""
    text = (TF_DIR / "modules" / "monitoring" / "main.tf").read_text()
    at = text.index("tiles = [") + len("tiles = ")
    tiles = _balanced(text, at)
    stand_ins = ", ".join(f'{{ title = "c{i}", filter = "f", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", group_by = [] }}'
                          for i in range(charts))
    out = _evaluate(tmp_path, f"locals {{\n  charts = [{stand_ins}]\n}}\n\noutput \"tiles\" {{\n  value = {tiles}\n}}\n")
    found = out["tiles"]
    assert len(found) == charts
    for tile in found:
        assert tile.get("xPos", None) != 0 and tile.get("yPos", None) != 0, tile
    cells = {(t.get("xPos", 0), t.get("yPos", 0)) for t in found}
    assert len(cells) == charts
    assert {x for x, _ in cells} <= {0, 6} and all(t["width"] == 6 for t in found)
    assert (0, 0) in cells  # the first tile sits top left, with neither position written


# --- 5 and 6. waits for APIs and IAM ------------------------------------------------------------

def _depends(body: dict) -> list[str]:
    return [d for group in body.get("depends_on", []) for d in (group if isinstance(group, list) else [group])]


def test_every_use_of_a_service_waits_after_enabling_the_apis():
    """The provider's guide to google_project_service ("Newly activated service errors"):
    activation is eventually consistent, the first use can get a 403; its mitigation is a
    time_sleep. modules/project waits after google_project_service; inside the module everything
    that calls a service depends on the wait; every other module depends on module.project."""
    modules = load_modules(TF_DIR)
    project = modules["project"]
    wait = project.resources.get("time_sleep.apis_enabled")
    assert wait is not None, "modules/project has no wait after enabling the APIs"
    assert "google_project_service.enabled" in json.dumps(wait)
    assert _seconds(attr(project.variables["api_activation_wait"], "default")) >= 30
    # Inside the module: what calls a Google API (besides enabling it and reading the project,
    # which the plan does) waits, directly or through what it references.
    direct = {rid for rid, b in {**project.resources, **{f"data.{k}": v for k, v in project.data.items()}}.items()
              if "${time_sleep.apis_enabled}" in _depends(b)}
    for rid, body in project.resources.items():
        if rid in {"google_project_service.enabled", "time_sleep.apis_enabled"}:
            continue
        text = json.dumps(body) + " ".join(json.dumps(project.locals[n]) for n in re.findall(r"local\.(\w+)", json.dumps(body)))
        assert rid in direct or any(d.split("data.")[-1] in text for d in direct), f"project: {rid} does not wait for the APIs"
    # Across modules: each module with resources reaches module.project through depends_on or
    # references (module-level depends_on orders every resource inside after it).
    root = modules["root"]
    sources = {call: attr(body, "source").rsplit("/", 1)[-1] for call, body in root.calls.items()}
    edges = {call: set(re.findall(r"module\.(\w+)", json.dumps({k: v for k, v in body.items() if k != "source"})))
             for call, body in root.calls.items()}

    def reaches_project(call, seen=()):
        return "project" in edges[call] or any(reaches_project(c, (*seen, call)) for c in edges[call] if c not in seen)

    for call, module in sources.items():
        if modules[module].resources or modules[module].data:
            assert call == "project" or reaches_project(call), f"module {call} does not wait for module.project"
    assert not [rid for rid in root.resources if not rid.startswith("terraform_data.")], "root resources would escape the wait"


def test_builds_wait_for_iam_after_the_image_push_grant():
    """IAM changes propagate typically in 2 minutes, sometimes 7 or more (IAM, "Access change
    propagation"). The Artifact Registry writer grant used to be made after the build wait, so a
    first image push could be denied: the wait now comes after it, covers every grant a build or
    a new function needs, lasts at least 2 minutes, and every function waits for it."""
    modules = load_modules(TF_DIR)
    fns = modules["functions"]
    sleeps = [rid for rid in fns.resources if rid.startswith("time_sleep.")]
    assert len(sleeps) == 1, sleeps
    wait = fns.resources[sleeps[0]]
    assert "google_artifact_registry_repository_iam_member.build_pushes" in json.dumps(attr(wait, "triggers"))
    assert "var.grant_ids" in json.dumps(attr(wait, "triggers"))
    duration = attr(wait, "create_duration")
    assert duration == "${var.iam_propagation_wait}"
    assert _seconds(attr(fns.variables["iam_propagation_wait"], "default")) >= 120
    function = fns.resources["google_cloudfunctions2_function.function"]
    assert f"${{{sleeps[0]}}}" in _depends(function)
    # Every other grant is made before the module starts: its depends_on names each module that
    # grants something the builds or the functions use, and the waits's triggers list those grants.
    call = modules["root"].calls["functions"]
    assert {"${module.source}", "${module.secrets}", "${module.storage}", "${module.pubsub}", "${module.service_accounts}"} <= set(_depends(call))
    grants = attr(call, "grant_ids")
    for needed in ("module.source.reader_grant", "module.service_accounts.project_roles_granted", "module.service_accounts.signer_grants"):
        assert needed in grants, needed
    root_vars = modules["root"].variables
    assert attr(call, "iam_propagation_wait") == "${var.iam_propagation_wait}"
    assert _seconds(attr(root_vars["iam_propagation_wait"], "default")) >= 120
    assert not [rid for rid in modules["root"].resources if rid.startswith("time_sleep.")]  # no second, earlier wait


# --- 7. CMEK ------------------------------------------------------------------------------------

CMEK_MODULE = TF_DIR / "modules" / "cmek"


def _plan_cmek(tmp_path: Path, **variables) -> subprocess.CompletedProcess:
    env = terraform_env(tmp_path)
    subprocess.run([terraform_binary(), f"-chdir={CMEK_MODULE}", "init", "-input=false", "-no-color"],
                   env=env, capture_output=True, text=True, timeout=120, check=True)
    args = [f"-var={k}={v}" for k, v in variables.items() if v is not None]
    return subprocess.run([terraform_binary(), f"-chdir={CMEK_MODULE}", "plan", "-input=false", "-no-color", "-lock=false", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def _key(location: str) -> str:
    return f"projects/kms-project/locations/{location}/keyRings/contentflow/cryptoKeys/data"


@pytest.mark.parametrize("region, firestore_location, kms, firestore_kms, refused", [
    ("europe-west3", "europe-west3", _key("europe-west3"), None, None),             # regional key serves both
    ("europe-west3", "europe-west3", None, None, None),                             # no CMEK
    ("europe-west3", "europe-west3", _key("europe-west1"), None, "in the region"),  # key elsewhere
    ("europe-west3", "eur3", _key("europe-west3"), None, "firestore_kms_key_name"),  # regional key cannot serve eur3
    ("europe-west3", "eur3", _key("europe-west3"), _key("europe"), None),
    ("europe-west3", "eur3", None, _key("europe-west3"), "Cloud KMS location europe"),
    ("us-central1", "nam5", _key("us-central1"), _key("us"), None),
    ("us-central1", "nam5", _key("us-central1"), _key("europe"), "Cloud KMS location us"),
    ("us-central1", "nam7", None, _key("us"), "no documented Cloud KMS location"),
    ("europe-west3", "europe-west4", _key("europe-west3"), None, "Cloud KMS location europe-west4"),  # db in another region
])
def test_cmek_keys_must_be_where_they_are_used(tmp_path, region, firestore_location, kms, firestore_kms, refused):
    """Firestore Admin API, CmekConfig.kms_key_name: only keys in the database's location; nam5 =>
    Cloud KMS us, eur3 => europe. The regional resources take a key in the region. Checked by a
    real plan of the provider-free modules/cmek, which the root module calls."""
    proc = _plan_cmek(tmp_path, region=region, firestore_location=firestore_location,
                      kms_key_name=kms, firestore_kms_key_name=firestore_kms)
    output = re.sub(r"\s+", " ", proc.stdout + proc.stderr)
    if refused is None:
        assert proc.returncode == 0, output
    else:
        assert proc.returncode != 0 and "precondition failed" in output and refused in output, output


def test_cmek_wiring_creates_the_firestore_agent_before_the_database(tmp_path):
    """Firestore's CMEK guide: the service agent (gcp-sa-firestore) must be created (services
    identity create) and granted the key before the database. The root passes the checked keys;
    the example tfvars plan."""
    modules = load_modules(TF_DIR)
    root = modules["root"]
    assert attr(root.calls["firestore"], "kms_key_name") == "${module.cmek.firestore_kms_key_name}"
    assert attr(root.calls["project"], "firestore_kms_key_name") == "${module.cmek.firestore_kms_key_name}"
    assert attr(root.calls["project"], "kms_key_name") == "${module.cmek.kms_key_name}"
    assert "${module.project}" in _depends(root.calls["firestore"])
    project = modules["project"]
    identity = project.resources["google_project_service_identity.firestore"]
    assert attr(identity, "service") == "firestore.googleapis.com" and attr(identity, "provider") == "${google-beta}"
    grant = project.resources["google_kms_crypto_key_iam_member.firestore_cmek"]
    assert attr(grant, "crypto_key_id") == "${var.firestore_kms_key_name}"
    assert attr(grant, "member") == "${local.firestore_agent}"
    assert "google_project_service_identity.firestore" in attr(project.locals, "firestore_agent")
    # The regional key's grants no longer name a Firestore agent (that key may not serve the database).
    assert "firestore" not in attr(project.locals, "agents")
    # The CMEK example passes the location check.
    with (TF_DIR / "examples" / "cmek.tfvars").open() as fh:
        example = {k: attr({k: v}, k) for k, v in hcl2.load(fh).items()}
    proc = _plan_cmek(tmp_path, region=example["region"], firestore_location=example.get("firestore_location", example["region"]),
                      kms_key_name=example["kms_key_name"], firestore_kms_key_name=example.get("firestore_kms_key_name"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    readme = (TF_DIR / "README.md").read_text()
    for location, key_location in (("eur3", "locations/europe"), ("nam5", "locations/us")):
        assert re.search(rf"`{location}`.*`{key_location}`", readme), location


# --- 8. least privilege ---------------------------------------------------------------------------

def test_firestore_roles_hold_on_the_pipelines_database_only():
    """The functions' Firestore role (roles/datastore.user, project-wide before) carries an IAM
    condition on the database's resource name. The api writes (intake, idempotency keys,
    deletion), so a read-only role cannot serve it; the README says what cannot be narrowed."""
    sa = load_modules(TF_DIR)["service_accounts"]
    grant = sa.resources["google_project_iam_member.function"]
    conditions = dynamic_blocks(grant, "condition")
    assert len(conditions) == 1, "the spec's project roles carry no IAM condition"
    decides = "".join(attr(conditions[0], "for_each").split())  # hcl2 spaces expressions its own way
    assert decides.startswith('${startswith(each.value.role,"roles/datastore.")?') and "var.firestore_database" in decides
    content = blocks(conditions[0], "content")[0]
    # hcl2 keeps the escapes of the quoted string
    assert attr(content, "expression").replace('\\"', '"') == 'resource.name == "projects/${var.project_id}/databases/${condition.value}"'
    assert attr(content, "title")
    assert attr(sa.variables["firestore_database"], "default") == "(default)"
    firestore = load_modules(TF_DIR)["firestore"]
    # ... the database modules/firestore creates or uses.
    assert attr(firestore.resources["google_firestore_database.default"], "name") == "(default)"
    assert attr(firestore.locals, "database").endswith(': "(default)"}')
    # The api does write Firestore (its routes register, key and delete documents): no read-only
    # role would do.
    routes = (REPO / "lib" / "contentflow" / "api" / "routes_documents.py").read_text()
    assert all(re.search(rf"\b{m}\b", routes) for m in ("intake", "idempotency", "deletion"))
    writes = {"intake.py": r"self\.store\.transition\(", "idempotency.py": r"\.create\(", "deletion.py": r"self\.store\.delete\("}
    for module, call in writes.items():
        assert re.search(call, (REPO / "lib" / "contentflow" / module).read_text()), module
    readme = (TF_DIR / "README.md").read_text()
    assert "What could not be narrowed" in readme and "datastore.viewer" in readme
