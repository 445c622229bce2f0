"""Hands a document to a step through that step's trigger (a Pub/Sub topic or a Cloud Tasks
queue, as the spec says) and publishes output events."""

from __future__ import annotations

from contentflow.errors import TransientError
from contentflow.messages import StepMessage
from contentflow.metering import count
from contentflow.spec import PipelineSpec, PubsubTrigger, QueueTrigger


class Dispatcher:
    def __init__(self, spec: PipelineSpec, project_id: str, publisher, timeout_s: float,
                 tasks_client=None, function_urls: dict[str, str] | None = None, location: str = "us-central1",
                 tasks_service_account: str | None = None):
        self._spec = spec
        self._project = project_id
        self._publisher = publisher
        self._timeout = timeout_s
        self._tasks = tasks_client
        self._urls = function_urls or {}
        self._location = location
        self._tasks_sa = tasks_service_account

    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> str:
        path = f"projects/{self._project}/topics/{topic}"
        try:
            message_id = self._publisher.publish(path, data, **attributes).result(timeout=self._timeout)
        except Exception as err:  # publish futures raise api_core errors or TimeoutError
            raise TransientError(f"publish to {topic} failed: {type(err).__name__}", detail=str(err)) from err
        count("pubsub.messages")
        count("pubsub.bytes", len(data))
        return message_id

    def hand_on(self, document_id: str, step_name: str, trace_id: str | None, redrive: str = "") -> None:
        """`redrive`: a suffix that makes a sweeper's re-drive a new Cloud Tasks task name (the
        normal hand-on's name is refused for an hour after it ran, which de-duplicates it)."""
        step = self._spec.step(step_name)
        trigger = self._spec.functions[step.function].trigger
        body = StepMessage(document_id=document_id, step=step_name, trace_id=trace_id).model_dump_json().encode()
        if isinstance(trigger, PubsubTrigger):
            self.publish(trigger.topic, body, {"document_id": document_id, "step": step_name})
        elif isinstance(trigger, QueueTrigger):
            self._enqueue(trigger.queue, step.function, body, f"{document_id}-{step_name}{redrive}")
        else:  # the spec model refuses this already
            raise TypeError(f"step {step_name} has no pubsub or queue trigger")

    def enqueue_function(self, function: str, payload: dict, task_id: str) -> bool:
        """A Cloud Tasks task for a queue-triggered function that is not a step (e.g. `reembed`).
        False: a task of that name exists or ran within the hour (de-duplicated)."""
        import json

        trigger = self._spec.functions[function].trigger
        if not isinstance(trigger, QueueTrigger):
            raise TypeError(f"function {function} is not triggered by a queue")
        return self._enqueue(trigger.queue, function, json.dumps(payload).encode(), task_id)

    def _enqueue(self, queue: str, function: str, body: bytes, task_id: str) -> bool:
        from google.api_core.exceptions import AlreadyExists
        from google.cloud import tasks_v2

        if self._tasks is None or function not in self._urls:
            raise TransientError(f"no Cloud Tasks client or URL for function {function}")
        url = self._urls[function]
        request = tasks_v2.HttpRequest(http_method=tasks_v2.HttpMethod.POST, url=url,
                                       headers={"Content-Type": "application/json"}, body=body)
        if self._tasks_sa:
            request.oidc_token = tasks_v2.OidcToken(service_account_email=self._tasks_sa, audience=url)
        parent = f"projects/{self._project}/locations/{self._location}/queues/{queue}"
        task = tasks_v2.Task(name=f"{parent}/tasks/{task_id}", http_request=request)
        try:
            self._tasks.create_task(parent=parent, task=task, timeout=self._timeout)
        except AlreadyExists:
            return False  # the same hand-on was enqueued already: Cloud Tasks de-duplicated it
        except Exception as err:
            raise TransientError(f"enqueue on {queue} failed: {type(err).__name__}", detail=str(err)) from err
        count("tasks.created")
        return True
