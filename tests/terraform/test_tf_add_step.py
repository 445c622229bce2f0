"""A step added to (a copy of) the spec reaches every Terraform input that needs it, with no .tf
edit: its function, account, sizing, topic, push subscription with dead-letter policy, the
hand-on rights before and after it, the sweeper's rights, the invoker and the latency alert."""

from __future__ import annotations

import yaml

from contentflow import pipeline
from contentflow.spec import parse_spec

from .support import PROJECT_ID, SPEC_PATH, TF_DIR, evaluate_spec_module, tree_digest


def _spec_with_summarise_step() -> dict:
    raw = yaml.safe_load(SPEC_PATH.read_text())
    raw["topics"]["summarise-requests"] = {
        "description": "An analysed document waits for its summary.", "dead_letter_topic": "dead-letters"}
    raw["functions"]["summarise"] = {
        "description": "Writes a summary.",
        "source": "functions/summarise.py",
        "entry_point": "summarise",
        "trigger": {"type": "pubsub", "topic": "summarise-requests"},
        "runtime": {"memory_mb": 2048, "cpu": 2, "concurrency": 8, "timeout_s": 540, "max_instances": 7, "min_instances": 1},
        "project_roles": ["roles/datastore.user", "roles/aiplatform.user"],
    }
    names = [s["name"] for s in raw["steps"]]
    raw["steps"].insert(names.index("analyse") + 1, {
        "name": "summarise", "function": "summarise", "status": "summarising", "stuck_after_s": 900, "max_attempts": 3})
    return raw


def test_a_new_step_reaches_terraform_with_no_tf_edit(tmp_path):
    raw = _spec_with_summarise_step()
    spec = parse_spec(raw)  # a valid spec for contentflow itself
    assert [s.name for s in spec.steps] == ["extract", "analyse", "summarise", "index"]
    spec_copy = tmp_path / "pipeline.yaml"
    spec_copy.write_text(yaml.safe_dump(raw, sort_keys=False))

    before = tree_digest(TF_DIR)
    out = evaluate_spec_module(tmp_path / "tf", spec_path=spec_copy)
    assert tree_digest(TF_DIR) == before, "evaluating the spec changed files under terraform/"

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
    assert ("analyse", "summarise-requests") in publishes  # hands on to the new step ...
    assert ("analyse", "index-requests") not in publishes  # ... and no longer to index
    assert ("summarise", "index-requests") in publishes
    assert ("summarise", pipeline.OUTPUT_TOPIC) in publishes
    assert ("sweeper", "summarise-requests") in publishes  # the sweeper can re-drive it
    assert ("sweeper", pipeline.OUTPUT_TOPIC) in publishes  # ... and send a lost failure event

    roles = {(g["function"], g["role"]) for g in out["project_role_grants"].values()}
    assert {("summarise", "roles/datastore.user"), ("summarise", "roles/aiplatform.user")} <= roles
    assert ("push", "summarise") in {(g["identity"], g["function"]) for g in out["invoker_grants"].values()}
    assert "summarise" in out["step_functions"]  # gets a step latency alert
    assert out["steps"]["summarise"]["status"] == "summarising"
    assert "summarise" in out["function_urls"]


def test_a_step_moved_to_a_queue_gets_tasks_wiring(tmp_path):
    """analyse triggered by the model-calls queue instead of its topic: the queue gets a consumer
    and the tasks invoker, the steps that hand on to it may enqueue and say which account the
    tasks' tokens are for, and its push subscription disappears."""
    raw = yaml.safe_load(SPEC_PATH.read_text())
    raw["functions"]["analyse"]["trigger"] = {"type": "queue", "queue": "model-calls"}
    parse_spec(raw)
    spec_copy = tmp_path / "pipeline.yaml"
    spec_copy.write_text(yaml.safe_dump(raw, sort_keys=False))
    out = evaluate_spec_module(tmp_path / "tf", spec_path=spec_copy)

    assert out["queues"]["model-calls"]["consumers"] == ["analyse"]
    assert out["invokers"]["tasks"]["functions"] == ["analyse"]
    assert ("tasks", "analyse") in {(g["identity"], g["function"]) for g in out["invoker_grants"].values()}
    assert not any(s["function"] == "analyse" for s in out["subscriptions"].values())
    enqueuers = {(g["function"], g["queue"]) for g in out["queue_enqueuers"].values()}
    assert enqueuers == {("extract", "model-calls"), ("sweeper", "model-calls")}
    tasks_account = f"{out['invokers']['tasks']['account_id']}@{PROJECT_ID}.iam.gserviceaccount.com"
    for name, fn in out["functions"].items():
        expected = tasks_account if name in {"extract", "sweeper"} else None
        assert fn["environment"].get("CONTENTFLOW_TASKS_SERVICE_ACCOUNT") == expected, name
    assert out["functions"]["analyse"]["trigger_queue"] == "model-calls"
    assert out["functions"]["analyse"]["ingress"] == "ALLOW_INTERNAL_ONLY"
