"""The storage-event relay builds Eventarc's CloudEvent from a GCS notification."""

import base64
import json
from urllib.parse import unquote

from local.relay import to_cloudevent


def _push(bucket: str, name: str, event_type: str = "OBJECT_FINALIZE") -> dict:
    obj = {"bucket": bucket, "name": name, "updated": "2026-11-24T10:00:00Z"}
    return {"message": {"messageId": "42", "attributes": {"eventType": event_type, "bucketId": bucket},
                        "data": base64.b64encode(json.dumps(obj).encode()).decode()}}


def test_header_values_are_percent_encoded_as_the_cloudevents_http_binding_says():
    name = 'a/Q3 – 报告 "x" 100%.pdf'
    headers, body = to_cloudevent(_push("inbox", name), "inbox")
    for value in headers.values():
        value.encode("ascii")  # every header value travels as printable ASCII
        assert " " not in value and '"' not in value
    assert headers["ce-subject"] == "objects/a/Q3%20%E2%80%93%20%E6%8A%A5%E5%91%8A%20%22x%22%20100%25.pdf"
    assert unquote(headers["ce-subject"]) == f"objects/{name}"
    assert json.loads(body)["name"] == name  # the data keeps the name as it is
    assert headers["ce-type"] == "google.cloud.storage.object.v1.finalized"


def test_other_buckets_and_event_types_are_ignored():
    assert to_cloudevent(_push("other", "a.txt"), "inbox") is None
    assert to_cloudevent(_push("inbox", "a.txt", "OBJECT_DELETE"), "inbox") is None
