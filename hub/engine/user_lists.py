"""Projections 2 and 5 as one query: joined lists of entries, per account or per user.

An account field listing its users (:func:`hub.projections.user_lists.user_list`)
and a user field summarising its memberships
(:func:`hub.projections.relationship_fields.relationship_summary`) are one
rule seen from either end of a membership, which the tests hold this query to.
Per membership of the account (or of the user):

- ``where`` is the mapping's condition, evaluated once per distinct
  combination of the values it reads (:mod:`hub.engine.combos`) and joined in;
- the entry is the ``value`` reference's value as text
  (:func:`hub.values.render`) for a list, or the ``template`` rendered for a
  summary, once per distinct combination of the values it reads; a facet
  with its length in characters, whether it is empty (skipped) and whether it
  holds the separator (skipped and reported);
- entries are ordered by themselves or by ``order_by``
  (:func:`hub.values.sort_key`, as a dense rank), ties by the other end's id
  (user id in a list, account id in a summary).

The truncation is the window arithmetic of
:func:`hub.projections.user_lists.join_entries`: with ``cum`` the length of the
first ``k`` entries joined, the kept run is the longest ``k < n`` with
``cum + len(separator) + len("(+N more)") <= max_length``, else the marker
alone when it fits, else the longest run that fits with no marker. Only the
kept entries' text comes back to Python, joined in the query. A rule without
``max_length`` (a destination with no string limit) cuts nothing, so one
grouping joins every entry, with no running lengths to compute. The ids of
entries holding the separator, rare, come from a query of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from hub.engine.combos import (
    NAMESPACES,
    SCAN,
    Registered,
    condition_attributes,
    distinct_combinations,
    join_on,
    key_columns,
    where_facet,
)
from hub.engine.tables import Tables
from hub.projections.templates import template_pattern, template_references
from hub.projections.user_lists import UserList, marker
from hub.references import Reference, parse_reference
from hub.values import render, sort_key

__all__ = ["NAMESPACES", "ListRule", "account_lists", "attributes", "entry_lists", "user_summaries"]


@dataclass(frozen=True, slots=True)
class ListRule:
    """One list or summary field: what :func:`entry_lists` needs of a
    ``UserListField`` (``value``) or of a summary field (``template``)."""

    value: str = "user.email"
    where: str | None = None
    order_by: str | None = None
    separator: str = ";"
    max_length: int | None = None
    #: A summary's entry template; when set, ``value`` is not read.
    template: str | None = None

    def entry_references(self) -> list[Reference]:
        """The attributes an entry is made of."""
        if self.template is not None:
            return template_references(self.template, NAMESPACES)
        return [parse_reference(self.value)]

    def references(self) -> list[Reference]:
        """Every attribute the rule reads."""
        found = self.entry_references()
        if self.order_by is not None:
            found.append(parse_reference(self.order_by))
        found.extend(condition_attributes(self.where))
        return found


def attributes(rules: Iterable[ListRule]) -> dict[str, list[str]]:
    """Per namespace, the attributes ``rules`` read (for :class:`Tables`)."""
    out: dict[str, list[str]] = {namespace: [] for namespace in NAMESPACES}
    for rule in rules:
        for reference in rule.references():
            if reference.attribute not in out[reference.namespace]:
                out[reference.namespace].append(reference.attribute)
    return out


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


def _order_ranks(values: list[Any]) -> pa.Array:
    """The dense rank of each of ``values`` by :func:`hub.values.sort_key`.

    Text (and missing values), the common case, is ranked by Arrow: its string
    order is code point order, as ``sort_key`` orders strings, and a missing
    value ranks after every string, as ``sort_key`` puts ``None`` last."""
    if all(value is None or value.__class__ is str for value in values):
        return pc.rank(pa.array(values, pa.string()), sort_keys="ascending", tiebreaker="dense")
    return pa.array(_dense_ranks(values, sort_key), pa.int64())


def account_lists(tables: Tables, rule: ListRule) -> dict[str, UserList]:
    """Every account's list field under ``rule``, by account id (accounts
    without one entry have none). ``rejected`` (user ids) come in id order.

    ``tables`` must have the columns of :func:`attributes`.
    """
    return entry_lists(tables, rule, "account")


def user_summaries(
    tables: Tables, rule: ListRule, users: Collection[int] | None = None
) -> dict[str, UserList]:
    """Every user's summary field under ``rule`` (its ``template`` set), by
    user id (users without one entry have none), or only those of ``users``
    (positions in the tables). ``rejected`` holds account ids, in id order."""
    return entry_lists(tables, rule, "user", users)


#: Per side: the group, its tie-break among entries, and the id reported.
_SIDES = {"account": ("m.a", "users.urank", "m.u"), "user": ("m.u", "m.a", "m.a")}


def _entries(tables: Tables, rule: ListRule) -> tuple[pa.Table, str]:
    """The facet table ``f_entry(k.., text, erank, elen, empty, sep)`` of each
    distinct entry, and its join."""
    references = list(dict.fromkeys(rule.entry_references()))
    columns, combos = distinct_combinations(tables, references)
    values = tables.values.values
    # A template renders each value alone (a string as it is, anything else by
    # render(), a missing one as ""): so each distinct value is rendered once,
    # and an entry is the template's pattern with those texts put in.
    text_of: dict[int, str] = {}
    for combo in combos:
        for i in combo:
            if i not in text_of:
                v = values[i]
                text_of[i] = v if v.__class__ is str else render(v)
    if rule.template is not None:
        pattern, placed = template_pattern(rule.template, NAMESPACES)
        slots = [references.index(reference) for reference in placed]
        texts = [pattern % tuple([text_of[combo[j]] for j in slots]) for combo in combos]
    else:
        texts = [text_of[combo[0]] for combo in combos]
    separator = rule.separator
    table = key_columns(columns, combos)
    text = pa.array(texts, pa.string())
    table["text"] = text
    # Arrow's string order is UTF-8 byte order, which is code point order:
    # Python's order of str (a str Arrow holds has no lone surrogate). Its
    # length counts code points, as len() does.
    table["erank"] = pc.rank(text, sort_keys="ascending", tiebreaker="dense")
    lengths = pc.utf8_length(text)
    table["elen"] = pc.cast(lengths, pa.int64())
    table["empty"] = pc.equal(lengths, 0)
    table["sep"] = pc.match_substring(text, separator)  # "" is in every text, as in Python
    return pa.table(table), join_on("f_entry", columns)


def entry_lists(
    tables: Tables, rule: ListRule, side: str, groups: Collection[int] | None = None
) -> dict[str, UserList]:
    """The lists of ``rule`` per ``account`` or per ``user`` (``side``); only
    those of ``groups`` (positions of that side in the tables) when given."""
    connection = tables.connection
    values = tables.values.values
    group, tie, reported = _SIDES[side]
    separator = rule.separator
    with Registered(connection) as registered:
        # Lists of the same entries (two lists of e-mails, filtered otherwise)
        # share one facet: its texts rendered, ranked and measured once.
        made_of = ("entries", rule.template, rule.value if rule.template is None else None)
        facet = tables.facets.get((*made_of, separator))
        if facet is None:
            facet = tables.facets[(*made_of, separator)] = _entries(tables, rule)
        entries, entry_join = facet
        registered.add("f_entry", entries)
        joins = [entry_join]
        order = "f_entry.erank"
        if rule.order_by is not None:
            order_ref = parse_reference(rule.order_by)
            order_column = tables.qualified(order_ref.namespace, order_ref.attribute)
            keys = [
                row[0]
                for row in connection.execute(f"SELECT DISTINCT {order_column} {SCAN}").fetchall()
            ]
            registered.add(
                "f_order",
                pa.table(
                    {
                        "id": pa.array(keys, pa.int64()),
                        "orank": _order_ranks([values[i] for i in keys]),
                    }
                ),
            )
            joins.append(f"JOIN f_order ON f_order.id = {order_column}")
            order = "f_order.orank"
        where_join, filtered = where_facet(tables, registered, rule.where)
        if where_join:
            joins.append(where_join)
        if groups is not None:
            registered.add("f_groups", pa.table({"g": pa.array(sorted(groups), pa.int64())}))
            filtered = f"{filtered} AND {group} IN (SELECT g FROM f_groups)"
        scan = (
            f"SELECT {group} AS g, {tie} AS tie, {reported} AS rid, f_entry.text,"
            f" f_entry.elen, f_entry.sep, {order} AS okey {SCAN} {' '.join(joins)}"
            f" WHERE {filtered} AND NOT f_entry.empty"
        )
        if rule.max_length is None:
            rows = _whole_lists(connection, scan, separator)
        else:
            rows = _cut_lists(connection, scan, separator, rule.max_length)
        # Entries holding the separator are rare: their ids come apart (a list
        # column beside every row costs more to fetch than the rest together).
        rejected: dict[int, list[int]] = dict(
            connection.execute(
                f"WITH e AS ({scan}) SELECT g, list(rid ORDER BY tie) FROM e WHERE sep GROUP BY g"
            ).fetchall()
        )
    out: dict[str, UserList] = {}
    account_ids, user_ids = tables.account_ids, tables.user_ids
    group_ids, reported_ids = (
        (account_ids, user_ids) if side == "account" else (user_ids, account_ids)
    )
    for g, n, kept, marked, joined in rows:
        value: str | None = None
        if n:
            value = joined if kept else ""
            if marked:
                value = f"{value}{separator}{marker(n - kept)}" if kept else marker(n - kept)
        refused = rejected.pop(g, None)
        out[group_ids[g]] = UserList(
            value,
            kept,
            n - kept,
            bool(marked),
            () if refused is None else tuple(reported_ids[r] for r in refused),
        )
    for g, refused in rejected.items():  # every entry of the group held the separator
        out[group_ids[g]] = UserList(None, 0, 0, False, tuple(reported_ids[r] for r in refused))
    return out


def _whole_lists(
    connection: duckdb.DuckDBPyConnection, scan: str, separator: str
) -> list[tuple[Any, ...]]:
    """Each group's ``(g, n, kept, marked, joined)`` when no list is cut (no
    ``max_length``): every entry is kept, in order, so one grouping joins
    them, with no running length to compute."""
    return connection.execute(
        f"""
        WITH e AS ({scan} AND NOT f_entry.sep)
        SELECT g, count(*) AS n, count(*), false, string_agg(text, $separator ORDER BY okey, tie)
        FROM e GROUP BY g
        """,
        {"separator": separator},
    ).fetchall()


def _cut_lists(
    connection: duckdb.DuckDBPyConnection, scan: str, separator: str, limit: int
) -> list[tuple[Any, ...]]:
    """Each group's ``(g, n, kept, marked, joined)`` under ``limit``: the
    window arithmetic of the module's docstring."""
    return connection.execute(
        f"""
        WITH e AS ({scan}), o AS (
            SELECT g, text, row_number() OVER w AS k,
                   count(*) OVER (PARTITION BY g) AS n,
                   sum(elen) OVER w + (row_number() OVER w - 1) * $sep AS cum
            FROM e WHERE NOT sep
            WINDOW w AS (PARTITION BY g ORDER BY okey, tie ROWS UNBOUNDED PRECEDING)
        ), s AS (
            SELECT g, max(n) AS n, max(cum) AS total,
                   max(k) FILTER (WHERE k <= n - 1
                                  AND cum + $sep + 8 + length((n - k)::VARCHAR) <= $limit)
                       AS km,
                   max(k) FILTER (WHERE cum <= $limit) AS kp
            FROM o GROUP BY g
        ), c AS (
            SELECT g, n,
                   CASE WHEN total <= $limit THEN n
                        WHEN km IS NOT NULL THEN km
                        WHEN 8 + length(n::VARCHAR) <= $limit THEN 0
                        ELSE coalesce(kp, 0) END AS kept,
                   NOT (total <= $limit)
                       AND (km IS NOT NULL OR 8 + length(n::VARCHAR) <= $limit) AS marked
            FROM s
        ), kl AS (
            SELECT o.g, string_agg(o.text, $separator ORDER BY o.k) AS joined
            FROM o JOIN c ON c.g = o.g
            WHERE o.k <= c.kept GROUP BY o.g
        )
        SELECT c.g, c.n, c.kept, c.marked, kl.joined FROM c LEFT JOIN kl ON kl.g = c.g
        """,
        {"sep": len(separator), "limit": limit, "separator": separator},
    ).fetchall()
