"""Sources: where canonical rows come from, and the conventions every row follows.

A source reads rows and hands them to a :class:`RowSink` (the loader's data set
builder, :class:`hub.sources.loading.DatasetBuilder`), which validates them: a row is
either accepted into the data set or quarantined with a reason and a location.

Row conventions (the same for CSV, JSON Lines and SQL; Segment calls are
translated into them, see :mod:`hub.sources.segment`):

- **users**: ``user_id`` (required), ``email`` (optional; when present it must
  look like an e-mail address), every other column is a trait.
- **accounts**: ``account_id`` (required), ``name``, ``domain``, ``stage``,
  every other column is a trait.
- **memberships**: ``user_id``, ``account_id``, ``role`` (all required), every
  other column is a relationship property.
- **events**: ``event`` and ``timestamp`` (required; ISO 8601, a naive time is
  UTC, stored as a tz-aware UTC datetime), ``user_id`` and/or ``account_id``
  (at least one), every other column is an event property.

Values:

- CSV cells are strings. An empty cell is absent (the key is left out). Other
  cells are typed: ``true`` / ``false`` (any case) become booleans, integers
  (``0``, ``-12``, ``+7``; a number with a leading zero such as ``007`` stays a
  string) become ``int``, decimals (``1.5``, ``.5``, ``2e3``) become ``float``
  (one too large for a float, ``1e999``, stays a string), everything else
  stays a string. Ids, ``email``, ``name``, ``domain``,
  ``stage``, ``role``, ``event`` and ``timestamp`` are never converted.
- JSON Lines and SQL values keep their types; ``null`` / ``NULL`` is absent.
  JSON is parsed strictly (:mod:`hub.sources.lines`); a SQL row holding a
  ``NaN`` or infinite float is quarantined.
  A nested ``traits`` (users, accounts) or ``properties`` (memberships, events)
  object is merged over the flat columns (the nested value wins); it may also
  hold ``email`` / ``name`` / ``domain`` / ``stage`` / ``role``. SQL datetimes
  become tz-aware UTC (a naive one is taken as UTC).
- An integer id (JSON, SQL) is turned into its decimal string.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any, Protocol

from hub.config.settings import Table
from hub.errors import Problem

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "EMAIL_PATTERN",
    "REQUIRED_COLUMNS",
    "Inferrer",
    "Origin",
    "RowSink",
    "Source",
    "SourceError",
    "arange",
    "feed_mapping",
    "infer",
    "normalize",
    "one_array",
    "parse_timestamp",
]

#: What an e-mail address must look like.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

#: Columns a table file or query must have (events need one of user_id / account_id too).
REQUIRED_COLUMNS: dict[Table, tuple[str, ...]] = {
    Table.USERS: ("user_id",),
    Table.ACCOUNTS: ("account_id",),
    Table.MEMBERSHIPS: ("user_id", "account_id", "role"),
    Table.EVENTS: ("event", "timestamp"),
}

#: The reserved (never converted) columns of each table; the rest are traits/properties.
RESERVED_COLUMNS: dict[Table, tuple[str, ...]] = {
    Table.USERS: ("user_id", "email"),
    Table.ACCOUNTS: ("account_id", "name", "domain", "stage"),
    Table.MEMBERSHIPS: ("user_id", "account_id", "role"),
    Table.EVENTS: ("event", "timestamp", "user_id", "account_id"),
}

#: The nested object merged into the other columns, per table.
NESTED_KEY: dict[Table, str] = {
    Table.USERS: "traits",
    Table.ACCOUNTS: "traits",
    Table.MEMBERSHIPS: "properties",
    Table.EVENTS: "properties",
}


def missing_columns(table: Table, columns: list[str]) -> list[str]:
    """The required columns of ``table`` that ``columns`` lacks."""
    missing = [name for name in REQUIRED_COLUMNS[table] if name not in columns]
    if table is Table.EVENTS and "user_id" not in columns and "account_id" not in columns:
        missing.append("user_id or account_id")
    return missing


class SourceError(Exception):
    """A source that cannot be read at all (a missing file, a failing query)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a run of rows comes from: one file, or one query of a SQL source.

    ``label`` is the path as written in ``hub.toml`` for a file, or the table
    name of the query for SQL.
    """

    source: str
    label: str
    sql: bool = False
    #: A typed table (a Parquet file): its schema gives the columns once, and its
    #: floats are checked like a query's.
    columnar: bool = False
    #: An event stream (Segment): its identify and group calls *update* users,
    #: accounts and memberships that table sources hold, instead of duplicating them.
    updates: bool = False
    #: Its rows are digested as they are read (CSV); the load digests the others
    #: (:mod:`hub.sources.digests`).
    digested: bool = False

    def at(self, n: int) -> str:
        """The location of row (SQL, 1-based) or physical line (file) ``n``."""
        if self.sql:
            return f"source {self.source}, query {self.label}, row {n}"
        if self.columnar:
            return f"{self.label} row {n}"
        return f"{self.label}:{n}"


class RowSink(Protocol):
    """What sources hand their rows to; it validates them (see :mod:`hub.sources.loading`).

    Values are passed as read (``object``): the sink checks their types.
    """

    def user(
        self, origin: Origin, n: int, user_id: object, email: object, traits: dict[str, Any]
    ) -> None: ...

    def account(
        self,
        origin: Origin,
        n: int,
        account_id: object,
        name: object,
        domain: object,
        stage: object,
        traits: dict[str, Any],
    ) -> None: ...

    def membership(
        self,
        origin: Origin,
        n: int,
        user_id: object,
        account_id: object,
        role: object,
        properties: dict[str, Any],
    ) -> None: ...

    def event(
        self,
        origin: Origin,
        n: int,
        event: object,
        timestamp: object,
        user_id: object,
        account_id: object,
        properties: dict[str, Any],
    ) -> None: ...

    def reject(
        self, origin: Origin, n: int, table: str, reason: str, record_id: str | None = None
    ) -> None:
        """Quarantine a row the source itself could not make sense of."""
        ...

    def columns(self, table: Table, names: Iterable[str]) -> None:
        """The attribute names a source holds for ``table`` (a CSV header, the
        keys JSON rows carry, a query's result columns): what mappings may read.
        Called as they become known, possibly many times."""
        ...


class Source(Protocol):
    """One configured source."""

    name: str
    #: True for event streams whose calls update records other sources hold.
    updates: bool

    def check(self) -> list[Problem]:
        """Whatever makes the source unreadable, found without reading its rows."""
        ...

    def feed(self, table: Table, sink: RowSink) -> None:
        """Hand the rows of ``table`` to ``sink``; raise :class:`SourceError` when unreadable."""
        ...

    def close(self) -> None: ...


_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?=[eE]))(?:[eE][+-]?[0-9]+)?")
_NUMERIC_START = frozenset("0123456789+-.")


def infer(text: str) -> Any:
    """The typed value of a non-empty CSV cell (see the module docstring)."""
    first = text[0]
    if first in _NUMERIC_START:
        digits = text[1:] if first == "+" or first == "-" else text
        if digits.isdigit() and digits.isascii() and (digits[0] != "0" or len(digits) == 1):
            return int(text)
        if _DECIMAL.fullmatch(text):
            value = float(text)
            # 1e999 is no number JSON can carry: the cell stays the text it is.
            return value if value - value == 0.0 else text
        return text
    size = len(text)
    if size == 4 or size == 5:
        lower = text.lower()
        if lower == "true":
            return True
        if lower == "false":
            return False
    return text


class Inferrer:
    """:func:`infer` with a bounded memo: repeated cells (plans, dates, small
    numbers) are typed once and share one value object."""

    __slots__ = ("limit", "memo")

    def __init__(self, limit: int = 200_000) -> None:
        self.memo: dict[str, Any] = {}
        self.limit = limit

    def __call__(self, text: str) -> Any:
        value = self.memo.get(text)
        if value is None:
            value = infer(text)
            if len(self.memo) < self.limit:
                self.memo[text] = value
        return value


def parse_timestamp(value: object) -> datetime | None:
    """``value`` as a tz-aware UTC datetime, ``None`` when it is not an ISO 8601 time.

    A naive time is UTC; a date alone is midnight UTC.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    return None


def normalize(value: Any) -> Any:
    """A database value as the data set keeps it: datetimes become tz-aware UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    return value


def feed_mapping(
    sink: RowSink, table: Table, origin: Origin, n: int, row: Mapping[str, Any]
) -> None:
    """Hand one JSON Lines or SQL row (column -> value) to ``sink``.

    ``None`` values are absent; the nested ``traits`` / ``properties`` object is
    merged over the flat columns.
    """
    reserved = RESERVED_COLUMNS[table]
    nested_key = NESTED_KEY[table]
    extra: dict[str, Any] = {}
    nested: object = None
    typed = origin.sql or origin.columnar
    if not typed:  # a query's (or a Parquet file's) columns are given once
        sink.columns(table, row)
        inner = row.get(nested_key)
        if isinstance(inner, Mapping):
            sink.columns(table, inner)
    if typed:
        for key, value in row.items():
            if isinstance(value, float) and value - value != 0.0:
                reason = f"column {key} is {value!r}, which JSON cannot carry"
                sink.reject(origin, n, table, reason, _record_id(table, row))
                return
    for key, value in row.items():
        if value is None or key in reserved:
            continue
        if key == nested_key:
            nested = value
        else:
            extra[key] = value
    if nested is not None:
        if not isinstance(nested, Mapping):
            record_id = _record_id(table, row)
            sink.reject(origin, n, table, f"{nested_key} must be an object", record_id)
            return
        for key, value in nested.items():
            if value is None:
                extra.pop(key, None)
            else:
                extra[key] = value

    def pick(name: str) -> object:
        value = row.get(name)
        if value is None:
            return extra.pop(name, None)
        return value

    if table is Table.USERS:
        sink.user(origin, n, row.get("user_id"), pick("email"), extra)
    elif table is Table.ACCOUNTS:
        sink.account(
            origin, n, row.get("account_id"), pick("name"), pick("domain"), pick("stage"), extra
        )
    elif table is Table.MEMBERSHIPS:
        sink.membership(origin, n, row.get("user_id"), row.get("account_id"), pick("role"), extra)
    else:
        sink.event(
            origin,
            n,
            row.get("event"),
            row.get("timestamp"),
            row.get("user_id"),
            row.get("account_id"),
            extra,
        )


def _record_id(table: Table, row: Mapping[str, Any]) -> str | None:
    if table is Table.MEMBERSHIPS:
        user, account = row.get("user_id"), row.get("account_id")
        if isinstance(user, str) and isinstance(account, str):
            return f"{user}:{account}"
        return None
    if table is Table.ACCOUNTS:
        value = row.get("account_id")
    elif table is Table.EVENTS:
        value = row.get("event")
    else:
        value = row.get("user_id")
    return value if isinstance(value, str) and value else None


def intern(value: str) -> str:
    """``sys.intern``, for strings repeated on many rows (roles, stages, keys)."""
    return sys.intern(value)


def arange(start: int, stop: int) -> pa.Array:
    """``start, start + 1, ..., stop - 1`` as an Arrow ``int64`` array, made in
    C (``pa.array(range(...))`` walks a Python range: a third of a second for
    three million rows). Arrow older than ``pa.arange`` takes the running sum
    of ones."""
    import pyarrow as pa
    import pyarrow.compute as pc

    count = max(0, stop - start)
    make = getattr(pa, "arange", None)
    if make is not None:
        return make(start, start + count)
    if count == 0:
        return pa.array([], pa.int64())
    ones = pa.repeat(pa.scalar(1, pa.int64()), count)
    return pc.add(pc.cumulative_sum(ones), start - 1)


def one_array(column: pa.ChunkedArray) -> pa.Array:
    """``column`` as one Arrow array: its only chunk as it is (not copied), or
    its chunks end to end."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
