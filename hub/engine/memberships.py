"""Projections 1 and 6 as queries: membership contacts and links.

Both are one row per membership that passes a condition, read off the
memberships joined to their user, account and the user's context
(:func:`hub.engine.users.user_contexts`). The rules are those of
:mod:`hub.projections.membership_contacts` and
:mod:`hub.projections.associations`, which the tests hold these queries to:

- **membership contacts**: each membership matching
  ``membership_contacts.where`` is a contact keyed
  :func:`hub.model.membership_key` (``"u1:a1"``), its fields read from the
  ``user``, ``account``, ``relationship``, ``rollup`` (the user's rolled-up
  stage and account count), ``primary_account`` and ``primary_relationship``
  (the user's primary membership and its account); the *inflation* is
  contacts per distinct user among them;
- **links**: each membership matching ``links.where`` is a link from the
  user's contact to the account, carrying its ``links.properties``, and
  ``primary`` when it is the user's primary membership (a primary filtered out
  leaves no link of the user primary).

A field or a property is a value id (:mod:`hub.engine.values`) taken off the
column of its attribute; ``rollup.account_count`` is the count itself and
``rollup.stage`` the rank the context holds, named once per distinct rank.
Rows come ordered by user id and account id, the per-record order; a user
only a membership names (a phantom, :class:`hub.engine.tables.Tables`) has
none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from hub.contract.capabilities import ObjectKind
from hub.engine.combos import Registered, where_facet
from hub.engine.tables import Tables
from hub.engine.users import UserContexts, rolled_up_stage
from hub.model import membership_key
from hub.projections.stages import StageRanking
from hub.records import Link, Record, make_links, make_records
from hub.references import Reference

__all__ = [
    "TABLE_OF",
    "MembershipRows",
    "attributes",
    "contact_records",
    "context_joins",
    "field_expression",
    "field_values",
    "link_records",
    "membership_contact_rows",
    "membership_link_rows",
]

#: Where each namespace a field may read has its columns in :class:`Tables`.
TABLE_OF = {
    "user": "user",
    "account": "account",
    "relationship": "relationship",
    "primary_account": "account",
    "primary_relationship": "relationship",
}


def attributes(references: Iterable[Reference]) -> dict[str, list[str]]:
    """Per table namespace (``user``, ``account``, ``relationship``), the
    attributes ``references`` read (once each, in order), for :class:`Tables`."""
    out: dict[str, list[str]] = {"user": [], "account": [], "relationship": []}
    for reference in references:
        namespace = TABLE_OF.get(reference.namespace)
        if namespace is not None and reference.attribute not in out[namespace]:
            out[namespace].append(reference.attribute)
    return out


@dataclass(frozen=True, slots=True)
class MembershipRows:
    """Rows of a membership query: ``u``, ``a``, ``is_primary``, then one column
    per field (``f0``, ``f1``, ... in the order of :attr:`names`)."""

    table: pa.Table
    #: The output names (fields or link properties), sorted.
    names: tuple[str, ...]
    #: Each name's reference, in :attr:`names` order.
    references: tuple[Reference, ...]

    def slice(self, start: int, length: int) -> MembershipRows:
        """The rows ``start`` to ``start + length``."""
        return MembershipRows(self.table.slice(start, length), self.names, self.references)

    @property
    def users(self) -> int:
        """The distinct users among the rows."""
        return len(set(self.table.column("u").to_pylist()))

    def inflation(self) -> float:
        """Rows per distinct user, rounded to 4 decimals (``0.0`` for none)."""
        users = self.users
        return round(self.table.num_rows / users, 4) if users else 0.0


def context_joins(namespaces: set[str], user: str) -> list[str]:
    """The joins of the user contexts (registered as ``ctx``) to rows whose
    user is column ``user``, and of the primary account (``pa``) and
    membership (``pm``) when ``namespaces`` read them: what
    :func:`field_expression` reads."""
    joins = [f"LEFT JOIN ctx ON ctx.u = {user}"]
    if "primary_account" in namespaces:
        joins.append('LEFT JOIN accounts pa ON pa.a = ctx."primary"')
    if "primary_relationship" in namespaces:
        joins.append(f'LEFT JOIN m pm ON pm.u = {user} AND pm.a = ctx."primary"')
    return joins


def field_expression(tables: Tables, reference: Reference) -> str:
    """The SQL column of ``reference`` over rows joined by :func:`context_joins`:
    fixed text built from the tables' own column names, never a mapping's."""
    namespace, attribute = reference.namespace, reference.attribute
    if namespace == "rollup":
        return "coalesce(ctx.account_count, 0)" if attribute == "account_count" else "ctx.best"
    if namespace == "primary_account":
        return f"pa.a{tables.account.index(attribute)}"
    if namespace == "primary_relationship":
        return f"pm.{tables.column(attribute)}"
    return tables.qualified(namespace, attribute)


def _rows(
    tables: Tables,
    contexts: UserContexts | None,
    fields: Mapping[str, Reference],
    where: str | None,
) -> MembershipRows:
    names = tuple(sorted(fields))
    references = tuple(fields[name] for name in names)
    namespaces = {r.namespace for r in references}
    if contexts is None and namespaces & {"rollup", "primary_account", "primary_relationship"}:
        raise ValueError("fields reading the rollup or the primary need the user contexts")
    connection = tables.connection
    with Registered(connection) as registered:
        join, test = where_facet(tables, registered, where)
        joins = [join]
        primary = "false"
        if contexts is not None:
            registered.add("ctx", contexts.table)
            joins.extend(context_joins(namespaces, "m.u"))
            primary = 'coalesce(ctx."primary" = m.a, false)'
        columns = "".join(
            f", {field_expression(tables, reference)} AS f{i}"
            for i, reference in enumerate(references)
        )
        query = f"""
            SELECT m.u, m.a, {primary} AS is_primary{columns}
            FROM m JOIN users ON users.u = m.u JOIN accounts ON accounts.a = m.a
            {" ".join(joins)}
            WHERE {test} AND users.real
            ORDER BY users.urank, m.a
        """
        table = connection.sql(query).to_arrow_table()
    return MembershipRows(table, names, references)


def membership_contact_rows(
    tables: Tables,
    contexts: UserContexts | None,
    fields: Mapping[str, Reference],
    where: str | None = None,
) -> MembershipRows:
    """The membership contacts: one row per membership matching ``where``.

    ``tables`` must have the columns of :func:`attributes` of ``fields`` and
    of the condition; ``contexts`` is needed when a field reads the rollup or
    the primary.
    """
    return _rows(tables, contexts, fields, where)


def membership_link_rows(
    tables: Tables,
    contexts: UserContexts,
    properties: Mapping[str, Reference],
    where: str | None = None,
) -> MembershipRows:
    """The links: one row per membership matching ``where``, ``is_primary``
    when it is the user's primary membership."""
    return _rows(tables, contexts, properties, where)


def field_ids(rows: MembershipRows) -> list[list[Any]]:
    """Each output column as the query gave it (value ids, or a rollup's
    number), in :attr:`MembershipRows.names` order."""
    return [rows.table.column(f"f{i}").to_pylist() for i in range(len(rows.references))]


def field_values(
    tables: Tables,
    rows: MembershipRows,
    ranking: StageRanking | None,
    ids: list[list[Any]] | None = None,
) -> list[list[Any]]:
    """Each output column as Python values, in :attr:`MembershipRows.names`
    order; ``ids``: the columns of :func:`field_ids`, when read already."""
    values = tables.values.values
    out: list[list[Any]] = []
    for reference, column in zip(
        rows.references, field_ids(rows) if ids is None else ids, strict=True
    ):
        if reference.namespace == "rollup" and reference.attribute == "account_count":
            out.append(column)
        elif reference.namespace == "rollup":
            if ranking is None:
                raise ValueError("rollup.stage needs the stage ranking")
            stage = {
                best: None if best is None else rolled_up_stage(ranking, best)
                for best in set(column)
            }
            out.append([stage[best] for best in column])
        else:
            out.append([None if v is None else values[v] for v in column])
    return out


def contact_records(
    tables: Tables,
    rows: MembershipRows,
    *,
    separator: str = ":",
    ranking: StageRanking | None = None,
) -> list[Record]:
    """The contacts of :func:`membership_contact_rows`, as records."""
    user_ids, account_ids = tables.user_ids, tables.account_ids
    keys = [
        membership_key(user_ids[u], account_ids[a], separator)
        for u, a in zip(
            rows.table.column("u").to_pylist(), rows.table.column("a").to_pylist(), strict=True
        )
    ]
    columns = field_values(tables, rows, ranking)
    names = rows.names
    fields = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    if not columns:
        fields = [{} for _ in keys]
    return make_records(ObjectKind.CONTACT, keys, fields)


def link_records(tables: Tables, rows: MembershipRows) -> list[Link]:
    """The links of :func:`membership_link_rows`, as links."""
    user_ids, account_ids = tables.user_ids, tables.account_ids
    users = [user_ids[u] for u in rows.table.column("u").to_pylist()]
    accounts = [account_ids[a] for a in rows.table.column("a").to_pylist()]
    # Links with the same values share one properties dict, found by the
    # values' ids: by the values themselves, 1, 1.0 and True would be one
    # (they are equal in Python), and a link would carry another's value.
    ids = field_ids(rows)
    columns = field_values(tables, rows, None, ids)
    names = rows.names
    shared: dict[tuple[Any, ...], dict[str, Any]] = {}
    properties: list[dict[str, Any]] = []
    if not columns:
        properties = [{}] * len(users)  # one empty dict, as links share them
    for key, row in zip(zip(*ids, strict=True), zip(*columns, strict=True), strict=True):
        values = shared.get(key)
        if values is None:
            values = shared[key] = dict(zip(names, row, strict=True))
        properties.append(values)
    return make_links(users, accounts, rows.table.column("is_primary").to_pylist(), properties)
