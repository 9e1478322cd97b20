"""Per entity, a digest of the source rows that describe it.

Each row read (before any check: a quarantined row counts too) is added to
the entity its ids name: a user row to its ``user_id``, an
account row to its ``account_id``, a membership row to its ``(user_id,
account_id)`` pair, an event row to its user and to its account. A row's
digest is its CRC-32 and its Adler-32, of a CSV row's cells (each seeded with
the file's header: a renamed column changes every row), or of the ``repr`` of
the values another source (JSON Lines, Parquet, SQL, Segment) hands on. An
entity's digest is the sum of its rows' CRCs and the sum of their Adlers
(so duplicates never cancel out).

Two loads of the same rows give the same digests; a row added, removed or
changed changes the digest of each entity it names. :mod:`hub.sync.delta`
compares them with the last complete run's to find what changed.

The digests are kept as columns (an Arrow table per kind of entity, see
:meth:`RowDigests.table`): at a million users, three million memberships are
three million rows of two ids and two integers, not three million Python
tuples in a dict. Arrow is imported when the first rows are added.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any, Final

from hub.config.settings import Table
from hub.sources import arange, one_array

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["KINDS", "RowDigests", "stack", "unstack"]

_SEPARATOR = "\x1f"
#: The kinds of entity digested; ``memberships`` are keyed by two ids
#: (``k1`` the user's, ``k2`` the account's), the others by one (``k1``).
KINDS: Final = ("users", "accounts", "memberships", "user_events", "account_events")
#: Rows noted one at a time (sources other than CSV) are made columns this many at once.
_BUFFER: Final = 50_000


def _schema() -> pa.Schema:
    """The columns of a kind's digests."""
    import pyarrow as pa

    return pa.schema(
        [("k1", pa.string()), ("k2", pa.string()), ("crc", pa.int64()), ("adler", pa.int64())]
    )


def stack(tables: Mapping[str, pa.Table]) -> pa.Table:
    """Per-kind digest tables (``k1``, ``k2``, ``crc``, ``adler``) as one: a
    ``kind`` column (the kind's name) first, the kinds in :data:`KINDS`
    order. What the digests file and the kept columns of a file hold."""
    import pyarrow as pa

    parts = [
        tables[kind]
        .cast(_schema())
        .add_column(0, "kind", pa.repeat(pa.scalar(kind, pa.string()), tables[kind].num_rows))
        for kind in KINDS
    ]
    return pa.concat_tables(parts).combine_chunks()


def unstack(table: pa.Table) -> dict[str, pa.Table]:
    """:func:`stack`'s inverse: each kind's rows, in their order (rows of no
    kind of :data:`KINDS` left out). Rows in :data:`KINDS` order (as
    :func:`stack` writes them) are taken a slice per kind, others filtered."""
    import pyarrow.compute as pc

    kinds = table["kind"]
    found: dict[str, pa.Table] = {}
    start = 0
    for kind in KINDS:
        count = pc.sum(pc.equal(kinds, kind)).as_py() or 0
        part = table.slice(start, count)
        if count and not pc.all(pc.equal(part["kind"], kind)).as_py():
            found = {kind: table.filter(pc.equal(kinds, kind)) for kind in KINDS}
            break
        found[kind] = part
        start += count
    return {kind: part.drop_columns(["kind"]) for kind, part in found.items()}


def _summed(rows: pa.Table) -> pa.Table:
    """``rows`` summed per entity (``k1``, ``k2``), the entities in the order
    of their first row (so that the same rows give the same table).

    Rows that each name another entity (the common case: one row per user,
    account and membership) are their own sums: when as many distinct hashes
    of the ids as rows are found, the rows are kept as they are (two rows of
    one entity have one hash, so they are never taken for two)."""
    import duckdb

    connection = duckdb.connect()
    try:
        connection.execute("SET enable_progress_bar = false")
        connection.register("found", rows)
        ((distinct,),) = connection.execute(
            "SELECT count(DISTINCT hash(k1, k2)) FROM found"
        ).fetchall()
        if distinct == rows.num_rows:
            return rows.select(["k1", "k2", "crc", "adler"]).cast(_schema())
        connection.register("numbered", rows.append_column("seq", arange(0, rows.num_rows)))
        return connection.sql(
            "SELECT k1, k2, sum(crc)::BIGINT AS crc, sum(adler)::BIGINT AS adler"
            " FROM numbered GROUP BY k1, k2 ORDER BY min(seq)"
        ).to_arrow_table()
    finally:
        connection.close()


class RowDigests:
    """The entity digests of one load (see the module doc)."""

    __slots__ = ("_buffered", "_pieces", "_tables")

    def __init__(self) -> None:
        #: Per kind, (k1, k2, crc, adler) arrays of rows not yet summed.
        self._pieces: dict[str, list[tuple[Any, Any, Any, Any]]] = {kind: [] for kind in KINDS}
        #: Per kind, rows noted one at a time: k1, k2, crc, adler lists.
        self._buffered: dict[str, tuple[list[str], list[str], list[int], list[int]]] = {
            kind: ([], [], [], []) for kind in KINDS
        }
        self._tables: dict[str, pa.Table] | None = None

    # -- adding rows ---------------------------------------------------------------

    def _one(self, kind: str, first: str, second: str, crc: int, adler: int) -> None:
        k1, k2, crcs, adlers = self._buffered[kind]
        k1.append(first)
        k2.append(second)
        crcs.append(crc)
        adlers.append(adler)
        self._tables = None
        if len(k1) >= _BUFFER:
            self._flush(kind)

    def _flush(self, kind: str) -> None:
        k1, k2, crcs, adlers = self._buffered[kind]
        if not k1:
            return
        import pyarrow as pa

        self._pieces[kind].append(
            (
                pa.array(k1, pa.string()),
                pa.array(k2, pa.string()),
                pa.array(crcs, pa.int64()),
                pa.array(adlers, pa.int64()),
            )
        )
        self._buffered[kind] = ([], [], [], [])

    def _row(self, table: Table, user: str, account: str, crc: int, adler: int) -> None:
        if table is Table.USERS:
            if user:
                self._one("users", user, "", crc, adler)
        elif table is Table.ACCOUNTS:
            if account:
                self._one("accounts", account, "", crc, adler)
        elif table is Table.MEMBERSHIPS:
            if user or account:
                self._one("memberships", user, account, crc, adler)
        else:
            if user:
                self._one("user_events", user, "", crc, adler)
            if account:
                self._one("account_events", account, "", crc, adler)

    def note(
        self, table: Table, user: str | None, account: str | None, values: tuple[object, ...]
    ) -> None:
        """Add one row of a source other than CSV: its ids, as the load reads
        them, and every value it holds."""
        data = repr(values).encode("utf-8", "surrogateescape")
        self._row(table, user or "", account or "", zlib.crc32(data), zlib.adler32(data))

    @staticmethod
    def seed(header: Sequence[str]) -> tuple[int, int]:
        """The seeds of a file's row digests: its header's."""
        data = _SEPARATOR.join(header).encode("utf-8", "surrogateescape")
        return zlib.crc32(data), zlib.adler32(data)

    def adder(
        self, table: Table, keys: tuple[int, int, int, int], seed: tuple[int, int]
    ) -> Callable[[Sequence[str]], None]:
        """How a CSV file of ``table`` adds a row (its cells as read), one at a
        time: ``keys`` are the positions of the table's reserved columns (past
        the end: absent), ``seed`` its header's (:meth:`seed`)."""
        join, crc32, adler32 = _SEPARATOR.join, zlib.crc32, zlib.adler32
        crc_seed, adler_seed = seed
        a, b, c, d = keys
        # Where the row's user id and account id are (past the end: none).
        user, account = {
            Table.USERS: (a, 1 << 30),
            Table.ACCOUNTS: (1 << 30, a),
            Table.MEMBERSHIPS: (a, b),
            Table.EVENTS: (c, d),
        }[table]
        row = self._row

        def add(cells: Sequence[str]) -> None:
            data = join(cells).encode("utf-8", "surrogateescape")
            width = len(cells)
            row(
                table,
                cells[user] if user < width else "",
                cells[account] if account < width else "",
                crc32(data, crc_seed),
                adler32(data, adler_seed),
            )

        return add

    def add_rows(
        self,
        table: Table,
        keys: tuple[int, int, int, int],
        seed: tuple[int, int],
        rows: Sequence[Sequence[str]],
    ) -> None:
        """:meth:`adder`'s function applied to each of ``rows`` (none of them
        empty), a block at a time."""
        if not rows:
            return
        joined = map(_SEPARATOR.join, rows)
        data = list(map(str.encode, joined, repeat("utf-8"), repeat("surrogateescape")))
        a, b, c, d = keys
        i, j = (c, d) if table is Table.EVENTS else (a, b)
        first = [row[i] if i < len(row) else "" for row in rows]
        second = [row[j] if j < len(row) else "" for row in rows]
        self.add_joined(table, seed, data, first, second)

    def add_joined(
        self,
        table: Table,
        seed: tuple[int, int],
        data: Sequence[bytes],
        first: Sequence[str] | pa.Array,
        second: Sequence[str] | pa.Array,
    ) -> None:
        """Add rows given as their cells joined (``data``, UTF-8) and the ids
        they name: a user's or account's id in ``first`` (``second`` unread);
        a membership's user and account, an event's user and account, in
        ``first`` and ``second``."""
        import pyarrow as pa
        import pyarrow.compute as pc

        crc_seed, adler_seed = seed
        crc = pa.array(list(map(zlib.crc32, data, repeat(crc_seed))), pa.int64())
        adler = pa.array(list(map(zlib.adler32, data, repeat(adler_seed))), pa.int64())
        k1 = first if isinstance(first, pa.Array) else pa.array(first, pa.string())
        k2 = second if isinstance(second, pa.Array) else pa.array(second, pa.string())
        named1, named2 = pc.not_equal(k1, ""), pc.not_equal(k2, "")
        empty = pa.repeat(pa.scalar("", pa.string()), len(k1))
        if table is Table.USERS or table is Table.ACCOUNTS:
            self._add(table.value, k1, empty, crc, adler, named1)
        elif table is Table.MEMBERSHIPS:
            self._add("memberships", k1, k2, crc, adler, pc.or_(named1, named2))
        else:
            self._add("user_events", k1, empty, crc, adler, named1)
            self._add("account_events", k2, empty, crc, adler, named2)

    def _add(self, kind: str, k1: Any, k2: Any, crc: Any, adler: Any, keep: Any) -> None:
        import pyarrow.compute as pc

        if not pc.all(keep).as_py():
            k1, k2, crc, adler = (column.filter(keep) for column in (k1, k2, crc, adler))
        self._pieces[kind].append((k1, k2, crc, adler))
        self._tables = None

    # -- as rows, to keep (hub.sources.cache) ------------------------------------------

    def rows(self) -> pa.Table:
        """Every row added, not summed, as :func:`stack` gives them: each
        kind's rows in the order added."""
        import pyarrow as pa

        tables: dict[str, pa.Table] = {}
        for kind in KINDS:
            self._flush(kind)
            tables[kind] = pa.Table.from_batches(
                [pa.record_batch(list(piece), schema=_schema()) for piece in self._pieces[kind]],
                schema=_schema(),
            )
        return stack(tables)

    def add_digests(self, other: RowDigests) -> None:
        """Add the rows added to ``other``, after the rows added so far."""
        for kind in KINDS:
            other._flush(kind)
            if other._pieces[kind]:
                self._flush(kind)
                self._pieces[kind].extend(other._pieces[kind])
                self._tables = None

    def extend(self, rows: pa.Table) -> None:
        """Add ``rows`` (as :meth:`rows` gives them) after the rows added so far."""
        for kind, table in unstack(rows).items():
            self._flush(kind)
            if table.num_rows:
                self._pieces[kind].append(
                    tuple(one_array(table[name]) for name in ("k1", "k2", "crc", "adler"))
                )
                self._tables = None

    # -- reading them ----------------------------------------------------------------

    def table(self, kind: str) -> pa.Table:
        """The digests of ``kind`` (one of :data:`KINDS`): ``k1``, ``k2`` (``""``
        but for memberships), ``crc`` and ``adler``, one row per entity, in the
        order the entities were first read."""
        return self.tables()[kind]

    def tables(self) -> dict[str, pa.Table]:
        """:meth:`table` of every kind."""
        if self._tables is None:
            import pyarrow as pa

            tables: dict[str, pa.Table] = {}
            for kind in KINDS:
                self._flush(kind)
                pieces = self._pieces[kind]
                columns = [
                    pa.concat_arrays([piece[i] for piece in pieces])
                    if pieces
                    else pa.array([], pa.int64() if i >= 2 else pa.string())
                    for i in range(4)
                ]
                rows = pa.table(dict(zip(("k1", "k2", "crc", "adler"), columns, strict=True)))
                tables[kind] = _summed(rows)
                self._pieces[kind] = [
                    tuple(one_array(tables[kind][name]) for name in ("k1", "k2", "crc", "adler"))
                ]
            self._tables = tables
        return self._tables

    @classmethod
    def of_tables(cls, tables: dict[str, pa.Table]) -> RowDigests:
        """The digests held in ``tables`` (as :meth:`tables` gives them)."""
        digests = cls()
        for kind in KINDS:
            table = tables[kind]
            digests._pieces[kind] = [
                tuple(one_array(table[name]) for name in ("k1", "k2", "crc", "adler"))
            ]
        # Summed already: kept as they are, not summed again when read.
        digests._tables = {kind: tables[kind] for kind in KINDS}
        return digests

    def as_dicts(self) -> dict[str, dict[Any, tuple[int, int]]]:
        """Per kind, entity -> (CRC sum, Adler sum): a user's, account's or
        event side's key is its id, a membership's its ``(user, account)`` pair."""
        found: dict[str, dict[Any, tuple[int, int]]] = {}
        for kind, table in self.tables().items():
            keys = table["k1"].to_pylist()
            if kind == "memberships":
                keys = list(zip(keys, table["k2"].to_pylist(), strict=True))
            sums = zip(table["crc"].to_pylist(), table["adler"].to_pylist(), strict=True)
            found[kind] = dict(zip(keys, sums, strict=True))
        return found

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RowDigests):
            return NotImplemented
        return self.as_dicts() == other.as_dicts()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        sizes = ", ".join(f"{kind}={table.num_rows}" for kind, table in self.tables().items())
        return f"RowDigests({sizes})"
