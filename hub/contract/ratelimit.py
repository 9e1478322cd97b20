"""Request budgets: one per destination credential, shared by every destination using it.

A :class:`CredentialBudget` starts from the limit a destination type declares
(:class:`~hub.contract.capabilities.RateLimit`: so many requests per window, and maybe a
daily quota) and learns from the destination's responses: a plugin reports the
rate-limit headers through :meth:`~CredentialBudget.observe` and a 429's
``Retry-After`` through :meth:`~CredentialBudget.pause`. :meth:`~CredentialBudget.acquire`
sleeps until a request fits, so the hub never sends more than the declared
number of requests in *any* window of ``per_seconds`` (a sliding window, not a
fixed one that allows a double burst across a boundary).

A daily quota that runs out raises :class:`QuotaExhausted`: waiting a day
inside a sync run helps no one, so it stops the run for every destination
sharing the credential, naming the quota.

Several processes (a fleet of daemons on one PostgreSQL state) share a
credential's budget through a :class:`BudgetLedger`: the requests of the
window, the daily count, a 429's pause and what the destination last said is
left are kept there (:class:`hub.state.budgets.DatabaseLedger`), and every
process's :class:`SharedCredentialBudget` takes its requests from it.

:class:`BudgetRegistry` hands out one budget per (destination type,
credential id). A destination learns its credential id only once built, so its
:class:`~hub.contract.destination.DestinationContext` carries a :class:`BudgetHandle`
that the engine binds to the shared budget right after the factory returns.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from hub.contract.capabilities import RateLimit
from hub.contract.destination import FatalDestinationError

__all__ = [
    "BudgetHandle",
    "BudgetLedger",
    "BudgetRegistry",
    "BudgetStats",
    "CredentialBudget",
    "MeteredBudget",
    "QuotaExhausted",
    "SharedCredentialBudget",
]

#: Seconds in the day a daily quota counts over (the local count; the
#: destination's own ``daily_remaining`` header, when it sends one, wins).
DAY = 86_400.0

#: How long to hold back when the destination says nothing is left but not when
#: it resets, and no declared window says it either.
DEFAULT_RESET = 1.0


class QuotaExhausted(FatalDestinationError):
    """The credential's daily quota is spent: nothing more can be sent today."""

    def __init__(self, budget: str, quota: int | None) -> None:
        what = f"the daily quota of {quota} requests" if quota else "the daily request quota"
        super().__init__(
            f"{what} of {budget} is exhausted; the remaining records stay pending "
            "for the next run after the quota resets"
        )
        self.quota = quota


class WaitRefused(Exception):
    """The budget will not wait: a stop was requested, or the wait would be
    longer than the longest one allowed (``sync.max_retry_after``). The request
    is not sent; the caller leaves its batch pending for the next run."""

    def __init__(self, seconds: float, *, stopped: bool) -> None:
        self.seconds = seconds
        self.stopped = stopped
        what = "a stop was requested" if stopped else f"the wait would be {seconds:.0f}s"
        super().__init__(what)


@dataclass(frozen=True, slots=True)
class BudgetStats:
    """What a budget has done so far (for run summaries and metrics)."""

    #: Requests acquired.
    requests: int
    #: Times :meth:`CredentialBudget.acquire` had to sleep.
    waits: int
    #: Seconds spent sleeping in :meth:`CredentialBudget.acquire`.
    waited_seconds: float


@runtime_checkable
class MeteredBudget(Protocol):
    """A rate budget that reports its :class:`BudgetStats`."""

    def stats(self) -> BudgetStats: ...


class CredentialBudget:
    """A thread-safe sliding-window request budget for one credential.

    :param limit: the declared limit; ``None`` means no declared window (the
        budget then only honours what responses and ``Retry-After`` say).
    :param name: how messages name the budget (``"hubspot credential 3f2a…"``).
    :param clock: monotonic seconds; injectable for tests.
    :param sleep: sleeps that many seconds; injectable for tests.
    :param max_wait: the longest single wait; a longer one (a ``Retry-After``
        of hours, an exhausted window far ahead) raises :class:`WaitRefused`.
    :param should_stop: checked before each wait; true raises :class:`WaitRefused`.
    """

    def __init__(
        self,
        limit: RateLimit | None,
        *,
        name: str = "this credential",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.name = name
        self._clock = clock
        self._sleep = sleep
        self._max_wait = max_wait
        self._should_stop = should_stop
        self._lock = threading.Lock()
        self._capacity: int | None = limit.requests if limit else None
        self._window = float(limit.per_seconds) if limit else 0.0
        self._daily_quota = limit.daily_quota if limit else None
        #: Times of the requests acquired within the last window, oldest first.
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        #: What the destination last said is left in its current window, and when it resets.
        self._server_remaining: int | None = None
        self._server_reset_at: float | None = None
        self._day_started: float | None = None
        self._daily_left: int | None = self._daily_quota
        self._requests = 0
        self._waits = 0
        self._waited = 0.0

    # -- the RateBudget protocol ------------------------------------------------

    def acquire(self, requests: int = 1) -> None:
        """Block until ``requests`` may be sent; raise :class:`QuotaExhausted`
        when the daily quota cannot cover them."""
        if requests <= 0:
            return
        # More than one window holds: take them a window's worth at a time.
        chunk = self._capacity or requests
        while requests > 0:
            taken = min(chunk, requests)
            self._acquire(taken)
            requests -= taken

    def observe(
        self,
        *,
        limit: int | None = None,
        remaining: int | None = None,
        reset_after: float | None = None,
        daily_remaining: int | None = None,
    ) -> None:
        """Learn from a response's rate-limit headers.

        ``limit`` narrows the declared window's request count (never widens it);
        ``remaining`` with ``reset_after`` caps what is sent until the reset
        (``remaining=0``: nothing until then); ``daily_remaining`` replaces the
        local count of the daily quota.
        """
        with self._lock:
            now = self._clock()
            if limit is not None and limit > 0:
                self._capacity = limit if self._capacity is None else min(self._capacity, limit)
                if not self._window:
                    # No declared window: the headers give none either; a
                    # second is the common unit (and the safe assumption).
                    self._window = DEFAULT_RESET
            if remaining is not None:
                self._server_remaining = max(remaining, 0)
                if reset_after is not None:
                    self._server_reset_at = now + max(reset_after, 0.0)
                elif self._server_reset_at is None or self._server_reset_at <= now:
                    self._server_reset_at = now + (self._window or DEFAULT_RESET)
            if daily_remaining is not None:
                self._daily_left = max(daily_remaining, 0)
                if self._day_started is None:
                    self._day_started = now

    def pause(self, seconds: float) -> None:
        """Send nothing on this credential for ``seconds`` (a 429's ``Retry-After``)."""
        if seconds <= 0:
            return
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    # -- reporting ----------------------------------------------------------------

    def stats(self) -> BudgetStats:
        """Requests acquired, waits and seconds waited so far."""
        with self._lock:
            return BudgetStats(self._requests, self._waits, self._waited)

    # -- internals ------------------------------------------------------------------

    def _acquire(self, requests: int) -> None:
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_for(requests, now)
                if wait <= 0:
                    self._take(requests, now)
                    return
                if self._max_wait is not None and wait > self._max_wait:
                    raise WaitRefused(wait, stopped=False)
                if self._should_stop is not None and self._should_stop():
                    raise WaitRefused(wait, stopped=True)
                self._waits += 1
                self._waited += wait
            # Sleep outside the lock: other threads may observe or pause meanwhile,
            # and the loop re-checks everything after waking.
            self._sleep(wait)

    def _wait_for(self, requests: int, now: float) -> float:
        """Seconds to wait before ``requests`` fit (0: they fit now)."""
        self._roll_day(now)
        if self._daily_left is not None and self._daily_left < requests:
            raise QuotaExhausted(self.name, self._daily_quota)
        wait = self._paused_until - now
        if self._server_reset_at is not None:
            if now >= self._server_reset_at:
                self._server_remaining = None
                self._server_reset_at = None
            elif self._server_remaining is not None and self._server_remaining < requests:
                wait = max(wait, self._server_reset_at - now)
        if self._capacity is not None and self._window:
            while self._sent and self._sent[0] <= now - self._window:
                self._sent.popleft()
            excess = len(self._sent) + requests - self._capacity
            if excess > 0:
                # The oldest ``excess`` requests must leave the window first.
                wait = max(wait, self._sent[excess - 1] + self._window - now)
        return wait

    def _take(self, requests: int, now: float) -> None:
        self._requests += requests
        if self._capacity is not None and self._window:
            self._sent.extend([now] * requests)
        if self._server_remaining is not None:
            self._server_remaining -= requests
        if self._daily_left is not None:
            if self._day_started is None:
                self._day_started = now
            self._daily_left -= requests

    def _roll_day(self, now: float) -> None:
        if self._day_started is not None and now - self._day_started >= DAY:
            self._day_started = None
            self._daily_left = self._daily_quota


class BudgetLedger(Protocol):
    """Where budgets shared by several processes keep their counts.

    ``budget`` names one credential's budget (``"hubspot:3f2a…"``); every
    method is atomic across the processes sharing the ledger."""

    def take(
        self,
        budget: str,
        requests: int,
        *,
        capacity: int | None,
        window: float,
        daily_quota: int | None,
    ) -> float:
        """Take ``requests`` now if they fit (returns 0.0), or nothing and the
        seconds to wait before asking again; ``math.inf`` when the daily quota
        left cannot cover them."""
        ...

    def pause(self, budget: str, seconds: float) -> None:
        """Nobody sends on ``budget`` for ``seconds`` (a 429's ``Retry-After``)."""
        ...

    def observe(
        self,
        budget: str,
        *,
        remaining: int | None,
        reset_after: float | None,
        window: float,
        daily_remaining: int | None,
    ) -> None:
        """What a response said is left in its window (until ``reset_after``
        seconds, default ``window``), and of the day."""
        ...


class SharedCredentialBudget(CredentialBudget):
    """A :class:`CredentialBudget` whose counts live in a :class:`BudgetLedger`,
    shared with the other processes using the same credential: the sliding
    window, the daily quota, pauses and the destination's own counts hold for
    all of them together. The declared limit (and what responses narrow it to)
    and the statistics stay this process's."""

    def __init__(
        self,
        limit: RateLimit | None,
        ledger: BudgetLedger,
        key: str,
        **options: Any,
    ) -> None:
        super().__init__(limit, **options)
        self._ledger = ledger
        self._key = key

    def observe(
        self,
        *,
        limit: int | None = None,
        remaining: int | None = None,
        reset_after: float | None = None,
        daily_remaining: int | None = None,
    ) -> None:
        super().observe(limit=limit)
        if remaining is not None or daily_remaining is not None:
            self._ledger.observe(
                self._key,
                remaining=remaining,
                reset_after=reset_after,
                window=self._window or DEFAULT_RESET,
                daily_remaining=daily_remaining,
            )

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            self._ledger.pause(self._key, seconds)

    def _acquire(self, requests: int) -> None:
        while True:
            with self._lock:
                capacity, window = self._capacity, self._window
            wait = self._ledger.take(
                self._key,
                requests,
                capacity=capacity,
                window=window,
                daily_quota=self._daily_quota,
            )
            if wait == math.inf:
                raise QuotaExhausted(self.name, self._daily_quota)
            with self._lock:
                if wait <= 0:
                    self._requests += requests
                    return
                if self._max_wait is not None and wait > self._max_wait:
                    raise WaitRefused(wait, stopped=False)
                if self._should_stop is not None and self._should_stop():
                    raise WaitRefused(wait, stopped=True)
                self._waits += 1
                self._waited += wait
            self._sleep(wait)


class BudgetHandle:
    """The budget a destination gets in its context before its credential is known.

    Until :meth:`bind` it counts against a budget of its own; after, every call
    goes to the budget shared by all destinations with the same credential.
    """

    def __init__(self, registry: BudgetRegistry, destination_type: str, limit: RateLimit | None):
        self._registry = registry
        self._type = destination_type
        self._limit = limit
        self._target = CredentialBudget(
            limit,
            name=f"{destination_type} (credential not known yet)",
            clock=registry.clock,
            sleep=registry.sleep,
        )

    @property
    def target(self) -> CredentialBudget:
        """The budget calls go to now."""
        return self._target

    def bind(self, credential_id: str, limit: RateLimit | None = None) -> CredentialBudget:
        """Share the budget of ``credential_id`` from now on; returns it.

        ``limit`` is the built destination's own declaration (a plugin may narrow
        its type's limit from its settings); default: the type's.
        """
        if limit is not None:
            self._limit = limit
        self._target = self._registry.budget(self._type, credential_id, self._limit)
        return self._target

    def acquire(self, requests: int = 1) -> None:
        self._target.acquire(requests)

    def observe(
        self,
        *,
        limit: int | None = None,
        remaining: int | None = None,
        reset_after: float | None = None,
        daily_remaining: int | None = None,
    ) -> None:
        self._target.observe(
            limit=limit,
            remaining=remaining,
            reset_after=reset_after,
            daily_remaining=daily_remaining,
        )

    def pause(self, seconds: float) -> None:
        self._target.pause(seconds)

    def stats(self) -> BudgetStats:
        return self._target.stats()


class BudgetRegistry:
    """One :class:`CredentialBudget` per (destination type, credential id).

    :param clock: and ``sleep``, passed to every budget (tests inject fakes).
    :param max_wait: and ``should_stop``, passed to every budget (see
        :class:`CredentialBudget`).
    :param ledger: where the budgets of a declared limit keep their counts,
        shared with other processes (:class:`SharedCredentialBudget`); ``None``:
        in this process only.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float | None = None,
        should_stop: Callable[[], bool] | None = None,
        ledger: BudgetLedger | None = None,
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.sleep = sleep
        self.max_wait = max_wait
        self.should_stop = should_stop
        self._lock = threading.Lock()
        self._budgets: dict[tuple[str, str], CredentialBudget] = {}

    def budget(
        self, destination_type: str, credential_id: str, limit: RateLimit | None
    ) -> CredentialBudget:
        """The shared budget of this credential, created from ``limit`` on first use."""
        with self._lock:
            key = (destination_type, credential_id)
            found = self._budgets.get(key)
            if found is None:
                options: dict[str, Any] = {
                    "name": f"{destination_type} credential {credential_id or '(default)'}",
                    "clock": self.clock,
                    "sleep": self.sleep,
                    "max_wait": self.max_wait,
                    "should_stop": self.should_stop,
                }
                if self.ledger is not None and limit is not None:
                    ledger_key = f"{destination_type}:{credential_id}"
                    found = SharedCredentialBudget(limit, self.ledger, ledger_key, **options)
                else:
                    found = CredentialBudget(limit, **options)
                self._budgets[key] = found
            return found

    def handle(self, destination_type: str, limit: RateLimit | None) -> BudgetHandle:
        """A budget for a destination being built; :meth:`BudgetHandle.bind` it after."""
        return BudgetHandle(self, destination_type, limit)

    def budgets(self) -> dict[tuple[str, str], CredentialBudget]:
        """Every shared budget so far, by (destination type, credential id)."""
        with self._lock:
            return dict(self._budgets)
