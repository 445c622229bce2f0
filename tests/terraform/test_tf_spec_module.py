"""The spec module, evaluated by Terraform itself, against the spec as contentflow.spec reads it:
every bucket, topic, queue, schedule and function is there with the spec's values, nothing more,
and access is derived from the wiring."""

from __future__ import annotations

import inspect
import json
import os

import pytest
import yaml

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
        if t.role == "events":  # consumers' dead letters: kept for replay, not among step messages
            dlq = topics[tid]["dead_letter_topic"]
            assert dlq == t.dead_letter_topic and topics[dlq]["role"] == "archive", tid
        assert topics[tid]["archive"] == (t.role == "archive")
        assert topics[tid]["archive_subscription"] == (SPEC.archive_subscription(tid) if t.role == "archive" else None)
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
    access: dict[str, set[tuple[str, str]]] = {n: set() for n in SPEC.functions}
    for name, fn in SPEC.functions.items():
        if fn.hands_on == "first_step":  # registers documents
            access[name].add(_trigger_target(SPEC.first_step().name))
        if fn.hands_on == "any_step":  # re-drives a document at its step
            access[name] |= {_trigger_target(s.name) for s in SPEC.steps}
        if fn.announces:
            access[name].add(("topic", out))
        # The queue-triggered functions it creates tasks for: their queues, nothing more.
        access[name] |= {("queue", SPEC.functions[target].trigger.queue) for target in fn.enqueues}
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
    every_step = {_trigger_target(s.name) for s in SPEC.steps}
    fetches = ("queue", SPEC.functions["fetch"].trigger.queue)
    assert fetches == ("queue", "url-fetches")
    # The sweeper re-drives every step, re-enqueues a stuck fetch and resends failure events ...
    assert got["sweeper"] == every_step | {fetches, ("topic", pipeline.OUTPUT_TOPIC)}
    # ... the backfill, also a schedule target, only creates reembed tasks: on reembed's queue ...
    assert SPEC.functions["backfill"].enqueues == ["reembed"]
    assert got["backfill"] == {("queue", SPEC.functions["reembed"].trigger.queue)} == {("queue", "embedding-calls")}
    # ... and the jobs function, another one, registers lost uploads (reconcile): the first step only.
    assert got["jobs"] == {("topic", first_topic)}
    assert got["reembed"] == set()  # re-embeds and records; hands nothing on
    # The api registers documents, re-drives a failed one at its step (POST .../{id}:retry) and
    # creates the fetch tasks of submitted URLs, on their queue (the same derivation as backfill's).
    assert SPEC.functions["api"].enqueues == ["fetch"]
    assert got["api"] == every_step | {fetches}
    # fetch hands a fetched document to the first step, and fails it (document.failed) when it gives up.
    assert got["fetch"] == {("topic", first_topic), ("topic", pipeline.OUTPUT_TOPIC)}
    assert got["dead_letter"] == {("topic", pipeline.OUTPUT_TOPIC)}
    # Enqueuers may put the tasks invoker's token on their tasks (actAs: modules/tasks grants it to
    # every function in queue_enqueuers).
    assert {g["function"] for g in spec_outputs["queue_enqueuers"].values()} == {n for n, a in got.items() if any(k == "queue" for k, _ in a)}


DELETER = f"projects/{PROJECT_ID}/roles/contentflowObjectDeleter"
# The roles of each declared access (terraform/README.md, "Access"), written again here.
ACCESS_ROLES = {
    "list": {"roles/storage.legacyBucketReader"},
    "read": {"roles/storage.objectViewer"},
    "create": {"roles/storage.objectCreator"},
    "delete": {DELETER},
}


def _bucket_grants(spec_outputs) -> dict[str, dict[str, set[str]]]:
    """function => bucket => roles granted on it."""
    got: dict[str, dict[str, set[str]]] = {}
    for g in spec_outputs["bucket_grants"].values():
        got.setdefault(g["function"], {}).setdefault(g["bucket"], set()).add(g["role"])
    return got


def test_bucket_rights_are_the_declared_access(spec_outputs):
    """Each function gets, on each bucket, exactly the roles of the access it declares (the
    spec's `buckets`), nothing on the others; nobody gets objectUser or an admin role."""
    got = _bucket_grants(spec_outputs)
    expected = {n: {b: set().union(*(ACCESS_ROLES[a] for a in access)) for b, access in f.buckets.items()}
                for n, f in SPEC.functions.items() if f.buckets}
    assert got == expected
    roles = {r for buckets in got.values() for rs in buckets.values() for r in rs}
    assert not any(r.endswith(("Admin", "admin", "objectUser")) for r in roles)
    # The custom role is created only because a grant uses it, and it deletes objects, nothing else.
    assert spec_outputs["custom_roles"] == {"object_deleter": {
        "role_id": "contentflowObjectDeleter", "name": DELETER, "title": "contentflow object deleter",
        "description": spec_outputs["custom_roles"]["object_deleter"]["description"],
        "permissions": ["storage.objects.delete"]}}


def test_bucket_rights_of_each_function(spec_outputs):
    """What the code does with the buckets, function by function (read from lib/contentflow)."""
    got = _bucket_grants(spec_outputs)
    inbox, processed = SPEC.functions["on_upload"].trigger.bucket, "processed"
    viewer, creator, lister = "roles/storage.objectViewer", "roles/storage.objectCreator", "roles/storage.legacyBucketReader"
    # extract reads the upload and writes (and re-writes: an overwrite deletes) its outputs.
    assert got["extract"] == {inbox: {viewer}, processed: {creator, DELETER}}
    # The later steps and reembed read what extract wrote, nothing else.
    for reader in ("analyse", "index", "reembed"):
        assert got[reader] == {processed: {viewer}}, reader
    # fetch writes the fetched object into the inbox (create-if-absent: an existing one is re-read).
    assert got["fetch"] == {inbox: {creator, viewer}}
    # The api: POST /documents and signed PUTs create in the inbox; DELETE removes the upload
    # (read first: only the document's own generation) and the <id>/ folder of outputs (listed);
    # /readyz reads both buckets' metadata (storage.buckets.get, in legacyBucketReader).
    assert got["api"] == {inbox: {lister, viewer, creator, DELETER}, processed: {lister, DELETER}}
    # jobs: retention deletes uploads and output folders; reconcile lists the inbox (objectViewer
    # lists too); the report writes and re-writes reports/<day>.json; it creates nothing in the inbox.
    assert got["jobs"] == {inbox: {viewer, DELETER}, processed: {lister, creator, DELETER}}
    # Nobody else touches a bucket.
    assert set(got) == {"extract", "analyse", "index", "reembed", "fetch", "api", "jobs"}


def test_invokers_and_ingress(spec_outputs):
    grants = {(g["identity"], g["function"]) for g in spec_outputs["invoker_grants"].values()}
    expected = {("push", n) for n in SPEC.pubsub_functions()}
    expected |= {("scheduler", s.target.function) for s in SPEC.schedules.values()}
    expected |= {("tasks", n) for n, f in SPEC.functions.items() if isinstance(f.trigger, QueueTrigger)}
    expected |= {("self", n) for n, f in SPEC.functions.items() if isinstance(f.trigger, StorageTrigger)}
    assert grants == expected
    assert {("tasks", "reembed"), ("tasks", "analyse"), ("tasks", "index"), ("scheduler", "backfill")} <= grants
    assert {("tasks", "fetch"), ("scheduler", "jobs"), ("scheduler", "sweeper")} <= grants
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
    # and every data file the package loads at run time (the status page's templates and CSS, ...)
    on_disk |= {str(p.relative_to(REPO)) for p in (REPO / "lib" / "contentflow").rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".md")} - {spec_outputs["spec_in_archive"]}
    assert "lib/contentflow/api/templates/status.html" in on_disk
    assert on_disk <= files, sorted(on_disk - files)
    assert all(f == "requirements.txt" or f.startswith(("functions/", "lib/")) for f in files)
    # The spec travels as the one Terraform read, in the place the code loads it from.
    assert spec_outputs["spec_in_archive"] not in files
    from contentflow.spec import DEFAULT_SPEC_PATH
    assert str(DEFAULT_SPEC_PATH.relative_to(REPO)) == spec_outputs["spec_in_archive"]


class _RecordedQuery:
    """Stands in for a Firestore collection: records the filters and orders a query is built
    with (what decides the index it needs) and returns no documents."""

    def __init__(self):
        self.filters: list[tuple[str, str]] = []
        self.orders: list[tuple[str, str]] = []

    def where(self, filter):  # noqa: A002 (the client's keyword)
        self.filters.append((filter.field_path, filter.op_string))
        return self

    def order_by(self, field, direction="ASCENDING"):
        self.orders.append((str(field), direction))
        return self

    def start_after(self, _values):
        return self

    def document(self, doc_id):  # the cursor's document reference
        return doc_id

    def limit(self, _n):
        return self

    def stream(self, **_kwargs):
        return iter(())


def _listing_queries() -> list[tuple[dict, _RecordedQuery]]:
    """Every combination of filters GET /documents passes to DocumentStore.list_documents (the
    route refuses `object` with the others), with and without a created_at range and a cursor,
    as the store builds the query."""
    from datetime import datetime, timezone
    from itertools import combinations

    combinable = {"status": "done", "label": "invoice", "language": "en"}
    filter_sets = [dict(c) for r in range(len(combinable) + 1) for c in combinations(combinable.items(), r)]
    filter_sets.append({"source_name": "uploads/ab/report.pdf"})
    when = datetime(2025, 1, 1, tzinfo=timezone.utc)
    ranges = [{}, {"created_after": when}, {"created_before": when}, {"created_after": when, "created_before": when}]
    recorded = []
    for filters in filter_sets:
        for extra in ranges + [{"after": (when, "0" * 32)}]:
            query = _RecordedQuery()
            client = type("Client", (), {"collection": lambda self, name: query})()
            store.DocumentStore(client, "documents", 1.0).list_documents(**filters, **extra)
            recorded.append(({**filters, **extra}, query))
    return recorded


def test_listing_indexes_cover_every_filter_combination(spec_outputs):
    """One composite index per combination of equality filters GET /documents can send (7
    combinations of status, label, language; the object name alone), each ending with created_at
    and the key descending; and every query the store builds for the api finds its index."""
    from itertools import combinations

    facts = spec_outputs["code_facts"]["listing_query"]
    assert (*facts["combinable"], *facts["alone"]) == store.LISTING_FILTER_FIELDS
    indexes = spec_outputs["firestore"]["listing_indexes"]
    expected = [set(c) for r in range(1, len(facts["combinable"]) + 1) for c in combinations(facts["combinable"], r)]
    expected += [{f} for f in facts["alone"]]
    tail = [("created_at", "DESCENDING"), ("__name__", "DESCENDING")]
    by_filters: dict[frozenset, list[tuple[str, str]]] = {}
    for key, index in indexes.items():
        assert index["collection"] == Settings.model_fields["collection"].default, key
        fields = [(f["field_path"], f["order"] or f["array_config"]) for f in index["fields"]]
        assert fields[-2:] == tail, key
        assert all((f["order"] is None) != (f["array_config"] is None) for f in index["fields"]), key
        by_filters[frozenset(f for f, _ in fields[:-2])] = fields[:-2]
    assert sorted(map(sorted, by_filters)) == sorted(map(sorted, expected)) and len(indexes) == 8
    # The route sends `object` (source.name) only alone.
    from contentflow.api import routes_documents
    assert "filters.object and (filters.status or filters.label or filters.language)" in inspect.getsource(routes_documents.list_documents)

    for kwargs, query in _listing_queries():
        assert query.orders == tail, kwargs  # newest first, ties by key: what each index ends with
        equalities = {(f, op) for f, op in query.filters if op in ("==", "array_contains")}
        assert {f for f, op in query.filters if op not in ("==", "array_contains")} <= {"created_at"}, kwargs
        if not equalities:
            continue  # created_at alone (range and order): the automatic single-field index
        index = by_filters.get(frozenset(f for f, _ in equalities))
        assert index is not None, f"no listing index for {kwargs}"
        assert {(f, "CONTAINS" if op == "array_contains" else "ASCENDING") for f, op in equalities} == set(index), kwargs


def test_idempotency_keys_expire_by_their_own_field(spec_outputs):
    """The api's idempotency keys carry their expiry time (`expires_at`, a timestamp the code
    writes): a TTL policy with no offset on that field of that collection; nothing queries it,
    so the spec module asks for it unindexed."""
    from datetime import datetime, timedelta, timezone

    from contentflow.idempotency import IdempotencyStore

    expiring = spec_outputs["firestore"]["expiring"]
    collection = Settings.model_fields["idempotency_collection"].default
    assert expiring == {collection: {"collection": collection, "field": "expires_at"}}
    written = {}

    class Ref:
        def create(self, record, **_kwargs):
            written.update(record)

    client = type("Client", (), {"collection": lambda self, name: type("Coll", (), {"document": lambda self, i: Ref()})()})()
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert IdempotencyStore(client, collection, ttl_s=3600, timeout_s=1.0).begin("key-1", "fp", now=now) is None
    assert written["expires_at"] == now + timedelta(hours=1)  # a Firestore timestamp, the expiry itself
    field = expiring[collection]["field"]
    for path in (REPO / "lib").rglob("*.py"):
        text = path.read_text()
        assert f'FieldFilter("{field}"' not in text and f'order_by("{field}"' not in text, path  # never queried


def test_a_url_signer_signs_as_itself(spec_outputs):
    """The api signs V4 upload URLs through IAM signBlob as its own account: it is the one URL
    signer, its environment names that account, and it may create objects in the inbox (a signed
    PUT acts as the signer)."""
    signers = spec_outputs["url_signers"]
    assert signers == [n for n, f in SPEC.functions.items() if f.signs_urls] == ["api"]
    for name, fn in spec_outputs["functions"].items():
        own = f"{fn['account_id']}@{PROJECT_ID}.iam.gserviceaccount.com"
        assert fn["environment"].get("CONTENTFLOW_UPLOAD_SIGNER_EMAIL") == (own if name in signers else None), name
    assert spec_outputs["code_facts"]["signer_env"] == "CONTENTFLOW_UPLOAD_SIGNER_EMAIL"
    assert "upload_signer_email" in Settings.model_fields
    inbox = SPEC.functions["on_upload"].trigger.bucket
    assert "roles/storage.objectCreator" in _bucket_grants(spec_outputs)["api"][inbox]


def test_api_enqueues_fetches_like_backfill_enqueues_reembeds(spec_outputs):
    """`enqueues` is one derivation: api -> fetch gets what backfill -> reembed gets (enqueue on
    the target's queue, the tasks invoker's account named, the target invoked by that invoker)."""
    enqueuers = {(g["function"], g["queue"]) for g in spec_outputs["queue_enqueuers"].values()}
    invoked = {(g["identity"], g["function"]) for g in spec_outputs["invoker_grants"].values()}
    tasks_account = f"{spec_outputs['invokers']['tasks']['account_id']}@{PROJECT_ID}.iam.gserviceaccount.com"
    for caller, target in (("backfill", "reembed"), ("api", "fetch"), ("sweeper", "fetch")):
        assert target in SPEC.functions[caller].enqueues
        assert (caller, SPEC.functions[target].trigger.queue) in enqueuers, caller
        assert spec_outputs["functions"][caller]["enqueues"] and spec_outputs["functions"][caller]["task_targets"] == SPEC.functions[caller].enqueues
        assert spec_outputs["functions"][caller]["environment"]["CONTENTFLOW_TASKS_SERVICE_ACCOUNT"] == tasks_account, caller
        assert ("tasks", target) in invoked
    assert spec_outputs["queues"]["url-fetches"]["consumers"] == ["fetch"]  # the queue-wide token's audience


def test_the_jobs_schedules_call_the_jobs_function_with_a_body_it_accepts(spec_outputs):
    """One Cloud Scheduler job per spec schedule; retention, report and reconcile POST their
    `{"job": ...}` body to the jobs function, which the function's own request model accepts;
    the scheduler invoker may call every target."""
    from contentflow.jobs import JobRequest

    schedules = spec_outputs["schedules"]
    assert set(schedules) == set(SPEC.schedules) >= {"sweeper", "backfill", "retention", "report", "reconcile"}
    invoked = {(g["identity"], g["function"]) for g in spec_outputs["invoker_grants"].values()}
    for sid in ("retention", "report", "reconcile"):
        job = schedules[sid]
        assert job["function"] == "jobs"
        assert json.loads(job["body"]) == {"job": sid}
        assert JobRequest.validate_json(job["body"]).job == sid  # what functions/jobs.py parses
        assert job["attempt_deadline"] == f"{SPEC.functions['jobs'].runtime.timeout_s}s"
    for sid, s in SPEC.schedules.items():
        assert ("scheduler", s.target.function) in invoked, sid
    assert set(spec_outputs["invokers"]["scheduler"]["functions"]) == {"sweeper", "backfill", "jobs"}
    assert spec_outputs["functions"]["jobs"]["ingress"] == "ALLOW_INTERNAL_ONLY"


def test_output_events_dead_letter_into_an_archive(spec_outputs):
    """What the root module's `output_topic` output tells consumers to dead-letter into is an
    archive, which no function consumes (issue #11, defect 5)."""
    topics = spec_outputs["topics"]
    output = spec_outputs["code_facts"]["output_topic"]
    archive = topics[output]["dead_letter_topic"]
    assert topics[output]["role"] == "events" and topics[archive]["role"] == "archive"
    assert spec_outputs["archive_topics"] == SPEC.archives() == [archive]
    assert archive not in spec_outputs["dead_letter_topics"]
    assert not any(s["topic"] == archive for s in spec_outputs["subscriptions"].values())
    # Pub/Sub may forward dead letters to it (the pubsub module grants every dead_letter_topic).
    assert archive in {t["dead_letter_topic"] for t in topics.values()}


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["topics"]["document-events"].update(dead_letter_topic="dead-letters"), "an events topic into an archive topic"),
    (lambda d: d["topics"]["document-events"].pop("role"), "The output topic carries events"),
])
def test_spec_module_refuses_events_dead_lettered_among_step_messages(tmp_path, mutate, message):
    """Terraform checks the rule too: a spec that skips contentflow.spec's validation (edited and
    applied directly) cannot deploy the output topic dead-lettering into `dead-letters`."""
    raw = yaml.safe_load(SPEC_PATH.read_text())
    mutate(raw)
    broken = tmp_path / "pipeline.yaml"
    broken.write_text(yaml.safe_dump(raw))
    with pytest.raises(AssertionError) as err:
        evaluate_spec_module(tmp_path / "tf", spec_path=broken)
    assert message in " ".join(str(err.value).split())
