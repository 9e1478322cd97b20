"""Projection 5 as queries: user fields summarising the user's memberships.

The rules are those of :mod:`hub.projections.relationship_fields`, which the
tests hold these queries to:

- ``summary``: the entry list of :func:`hub.engine.user_lists.user_summaries`
  (the template rendered per membership matching ``where``, ordered,
  truncated by whole entries);
- ``count``: the memberships matching ``where``, ``0`` with none;
- ``any``: whether that count is above zero (without ``where``: whether the
  user has any membership).

``where`` is evaluated once per distinct combination of the values it reads
(:mod:`hub.engine.combos`).
"""

from __future__ import annotations

from hub.engine.combos import SCAN, Registered, where_facet
from hub.engine.tables import Tables
from hub.engine.user_lists import user_summaries

__all__ = ["membership_counts", "user_summaries"]


def membership_counts(tables: Tables, where: str | None = None) -> list[int]:
    """Per user (``counts[u]``, in data set order), the memberships matching
    ``where``: the ``count`` field; ``any`` is ``counts[u] > 0``."""
    with Registered(tables.connection) as registered:
        join, filtered = where_facet(tables, registered, where)
        # One column, read through Arrow: a million users' tuples cost more.
        counts: list[int] = (
            tables.connection.sql(
                f"""
                SELECT coalesce(c.n, 0) AS n FROM users LEFT JOIN (
                    SELECT m.u, count(*) AS n {SCAN} {join} WHERE {filtered} GROUP BY m.u
                ) c ON c.u = users.u
                ORDER BY users.u
                """
            )
            .to_arrow_table()
            .column("n")
            .to_pylist()
        )
    return counts
