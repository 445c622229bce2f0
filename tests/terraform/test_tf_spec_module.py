"""The spec module, evaluated by Terraform itself, against the spec as contentflow.spec reads it:
every bucket, topic, queue, schedule and function is there with the spec's values, nothing more,
and access is derived from the wiring."""

from __future__ import annotations

import inspect
import json
import os

import pytest

from contentflow import chunks, pipeline, store
from contentflow.inference.options import InferenceOptions
from contentflow.settings import Settings
from contentflow.spec import HttpTrigger, PubsubTrigger, QueueTrigger, StorageTrigger, load_spec_file

from .support import (
    INFERENCE_ENV,
    MODEL_ROLE,
    PROJECT_ID,
    REGION,
    REPO,
    SPEC_MODULE,
    SPEC_PATH,
    evaluate_spec_module,
    expected_model_users,
    expected_vector_indexes,
    tree_digest,
    vector_indexes_of,
)

SPEC = load_spec_file(SPEC_PATH)


def _seconds(value: float) -> str:
    return f"{value:g}s"


def test_evaluation_leaves_nothing_in_the_repository(tmp_path):
    from .support import evaluate_spec_module

    before = tree_digest(SPEC_MODULE)
    evaluate_spec_module(tmp_path)
    assert tree_digest(SPEC_MODULE) == before, "terraform wrote into terraform/modules/spec"
    assert (tmp_path / "spec.tfplan").exists()


def test_every_function_has_the_spec_sizing_trigger_and_roles(spec_outputs):
    functions = spec_outputs["functions"]
    assert set(functions) == set(SPEC.functions)
    for name, fn in SPEC.functions.items():
        tf = functions[name]
        rt = fn.runtime
        assert tf["available_memory"] == f"{rt.memory_mb}Mi", name
        assert float(tf["available_cpu"]) == rt.cpu, name
        assert tf["concurrency"] == rt.concurrency, name
        assert tf["timeout_seconds"] == rt.timeout_s, name
        assert tf["max_instances"] == rt.max_instances, name
        assert tf["min_instances"] == rt.min_instances, name
        assert tf["entry_point"] == fn.entry_point == name
        assert tf["source"] == fn.source
        assert tf["build_environment"] == {"GOOGLE_FUNCTION_SOURCE": fn.source}
        assert tf["runtime"] == "python311"
        assert sorted(tf["project_roles"]) == sorted(fn.project_roles), name
        assert tf["trigger_type"] == fn.trigger.type, name
        t = fn.trigger
        if isinstance(t, StorageTrigger):
            assert tf["trigger_bucket"] == t.bucket
            assert tf["storage_event"] == "google.cloud.storage.object.v1.finalized"
        if isinstance(t, PubsubTrigger):
            assert tf["trigger_topic"] == t.topic
        if isinstance(t, QueueTrigger):
            assert tf["trigger_queue"] == t.queue


def test_every_function_gets_its_own_service_account(spec_outputs):
    ids = [f["account_id"] for f in spec_outputs["functions"].values()]
    assert len(set(ids)) == len(ids) == len(SPEC.functions)
    assert all(6 <= len(i) <= 30 for i in ids)
    invokers = [i["account_id"] for i in spec_outputs["invokers"].values()]
    assert not set(ids) & set(invokers)


def _is_settings_field(key: str) -> bool:
    """CONTENTFLOW_X is Settings.x; CONTENTFLOW_X__Y is field y of the nested model Settings.x
    (env_nested_delimiter). pydantic-settings ignores unknown names: a typo would be silent."""
    prefix = Settings.model_config["env_prefix"]
    delimiter = Settings.model_config["env_nested_delimiter"]
    if not key.startswith(prefix):
        return True
    head, *rest = key[len(prefix):].lower().split(delimiter)
    field = Settings.model_fields.get(head)
    if field is None:
        return False
    if not rest:
        return True
    nested = getattr(field.annotation, "model_fields", None)
    return nested is not None and len(rest) == 1 and rest[0] in nested


def test_runtime_environment(spec_outputs, monkeypatch):
    urls = spec_outputs["function_urls"]
    assert set(urls) == set(SPEC.functions)
    tasks_account = f"{spec_outputs['invokers']['tasks']['account_id']}@{PROJECT_ID}.iam.gserviceaccount.com"
    enqueuers = {g["function"] for g in spec_outputs["queue_enqueuers"].values()}
    assert enqueuers  # the shipped spec hands on through queues (analyse, index) and enqueues reembed
    for name, fn in spec_outputs["functions"].items():
        env = fn["environment"]
        assert env["CONTENTFLOW_PROJECT_ID"] == PROJECT_ID
        assert env["CONTENTFLOW_REGION"] == REGION
        assert env["PYTHONPATH"] == "lib"
        for key in [*env, *fn["secret_environment"]]:
            assert _is_settings_field(key), f"{name}: {key} is not a Settings field"
        # Exactly the functions that create tasks name the tasks invoker (the OIDC token's account).
        assert env.get("CONTENTFLOW_TASKS_SERVICE_ACCOUNT") == (tasks_account if name in enqueuers else None), name
        assert json.loads(env["CONTENTFLOW_FUNCTION_URLS"]) == urls
        assert urls[name] == f"https://{REGION}-{PROJECT_ID}.cloudfunctions.net/{name.replace('_', '-')}"
        # The environment is what the code reads: Settings built from it.
        for key in list(os.environ):
            if key.startswith("CONTENTFLOW_"):
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = Settings()
        assert settings.project_id == PROJECT_ID and settings.region == REGION and settings.function_urls == urls
        if name in spec_outputs["model_users"]:
            assert (settings.inference.backend, settings.inference.vertex_location) == ("vertex", "global"), name


def test_inference_settings_go_to_exactly_the_functions_that_use_the_model(spec_outputs):
    users = expected_model_users(SPEC)
    assert set(spec_outputs["model_users"]) == users
    # On the shipped spec: the callers of the model (OCR in extraction, analysis, indexing,
    # re-embedding, search) and the backfill, which picks the documents to re-embed by the current
    # embedding space.
    assert users == {"extract", "analyse", "index", "reembed", "api", "backfill"}
    defaults = {"CONTENTFLOW_INFERENCE__BACKEND": "vertex", "CONTENTFLOW_INFERENCE__VERTEX_LOCATION": "global"}
    for name, fn in spec_outputs["functions"].items():
        inference = {k: v for k, v in fn["environment"].items() if k.startswith("CONTENTFLOW_INFERENCE__")}
        assert inference == (defaults if name in users else {}), name  # model ids unset: the code's defaults
    for env in INFERENCE_ENV:
        assert _is_settings_field(env), env
    assert {e.rsplit("__", 1)[1].lower() for e in INFERENCE_ENV} <= set(InferenceOptions.model_fields)
    assert spec_outputs["code_facts"]["model_role"] == MODEL_ROLE
    assert "aiplatform.googleapis.com" in spec_outputs["role_apis"]  # the Vertex AI API gets enabled


def test_inference_variables_reach_the_environment(tmp_path):
    out = evaluate_spec_module(tmp_path, variables={
        "inference_backend": "local", "vertex_location": "europe-west4",
        "generation_model": "gemini-2.5-flash", "embedding_model": "text-embedding-005"})
    expected = {
        "CONTENTFLOW_INFERENCE__BACKEND": "local", "CONTENTFLOW_INFERENCE__VERTEX_LOCATION": "europe-west4",
        "CONTENTFLOW_INFERENCE__GENERATION_MODEL": "gemini-2.5-flash",
        "CONTENTFLOW_INFERENCE__EMBEDDING_MODEL": "text-embedding-005",
    }
    for name, fn in out["functions"].items():
        inference = {k: v for k, v in fn["environment"].items() if k.startswith("CONTENTFLOW_INFERENCE__")}
        assert inference == (expected if name in expected_model_users(SPEC) else {}), name


@pytest.mark.parametrize("variable, value", [
    ("inference_backend", "openai"), ("vertex_location", "Europe West"), ("generation_model", "bad model id"),
])
def test_inference_variables_are_validated(tmp_path, variable, value):
    with pytest.raises(AssertionError, match=rf"Invalid value for variable[\s\S]*var\.{variable} is"):
        evaluate_spec_module(tmp_path, variables={variable: value})


def test_buckets_are_the_spec_buckets(spec_outputs):
    buckets = spec_outputs["buckets"]
    assert set(buckets) == set(SPEC.buckets)
    for bid, b in SPEC.buckets.items():
        assert buckets[bid]["name"] == f"{PROJECT_ID}-{bid}"
        assert buckets[bid]["retention_days"] == b.retention_days
        assert buckets[bid]["versioning"] == b.versioning


def test_every_topic_has_a_dead_letter_topic_and_every_subscription_uses_it(spec_outputs):
    topics = spec_outputs["topics"]
    assert set(topics) == set(SPEC.topics)
    for tid, t in SPEC.topics.items():
        assert topics[tid]["role"] == t.role
        if t.role == "pipeline":
            dlq = topics[tid]["dead_letter_topic"]
            assert dlq == t.dead_letter_topic and topics[dlq]["role"] == "dead_letter", tid
    subs = spec_outputs["subscriptions"]
    expected = {f"{fn.trigger.topic}--{name}": (name, fn) for name, fn in SPEC.pubsub_functions().items()}
    assert set(subs) == set(expected)
    d = SPEC.delivery
    for key, (name, fn) in expected.items():
        s = subs[key]
        assert s["function"] == name and s["topic"] == fn.trigger.topic
        assert s["dead_letter_topic"] == SPEC.topics[fn.trigger.topic].dead_letter_topic
        assert s["max_delivery_attempts"] == d.max_delivery_attempts
        assert s["ack_deadline_seconds"] == min(600, max(d.ack_deadline_s, fn.runtime.timeout_s))
        assert s["minimum_backoff"] == _seconds(d.min_backoff_s)
        assert s["maximum_backoff"] == _seconds(d.max_backoff_s)
        if SPEC.topics[fn.trigger.topic].role == "pipeline":
            assert s["dead_letter_topic"] is not None, key


def test_queues_and_schedules_are_the_spec_ones(spec_outputs):
    queues = spec_outputs["queues"]
    assert set(queues) == set(SPEC.queues)
    for qid, q in SPEC.queues.items():
        tq = queues[qid]
        assert tq["max_dispatches_per_second"] == q.rate_limits.max_dispatches_per_second
        assert tq["max_concurrent_dispatches"] == q.rate_limits.max_concurrent_dispatches
        assert tq["max_burst_size"] == q.rate_limits.max_burst_size
        assert tq["max_attempts"] == q.retry.max_attempts
        assert tq["min_backoff"] == _seconds(q.retry.min_backoff_s)
        assert tq["max_backoff"] == _seconds(q.retry.max_backoff_s)
        assert tq["max_doublings"] == q.retry.max_doublings
        assert tq["max_retry_duration"] == _seconds(q.retry.max_retry_duration_s)
        assert tq["consumers"] == [n for n, f in SPEC.functions.items() if isinstance(f.trigger, QueueTrigger) and f.trigger.queue == qid]
    schedules = spec_outputs["schedules"]
    assert set(schedules) == set(SPEC.schedules)
    for sid, s in SPEC.schedules.items():
        ts = schedules[sid]
        assert (ts["schedule"], ts["time_zone"], ts["function"]) == (s.cron, s.time_zone, s.target.function)
        assert json.loads(ts["body"]) == s.target.body


def _trigger_target(step_name: str) -> tuple[str, str]:
    t = SPEC.functions[SPEC.step(step_name).function].trigger
    return ("topic", t.topic) if isinstance(t, PubsubTrigger) else ("queue", t.queue)


def _expected_access() -> dict[str, set[tuple[str, str]]]:
    """The access rules of terraform/README.md, written again in Python from contentflow.spec."""
    out = pipeline.OUTPUT_TOPIC
    schedule_targets = {s.target.function for s in SPEC.schedules.values()}
    access: dict[str, set[tuple[str, str]]] = {n: set() for n in SPEC.functions}
    for name, fn in SPEC.functions.items():
        t = fn.trigger
        public = isinstance(t, HttpTrigger) and name not in schedule_targets
        if isinstance(t, StorageTrigger) or public:
            access[name].add(_trigger_target(SPEC.first_step().name))
        # The queue-triggered functions it creates tasks for: their queues, nothing more.
        access[name] |= {("queue", SPEC.functions[target].trigger.queue) for target in fn.enqueues}
        if name in schedule_targets and not fn.enqueues:
            access[name] |= {_trigger_target(s.name) for s in SPEC.steps} | {("topic", out)}  # re-drives; resends failure events
        if isinstance(t, PubsubTrigger) and SPEC.topics[t.topic].role == "dead_letter":
            access[name].add(("topic", out))
    for step in SPEC.steps:
        access[step.function].add(("topic", out))
        nxt = SPEC.next_step(step.name)
        if nxt is not None:
            access[step.function].add(_trigger_target(nxt.name))
    return access


def test_publish_and_enqueue_rights_follow_the_wiring(spec_outputs):
    got: dict[str, set[tuple[str, str]]] = {n: set() for n in SPEC.functions}
    for g in spec_outputs["topic_publishers"].values():
        got[g["function"]].add(("topic", g["topic"]))
    for g in spec_outputs["queue_enqueuers"].values():
        got[g["function"]].add(("queue", g["queue"]))
    assert got == _expected_access()
    # The brief's examples, on the shipped spec.
    first_topic = SPEC.functions[SPEC.first_step().function].trigger.topic
    assert got["on_upload"] == {("topic", first_topic)}
    for step in SPEC.steps:
        nxt = SPEC.next_step(step.name)
        allowed = {("topic", pipeline.OUTPUT_TOPIC)} | ({_trigger_target(nxt.name)} if nxt else set())
        assert got[step.function] == allowed, step.name
    # The sweeper re-drives every step and resends failure events ...
    assert got["sweeper"] == {_trigger_target(s.name) for s in SPEC.steps} | {("topic", pipeline.OUTPUT_TOPIC)}
    # ... the backfill, also a schedule target, only creates reembed tasks: on reembed's queue.
    assert SPEC.functions["backfill"].enqueues == ["reembed"]
    assert got["backfill"] == {("queue", SPEC.functions["reembed"].trigger.queue)} == {("queue", "embedding-calls")}
    assert got["reembed"] == set()  # re-embeds and records; hands nothing on
    # Enqueuers may put the tasks invoker's token on their tasks (actAs: modules/tasks grants it to
    # every function in queue_enqueuers).
    assert {g["function"] for g in spec_outputs["queue_enqueuers"].values()} == {n for n, a in got.items() if any(k == "queue" for k, _ in a)}


def test_bucket_rights_follow_the_wiring(spec_outputs):
    grants = {(g["function"], g["bucket"], g["role"]) for g in spec_outputs["bucket_grants"].values()}
    inbox = SPEC.functions["on_upload"].trigger.bucket
    first = SPEC.first_step().function
    outputs = [b for b in SPEC.buckets if b != inbox]
    assert {(f, b) for f, b, _ in grants if f == first} == {(first, inbox), *((first, b) for b in outputs)}
    assert (first, inbox, "roles/storage.objectViewer") in grants  # reads the upload
    assert all((first, b, "roles/storage.objectUser") in grants for b in outputs)  # writes (and re-writes) outputs
    # The later steps and the targets of `enqueues` read what the first step wrote (analyse: text and
    # chunks; index and reembed: chunks), and nothing else: view only, output buckets only.
    readers = {s.function for s in SPEC.steps[1:]} | {t for f in SPEC.functions.values() for t in f.enqueues}
    assert readers == {"analyse", "index", "reembed"}
    for reader in readers:
        assert {(b, r) for f, b, r in grants if f == reader} == {(b, "roles/storage.objectViewer") for b in outputs}, reader
    assert {f for f, _, _ in grants} == {first, "api"} | readers  # nobody else touches a bucket
    assert {r for f, b, r in grants if f == "api"} == {"roles/storage.objectCreator", "roles/storage.objectViewer", "roles/storage.legacyBucketReader"}
    assert not any(r.endswith(("Admin", "admin")) for _, _, r in grants)


def test_invokers_and_ingress(spec_outputs):
    grants = {(g["identity"], g["function"]) for g in spec_outputs["invoker_grants"].values()}
    expected = {("push", n) for n in SPEC.pubsub_functions()}
    expected |= {("scheduler", s.target.function) for s in SPEC.schedules.values()}
    expected |= {("tasks", n) for n, f in SPEC.functions.items() if isinstance(f.trigger, QueueTrigger)}
    expected |= {("self", n) for n, f in SPEC.functions.items() if isinstance(f.trigger, StorageTrigger)}
    assert grants == expected
    assert {("tasks", "reembed"), ("tasks", "analyse"), ("tasks", "index"), ("scheduler", "backfill")} <= grants
    assert spec_outputs["public_functions"] == ["api"]
    assert spec_outputs["secret_readers"] == ["api"]
    for name, fn in spec_outputs["functions"].items():
        assert fn["ingress"] == ("ALLOW_ALL" if name == "api" else "ALLOW_INTERNAL_ONLY"), name
        assert fn["secret_environment"] == ({"CONTENTFLOW_API_KEY": "contentflow-api-key"} if name == "api" else {})


def test_names_fixed_by_the_code_match_the_code(spec_outputs):
    facts = spec_outputs["code_facts"]
    assert facts["output_topic"] == pipeline.OUTPUT_TOPIC and facts["output_topic"] in SPEC.topics
    assert facts["collection"] == Settings.model_fields["collection"].default
    assert facts["api_key_env"] == Settings.model_config["env_prefix"] + "API_KEY" and "api_key" in Settings.model_fields
    assert f'SECRET_ID="{facts["api_key_secret"]}"' in (REPO / "scripts" / "deploy").read_text()
    # The sweeper's query, which the composite index serves.
    query = inspect.getsource(store.DocumentStore.stale_candidates)
    fields = [f["field_path"] for f in spec_outputs["firestore"]["sweeper_index"]]
    assert fields == ["status", "updated_at"]
    assert 'FieldFilter("status", "in"' in query and 'FieldFilter("updated_at", "<"' in query
    # The chunk search's pre-filters (ChunkStore.nearest), which the vector indexes are built for.
    chunk_query = spec_outputs["code_facts"]["chunk_query"]
    nearest = inspect.getsource(chunks.ChunkStore.nearest)
    assert f'FieldFilter("{chunk_query["space_field"]}", "=="' in nearest
    assert f'FieldFilter("{chunk_query["scope_field"]}", "=="' in nearest
    for field in SPEC.embeddings.filter_fields:
        op = "array_contains" if field in chunk_query["array_fields"] else "=="
        assert f'FieldFilter("{field}", "{op}"' in nearest, field
    assert "DistanceMeasure.COSINE" in nearest and "find_nearest(vector_field=self._field" in nearest
    # Queries served by automatic single-field indexes (no composite index): the backfill's page and
    # the coverage counts on the records, and equalities on the chunks.
    assert 'FieldFilter("status", "==", status)).order_by(FieldPath.document_id())' in inspect.getsource(store.DocumentStore.page)
    assert 'FieldFilter(field, "==", value)).count()' in inspect.getsource(store.DocumentStore.count)
    longest = max(b.retention_days for b in SPEC.buckets.values())
    assert spec_outputs["firestore"]["ttl_expiration_offset"] == f"{longest * 86400}s"
    from contentflow.documents import Document
    assert Document.model_fields["updated_at"].annotation.__name__ == "datetime"  # a Firestore timestamp


def test_a_vector_index_per_dimension_and_filter_combination(spec_outputs):
    expected = expected_vector_indexes(SPEC)
    assert vector_indexes_of(spec_outputs) == expected
    dims = set(SPEC.embeddings.dimensions.values())
    assert dims == {256, 768} and len(expected) == 5 * len(dims)  # local and vertex; 5 pre-filter combinations
    for key, index in spec_outputs["firestore"]["vector_indexes"].items():
        assert (index["collection"], index["field"]) == (SPEC.embeddings.collection, SPEC.embeddings.field), key
    for d in dims:
        combos = {tuple(f for f, _ in filters) for dim, filters in expected.values() if dim == d}
        assert combos == {("embedding_space",), ("embedding_space", "labels"), ("embedding_space", "language"),
                          ("embedding_space", "labels", "language"), ("embedding_space", "document_id")}
    assert ("labels", "CONTAINS") in expected[f"{max(dims)}/embedding_space+labels"][1]


def test_the_archive_holds_functions_lib_and_requirements(spec_outputs):
    files = set(spec_outputs["source_files"])
    assert "requirements.txt" in files
    for fn in SPEC.functions.values():
        assert fn.source in files
    on_disk = {str(p.relative_to(REPO)) for p in (REPO / "functions").rglob("*.py")}
    on_disk |= {str(p.relative_to(REPO)) for p in (REPO / "lib").rglob("*.py")}
    assert on_disk <= files
    assert all(f == "requirements.txt" or f.startswith(("functions/", "lib/")) for f in files)
    # The spec travels as the one Terraform read, in the place the code loads it from.
    assert spec_outputs["spec_in_archive"] not in files
    from contentflow.spec import DEFAULT_SPEC_PATH
    assert str(DEFAULT_SPEC_PATH.relative_to(REPO)) == spec_outputs["spec_in_archive"]
