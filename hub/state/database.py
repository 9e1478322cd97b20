"""The one connection a store talks through, whichever database holds it.

The record store (:mod:`hub.state.sql`), the daemon's locks and the
playbook state write their SQL once, with ``?`` placeholders, against
:class:`Database`: :class:`SqliteDatabase` runs it on a SQLite connection
(``BEGIN IMMEDIATE`` transactions, :mod:`hub.state.connection`), and
:class:`hub.state.postgres.PostgresDatabase` on a psycopg one.

A connection may be shared by threads: every call holds the database's lock.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from hub.state.connection import immediate
from hub.state.schema import Dialect

__all__ = ["Cursor", "Database", "SqliteDatabase", "Writer", "open_tables"]

T = TypeVar("T")


class Cursor(Protocol):
    """What a statement run in a transaction gives back."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Writer(Protocol):
    """A transaction in progress."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Any: ...


class Database(Protocol):
    """A connection with its lock: reads outside transactions, writes in one."""

    #: Which SQL the connection speaks beyond the common part.
    dialect: Dialect

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one query (no transaction is left open)."""
        ...

    def write(self, work: Callable[[Writer], T]) -> T:
        """Run ``work`` in one transaction: committed when it returns, rolled
        back when it raises."""
        ...

    def transaction(self) -> AbstractContextManager[Writer]:
        """One transaction, as a ``with`` block (committed when it ends)."""
        ...

    def close(self) -> None: ...


class SqliteDatabase:
    """:class:`Database` on an open SQLite connection (``isolation_level=None``)."""

    dialect: Dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection, lock: threading.RLock) -> None:
        self.connection = connection
        self.lock = lock

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return self.connection.execute(sql, params).fetchall()

    def write(self, work: Callable[[Writer], T]) -> T:
        with immediate(self.connection, self.lock) as db:
            return work(db)

    def transaction(self) -> AbstractContextManager[Writer]:
        return immediate(self.connection, self.lock)

    def close(self) -> None:
        with self.lock:
            self.connection.close()


def open_tables(
    where: Path | str | None,
    schema: Sequence[str],
    *,
    serialize: int,
    pragmas: Sequence[str] = (),
    busy_timeout: float = 30.0,
    create_directory: bool = False,
) -> tuple[Database, Path | None]:
    """A :class:`Database` for tables that live beside the record store (the
    locks, the playbook state): on the SQLite file at ``where`` (``None``: in
    memory), or in the PostgreSQL database at a ``postgresql://`` URL. The
    ``schema`` statements (``CREATE ... IF NOT EXISTS``, with the marks of
    :func:`hub.state.schema.ddl`) run on connecting; in PostgreSQL every write
    transaction first takes the advisory lock ``serialize``, as SQLite's
    ``BEGIN IMMEDIATE`` makes writers wait their turn; ``create_directory``
    makes the SQLite file's directory. Returns the database and the SQLite
    file's path (``None`` in memory or in PostgreSQL)."""
    from hub.state.connection import connect
    from hub.state.postgres import PostgresDatabase, is_postgres_url
    from hub.state.schema import ddl

    if isinstance(where, str) and is_postgres_url(where):

        def create(connection: Any) -> None:
            # Daemons starting together: one creates, the others find the tables.
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (serialize,))
                for statement in schema:
                    connection.execute(ddl(statement, "postgresql"))

        return PostgresDatabase(where, setup=create, serialize=serialize), None

    def create_here(connection: sqlite3.Connection) -> None:
        for statement in schema:
            connection.execute(ddl(statement, "sqlite"))

    target = ":memory:" if where is None else str(where)
    path = None if target == ":memory:" else Path(target)
    if path is not None and create_directory:
        path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(where, busy_timeout=busy_timeout, pragmas=pragmas, setup=create_here)
    return SqliteDatabase(db, threading.RLock()), path
