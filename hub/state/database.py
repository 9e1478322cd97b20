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
from typing import Any, Protocol, TypeVar

from hub.state.connection import immediate
from hub.state.schema import Dialect

__all__ = ["Cursor", "Database", "SqliteDatabase", "Writer"]

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
