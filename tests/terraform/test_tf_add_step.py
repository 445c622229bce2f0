"""Changes to (a copy of) the spec reach every Terraform input that needs them, with no .tf edit:
a new step (its function, account, sizing, topic, push subscription with dead-letter policy, the
hand-on rights before and after it, the sweeper's rights, the invoker, the latency alert, its
declared bucket access), a step moved to a queue, another embedding dimension or filter field (the
vector indexes), a new `enqueues` (exactly those enqueue rights), a changed `buckets`, `hands_on`
or `signs_urls` declaration."""

from __future__ import annotations

import pytest
import yaml

import contentflow.steps
from contentflow import pipeline
from contentflow.spec import parse_spec

from .support import (
    PROJECT_ID,
    SPEC_PATH,
    TF_DIR,
    evaluate_spec_module,
    expected_model_users,
    expected_vector_indexes,
    tree_digest,
    vector_indexes_of,
)


@pytest.fixture
def summarise_handler(monkeypatch):
    """The spec refuses a step with no handler module (contentflow.steps): pretend `summarise` has one."""
    known = contentflow.steps.registered_steps()
    monkeypatch.setattr(contentflow.steps, "registered_steps", lambda: known | {"summarise"})


def _raw_spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text())


def _evaluate(tmp_path, raw: dict) -> dict:
    spec_copy = tmp_path / "pipeline.yaml"
    spec_copy.write_text(yaml.safe_dump(raw, sort_keys=False))
    before = tree_digest(TF_DIR)
    out = evaluate_spec_module(tmp_path / "tf", spec_path=spec_copy)
    assert tree_digest(TF_DIR) == before, "evaluating the spec changed files under terraform/"
    return out


def _spec_with_summarise_step() -> dict:
    raw = _raw_spec()
    raw["topics"]["summarise-requests"] = {
        "description": "An analysed document waits for its summary.", "dead_letter_topic": "dead-letters"}
    raw["functions"]["summarise"] = {
        "description": "Writes a summary.",
        "source": "functions/summarise.py",
        "entry_point": "summarise",
        "trigger": {"type": "pubsub", "topic": "summarise-requests"},
        "runtime": {"memory_mb": 2048, "cpu": 2, "concurrency": 8, "timeout_s": 540, "max_instances": 7, "min_instances": 1},
        "project_roles": ["roles/datastore.user", "roles/aiplatform.user"],
        "buckets": {"processed": ["read"]},
    }
    names = [s["name"] for s in raw["steps"]]
    raw["steps"].insert(names.index("analyse") + 1, {
        "name": "summarise", "function": "summarise", "status": "summarising", "stuck_after_s": 900, "max_attempts": 3})
    return raw


def test_a_new_step_reaches_terraform_with_no_tf_edit(tmp_path, summarise_handler):
    raw = _spec_with_summarise_step()
    spec = parse_spec(raw)  # a valid spec for contentflow itself
    assert [s.name for s in spec.steps] == ["extract", "analyse", "summarise", "index"]
    out = _evaluate(tmp_path, raw)
    index_queue = spec.functions["index"].trigger.queue

    fn = out["functions"]["summarise"]
    assert fn["account_id"] == "cf-summarise" and fn["service_name"] == "summarise"
    assert (fn["available_memory"], fn["available_cpu"], fn["concurrency"]) == ("2048Mi", "2", 8)
    assert (fn["timeout_seconds"], fn["max_instances"], fn["min_instances"]) == (540, 7, 1)
    assert fn["trigger_type"] == "pubsub" and fn["trigger_topic"] == "summarise-requests"
    assert fn["ingress"] == "ALLOW_INTERNAL_ONLY"
    assert out["topics"]["summarise-requests"]["dead_letter_topic"] == "dead-letters"

    sub = out["subscriptions"]["summarise-requests--summarise"]
    assert sub["dead_letter_topic"] == "dead-letters"
    assert sub["ack_deadline_seconds"] == 540
    assert sub["max_delivery_attempts"] == spec.delivery.max_delivery_attempts

    publishes = {(g["function"], g["topic"]) for g in out["topic_publishers"].values()}
    enqueues = {(g["function"], g["queue"]) for g in out["queue_enqueuers"].values()}
    assert ("analyse", "summarise-requests") in publishes  # hands on to the new step ...
    assert ("analyse", index_queue) not in enqueues  # ... and no longer to index
    assert ("summarise", index_queue) in enqueues  # the new step hands on to index's queue
    assert fn["environment"]["CONTENTFLOW_TASKS_SERVICE_ACCOUNT"].startswith("cf-invoker-tasks@")
    assert ("summarise", pipeline.OUTPUT_TOPIC) in publishes
    assert ("sweeper", "summarise-requests") in publishes  # the sweeper can re-drive it
    assert ("sweeper", pipeline.OUTPUT_TOPIC) in publishes  # ... and send a lost failure event
    assert not any(f == "backfill" for f, _ in publishes)  # the backfill re-drives nothing
    assert {q for f, q in enqueues if f == "backfill"} == {spec.functions["reembed"].trigger.queue}

    roles = {(g["function"], g["role"]) for g in out["project_role_grants"].values()}
    assert {("summarise", "roles/datastore.user"), ("summarise", "roles/aiplatform.user")} <= roles
    assert "summarise" in out["model_users"] and set(out["model_users"]) == expected_model_users(spec)
    assert fn["environment"]["CONTENTFLOW_INFERENCE__BACKEND"] == "vertex"
    reads = {(g["bucket"], g["role"]) for g in out["bucket_grants"].values() if g["function"] == "summarise"}
    assert reads == {("processed", "roles/storage.objectViewer")}  # its declared access: reads the outputs
    assert ("push", "summarise") in {(g["identity"], g["function"]) for g in out["invoker_grants"].values()}
    assert "summarise" in out["step_functions"]  # gets a step latency alert
    assert out["steps"]["summarise"]["status"] == "summarising"
    assert "summarise" in out["function_urls"]


def test_a_step_moved_to_a_queue_gets_tasks_wiring(tmp_path):
    """extract triggered by a new queue instead of its topic: the queue gets a consumer and the
    tasks invoker, the functions that hand on to it may enqueue and say which account the tasks'
    tokens are for, and its push subscription disappears."""
    raw = _raw_spec()
    raw["queues"]["extract-calls"] = dict(raw["queues"]["model-calls"], description="Extraction calls.")
    raw["functions"]["extract"]["trigger"] = {"type": "queue", "queue": "extract-calls"}
    parse_spec(raw)
    out = _evaluate(tmp_path, raw)

    assert out["queues"]["extract-calls"]["consumers"] == ["extract"]
    assert "extract" in out["invokers"]["tasks"]["functions"]
    assert ("tasks", "extract") in {(g["identity"], g["function"]) for g in out["invoker_grants"].values()}
    assert not any(s["function"] == "extract" for s in out["subscriptions"].values())
    assert out["invokers"]["push"]["functions"] == ["dead_letter"]
    enqueuers = {(g["function"], g["queue"]) for g in out["queue_enqueuers"].values()}
    # The functions that register documents (on_upload, fetch, the api, the jobs' reconcile) hand
    # them to it, the re-drivers (sweeper, the api's retry) re-drive it; the backfill does not.
    first_step_feeders = {"on_upload", "fetch", "api", "jobs", "sweeper"}
    assert {n for n, f in parse_spec(raw).functions.items() if f.hands_on} == first_step_feeders
    assert {f for f, q in enqueuers if q == "extract-calls"} == first_step_feeders
    tasks_account = f"{out['invokers']['tasks']['account_id']}@{PROJECT_ID}.iam.gserviceaccount.com"
    for name in (*first_step_feeders, "extract", "analyse", "backfill"):
        assert out["functions"][name]["environment"].get("CONTENTFLOW_TASKS_SERVICE_ACCOUNT") == tasks_account, name
    for name in ("index", "reembed", "dead_letter"):
        assert "CONTENTFLOW_TASKS_SERVICE_ACCOUNT" not in out["functions"][name]["environment"], name
    assert out["functions"]["extract"]["trigger_queue"] == "extract-calls"
    assert out["functions"]["extract"]["ingress"] == "ALLOW_INTERNAL_ONLY"


@pytest.mark.parametrize("change, expected_dims, combos", [
    ({"dimensions": {"local": 256, "vertex": 1024}}, {256, 1024}, 5),  # another Vertex embedding size
    ({"dimensions": {"local": 768, "vertex": 768}}, {768}, 5),  # one size for both backends: one set
    ({"filter_fields": ["language"]}, {256, 768}, 3),  # (space), (space, language), (space, document id)
    ({"filter_fields": []}, {256, 768}, 2),  # (space), (space, document id)
], ids=["vertex-1024", "shared-768", "language-only", "no-filters"])
def test_vector_indexes_follow_the_embeddings_section(tmp_path, change, expected_dims, combos):
    raw = _raw_spec()
    raw["embeddings"].update(change)
    spec = parse_spec(raw)
    out = _evaluate(tmp_path, raw)
    got = vector_indexes_of(out)
    assert got == expected_vector_indexes(spec)
    assert {d for d, _ in got.values()} == expected_dims
    assert len(got) == combos * len(expected_dims)
    assert all(k.startswith(f"{d}/") for k, (d, _) in got.items())


def test_enqueues_grants_exactly_its_targets_queues(tmp_path):
    """A new schedule target that declares `enqueues` gets enqueue rights on its targets' queues
    (and the right to put the tasks invoker's token on them) and no re-drive rights; its target,
    queue-triggered, is invoked by the tasks invoker."""
    raw = _raw_spec()
    raw["queues"]["cleanup-calls"] = dict(raw["queues"]["embedding-calls"], description="Clean-ups.")
    raw["functions"]["cleanup"] = {
        "description": "Removes orphaned chunks of one document.", "source": "functions/cleanup.py",
        "entry_point": "cleanup", "trigger": {"type": "queue", "queue": "cleanup-calls"},
        "runtime": {"memory_mb": 256, "cpu": 0.167, "concurrency": 1, "timeout_s": 60, "max_instances": 2},
        "project_roles": ["roles/datastore.user"],
        "buckets": {"processed": ["list", "delete"]},
    }
    raw["functions"]["janitor"] = dict(raw["functions"]["backfill"], description="Finds orphans.",
                                       source="functions/janitor.py", entry_point="janitor", enqueues=["cleanup", "reembed"])
    raw["schedules"]["janitor"] = dict(raw["schedules"]["backfill"], target={"function": "janitor", "body": {}})
    spec = parse_spec(raw)
    out = _evaluate(tmp_path, raw)

    enqueues = {q for g in out["queue_enqueuers"].values() if g["function"] == "janitor" for q in [g["queue"]]}
    assert enqueues == {"cleanup-calls", spec.functions["reembed"].trigger.queue}
    assert not any(g["function"] == "janitor" for g in out["topic_publishers"].values())
    assert ("tasks", "cleanup") in {(g["identity"], g["function"]) for g in out["invoker_grants"].values()}
    assert ("scheduler", "janitor") in {(g["identity"], g["function"]) for g in out["invoker_grants"].values()}
    janitor = out["functions"]["janitor"]
    assert janitor["environment"]["CONTENTFLOW_TASKS_SERVICE_ACCOUNT"].startswith("cf-invoker-tasks@")
    assert janitor["ingress"] == "ALLOW_INTERNAL_ONLY"
    # It enqueues for reembed, a model user: it gets the inference settings; cleanup does not.
    assert "janitor" in out["model_users"] and "cleanup" not in out["model_users"]
    # cleanup lists and deletes in the bucket it declares, nothing else; janitor touches no bucket.
    assert {(g["bucket"], g["role"]) for g in out["bucket_grants"].values() if g["function"] == "cleanup"} == {
        ("processed", "roles/storage.legacyBucketReader"), ("processed", f"projects/{PROJECT_ID}/roles/contentflowObjectDeleter")}
    assert not any(g["function"] == "janitor" for g in out["bucket_grants"].values())


def test_a_backend_without_a_dimension_is_refused(tmp_path):
    """inference_backend selects the embedding dimension from embeddings.dimensions: a spec without
    one for the chosen backend fails the plan instead of failing the functions at run time."""
    raw = _raw_spec()
    raw["embeddings"]["dimensions"] = {"local": 256}
    parse_spec(raw)  # valid for the code: the local backend would work
    spec_copy = tmp_path / "pipeline.yaml"
    spec_copy.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(AssertionError, match="has no embedding dimension in the spec"):
        evaluate_spec_module(tmp_path / "tf", spec_path=spec_copy)  # inference_backend = vertex
    out = evaluate_spec_module(tmp_path / "tf-local", spec_path=spec_copy, variables={"inference_backend": "local"})
    assert {d for d, _ in vector_indexes_of(out).values()} == {256}


def test_declared_access_reaches_the_grants(tmp_path):
    """`buckets`, `hands_on`, `announces` and `signs_urls` are the only source of those rights: a
    declaration changed in the spec changes exactly them; with no function deleting objects the
    custom role is not created."""
    raw = _raw_spec()
    for fn in raw["functions"].values():  # nobody deletes: no custom role
        for bucket, access in list(fn.get("buckets", {}).items()):
            fn["buckets"][bucket] = [a for a in access if a != "delete"] or ["read"]
    raw["functions"]["jobs"]["hands_on"] = "any_step"
    raw["functions"]["jobs"]["announces"] = True
    raw["functions"]["fetch"].pop("announces")
    raw["functions"]["fetch"]["signs_urls"] = True  # it may create in the inbox
    raw["functions"]["api"]["signs_urls"] = False
    spec = parse_spec(raw)
    out = _evaluate(tmp_path, raw)

    assert out["custom_roles"] == {}
    assert not any("contentflowObjectDeleter" in g["role"] for g in out["bucket_grants"].values())
    publishes = {(g["function"], g["topic"]) for g in out["topic_publishers"].values()}
    enqueues = {(g["function"], g["queue"]) for g in out["queue_enqueuers"].values()}
    step_queues = {f.trigger.queue for f in spec.functions.values() if f.trigger.type == "queue" and f.trigger.queue != "url-fetches"}
    assert {q for f, q in enqueues if f == "jobs"} == step_queues  # re-drives every step now ...
    assert ("jobs", pipeline.OUTPUT_TOPIC) in publishes  # ... and announces
    assert ("fetch", pipeline.OUTPUT_TOPIC) not in publishes
    assert out["url_signers"] == ["fetch"]
    assert out["functions"]["fetch"]["environment"]["CONTENTFLOW_UPLOAD_SIGNER_EMAIL"] == f"cf-fetch@{PROJECT_ID}.iam.gserviceaccount.com"
    assert "CONTENTFLOW_UPLOAD_SIGNER_EMAIL" not in out["functions"]["api"]["environment"]


@pytest.mark.parametrize("change, message", [
    (lambda raw: raw["functions"]["jobs"].update(buckets={"archive": ["read"]}), "names an unknown bucket"),
    (lambda raw: raw["functions"]["jobs"].update(buckets={"inbox": ["write"]}), "an access other than list"),
    (lambda raw: raw["functions"]["extract"].update(hands_on="first_step"), "only on a function that runs no step"),
    (lambda raw: raw["functions"]["sweeper"].update(signs_urls=True), "needs create on a bucket"),
], ids=["unknown-bucket", "unknown-access", "step-hands-on", "signer-without-create"])
def test_a_bad_declaration_fails_the_plan(tmp_path, change, message):
    """The spec module refuses what contentflow.spec refuses, so a spec edited without running
    the code's checks still cannot deploy wrong grants."""
    from contentflow.spec import SpecError

    raw = _raw_spec()
    change(raw)
    with pytest.raises(SpecError):
        parse_spec(raw)
    spec_copy = tmp_path / "pipeline.yaml"
    spec_copy.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(AssertionError, match=message):
        evaluate_spec_module(tmp_path / "tf", spec_path=spec_copy)
