"""Cloud Tasks resource names: parsing, validation and generated task ids."""

import re
import secrets
from dataclasses import dataclass

from .errors import invalid

_PROJECT = r"[A-Za-z0-9\-:.]+"
_LOCATION = r"[A-Za-z0-9\-]+"
_QUEUE_ID = r"[A-Za-z0-9\-]{1,100}"
_TASK_ID = r"[A-Za-z0-9_\-]{1,500}"

_PARENT_RE = re.compile(rf"^projects/({_PROJECT})/locations/({_LOCATION})$")
_QUEUE_RE = re.compile(rf"^projects/({_PROJECT})/locations/({_LOCATION})/queues/({_QUEUE_ID})$")
_TASK_RE = re.compile(rf"^(projects/{_PROJECT}/locations/{_LOCATION}/queues/{_QUEUE_ID})/tasks/(.*)$")
_TASK_ID_RE = re.compile(rf"^{_TASK_ID}$")

QUEUE_NAME_FORMAT = 'Queue name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>".'


@dataclass(frozen=True)
class QueueName:
    project: str
    location: str
    queue_id: str

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def __str__(self) -> str:
        return f"{self.parent}/queues/{self.queue_id}"


def parse_parent(parent: str) -> str:
    if not _PARENT_RE.match(parent or ""):
        raise invalid(f'Parent must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>", got "{parent}".')
    return parent


def parse_queue_name(name: str) -> QueueName:
    match = _QUEUE_RE.match(name or "")
    if not match:
        raise invalid(QUEUE_NAME_FORMAT)
    return QueueName(*match.groups())


def parse_task_name(name: str) -> tuple[str, str]:
    """Returns (queue name, task id) of a full task name, refusing malformed ones."""
    match = _TASK_RE.match(name or "")
    if not match:
        raise invalid(
            'Task name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>/tasks/<TASK_ID>".'
        )
    queue_name, task_id = match.groups()
    if not _TASK_ID_RE.match(task_id):
        raise invalid(
            f'Task ID "{task_id}" can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-), or underscores (_). '
            "Task ID must between 1 and 500 characters."
        )
    return queue_name, task_id


def short_id(full_name: str) -> str:
    return full_name.rsplit("/", 1)[-1]


def generated_task_id() -> str:
    """A server-chosen task id, numeric like the ones production hands out."""
    return str(secrets.randbelow(9 * 10**18) + 10**18)
