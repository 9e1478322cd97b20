"""Credential budgets: a sliding window, server headers, Retry-After, daily quotas."""

from __future__ import annotations

import random
import threading
import time

import pytest
from sync_fakes import FakeClock

from hub.contract.capabilities import RateLimit
from hub.contract.destination import FatalDestinationError, RateBudget
from hub.contract.ratelimit import BudgetRegistry, CredentialBudget, QuotaExhausted


def _most_in_any_window(times: list[float], window: float) -> int:
    """The most requests in any half-open window ``[t, t + window)``."""
    times = sorted(times)
    most = 0
    start = 0
    for end, moment in enumerate(times):
        while times[start] <= moment - window:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_never_more_than_the_declared_requests_in_any_window() -> None:
    clock = FakeClock()
    budget = CredentialBudget(RateLimit(requests=5, per_seconds=10), clock=clock, sleep=clock.sleep)
    rng = random.Random(7)
    sent: list[float] = []
    for _ in range(200):
        clock.now += rng.choice([0.0, 0.0, 0.5, 1.3, 4.0])
        size = rng.choice([1, 1, 2, 3])
        budget.acquire(size)
        sent.extend([clock()] * size)
    assert _most_in_any_window(sent, 10.0) == 5
    stats = budget.stats()
    assert stats.requests == len(sent)
    assert stats.waits == len(clock.sleeps) > 0
    assert stats.waited_seconds == pytest.approx(sum(clock.sleeps))


def test_a_burst_waits_exactly_until_the_oldest_request_leaves_the_window() -> None:
    clock = FakeClock()
    budget = CredentialBudget(RateLimit(requests=2, per_seconds=10), clock=clock, sleep=clock.sleep)
    sent = []
    budget.acquire()
    sent.append(clock())
    clock.now += 3
    budget.acquire()
    sent.append(clock())
    budget.acquire()  # the first left the window at +10
    sent.append(clock())
    assert clock.sleeps == [pytest.approx(7.0)]
    # More than a window's worth at once is taken a window at a time.
    before = clock()
    budget.acquire(4)
    # Two when both earlier ones have left (+10 after the one at +10), two more a window later.
    assert clock() - before == pytest.approx(20.0)
    assert _most_in_any_window([*sent, before + 10, before + 10, before + 20, before + 20], 10) == 2
    assert budget.stats().requests == 7


def test_remaining_zero_from_the_server_waits_until_its_reset() -> None:
    clock = FakeClock()
    budget = CredentialBudget(
        RateLimit(requests=100, per_seconds=10), clock=clock, sleep=clock.sleep
    )
    budget.acquire()
    budget.observe(limit=100, remaining=0, reset_after=7.5)
    start = clock()
    budget.acquire()
    assert clock() - start == pytest.approx(7.5)
    # After the reset the declared window applies again: no more waiting.
    budget.acquire()
    assert clock() - start == pytest.approx(7.5)


def test_a_few_remaining_are_spent_then_the_budget_waits_for_the_reset() -> None:
    clock = FakeClock()
    budget = CredentialBudget(None, clock=clock, sleep=clock.sleep)
    budget.observe(remaining=2, reset_after=4)
    budget.acquire()
    budget.acquire()
    assert clock.sleeps == []
    budget.acquire()
    assert clock.sleeps == [pytest.approx(4.0)]


def test_a_smaller_limit_from_the_server_narrows_the_window_and_never_widens_it() -> None:
    clock = FakeClock()
    budget = CredentialBudget(RateLimit(requests=10, per_seconds=1), clock=clock, sleep=clock.sleep)
    budget.observe(limit=50)
    for _ in range(10):
        budget.acquire()
    assert clock.sleeps == []
    budget.acquire()  # still 10 per second, not 50
    assert len(clock.sleeps) == 1
    budget.observe(limit=3)
    sent = []
    for _ in range(9):
        budget.acquire()
        sent.append(clock())
    assert _most_in_any_window(sent, 1.0) == 3


def test_pause_holds_every_request_for_retry_after() -> None:
    clock = FakeClock()
    budget = CredentialBudget(None, clock=clock, sleep=clock.sleep)
    budget.pause(30)
    budget.pause(5)  # a shorter pause does not shorten the longer one
    start = clock()
    budget.acquire()
    assert clock() - start == pytest.approx(30)
    budget.acquire()
    assert clock() - start == pytest.approx(30)


def test_a_spent_daily_quota_is_fatal_and_names_the_quota() -> None:
    clock = FakeClock()
    budget = CredentialBudget(
        RateLimit(requests=100, per_seconds=1, daily_quota=3),
        name="hubspot credential abc",
        clock=clock,
        sleep=clock.sleep,
    )
    for _ in range(3):
        budget.acquire()
    with pytest.raises(QuotaExhausted, match="daily quota of 3 requests of hubspot credential abc"):
        budget.acquire()
    assert isinstance(QuotaExhausted("x", 3), FatalDestinationError)
    # A new day gives the quota back.
    clock.now += 86_400
    budget.acquire()


def test_daily_remaining_from_the_server_replaces_the_local_count() -> None:
    clock = FakeClock()
    budget = CredentialBudget(
        RateLimit(requests=100, per_seconds=1, daily_quota=1000), clock=clock, sleep=clock.sleep
    )
    budget.observe(daily_remaining=1)
    budget.acquire()
    with pytest.raises(QuotaExhausted):
        budget.acquire()


def test_threads_sharing_a_budget_stay_within_the_window() -> None:
    budget = CredentialBudget(RateLimit(requests=4, per_seconds=0.2))
    sent: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(4):
            budget.acquire()
            with lock:
                sent.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sent) == 16
    # A little slack for the time between acquire returning and the timestamp.
    assert _most_in_any_window(sent, 0.19) <= 4


def test_destinations_sharing_a_credential_share_one_budget() -> None:
    clock = FakeClock()
    registry = BudgetRegistry(clock=clock, sleep=clock.sleep)
    limit = RateLimit(requests=2, per_seconds=10)
    first = registry.handle("hubspot", limit)
    second = registry.handle("hubspot", limit)
    other = registry.handle("hubspot", limit)
    budget: RateBudget = first  # the handle is what a destination's context holds
    assert first.bind("token-a") is second.bind("token-a")
    assert other.bind("token-b") is not first.target
    budget.acquire()
    second.acquire()
    assert clock.sleeps == []
    first.acquire()  # third request on token-a within 10 s
    assert len(clock.sleeps) == 1
    other.acquire()  # token-b has its own budget
    assert len(clock.sleeps) == 1
    assert set(registry.budgets()) == {("hubspot", "token-a"), ("hubspot", "token-b")}


def test_a_destination_instance_narrowing_its_types_limit_gets_its_own_limit() -> None:
    # The webhook type declares no limit; each instance declares one from its settings.
    clock = FakeClock()
    registry = BudgetRegistry(clock=clock, sleep=clock.sleep)
    handle = registry.handle("webhook", None)
    handle.bind("webhook:https://example.invalid/hook", RateLimit(requests=2, per_seconds=1))
    for _ in range(3):
        handle.acquire()
    assert clock.sleeps and sum(clock.sleeps) == pytest.approx(1.0)
