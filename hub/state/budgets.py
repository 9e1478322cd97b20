"""Rate budgets shared by a fleet: one credential's counts in the state's database.

Daemons that share a PostgreSQL state and sync destinations holding the same
credential (one HubSpot token for two portals' mappings, say) must share its
documented budget: the vendor counts the token's requests, not each
process's. :class:`DatabaseLedger` keeps each budget's counts in two tables
beside the store (created ``IF NOT EXISTS``, no schema version)::

    rate_budgets(budget, paused_until, server_remaining, server_reset_at,
                 day_started, daily_left)   -- one row per budget
    rate_requests(budget, at, requests)     -- the requests of its current window

and every :class:`~hub.contract.ratelimit.SharedCredentialBudget` takes its
requests through :meth:`DatabaseLedger.take`: one transaction holding the
budget's advisory lock, so two processes never both see room for the last
request of a window. The window slides (the hub never sends more than the
declared requests in *any* ``per_seconds``, counted 5% longer, at most a
quarter second, for the hosts' differing latencies), a 429's ``Retry-After``
pauses every process, and the daily quota is counted once for all.

Why counters rather than leasing the budget to one worker at a time: a lease
would serialise the syncs that share a credential (the second waits for the
first's whole run), while counters let them interleave within the limit,
which is what the vendor allows. A request costs one short transaction (a
millisecond on a local network), against budgets of ten to a hundred
requests a second.

Times are the hosts' wall clocks (epoch seconds), as for the sync locks: keep
the fleet's clocks in sync (NTP).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Final

from hub.contract.ratelimit import DAY
from hub.state.database import Database, Writer
from hub.state.tables import create_tables

__all__ = ["DatabaseLedger", "open_ledger"]

_SCHEMA: Final = (
    """
    CREATE TABLE IF NOT EXISTS rate_budgets (
        budget TEXT PRIMARY KEY,
        paused_until {real} NOT NULL DEFAULT 0,
        server_remaining INTEGER,
        server_reset_at {real},
        day_started {real},
        daily_left INTEGER
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS rate_requests (
        budget TEXT NOT NULL,
        at {real} NOT NULL,
        requests INTEGER NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS rate_requests_window ON rate_requests (budget, at)",
)

#: How much longer than the declared window the ledger counts a request:
#: requests granted to several hosts reach the vendor with latencies that
#: differ by milliseconds, enough to put one request too many in the vendor's
#: window at its edge (a share of the window, at most a quarter second).
_MARGIN: Final = 0.05
_MARGIN_MAX: Final = 0.25

#: The advisory lock schema changes take ("hubrates"); each budget's own is its
#: name's hash.
_SCHEMA_LOCK: Final = 0x6875627261746573


class DatabaseLedger:
    """A :class:`~hub.contract.ratelimit.BudgetLedger` in a PostgreSQL
    database (``url``). ``clock`` gives epoch seconds (tests inject one)."""

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        from hub.state.postgres import PostgresDatabase

        self._sql: Database = PostgresDatabase(
            url, setup=lambda connection: create_tables(connection, _SCHEMA, _SCHEMA_LOCK)
        )
        self._clock = clock

    def close(self) -> None:
        self._sql.close()

    @staticmethod
    def _hold(db: Writer, budget: str) -> None:
        """Take ``budget``'s lock for the rest of the transaction, and its row."""
        db.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (budget,))
        db.execute(
            "INSERT INTO rate_budgets (budget) VALUES (?) ON CONFLICT (budget) DO NOTHING",
            (budget,),
        )

    def take(
        self,
        budget: str,
        requests: int,
        *,
        capacity: int | None,
        window: float,
        daily_quota: int | None,
    ) -> float:
        def work(db: Writer) -> float:
            self._hold(db, budget)
            now = self._clock()
            paused_until, remaining, reset_at, day_started, daily_left = db.execute(
                "SELECT paused_until, server_remaining, server_reset_at, day_started,"
                " daily_left FROM rate_budgets WHERE budget = ?",
                (budget,),
            ).fetchone()
            if day_started is not None and now - day_started >= DAY:
                day_started, daily_left = None, daily_quota  # a new day
            if daily_left is None and day_started is None:
                daily_left = daily_quota
            if daily_left is not None and daily_left < requests:
                return math.inf
            wait = paused_until - now
            if reset_at is not None and now >= reset_at:
                remaining = reset_at = None
            if reset_at is not None and remaining is not None and remaining < requests:
                wait = max(wait, reset_at - now)
            # The vendor counts arrivals, the ledger grants: a request granted
            # to one host may arrive after one granted later to another.
            span = window + min(window * _MARGIN, _MARGIN_MAX)
            if capacity is not None and window > 0:
                db.execute(
                    "DELETE FROM rate_requests WHERE budget = ? AND at <= ?",
                    (budget, now - span),
                )
                sent = db.execute(
                    "SELECT at, requests FROM rate_requests WHERE budget = ? ORDER BY at",
                    (budget,),
                ).fetchall()
                excess = sum(count for _, count in sent) + requests - capacity
                for at, count in sent:
                    if excess <= 0:
                        break
                    # The oldest requests must leave the window first.
                    excess -= count
                    wait = max(wait, at + span - now)
            if wait > 0:
                return float(wait)
            if capacity is not None and window > 0:
                db.execute(
                    "INSERT INTO rate_requests (budget, at, requests) VALUES (?, ?, ?)",
                    (budget, now, requests),
                )
            db.execute(
                "UPDATE rate_budgets SET server_remaining = ?, server_reset_at = ?,"
                " day_started = ?, daily_left = ? WHERE budget = ?",
                (
                    None if remaining is None else remaining - requests,
                    reset_at,
                    now if day_started is None and daily_left is not None else day_started,
                    None if daily_left is None else daily_left - requests,
                    budget,
                ),
            )
            return 0.0

        return self._sql.write(work)

    def pause(self, budget: str, seconds: float) -> None:
        def work(db: Writer) -> None:
            self._hold(db, budget)
            db.execute(
                "UPDATE rate_budgets SET paused_until = CASE WHEN paused_until > ?"
                " THEN paused_until ELSE ? END WHERE budget = ?",
                (until, until, budget),
            )

        until = self._clock() + seconds
        self._sql.write(work)

    def observe(
        self,
        budget: str,
        *,
        remaining: int | None,
        reset_after: float | None,
        window: float,
        daily_remaining: int | None,
    ) -> None:
        def work(db: Writer) -> None:
            self._hold(db, budget)
            now = self._clock()
            if remaining is not None:
                db.execute(
                    "UPDATE rate_budgets SET server_remaining = ?, server_reset_at = ?"
                    " WHERE budget = ?",
                    (
                        max(remaining, 0),
                        now + max(window if reset_after is None else reset_after, 0.0),
                        budget,
                    ),
                )
            if daily_remaining is not None:
                db.execute(
                    "UPDATE rate_budgets SET daily_left = ?,"
                    " day_started = coalesce(day_started, ?) WHERE budget = ?",
                    (max(daily_remaining, 0), now, budget),
                )

        self._sql.write(work)


def open_ledger(url: str) -> DatabaseLedger | None:
    """The fleet's shared ledger for a PostgreSQL state ``url`` (``None`` for a
    SQLite one: its budgets stay each process's, as one host runs them)."""
    from hub.state.postgres import is_postgres_url

    return DatabaseLedger(url) if is_postgres_url(url) else None
