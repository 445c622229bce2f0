"""Cloud Tasks' retry schedule: when a failed task is tried again and when it is given up."""

from dataclasses import dataclass

from google.cloud.tasks_v2.types import queue as queue_types

from .pbtime import duration_seconds

# Production defaults for a queue created through the API.
DEFAULT_MAX_ATTEMPTS = 100
DEFAULT_MIN_BACKOFF = 0.1
DEFAULT_MAX_BACKOFF = 3600.0
DEFAULT_MAX_DOUBLINGS = 16

RetryConfigPb = queue_types.RetryConfig.pb()


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int  # -1 means unlimited
    max_retry_duration: float  # 0 means unlimited
    min_backoff: float
    max_backoff: float
    max_doublings: int

    @classmethod
    def from_pb(cls, config: RetryConfigPb) -> "RetryPolicy":
        return cls(
            max_attempts=config.max_attempts,
            max_retry_duration=duration_seconds(config.max_retry_duration),
            min_backoff=duration_seconds(config.min_backoff),
            max_backoff=duration_seconds(config.max_backoff),
            max_doublings=config.max_doublings,
        )

    def backoff(self, failed_attempts: int) -> float:
        """Seconds to wait after the `failed_attempts`-th failed attempt (1 for the first failure).

        The interval starts at min_backoff and doubles max_doublings times, then grows linearly by
        2**max_doublings * min_backoff per retry, always capped at max_backoff. With min 10 s,
        max 300 s and 3 doublings: 10, 20, 40, 80, 160, 240, 300, 300, ...
        """
        retry_index = max(0, failed_attempts - 1)
        if retry_index <= self.max_doublings:
            interval = self.min_backoff * 2**retry_index
        else:
            step = self.min_backoff * 2**self.max_doublings
            interval = step * (retry_index - self.max_doublings + 1)
        return min(interval, self.max_backoff)

    def give_up_reason(self, attempts: int, seconds_since_first_attempt: float) -> str | None:
        """Why a task that just failed gets no further attempt, or None if it is retried.

        Production stops only when both limits are reached: max_attempts attempts made AND
        max_retry_duration passed since the first attempt. A limit that is unlimited (-1 / 0)
        leaves the decision to the other one; with both unlimited a task is retried until its
        retention limit (31 days), which the emulator does not enforce.
        """
        attempts_limited = self.max_attempts != -1
        duration_limited = self.max_retry_duration > 0
        attempts_spent = attempts_limited and attempts >= self.max_attempts
        duration_spent = duration_limited and seconds_since_first_attempt >= self.max_retry_duration
        if attempts_limited and duration_limited:
            return "max_attempts_and_max_retry_duration" if attempts_spent and duration_spent else None
        if attempts_spent:
            return "max_attempts"
        if duration_spent:
            return "max_retry_duration"
        return None
