"""SQL: one SELECT per table against a database or warehouse, through SQLAlchemy.

``url`` is a SQLAlchemy database URL; a relative SQLite file path
(``sqlite:///data/app.db``) is relative to the directory of ``hub.toml``, and a
SQLite file that does not exist is refused (instead of silently creating an
empty database). ``queries`` maps a table (users, accounts, memberships,
events) to its SELECT. Result columns follow the row conventions of
:mod:`hub.sources`; values keep their database types (``NULL`` is absent),
datetimes become tz-aware UTC (a naive one is taken as UTC), integer ids become
strings. Locations are ``source <name>, query <table>, row <n>`` (1-based).

A URL that cannot be parsed or connected to, a query that fails, or a result
missing a required column is a configuration error naming the setting
(``sources.<name>.url`` / ``sources.<name>.queries.<table>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from hub.config.settings import Table
from hub.errors import Problem
from hub.sources import Origin, RowSink, SourceError, feed_mapping, missing_columns, normalize

__all__ = ["SqlSource"]

#: Rows fetched at a time.
BATCH = 10_000


def _first_line(error: Exception) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class SqlSource:
    """A database URL and one query per table."""

    #: Each query is read, and fails, on its own (see :mod:`hub.sources.loading`).
    per_query = True

    updates = False

    def __init__(self, name: str, url: str, queries: dict[Table, str], base_dir: Path) -> None:
        self.name = name
        self.url = url
        self.queries = queries
        self.base_dir = base_dir
        #: False: :meth:`feed` only reports each query's columns (validation).
        self.fetch_rows = True
        self._engine: Engine | None = None

    def _key(self, table: Table | None = None) -> str:
        return f"sources.{self.name}.queries.{table}" if table else f"sources.{self.name}.url"

    def check(self) -> list[Problem]:
        key = self._key()
        try:
            url = make_url(self.url)
        except (ArgumentError, ValueError):
            # Not the parser's message: it repeats the URL, which may hold a password.
            message = "not a database URL"
            expected = "a SQLAlchemy URL such as sqlite:///app.db or postgresql://host/db"
            return [Problem(message, key=key, expected=expected)]
        if url.get_backend_name() == "sqlite":
            database = url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                path = Path(database)
                if not path.is_absolute():
                    path = self.base_dir / path
                if not path.is_file():
                    message = f"database file not found: {path}"
                    return [Problem(message, file=database, key=key, expected="an existing file")]
                url = url.set(database=str(path))
        try:
            engine = sqlalchemy.create_engine(url)
            with engine.connect():
                pass
        except (SQLAlchemyError, ImportError, ValueError) as error:
            masked = url.render_as_string(hide_password=True)
            return [Problem(f"cannot connect to {masked}: {_first_line(error)}", key=key)]
        self._engine = engine
        return []

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def feed(self, table: Table, sink: RowSink) -> None:
        query = self.queries.get(table)
        if query is None:
            return
        if self._engine is None:  # check() failed or was not called
            problems = self.check()
            if problems:
                raise SourceError(problems[0])
        assert self._engine is not None
        key = self._key(table)
        origin = Origin(self.name, str(table), sql=True)
        try:
            with self._engine.connect() as connection:
                result = connection.execution_options(stream_results=True).execute(
                    sqlalchemy.text(query)
                )
                if not result.returns_rows:
                    raise SourceError(Problem("the query returns no rows", key=key))
                columns = [str(name) for name in result.keys()]  # noqa: SIM118
                missing = missing_columns(table, columns)
                if missing:
                    message = f"the query's result has no {' / '.join(missing)} column"
                    raise SourceError(Problem(message, key=key))
                sink.columns(table, columns)
                if not self.fetch_rows:
                    return
                n = 0
                for partition in result.partitions(BATCH):
                    for values in partition:
                        n += 1
                        row: dict[str, Any] = {
                            name: normalize(value)
                            for name, value in zip(columns, values, strict=True)
                        }
                        feed_mapping(sink, table, origin, n, row)
        except SQLAlchemyError as error:
            message = f"the query failed: {_first_line(error)}"
            raise SourceError(Problem(message, key=key)) from None
