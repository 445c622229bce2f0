"""Steps triggered through Cloud Tasks: a copy of the spec moves extract onto the `model-calls`
queue too (analyse and index are queue-triggered in the shipped spec), and the same code runs them
through the local Cloud Tasks emulator. Cloud Tasks has no dead-letter topic, so a step whose queue
gives up must fail its document itself, and only when the queue really gives up: when both
max_attempts and max_retry_duration are spent."""

import os
import time
import uuid

import pytest
import yaml

from contentflow.documents import document_id_for
from contentflow.pipeline import DURATION_MARGIN_S
from contentflow.spec import DEFAULT_SPEC_PATH
from local.stack import LOCAL_REGION, LocalStack
from tests.conftest import wait_for_status

MAX_ATTEMPTS = 3
MAX_RETRY_DURATION_S = 6.0  # far longer than MAX_ATTEMPTS quick retries take


@pytest.fixture(scope="module")
def queued_stack(tmp_path_factory, stack):
    """A second stack (the session one keeps its own env) whose steps go through a queue."""
    spec = yaml.safe_load(DEFAULT_SPEC_PATH.read_text())
    spec["functions"]["extract"]["trigger"] = {"type": "queue", "queue": "model-calls"}
    spec["queues"]["model-calls"]["retry"].update(max_attempts=MAX_ATTEMPTS, min_backoff_s=0.2, max_backoff_s=0.4,
                                                  max_retry_duration_s=MAX_RETRY_DURATION_S)
    spec["steps"][0]["max_attempts"] = 50  # the pipeline's own cap stays out of the way
    path = tmp_path_factory.mktemp("spec") / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec))
    queued = LocalStack(tmp_path_factory.mktemp("queued-stack"), spec_path=path, with_scheduler=False).start()
    try:
        yield queued
    finally:
        queued.stop()


def _clients(stack):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore, storage

    env = stack.client_env()
    storage_client = storage.Client(project=stack.project_id, credentials=AnonymousCredentials(),
                                    client_options={"api_endpoint": env["STORAGE_EMULATOR_HOST"]})
    os.environ["FIRESTORE_EMULATOR_HOST"], saved = env["FIRESTORE_EMULATOR_HOST"], os.environ["FIRESTORE_EMULATOR_HOST"]
    try:
        db = firestore.Client(project=stack.project_id)
    finally:
        os.environ["FIRESTORE_EMULATOR_HOST"] = saved
    return storage_client, db


def test_queue_triggered_steps_reach_done_and_queues_match_the_spec(queued_stack):
    from local.cloudtasks import make_client

    storage_client, db = _clients(queued_stack)
    inbox = storage_client.bucket(queued_stack.bucket("inbox"))
    blob = inbox.blob(f"q/{uuid.uuid4().hex}.txt")
    blob.upload_from_string(b"Through the queue.", content_type="text/plain")
    doc_id = document_id_for(inbox.name, blob.name, blob.md5_hash, blob.generation)
    record = wait_for_status(db, doc_id)
    assert record["status"] == "done", record.get("error")
    assert all(step["attempts"] == 1 for step in record["steps"].values())
    client = make_client(queued_stack.client_env()["CLOUD_TASKS_EMULATOR_HOST"])
    queue = client.get_queue(name=f"projects/{queued_stack.project_id}/locations/{LOCAL_REGION}/queues/model-calls")
    limits = queued_stack.spec.queues["model-calls"].rate_limits
    assert queue.rate_limits.max_dispatches_per_second == limits.max_dispatches_per_second
    assert queue.rate_limits.max_concurrent_dispatches == limits.max_concurrent_dispatches
    assert queue.retry_config.max_attempts == MAX_ATTEMPTS
    # The hand-on's task name is the document and step: enqueuing it again is refused (de-duplicated).
    tasks = client.list_tasks(parent=queue.name)
    assert list(tasks) == []  # both tasks ran and were deleted
    from google.api_core.exceptions import AlreadyExists
    from google.cloud import tasks_v2

    with pytest.raises(AlreadyExists):
        client.create_task(parent=queue.name, task=tasks_v2.Task(
            name=f"{queue.name}/tasks/{doc_id}-analyse",
            http_request=tasks_v2.HttpRequest(url=queued_stack.function_url("analyse"), body=b"{}")))
    client.transport.close()


def test_step_that_fails_on_the_queue_last_attempt_fails_the_document(queued_stack):
    storage_client, db = _clients(queued_stack)
    processed = storage_client.bucket(queued_stack.bucket("processed"))
    processed.delete(force=True)  # extract can no longer write its output: a transient failure
    inbox = storage_client.bucket(queued_stack.bucket("inbox"))
    blob = inbox.blob(f"q/{uuid.uuid4().hex}.txt")
    blob.upload_from_string(b"No place to write my text.", content_type="text/plain")
    doc_id = document_id_for(inbox.name, blob.name, blob.md5_hash, blob.generation)
    record = wait_for_status(db, doc_id, timeout=60)
    assert record["status"] == "failed"
    extract = record["steps"]["extract"]
    # Not at max_attempts alone: Cloud Tasks keeps retrying until the retry duration is spent too.
    attempts = extract["attempts"]
    assert attempts >= MAX_ATTEMPTS
    # (less the margin for Cloud Tasks measuring from its own dispatch: pipeline.DURATION_MARGIN_S)
    assert (extract["finished_at"] - extract["first_started_at"]).total_seconds() >= MAX_RETRY_DURATION_S - DURATION_MARGIN_S
    reason = record["error"]["reason"]
    assert reason == f"extract gave up after {attempts} deliveries: an output bucket is missing (deployment)"
    # Storage's own words (the bucket's name, its URL) go to the function's log, not the record.
    log = queued_stack.data_dir / "logs" / "fn-extract.log"
    deadline = time.monotonic() + 20
    while f'"detail": "{processed.name}: ' not in log.read_text():
        assert time.monotonic() < deadline, "the dependency's error detail was never logged"
        time.sleep(0.1)
