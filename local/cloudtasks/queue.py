"""Queue configuration (defaults, validation, update masks, specs from a dict) and a queue's live state."""

import heapq

from google.cloud.tasks_v2.types import queue as queue_types
from google.protobuf import field_mask_pb2

from .errors import invalid, unimplemented
from .pbtime import make_duration, duration_seconds, parse_duration_value
from .retry import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_BACKOFF,
    DEFAULT_MAX_DOUBLINGS,
    DEFAULT_MIN_BACKOFF,
    RetryConfigPb,
    RetryPolicy,
)
from .throttle import TokenBucket, default_burst_size

QueuePb = queue_types.Queue.pb()
RUNNING = QueuePb.State.RUNNING
PAUSED = QueuePb.State.PAUSED

DEFAULT_MAX_DISPATCHES_PER_SECOND = 500.0
MAX_DISPATCHES_PER_SECOND = 500.0
DEFAULT_MAX_CONCURRENT_DISPATCHES = 1000
MAX_CONCURRENT_DISPATCHES = 5000
MAX_BURST_SIZE = 500

_UPDATABLE_PATHS = {
    "rate_limits",
    "rate_limits.max_dispatches_per_second",
    "rate_limits.max_burst_size",
    "rate_limits.max_concurrent_dispatches",
    "retry_config",
    "retry_config.max_attempts",
    "retry_config.max_retry_duration",
    "retry_config.min_backoff",
    "retry_config.max_backoff",
    "retry_config.max_doublings",
    "stackdriver_logging_config",
    "stackdriver_logging_config.sampling_ratio",
    "app_engine_routing_override",
    "http_target",
}


def normalize_retry_config(config: RetryConfigPb, keep_zero_doublings: bool = False) -> None:
    """Validates a retry config in place and fills the fields left at zero with production's defaults."""
    if config.max_attempts < -1:
        raise invalid("RetryConfig.maxAttempts must be greater or equal to -1.")
    if config.max_doublings < 0:
        raise invalid("RetryConfig.maxDoublings cannot be negative.")
    for field in ("min_backoff", "max_backoff", "max_retry_duration"):
        if duration_seconds(getattr(config, field)) < 0:
            camel = "".join(part.capitalize() for part in field.split("_"))
            raise invalid(f"RetryConfig.{camel[0].lower()}{camel[1:]} cannot be negative.")
    # proto3 cannot tell an unset int from 0, so production reads 0 as "pick the default".
    if config.max_attempts == 0:
        config.max_attempts = DEFAULT_MAX_ATTEMPTS
    if config.max_doublings == 0 and not keep_zero_doublings:
        config.max_doublings = DEFAULT_MAX_DOUBLINGS
    if duration_seconds(config.min_backoff) == 0:
        config.min_backoff.CopyFrom(make_duration(DEFAULT_MIN_BACKOFF))
    if duration_seconds(config.max_backoff) == 0:
        config.max_backoff.CopyFrom(make_duration(DEFAULT_MAX_BACKOFF))
    if duration_seconds(config.min_backoff) > duration_seconds(config.max_backoff):
        raise invalid("RetryConfig.minBackoff must be less than or equal to RetryConfig.maxBackoff.")


def normalize_queue(queue: QueuePb, keep_zero_doublings: bool = False) -> None:
    """Validates a queue's configuration in place and fills production's defaults.

    max_burst_size is output only in production (Cloud Tasks derives it from the rate); the
    emulator keeps a positive value the caller set so tests and the local stack can pin it.
    """
    if queue.HasField("http_target"):
        raise unimplemented("Queue-level http_target overrides are not emulated.")
    limits = queue.rate_limits
    if limits.max_dispatches_per_second < 0:
        raise invalid("RateLimits.maxDispatchesPerSecond cannot be negative.")
    if limits.max_dispatches_per_second > MAX_DISPATCHES_PER_SECOND:
        raise invalid("RateLimits.maxDispatchesPerSecond must be less than or equal to 500.")
    if limits.max_concurrent_dispatches < 0:
        raise invalid("RateLimits.maxConcurrentDispatches cannot be negative.")
    if limits.max_concurrent_dispatches > MAX_CONCURRENT_DISPATCHES:
        raise invalid("RateLimits.maxConcurrentDispatches must be less than or equal to 5000.")
    if limits.max_dispatches_per_second == 0:
        limits.max_dispatches_per_second = DEFAULT_MAX_DISPATCHES_PER_SECOND
    if limits.max_concurrent_dispatches == 0:
        limits.max_concurrent_dispatches = DEFAULT_MAX_CONCURRENT_DISPATCHES
    if limits.max_burst_size <= 0:
        limits.max_burst_size = default_burst_size(limits.max_dispatches_per_second)
    limits.max_burst_size = min(limits.max_burst_size, MAX_BURST_SIZE)
    normalize_retry_config(queue.retry_config, keep_zero_doublings)
    ratio = queue.stackdriver_logging_config.sampling_ratio
    if not 0.0 <= ratio <= 1.0:
        raise invalid("StackdriverLoggingConfig.samplingRatio must be between 0 and 1.")


def configured_queue(name: str, requested: QueuePb) -> QueuePb:
    """The queue as stored after CreateQueue: the caller's configuration with defaults, running."""
    queue = QueuePb()
    queue.CopyFrom(requested)
    queue.name = name
    queue.ClearField("state")
    queue.ClearField("purge_time")
    normalize_queue(queue)
    queue.state = RUNNING
    return queue


def updated_queue(current: QueuePb, requested: QueuePb, mask: field_mask_pb2.FieldMask) -> QueuePb:
    """The queue after UpdateQueue: fields named by the mask (all configuration if it is empty) replaced."""
    paths = list(mask.paths)
    unknown = [path for path in paths if path not in _UPDATABLE_PATHS]
    if unknown:
        raise invalid(f"Invalid update_mask path(s): {', '.join(unknown)}.")
    updated = QueuePb()
    updated.CopyFrom(current)
    if not paths:
        for field in ("rate_limits", "retry_config", "stackdriver_logging_config", "app_engine_routing_override", "http_target"):
            updated.ClearField(field)
        paths = ["rate_limits", "retry_config", "stackdriver_logging_config", "app_engine_routing_override", "http_target"]
    field_mask_pb2.FieldMask(paths=paths).MergeMessage(requested, updated, replace_message_field=True)
    burst_given = requested.rate_limits.max_burst_size > 0 and bool(
        {"rate_limits", "rate_limits.max_burst_size"} & set(paths)
    )
    rate_changed = bool({"rate_limits", "rate_limits.max_dispatches_per_second"} & set(paths))
    if rate_changed and not burst_given:
        updated.rate_limits.max_burst_size = 0  # re-derived from the new rate, as production does
    normalize_queue(updated, keep_zero_doublings="retry_config.max_doublings" in paths)
    return updated


def queue_from_spec(name: str, spec: dict) -> QueuePb:
    """A queue from the local stack's spec, e.g.
    {"rate_limits": {"max_dispatches_per_second": 5, "max_burst_size": 10, "max_concurrent_dispatches": 2},
     "retry_config": {"max_attempts": 5, "min_backoff": "1s", "max_backoff": 60, "max_doublings": 3}}.
    Durations are seconds (a number) or strings like "10s". The pipeline spec's spelling is read
    too: "retry" for "retry_config" and "min_backoff_s"-style keys. Keys left out get production's
    defaults; "description" is ignored.
    """
    unknown = set(spec) - {"rate_limits", "retry_config", "retry", "description"}
    if unknown:
        raise invalid(f"Unknown queue spec key(s) for {name}: {sorted(unknown)}")
    queue = QueuePb(name=name)
    limits = spec.get("rate_limits") or {}
    for key, value in limits.items():
        if key not in ("max_dispatches_per_second", "max_burst_size", "max_concurrent_dispatches"):
            raise invalid(f"Unknown rate_limits key for {name}: {key}")
        setattr(queue.rate_limits, key, type(getattr(queue.rate_limits, key))(value))
    retry = {key.removesuffix("_s"): value for key, value in (spec.get("retry_config") or spec.get("retry") or {}).items()}
    for key, value in retry.items():
        if key in ("min_backoff", "max_backoff", "max_retry_duration"):
            getattr(queue.retry_config, key).CopyFrom(make_duration(parse_duration_value(value)))
        elif key in ("max_attempts", "max_doublings"):
            setattr(queue.retry_config, key, int(value))
        else:
            raise invalid(f"Unknown retry_config key for {name}: {key}")
    queue.state = RUNNING
    normalize_queue(queue, keep_zero_doublings="max_doublings" in retry)
    return queue


class QueueState:
    """A queue's configuration plus what the dispatch loop needs: its token bucket, the count of
    attempts in flight and a heap of (schedule_time, sequence, task name) for its waiting tasks."""

    def __init__(self, config: QueuePb, now_monotonic: float):
        self.config = config
        limits = config.rate_limits
        self.bucket = TokenBucket(limits.max_dispatches_per_second, limits.max_burst_size, now_monotonic)
        self.in_flight = 0
        self.task_names: set[str] = set()
        self._due: list[tuple[float, int, str]] = []

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def running(self) -> bool:
        return self.config.state == RUNNING

    @property
    def max_concurrent(self) -> int:
        return self.config.rate_limits.max_concurrent_dispatches

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy.from_pb(self.config.retry_config)

    def reconfigure(self, config: QueuePb, now_monotonic: float) -> None:
        self.config = config
        limits = config.rate_limits
        self.bucket.reconfigure(limits.max_dispatches_per_second, limits.max_burst_size, now_monotonic)

    def push_due(self, schedule_time: float, sequence: int, task_name: str) -> None:
        heapq.heappush(self._due, (schedule_time, sequence, task_name))

    def peek_due(self) -> tuple[float, int, str] | None:
        return self._due[0] if self._due else None

    def pop_due(self) -> None:
        heapq.heappop(self._due)

    def clear_due(self) -> None:
        self._due.clear()
