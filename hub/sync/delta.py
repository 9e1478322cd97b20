"""Delta runs: project only the users and accounts that changed input rows reach.

After a run that succeeded, the destination's :class:`~hub.state.InputSnapshot`
names a file of the load's entity digests (:mod:`hub.sources.digests`, kept
beside the state file under ``inputs/``). When a later sync's inputs differ from
that run's only in the sources' rows (the mapping and the settings being the
same, the other conditions of :mod:`hub.sync.inputs` holding), the sync still
loads everything, but compares the digests and projects only what the changed
rows reach (:func:`reach`), from the part of the data set those records read
(:func:`neighbourhood`, enriched and indexed on its own) when no destination of
the sync projects everything:

- a **user** whose row or events changed, or who was added or removed: their
  contact, their membership contacts and their links, and the records of
  every account they belong to (before or after: user lists and rollups list
  them);
- an **account** whose row or events changed: its record, and the records of
  each of its members (their contacts read it as their account or primary
  account, their links and membership contacts carry it);
- a **membership** added, removed or changed: its user's records and its
  account's;
- with events, an **as-of time** other than that run's: the users and accounts
  of the events it brings into or takes out of a count (:func:`shifted`), as if
  those events had changed.

That is every record a full projection could give another value: an account's
record reads only the account, its memberships, its members' rows and events;
a user's records read only the user, their memberships and those accounts
(:data:`hub.references.ALLOWED`). So the records it computes are exactly the
full projection's. The planner
reads from the store only the keys of the reached subjects' records
(:func:`scope`), diffs them, and deletes or unlinks only among them; the
store's other records are counted unchanged, by status, in one query. The
run then keeps the new digests, like any run that succeeded.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, overload

from hub.config.mapping import Mapping
from hub.config.settings import EventSettings
from hub.contract.destination import BatchObject, link_key
from hub.model import Dataset, Event, membership_key
from hub.sources.digests import RowDigests, stack, unstack
from hub.values import utc

if TYPE_CHECKING:
    from hub.sources.frame import Frame

__all__ = [
    "DeltaScope",
    "Subjects",
    "load_digests",
    "neighbourhood",
    "prune",
    "reach",
    "save_digests",
    "scope",
    "shifted",
    "subject_part",
    "windows",
]

#: Marks the file format: version 2 is an Arrow IPC file (version 1, a
#: marshal of dicts, is read as no digests: that run projects everything).
_FORMAT: Final = "hub-digests-2"


@dataclass(frozen=True, slots=True)
class Subjects:
    """What a delta run projects: these users' records and these accounts'."""

    users: frozenset[str]
    accounts: frozenset[str]


def windows(events: EventSettings, mapping: Mapping) -> set[int]:
    """Every event window (in days) the projections count over: the ``[events]``
    rollups', the account rollups' and the primary account's activity window."""
    found = {rollup.window_days for rollup in events.rollups if rollup.window_days}
    found.update(rollup.window_days for rollup in mapping.accounts.rollups if rollup.window_days)
    found.add(mapping.primary_account.activity_window_days)
    return found


def shifted(
    events: Iterable[Event] | Frame, before: datetime, after: datetime, days: Iterable[int]
) -> tuple[set[str], set[str]]:
    """The users and accounts of the events that the as-of time moving from
    ``before`` to ``after`` brings into, or takes out of, any count: events
    between the two times (``last_seen`` and every window start counting events
    up to the as-of time), and events a window of ``days`` starts past."""
    users: set[str] = set()
    accounts: set[str] = set()
    if before == after:
        return users, accounts
    bounds = [(before, after)]
    bounds += [(before - timedelta(days=n), after - timedelta(days=n)) for n in sorted(set(days))]
    if not isinstance(events, Iterable):  # a frame (hub.sources.frame)
        return _shifted_frame(events, bounds)
    for event in events:
        moment = utc(event.timestamp)
        for old, new in bounds:
            # Counted up to the as-of time (inclusive), and from a window's start
            # (inclusive): a moment between two bounds changes sides.
            if (moment <= old) != (moment <= new) or (moment < old) != (moment < new):
                if event.user_id is not None:
                    users.add(event.user_id)
                if event.account_id is not None:
                    accounts.add(event.account_id)
                break
    return users, accounts


def _shifted_frame(
    frame: Frame, bounds: list[tuple[datetime, datetime]]
) -> tuple[set[str], set[str]]:
    """:func:`shifted` of a frame's events: the same tests on their times in
    microseconds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from hub.engine.tables import micros

    happened = frame.events
    t = happened.keys["t"]
    moved = pa.repeat(pa.scalar(False, pa.bool_()), len(happened))
    for old, new in bounds:
        a, b = micros(old), micros(new)
        crossed = pc.or_(
            pc.not_equal(pc.less_equal(t, a), pc.less_equal(t, b)),
            pc.not_equal(pc.less(t, a), pc.less(t, b)),
        )
        moved = pc.or_(moved, crossed)
    users = happened.keys["user_id"].filter(moved).drop_null()
    accounts = happened.keys["account_id"].filter(moved).drop_null()
    return set(users.to_pylist()), set(accounts.to_pylist())


class _Compared:
    """Two loads' digests side by side in DuckDB: ``old_<kind>`` and
    ``new_<kind>`` for each kind (:data:`hub.sources.digests.KINDS`).

    Two loads of files changed in place (or grown at the end) list their
    entities in the same order: their digests are then compared row by row
    with Arrow, and the tables are joined only when the entities moved."""

    def __init__(self, old: RowDigests, new: RowDigests) -> None:
        import duckdb

        self.old, self.new = old.tables(), new.tables()
        self._alignment: dict[str, bool] = {}
        self.connection = duckdb.connect()
        self.connection.execute("SET enable_progress_bar = false")
        for side, tables in (("old", self.old), ("new", self.new)):
            for kind, table in tables.items():
                self.connection.register(f"{side}_{kind}", table)

    def close(self) -> None:
        self.connection.close()

    def rows(self, query: str, *arrays: Any) -> list[tuple[Any, ...]]:
        """The rows of ``query``, each of ``arrays`` (ids) registered for it as
        a table ``given<i>(k)``."""
        import pyarrow as pa

        for i, array in enumerate(arrays):
            self.connection.register(f"given{i}", pa.table({"k": pa.array(array, pa.string())}))
        try:
            return self.connection.execute(query).fetchall()
        finally:
            for i in range(len(arrays)):
                self.connection.unregister(f"given{i}")

    def column(self, query: str, *arrays: Any) -> list[Any]:
        """The first column of :meth:`rows`."""
        return [row[0] for row in self.rows(query, *arrays)]

    def _aligned(self, kind: str) -> bool:
        """Whether the old entities of ``kind`` are the first new ones, in order."""
        found = self._alignment.get(kind)
        if found is None:
            old, new = self.old[kind], self.new[kind]
            n = old.num_rows
            found = n <= new.num_rows and all(
                old[name].equals(new[name].slice(0, n)) for name in ("k1", "k2")
            )
            self._alignment[kind] = found
        return found

    def changed_rows(self, kind: str) -> list[tuple[str, str]]:
        """The ``(k1, k2)`` of the entities of ``kind`` whose digest differs,
        added and removed ones too."""
        if not self._aligned(kind):
            return [
                (k1, k2)
                for k1, k2 in self.rows(
                    f"SELECT coalesce(o.k1, n.k1), coalesce(o.k2, n.k2)"
                    f" FROM old_{kind} o FULL JOIN new_{kind} n ON o.k1 = n.k1 AND o.k2 = n.k2"
                    " WHERE o.crc IS DISTINCT FROM n.crc OR o.adler IS DISTINCT FROM n.adler"
                )
            ]
        import pyarrow.compute as pc

        old, new = self.old[kind], self.new[kind]
        head = new.slice(0, old.num_rows)
        differs = pc.or_(
            pc.not_equal(old["crc"], head["crc"]), pc.not_equal(old["adler"], head["adler"])
        )
        found = head.filter(differs)
        pairs = list(zip(found["k1"].to_pylist(), found["k2"].to_pylist(), strict=True))
        tail = new.slice(old.num_rows)
        pairs.extend(zip(tail["k1"].to_pylist(), tail["k2"].to_pylist(), strict=True))
        return pairs

    def changed(self, kind: str) -> set[str]:
        """The ids whose digest of ``kind`` differs (added and removed ones too)."""
        return {k1 for k1, _ in self.changed_rows(kind)}

    def pairs(self, side: str, given: str) -> str:
        """A query of every membership pair of either load whose ``side``
        (``k1``: user, ``k2``: account) is in the table ``given``."""
        query = "SELECT k1, k2 FROM {}_memberships WHERE {} IN (SELECT k FROM {})"
        if self._aligned("memberships") and self.old["memberships"].num_rows == (
            self.new["memberships"].num_rows
        ):
            return query.format("new", side, given)  # the same pairs on both sides
        return f"{query.format('old', side, given)} UNION {query.format('new', side, given)}"


def reach(
    old: RowDigests,
    new: RowDigests,
    moved: tuple[set[str], set[str]] = (set(), set()),
) -> Subjects:
    """The users and accounts whose records may differ from the last run's
    (``moved``: those :func:`shifted` found, as if their events had changed).
    The digests are compared column-wise (:class:`_Compared`): only what
    changed becomes Python."""
    compared = _Compared(old, new)
    try:
        users = compared.changed("users") | compared.changed("user_events") | moved[0]
        accounts = compared.changed("accounts") | compared.changed("account_events")
        accounts |= moved[1]
        changed_users, changed_accounts = sorted(users), sorted(accounts)
        for user, account in compared.changed_rows("memberships"):
            users.add(user)
            accounts.add(account)
        if changed_users or changed_accounts:
            # Every account of a changed user, every member of a changed account.
            accounts.update(
                compared.column(
                    f"SELECT DISTINCT k2 FROM ({compared.pairs('k1', 'given0')})", changed_users
                )
            )
            users.update(
                compared.column(
                    f"SELECT DISTINCT k1 FROM ({compared.pairs('k2', 'given0')})",
                    changed_accounts,
                )
            )
    finally:
        compared.close()
    return Subjects(frozenset(users), frozenset(accounts))


@dataclass(frozen=True, slots=True)
class DeltaScope:
    """The store keys a delta run's records may have: only these are read from
    the store, and only these may be deleted or unlinked (the others are the
    run's unchanged records)."""

    accounts: frozenset[str]
    contacts: frozenset[str]
    links: frozenset[str]

    def keys(self, kind: BatchObject) -> frozenset[str]:
        """The keys of ``kind`` in scope."""
        if kind is BatchObject.ACCOUNT:
            return self.accounts
        if kind is BatchObject.CONTACT:
            return self.contacts
        return self.links


def scope(subjects: Subjects, old: RowDigests, new: RowDigests, separator: str) -> DeltaScope:
    """The keys of the reached subjects' records, before or after.

    An account's key is its id. A user's contact keys are their id and the
    membership key of each of their memberships, before or after; a key that
    is also an unreached user's own contact key stays out (it is theirs). Their
    links join one of those contact keys to one of those accounts."""
    users = subjects.users
    contacts: set[str] = set(users)
    compared = _Compared(old, new)
    try:
        reached = sorted(users)
        pairs = [
            (user, account)
            for user, account in compared.rows(compared.pairs("k1", "given0"), reached)
        ]
        keys = {membership_key(user, account, separator) for user, account in pairs}
        # A membership key that is another (unreached) user's own contact key is theirs.
        theirs = compared.column(
            "SELECT k FROM given0 WHERE (k IN (SELECT k1 FROM old_users)"
            " OR k IN (SELECT k1 FROM new_users)) AND k NOT IN (SELECT k FROM given1)",
            sorted(keys),
            reached,
        )
    finally:
        compared.close()
    contacts |= keys - set(theirs)
    links: set[str] = set()
    for user, account in pairs:
        for contact in (user, membership_key(user, account, separator)):
            if contact in contacts:
                links.add(link_key(contact, account))
    return DeltaScope(subjects.accounts, frozenset(contacts), frozenset(links))


@overload
def neighbourhood(dataset: Dataset, reached: Iterable[Subjects]) -> Dataset: ...
@overload
def neighbourhood(dataset: Frame, reached: Iterable[Subjects]) -> Frame: ...
def neighbourhood(dataset: Dataset | Frame, reached: Iterable[Subjects]) -> Dataset | Frame:
    """The part of ``dataset`` the records of the ``reached`` subjects read: the
    users and accounts, every membership of either, the users and accounts at the
    other end of those, the users and accounts an event ties to any of these
    (a login of a non-member in an account counts in its activity), and every
    event naming any of them. Enriched and
    indexed, it gives those records as the whole data set does (a user's read
    their memberships and accounts; an account's its memberships and members;
    each enriched value is computed from the object's own events), at the cost
    of the part alone. Orders are kept."""
    users: set[str] = set()
    accounts: set[str] = set()
    for subjects in reached:
        users.update(subjects.users)
        accounts.update(subjects.accounts)
    if not isinstance(dataset, Dataset):  # a frame (hub.sources.frame)
        return dataset.neighbourhood(users, accounts)
    memberships = {
        pair: membership
        for pair, membership in dataset.memberships.items()
        if pair[0] in users or pair[1] in accounts
    }
    user_ids = users.union(pair[0] for pair in memberships)
    account_ids = accounts.union(pair[1] for pair in memberships)
    # Whoever an event ties to them, member or not: an account's activity counts
    # the users of its events, a user's the accounts of theirs.
    tied_users = {e.user_id for e in dataset.events if e.account_id in account_ids}
    tied_accounts = {e.account_id for e in dataset.events if e.user_id in user_ids}
    user_ids |= {user for user in tied_users if user is not None}
    account_ids |= {account for account in tied_accounts if account is not None}
    return Dataset(
        users={key: user for key, user in dataset.users.items() if key in user_ids},
        accounts={key: account for key, account in dataset.accounts.items() if key in account_ids},
        memberships=memberships,
        events=[
            event
            for event in dataset.events
            if event.user_id in user_ids or event.account_id in account_ids
        ],
    )


@overload
def subject_part(data: Dataset, kind: str, subject_id: str) -> Dataset: ...
@overload
def subject_part(data: Frame, kind: str, subject_id: str) -> Frame: ...
def subject_part(data: Dataset | Frame, kind: str, subject_id: str) -> Dataset | Frame:
    """The part of ``data`` one ``user``'s or ``account``'s records read, for
    ``hub inspect``: a user's :func:`neighbourhood`; an account's and its
    members' (the membership contacts keyed with it carry their users' fields,
    which read all of each member's memberships). Projected, it gives that
    subject's records, links and notices as the whole data set does."""
    if kind == "user":
        return neighbourhood(data, [Subjects(frozenset({subject_id}), frozenset())])
    if isinstance(data, Dataset):
        members = frozenset(user for user, account in data.memberships if account == subject_id)
    else:  # a frame (hub.sources.frame)
        import pyarrow.compute as pc

        keys = data.memberships.keys
        chosen = pc.equal(keys["account_id"], subject_id)
        members = frozenset(keys["user_id"].filter(pc.fill_null(chosen, False)).to_pylist())
    return neighbourhood(data, [Subjects(members, frozenset({subject_id}))])


# -- the digests file ------------------------------------------------------------------


def _encode(digests: RowDigests) -> bytes:
    """The digests as an Arrow IPC file (zstd-compressed): one table, a
    ``kind`` column beside the kinds' own; the same digests give the same
    bytes."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    whole = stack(digests.tables()).replace_schema_metadata({"format": _FORMAT})
    sink = pa.BufferOutputStream()
    options = ipc.IpcWriteOptions(compression="zstd")
    with ipc.new_file(sink, whole.schema, options=options) as writer:
        writer.write_table(whole)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def _decode(data: bytes) -> RowDigests | None:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    try:
        whole = ipc.open_file(pa.py_buffer(data)).read_all()
    except (pa.ArrowInvalid, OSError):
        return None
    metadata = whole.schema.metadata or {}
    if metadata.get(b"format") != _FORMAT.encode() or whole.column_names != [
        "kind",
        "k1",
        "k2",
        "crc",
        "adler",
    ]:
        return None
    return RowDigests.of_tables(unstack(whole))


def save_digests(directory: Path, digests: RowDigests) -> str:
    """Write ``digests`` under ``directory`` (atomically); returns the file's name."""
    data = _encode(digests)
    name = hashlib.blake2b(data, digest_size=16).hexdigest() + ".digests"
    path = directory / name
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with partial.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)
    return name


def load_digests(directory: Path, name: str) -> RowDigests | None:
    """The digests kept as ``name``; ``None`` when the file is gone, altered, or
    written by another format (the run then projects everything)."""
    try:
        data = (directory / name).read_bytes()
    except OSError:
        return None
    if hashlib.blake2b(data, digest_size=16).hexdigest() + ".digests" != name:
        return None
    return _decode(data)


def prune(directory: Path, keep: Iterable[str]) -> None:
    """Remove the digest files no snapshot names any more."""
    kept = set(keep)
    try:
        entries = list(directory.iterdir())
    except OSError:
        return
    for path in entries:
        if path.suffix in (".digests", ".partial") and path.name not in kept:
            path.unlink(missing_ok=True)
