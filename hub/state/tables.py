"""The tables that live beside the record store: where they open.

The daemons' locks (:mod:`hub.state.locks`) and the playbook state
(:mod:`hub.state.playbooks`) keep their tables in the state store's own
database, a SQLite file or a PostgreSQL one; :func:`open_tables` opens either
(apart from :mod:`hub.state.database`, which the PostgreSQL backend builds
on, so that no import goes round in a circle).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hub.state.connection import connect
from hub.state.database import Database, SqliteDatabase
from hub.state.postgres import PostgresDatabase, is_postgres_url
from hub.state.schema import ddl

__all__ = ["create_tables", "open_tables"]


def create_tables(connection: Any, schema: Sequence[str], lock: int) -> None:
    """Run the ``schema`` statements (``CREATE ... IF NOT EXISTS``) on a
    PostgreSQL ``connection`` in one transaction holding the advisory lock
    ``lock``: daemons starting together on an empty database take turns, one
    creates the tables and the others find them."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
        for statement in schema:
            connection.execute(ddl(statement, "postgresql"))


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
    if isinstance(where, str) and is_postgres_url(where):

        def create(connection: Any) -> None:
            create_tables(connection, schema, serialize)

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
