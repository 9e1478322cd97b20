"""Parquet: one file holding one table, read through DuckDB.

The file's schema gives the columns once (like a SQL query's result); values
arrive typed (integers, floats, booleans, timestamps, dates, nested structs for
``traits`` / ``properties``) and go through the same checks as every other
source: a missing id, a NaN or an infinity, a duplicate id quarantines its row,
located as ``path row N``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.config.settings import Table
from hub.errors import Problem
from hub.sources import (
    Origin,
    RowSink,
    SourceError,
    feed_mapping,
    missing_columns,
    normalize,
)
from hub.sources.tables import file_problems

#: Rows fetched from DuckDB at a time.
BATCH = 10_000


class ParquetSource:
    """A Parquet file of one table (``kind = "parquet"``)."""

    updates = False

    def __init__(self, name: str, table: Table, path: Path, label: str, key: str) -> None:
        self.name = name
        self.table = table
        self.path = path
        self.label = label
        self.key = key
        self.origin = Origin(name, label, columnar=True)
        #: The file's column names, read once (by :meth:`check` or the first feed).
        self._schema: list[str] | None = None

    def _problem(self, message: str) -> Problem:
        return Problem(message, file=self.label, key=self.key)

    def check(self) -> list[Problem]:
        problems = file_problems(self.path, self.label, self.key)
        if problems:
            return problems
        try:
            self._columns()
        except SourceError as error:
            return [error.problem]
        return []

    def _columns(self) -> list[str]:
        if self._schema is None:
            self._schema = self._read_schema()
        return self._schema

    def _read_schema(self) -> list[str]:
        import duckdb

        try:
            with duckdb.connect() as connection:
                described = connection.execute(
                    "SELECT * FROM read_parquet(?) LIMIT 0", [str(self.path)]
                ).description
        except duckdb.Error as error:
            message = str(error).splitlines()[0][:300]
            raise SourceError(self._problem(f"not a readable Parquet file: {message}")) from None
        return [str(column[0]) for column in described or []]

    def feed(self, table: Table, sink: RowSink) -> None:
        if table is not self.table:
            return
        import duckdb

        columns = self._columns()
        missing = missing_columns(table, columns)
        if missing:
            raise SourceError(self._problem(f"the file has no {' / '.join(missing)} column"))
        sink.columns(table, columns)
        n = 0
        try:
            with duckdb.connect() as connection:
                cursor = connection.execute("SELECT * FROM read_parquet(?)", [str(self.path)])
                while batch := cursor.fetchmany(BATCH):
                    for values in batch:
                        n += 1
                        row: dict[str, Any] = {
                            name: normalize(value)
                            for name, value in zip(columns, values, strict=True)
                        }
                        feed_mapping(sink, table, self.origin, n, row)
        except duckdb.Error as error:
            message = str(error).splitlines()[0][:300]
            raise SourceError(self._problem(f"cannot read row {n + 1}: {message}")) from None

    def close(self) -> None:
        pass
