"""Hands a document to a step through that step's trigger (a Pub/Sub topic or a Cloud Tasks
queue, as the spec says) and publishes output events."""

from __future__ import annotations

from contentflow.errors import TransientError
from contentflow.messages import StepMessage
from contentflow.metering import count
from contentflow.spec import PipelineSpec, PubsubTrigger, QueueTrigger


class Dispatcher:
    def __init__(self, spec: PipelineSpec, project_id: str, publisher, timeout_s: float,
                 tasks_client=None, function_urls: dict[str, str] | None = None, location: str = "us-central1"):
        self._spec = spec
        self._project = project_id
        self._publisher = publisher
        self._timeout = timeout_s
        self._tasks = tasks_client
        self._urls = function_urls or {}
        self._location = location

    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> str:
        path = f"projects/{self._project}/topics/{topic}"
        try:
            message_id = self._publisher.publish(path, data, **attributes).result(timeout=self._timeout)
        except Exception as err:  # publish futures raise api_core errors or TimeoutError
            raise TransientError(f"publish to {topic} failed: {type(err).__name__}: {err}") from err
        count("pubsub.messages")
        return message_id

    def hand_on(self, document_id: str, step_name: str, trace_id: str | None) -> None:
        step = self._spec.step(step_name)
        trigger = self._spec.functions[step.function].trigger
        body = StepMessage(document_id=document_id, step=step_name, trace_id=trace_id).model_dump_json().encode()
        if isinstance(trigger, PubsubTrigger):
            self.publish(trigger.topic, body, {"document_id": document_id, "step": step_name})
        elif isinstance(trigger, QueueTrigger):
            self._enqueue(trigger.queue, step.function, body)
        else:  # the spec model refuses this already
            raise TypeError(f"step {step_name} has no pubsub or queue trigger")

    def _enqueue(self, queue: str, function: str, body: bytes) -> None:
        from google.cloud import tasks_v2

        if self._tasks is None or function not in self._urls:
            raise TransientError(f"no Cloud Tasks client or URL for function {function}")
        task = tasks_v2.Task(http_request=tasks_v2.HttpRequest(
            http_method=tasks_v2.HttpMethod.POST, url=self._urls[function],
            headers={"Content-Type": "application/json"}, body=body))
        parent = self._tasks.queue_path(self._project, self._location, queue)
        try:
            self._tasks.create_task(parent=parent, task=task, timeout=self._timeout)
        except Exception as err:
            raise TransientError(f"enqueue on {queue} failed: {type(err).__name__}: {err}") from err
        count("tasks.created")
