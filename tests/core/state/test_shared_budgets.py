"""One rate budget per credential across processes: the ledger in PostgreSQL.

Each registry stands for one daemon (its own connection to the database);
the budgets they hand out for the same credential must hold the declared
limit together: the sliding window, a 429's pause, the destination's own
counts and the daily quota."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hub.contract.capabilities import RateLimit
from hub.contract.ratelimit import BudgetRegistry, QuotaExhausted, SharedCredentialBudget
from hub.state.budgets import DatabaseLedger, open_ledger


class _Recording(DatabaseLedger):
    """A ledger that keeps the moment of every request it let through (the
    clock it read in that transaction), for the test to count."""

    def __init__(self, url: str, taken: list[float]) -> None:
        self._seen = threading.local()
        self._taken = taken
        super().__init__(url, clock=self._now)

    def _now(self) -> float:
        self._seen.at = time.time()
        return float(self._seen.at)

    def take(self, budget: str, requests: int, **limits: Any) -> float:
        wait = super().take(budget, requests, **limits)
        if wait == 0:
            self._taken.extend([self._seen.at] * requests)
        return wait


@pytest.fixture
def taken() -> list[float]:
    """When each request was let through, by any of the ledgers."""
    return []


@pytest.fixture
def ledgers(postgres_url: str, taken: list[float]) -> Iterator[list[DatabaseLedger]]:
    """Three ledgers on one database: three daemons' connections."""
    opened: list[DatabaseLedger] = [_Recording(postgres_url, taken) for _ in range(3)]
    yield opened
    for ledger in opened:
        ledger.close()


def _budget(
    ledger: DatabaseLedger | None, limit: RateLimit, sleeps: list[float] | None = None
) -> SharedCredentialBudget:
    def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        time.sleep(seconds)

    registry = BudgetRegistry(sleep=sleep, ledger=ledger)
    budget = registry.budget("hubspot", "token-1", limit)
    return budget  # type: ignore[return-value]


def _most_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(
        sum(1 for other in times[i:] if other < start + window) for i, start in enumerate(times)
    )


def test_three_processes_hold_one_sliding_window_together(
    ledgers: list[DatabaseLedger], taken: list[float]
) -> None:
    """Three budgets (one per daemon), two threads each, 90 requests against
    20 per half second: never more than 20 in any half second, counted
    across all of them; each alone would allow 20 of its own."""
    limit = RateLimit(requests=20, per_seconds=0.5)
    budgets = [_budget(ledger, limit) for ledger in ledgers]
    assert all(isinstance(b, SharedCredentialBudget) for b in budgets)

    def send(budget: SharedCredentialBudget) -> None:
        for _ in range(15):
            budget.acquire()

    threads = [threading.Thread(target=send, args=(b,)) for b in budgets for _ in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 90
    assert _most_in_any_window(taken, 0.5) <= 20
    assert time.monotonic() - started >= 1.0  # 90 requests need four windows at least
    assert sum(b.stats().requests for b in budgets) == 90


def test_a_pause_one_process_hears_holds_the_others(ledgers: list[DatabaseLedger]) -> None:
    limit = RateLimit(requests=100, per_seconds=1)
    waits: list[float] = []
    first, second = _budget(ledgers[0], limit), _budget(ledgers[1], limit, waits)
    first.acquire()
    first.pause(0.4)  # a 429's Retry-After, heard by the first daemon
    began = time.monotonic()
    second.acquire()
    assert time.monotonic() - began >= 0.35
    assert waits and waits[0] > 0.3


def test_the_destinations_own_count_holds_every_process(ledgers: list[DatabaseLedger]) -> None:
    limit = RateLimit(requests=100, per_seconds=10)
    waits: list[float] = []
    first, second = _budget(ledgers[0], limit), _budget(ledgers[1], limit, waits)
    first.acquire()
    first.observe(remaining=0, reset_after=0.3)  # the vendor says: none left for 0.3 s
    second.acquire()
    assert waits and 0.2 < waits[0] <= 0.3


def test_the_daily_quota_is_counted_once_for_all(ledgers: list[DatabaseLedger]) -> None:
    limit = RateLimit(requests=100, per_seconds=1, daily_quota=5)
    first, second = _budget(ledgers[0], limit), _budget(ledgers[1], limit)
    first.acquire(3)
    second.acquire(2)
    with pytest.raises(QuotaExhausted, match="daily quota of 5"):
        second.acquire()
    with pytest.raises(QuotaExhausted):
        first.acquire()


def test_budgets_without_a_declared_limit_or_a_fleet_stay_local(postgres_url: str) -> None:
    ledger = DatabaseLedger(postgres_url)
    try:
        registry = BudgetRegistry(ledger=ledger)
        unlimited = registry.budget("outbox", "", None)
        assert not isinstance(unlimited, SharedCredentialBudget)
    finally:
        ledger.close()
    assert open_ledger("sqlite:///.hub/state.db") is None
    fleet = open_ledger(postgres_url)
    assert isinstance(fleet, DatabaseLedger)
    fleet.close()
