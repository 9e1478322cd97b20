"""Projection 7 as queries: account fields computed from memberships and events.

The rules are those of :func:`hub.projections.account_rollups.account_rollup`,
which the tests hold these queries to. Per account, with ``members`` its
memberships matching ``where`` (evaluated once per distinct combination of
the values it reads, :mod:`hub.engine.combos`):

- ``user_count``: the members;
- ``active_users``: distinct users with an event (named ``event`` if set)
  within the account in ``[as_of - window_days, as_of]``;
- ``event_count``: events (named ``event`` if set) within the account in the
  window;
- ``last_active``: the latest event (named ``event`` if set) within the
  account at or before ``as_of``, whatever ``window_days`` says, as ISO 8601
  UTC; ``None`` with none;
- ``activation``: at least ``min_users`` members and, for each ``name = n``
  of ``min_events``, at least ``n`` events called ``name`` in the window.

With ``where``, only the members' events count (an event naming no user
never does); without it, every event within the account, by any user or none.
Event names and the window's ends are parameters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.config.mapping import AccountRollup, AccountRollupKind
from hub.engine.combos import SCAN, Registered, where_facet
from hub.engine.events import iso_of_micros
from hub.engine.tables import Tables, micros, window_micros

__all__ = ["account_rollup_values"]


def _window(rollup: AccountRollup, as_of: datetime) -> tuple[str, list[Any]]:
    """The SQL test and parameters of "within the window ending at ``as_of``"."""
    start = window_micros(as_of, rollup.window_days)
    if start is None:
        return "ev.t <= ?", [micros(as_of)]
    return "ev.t BETWEEN ? AND ?", [start, micros(as_of)]


def account_rollup_values(tables: Tables, rollup: AccountRollup, as_of: datetime) -> list[Any]:
    """The value of ``rollup`` for every account (``values[a]``, in account id
    order: :attr:`hub.engine.tables.Tables.account_ids`). Event kinds need
    ``tables`` to hold the events."""
    connection = tables.connection
    kind = rollup.kind
    end = micros(as_of)
    with Registered(connection) as registered:
        join, filtered = where_facet(tables, registered, rollup.where)
        members = f"SELECT m.u, m.a {SCAN} {join} WHERE {filtered}"
        if kind in (AccountRollupKind.USER_COUNT, AccountRollupKind.ACTIVATION):
            counted = dict(
                connection.execute(f"SELECT a, count(*) FROM ({members}) GROUP BY a").fetchall()
            )
            if kind == AccountRollupKind.USER_COUNT:
                return [counted.get(a, 0) for a in range(len(tables.account_ids))]
        # The events that may count: the members' own with a condition, else
        # every event within an account.
        if rollup.where is not None:
            events = f"SELECT e.* FROM e JOIN ({members}) w ON w.u = e.u AND w.a = e.a"
        else:
            events = "SELECT * FROM e WHERE a IS NOT NULL"
        named = "true" if rollup.event is None else "ev.n = ?"
        name_params = [] if rollup.event is None else [tables.values.id(rollup.event)]
        if kind == AccountRollupKind.LAST_ACTIVE:
            rows = connection.execute(
                f"SELECT ev.a, max(ev.t) FROM ({events}) ev"
                f" WHERE ev.t <= ? AND {named} GROUP BY ev.a",
                [end, *name_params],
            ).fetchall()
            latest = dict(rows)
            return [
                None if a not in latest else iso_of_micros(latest[a])
                for a in range(len(tables.account_ids))
            ]
        window, window_params = _window(rollup, as_of)
        if kind in (AccountRollupKind.ACTIVE_USERS, AccountRollupKind.EVENT_COUNT):
            value = "count(DISTINCT ev.u)" if kind == AccountRollupKind.ACTIVE_USERS else "count(*)"
            rows = connection.execute(
                f"SELECT ev.a, {value} FROM ({events}) ev WHERE {window} AND {named} GROUP BY ev.a",
                [*window_params, *name_params],
            ).fetchall()
            found = dict(rows)
            return [found.get(a, 0) for a in range(len(tables.account_ids))]
        if kind == AccountRollupKind.ACTIVATION:
            needed = sorted(rollup.min_events.items())
            active = [counted.get(a, 0) >= rollup.min_users for a in range(len(tables.account_ids))]
            for name, least in needed:
                found = dict(
                    connection.execute(
                        f"SELECT ev.a, count(*) FROM ({events}) ev"
                        f" WHERE {window} AND ev.n = ? GROUP BY ev.a",
                        [*window_params, tables.values.id(name)],
                    ).fetchall()
                )
                active = [ok and found.get(a, 0) >= least for a, ok in enumerate(active)]
            return active
    raise ValueError(f"unknown account rollup kind {kind!r}")
