"""A queue-triggered step fails its document only on the queue's real last attempt: Cloud Tasks
stops retrying when BOTH max_attempts and max_retry_duration are spent (-1 / 0: unlimited)."""

from datetime import datetime, timedelta, timezone

import pytest

from contentflow.pipeline import QueueAttempt
from contentflow.spec import QueueRetry

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def retry(max_attempts=3, duration=60.0):
    return QueueRetry(max_attempts=max_attempts, min_backoff_s=1, max_backoff_s=10, max_doublings=3,
                      max_retry_duration_s=duration)


@pytest.mark.parametrize("retry_count, elapsed_s, last", [
    (0, 0, False),      # first attempt
    (1, 120, False),    # duration spent, attempts left
    (2, 10, False),     # attempts spent, duration left: Cloud Tasks still retries
    (2, 60, True),      # both spent
    (2, 59.5, True),    # within the margin: Cloud Tasks, measuring from its dispatch, sees 60 s spent
    (2, 58.5, False),
    (7, 61, True),
])
def test_last_only_when_attempts_and_duration_are_both_spent(retry_count, elapsed_s, last):
    attempt = QueueAttempt(queue="model-calls", retry_count=retry_count)
    assert attempt.is_last(retry(), NOW - timedelta(seconds=elapsed_s), NOW) is last


def test_unlimited_limits():
    assert QueueAttempt("q", 2).is_last(retry(duration=0), NOW, NOW) is True  # 0 s: attempts alone decide
    assert QueueAttempt("q", 500).is_last(retry(max_attempts=-1, duration=0), NOW - timedelta(days=1), NOW) is False
    # No record of the first attempt: never assume the duration is spent.
    assert QueueAttempt("q", 9).is_last(retry(), None, NOW) is False
