"""The ``[events]`` rollups as queries: counts and last-seen times written
into the columns the rules read.

The rules are those of :func:`hub.projections.resolver.enrich`, which the
tests hold these queries to:

- ``count``: events (named ``event`` if set) in ``[as_of - window_days,
  as_of]`` (all time up to ``as_of`` without a window), ``0`` when none;
- ``last_seen``: the ISO 8601 UTC time (:func:`hub.values.iso_utc`) of the
  latest such event at or before ``as_of`` (``window_days`` does not apply),
  ``None`` when none;
- a ``user`` rollup counts the user's events in any account or none, an
  ``account`` one every event within the account (by any user or none), a
  ``relationship`` one the user's events within that account, for the users'
  memberships only;
- every object of the level gets the property, replacing a source value of
  the same name; two rollups of one property on one level add up (counts) or
  take the latest (times), as the per-record rule does.

Only the columns a rule reads (:class:`hub.engine.tables.Tables`) are
computed. The event name and the window's ends are parameters; the counts
and times come back to Python only to be interned, once per distinct value.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pyarrow as pa

from hub.config.settings import EventRollup, EventRollupLevel
from hub.engine.combos import Registered
from hub.engine.tables import EPOCH, Tables, micros, window_micros
from hub.engine.values import NULL
from hub.values import iso_utc

__all__ = ["enrich", "iso_of_micros"]

#: Per level: the table, its key columns, and what an event must name to count.
_LEVELS: dict[EventRollupLevel, tuple[str, tuple[str, ...], str]] = {
    EventRollupLevel.USER: ("users", ("u",), "e.u IS NOT NULL"),
    EventRollupLevel.ACCOUNT: ("accounts", ("a",), "e.a IS NOT NULL"),
    # Pairs that are no membership are counted but never written: the update
    # joins on the memberships.
    EventRollupLevel.RELATIONSHIP: ("m", ("u", "a"), "e.u IS NOT NULL AND e.a IS NOT NULL"),
}


def iso_of_micros(value: int) -> str:
    """:func:`hub.values.iso_utc` of a time given in microseconds since the epoch."""
    return iso_utc(EPOCH + timedelta(microseconds=value))


def _column(tables: Tables, level: EventRollupLevel, name: str) -> str | None:
    """The column holding ``name`` at ``level``, ``None`` when no rule reads it."""
    if level is EventRollupLevel.USER:
        return f"u{tables.user.index(name)}" if name in tables.user else None
    if level is EventRollupLevel.ACCOUNT:
        return f"a{tables.account.index(name)}" if name in tables.account else None
    return tables.column(name) if name in tables.relationship else None


def _select(
    tables: Tables, rollup: EventRollup, keys: str, test: str, as_of: datetime
) -> tuple[str, list[int]]:
    """One rollup's query: per key, its count or latest time."""
    params: list[int] = [micros(as_of)]
    conditions = [test, "e.t <= ?"]
    start = window_micros(as_of, rollup.window_days) if rollup.kind == "count" else None
    if start is not None:
        conditions.append("e.t >= ?")
        params.append(start)
    if rollup.event is not None:
        conditions.append("e.n = ?")
        params.append(tables.values.id(rollup.event))
    value = "count(*)" if rollup.kind == "count" else "max(e.t)"
    return (
        f"SELECT {keys}, {value} AS v FROM e WHERE {' AND '.join(conditions)} GROUP BY {keys}",
        params,
    )


def enrich(tables: Tables, rollups: Sequence[EventRollup], as_of: datetime) -> None:
    """Write each of ``rollups`` into its column of ``tables`` (those a rule
    reads; ``tables`` must hold the events)."""
    groups: dict[tuple[EventRollupLevel, str], list[EventRollup]] = {}
    for rollup in rollups:
        groups.setdefault((rollup.level, rollup.property), []).append(rollup)
    connection = tables.connection
    intern = tables.values.id
    for (level, name), group in groups.items():
        column = _column(tables, level, name)
        if column is None:
            continue
        table, keys, test = _LEVELS[level]
        counting = group[-1].kind == "count"  # the per-record rule's default
        parts: list[str] = []
        params: list[int] = []
        for rollup in group:
            sql, more = _select(tables, rollup, ", ".join(f"e.{k}" for k in keys), test, as_of)
            parts.append(sql)
            params.extend(more)
        combine = "sum(v)" if counting else "max(v)"
        key_list = ", ".join(keys)
        rows = connection.execute(
            f"SELECT {key_list}, {combine} FROM ({' UNION ALL '.join(parts)}) GROUP BY {key_list}",
            params,
        ).fetchall()
        found = [int(row[-1]) for row in rows]
        ids = [intern(v) for v in found] if counting else [intern(iso_of_micros(v)) for v in found]
        default = intern(0) if counting else NULL
        connection.execute(f"UPDATE {table} SET {column} = ?", [default])
        if rows:
            update = {k: pa.array([row[i] for row in rows], pa.int64()) for i, k in enumerate(keys)}
            update["v"] = pa.array(ids, pa.int64())
            with Registered(connection) as registered:
                registered.add("f_rollup", pa.table(update))
                on = " AND ".join(f"{table}.{k} = f_rollup.{k}" for k in keys)
                connection.execute(
                    f"UPDATE {table} SET {column} = f_rollup.v FROM f_rollup WHERE {on}"
                )
        if level is not EventRollupLevel.RELATIONSHIP:
            # A phantom user or account (only a membership names it) has no
            # attribute, a rollup's included.
            connection.execute(f"UPDATE {table} SET {column} = {NULL} WHERE NOT real")
