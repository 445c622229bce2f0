"""The .tf files, parsed as HCL: every resource that stands for something in the spec iterates over
a map of the spec module and takes its values from it, unchanged; no .tf names a pipeline
resource; the security rules hold. Together with test_tf_spec_module.py (which checks those maps
against the spec) this proves the deployed wiring is the spec's."""

from __future__ import annotations

import re
import subprocess

import pytest

from contentflow import pipeline
from contentflow.spec import load_spec_file

from .support import SPEC_PATH, TF_DIR, attr, blocks, dynamic_blocks, terraform_binary, terraform_env

SPEC = load_spec_file(SPEC_PATH)

# module, resource type, resource name => (the module variable it iterates over, the spec module
# output the root module passes to that variable).
SPEC_DRIVEN = {
    ("storage", "google_storage_bucket", "bucket"): ("buckets", "buckets"),
    ("pubsub", "google_pubsub_topic", "topic"): ("topics", "topics"),
    ("delivery", "google_pubsub_subscription", "push"): ("subscriptions", "subscriptions"),
    ("tasks", "google_cloud_tasks_queue", "queue"): ("queues", "queues"),
    ("scheduler", "google_cloud_scheduler_job", "job"): ("schedules", "schedules"),
    ("functions", "google_cloudfunctions2_function", "function"): ("functions", "functions"),
    ("service_accounts", "google_service_account", "function"): ("functions", "functions"),
    ("service_accounts", "google_service_account", "invoker"): ("invokers", "invokers"),
    ("service_accounts", "google_project_iam_member", "function"): ("project_role_grants", "project_role_grants"),
    ("pubsub", "google_pubsub_topic_iam_member", "publisher"): ("publishers", "topic_publishers"),
    ("storage", "google_storage_bucket_iam_member", "grant"): ("grants", "bucket_grants"),
    ("storage", "google_project_iam_custom_role", "role"): ("custom_roles", "custom_roles"),
    ("tasks", "google_cloud_tasks_queue_iam_member", "enqueuer"): ("enqueuers", "queue_enqueuers"),
    ("functions", "google_cloud_run_v2_service_iam_member", "invoker"): ("invoker_grants", "invoker_grants"),
}


def _call(terraform_hcl, module: str) -> dict:
    calls = {name: body for name, body in terraform_hcl.module_calls().items() if attr(body, "source") == f"./modules/{module}"}
    assert len(calls) == 1, f"the root module calls ./modules/{module} {len(calls)} times"
    return next(iter(calls.values()))


def test_spec_driven_resources_iterate_over_the_spec_module(terraform_hcl):
    for (module, rtype, name), (variable, output) in SPEC_DRIVEN.items():
        res = terraform_hcl.resource(module, rtype, name)
        assert attr(res.body, "for_each") == f"${{var.{variable}}}", f"{rtype}.{name} must iterate over var.{variable}"
        assert attr(_call(terraform_hcl, module), variable) == f"${{module.spec.{output}}}", \
            f"module {module}: {variable} must be module.spec.{output}"
    spec_call = _call(terraform_hcl, "spec")
    assert attr(spec_call, "spec_path") == "${local.spec_path}"
    assert "lib/contentflow/pipeline.yaml" in terraform_hcl.files[TF_DIR / "main.tf"]["locals"][0]["spec_path"][0]


def test_each_kind_of_spec_resource_is_created_in_one_place_only(terraform_hcl):
    """A second bucket, topic, function ... resource would be one the spec does not know."""
    for (module, rtype, name) in SPEC_DRIVEN:
        if rtype.endswith("_iam_member") or rtype in {"google_storage_bucket", "google_service_account"}:
            continue  # grants to agents and invokers; the source bucket and the build account (below)
        same = [r for r in terraform_hcl.resources() if r.type == rtype and r.kind == "resource"]
        # Besides the functions' push subscriptions, only the archives' own (test_archive_...).
        expected = [(module, name), ("pubsub", "archive")] if rtype == "google_pubsub_subscription" else [(module, name)]
        assert sorted((r.module, r.name) for r in same) == sorted(expected), rtype
    buckets = [(r.module, r.name) for r in terraform_hcl.resources() if r.type == "google_storage_bucket"]
    assert sorted(buckets) == [("source", "source"), ("storage", "bucket")]


def test_function_settings_are_passed_through_unchanged(terraform_hcl):
    fn = terraform_hcl.resource("functions", "google_cloudfunctions2_function", "function").body
    build = blocks(fn, "build_config")[0]
    service = blocks(fn, "service_config")[0]
    expected = [
        (build, "entry_point", "${each.value.entry_point}"),
        (build, "runtime", "${each.value.runtime}"),
        (build, "environment_variables", "${each.value.build_environment}"),
        (service, "available_memory", "${each.value.available_memory}"),
        (service, "available_cpu", "${each.value.available_cpu}"),
        (service, "max_instance_request_concurrency", "${each.value.concurrency}"),
        (service, "timeout_seconds", "${each.value.timeout_seconds}"),
        (service, "max_instance_count", "${each.value.max_instances}"),
        (service, "min_instance_count", "${each.value.min_instances}"),
        (service, "ingress_settings", "${each.value.ingress}"),
        (service, "environment_variables", "${each.value.environment}"),
        (service, "service_account_email", "${var.service_account_emails[each.key]}"),
    ]
    for body, key, value in expected:
        assert attr(body, key) == value, key
    assert attr(fn, "name") == "${each.value.service_name}"
    storage = blocks(blocks(build, "source")[0], "storage_source")[0]
    assert (attr(storage, "bucket"), attr(storage, "object")) == ("${var.source_bucket}", "${var.source_object}")
    # Own account: each function's service_account_email is its own account's, created per function.
    call = _call(terraform_hcl, "functions")
    assert attr(call, "service_account_emails") == "${module.service_accounts.function_emails}"
    sa = terraform_hcl.resource("service_accounts", "google_service_account", "function").body
    assert attr(sa, "account_id") == "${each.value.account_id}"
    # Secrets as secret env vars, never plain ones.
    secret = dynamic_blocks(service, "secret_environment_variables")[0]
    assert attr(secret, "for_each") == "${each.value.secret_environment}"


def test_triggers_are_of_the_spec_kind(terraform_hcl):
    fn = terraform_hcl.resource("functions", "google_cloudfunctions2_function", "function").body
    trigger = dynamic_blocks(fn, "event_trigger")[0]
    assert attr(trigger, "for_each").startswith('${each.value.trigger_type == "storage" ?')  # only storage triggers
    content = blocks(trigger, "content")[0]
    assert attr(content, "event_type") == "${event_trigger.value.storage_event}"
    assert attr(content, "service_account_email") == "${var.service_account_emails[each.key]}"
    assert attr(content, "retry_policy") == "RETRY_POLICY_RETRY"
    event_filter = blocks(content, "event_filters")[0]
    assert (attr(event_filter, "attribute"), attr(event_filter, "value")) == ("bucket", "${var.bucket_names[event_trigger.value.trigger_bucket]}")

    sub = terraform_hcl.resource("delivery", "google_pubsub_subscription", "push").body
    assert attr(sub, "topic") == "${var.topic_ids[each.value.topic]}"
    push = blocks(sub, "push_config")[0]
    assert attr(push, "push_endpoint") == "${var.function_uris[each.value.function]}"
    oidc = blocks(push, "oidc_token")[0]
    assert attr(oidc, "audience") == "${var.function_uris[each.value.function]}"
    retry = blocks(sub, "retry_policy")[0]
    assert (attr(retry, "minimum_backoff"), attr(retry, "maximum_backoff")) == ("${each.value.minimum_backoff}", "${each.value.maximum_backoff}")
    assert attr(sub, "ack_deadline_seconds") == "${each.value.ack_deadline_seconds}"
    dlq = dynamic_blocks(sub, "dead_letter_policy")[0]
    dlq_content = blocks(dlq, "content")[0]
    assert attr(dlq_content, "max_delivery_attempts") == "${each.value.max_delivery_attempts}"
    assert attr(dlq_content, "dead_letter_topic") == "${var.topic_ids[dead_letter_policy.value]}"

    job = terraform_hcl.resource("scheduler", "google_cloud_scheduler_job", "job").body
    target = blocks(job, "http_target")[0]
    assert attr(target, "uri") == "${var.function_uris[each.value.function]}"
    assert attr(blocks(target, "oidc_token")[0], "service_account_email") == "${var.scheduler_service_account_email}"
    assert attr(job, "schedule") == "${each.value.schedule}"

    queue = terraform_hcl.resource("tasks", "google_cloud_tasks_queue", "queue").body
    limits = blocks(queue, "rate_limits")[0]
    assert attr(limits, "max_dispatches_per_second") == "${each.value.max_dispatches_per_second}"
    retry = blocks(queue, "retry_config")[0]
    for key in ("max_attempts", "max_retry_duration", "min_backoff", "max_backoff", "max_doublings"):
        assert attr(retry, key) == f"${{each.value.{key}}}", key


def test_no_tf_file_names_a_pipeline_resource():
    """Ids of buckets, topics, queues, schedules, functions and the code's fixed names appear only in
    the spec module (as facts checked against the code), never as literals elsewhere."""
    names = set(SPEC.buckets) | set(SPEC.topics) | set(SPEC.queues) | set(SPEC.schedules) | set(SPEC.functions)
    names |= {n.replace("_", "-") for n in SPEC.functions} | {pipeline.OUTPUT_TOPIC, "documents", "contentflow-api-key"}
    # The chunk collection, its vector field and the space pre-filter (filter field names such as
    # "labels" are ordinary words: a variable is called labels).
    names |= {SPEC.embeddings.collection, SPEC.embeddings.field, "embedding_space"}
    offenders = []
    for path in TF_DIR.rglob("*.tf"):
        if "spec" in path.relative_to(TF_DIR).parts[:2] or ".terraform" in path.parts:
            continue
        text = path.read_text()
        for name in names:
            if re.search(rf'"{re.escape(name)}"', text):
                offenders.append(f"{path.relative_to(TF_DIR)}: \"{name}\"")
    assert not offenders, offenders


def test_vector_indexes_iterate_over_the_spec_module(terraform_hcl):
    """One google_firestore_index per entry of module.spec.firestore.vector_indexes (dimension x
    pre-filter combination), its values passed through: the spec module's tests check the map."""
    assert attr(_call(terraform_hcl, "firestore"), "layout") == "${module.spec.firestore}"
    index = terraform_hcl.resource("firestore", "google_firestore_index", "vector").body
    assert attr(index, "for_each") == "${var.layout.vector_indexes}"
    assert attr(index, "collection") == "${each.value.collection}"
    assert attr(index, "query_scope") == "COLLECTION"  # the chunks are a top-level collection
    filters = dynamic_blocks(index, "fields")[0]
    assert attr(filters, "for_each") == "${each.value.filters}"
    content = blocks(filters, "content")[0]
    assert {k: attr(content, k) for k in ("field_path", "order", "array_config")} == {
        "field_path": "${fields.value.field_path}", "order": "${fields.value.order}", "array_config": "${fields.value.array_config}"}
    static = blocks(index, "fields")
    assert [attr(f, "field_path") for f in static] == ["__name__", "${each.value.field}"]  # filters, key, vector: Firestore's order
    vector = blocks(static[-1], "vector_config")[0]
    assert attr(vector, "dimension") == "${each.value.dimension}"
    assert "flat" in vector
    # No other vector index: each one stands for a spec entry.
    others = [r for r in terraform_hcl.resources() if r.type == "google_firestore_index" and r.name != "vector"]
    assert sorted(r.name for r in others) == ["listing", "stale_documents"]
    assert not any("vector_config" in str(r.body) for r in others)


def test_listing_indexes_and_expiry_policies_iterate_over_the_spec_module(terraform_hcl):
    """One composite index per entry of module.spec.firestore.listing_indexes (its fields passed
    through, in order), one TTL policy per collection of `expiring`: ttl_config with no offset
    (the field holds the expiry time itself), single-field indexes off (an empty index_config)."""
    index = terraform_hcl.resource("firestore", "google_firestore_index", "listing").body
    assert attr(index, "for_each") == "${var.layout.listing_indexes}"
    assert attr(index, "collection") == "${each.value.collection}"
    assert attr(index, "query_scope") == "COLLECTION"
    assert not blocks(index, "fields")  # only the spec module's fields, key and order included
    fields = dynamic_blocks(index, "fields")[0]
    assert attr(fields, "for_each") == "${each.value.fields}"
    assert {k: attr(blocks(fields, "content")[0], k) for k in ("field_path", "order", "array_config")} == {
        "field_path": "${fields.value.field_path}", "order": "${fields.value.order}", "array_config": "${fields.value.array_config}"}
    expiry = terraform_hcl.resource("firestore", "google_firestore_field", "expiry").body
    assert attr(expiry, "for_each") == "${var.layout.expiring}"
    assert (attr(expiry, "collection"), attr(expiry, "field")) == ("${each.value.collection}", "${each.value.field}")
    assert blocks(expiry, "ttl_config") == [{}] and blocks(expiry, "index_config") == [{}]
    # The records' own TTL (offset after the last change); its single-field indexes are dropped by the spec's
    # index_exemptions (the sweeper queries updated_at through the (status, updated_at) composite index).
    records = terraform_hcl.resource("firestore", "google_firestore_field", "ttl").body
    assert not blocks(records, "index_config")
    assert attr(blocks(records, "ttl_config")[0], "expiration_offset") == "${var.layout.ttl_expiration_offset}"


def test_inference_variables(terraform_hcl):
    """Typed, described, validated, with the brief's defaults, the same in the root and the spec
    module, and passed through unchanged."""
    expected = {"inference_backend": "vertex", "vertex_location": "global", "generation_model": None, "embedding_model": None}
    root = {n: b for block in terraform_hcl.files[TF_DIR / "variables.tf"]["variable"] for n, b in block.items()}
    spec = terraform_hcl.variables("spec")
    call = _call(terraform_hcl, "spec")
    for name, default in expected.items():
        for where, variables in (("root", root), ("spec", spec)):
            body = variables[name]
            assert attr(body, "type") == "${string}", (where, name)
            assert attr(body, "default") == default, (where, name)
            assert blocks(body, "validation"), f"{where}: variable {name} has no validation"
        assert "CONTENTFLOW_INFERENCE__" in attr(root[name], "description"), name  # says which setting it is
        # The root refuses what the spec module refuses (tests/terraform/test_tf_spec_module.py
        # plans the spec module with invalid values).
        assert [attr(v, "condition") for v in blocks(root[name], "validation")] == [attr(v, "condition") for v in blocks(spec[name], "validation")], name
        assert attr(call, name) == f"${{var.{name}}}", name
    assert "local" in attr(blocks(root["inference_backend"], "validation")[0], "condition")


def test_the_apis_of_the_spec_roles_are_enabled(terraform_hcl):
    """roles/aiplatform.user in project_roles => aiplatform.googleapis.com (checked on the spec
    module's role_apis); the root enables them with the platform's."""
    apis = terraform_hcl.files[TF_DIR / "main.tf"]["locals"][0]["apis"][0]
    assert "module.spec.role_apis" in apis
    assert attr(_call(terraform_hcl, "project"), "apis") == "${local.apis}"
    enabled = terraform_hcl.resource("project", "google_project_service", "enabled").body
    assert attr(enabled, "for_each") == "${var.enable_apis ? toset(var.apis) : toset([])}"


def test_no_primitive_roles_no_public_members(terraform_hcl):
    roles, members = [], []
    for r in terraform_hcl.resources():
        if r.type.endswith(("_iam_member", "_iam_binding", "_iam_policy")):
            assert r.type.endswith("_iam_member"), f"{r.type}.{r.name}: only additive grants (iam_member)"
            roles.append((r, attr(r.body, "role")))
            members.append((r, attr(r.body, "member")))
    assert roles
    for r, role in roles:
        assert role not in {"roles/owner", "roles/editor", "roles/viewer"}, r
        assert role.startswith("roles/") or role == "${each.value.role}", (r.type, r.name, role)
    for r, member in members:
        assert "allUsers" not in member and "allAuthenticatedUsers" not in member, (r.type, r.name)
    # Project-wide grants: the spec's project_roles, plus exactly these for Google's own agents/builds.
    project_level = {attr(r.body, "role") for r in terraform_hcl.resources() if r.type == "google_project_iam_member"}
    assert project_level == {"${each.value.role}", "roles/logging.logWriter", "roles/pubsub.publisher", "roles/eventarc.serviceAgent"}


def test_access_grants_are_on_single_resources(terraform_hcl):
    """Topics, buckets, queues and the secret are granted on the resource, never project-wide."""
    expected = {
        ("pubsub", "google_pubsub_topic_iam_member", "publisher"): "roles/pubsub.publisher",
        ("tasks", "google_cloud_tasks_queue_iam_member", "enqueuer"): "roles/cloudtasks.enqueuer",
        ("secrets", "google_secret_manager_secret_iam_member", "accessor"): "roles/secretmanager.secretAccessor",
        ("delivery", "google_pubsub_subscription_iam_member", "dead_letter_ack"): "roles/pubsub.subscriber",
        ("pubsub", "google_pubsub_topic_iam_member", "dead_letter_forwarding"): "roles/pubsub.publisher",
    }
    for (module, rtype, name), role in expected.items():
        assert attr(terraform_hcl.resource(module, rtype, name).body, "role") == role
    forwarding = terraform_hcl.resource("pubsub", "google_pubsub_topic_iam_member", "dead_letter_forwarding").body
    assert attr(forwarding, "member") == "${var.pubsub_agent_member}"
    assert attr(_call(terraform_hcl, "pubsub"), "pubsub_agent_member") == "${module.project.agents.pubsub}"


def test_variables_are_typed_and_described(terraform_hcl):
    for path, doc in terraform_hcl.files.items():
        for block in doc.get("variable", []):
            for name, body in block.items():
                assert attr(body, "type") is not None, f"{path.relative_to(TF_DIR)}: variable {name} has no type"
                assert attr(body, "description"), f"{path.relative_to(TF_DIR)}: variable {name} has no description"
        for block in doc.get("output", []):
            for name, body in block.items():
                assert attr(body, "description"), f"{path.relative_to(TF_DIR)}: output {name} has no description"


def test_every_module_pins_its_providers():
    for versions in [TF_DIR / "versions.tf", *sorted((TF_DIR / "modules").glob("*/versions.tf"))]:
        text = versions.read_text()
        assert "required_version" in text, versions
        for provider in re.findall(r'source\s*=\s*"hashicorp/([a-z-]+)"', text):
            assert re.search(rf'source\s*=\s*"hashicorp/{provider}"\s*\n\s*version\s*=\s*">= [0-9.]+, < [0-9.]+"', text), (versions, provider)
    assert "hashicorp/google-beta" in (TF_DIR / "versions.tf").read_text()
    modules = sorted(p.name for p in (TF_DIR / "modules").iterdir() if p.is_dir())
    assert all((TF_DIR / "modules" / m / "versions.tf").exists() for m in modules)
    assert "required_providers" not in (TF_DIR / "modules" / "spec" / "versions.tf").read_text()


def test_terraform_fmt_check(tmp_path):
    proc = subprocess.run([terraform_binary(), "fmt", "-check", "-recursive", "-diff", str(TF_DIR)],
                          env=terraform_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"terraform fmt -check failed:\n{proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("tfvars", sorted((TF_DIR / "examples").glob("*.tfvars")), ids=lambda p: p.name)
def test_examples_set_only_declared_variables(terraform_hcl, tfvars):
    import hcl2

    declared = {name for block in terraform_hcl.files[TF_DIR / "variables.tf"]["variable"] for name in block}
    with tfvars.open() as fh:
        given = set(hcl2.load(fh))
    assert given and given <= declared, given - declared
    assert {"project_id", "region"} <= given


def test_readmes_document_every_input_and_output(terraform_hcl):
    folders = [TF_DIR, *sorted(p for p in (TF_DIR / "modules").iterdir() if p.is_dir())]
    for folder in folders:
        readme = (folder / "README.md").read_text()
        for kind in ("variable", "output"):
            path = folder / ("variables.tf" if kind == "variable" else "outputs.tf")
            names = [n for block in terraform_hcl.files[path].get(kind, []) for n in block]
            assert names, path
            missing = [n for n in names if f"`{n}`" not in readme]
            assert not missing, f"{folder.relative_to(TF_DIR.parent)}/README.md does not document {kind}s {missing}"


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key) if isinstance(key, str) and "${" in key else ()
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def test_references_resolve(terraform_hcl):
    """What `terraform validate` would catch first, offline: every var., local., module., data. and
    resource reference names something declared in its module; every module call passes only
    declared variables and all required ones; every module output the root reads exists."""
    folders = [TF_DIR, *sorted(p for p in (TF_DIR / "modules").iterdir() if p.is_dir())]
    declared_outputs = {}
    declared_variables = {}
    for folder in folders:
        docs = [doc for path, doc in terraform_hcl.files.items() if path.parent == folder]
        variables = {n: b for doc in docs for block in doc.get("variable", []) for n, b in block.items()}
        declared_variables[folder.name] = variables
        declared_outputs[folder.name] = {n for doc in docs for block in doc.get("output", []) for n in block}
    for folder in folders:
        docs = [doc for path, doc in terraform_hcl.files.items() if path.parent == folder]
        variables = declared_variables[folder.name]
        local_names = {n for doc in docs for block in doc.get("locals", []) for n in block}
        resources = {f"{t}.{n}" for doc in docs for block in doc.get("resource", []) for t, insts in block.items() for n in insts}
        data = {f"{t}.{n}" for doc in docs for block in doc.get("data", []) for t, insts in block.items() for n in insts}
        calls = {n: b for doc in docs for block in doc.get("module", []) for n, b in block.items()}
        where = folder.relative_to(TF_DIR.parent)
        for text in (s for doc in docs for s in _strings(doc) if "${" in s):  # expressions, not descriptions
            for name in re.findall(r"\bvar\.(\w+)", text):
                assert name in variables, f"{where}: var.{name} is not declared"
            for name in re.findall(r"\blocal\.(\w+)", text):
                assert name in local_names, f"{where}: local.{name} is not defined"
            for name in re.findall(r"\bdata\.(\w+\.\w+)", text):
                assert name in data, f"{where}: data.{name} is not declared"
            for call, output in re.findall(r"\bmodule\.(\w+)\.(\w+)", text):
                assert call in calls, f"{where}: module.{call} is not called"
                target = attr(calls[call], "source").rsplit("/", 1)[-1]
                assert output in declared_outputs[target], f"{where}: module.{call} has no output {output}"
            for name in re.findall(r"(?<![\w.])((?:google|archive|time)_\w+\.\w+)", text):
                assert name in resources or name.split(".")[0] in {"google_project"}, f"{where}: {name} is not declared"
        for call, body in calls.items():
            target = attr(body, "source").rsplit("/", 1)[-1]
            wanted = declared_variables[target]
            given = {k for k in body if not k.startswith("__") and k not in {"source", "depends_on", "providers", "count", "for_each"}}
            assert given <= set(wanted), f"{where}: module {call} gets undeclared {sorted(given - set(wanted))}"
            required = {n for n, b in wanted.items() if "default" not in b}
            assert required <= given, f"{where}: module {call} misses {sorted(required - given)}"


def _object_attributes(type_expr: str) -> dict[str, str] | None:
    """The attributes of a map(object({...})), list(object({...})) or object({...}) type."""
    import ast

    m = (re.fullmatch(r"\$\{(?:map|list)\(object\((\{.*\})\)\)\}", type_expr, re.S)
         or re.fullmatch(r"\$\{object\((\{.*\})\)\}", type_expr, re.S))
    return ast.literal_eval(m.group(1)) if m else None


def test_spec_maps_fit_the_module_variables(terraform_hcl, spec_outputs):
    """Each map the root passes from module.spec has every attribute the receiving variable's
    object type requires, and every each.value.X a resource reads is declared in that type: what a
    plan would reject, checked offline on the real spec module values."""
    checked = 0
    for call, body in terraform_hcl.module_calls().items():
        module = attr(body, "source").rsplit("/", 1)[-1]
        if module == "spec":
            continue
        variables = terraform_hcl.variables(module)
        for name, value in body.items():
            m = re.fullmatch(r"\$\{module\.spec\.(\w+)\}", str(attr(body, name)))
            if not m or name not in variables:
                continue
            attrs = _object_attributes(attr(variables[name], "type"))
            if attrs is None:
                continue
            required = {a for a, t in attrs.items() if not t.startswith("${optional(")}
            out = spec_outputs[m.group(1)]
            elements = out.values() if isinstance(out, dict) and attr(variables[name], "type").startswith("${map(") else out if isinstance(out, list) else [out]
            for element in elements:
                missing = required - set(element)
                assert not missing, f"module.{call}.{name}: module.spec.{m.group(1)} lacks {sorted(missing)}"
                checked += 1
    assert checked > 20
    for r in terraform_hcl.resources():
        for_each = attr(r.body, "for_each")
        m = re.fullmatch(r"\$\{var\.(\w+)\}", str(for_each)) if for_each else None
        if not m or r.module == "root":
            continue
        attrs = _object_attributes(attr(terraform_hcl.variables(r.module)[m.group(1)], "type"))
        if attrs is None:
            continue
        used = {a for s in _strings(r.body) for a in re.findall(r"\beach\.value\.(\w+)", s)}
        assert used <= set(attrs), f"{r.module}: {r.type}.{r.name} reads {sorted(used - set(attrs))}, not in var.{m.group(1)}'s type"


def test_a_url_signer_may_sign_as_itself_only(terraform_hcl):
    """signBlob as its own account: serviceAccountTokenCreator granted on the signer's account to
    that same account (a service-account-level grant, no project role), for module.spec.url_signers;
    the IAM Credentials API (signBlob) is enabled when there is a signer; the functions start after."""
    grant = terraform_hcl.resource("service_accounts", "google_service_account_iam_member", "signs_as_itself").body
    assert attr(grant, "for_each") == "${toset(var.url_signers)}"
    assert attr(grant, "role") == "roles/iam.serviceAccountTokenCreator"
    assert attr(grant, "service_account_id") == "${google_service_account.function[each.value].name}"
    assert attr(grant, "member") == "${google_service_account.function[each.value].member}"
    assert attr(_call(terraform_hcl, "service_accounts"), "url_signers") == "${module.spec.url_signers}"
    apis = terraform_hcl.files[TF_DIR / "main.tf"]["locals"][0]["apis"][0]
    assert "length(module.spec.url_signers) > 0 ? ['iamcredentials.googleapis.com'] : []" in apis
    assert "${module.service_accounts}" in body_list(_call(terraform_hcl, "functions"), "depends_on")
    # The other token creator grants are the Pub/Sub agent's (push and Eventarc OIDC tokens).
    creators = {(r.module, r.name): attr(r.body, "member") for r in terraform_hcl.resources()
                if attr(r.body, "role") == "roles/iam.serviceAccountTokenCreator"}
    assert set(creators) == {("delivery", "push_tokens"), ("functions", "trigger_token"), ("service_accounts", "signs_as_itself")}
    assert creators[("delivery", "push_tokens")] == creators[("functions", "trigger_token")] == "${var.pubsub_agent_member}"


def body_list(body: dict, name: str) -> list:
    """A list attribute (hcl2 wraps it in one more list)."""
    value = body.get(name, [])
    return value[0] if len(value) == 1 and isinstance(value[0], list) else value


def test_bucket_grants_wait_for_the_custom_roles(terraform_hcl):
    """A grant of contentflowObjectDeleter needs the role to exist first; the role holds only
    Cloud Storage object permissions (a variable validation), from module.spec.custom_roles."""
    grant = terraform_hcl.resource("storage", "google_storage_bucket_iam_member", "grant").body
    assert body_list(grant, "depends_on") == ["${google_project_iam_custom_role.role}"]
    role = terraform_hcl.resource("storage", "google_project_iam_custom_role", "role").body
    for key in ("role_id", "title", "description", "permissions"):
        assert attr(role, key) == f"${{each.value.{key}}}", key
    conditions = [attr(v, "condition") for v in blocks(terraform_hcl.variables("storage")["custom_roles"], "validation")]
    assert any("startswith(p," in c and "storage.objects." in c for c in conditions)


def test_every_enqueuer_may_give_its_tasks_the_invokers_token(terraform_hcl):
    """Creating a task with the tasks invoker's OIDC token needs actAs on that account: granted to
    every function of module.spec.queue_enqueuers (the api for its fetch tasks, like the backfill
    for reembed's); the enqueue grant itself is on the single queue."""
    acts_as = terraform_hcl.resource("tasks", "google_service_account_iam_member", "enqueuer_acts_as_invoker").body
    # keyed by spec function names (known at plan time), never by the account (unknown until apply)
    assert attr(acts_as, "for_each") == "${toset(distinct([for e in values(var.enqueuers) : e.function]))}"
    assert (attr(acts_as, "role"), attr(acts_as, "member")) == ("roles/iam.serviceAccountUser", "${var.members[each.value]}")
    assert attr(acts_as, "service_account_id") == "${var.tasks_invoker_id}"
    enqueuer = terraform_hcl.resource("tasks", "google_cloud_tasks_queue_iam_member", "enqueuer").body
    assert attr(enqueuer, "name") == "${google_cloud_tasks_queue.queue[each.value.queue].name}"


def test_scheduler_jobs_post_the_spec_body_and_retry(terraform_hcl):
    """Each job POSTs the spec's JSON body (base64, as the API takes it) to its target with the
    scheduler invoker's OIDC token, and retries a failed run (Cloud Scheduler's default is none)."""
    job = terraform_hcl.resource("scheduler", "google_cloud_scheduler_job", "job").body
    assert attr(job, "for_each") == "${var.schedules}"
    assert attr(job, "name") == "${each.key}"
    assert attr(job, "attempt_deadline") == "${each.value.attempt_deadline}"
    target = blocks(job, "http_target")[0]
    assert (attr(target, "http_method"), attr(target, "body")) == ("POST", "${base64encode(each.value.body)}")
    assert attr(target, "headers") == {"Content-Type": "application/json"}
    assert attr(blocks(target, "oidc_token")[0], "audience") == "${var.function_uris[each.value.function]}"
    retry = blocks(job, "retry_config")[0]
    assert attr(retry, "retry_count") == "${var.retry.retry_count}"
    default = attr(terraform_hcl.variables("scheduler")["retry"], "default")
    assert default["retry_count"] >= 1
    assert attr(_call(terraform_hcl, "scheduler"), "scheduler_service_account_email") == '${try(module.service_accounts.invoker_emails["scheduler"],None)}'


def test_archive_topics_keep_their_messages_in_a_subscription_of_their_own(terraform_hcl):
    """A consumer's dead-lettered output event lands in an archive topic (issue #11, defect 5): its
    pull subscription, derived from the topics map, keeps it 7 days, acknowledged ones too, for
    `contentflow events replay`; the topic keeps messages as long (a seek back)."""
    archive = terraform_hcl.resource("pubsub", "google_pubsub_subscription", "archive").body
    no_spaces = lambda text: "".join(text.split())  # noqa: E731 (the HCL parser spaces expressions its own way)
    assert no_spaces(attr(archive, "for_each")) == no_spaces("${{for id, t in var.topics : id => t if t.archive}}")
    assert attr(archive, "name") == "${each.value.archive_subscription}"
    assert attr(archive, "topic") == "${google_pubsub_topic.topic[each.key].id}"
    assert attr(archive, "retain_acked_messages") is True
    assert attr(archive, "message_retention_duration") == "${var.dead_letter_retention}"
    assert attr(blocks(archive, "expiration_policy")[0], "ttl") == ""
    assert "push_config" not in archive and "dead_letter_policy" not in archive  # kept, not delivered
    topic = terraform_hcl.resource("pubsub", "google_pubsub_topic", "topic").body
    assert attr(topic, "message_retention_duration").replace("None", "null") == \
        "${each.value.dead_letter || each.value.archive ? var.dead_letter_retention : null}"
    retention = terraform_hcl.variables("pubsub")["dead_letter_retention"]
    assert attr(retention, "default") == "604800s"  # Pub/Sub's maximum, contentflow.spec.ARCHIVE_RETENTION_S
    from contentflow.spec import ARCHIVE_RETENTION_S

    assert f"{ARCHIVE_RETENTION_S}s" == attr(retention, "default")
