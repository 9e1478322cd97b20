"""Loading: read every configured source, validate the rows, build the data set.

Rows follow the conventions of :mod:`hub.sources`. Validation quarantines a
row (with a reason and its location) and the run goes on:

- users: no ``user_id`` ("missing user_id"), a malformed ``email``
  ("malformed email 'bob@'"), an id seen before ("duplicate user_id u7, first
  seen at users.csv:3");
- accounts: no ``account_id``, an id seen before;
- memberships: no ``user_id`` / ``account_id`` / ``role``, a user or account
  no source has ("unknown user u9", "unknown account a99"), a (user, account)
  pair seen before ("duplicate membership u1/a1, first seen at ...");
- events: no ``event``, a missing or bad ``timestamp``, neither ``user_id``
  nor ``account_id``, an unknown user or account.

Tables are snapshots, event streams are updates: a Segment identify or group
call for a user, account or membership that a table source holds *updates* it
(traits and relationship properties merged, the call's non-empty values
winning), whatever the order of the sources in ``hub.toml``; snapshot sources
are always read first. The same id twice among snapshot rows is a duplicate.

Order: users and accounts are read from all sources first (sources in the
order of ``hub.toml``), then memberships and events, so a membership or event
may refer to a user or account of any source. For duplicates the first
occurrence wins (file order within a source, ``hub.toml`` order among
sources); every later one is quarantined. Otherwise the data set does not
depend on the order of the sources in ``hub.toml``: users, accounts and
memberships come ordered by source name, then in their order within the source
(file or query order; a Segment file's records in the order of their first
call); events are ordered by (timestamp, user_id, account_id, event).

A source that cannot be read at all (a missing file, a CSV header without the
required columns, a bad database URL, a failing query) is a
:class:`~hub.errors.ConfigError` listing every such problem of every source.
"""

from __future__ import annotations

import gc
import importlib.util
import sys
from array import array
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hub.config.settings import HubSettings, SourceKind, SourceSettings, Table
from hub.errors import ConfigError, Problem
from hub.model import EMPTY, Account, Dataset, Event, Membership, User
from hub.quarantine import Quarantine
from hub.sources import EMAIL_PATTERN, Origin, Source, SourceError, parse_timestamp
from hub.sources.digests import RowDigests
from hub.sources.parquet import ParquetSource
from hub.sources.segment import SegmentSource
from hub.sources.tables import CsvSource, JsonlSource

if TYPE_CHECKING:
    from hub.sources.cache import ColumnsCache
    from hub.sources.frame import Frame, Part

__all__ = ["DatasetBuilder", "LoadResult", "load"]

_ORIGIN_SHIFT = 40
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_is_email = EMAIL_PATTERN.match


def _merged(old: Mapping[str, Any], new: dict[str, Any]) -> Mapping[str, Any]:
    """``old`` updated with ``new`` (an update source's values win)."""
    if not new:
        return old
    if not old:
        return new
    return {**old, **new}


class LoadResult:
    """What :func:`load` produced."""

    __slots__ = ("_dataset", "columns", "counts", "digests", "frame", "quarantine")

    def __init__(
        self,
        dataset: Dataset | None,
        quarantine: Quarantine,
        counts: dict[str, int],
        columns: dict[Table, set[str]] | None = None,
        digests: RowDigests | None = None,
        frame: Frame | None = None,
    ) -> None:
        if dataset is None and frame is None:
            raise ValueError("a load result holds a data set, a frame or both")
        self._dataset = dataset
        self.quarantine = quarantine
        #: Accepted rows per table: ``{"users": 52, "accounts": 9, ...}``.
        self.counts = counts
        #: The attribute names the sources hold, per table (``None``: not read
        #: from sources, e.g. a ready-made data set), see
        #: :meth:`hub.sources.RowSink.columns`.
        self.columns = columns
        #: Per entity, the digest of the CSV rows naming it (:mod:`hub.sources.digests`).
        self.digests = digests
        #: The data set as columns, when the sources were loaded column-wise
        #: (:mod:`hub.sources.frame`).
        self.frame = frame

    @property
    def dataset(self) -> Dataset:
        """The data set; from a columnar load, built on first read."""
        if self._dataset is None:
            assert self.frame is not None
            self._dataset = self.frame.dataset()
        return self._dataset

    @property
    def data(self) -> Dataset | Frame:
        """What the engine's tables are made from: the frame when there is one."""
        return self.frame if self.frame is not None else self.dataset


class _Invalid(Exception):
    pass


def _id(value: object) -> str | None:
    """An id as a string, ``None`` when absent; :class:`_Invalid` for other types."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _Invalid


def _text(value: object) -> str | None:
    """A text field (name, role, ...), ``None`` when absent; numbers become text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _Invalid


@dataclass(slots=True)
class _FirstSeen:
    """Where each accepted record of one table was found, in insertion order.

    Kept as one 8-byte integer per record (origin index and line), so a
    duplicate can name the first occurrence without a location string per row.
    """

    table: str
    positions: array[int] = field(default_factory=lambda: array("Q"))
    #: (quarantine index, key, description) of duplicates to describe at the end.
    pending: list[tuple[int, Hashable, str]] = field(default_factory=list)
    #: (origin index, first record index) of each run of records from one origin.
    runs: list[tuple[int, int]] = field(default_factory=list)
    last_origin: int = -1


class DatasetBuilder:
    """Validates rows from the sources (a :class:`hub.sources.RowSink`) into a data set."""

    def __init__(self, quarantine: Quarantine | None = None) -> None:
        self.quarantine = quarantine if quarantine is not None else Quarantine()
        self.users: dict[str, User] = {}
        self.accounts: dict[str, Account] = {}
        self.memberships: dict[tuple[str, str], Membership] = {}
        self.events: list[Event] = []
        self._origins: dict[Origin, int] = {}
        self._origin_list: list[Origin] = []
        self._last_origin: Origin | None = None
        self._last_index = -1
        self._users_seen = _FirstSeen(Table.USERS.value)
        self._accounts_seen = _FirstSeen(Table.ACCOUNTS.value)
        self._memberships_seen = _FirstSeen(Table.MEMBERSHIPS.value)
        #: The attribute names the sources hold, per table.
        self.attributes: dict[Table, set[str]] = {table: set() for table in Table}
        #: What CSV sources add their rows to (:mod:`hub.sources.digests`).
        self.digests = RowDigests()

    # -- bookkeeping --------------------------------------------------------------

    def _accept(self, seen: _FirstSeen, origin: Origin, n: int) -> None:
        """Remember where the record just accepted into ``seen.table`` was found."""
        if origin is self._last_origin:
            index = self._last_index
        else:
            found = self._origins.get(origin)
            if found is None:
                found = self._origins[origin] = len(self._origin_list)
                self._origin_list.append(origin)
            index = self._last_index = found
            self._last_origin = origin
        if index != seen.last_origin:
            seen.runs.append((index, len(seen.positions)))
            seen.last_origin = index
        seen.positions.append((index << _ORIGIN_SHIFT) | n)

    def _location(self, position: int) -> str:
        origin = self._origin_list[position >> _ORIGIN_SHIFT]
        return origin.at(position & ((1 << _ORIGIN_SHIFT) - 1))

    def reject(
        self, origin: Origin, n: int, table: str, reason: str, record_id: str | None = None
    ) -> None:
        self.quarantine.add(origin.source, str(table), origin.at(n), reason, record_id)

    def columns(self, table: Table, names: Iterable[str]) -> None:
        self.attributes[table].update(names)

    def _duplicate(
        self, seen: _FirstSeen, origin: Origin, n: int, key: Hashable, what: str, record_id: str
    ) -> None:
        seen.pending.append((len(self.quarantine.rows), key, what))
        self.quarantine.add(origin.source, seen.table, origin.at(n), f"duplicate {what}", record_id)

    # -- rows ---------------------------------------------------------------------

    def _note(
        self, origin: Origin, table: Table, user: object, account: object, *values: object
    ) -> None:
        """Digest a row of a source that does not digest its own (:mod:`hub.sources.digests`)."""
        try:
            uid, aid = _id(user), _id(account)
        except _Invalid:
            return
        self.digests.note(table, uid, aid, (origin.source, *values))

    def user(
        self, origin: Origin, n: int, user_id: object, email: object, traits: dict[str, Any]
    ) -> None:
        table = Table.USERS
        if not origin.digested:
            self._note(origin, table, user_id, None, user_id, email, traits)
        try:
            uid = _id(user_id)
        except _Invalid:
            self.reject(origin, n, table, f"invalid user_id {user_id!r}")
            return
        if uid is None:
            self.reject(origin, n, table, "missing user_id")
            return
        if email is None or email == "":
            email = None
        elif not isinstance(email, str) or not _is_email(email):
            self.reject(origin, n, table, f"malformed email {email!r}", uid)
            return
        existing = self.users.get(uid)
        if existing is not None:
            if origin.updates:
                self.users[uid] = User(
                    existing.user_id,
                    email if email is not None else existing.email,
                    _merged(existing.traits, traits),
                )
                return
            self._duplicate(self._users_seen, origin, n, uid, f"user_id {uid}", uid)
            return
        self.users[uid] = User(uid, email, traits or EMPTY)
        self._accept(self._users_seen, origin, n)

    def account(
        self,
        origin: Origin,
        n: int,
        account_id: object,
        name: object,
        domain: object,
        stage: object,
        traits: dict[str, Any],
    ) -> None:
        table = Table.ACCOUNTS
        if not origin.digested:
            self._note(origin, table, None, account_id, account_id, name, domain, stage, traits)
        try:
            aid = _id(account_id)
        except _Invalid:
            self.reject(origin, n, table, f"invalid account_id {account_id!r}")
            return
        if aid is None:
            self.reject(origin, n, table, "missing account_id")
            return
        fields: list[str | None] = []
        for label, value in (("name", name), ("domain", domain), ("stage", stage)):
            try:
                fields.append(_text(value))
            except _Invalid:
                self.reject(origin, n, table, f"invalid {label} {value!r}", aid)
                return
        account_name, account_domain, account_stage = fields
        if account_stage is not None:
            account_stage = sys.intern(account_stage)
        existing = self.accounts.get(aid)
        if existing is not None:
            if origin.updates:
                self.accounts[aid] = Account(
                    existing.account_id,
                    account_name if account_name is not None else existing.name,
                    account_domain if account_domain is not None else existing.domain,
                    account_stage if account_stage is not None else existing.stage,
                    _merged(existing.traits, traits),
                )
                return
            self._duplicate(self._accounts_seen, origin, n, aid, f"account_id {aid}", aid)
            return
        self.accounts[aid] = Account(
            aid, account_name, account_domain, account_stage, traits or EMPTY
        )
        self._accept(self._accounts_seen, origin, n)

    def membership(
        self,
        origin: Origin,
        n: int,
        user_id: object,
        account_id: object,
        role: object,
        properties: dict[str, Any],
    ) -> None:
        table = Table.MEMBERSHIPS
        if not origin.digested:
            self._note(origin, table, user_id, account_id, user_id, account_id, role, properties)
        try:
            uid = _id(user_id)
        except _Invalid:
            self.reject(origin, n, table, f"invalid user_id {user_id!r}")
            return
        try:
            aid = _id(account_id)
        except _Invalid:
            self.reject(origin, n, table, f"invalid account_id {account_id!r}")
            return
        if uid is None:
            self.reject(origin, n, table, "missing user_id", None)
            return
        if aid is None:
            self.reject(origin, n, table, "missing account_id", None)
            return
        record_id = f"{uid}:{aid}"
        try:
            role_text = _text(role)
        except _Invalid:
            self.reject(origin, n, table, f"invalid role {role!r}", record_id)
            return
        if role_text is None:
            self.reject(origin, n, table, "missing role", record_id)
            return
        user = self.users.get(uid)
        if user is None:
            self.reject(origin, n, table, f"unknown user {uid}", record_id)
            return
        account = self.accounts.get(aid)
        if account is None:
            self.reject(origin, n, table, f"unknown account {aid}", record_id)
            return
        # The ids of the user and account objects: one string per id in memory.
        key = (user.user_id, account.account_id)
        existing = self.memberships.get(key)
        if existing is not None and origin.updates:
            self.memberships[key] = Membership(
                key[0], key[1], sys.intern(role_text), _merged(existing.properties, properties)
            )
            return
        if existing is not None:
            what = f"membership {uid}/{aid}"
            self._duplicate(self._memberships_seen, origin, n, key, what, record_id)
            return
        self.memberships[key] = Membership(
            key[0], key[1], sys.intern(role_text), properties or EMPTY
        )
        self._accept(self._memberships_seen, origin, n)

    def event(
        self,
        origin: Origin,
        n: int,
        event: object,
        timestamp: object,
        user_id: object,
        account_id: object,
        properties: dict[str, Any],
    ) -> None:
        table = Table.EVENTS
        if not origin.digested:
            self._note(
                origin,
                table,
                user_id,
                account_id,
                event,
                timestamp,
                user_id,
                account_id,
                properties,
            )
        try:
            name = _text(event)
        except _Invalid:
            self.reject(origin, n, table, f"invalid event {event!r}")
            return
        if name is None:
            self.reject(origin, n, table, "missing event")
            return
        if timestamp is None or timestamp == "":
            self.reject(origin, n, table, "missing timestamp", name)
            return
        when = parse_timestamp(timestamp)
        if when is None:
            self.reject(origin, n, table, f"bad timestamp {timestamp!r}", name)
            return
        try:
            uid = _id(user_id)
            aid = _id(account_id)
        except _Invalid:
            reason = f"invalid user_id {user_id!r} or account_id {account_id!r}"
            self.reject(origin, n, table, reason, name)
            return
        if uid is None and aid is None:
            self.reject(origin, n, table, "event has neither user_id nor account_id", name)
            return
        if uid is not None:
            user = self.users.get(uid)
            if user is None:
                self.reject(origin, n, table, f"unknown user {uid}", name)
                return
            uid = user.user_id
        if aid is not None:
            account = self.accounts.get(aid)
            if account is None:
                self.reject(origin, n, table, f"unknown account {aid}", name)
                return
            aid = account.account_id
        self.events.append(Event(sys.intern(name), when, uid, aid, properties or EMPTY))

    # -- the end --------------------------------------------------------------------

    def _describe_duplicates(self, seen: _FirstSeen, keys: list[Hashable]) -> None:
        """Fill in "first seen at ..." now that every first occurrence is known."""
        if not seen.pending:
            return
        wanted = {key for _, key, _ in seen.pending}
        first: dict[Hashable, str] = {}
        for index, key in enumerate(keys):
            if key in wanted:
                first[key] = self._location(seen.positions[index])
        rows = self.quarantine.rows
        for row_index, key, what in seen.pending:
            reason = f"duplicate {what}, first seen at {first[key]}"
            rows[row_index] = replace(rows[row_index], reason=reason)
        seen.pending.clear()

    def _canonical(self, records: dict[K, V], seen: _FirstSeen) -> dict[K, V]:
        """``records`` ordered by source name, then in their order within the source.

        Each origin's records are one contiguous run, so this moves whole runs:
        nothing moves when one source fills the table, or the sources are
        listed by name already.
        """
        runs = seen.runs
        rank = {
            index: position
            for position, index in enumerate(
                sorted(
                    {index for index, _ in runs},
                    key=lambda i: (self._origin_list[i].source, self._origin_list[i].label),
                )
            )
        }
        order = sorted(range(len(runs)), key=lambda r: rank[runs[r][0]])
        if order == list(range(len(runs))):
            return records
        keys = list(records)
        bounds = [start for _, start in runs] + [len(keys)]
        ordered: dict[K, V] = {}
        for r in order:
            for key in keys[bounds[r] : bounds[r + 1]]:
                ordered[key] = records[key]
        return ordered

    def finish(self) -> Dataset:
        """The data set: duplicates described, everything in a deterministic order."""
        self._describe_duplicates(self._users_seen, list(self.users))
        self._describe_duplicates(self._accounts_seen, list(self.accounts))
        self._describe_duplicates(self._memberships_seen, list(self.memberships))
        self.events.sort(key=lambda e: (e.timestamp, e.user_id or "", e.account_id or "", e.event))
        return Dataset(
            users=self._canonical(self.users, self._users_seen),
            accounts=self._canonical(self.accounts, self._accounts_seen),
            memberships=self._canonical(self.memberships, self._memberships_seen),
            events=self.events,
        )


def _per_query(source: Source) -> bool:
    """True for a SQL source: each of its queries is read, and fails, on its own."""
    return bool(getattr(source, "per_query", False))


def _source(
    name: str, settings: SourceSettings, base_dir: Path
) -> tuple[Source | None, list[Problem]]:
    """The source ``settings`` describe, or what is missing from them."""
    prefix = f"sources.{name}"
    kind = settings.kind
    if kind is SourceKind.SQL:
        problems = []
        if not settings.url:
            problems.append(
                Problem(
                    "a sql source needs a database url",
                    key=f"{prefix}.url",
                    expected="a SQLAlchemy URL such as sqlite:///app.db",
                )
            )
        if not settings.queries:
            problems.append(
                Problem(
                    "a sql source needs at least one query",
                    key=f"{prefix}.queries",
                    expected="a table (users, accounts, memberships, events) = a SELECT",
                )
            )
        if problems or settings.url is None:
            return None, problems
        if importlib.util.find_spec("sqlalchemy") is None:
            return None, [
                Problem(
                    "a sql source needs SQLAlchemy, which is not installed",
                    key=f"{prefix}.kind",
                    expected="pip install 'connector-hub[sql]'",
                )
            ]
        from hub.sources.sql import SqlSource  # SQLAlchemy: the [sql] extra

        return SqlSource(name, settings.url, dict(settings.queries), base_dir), []

    problems = []
    if settings.path is None:
        what = "Segment calls" if kind is SourceKind.SEGMENT else "the table"
        problems.append(
            Problem(
                f"a {kind} source needs the path of its file",
                key=f"{prefix}.path",
                expected=f"a file of {what}, relative to hub.toml",
            )
        )
    if kind is not SourceKind.SEGMENT and settings.table is None:
        problems.append(
            Problem(
                f"a {kind} source needs the table its file holds",
                key=f"{prefix}.table",
                expected="one of users, accounts, memberships, events",
            )
        )
    if problems or settings.path is None:
        return None, problems
    label = settings.path.as_posix()
    path = settings.path if settings.path.is_absolute() else base_dir / settings.path
    key = f"{prefix}.path"
    if kind is SourceKind.SEGMENT:
        return SegmentSource(name, path, label, key), []
    assert settings.table is not None
    if kind is SourceKind.CSV:
        return CsvSource(name, settings.table, path, label, key, settings.multiline), []
    if kind is SourceKind.PARQUET:
        return ParquetSource(name, settings.table, path, label, key), []
    return JsonlSource(name, settings.table, path, label, key), []


#: The order tables are read in: every user and account before anything referring to them.
TABLE_ORDER = (Table.USERS, Table.ACCOUNTS, Table.MEMBERSHIPS, Table.EVENTS)


def load(
    settings: HubSettings,
    base_dir: Path,
    *,
    columnar: bool | None = None,
    cache: ColumnsCache | None = None,
) -> LoadResult:
    """Read, validate and assemble every source of ``settings``.

    ``base_dir`` is the directory of ``hub.toml``: relative paths are relative
    to it. Raises :class:`~hub.errors.ConfigError` with every problem found when
    a source cannot be read at all.

    When every source is a CSV file (``columnar=None``), the load is
    column-wise (:mod:`hub.sources.frame`): the result holds a frame, and its
    data set is built when first read. ``columnar=False`` reads row by row into
    the data set whatever the sources (what every other kind of source takes).
    A column-wise load reads the files ``cache`` keeps (:mod:`hub.sources.cache`)
    from it, and hands it the others (kept when the caller flushes it).
    """
    problems: list[Problem] = []
    sources: list[Source] = []
    for name, source_settings in settings.sources.items():
        source, found = _source(name, source_settings, base_dir)
        problems.extend(found)
        if source is not None:
            sources.append(source)
    if columnar is None:
        columnar = bool(sources) and all(isinstance(source, CsvSource) for source in sources)
    if columnar:
        csv_sources = [source for source in sources if isinstance(source, CsvSource)]
        if len(csv_sources) != len(sources):
            raise ValueError("a columnar load reads CSV sources only")
        return _load_columns(csv_sources, problems, cache)
    quarantine = Quarantine()
    builder = DatasetBuilder(quarantine)
    # Millions of acyclic records: the cyclic garbage collector would walk the
    # growing heap again and again for nothing (about a quarter of the time).
    collecting = gc.isenabled()
    gc.disable()
    failed: set[str] = set()
    try:
        for source in sources:
            found = source.check()
            if found:
                problems.extend(found)
                failed.add(source.name)
        # Read the rest even after a problem: the error should list every problem.
        # Snapshot tables first, then event streams, whose calls update what
        # the tables hold whatever the order of the sources in hub.toml.
        ordered = sorted(sources, key=lambda source: source.updates)
        for table in TABLE_ORDER:
            for source in ordered:
                if source.name in failed:
                    continue
                try:
                    source.feed(table, builder)
                except SourceError as error:
                    problems.append(error.problem)
                    if not _per_query(source):  # each query fails on its own
                        failed.add(source.name)
    finally:
        for source in sources:
            source.close()
        if collecting:
            gc.enable()
    if problems:
        raise ConfigError(problems)
    dataset = builder.finish()
    counts = {
        Table.USERS.value: len(dataset.users),
        Table.ACCOUNTS.value: len(dataset.accounts),
        Table.MEMBERSHIPS.value: len(dataset.memberships),
        Table.EVENTS.value: len(dataset.events),
    }
    return LoadResult(dataset, quarantine, counts, builder.attributes, builder.digests)


def _load_columns(
    sources: list[CsvSource], problems: list[Problem], cache: ColumnsCache | None = None
) -> LoadResult:
    """:func:`load`, column-wise: each file read into columns (or taken from
    ``cache``), the rules run as queries (:func:`hub.sources.frame.build_frame`)."""
    from hub.sources.frame import Part, build_frame  # Arrow and DuckDB: loaded when used

    quarantine = Quarantine()
    digests = RowDigests()
    attributes: dict[Table, set[str]] = {table: set() for table in Table}
    parts: dict[Table, list[Part]] = {table: [] for table in TABLE_ORDER}
    collecting = gc.isenabled()
    gc.disable()
    try:
        readable = []
        for source in sources:
            found = source.check()
            problems.extend(found)
            if not found:
                readable.append(source)
        for table in TABLE_ORDER:
            for source in readable:
                if source.table is not table:
                    continue
                kept = cache.read(source) if cache is not None else None
                if kept is not None:
                    read, read_digests = kept
                else:
                    read_digests = RowDigests()
                    try:
                        read = source.read_columns(read_digests)
                    except SourceError as error:
                        problems.append(error.problem)
                        continue
                    if cache is not None:
                        cache.write(source, read, read_digests)
                digests.add_digests(read_digests)
                attributes[table].update(name for name in read.header if name)
                parts[table].append(Part(source.origin, table, read))
        if problems:
            raise ConfigError(problems)
        frame = build_frame(parts, quarantine)
    finally:
        if collecting:
            gc.enable()
    return LoadResult(None, quarantine, frame.counts(), attributes, digests, frame=frame)


class _ColumnSink:
    """A :class:`hub.sources.RowSink` that keeps only the attribute names."""

    def __init__(self) -> None:
        self.attributes: dict[Table, set[str]] = {table: set() for table in Table}

    def columns(self, table: Table, names: Iterable[str]) -> None:
        self.attributes[table].update(names)

    def user(self, *args: Any) -> None:
        pass

    def account(self, *args: Any) -> None:
        pass

    def membership(self, *args: Any) -> None:
        pass

    def event(self, *args: Any) -> None:
        pass

    def reject(self, *args: Any) -> None:
        pass


def discover_columns(
    settings: HubSettings, base_dir: Path
) -> tuple[dict[Table, set[str]], list[Problem]]:
    """The attribute names every source holds, per table, and what makes a
    source unreadable (a missing file, a header without the required columns, a
    database that does not connect, a failing query), without building a data
    set: a CSV file's header alone, every row of a JSON Lines or Segment file
    (their keys vary by row), and each query's result columns."""
    sink = _ColumnSink()
    problems: list[Problem] = []
    for name, source_settings in settings.sources.items():
        source, found = _source(name, source_settings, base_dir)
        problems.extend(found)
        if source is None:
            continue
        try:
            if isinstance(source, CsvSource):
                header, found = source.columns()
                problems.extend(found)
                if not found:
                    sink.columns(source.table, [column for column in header if column])
                continue
            if _per_query(source):
                source.fetch_rows = False  # type: ignore[attr-defined]
            found = source.check()
            if found:
                problems.extend(found)
                continue
            for table in TABLE_ORDER:
                try:
                    source.feed(table, sink)
                except SourceError as error:
                    problems.append(error.problem)
                    if not _per_query(source):
                        break
        finally:
            source.close()
    return sink.attributes, problems


def source_tables(settings: HubSettings, failed: list[Problem]) -> set[Table]:
    """The tables whose every source could be read: those of sources that none
    of the ``failed`` problems (keyed ``sources.NAME...``) is about."""
    broken = {
        problem.key.split(".")[1]
        for problem in failed
        if problem.key and problem.key.startswith("sources.") and problem.key.count(".") >= 1
    }
    complete = set(Table)
    for name, source in settings.sources.items():
        if name not in broken:
            continue
        if source.kind is SourceKind.SEGMENT:
            complete -= {Table.USERS, Table.ACCOUNTS, Table.MEMBERSHIPS, Table.EVENTS}
        elif source.kind is SourceKind.SQL:
            complete -= set(source.queries)
        elif source.table is not None:
            complete.discard(source.table)
    return complete
