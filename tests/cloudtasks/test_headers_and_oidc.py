"""What a target receives: the request as the task describes it, the X-CloudTasks-* headers and
an OIDC token that verifies like Google's (with the emulator's published key)."""

import base64
import json
import time

import pytest
from google.auth import jwt
from google.cloud import tasks_v2

from .support import make_queue

pytestmark = pytest.mark.timeout(60)

SERVICE_ACCOUNT = "tasks-invoker@local-project.iam.gserviceaccount.com"


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_target_receives_the_task_request_and_cloud_tasks_headers(emulator, client, target):
    queue = make_queue(client, emulator, "wire")
    task = client.create_task(
        parent=queue.name,
        task={
            "name": f"{queue.name}/tasks/doc-7",
            "http_request": {
                "url": target.url("/hook?step=extract"),
                "http_method": tasks_v2.HttpMethod.PUT,
                "headers": {"Content-Type": "application/json", "X-Trace": "abc", "Host": "ignored.example"},
                "body": b'{"document_id": "7"}',
            },
        },
    )
    request = target.wait_for("/hook", 1, timeout=5)[0]
    headers = request.headers
    assert request.method == "PUT" and request.body == b'{"document_id": "7"}'
    assert headers["Content-Type"] == "application/json" and headers["X-Trace"] == "abc"
    assert headers["Host"] == f"127.0.0.1:{target.port}"
    assert headers["User-Agent"] == "Google-Cloud-Tasks"
    assert headers["X-CloudTasks-QueueName"] == "wire"
    assert headers["X-CloudTasks-TaskName"] == "doc-7"
    assert headers["X-CloudTasks-TaskRetryCount"] == "0"
    assert headers["X-CloudTasks-TaskExecutionCount"] == "0"
    assert float(headers["X-CloudTasks-TaskETA"]) == pytest.approx(task.schedule_time.timestamp(), abs=1e-5)
    for absent in ("X-CloudTasks-TaskPreviousResponse", "X-CloudTasks-TaskRetryReason", "Authorization"):
        assert absent not in headers


def test_oidc_token_is_signed_and_carries_production_claims(emulator, client, target):
    queue = make_queue(client, emulator, "secured")
    before = int(time.time())
    client.create_task(parent=queue.name, task={"http_request": {
        "url": target.url("/private"),
        "oidc_token": {"service_account_email": SERVICE_ACCOUNT, "audience": "https://extract.example"},
    }})
    client.create_task(parent=queue.name, task={"http_request": {
        "url": target.url("/private-default-audience"),
        "oidc_token": {"service_account_email": SERVICE_ACCOUNT},
    }})
    explicit = target.wait_for("/private", 1, timeout=5)[0]
    default = target.wait_for("/private-default-audience", 1, timeout=5)[0]

    scheme, token = explicit.headers["Authorization"].split(" ", 1)
    assert scheme == "Bearer"
    # Verified the way a Google ID token is verified, with the key the emulator publishes.
    public_key = emulator.oidc_public_key_pem()
    assert (emulator.data_dir / "oidc-public-key.pem").read_bytes() == public_key
    kid = emulator.oidc_jwks()["keys"][0]["kid"]
    claims = jwt.decode(token, certs={kid: public_key}, audience="https://extract.example")
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["email"] == SERVICE_ACCOUNT and claims["email_verified"] is True
    assert claims["sub"].isdigit()
    assert before <= claims["iat"] <= time.time() + 1 and claims["exp"] == claims["iat"] + 3600

    default_token = default.headers["Authorization"].removeprefix("Bearer ")
    assert claims_of(default_token)["aud"] == target.url("/private-default-audience")
    jwt.decode(default_token, certs={kid: public_key}, audience=target.url("/private-default-audience"))
    with pytest.raises(ValueError):
        jwt.decode(default_token, certs={kid: public_key}, audience="https://someone-else.example")


def test_oauth_token_gives_a_bearer_access_token(emulator, client, target):
    queue = make_queue(client, emulator, "googleapis")
    client.create_task(parent=queue.name, task={"http_request": {
        "url": target.url("/api"), "oauth_token": {"service_account_email": SERVICE_ACCOUNT},
    }})
    request = target.wait_for("/api", 1, timeout=5)[0]
    assert request.headers["Authorization"].startswith("Bearer ya29.")


def test_a_body_without_content_type_is_sent_as_octet_stream(emulator, client, target):
    queue = make_queue(client, emulator, "untyped")
    client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/untyped"), "body": b"raw"}})
    request = target.wait_for("/untyped", 1, timeout=5)[0]
    assert request.body == b"raw" and request.headers["Content-Type"] == "application/octet-stream"
