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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from hub.config.settings import Table
from hub.errors import Problem
from hub.sources import (
    RESERVED_COLUMNS,
    Inferrer,
    Origin,
    RowSink,
    SourceError,
    arange,
    feed_mapping,
    missing_columns,
)
from hub.sources.digests import RowDigests
from hub.sources.lines import BadRow, decode_line, parse_json_line, read_lines

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["CsvColumns", "CsvSource", "JsonlSource", "file_problems"]


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

    def __init__(self, path: Path, start: int = 0, first: int = 1) -> None:
        self.lines = read_lines(path, start, first)
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
#: How much of a CSV file :meth:`CsvSource.read_columns` reads at a time (bytes).
BLOCK: Final = 8 * 1024 * 1024


@dataclass(slots=True)
class CsvColumns:
    """A CSV file read column-wise (:meth:`CsvSource.read_columns`): the rows
    the CSV layer keeps, with the physical line each starts at, and the rows it
    quarantines, with theirs."""

    header: list[str]
    #: The line of each row kept.
    lines: pa.Array
    #: One text column per header column: a row's cell, ``""`` where it has none.
    cells: list[pa.Array]
    #: ``(line, reason)`` of each row the CSV layer quarantines, in line order.
    rejected: list[tuple[int, str]] = field(default_factory=list)


class _Block:
    """What :meth:`CsvSource.read_columns` gathers: rows' lines and cells, as
    Arrow arrays a block at a time, and the rows quarantined."""

    __slots__ = ("cells", "digest", "keys", "lines", "rejected", "seed", "table", "width")

    def __init__(
        self,
        source: CsvSource,
        header: list[str],
        rejected: list[tuple[int, str]],
        digests: RowDigests | None,
    ) -> None:
        self.table = source.table
        self.width = width = len(header)
        keys = [
            header.index(name) if name in header else width
            for name in RESERVED_COLUMNS[source.table]
        ]
        a, b, c, d = keys + [width] * (4 - len(keys))
        self.keys = (a, b, c, d)
        self.seed = RowDigests.seed(header)
        self.digest = digests
        self.lines: list[pa.Array] = []
        self.cells: list[list[pa.Array]] = [[] for _ in range(width)]
        self.rejected = rejected

    def plain(self, chunk: bytes, n: int) -> bool:
        """Keep the lines of ``chunk`` (from line ``n``) if they are plain: no
        quote, no line break but ``\n`` or ``\r\n``, no blank line, no NUL, no
        line longer than a cell may be, valid UTF-8, each as many cells as the
        header. Python's reader splits such a line at each comma, and nothing
        else, so Arrow's CSV reader (quoting off) gives the same cells. False
        (nothing kept) for any other chunk."""
        if b'"' in chunk or b"\x00" in chunk:
            return False
        if not chunk.isascii():
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError:
                return False
        if b"\r" in chunk:
            if chunk.count(b"\r") != chunk.count(b"\r\n"):
                return False
            chunk = chunk.replace(b"\r\n", b"\n")
        if chunk.startswith(b"\n") or b"\n\n" in chunk:
            return False
        joined = chunk.replace(b",", b"\x1f").split(b"\n")
        if chunk.endswith(b"\n"):
            joined.pop()
        if not joined or max(map(len, joined)) > MAX_CELL:
            return False
        width = self.width
        wrong: list[object] = []

        def invalid(row: object) -> str:
            wrong.append(row)
            return "skip"

        import pyarrow as pa  # loaded when a file is read column-wise
        import pyarrow.csv as arrow_csv

        names = [f"c{i}" for i in range(width)]
        try:
            read = arrow_csv.read_csv(
                pa.py_buffer(chunk),
                read_options=arrow_csv.ReadOptions(
                    column_names=names, block_size=len(chunk) + 1, use_threads=False
                ),
                parse_options=arrow_csv.ParseOptions(
                    quote_char=False,
                    double_quote=False,
                    escape_char=False,
                    newlines_in_values=False,
                    ignore_empty_lines=False,
                    invalid_row_handler=invalid,
                ),
                convert_options=arrow_csv.ConvertOptions(
                    column_types={name: pa.string() for name in names},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except pa.ArrowInvalid:
            return False
        if wrong or read.num_rows != len(joined):
            return False
        columns = [read.column(i).combine_chunks() for i in range(width)]
        if self.digest is not None:
            a, b, c, d = self.keys
            first, second = (a, b) if self.table is not Table.EVENTS else (c, d)

            def ids(i: int) -> pa.Array:
                if i < width:
                    return columns[i]
                return pa.repeat(pa.scalar("", pa.string()), len(joined))

            self.digest.add_joined(self.table, self.seed, joined, ids(first), ids(second))
        self.lines.append(arange(n, n + len(joined)))
        for i, column in enumerate(columns):
            self.cells[i].append(column)
        return True

    def add(self, numbers: Sequence[int], rows: list[list[str]]) -> None:
        """Keep ``rows`` (starting at lines ``numbers``) as :meth:`CsvSource.feed`
        would: an empty one skipped, each other digested, one wider than the
        header quarantined, a narrower one's missing cells empty."""
        width = self.width
        regular = set(map(len, rows)) == {width}
        if not regular:
            kept = [(n, row) for n, row in zip(numbers, rows, strict=True) if row]
            numbers, rows = [n for n, _ in kept], [row for _, row in kept]
        if self.digest is not None:
            self.digest.add_rows(self.table, self.keys, self.seed, rows)
        if not regular:
            fitting: list[tuple[int, list[str]]] = []
            for n, row in zip(numbers, rows, strict=True):
                size = len(row)
                if size > width:
                    self.rejected.append((n, f"row has {size} cells, the header has {width}"))
                elif size < width:
                    fitting.append((n, row + [""] * (width - size)))
                else:
                    fitting.append((n, row))
            numbers, rows = [n for n, _ in fitting], [row for _, row in fitting]
        if not rows:
            return
        import pyarrow as pa

        self.lines.append(pa.array(numbers, pa.int64()))
        for i, column in enumerate(zip(*rows, strict=True)):
            self.cells[i].append(pa.array(column, pa.string()))


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

    def read_columns(self, digests: RowDigests | None = None) -> CsvColumns:
        """The file's rows as columns, each row's cells exactly as :meth:`feed`
        hands them on (untyped), and the rows it would quarantine, with the same
        reasons and lines; each row read is added to ``digests`` as
        :meth:`feed` adds it.

        A block of lines where each line is one CSV record and valid UTF-8 is
        parsed by the C reader in one call; a block where a quote spans lines,
        a byte is not UTF-8 or the reader fails goes through the line-by-line
        reader :meth:`feed` uses, which decides every such case. Raises
        :class:`SourceError` as :meth:`feed` does."""
        import pyarrow as pa

        rejected: list[tuple[int, str]] = []

        def reject(origin: Origin, n: int, table: str, reason: str) -> None:
            rejected.append((n, reason))

        lines = _CsvLines(self.path)
        try:
            with _cell_limit(MAX_CELL):
                records = self._records(lines, reject)
                header, problems = self._header(records)
                if problems:
                    raise SourceError(problems[0])
                block = _Block(self, header, rejected, digests)
                if self.multiline or rejected or lines.pending:
                    self._slowly(records, None, block)
                else:
                    self._quickly(block, reject)
        except OSError as error:
            raise SourceError(self._problem(f"cannot read the file: {error}")) from None
        rejected.sort(key=lambda item: item[0])
        return CsvColumns(
            header,
            pa.concat_arrays(block.lines) if block.lines else pa.array([], pa.int64()),
            [
                pa.concat_arrays(parts) if parts else pa.array([], pa.string())
                for parts in block.cells
            ],
            rejected,
        )

    def _quickly(self, block: _Block, reject: Reject) -> None:
        """:meth:`read_columns` after a header on line 1: the file a block of
        lines at a time."""
        with self.path.open("rb") as handle:
            handle.readline()
            offset, n, carry = handle.tell(), 2, b""
            while True:
                read = handle.read(BLOCK)
                data = carry + read if carry else read
                if not read:
                    if data:
                        self._lines(data, n, offset, block, reject)
                    return
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    carry = data
                    continue
                chunk, carry = data[:cut], data[cut:]
                self._lines(chunk, n, offset, block, reject)
                n += chunk.count(b"\n")
                offset += cut

    def _lines(self, chunk: bytes, n: int, offset: int, block: _Block, reject: Reject) -> None:
        """The records of ``chunk``, the lines from line ``n`` at byte ``offset``."""
        if block.plain(chunk, n):
            return
        ended = chunk.endswith(b"\n")
        try:
            texts = chunk.decode("utf-8").split("\n")
            if ended:
                texts.pop()
            # A quote left open on the last line would swallow the empty line after it.
            rows = list(csv.reader(chain(texts, ("",))))
            whole = len(rows) == len(texts) + 1 and not rows[-1]
        except (UnicodeDecodeError, csv.Error):
            whole = False
        if whole:
            rows.pop()
            block.add(range(n, n + len(texts)), rows)
            return
        end = n + chunk.count(b"\n") + (0 if ended else 1)
        before = len(block.rejected)
        self._slowly(self._records(_CsvLines(self.path, offset, n), reject), end, block)
        # What the reader found past the chunk is the next chunk's to find.
        block.rejected[before:] = [item for item in block.rejected[before:] if item[0] < end]

    def _slowly(
        self, records: Iterator[tuple[int, list[str]]], end: int | None, block: _Block
    ) -> None:
        """Hand on the records of ``records`` (the line-by-line reader) that
        start before line ``end`` (all: ``None``), a block at a time."""
        numbers: list[int] = []
        rows: list[list[str]] = []
        for n, cells in records:
            if end is not None and n >= end:
                break
            numbers.append(n)
            rows.append(cells)
            if len(rows) >= 50_000:
                block.add(numbers, rows)
                numbers, rows = [], []
        block.add(numbers, rows)

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
