"""Queue rate limits as production enforces them: token bucket and max_concurrent_dispatches."""

import pytest

from .support import Reply, make_queue

pytestmark = pytest.mark.timeout(60)

RATE = 20.0
BURST = 5
TASKS = 200
RATE_TOLERANCE = 0.10  # measured steady rate within 10 % of the limit
FIRST_INSTANT = 0.025  # s: half the 50 ms between two tokens at 20/s


def test_dispatch_rate_follows_the_token_bucket(emulator, client, target):
    target.respond("/rate", lambda _: Reply(delay=0.01))
    queue = make_queue(
        client, emulator, "rate",
        rate_limits={"max_dispatches_per_second": RATE, "max_burst_size": BURST, "max_concurrent_dispatches": 1000},
    )
    assert queue.rate_limits.max_burst_size == BURST
    client.pause_queue(name=queue.name)  # all 200 tasks wait, so the bucket alone sets the pace
    for _ in range(TASKS):
        client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/rate")}})
    client.resume_queue(name=queue.name)

    arrivals = sorted(r.arrived for r in target.wait_for("/rate", TASKS, timeout=TASKS / RATE + 10))
    first = arrivals[0]
    in_first_instant = sum(1 for t in arrivals if t - first < FIRST_INSTANT)
    assert in_first_instant <= BURST, f"{in_first_instant} dispatches in the first {FIRST_INSTANT} s"
    # After the burst, one token every 1/RATE s: the last arrives (TASKS - BURST) / RATE s after the first.
    steady_rate = (TASKS - BURST) / (arrivals[-1] - first)
    print(f"measured steady dispatch rate {steady_rate:.2f}/s (limit {RATE}/s), {in_first_instant} in the first instant")
    assert abs(steady_rate - RATE) <= RATE * RATE_TOLERANCE, f"rate {steady_rate:.2f}/s vs limit {RATE}/s"
    # The bucket bound holds over every 1 s window: at most burst + rate * 1 s (one of slack for timing).
    for i, start in enumerate(arrivals):
        in_window = sum(1 for t in arrivals[i:] if t - start < 1.0)
        assert in_window <= BURST + RATE + 1, f"{in_window} dispatches in 1 s starting at {start - first:.2f} s"


def test_max_concurrent_dispatches_is_never_exceeded(emulator, client, target):
    target.respond("/slow", lambda _: Reply(delay=0.15))
    queue = make_queue(
        client, emulator, "narrow",
        rate_limits={"max_dispatches_per_second": 500, "max_concurrent_dispatches": 3},
    )
    for _ in range(24):
        client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/slow")}})
    target.wait_for("/slow", 24, timeout=15)
    # With 24 tasks waiting and a 500/s rate, concurrency is the only limit: reached, never passed.
    assert target.max_in_flight["/slow"] == 3


def test_update_queue_changes_the_rate_of_a_running_queue(emulator, client, target):
    queue = make_queue(client, emulator, "retuned", rate_limits={"max_dispatches_per_second": 500})
    client.pause_queue(name=queue.name)
    for _ in range(12):
        client.create_task(parent=queue.name, task={"http_request": {"url": target.url("/retuned")}})
    updated = client.update_queue(
        queue={"name": queue.name, "rate_limits": {"max_dispatches_per_second": 10, "max_burst_size": 2}},
        update_mask={"paths": ["rate_limits.max_dispatches_per_second", "rate_limits.max_burst_size"]},
    )
    assert updated.rate_limits.max_dispatches_per_second == 10
    assert updated.rate_limits.max_concurrent_dispatches == 1000  # not in the mask: kept
    client.resume_queue(name=queue.name)
    arrivals = sorted(r.arrived for r in target.wait_for("/retuned", 12, timeout=10))
    # 2 at once, then 10 more at 10/s: about 1.0 s in all (0.9 s at the very least).
    assert arrivals[-1] - arrivals[0] >= 0.9
