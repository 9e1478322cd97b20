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
import sys
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from hub.config.settings import Table
from hub.errors import Problem
from hub.sources import (
    RESERVED_COLUMNS,
    Inferrer,
    Origin,
    RowSink,
    SourceError,
    feed_mapping,
    missing_columns,
)
from hub.sources.digests import RowDigests
from hub.sources.lines import BadRow, decode_line, parse_json_line, read_lines

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


class _CsvLines:
    """The physical lines a :class:`csv.reader` pulls, decoded one by one, with
    the lines of the record being read kept, so that a record may be taken
    apart again: when a quote left open swallowed the lines after it, those
    lines are pushed back and read as the records they are.

    A line that is not UTF-8 is handed on decoded with ``surrogateescape``
    and remembered in ``bad``: the record holding it is quarantined.
    """

    __slots__ = ("bad", "current", "lines", "pending")

    def __init__(self, path: Path) -> None:
        self.lines = read_lines(path)
        self.pending: deque[tuple[int, str]] = deque()
        #: (line number, text) of each line of the record being read.
        self.current: list[tuple[int, str]] = []
        #: Line number -> why that line could not be decoded.
        self.bad: dict[int, str] = {}

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        if self.pending:
            item = self.pending.popleft()
        else:
            n, raw = next(self.lines)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                try:
                    decode_line(raw)
                except BadRow as bad:
                    self.bad[n] = bad.reason
                text = raw.decode("utf-8", "surrogateescape")
            item = (n, text)
        self.current.append(item)
        return item[1]

    def take(self) -> list[tuple[int, str]]:
        """The lines of the record just read (and forget them)."""
        lines = self.current
        self.current = []
        return lines

    def push_back(self, lines: list[tuple[int, str]]) -> None:
        """Read ``lines`` again, before anything else."""
        self.pending.extendleft(reversed(lines))


#: How a source quarantines a row (:meth:`hub.sources.RowSink.reject`).
Reject = Callable[[Origin, int, str, str], None]

#: The widest cell a CSV row may hold (characters); a wider one quarantines its row.
MAX_CELL: Final = 1024 * 1024


class CsvSource(_TableFile):
    """A CSV file of one table.

    ``multiline``: quoted cells may hold line breaks. Without it (the default)
    a record is one physical line: a quote left open does not swallow the
    lines after it; its line is quarantined and reading goes on at the next.
    """

    def __init__(
        self, name: str, table: Table, path: Path, label: str, key: str, multiline: bool = False
    ) -> None:
        super().__init__(name, table, path, label, key)
        self.multiline = multiline
        self.origin = Origin(name, label, digested=True)

    def _records(self, lines: _CsvLines, reject: Reject) -> Iterator[tuple[int, list[str]]]:
        """``(line, cells)`` of each record; broken records quarantined on the way."""
        reader = csv.reader(lines)
        table = self.table
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                taken = lines.take()
                n = taken[0][0] if taken else reader.line_num
                reason = str(error)
                if "field larger than field limit" in reason:
                    reason = f"a cell is longer than {MAX_CELL} characters"
                reject(self.origin, n, table, f"unreadable CSV row: {reason}")
                if not self.multiline:
                    lines.push_back(taken[1:])
                continue
            taken = lines.take()
            n = taken[0][0]
            if len(taken) > 1 and not self.multiline:
                reject(
                    self.origin,
                    n,
                    table,
                    "a quoted cell is not closed on its line (the row would swallow the"
                    f" {len(taken) - 1} line(s) after it); set multiline = true on the source"
                    " if its cells hold line breaks",
                )
                lines.push_back(taken[1:])
                continue
            if lines.bad:
                undecodable = next((lines.bad.pop(m) for m, _ in taken if m in lines.bad), None)
                if undecodable is not None:
                    reject(self.origin, n, table, undecodable)
                    continue
            yield n, cells

    def _header(self, records: Iterator[tuple[int, list[str]]]) -> tuple[list[str], list[Problem]]:
        """The header's column names, and what is wrong with them."""
        first = next(records, None)
        if first is None:
            problem = Problem(
                "the file is empty",
                file=self.label,
                line=1,
                key=self.key,
                expected=f"a header line naming the {self.table} columns",
            )
            return [], [problem]
        line, row = first
        header = [name.strip() for name in row]
        problems = []
        missing = missing_columns(self.table, header)
        if missing:
            required = ", ".join(missing_columns(self.table, []))
            problems.append(
                Problem(
                    f"the header has no {' / '.join(missing)} column",
                    file=self.label,
                    line=line,
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

    def columns(self) -> tuple[list[str], list[Problem]]:
        """The header's columns (read without reading the rows), and its problems."""
        problems = file_problems(self.path, self.label, self.key)
        if problems:
            return [], problems
        rejected: list[tuple[int, str]] = []

        def reject(
            origin: Origin, n: int, table: str, reason: str, record_id: str | None = None
        ) -> None:
            rejected.append((n, reason))

        try:
            with _cell_limit(MAX_CELL):
                header, problems = self._header(self._records(_CsvLines(self.path), reject))
        except OSError as error:
            return [], [self._problem(f"cannot read the file: {error}")]
        if rejected:
            line, reason = rejected[0]
            problems.insert(0, self._problem(f"the header line cannot be read: {reason}", line))
        return header, problems

    def check(self) -> list[Problem]:
        return self.columns()[1]

    def feed(self, table: Table, sink: RowSink) -> None:
        if table is not self.table:
            return
        lines = _CsvLines(self.path)
        try:
            with _cell_limit(MAX_CELL):
                records = self._records(lines, sink.reject)
                header, problems = self._header(records)
                if problems:
                    raise SourceError(problems[0])
                sink.columns(table, [name for name in header if name])
                self._rows(records, header, sink)
        except OSError as error:
            line = lines.current[0][0] if lines.current else None
            raise SourceError(self._problem(f"cannot read the file: {error}", line)) from None

    def _rows(
        self, records: Iterator[tuple[int, list[str]]], header: list[str], sink: RowSink
    ) -> None:
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
        digests: RowDigests | None = getattr(sink, "digests", None)
        add = None if digests is None else digests.adder(table, (a, b, c, d), digests.seed(header))
        for n, cells in records:
            size = len(cells)
            if add is not None and size:
                add(cells)
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


@contextmanager
def _cell_limit(limit: int) -> Iterator[None]:
    """``csv.field_size_limit`` for the time of one read (it is process-wide)."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


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
            for n, raw in read_lines(self.path):
                try:
                    line = decode_line(raw)
                    if line.isspace():
                        continue
                    row = parse_json_line(line)
                except BadRow as bad:
                    sink.reject(origin, n, table, bad.reason)
                    continue
                if not isinstance(row, dict):
                    sink.reject(origin, n, table, "not a JSON object")
                    continue
                feed_mapping(sink, table, origin, n, row)
        except OSError as error:
            raise SourceError(self._problem(f"cannot read the file: {error}", n + 1)) from None
