"""The columnar load: CSV sources read into Arrow columns and validated by
queries, the data set kept as a :class:`Frame` of interned value ids.

It applies the rules of :mod:`hub.sources.loading` (the same rows accepted,
the same quarantine reasons, locations and order, the same entity digests,
the same orders of users, accounts, memberships and events) without making a
Python object per row:

- each file is read by :meth:`hub.sources.tables.CsvSource.read_columns`
  (cells as text columns, the CSV layer's own rejects with their lines);
- the rules are one query per table (:data:`_USERS`, :data:`_ACCOUNTS`,
  :data:`_MEMBERSHIPS`, :data:`_EVENTS`) over those columns: a verdict code per
  row and, for the duplicates, the first occurrence's line; the reasons are
  written for the rejected rows alone;
- each accepted cell is typed once per distinct text in its column
  (:class:`hub.sources.Inferrer`) and kept as the id of its value
  (:class:`hub.engine.values.Values`), which is what the engine's tables hold.

:meth:`Frame.dataset` builds the :class:`~hub.model.Dataset` of the same rows,
for what still reads one (playbooks, ``hub inspect``), equal to the one
:func:`hub.sources.loading.load` builds from the same sources.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from hub.config.settings import Table
from hub.engine.values import NULL, Values
from hub.model import EMPTY, Account, Dataset, Event, Membership, User
from hub.quarantine import Quarantine
from hub.sources import (
    EMAIL_PATTERN,
    RESERVED_COLUMNS,
    Inferrer,
    Origin,
    arange,
    parse_timestamp,
)
from hub.sources.tables import CsvColumns

__all__ = ["Frame", "FrameTable", "Part", "build_frame"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_MICROS = timedelta(microseconds=1)


@dataclass(slots=True)
class Part:
    """One CSV file of one table, read (:meth:`~hub.sources.tables.CsvSource.read_columns`)."""

    origin: Origin
    table: Table
    read: CsvColumns

    def text(self, name: str) -> pa.Array:
        """The text column ``name`` (``""`` throughout when the header lacks it)."""
        header = self.read.header
        if name in header:
            return self.read.cells[header.index(name)]
        return pa.repeat(pa.scalar("", pa.string()), len(self.read.lines))

    @property
    def extra(self) -> list[str]:
        """The columns that are attributes of their own (traits, properties),
        in header order."""
        reserved = RESERVED_COLUMNS[self.table]
        return [name for name in self.read.header if name and name not in reserved]


class FrameTable:
    """One table of a frame: its rows' keys, and each attribute's cells,
    typed into value ids when first asked for (:meth:`column`)."""

    __slots__ = ("_ids", "_infer", "_texts", "_values", "extras", "keys", "part")

    def __init__(
        self,
        keys: dict[str, pa.Array],
        texts: dict[str, tuple[pa.Array, bool]],
        part: pa.Array,
        extras: list[list[str]],
        values: Values,
        infer: Inferrer,
    ) -> None:
        #: Key columns (text): ``user_id``; ``account_id``; ``user_id`` and
        #: ``account_id``; an event's ``event``, ``user_id`` and ``account_id``
        #: (null where absent) and ``t`` (microseconds since the epoch, UTC).
        self.keys = keys
        #: Which part each row came from, and each part's extra columns in
        #: header order (the order of a record's traits or properties).
        self.part = part
        self.extras = extras
        self._texts = texts
        self._values = values
        self._infer = infer
        self._ids: dict[str, pa.Array] = {}

    def __len__(self) -> int:
        return len(self.part)

    @property
    def names(self) -> list[str]:
        """The attributes the table's sources hold (keys aside)."""
        return list(self._texts)

    def column(self, name: str) -> pa.Array:
        """The value ids of attribute ``name`` (``0`` where absent; every row's
        when no source holds it), typed once per distinct text and kept."""
        found = self._ids.get(name)
        if found is not None:
            return found
        text = self._texts.get(name)
        if text is not None:
            cells, infer = text
            found = _typed(cells, self._values, self._infer if infer else None)
        elif name in self.keys and name != "t":
            found = self._values.ids(self.keys[name].to_pylist())
        else:
            found = pa.repeat(pa.scalar(NULL, pa.int64()), len(self))
        self._ids[name] = found
        return found

    def select(self, mask: pa.Array) -> FrameTable:
        """The rows where ``mask`` is true, in their order (the typed columns kept)."""
        chosen = FrameTable(
            {name: column.filter(mask) for name, column in self.keys.items()},
            {name: (cells.filter(mask), infer) for name, (cells, infer) in self._texts.items()},
            self.part.filter(mask),
            self.extras,
            self._values,
            self._infer,
        )
        chosen._ids = {name: ids.filter(mask) for name, ids in self._ids.items()}
        return chosen

    def order(self, indices: pa.Array) -> None:
        """Put the rows in the order of ``indices``."""
        self.keys = {name: pc.take(column, indices) for name, column in self.keys.items()}
        self._texts = {
            name: (pc.take(cells, indices), infer) for name, (cells, infer) in self._texts.items()
        }
        self._ids = {name: pc.take(ids, indices) for name, ids in self._ids.items()}
        self.part = pc.take(self.part, indices)


@dataclass(slots=True)
class Frame:
    """A loaded data set as columns (see the module doc)."""

    values: Values
    users: FrameTable
    accounts: FrameTable
    memberships: FrameTable
    events: FrameTable
    _dataset: Dataset | None = field(default=None, repr=False)

    def counts(self) -> dict[str, int]:
        return {
            Table.USERS.value: len(self.users),
            Table.ACCOUNTS.value: len(self.accounts),
            Table.MEMBERSHIPS.value: len(self.memberships),
            Table.EVENTS.value: len(self.events),
        }

    def neighbourhood(self, users: set[str], accounts: set[str]) -> Frame:
        """The part of the frame :func:`hub.sync.delta.neighbourhood` takes of
        a data set: ``users`` and ``accounts``, every membership of either, the
        users and accounts at the other end of those, those an event ties to
        any of these, every event naming any of them; orders kept."""
        members = self.memberships
        user_set = pa.array(sorted(users), pa.string())
        account_set = pa.array(sorted(accounts), pa.string())
        mask = pc.or_(
            pc.is_in(members.keys["user_id"], value_set=user_set),
            pc.is_in(members.keys["account_id"], value_set=account_set),
        )
        memberships = members.select(mask)
        user_ids = pa.concat_arrays([user_set, memberships.keys["user_id"]]).unique()
        account_ids = pa.concat_arrays([account_set, memberships.keys["account_id"]]).unique()
        happened = self.events
        # Whoever an event ties to them, member or not (see hub.sync.delta.neighbourhood).
        event_users, event_accounts = happened.keys["user_id"], happened.keys["account_id"]
        tied_users = event_users.filter(
            pc.fill_null(pc.is_in(event_accounts, value_set=account_ids), False)
        ).drop_null()
        tied_accounts = event_accounts.filter(
            pc.fill_null(pc.is_in(event_users, value_set=user_ids), False)
        ).drop_null()
        user_ids = pa.concat_arrays([user_ids, tied_users]).unique()
        account_ids = pa.concat_arrays([account_ids, tied_accounts]).unique()
        named = pc.or_kleene(
            pc.is_in(event_users, value_set=user_ids),
            pc.is_in(event_accounts, value_set=account_ids),
        )
        return Frame(
            self.values,
            self.users.select(pc.is_in(self.users.keys["user_id"], value_set=user_ids)),
            self.accounts.select(pc.is_in(self.accounts.keys["account_id"], value_set=account_ids)),
            memberships,
            happened.select(pc.fill_null(named, False)),
        )

    def dataset(self) -> Dataset:
        """The same rows as a :class:`~hub.model.Dataset` (built on first call)."""
        if self._dataset is None:
            self._dataset = _dataset(self)
        return self._dataset


# -- the rules, as queries ---------------------------------------------------------------

#: Users: 1 missing user_id, 2 malformed email; then the first of each id is
#: accepted (``k = 1``), the rest are duplicates of the first.
_USERS = """
WITH checked AS (
    SELECT *, CASE WHEN id = '' THEN 1 WHEN email <> '' AND NOT ok THEN 2 ELSE 0 END AS bad
    FROM raw
)
SELECT part, row, line, bad,
    CASE WHEN bad = 0 THEN row_number() OVER w END AS k,
    first_value(line) OVER w AS first_line, first_value(part) OVER w AS first_part
FROM checked
WINDOW w AS (PARTITION BY id, bad = 0 ORDER BY part, row)
"""

#: Accounts: 1 missing account_id; then duplicates as for users.
_ACCOUNTS = """
WITH checked AS (SELECT *, CASE WHEN id = '' THEN 1 ELSE 0 END AS bad FROM raw)
SELECT part, row, line, bad,
    CASE WHEN bad = 0 THEN row_number() OVER w END AS k,
    first_value(line) OVER w AS first_line, first_value(part) OVER w AS first_part
FROM checked
WINDOW w AS (PARTITION BY id, bad = 0 ORDER BY part, row)
"""

#: Memberships: 1 missing user_id, 2 missing account_id, 3 missing role,
#: 4 unknown user, 5 unknown account; then duplicate pairs.
_MEMBERSHIPS = """
WITH checked AS (
    SELECT r.*, CASE
        WHEN r.uid = '' THEN 1 WHEN r.aid = '' THEN 2 WHEN r.role = '' THEN 3
        WHEN u.id IS NULL THEN 4 WHEN a.id IS NULL THEN 5 ELSE 0 END AS bad
    FROM raw r
    LEFT JOIN user_ids u ON u.id = r.uid
    LEFT JOIN account_ids a ON a.id = r.aid
)
SELECT part, row, line, bad,
    CASE WHEN bad = 0 THEN row_number() OVER w END AS k,
    first_value(line) OVER w AS first_line, first_value(part) OVER w AS first_part
FROM checked
WINDOW w AS (PARTITION BY uid, aid, bad = 0 ORDER BY part, row)
"""

#: Events: 1 missing event, 2 missing timestamp, 3 bad timestamp, 4 neither
#: user_id nor account_id, 5 unknown user, 6 unknown account.
_EVENTS = """
SELECT r.part, r.row, r.line, CASE
    WHEN r.event = '' THEN 1 WHEN r.ts = '' THEN 2 WHEN r.t IS NULL THEN 3
    WHEN r.uid = '' AND r.aid = '' THEN 4
    WHEN r.uid <> '' AND u.id IS NULL THEN 5
    WHEN r.aid <> '' AND a.id IS NULL THEN 6 ELSE 0 END AS bad,
    1 AS k, NULL AS first_line, NULL AS first_part
FROM raw r
LEFT JOIN user_ids u ON u.id = r.uid
LEFT JOIN account_ids a ON a.id = r.aid
"""


def _raw(parts: list[Part], columns: dict[str, list[pa.Array]]) -> pa.Table:
    """The rows of ``parts`` as one table: ``part``, ``row``, ``line``, and
    ``columns`` (one array per part each)."""
    data: dict[str, pa.Array] = {
        "part": _concat(
            [pa.repeat(pa.scalar(i, pa.int32()), len(p.read.lines)) for i, p in enumerate(parts)],
            pa.int32(),
        ),
        "row": _concat([arange(0, len(p.read.lines)) for p in parts]),
        "line": _concat([p.read.lines for p in parts]),
    }
    for name, given in columns.items():
        types = {"ok": pa.bool_(), "t": pa.int64()}
        data[name] = _concat(given, types.get(name, pa.string()))
    return pa.table(data)


def _concat(arrays: list[pa.Array], type_: pa.DataType | None = None) -> pa.Array:
    """``arrays`` end to end (an empty array of ``type_``, default int64, for none)."""
    if not arrays:
        return pa.array([], type_ or pa.int64())
    if len(arrays) == 1:
        return arrays[0]
    return pa.concat_arrays(arrays)


def _rows(column: pa.Array, rows: pa.Array) -> pa.Array:
    """``column``'s ``rows`` (sorted, distinct): the column itself, not a copy,
    when they are all of its rows."""
    if len(rows) == len(column):
        return column
    return pc.take(column, rows)


def _ids_table(ids: pa.Array) -> pa.Table:
    return pa.table({"id": ids})


@dataclass(slots=True)
class _Verdicts:
    """One table's rule query, run: the accepted rows and the rejected ones."""

    #: Per part (in the parts' order), the rows accepted, in row order.
    accepted: list[pa.Array]
    #: (part, row, line, code, first line, first part) of each rejected row.
    rejected: list[tuple[int, int, int, int, int | None, int | None]]


def _in_order(rows: pa.ChunkedArray) -> pa.Array:
    """``rows`` sorted, as one array (left as they are when already sorted)."""
    combined = rows.combine_chunks()
    if len(combined) < 2 or pc.all(pc.greater_equal(combined[1:], combined[:-1])).as_py():
        return combined
    return pc.take(combined, pc.sort_indices(combined))


def _verdicts(
    connection: duckdb.DuckDBPyConnection,
    query: str,
    raw: pa.Table,
    parts: int,
    users: FrameTable | None = None,
    accounts: FrameTable | None = None,
) -> _Verdicts:
    """Run a table's rule ``query`` over ``raw``, the ids of the accepted
    ``users`` and ``accounts`` (when given) as ``user_ids(id)`` and ``account_ids(id)``."""
    given = {"raw": raw}
    if users is not None:
        given["user_ids"] = _ids_table(users.keys["user_id"])
    if accounts is not None:
        given["account_ids"] = _ids_table(accounts.keys["account_id"])
    for name, table in given.items():
        connection.register(name, table)
    try:
        result = connection.sql(query).to_arrow_table()
    finally:
        for name in given:
            connection.unregister(name)
    # Only the accepted rows' numbers are needed: filter that column alone, by
    # part when there are several (filtering the whole table by part cost
    # more than the rule query's own sorting at 3M memberships).
    good = pc.and_kleene(pc.equal(result["bad"], 0), pc.equal(result["k"], 1))
    rows = pc.filter(result["row"], good)
    part_of = pc.filter(result["part"], good) if parts > 1 else None
    accepted = [
        _in_order(rows if part_of is None else pc.filter(rows, pc.equal(part_of, i)))
        for i in range(parts)
    ]
    bad = result.filter(pc.invert(good))  # Kleene: not (a and b) is (not a) or (not b)
    rejected = list(
        zip(
            bad["part"].to_pylist(),
            bad["row"].to_pylist(),
            bad["line"].to_pylist(),
            bad["bad"].to_pylist(),
            bad["first_line"].to_pylist(),
            bad["first_part"].to_pylist(),
            strict=True,
        )
    )
    return _Verdicts(accepted, rejected)


def _typed(column: pa.Array, values: Values, infer: Inferrer | None) -> pa.Array:
    """The value ids of a text column: ``""`` absent, each other text typed by
    ``infer`` (kept as text without), once per distinct text."""
    encoded = column.dictionary_encode()
    ids: list[int] = []
    one = values.id
    for text in encoded.dictionary.to_pylist():
        if not text:
            ids.append(NULL)
        else:
            ids.append(one(text if infer is None else infer(text)))
    return pc.fill_null(pc.take(pa.array(ids, pa.int64()), encoded.indices), NULL)


class _Builder:
    """Builds a :class:`Frame` from the parts of each table (see :func:`build_frame`)."""

    def __init__(self, quarantine: Quarantine) -> None:
        self.quarantine = quarantine
        self.values = Values()
        self.infer = Inferrer()
        self.connection = duckdb.connect()
        self.connection.execute("SET enable_progress_bar = false")
        #: (table, part index in its table, line) -> (record id, reason) of
        #: every row rejected, to be written in the order the rows were read.
        self.rejects: dict[tuple[Table, int], list[tuple[int, str, str | None]]] = {}

    def close(self) -> None:
        self.connection.close()

    def reject(
        self, table: Table, part: int, line: int, reason: str, record_id: str | None
    ) -> None:
        self.rejects.setdefault((table, part), []).append((line, reason, record_id))

    def _accept(
        self,
        table: Table,
        parts: list[Part],
        order: list[int],
        verdicts: _Verdicts,
        keys: dict[str, str],
        texts: tuple[str, ...],
    ) -> FrameTable:
        """The accepted rows, the parts in ``order``: ``keys`` (frame key ->
        column) as text, ``texts`` kept as text values, the extras typed."""
        taken: list[tuple[int, Part, pa.Array]] = [
            (i, parts[i], verdicts.accepted[i]) for i in order
        ]
        key_columns = {
            key: _concat([_rows(part.text(column), rows) for _, part, rows in taken], pa.string())
            for key, column in keys.items()
        }
        names = list(texts)
        for part in parts:
            names.extend(name for name in part.extra if name not in names)
        cells: dict[str, tuple[pa.Array, bool]] = {}
        for name in names:
            cells[name] = (
                _concat([_rows(part.text(name), rows) for _, part, rows in taken], pa.string()),
                name not in texts,
            )
        part_of = _concat(
            [pa.repeat(pa.scalar(i, pa.int32()), len(rows)) for i, _, rows in taken], pa.int32()
        )
        return FrameTable(
            key_columns, cells, part_of, [p.extra for p in parts], self.values, self.infer
        )

    def users(self, parts: list[Part]) -> FrameTable:
        emails = [p.text("email") for p in parts]
        ok = [
            pa.array([not e or bool(EMAIL_PATTERN.match(e)) for e in col.to_pylist()], pa.bool_())
            for col in emails
        ]
        raw = _raw(parts, {"id": [p.text("user_id") for p in parts], "email": emails, "ok": ok})
        verdicts = _verdicts(self.connection, _USERS, raw, len(parts))
        email_text = raw["email"]
        for part, row, line, code, first_line, first_part in verdicts.rejected:
            index = _flat(parts, part, row)
            uid = raw["id"][index].as_py()
            if code == 1:
                self.reject(Table.USERS, part, line, "missing user_id", None)
            elif code == 2:
                self.reject(
                    Table.USERS, part, line, f"malformed email {email_text[index].as_py()!r}", uid
                )
            else:
                first = _first_seen(parts, first_part, first_line)
                reason = f"duplicate user_id {uid}, first seen at {first}"
                self.reject(Table.USERS, part, line, reason, uid)
        return self._accept(
            Table.USERS, parts, _by_name(parts), verdicts, {"user_id": "user_id"}, ("email",)
        )

    def accounts(self, parts: list[Part]) -> FrameTable:
        raw = _raw(parts, {"id": [p.text("account_id") for p in parts]})
        verdicts = _verdicts(self.connection, _ACCOUNTS, raw, len(parts))
        for part, row, line, code, first_line, first_part in verdicts.rejected:
            if code == 1:
                self.reject(Table.ACCOUNTS, part, line, "missing account_id", None)
                continue
            aid = raw["id"][_flat(parts, part, row)].as_py()
            first = _first_seen(parts, first_part, first_line)
            reason = f"duplicate account_id {aid}, first seen at {first}"
            self.reject(Table.ACCOUNTS, part, line, reason, aid)
        return self._accept(
            Table.ACCOUNTS,
            parts,
            _by_name(parts),
            verdicts,
            {"account_id": "account_id"},
            ("name", "domain", "stage"),
        )

    def memberships(self, parts: list[Part], users: FrameTable, accounts: FrameTable) -> FrameTable:
        raw = _raw(
            parts,
            {
                "uid": [p.text("user_id") for p in parts],
                "aid": [p.text("account_id") for p in parts],
                "role": [p.text("role") for p in parts],
            },
        )
        verdicts = _verdicts(self.connection, _MEMBERSHIPS, raw, len(parts), users, accounts)
        for part, row, line, code, first_line, first_part in verdicts.rejected:
            index = _flat(parts, part, row)
            uid, aid = raw["uid"][index].as_py(), raw["aid"][index].as_py()
            record_id = f"{uid}:{aid}"
            if code == 1:
                self.reject(Table.MEMBERSHIPS, part, line, "missing user_id", None)
            elif code == 2:
                self.reject(Table.MEMBERSHIPS, part, line, "missing account_id", None)
            elif code == 3:
                self.reject(Table.MEMBERSHIPS, part, line, "missing role", record_id)
            elif code == 4:
                self.reject(Table.MEMBERSHIPS, part, line, f"unknown user {uid}", record_id)
            elif code == 5:
                self.reject(Table.MEMBERSHIPS, part, line, f"unknown account {aid}", record_id)
            else:
                first = _first_seen(parts, first_part, first_line)
                reason = f"duplicate membership {uid}/{aid}, first seen at {first}"
                self.reject(Table.MEMBERSHIPS, part, line, reason, record_id)
        return self._accept(
            Table.MEMBERSHIPS,
            parts,
            _by_name(parts),
            verdicts,
            {"user_id": "user_id", "account_id": "account_id"},
            ("role",),
        )

    def events(self, parts: list[Part], users: FrameTable, accounts: FrameTable) -> FrameTable:
        stamps = [p.text("timestamp") for p in parts]
        micros = []
        for column in stamps:
            encoded = column.dictionary_encode()
            parsed = []
            for text in encoded.dictionary.to_pylist():
                when = parse_timestamp(text) if text else None
                parsed.append(None if when is None else (when - _EPOCH) // _EPOCH_MICROS)
            micros.append(pc.take(pa.array(parsed, pa.int64()), encoded.indices))
        raw = _raw(
            parts,
            {
                "event": [p.text("event") for p in parts],
                "ts": stamps,
                "t": micros,
                "uid": [p.text("user_id") for p in parts],
                "aid": [p.text("account_id") for p in parts],
            },
        )
        verdicts = _verdicts(self.connection, _EVENTS, raw, len(parts), users, accounts)
        for part, row, line, code, _, _ in verdicts.rejected:
            index = _flat(parts, part, row)
            name = raw["event"][index].as_py() or None
            if code == 1:
                self.reject(Table.EVENTS, part, line, "missing event", None)
            elif code == 2:
                self.reject(Table.EVENTS, part, line, "missing timestamp", name)
            elif code == 3:
                reason = f"bad timestamp {raw['ts'][index].as_py()!r}"
                self.reject(Table.EVENTS, part, line, reason, name)
            elif code == 4:
                reason = "event has neither user_id nor account_id"
                self.reject(Table.EVENTS, part, line, reason, name)
            elif code == 5:
                reason = f"unknown user {raw['uid'][index].as_py()}"
                self.reject(Table.EVENTS, part, line, reason, name)
            else:
                reason = f"unknown account {raw['aid'][index].as_py()}"
                self.reject(Table.EVENTS, part, line, reason, name)
        # Read order (the parts' own), then sorted by (time, user, account, name).
        table = self._accept(
            Table.EVENTS,
            parts,
            list(range(len(parts))),
            verdicts,
            {"event": "event", "user_id": "user_id", "account_id": "account_id"},
            ("event",),
        )
        t = _concat([pc.take(micros[i], verdicts.accepted[i]) for i in range(len(parts))])
        sortable = pa.table(
            {
                "t": t,
                "u": table.keys["user_id"],
                "a": table.keys["account_id"],
                "n": table.keys["event"],
                "seq": arange(0, len(t)),
            }
        )
        order = pc.sort_indices(
            sortable,
            sort_keys=[(name, "ascending") for name in ("t", "u", "a", "n", "seq")],
        )
        table.keys["t"] = t
        table.order(order)
        for name in ("user_id", "account_id"):
            column = table.keys[name]
            table.keys[name] = pc.if_else(pc.equal(column, ""), None, column)
        return table


def _first_seen(parts: list[Part], part: int | None, line: int | None) -> str:
    """Where the first occurrence of a duplicate is."""
    assert part is not None and line is not None  # every duplicate has a first
    return parts[part].origin.at(line)


def _flat(parts: list[Part], part: int, row: int) -> int:
    """The index in the concatenated rows of ``parts`` of row ``row`` of ``part``."""
    return sum(len(p.read.lines) for p in parts[:part]) + row


def _by_name(parts: list[Part]) -> list[int]:
    """The parts in the data set's order: by source name, then file."""
    return sorted(range(len(parts)), key=lambda i: (parts[i].origin.source, parts[i].origin.label))


def build_frame(parts: dict[Table, list[Part]], quarantine: Quarantine) -> Frame:
    """The frame of the CSV files read into ``parts`` (per table, in the
    order the loader reads them), their rejected rows added to ``quarantine``
    in the order :func:`hub.sources.loading.load` adds them."""
    builder = _Builder(quarantine)
    try:
        for table, read in parts.items():
            for i, part in enumerate(read):
                for line, reason in part.read.rejected:
                    builder.reject(table, i, line, reason, None)
        users = builder.users(parts.get(Table.USERS, []))
        accounts = builder.accounts(parts.get(Table.ACCOUNTS, []))
        memberships = builder.memberships(parts.get(Table.MEMBERSHIPS, []), users, accounts)
        events = builder.events(parts.get(Table.EVENTS, []), users, accounts)
    finally:
        builder.close()
    for table in (Table.USERS, Table.ACCOUNTS, Table.MEMBERSHIPS, Table.EVENTS):
        for i, part in enumerate(parts.get(table, [])):
            rows = sorted(builder.rejects.get((table, i), []), key=lambda item: item[0])
            for line, reason, record_id in rows:
                quarantine.add(
                    part.origin.source, table.value, part.origin.at(line), reason, record_id
                )
    return Frame(builder.values, users, accounts, memberships, events)


# -- the data set, when a command needs one -----------------------------------------------


def _attributes(table: FrameTable, values: list[Any]) -> list[dict[str, Any]]:
    """Each row's extra attributes (traits, properties) in its part's header order."""
    columns = {name: table.column(name).to_pylist() for extra in table.extras for name in extra}
    parts = table.part.to_pylist()
    rows: list[dict[str, Any]] = []
    for index, part in enumerate(parts):
        found: dict[str, Any] = {}
        for name in table.extras[part]:
            value_id = columns[name][index]
            if value_id:
                found[name] = values[value_id]
        rows.append(found)
    return rows


def _text_values(table: FrameTable, name: str, values: list[Any]) -> list[Any]:
    return [values[i] for i in table.column(name).to_pylist()]


def _dataset(frame: Frame) -> Dataset:
    values = frame.values.values
    users: dict[str, User] = {}
    table = frame.users
    for user_id, email, traits in zip(
        table.keys["user_id"].to_pylist(),
        _text_values(table, "email", values),
        _attributes(table, values),
        strict=True,
    ):
        users[user_id] = User(user_id, email, traits or EMPTY)
    accounts: dict[str, Account] = {}
    table = frame.accounts
    for account_id, name, domain, stage, traits in zip(
        table.keys["account_id"].to_pylist(),
        _text_values(table, "name", values),
        _text_values(table, "domain", values),
        _text_values(table, "stage", values),
        _attributes(table, values),
        strict=True,
    ):
        stage = None if stage is None else sys.intern(stage)
        accounts[account_id] = Account(account_id, name, domain, stage, traits or EMPTY)
    memberships: dict[tuple[str, str], Membership] = {}
    table = frame.memberships
    for user_id, account_id, role, properties in zip(
        table.keys["user_id"].to_pylist(),
        table.keys["account_id"].to_pylist(),
        _text_values(table, "role", values),
        _attributes(table, values),
        strict=True,
    ):
        memberships[(user_id, account_id)] = Membership(
            user_id, account_id, sys.intern(role), properties or EMPTY
        )
    table = frame.events
    events = [
        Event(sys.intern(name), _EPOCH + t * _EPOCH_MICROS, user_id, account_id, props or EMPTY)
        for name, t, user_id, account_id, props in zip(
            table.keys["event"].to_pylist(),
            table.keys["t"].to_pylist(),
            table.keys["user_id"].to_pylist(),
            table.keys["account_id"].to_pylist(),
            _attributes(table, values),
            strict=True,
        )
    ]
    return Dataset(users=users, accounts=accounts, memberships=memberships, events=events)
