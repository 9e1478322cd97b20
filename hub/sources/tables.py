"""Table files: one CSV or JSON Lines file holding one canonical table.

CSV: the first line is the header (column names, surrounding spaces ignored; a
UTF-8 byte order mark is allowed). The header must name the table's required
columns (``user_id``; ``account_id``; ``user_id``, ``account_id`` and ``role``;
``event``, ``timestamp`` and ``user_id`` and/or ``account_id``), otherwise the
file is refused as a configuration error. Cells are typed as described in
:mod:`hub.sources`. A row with more cells than the header is quarantined; a
row with fewer has its missing cells empty; blank lines are skipped. Locations
are ``<path>:<line>``, the physical line where the row starts (the header is
line 1), so quoted cells spanning lines are counted right.

JSON Lines: one JSON object per line (blank lines skipped); a line that is not
valid JSON, or not an object, is quarantined with its line number.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.errors import Problem
from hub.settings import Table
from hub.sources import (
    RESERVED_COLUMNS,
    Inferrer,
    Origin,
    RowSink,
    SourceError,
    feed_mapping,
    missing_columns,
)

if TYPE_CHECKING:
    from _csv import Reader

__all__ = ["CsvSource", "JsonlSource", "file_problems"]


def file_problems(path: Path, label: str, key: str) -> list[Problem]:
    """A problem when ``path`` is not a readable file."""
    if not path.exists():
        message = f"file not found: {path}"
    elif not path.is_file():
        message = f"not a file: {path}"
    else:
        return []
    return [Problem(message, file=label, key=key, expected="an existing file")]


class _TableFile:
    """A file holding one table: a snapshot, so a repeated id is a duplicate."""

    updates = False

    def __init__(self, name: str, table: Table, path: Path, label: str, key: str) -> None:
        self.name = name
        self.table = table
        self.path = path
        self.label = label
        self.key = key
        self.origin = Origin(name, label)

    def _problem(self, message: str, line: int | None = None) -> Problem:
        return Problem(message, file=self.label, line=line, key=self.key)

    def close(self) -> None:
        pass


class CsvSource(_TableFile):
    """A CSV file of one table."""

    def _header(self, reader: Reader) -> tuple[list[str], list[Problem]]:
        """The header's column names, and what is wrong with them."""
        row = next(reader, None)
        if row is None:
            problem = Problem(
                "the file is empty",
                file=self.label,
                line=1,
                key=self.key,
                expected=f"a header line naming the {self.table} columns",
            )
            return [], [problem]
        header = [name.strip() for name in row]
        problems = []
        missing = missing_columns(self.table, header)
        if missing:
            required = ", ".join(missing_columns(self.table, []))
            problems.append(
                Problem(
                    f"the header has no {' / '.join(missing)} column",
                    file=self.label,
                    line=1,
                    key=self.key,
                    expected=f"a header line naming {required} for a {self.table} table",
                )
            )
        seen: set[str] = set()
        for name in header:
            if name and name in seen:
                problems.append(self._problem(f"column {name!r} appears twice in the header", 1))
            seen.add(name)
        return header, problems

    def check(self) -> list[Problem]:
        problems = file_problems(self.path, self.label, self.key)
        if problems:
            return problems
        try:
            with self.path.open(encoding="utf-8-sig", newline="") as handle:
                return self._header(csv.reader(handle))[1]
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            return [self._problem(f"cannot read the file: {error}")]

    def feed(self, table: Table, sink: RowSink) -> None:
        if table is not self.table:
            return
        reader: Reader | None = None
        try:
            with self.path.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.reader(handle)
                header, problems = self._header(reader)
                if problems:
                    raise SourceError(problems[0])
                self._rows(reader, header, sink)
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            # Text is decoded in blocks: the line of a decoding error is not known.
            decoding = isinstance(error, UnicodeDecodeError)
            line = reader.line_num + 1 if reader is not None and not decoding else None
            raise SourceError(self._problem(f"cannot read the file: {error}", line)) from None

    def _rows(self, reader: Reader, header: list[str], sink: RowSink) -> None:
        table = self.table
        origin = self.origin
        width = len(header)
        reserved = RESERVED_COLUMNS[table]
        extra_columns = [
            (i, sys.intern(name)) for i, name in enumerate(header) if name and name not in reserved
        ]
        # Reserved columns the header lacks read the always-empty slot cells[width].
        a, b, c, d = [header.index(name) if name in header else width for name in reserved] + [
            width
        ] * (4 - len(reserved))
        padding = [""] * (width + 1)
        typed = Inferrer()
        memo_get = typed.memo.get
        previous = reader.line_num
        for cells in reader:
            n = previous + 1
            previous = reader.line_num
            size = len(cells)
            if size > width:
                sink.reject(origin, n, table, f"row has {size} cells, the header has {width}")
                continue
            if size == 0:
                continue
            cells.extend(padding[size:])
            extra: dict[str, Any] = {}
            for i, name in extra_columns:
                value = cells[i]
                if value:
                    known = memo_get(value)
                    extra[name] = typed(value) if known is None else known
            if table is Table.USERS:
                sink.user(origin, n, cells[a], cells[b], extra)
            elif table is Table.ACCOUNTS:
                sink.account(origin, n, cells[a], cells[b], cells[c], cells[d], extra)
            elif table is Table.MEMBERSHIPS:
                sink.membership(origin, n, cells[a], cells[b], cells[c], extra)
            else:
                sink.event(origin, n, cells[a], cells[b], cells[c], cells[d], extra)


class JsonlSource(_TableFile):
    """A JSON Lines file of one table."""

    def check(self) -> list[Problem]:
        return file_problems(self.path, self.label, self.key)

    def feed(self, table: Table, sink: RowSink) -> None:
        if table is not self.table:
            return
        origin = self.origin
        n = 0
        try:
            with self.path.open(encoding="utf-8-sig") as handle:
                for n, line in enumerate(handle, 1):
                    if not line or line.isspace():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as error:
                        reason = f"invalid JSON: {error.msg} (column {error.colno})"
                        sink.reject(origin, n, table, reason)
                        continue
                    if not isinstance(row, dict):
                        sink.reject(origin, n, table, "not a JSON object")
                        continue
                    feed_mapping(sink, table, origin, n, row)
        except (OSError, UnicodeDecodeError) as error:
            where = None if isinstance(error, UnicodeDecodeError) else n + 1
            raise SourceError(self._problem(f"cannot read the file: {error}", where)) from None
