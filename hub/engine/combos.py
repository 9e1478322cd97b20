"""Facets of several values at once: conditions and templates, per combination.

A condition (``where``) or an entry template reads a few attributes of a
membership's user, account and relationship. The engine evaluates it in
Python, by :mod:`hub.conditions` or :mod:`hub.projections.templates` as
compiled for the per-record rules, once per *distinct combination* of the
value ids it reads (a role filter: a handful; a template over the account
name and the role: about one per membership at worst), and joins the results
in as a table ``(k0, k1, ..., <facet columns>)``. So every kind rule (``1`` is
not ``"1"``, ``None`` never ordered, a missing value rendered ``""``) is the
one implementation's.

:class:`Registered` holds the Arrow tables a query joins and unregisters them
when the query is done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import duckdb
import pyarrow as pa

from hub.conditions import compile_condition, condition_references
from hub.engine.tables import Tables
from hub.getters import BUILT_IN
from hub.model import Account, Membership, User
from hub.references import Reference, Scope

__all__ = [
    "NAMESPACES",
    "SCAN",
    "Registered",
    "combination_facet",
    "combinations",
    "condition_attributes",
    "distinct_combinations",
    "join_on",
    "key_columns",
    "scope_of",
    "where_facet",
]

#: The namespaces a condition or a template may read.
NAMESPACES = ("user", "account", "relationship")

#: Every membership with its user and account: what a combination is read from.
SCAN = "FROM m JOIN users ON users.u = m.u JOIN accounts ON accounts.a = m.a"


class Registered:
    """Arrow tables registered on a connection for one query, then unregistered."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        self.names: list[str] = []

    def add(self, name: str, table: pa.Table) -> None:
        self.connection.register(name, table)
        self.names.append(name)

    def __enter__(self) -> Registered:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for name in self.names:
            self.connection.unregister(name)
        self.names.clear()


def scope_of(references: Sequence[Reference], values: Sequence[Any]) -> Scope:
    """A scope whose user, account and membership hold exactly ``values`` at
    ``references`` (built-in attributes as fields, the others as traits or
    properties; ``None`` absent)."""
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


def distinct_combinations(
    tables: Tables, references: Sequence[Reference]
) -> tuple[list[str], list[tuple[int, ...]]]:
    """The columns of ``references`` (duplicates dropped) and each distinct
    combination of their value ids among :data:`SCAN`'s rows."""
    references = list(dict.fromkeys(references))
    columns = [tables.qualified(r.namespace, r.attribute) for r in references]
    if not columns:
        return columns, [()]
    rows = tables.connection.execute(f"SELECT DISTINCT {', '.join(columns)} {SCAN}").fetchall()
    return columns, [tuple(row) for row in rows]


def combinations(
    tables: Tables, references: Sequence[Reference]
) -> tuple[list[str], list[tuple[int, ...]], list[Scope]]:
    """:func:`distinct_combinations`, and the scope of each combination."""
    references = list(dict.fromkeys(references))
    columns, combos = distinct_combinations(tables, references)
    values = tables.values.values
    scopes = [scope_of(references, [values[i] for i in combo]) for combo in combos]
    return columns, combos, scopes


def join_on(name: str, columns: Sequence[str]) -> str:
    """The join of facet table ``name`` keyed ``k0, k1, ...`` on ``columns``."""
    on = " AND ".join(f"{name}.k{j} = {column}" for j, column in enumerate(columns))
    return f"JOIN {name} ON {on or 'true'}"


def key_columns(columns: Sequence[str], combos: Sequence[tuple[int, ...]]) -> dict[str, pa.Array]:
    """The ``k0, k1, ...`` columns of a facet table of ``combos``."""
    return {
        f"k{j}": pa.array([combo[j] for combo in combos], pa.int64()) for j in range(len(columns))
    }


def combination_facet(
    tables: Tables,
    registered: Registered,
    name: str,
    references: Sequence[Reference],
    functions: dict[str, tuple[Callable[[Scope], Any], pa.DataType]],
) -> str:
    """Register table ``name(k0.., <column>...)``: each of ``functions`` of
    the scope of each combination of :func:`combinations`. Returns the join
    clause (``JOIN name ON name.k0 = users.u1 AND ...``)."""
    columns, combos, scopes = combinations(tables, references)
    table = key_columns(columns, combos)
    for column, (function, type_) in functions.items():
        table[column] = pa.array([function(scope) for scope in scopes], type_)
    registered.add(name, pa.table(table))
    return join_on(name, columns)


def where_facet(
    tables: Tables, registered: Registered, condition: str | None, name: str = "f_where"
) -> tuple[str, str]:
    """The join and the SQL test of ``condition`` over :data:`SCAN`'s rows:
    ``("", "true")`` without one."""
    if condition is None:
        return "", "true"
    predicate = compile_condition(condition, NAMESPACES)
    join = combination_facet(
        tables,
        registered,
        name,
        condition_references(condition, NAMESPACES),
        {"ok": (predicate, pa.bool_())},
    )
    return join, f"{name}.ok"


def condition_attributes(condition: str | None) -> list[Reference]:
    """The attributes ``condition`` reads (none without one)."""
    return [] if condition is None else condition_references(condition, NAMESPACES)
