"""The pipeline spec: one YAML file that names every bucket, topic, queue, step, schedule and function.

The functions, the local stack and (through the same file) Terraform all read it, so local and
production wiring cannot drift. A broken spec is refused with a message naming the field.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_SPEC_PATH = Path(__file__).with_name("pipeline.yaml")

ResourceId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{2,62}$")]
# Service account ids are "cf-<name>" and at most 30 characters: names stop at 27.
FunctionName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,26}$")]
BucketAccess = Literal["list", "read", "create", "delete"]


class SpecError(ValueError):
    """The pipeline spec is invalid; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bucket(_Strict):
    description: str
    retention_days: int = Field(ge=1, le=36500)
    versioning: bool = False


# A topic's role: `pipeline` carries step messages (a function parses them); `events` carries
# output events for consumers outside the pipeline; `dead_letter` takes the step messages a
# function gave up on (its function fails their documents); `archive` keeps the events a consumer
# gave up on, for replay (a pull subscription, no function).
TopicRole = Literal["pipeline", "events", "dead_letter", "archive"]
# What each role's dead-letter topic must be (None: it has none).
DEAD_LETTER_ROLE: dict[str, str | None] = {"pipeline": "dead_letter", "events": "archive", "dead_letter": None, "archive": None}
# An archive keeps messages this long (Pub/Sub's maximum, 7 days), acknowledged ones too, so a
# replay can seek back. Terraform's pubsub module uses the same figure.
ARCHIVE_RETENTION_S = 7 * 24 * 3600


class Topic(_Strict):
    description: str
    role: TopicRole = "pipeline"
    dead_letter_topic: ResourceId | None = None


class RateLimits(_Strict):
    max_dispatches_per_second: float = Field(gt=0, le=500)
    max_burst_size: int = Field(ge=1, le=500)
    max_concurrent_dispatches: int = Field(ge=1, le=5000)


class QueueRetry(_Strict):
    max_attempts: int = Field(ge=-1)
    min_backoff_s: float = Field(ge=0)
    max_backoff_s: float = Field(ge=0)
    max_doublings: int = Field(ge=0, le=16)
    max_retry_duration_s: float = Field(ge=0)

    @model_validator(mode="after")
    def _backoff_order(self) -> QueueRetry:
        if self.max_backoff_s < self.min_backoff_s:
            raise ValueError("max_backoff_s must be >= min_backoff_s")
        return self


class Queue(_Strict):
    description: str
    rate_limits: RateLimits
    retry: QueueRetry


class Step(_Strict):
    name: FunctionName
    function: FunctionName
    status: Annotated[str, Field(pattern=r"^[a-z]+ing$")]
    stuck_after_s: int = Field(ge=10, le=86400)
    max_attempts: int = Field(ge=1, le=100)


class ScheduleTarget(_Strict):
    function: FunctionName
    body: dict = Field(default_factory=dict)


class Schedule(_Strict):
    description: str
    cron: Annotated[str, Field(pattern=r"^\S+ \S+ \S+ \S+ \S+$")]
    time_zone: str = "Etc/UTC"
    target: ScheduleTarget


class StorageTrigger(_Strict):
    type: Literal["storage"]
    bucket: ResourceId
    event: Literal["finalized"] = "finalized"


class PubsubTrigger(_Strict):
    type: Literal["pubsub"]
    topic: ResourceId


class QueueTrigger(_Strict):
    """An HTTP function called by Cloud Tasks from the named queue."""

    type: Literal["queue"]
    queue: ResourceId


class HttpTrigger(_Strict):
    type: Literal["http"]


Trigger = Annotated[
    Union[StorageTrigger, PubsubTrigger, QueueTrigger, HttpTrigger], Field(discriminator="type")
]


class Runtime(_Strict):
    memory_mb: int = Field(ge=128, le=32768)
    cpu: float = Field(gt=0, le=8)
    concurrency: int = Field(ge=1, le=1000)
    timeout_s: int = Field(ge=1, le=3600)
    max_instances: int = Field(ge=1, le=1000)
    min_instances: int = Field(default=0, ge=0, le=1000)


class Function(_Strict):
    description: str
    source: Annotated[str, Field(pattern=r"^functions/[a-z_]+\.py$")]
    entry_point: FunctionName
    trigger: Trigger
    runtime: Runtime
    project_roles: list[Annotated[str, Field(pattern=r"^roles/[a-zA-Z.]+$")]] = Field(default_factory=list)
    # Queue-triggered functions (not steps) this function creates Cloud Tasks tasks for: Terraform
    # grants it enqueue rights on exactly those queues.
    enqueues: list[FunctionName] = Field(default_factory=list)
    # Its object access per bucket id; Terraform grants exactly this, on the bucket (list: names,
    # metadata and the bucket itself; read: contents; create: new objects; delete: also needed,
    # with create, to overwrite an object).
    buckets: dict[ResourceId, Annotated[list[BucketAccess], Field(min_length=1)]] = Field(default_factory=dict)
    # A function that runs no step: the steps it hands documents to (a step's hand-on to the next
    # one follows from `steps`): first_step (it registers documents) or any_step (it re-drives a
    # document at its step). Terraform grants publish / enqueue on those steps' triggers.
    hands_on: Literal["first_step", "any_step"] | None = None
    # A function that runs no step publishes document events (document.failed) on the output
    # topic (steps always may).
    announces: bool = False
    # Signs V4 Cloud Storage URLs through IAM signBlob as its own service account (no key file):
    # Terraform lets the account sign as itself and names it in CONTENTFLOW_UPLOAD_SIGNER_EMAIL.
    signs_urls: bool = False

    @model_validator(mode="after")
    def _no_primitive_roles(self) -> Function:
        primitive = {"roles/owner", "roles/editor", "roles/viewer"}
        if bad := primitive.intersection(self.project_roles):
            raise ValueError(f"primitive roles are not allowed: {sorted(bad)}")
        return self


class Delivery(_Strict):
    ack_deadline_s: int = Field(ge=10, le=600)
    min_backoff_s: float = Field(ge=0, le=600)
    max_backoff_s: float = Field(ge=0, le=600)
    max_delivery_attempts: int = Field(ge=5, le=100)
    # A running step's lease: renewed while the step works (up to its function's timeout), so it
    # runs out this long after its owner died, and a redelivery can take the step over.
    lease_s: int = Field(default=30, ge=10, le=600)

    def redelivery_window_s(self) -> float:
        """How long Pub/Sub keeps redelivering a message that keeps failing before it dead-letters
        it: the backoffs between its deliveries (exponential from min to max backoff)."""
        waits = [min(self.max_backoff_s, max(self.min_backoff_s, 1.0) * 2 ** i) for i in range(self.max_delivery_attempts - 1)]
        return sum(waits)

    @model_validator(mode="after")
    def _outlasts_the_lease(self) -> Delivery:
        # Otherwise a step whose owner died is dead-lettered while its lease still holds, and its
        # document waits for the sweeper although a redelivery could have finished it.
        if self.redelivery_window_s() < 2 * self.lease_s:
            raise ValueError(f"delivery: {self.max_delivery_attempts} deliveries span about {self.redelivery_window_s():.0f} s, "
                             f"less than twice lease_s ({self.lease_s} s): raise max_delivery_attempts or lower lease_s")
        return self


class Embeddings(_Strict):
    """Where chunk vectors live and their dimension per inference backend (Terraform builds a
    vector index for each dimension)."""

    collection: ResourceId = "chunks"
    field: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")] = "embedding"
    dimensions: dict[Literal["local", "vertex"], Annotated[int, Field(ge=1, le=2048)]]
    filter_fields: list[Literal["labels", "language"]] = Field(default_factory=list)


class Retention(_Strict):
    """How long a document is kept (the `retention` job deletes it whole after that)."""

    documents_days: int = Field(ge=1, le=36500)


# --- Firestore single-field index exemptions --------------------------------------------------
# Firestore indexes every field and map subfield by itself (ascending, descending, array-contains).
# An exemption lists the indexes a field KEEPS (none: []); Terraform sets it with one
# google_firestore_field per field path (modules/firestore). A map's exemption covers its subfields,
# a subfield's own exemption overrides it.
IndexOrder = Literal["ASCENDING", "DESCENDING", "ARRAY_CONTAINS"]
_FIELD_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# Names joined by dots (no backquoted names); `*` stands for every step record, in steps.*.<field> only.
FIELD_PATH = re.compile(rf"{_FIELD_NAME}(?:\.(?:{_FIELD_NAME}|\*))*")
# Document.steps: a map keyed by step name (the spec's steps and documents.FETCH_STEP).
STEP_RECORDS = "steps"
# Fields Terraform gives a google_firestore_field of its own already (a field takes one): the
# records' TTL field, whose exemption goes into its TTL policy, and the idempotency keys' expiry
# field, whose indexes that policy turns off (an exemption of it is refused).
RECORDS_TTL_FIELD = "updated_at"
EXPIRY_FIELD = "expires_at"
MAX_INDEX_EXEMPTIONS = 200  # Firestore's limit of single-field index exemptions per database


class IndexExemption(_Strict):
    """A field's automatic single-field indexes: `keep` names the ones kept ([]: none)."""

    field: str
    keep: list[IndexOrder]

    @field_validator("field")
    @classmethod
    def _field_path(cls, value: str) -> str:
        if not FIELD_PATH.fullmatch(value) or len(value.encode()) > 1500:
            raise ValueError(f"{value!r} is not a field path: names of letters, digits and _ joined by dots")
        names = value.split(".")
        if any(n.startswith("__") and n.endswith("__") for n in names):
            raise ValueError(f"{value!r}: __...__ names are reserved by Firestore")
        if "*" in names and (names[:2] != [STEP_RECORDS, "*"] or len(names) < 3 or "*" in names[2:]):
            raise ValueError(f"{value!r}: `*` only as {STEP_RECORDS}.*.<field> (that field of every step record)")
        return value

    @field_validator("keep")
    @classmethod
    def _each_once(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("an index is listed twice")
        return value


class FirestoreIndexes(_Strict):
    """Per collection, the fields whose automatic single-field indexes are changed."""

    index_exemptions: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")], list[IndexExemption]] = Field(
        default_factory=dict)


def expand_field_path(path: str, step_record_keys: list[str]) -> list[str]:
    """`steps.*.<field>` as that field of every step record; any other path as itself."""
    prefix = f"{STEP_RECORDS}.*."
    if not path.startswith(prefix):
        return [path]
    return [f"{STEP_RECORDS}.{key}.{path[len(prefix):]}" for key in step_record_keys]


class PipelineSpec(_Strict):
    version: Literal[1]
    buckets: dict[ResourceId, Bucket]
    topics: dict[ResourceId, Topic]
    queues: dict[ResourceId, Queue] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)
    schedules: dict[ResourceId, Schedule] = Field(default_factory=dict)
    functions: dict[FunctionName, Function]
    delivery: Delivery
    embeddings: Embeddings
    retention: Retention
    firestore: FirestoreIndexes = Field(default_factory=FirestoreIndexes)

    @model_validator(mode="after")
    def _references_resolve(self) -> PipelineSpec:
        problems: list[str] = []
        longest = max((b.retention_days for b in self.buckets.values()), default=0)
        if self.retention.documents_days > longest:
            # Terraform's Firestore TTL drops a record `longest` days after its last change: a record
            # gone before the job reaches it would leave its chunks behind.
            problems.append(f"retention.documents_days: at most the longest bucket retention ({longest} days)")
        for name, topic in self.topics.items():
            expected = DEAD_LETTER_ROLE[topic.role]
            dlq = topic.dead_letter_topic
            if expected is None:
                if dlq:
                    problems.append(f"topics.{name}.dead_letter_topic: none for a topic of role {topic.role}")
            elif dlq is None:
                problems.append(f"topics.{name}.dead_letter_topic: required")
            elif dlq not in self.topics or self.topics[dlq].role != expected:
                # An event dead-lettered among step messages is dropped (the dead_letter function
                # cannot parse it), and a step message in an archive fails no document.
                problems.append(f"topics.{name}.dead_letter_topic: {dlq!r} is not of role {expected} "
                                f"(a topic of role {topic.role} dead-letters into one)")
        from contentflow.events import OUTPUT_TOPIC  # the topic the code publishes its events on

        if OUTPUT_TOPIC in self.topics and self.topics[OUTPUT_TOPIC].role != "events":
            problems.append(f"topics.{OUTPUT_TOPIC}.role: the output topic carries events (role: events)")
        for name, fn in self.functions.items():
            t = fn.trigger
            if fn.entry_point != name:
                problems.append(f"functions.{name}.entry_point: must equal the function name")
            if isinstance(t, StorageTrigger) and t.bucket not in self.buckets:
                problems.append(f"functions.{name}.trigger.bucket: unknown bucket {t.bucket!r}")
            if isinstance(t, PubsubTrigger) and t.topic not in self.topics:
                problems.append(f"functions.{name}.trigger.topic: unknown topic {t.topic!r}")
            elif isinstance(t, PubsubTrigger) and self.topics[t.topic].role == "archive":
                problems.append(f"functions.{name}.trigger.topic: {t.topic!r} is an archive (kept for replay, no function takes it)")
            if isinstance(t, QueueTrigger) and t.queue not in self.queues:
                problems.append(f"functions.{name}.trigger.queue: unknown queue {t.queue!r}")
            for target in fn.enqueues:
                if target not in self.functions or not isinstance(self.functions[target].trigger, QueueTrigger):
                    problems.append(f"functions.{name}.enqueues: {target!r} is not a queue-triggered function")
            for bucket in fn.buckets:
                if bucket not in self.buckets:
                    problems.append(f"functions.{name}.buckets: unknown bucket {bucket!r}")
            if fn.signs_urls and not any("create" in access for access in fn.buckets.values()):
                # A signed upload URL acts as the signer: without create it could only sign refusals.
                problems.append(f"functions.{name}.signs_urls: the signer needs create on a bucket")
            if name in {s.function for s in self.steps} and (fn.hands_on or fn.announces):
                problems.append(f"functions.{name}: a step function's hand-on and events follow from steps (no hands_on, announces)")
        from contentflow.steps import registered_steps  # the handlers, registered by step name

        seen: set[str] = set()
        for i, step in enumerate(self.steps):
            if step.name not in registered_steps():
                problems.append(f"steps[{i}].name: no handler for step {step.name!r} "
                                f"(registered: {', '.join(sorted(registered_steps()))})")
            if step.name in seen:
                problems.append(f"steps[{i}].name: duplicate step {step.name!r}")
            seen.add(step.name)
            fn = self.functions.get(step.function)
            if fn is None:
                problems.append(f"steps[{i}].function: unknown function {step.function!r}")
            elif isinstance(fn.trigger, (StorageTrigger, HttpTrigger)):
                problems.append(f"steps[{i}].function: {step.function!r} needs a pubsub or queue trigger")
        for name, sched in self.schedules.items():
            target = self.functions.get(sched.target.function)
            if target is None:
                problems.append(f"schedules.{name}.target.function: unknown function {sched.target.function!r}")
            elif not isinstance(target.trigger, HttpTrigger):
                problems.append(f"schedules.{name}.target.function: {sched.target.function!r} is not an http function")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _index_exemptions_resolve(self) -> PipelineSpec:
        problems: list[str] = []
        known = self.firestore_collections()
        idempotency = self.firestore_collections(kind="idempotency")
        seen: set[tuple[str, str]] = set()
        for collection, entries in self.firestore.index_exemptions.items():
            where = f"firestore.index_exemptions.{collection}"
            if collection not in known:
                problems.append(f"{where}: unknown collection (the code writes {', '.join(sorted(known))})")
            for i, entry in enumerate(entries):
                for path in expand_field_path(entry.field, self.step_record_keys()):
                    if (collection, path) in seen:
                        problems.append(f"{where}[{i}].field: {path} is exempted twice")
                    seen.add((collection, path))
                    if collection in idempotency and path == EXPIRY_FIELD:
                        problems.append(f"{where}[{i}].field: {path} is the idempotency keys' expiry field: its TTL "
                                        "policy turns its indexes off already (a field takes one google_firestore_field)")
        if len(seen) + 1 > MAX_INDEX_EXEMPTIONS:  # + the expiry field's
            problems.append(f"firestore.index_exemptions: {len(seen)} fields, Firestore takes at most "
                            f"{MAX_INDEX_EXEMPTIONS - 1} besides the expiry field")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def firestore_collections(self, kind: str | None = None) -> set[str]:
        """The collections the code writes: the records, the chunks (embeddings.collection) and the
        Settings defaults of the others; `kind`: only Settings.<kind>_collection."""
        from contentflow.settings import Settings  # it imports this module

        names = {n.removesuffix("_collection"): f.default for n, f in Settings.model_fields.items()
                 if n == "collection" or n.endswith("_collection")}
        if kind is not None:
            return {names[kind]}
        return {*names.values(), self.embeddings.collection}

    def step_record_keys(self) -> list[str]:
        """The keys of a record's `steps` map: a URL document's fetch stage, then the spec's steps."""
        from contentflow.documents import FETCH_STEP  # it imports this module

        return [FETCH_STEP, *(s.name for s in self.steps)]

    def index_exemptions(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """(collection, field path) => the single-field indexes kept, `steps.*.` expanded."""
        return {(collection, path): tuple(entry.keep)
                for collection, entries in self.firestore.index_exemptions.items() for entry in entries
                for path in expand_field_path(entry.field, self.step_record_keys())}

    # --- lookups used by the functions and the local stack -------------------------------------
    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"no step {name!r} in the pipeline spec")

    def next_step(self, name: str) -> Step | None:
        names = [s.name for s in self.steps]
        i = names.index(name)
        return self.steps[i + 1] if i + 1 < len(self.steps) else None

    def first_step(self) -> Step:
        return self.steps[0]

    def step_for_status(self, status: str) -> Step | None:
        return next((s for s in self.steps if s.status == status), None)

    def archive_subscription(self, topic_id: str) -> str:
        """The pull subscription that keeps an archive topic's messages; Terraform names it alike."""
        if self.topics[topic_id].role != "archive":
            raise KeyError(f"topic {topic_id!r} is not an archive")
        return f"{topic_id}--archive"

    def archives(self) -> list[str]:
        return [name for name, t in self.topics.items() if t.role == "archive"]

    def pubsub_functions(self) -> dict[str, Function]:
        return {n: f for n, f in self.functions.items() if isinstance(f.trigger, PubsubTrigger)}


def bucket_name(project_id: str, bucket_id: str) -> str:
    """Real bucket name (bucket names are global). Terraform builds the same string."""
    return f"{project_id}-{bucket_id}"


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"] if not re.fullmatch(r"[a-z]+-?trigger|function-after.*", str(p)))
        lines.append(f"{where or '<spec>'}: {e['msg']}")
    return "; ".join(lines)


def parse_spec(data: dict) -> PipelineSpec:
    try:
        return PipelineSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(f"invalid pipeline spec: {_format_errors(err)}") from None


# libyaml's parser (PyYAML's wheels ship it): the same safe loading as yaml.safe_load, about 8 times
# quicker on the spec (every function instance parses it at start).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_spec_file(path: str | Path) -> PipelineSpec:
    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=SAFE_LOADER)
    except (OSError, yaml.YAMLError) as err:
        raise SpecError(f"cannot read pipeline spec {path}: {err}") from None
    if not isinstance(data, dict):
        raise SpecError(f"invalid pipeline spec {path}: the top level must be a mapping")
    return parse_spec(data)


@cache
def load_spec(path: str | None = None) -> PipelineSpec:
    """The spec, parsed once per process (functions call this per instance, not per request)."""
    return load_spec_file(path or DEFAULT_SPEC_PATH)
