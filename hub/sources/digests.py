"""Per entity, a digest of the source rows that describe it.

Each row read (before any check: a quarantined row counts too) is added to
the entity its ids name: a user row to its ``user_id``, an
account row to its ``account_id``, a membership row to its ``(user_id,
account_id)`` pair, an event row to its user and to its account. A row's
digest is 64 bits: CRC-32 and Adler-32 of a CSV row's cells, each seeded with
the file's header (a renamed column changes every row), or of the ``repr`` of
the values another source (JSON Lines, Parquet, SQL, Segment) hands on. An
entity's digest is the sum of its rows' (so duplicates never cancel out).

Two loads of the same rows give the same digests; a row added, removed or
changed changes the digest of each entity it names. :mod:`hub.sync.delta`
compares them with the last complete run's to find what changed.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import repeat

from hub.config.settings import Table

__all__ = ["RowDigests"]

_SEPARATOR = "\x1f"


@dataclass(slots=True)
class RowDigests:
    """The entity digests of one load (see the module doc)."""

    users: dict[str, int] = field(default_factory=dict)
    accounts: dict[str, int] = field(default_factory=dict)
    memberships: dict[tuple[str, str], int] = field(default_factory=dict)
    #: Events by the user, and by the account, they name.
    user_events: dict[str, int] = field(default_factory=dict)
    account_events: dict[str, int] = field(default_factory=dict)

    def note(
        self, table: Table, user: str | None, account: str | None, values: tuple[object, ...]
    ) -> None:
        """Add one row of a source other than CSV: its ids, as the load reads
        them, and every value it holds."""
        data = repr(values).encode("utf-8", "surrogateescape")
        digest = zlib.crc32(data) << 32 | zlib.adler32(data)
        if table is Table.USERS:
            if user:
                self.users[user] = self.users.get(user, 0) + digest
        elif table is Table.ACCOUNTS:
            if account:
                self.accounts[account] = self.accounts.get(account, 0) + digest
        elif table is Table.MEMBERSHIPS:
            if user or account:
                pair = (user or "", account or "")
                self.memberships[pair] = self.memberships.get(pair, 0) + digest
        else:
            if user:
                self.user_events[user] = self.user_events.get(user, 0) + digest
            if account:
                self.account_events[account] = self.account_events.get(account, 0) + digest

    @staticmethod
    def seed(header: Sequence[str]) -> tuple[int, int]:
        """The seeds of a file's row digests: its header's."""
        data = _SEPARATOR.join(header).encode("utf-8", "surrogateescape")
        return zlib.crc32(data), zlib.adler32(data)

    def adder(
        self, table: Table, keys: tuple[int, int, int, int], seed: tuple[int, int]
    ) -> Callable[[Sequence[str]], None]:
        """How a CSV file of ``table`` adds a row (its cells as read): ``keys`` are
        the positions of the table's reserved columns (past the end: absent),
        ``seed`` its header's (:meth:`seed`). One function per file, its
        lookups bound once: it runs for every row."""
        join, crc32, adler32 = _SEPARATOR.join, zlib.crc32, zlib.adler32
        crc_seed, adler_seed = seed
        a, b, c, d = keys

        def digest(cells: Sequence[str]) -> int:
            data = join(cells).encode("utf-8", "surrogateescape")
            return crc32(data, crc_seed) << 32 | adler32(data, adler_seed)

        if table is Table.USERS or table is Table.ACCOUNTS:
            entities = self.users if table is Table.USERS else self.accounts
            get = entities.get

            def add_entity(cells: Sequence[str]) -> None:
                key = cells[a] if a < len(cells) else ""
                if key:
                    entities[key] = get(key, 0) + digest(cells)

            return add_entity
        if table is Table.MEMBERSHIPS:
            pairs = self.memberships
            get_pair = pairs.get

            def add_membership(cells: Sequence[str]) -> None:
                width = len(cells)
                pair = (cells[a] if a < width else "", cells[b] if b < width else "")
                if pair[0] or pair[1]:
                    pairs[pair] = get_pair(pair, 0) + digest(cells)

            return add_membership
        by_user, by_account = self.user_events, self.account_events

        def add_event(cells: Sequence[str]) -> None:
            width = len(cells)
            user = cells[c] if c < width else ""
            account = cells[d] if d < width else ""
            value = digest(cells)
            if user:
                by_user[user] = by_user.get(user, 0) + value
            if account:
                by_account[account] = by_account.get(account, 0) + value

        return add_event

    def add_rows(
        self,
        table: Table,
        keys: tuple[int, int, int, int],
        seed: tuple[int, int],
        rows: Sequence[Sequence[str]],
    ) -> None:
        """:meth:`adder`'s function applied to each of ``rows`` (none of them
        empty), the digests computed a block at a time."""
        if not rows:
            return
        joined = map(_SEPARATOR.join, rows)
        data = list(map(str.encode, joined, repeat("utf-8"), repeat("surrogateescape")))
        a, b, c, d = keys

        def column(i: int) -> list[str]:
            return [row[i] if i < len(row) else "" for row in rows]

        first, second = (
            (column(a), column(b)) if table is not Table.EVENTS else (column(c), column(d))
        )
        self.add_joined(table, seed, data, first, second)

    def add_joined(
        self,
        table: Table,
        seed: tuple[int, int],
        data: Sequence[bytes],
        first: Sequence[str],
        second: Sequence[str],
    ) -> None:
        """Add rows given as their cells joined (``data``, UTF-8) and the ids
        they name: a user's or account's id in ``first``; a membership's user and
        account, an event's user and account, in ``first`` and ``second``."""
        crc_seed, adler_seed = seed
        crcs = map(zlib.crc32, data, repeat(crc_seed))
        adlers = map(zlib.adler32, data, repeat(adler_seed))
        digests = [crc << 32 | adler for crc, adler in zip(crcs, adlers, strict=True)]
        if table is Table.USERS or table is Table.ACCOUNTS:
            entities = self.users if table is Table.USERS else self.accounts
            get = entities.get
            for key, value in zip(first, digests, strict=True):
                if key:
                    entities[key] = get(key, 0) + value
        elif table is Table.MEMBERSHIPS:
            pairs = self.memberships
            get_pair = pairs.get
            for pair, value in zip(zip(first, second, strict=True), digests, strict=True):
                if pair[0] or pair[1]:
                    pairs[pair] = get_pair(pair, 0) + value
        else:
            by_user, by_account = self.user_events, self.account_events
            for user, account, value in zip(first, second, digests, strict=True):
                if user:
                    by_user[user] = by_user.get(user, 0) + value
                if account:
                    by_account[account] = by_account.get(account, 0) + value
