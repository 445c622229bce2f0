"""The per-queue token bucket that production uses to enforce max_dispatches_per_second."""

import math


class TokenBucket:
    """Holds up to `burst` tokens, refilled continuously at `rate` tokens a second.

    A dispatch takes one token. The bucket starts full, so a queue with waiting tasks sends
    `burst` of them at once and then `rate` a second. Time is passed in (monotonic seconds) so
    the dispatch loop reads the clock once per pass and tests can drive it.
    """

    def __init__(self, rate: float, burst: int, now: float):
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated = now

    def reconfigure(self, rate: float, burst: int, now: float) -> None:
        self._refill(now)
        self.rate = rate
        self.burst = burst
        self._tokens = min(self._tokens, float(burst))

    def seconds_until_token(self, now: float) -> float:
        """0 when a token is available now, else how long until one is (inf if the rate is 0)."""
        self._refill(now)
        if self._tokens >= 1.0:
            return 0.0
        if self.rate <= 0:
            return math.inf
        return (1.0 - self._tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self._tokens -= 1.0

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = now


def default_burst_size(max_dispatches_per_second: float) -> int:
    """Production picks max_burst_size itself from the rate; this is an approximation of its choice
    (100 for the default 500/s queue, about one second's worth of tokens for slow queues)."""
    return max(1, min(100, math.ceil(max_dispatches_per_second)))
