"""Projection 2 as a query: account fields listing the account's users.

The rule is :func:`hub.projections.user_lists.user_list`'s, which the tests
hold this query to. Per membership of an account:

- ``where`` is the mapping's condition, compiled by :mod:`hub.conditions` and
  evaluated in Python once per distinct combination of the values it reads
  (a role filter reads one column of a handful of values), then joined in;
- the entry is the ``value`` reference's value as text
  (:func:`hub.values.render`), a facet with its length in characters, whether
  it is empty (skipped) and whether it holds the separator (skipped and
  reported);
- entries are ordered by themselves or by ``order_by``
  (:func:`hub.values.sort_key`, as a dense rank), ties by user id.

The truncation is the window arithmetic of
:func:`hub.projections.user_lists.join_entries`: with ``cum`` the length of the
first ``k`` entries joined, the kept run is the longest ``k < n`` with
``cum + len(separator) + len("(+N more)") <= max_length``, else the marker
alone when it fits, else the longest run that fits with no marker. Only the
kept entries' ids come back to Python, which joins their text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from hub.conditions import compile_condition, condition_references
from hub.engine.tables import Tables
from hub.getters import BUILT_IN
from hub.model import Account, Membership, User
from hub.projections.user_lists import UserList, marker
from hub.references import Reference, Scope, parse_reference
from hub.values import render, sort_key

__all__ = ["ListRule", "account_lists"]

#: The namespaces a list's ``value``, ``order_by`` and ``where`` read.
NAMESPACES = ("user", "account", "relationship")


@dataclass(frozen=True, slots=True)
class ListRule:
    """One list field: what :func:`account_lists` needs of a ``UserListField``."""

    value: str = "user.email"
    where: str | None = None
    order_by: str | None = None
    separator: str = ";"
    max_length: int | None = None

    def references(self) -> list[Reference]:
        """Every attribute the rule reads."""
        found = [parse_reference(self.value)]
        if self.order_by is not None:
            found.append(parse_reference(self.order_by))
        if self.where is not None:
            found.extend(condition_references(self.where, NAMESPACES))
        return found


def attributes(rules: Iterable[ListRule]) -> dict[str, list[str]]:
    """Per namespace, the attributes ``rules`` read (for :class:`Tables`)."""
    out: dict[str, list[str]] = {namespace: [] for namespace in NAMESPACES}
    for rule in rules:
        for reference in rule.references():
            if reference.attribute not in out[reference.namespace]:
                out[reference.namespace].append(reference.attribute)
    return out


def _scope(references: list[Reference], values: tuple[Any, ...]) -> Scope:
    """A scope whose user, account and membership hold exactly ``values``."""
    fields: dict[str, dict[str, Any]] = {namespace: {} for namespace in NAMESPACES}
    extra: dict[str, dict[str, Any]] = {namespace: {} for namespace in NAMESPACES}
    for reference, value in zip(references, values, strict=True):
        namespace, name = reference.namespace, reference.attribute
        target = fields if name in BUILT_IN[namespace] else extra
        if value is not None:
            target[namespace][name] = value
    user, account, relationship = fields["user"], fields["account"], fields["relationship"]
    return Scope(
        user=User(user.get("user_id", ""), user.get("email"), extra["user"]),
        account=Account(
            account.get("account_id", ""),
            account.get("name"),
            account.get("domain"),
            account.get("stage"),
            extra["account"],
        ),
        relationship=Membership(
            relationship.get("user_id", ""),
            relationship.get("account_id", ""),
            relationship.get("role", ""),
            extra["relationship"],
        ),
    )


def _dense_ranks(values: list[Any], key: Callable[[Any], Any]) -> list[int]:
    """The dense rank (``0, 1, ...``) of each of ``values`` by ``key``, equal keys equal."""
    keys = [key(value) for value in values]
    ranks = [0] * len(values)
    rank, previous = -1, object()
    for i in sorted(range(len(values)), key=keys.__getitem__):
        if rank < 0 or keys[i] != previous:
            rank += 1
            previous = keys[i]
        ranks[i] = rank
    return ranks


def account_lists(tables: Tables, rule: ListRule) -> dict[str, UserList]:
    """Every account's list field under ``rule``, by account id (accounts
    without one entry have none). ``rejected`` comes in user id order.

    ``tables`` must have the columns of :func:`attributes`.
    """
    connection = tables.connection
    values = tables.values.values
    value_ref = parse_reference(rule.value)
    value_column = tables.qualified(value_ref.namespace, value_ref.attribute)
    separator = rule.separator
    # Every membership with its user and account; the facets join onto it.
    scan = "FROM m JOIN users ON users.u = m.u JOIN accounts ON accounts.a = m.a"
    joins: list[str] = []

    # The entries: text, length, empty, holding the separator, rank by text.
    distinct = [
        row[0] for row in connection.execute(f"SELECT DISTINCT {value_column} {scan}").fetchall()
    ]
    texts = [v if isinstance(v, str) else render(v) for v in (values[i] for i in distinct)]
    ranks = _dense_ranks(texts, lambda text: text)
    entries = pa.table(
        {
            "id": pa.array(distinct, pa.int64()),
            "erank": pa.array(ranks, pa.int64()),
            "elen": pa.array([len(text) for text in texts], pa.int64()),
            "empty": pa.array([not text for text in texts], pa.bool_()),
            "sep": pa.array([separator in text for text in texts], pa.bool_()),
        }
    )
    connection.register("f_entry", entries)
    registered = ["f_entry"]
    text_of = dict(zip(distinct, texts, strict=True))
    order = "f_entry.erank"
    if rule.order_by is not None:
        order_ref = parse_reference(rule.order_by)
        order_column = tables.qualified(order_ref.namespace, order_ref.attribute)
        keys = [
            row[0]
            for row in connection.execute(f"SELECT DISTINCT {order_column} {scan}").fetchall()
        ]
        order_ranks = _dense_ranks([values[i] for i in keys], sort_key)
        connection.register(
            "f_order",
            pa.table(
                {
                    "id": pa.array(keys, pa.int64()),
                    "orank": pa.array(order_ranks, pa.int64()),
                }
            ),
        )
        registered.append("f_order")
        joins.append(f"JOIN f_order ON f_order.id = {order_column}")
        order = "f_order.orank"
    joins.append(f"JOIN f_entry ON f_entry.id = {value_column}")

    # The filter: evaluated once per distinct combination of what it reads.
    filtered = "true"
    if rule.where is not None:
        predicate = compile_condition(rule.where, NAMESPACES)
        references = list(dict.fromkeys(condition_references(rule.where, NAMESPACES)))
        columns = [tables.qualified(r.namespace, r.attribute) for r in references]
        if columns:
            combos = connection.execute(f"SELECT DISTINCT {', '.join(columns)} {scan}").fetchall()
        else:
            combos = [()]
        verdicts = [predicate(_scope(references, tuple(values[i] for i in c))) for c in combos]
        table: dict[str, pa.Array] = {
            f"k{j}": pa.array([c[j] for c in combos], pa.int64()) for j in range(len(columns))
        }
        table["ok"] = pa.array(verdicts, pa.bool_())
        connection.register("f_where", pa.table(table))
        registered.append("f_where")
        on = " AND ".join(f"f_where.k{j} = {column}" for j, column in enumerate(columns))
        joins.append(f"JOIN f_where ON {on or 'true'}")
        filtered = "f_where.ok"

    # No limit: one no list can reach, so the query has no NULL to type.
    limit = rule.max_length if rule.max_length is not None else 2**62
    rows = connection.execute(
        f"""
        WITH e AS (
            SELECT m.a, m.u, users.urank, f_entry.id AS vid, f_entry.elen, f_entry.sep,
                   {order} AS okey
            {scan} {" ".join(joins)}
            WHERE {filtered} AND NOT f_entry.empty
        ), o AS (
            SELECT a, vid, okey, urank, row_number() OVER w AS k,
                   count(*) OVER (PARTITION BY a) AS n,
                   sum(elen) OVER w + (row_number() OVER w - 1) * $sep AS cum
            FROM e WHERE NOT sep
            WINDOW w AS (PARTITION BY a ORDER BY okey, urank ROWS UNBOUNDED PRECEDING)
        ), s AS (
            SELECT a, max(n) AS n, max(cum) AS total,
                   max(k) FILTER (WHERE k <= n - 1
                                  AND cum + $sep + 8 + length((n - k)::VARCHAR) <= $limit) AS km,
                   max(k) FILTER (WHERE cum <= $limit) AS kp
            FROM o GROUP BY a
        ), c AS (
            SELECT a, n,
                   CASE WHEN total <= $limit THEN n
                        WHEN km IS NOT NULL THEN km
                        WHEN 8 + length(n::VARCHAR) <= $limit THEN 0
                        ELSE coalesce(kp, 0) END AS kept,
                   NOT (total <= $limit)
                       AND (km IS NOT NULL OR 8 + length(n::VARCHAR) <= $limit) AS marked
            FROM s
        ), r AS (
            SELECT a, list(u ORDER BY urank) AS rejected FROM e WHERE sep GROUP BY a
        ), kl AS (
            SELECT o.a, list(o.vid ORDER BY o.k) AS ids FROM o JOIN c ON c.a = o.a
            WHERE o.k <= c.kept GROUP BY o.a
        )
        SELECT coalesce(c.a, r.a) AS a, coalesce(c.n, 0), coalesce(c.kept, 0),
               coalesce(c.marked, false), coalesce(kl.ids, []), coalesce(r.rejected, [])
        FROM c FULL JOIN r ON r.a = c.a LEFT JOIN kl ON kl.a = c.a
        """,
        {"sep": len(separator), "limit": limit},
    ).fetchall()
    for name in registered:
        connection.unregister(name)
    out: dict[str, UserList] = {}
    account_ids, user_ids = tables.account_ids, tables.user_ids
    for a, n, kept, marked, kept_ids, rejected in rows:
        texts_kept = [text_of[v] for v in kept_ids]
        if marked:
            texts_kept.append(marker(n - kept))
        value = separator.join(texts_kept) if n else None
        out[account_ids[a]] = UserList(
            value, kept, n - kept, bool(marked), tuple(user_ids[u] for u in rejected)
        )
    return out
