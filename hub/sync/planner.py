"""The planner: what one destination needs, against what it already confirmed.

:func:`plan_destination` diffs a destination's projection with the state
store and returns a :class:`DestinationPlan`: the items to send, in send order
(accounts, contacts, links, unlinks, contact deletes, account deletes), and
counts for the report. It writes nothing; ``hub plan`` prints it, the executor
sends it.

Rules, per record (account, contact or membership contact) and per link
(keyed :func:`hub.contract.destination.link_key`, payload ``{"properties", "primary"}``):

- the **fingerprint** of the mapped payload (:mod:`hub.sync.fingerprint`) is
  compared with the one the destination last *accepted*. Same fingerprint and
  status ``ok``: nothing is planned (``unchanged``), so an unchanged re-run
  plans no item at all;
- **pending** records (new, changed, or after a retryable failure) are planned;
- a record **failed** for good is held back while its payload is the one that
  was refused (``failed_fingerprint``); it is planned again once its data
  changes, or after ``hub retry`` (:meth:`~hub.state.StateStore.reset_failed`).
  When the refused payload is unknown it is re-sent;
- **create** when the destination does not hold the record yet (no state, a
  deleted record, or never accepted), else **update**, carrying the
  remembered destination id (``None`` for destinations that match on an
  external id and return none).

Modes: ``upsert`` creates and updates; ``update_only`` only updates
(new records are counted ``skipped.update_only``); ``create_only`` only
creates (changes counted ``skipped.create_only``); ``mirror`` upserts and
deletes the records the hub created that left the source. Links are
reconciled in ``upsert`` and ``mirror``: new and changed links are linked,
links the hub created that left the source are unlinked; links the hub did
not create are never touched. In ``update_only`` only links the destination
holds are updated, in ``create_only`` only new ones are linked; neither unlinks.

**Mass-delete guard**: deletes and unlinks are all refused (the plan carries
none, ``delete_guard`` says why, naming ``--force-delete`` and
``destinations.NAME.max_delete_share``) when, for an object kind, the source
has no record at all while the hub created some there, or the deletes exceed
``max_delete_share`` of the records the hub created there. The same holds
when the load was not clean (``unclean_load``: the sources quarantined rows
this run): a record may have left the source only because its row could not
be read, so nothing is deleted or unlinked on that evidence. ``force_delete``
lifts the guard. Creates and updates are still planned.

**Memory and speed**: the projection is read once, a chunk at a time (it may
also be a stream of :data:`hub.records.ProjectionChunk`, and
:class:`DestinationPlanner` plans it chunk by chunk for a sync that sends as it
plans). Both the projection and the store are in key order (accounts and
contacts by key, links by ``(contact_key, account_key)``, which is the order of
their link keys unless a contact key holds a character below the tab), so
each object kind is diffed in one merge pass over
:meth:`~hub.state.StateStore.iter_records` (pages of raw rows with the SQLite
store), not one lookup per key; the records of the store the pass steps over
are the ones that left the source, counted for the delete guard on the way.
Should a stream not be in that order, that kind falls back to ``get_many``
lookups for the rest of the stream. Only the keys of the records that left
are kept (their states too, up to 100,000).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import islice
from typing import Any, Final, Protocol

from hub.contract.capabilities import SyncMode
from hub.contract.destination import BatchObject, LinkEnds, link_key, link_payload, split_link_key
from hub.model import split_membership_key
from hub.records import (
    AccountsChunk,
    ContactsChunk,
    DestinationProjection,
    Link,
    LinksChunk,
    ProjectionChunk,
    ProjectionSummary,
    Record,
)
from hub.state import RecordState, RecordStatus, StateStore
from hub.sync.fingerprint import fingerprint

__all__ = [
    "CHUNK_SIZE",
    "DestinationPlan",
    "DestinationPlanner",
    "PlanAction",
    "PlannedItem",
    "make_ends",
    "make_item",
    "plan_destination",
    "plan_for_subject",
]

#: Keys per ``get_many`` call.
CHUNK_SIZE = 5000
#: Rows read from the store per page of the merge pass.
_PAGE = 5000


class PlanAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    LINK = "link"
    UNLINK = "unlink"


@dataclass(frozen=True, slots=True)
class PlannedItem:
    """One thing to send.

    ``payload`` is the mapped fields (a link's ``{"properties", "primary"}``,
    empty for deletes and unlinks); ``fingerprint`` is what the executor
    confirms (or passes in a permanent :class:`~hub.state.Failure`) once the
    destination answered; for deletes and unlinks, the last accepted one.
    ``destination_id`` is the remembered id. ``link`` gives a link's ends;
    an end's destination id is ``None`` when that record is created in this
    same run (the executor fills it in).
    """

    object: BatchObject
    action: PlanAction
    key: str
    payload: Mapping[str, Any]
    fingerprint: str
    destination_id: str | None
    link: LinkEnds | None = None


_new = object.__new__
# Slots set directly: a frozen dataclass's __init__ goes through
# object.__setattr__ per field, and a full sync plans items by the million.
_item_slots = tuple(
    PlannedItem.__dict__[name].__set__
    for name in ("object", "action", "key", "payload", "fingerprint", "destination_id", "link")
)
_ends_slots = tuple(
    LinkEnds.__dict__[name].__set__
    for name in ("contact_key", "account_key", "contact_id", "account_id", "primary")
)


def make_item(
    object: BatchObject,
    action: PlanAction,
    key: str,
    payload: Mapping[str, Any],
    fingerprint: str,
    destination_id: str | None,
    link: LinkEnds | None = None,
) -> PlannedItem:
    """``PlannedItem(...)``, three times as fast (the same object)."""
    item: PlannedItem = _new(PlannedItem)
    s_object, s_action, s_key, s_payload, s_fingerprint, s_id, s_link = _item_slots
    s_object(item, object)
    s_action(item, action)
    s_key(item, key)
    s_payload(item, payload)
    s_fingerprint(item, fingerprint)
    s_id(item, destination_id)
    s_link(item, link)
    return item


def make_ends(
    contact_key: str,
    account_key: str,
    contact_id: str | None,
    account_id: str | None,
    primary: bool = False,
) -> LinkEnds:
    """``LinkEnds(...)``, three times as fast (the same object)."""
    ends: LinkEnds = _new(LinkEnds)
    s_contact, s_account, s_contact_id, s_account_id, s_primary = _ends_slots
    s_contact(ends, contact_key)
    s_account(ends, account_key)
    s_contact_id(ends, contact_id)
    s_account_id(ends, account_id)
    s_primary(ends, primary)
    return ends


@dataclass(slots=True)
class DestinationPlan:
    """What one destination gets in one run.

    ``items`` are in send order: account creates/updates, contact
    creates/updates, links, unlinks, contact deletes, account deletes.

    ``counts`` (every key always present) has ``"{object}.{action}"`` for the
    planned items, ``"{object}.unchanged"``, ``"{object}.failed"`` (failed for
    good, held back until the data changes or ``hub retry``),
    ``"skipped.update_only"`` / ``"skipped.create_only"`` (left out by the mode),
    ``"skipped.delete_guard"`` (deletes and unlinks refused by the guard) and
    ``"failed.pending_retry"`` (planned items retrying an earlier failure).

    ``delete_guard`` says why deletes and unlinks were refused, ``None`` when
    they were not.
    """

    destination: str
    mode: SyncMode
    items: list[PlannedItem]
    counts: dict[str, int]
    delete_guard: str | None = None
    #: The projection's notices and stats, when it gave them (a stream's summary).
    stats: dict[str, int | float] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when nothing would be sent."""
        return not self.items


_RECORD_OBJECTS = (BatchObject.ACCOUNT, BatchObject.CONTACT, BatchObject.LINK)


def _initial_counts() -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind in (BatchObject.ACCOUNT, BatchObject.CONTACT):
        for what in ("create", "update", "unchanged", "failed", "delete"):
            counts[f"{kind}.{what}"] = 0
    for what in ("link", "unchanged", "failed", "unlink"):
        counts[f"link.{what}"] = 0
    for what in ("skipped.update_only", "skipped.create_only", "skipped.delete_guard"):
        counts[what] = 0
    counts["failed.pending_retry"] = 0
    return counts


def _chunks(
    projection: DestinationProjection | Iterable[ProjectionChunk],
) -> Iterator[ProjectionChunk]:
    if isinstance(projection, DestinationProjection):
        yield AccountsChunk(projection.accounts)
        yield ContactsChunk(projection.contacts)
        yield LinksChunk(projection.links)
        yield ProjectionSummary(projection.destination, projection.notices, projection.stats)
    else:
        yield from projection


def _batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    if len(items) <= size:
        if items:
            yield items
        return
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _held_state(state: RecordState | None) -> RecordState | None:
    """``state`` unless it is a deleted record (which the destination no longer holds)."""
    return None if state is None or state.status is RecordStatus.DELETED else state


#: What the merge pass reads of a record's state: key, fingerprint, status
#: (its string value) and created_by_hub (0 or 1); the rest is read only for
#: the records that are sent (see :meth:`hub.state.sqlite.SqliteStateStore.scan_records`).
Row = tuple[str, str | None, str, int]
_KEY: Final = 0
_FINGERPRINT: Final = 1
_STATUS: Final = 2
_CREATED: Final = 3
_OK, _DELETED = RecordStatus.OK.value, RecordStatus.DELETED.value


def _row(state: RecordState) -> Row:
    return (state.key, state.fingerprint, state.status.value, int(state.created_by_hub))


def _live_own(row: Row) -> bool:
    """True for a record the hub created and the destination still holds."""
    return bool(row[_CREATED] == 1 and row[_STATUS] != _DELETED)


def _leaving_states(
    state: StateStore, destination: str, kind: BatchObject, keys: list[str], chunk: int
) -> Iterator[RecordState]:
    """The states of ``keys`` (records that left), still the hub's and live, in order."""
    for start in range(0, len(keys), chunk):
        part = keys[start : start + chunk]
        states = state.get_many(destination, kind, part)
        for key in part:
            found = states.get(key)
            if found is not None and _live_own(_row(found)):
                yield found


class _Merge:
    """One object kind's pass over the store beside the projection.

    ``match(keys)`` gives each key's store row (``None``: no state), walking
    the store in key order; rows stepped over are not in the projection
    (``leaving``, when they are the hub's own and live). Pages are fetched only
    when needed, each after the last row already read, so the rows the
    executor writes meanwhile (keys the pass already went by) are never read
    back as leavers. Keys out of order switch the kind to ``get_many`` lookups.
    """

    def __init__(
        self,
        state: StateStore,
        destination: str,
        kind: BatchObject,
        track: bool,
        chunk: int,
    ) -> None:
        self.state = state
        self._finished = False
        self.destination = destination
        self.kind = kind
        #: Count and keep the records that left (deletes or unlinks are possible).
        self.track = track
        self.chunk = chunk
        self.rows: list[Row] = []
        self.pos = 0
        self.after: str | None = None
        self.done = False
        self.last: str | None = None
        self.ordered = True
        #: Lookup mode (keys out of order): key -> whether the store had it.
        self.late: dict[str, bool] = {}
        #: The hub's live records seen in the store, and the keys of those that left.
        self.total = 0
        self.leaving: list[str] = []
        pages = getattr(state, "scan_records", None)
        self._pages: Callable[[str, BatchObject, str | None, int], list[Row]] | None = (
            pages if callable(pages) else None
        )
        self._records: Iterator[RecordState] | None = None

    # -- reading the store ------------------------------------------------------

    def _fetch(self) -> list[Row]:
        if self.done:
            return []
        if self._pages is not None:
            rows = self._pages(self.destination, self.kind, self.after, _PAGE)
        else:
            if self._records is None:
                self._records = self.state.iter_records(self.destination, self.kind)
            rows = [_row(state) for state in islice(self._records, _PAGE)]
        if len(rows) < _PAGE:
            self.done = True  # for good: later pages would hold this run's own writes
        if rows:
            self.after = rows[-1][_KEY]
        return rows

    def _step_over(self, row: Row) -> None:
        if self.track and _live_own(row):
            self.total += 1
            self.leaving.append(row[_KEY])

    # -- matching ---------------------------------------------------------------

    def match(self, keys: Sequence[str]) -> list[Row | None]:
        """The store row of each of ``keys`` (``None`` when it has none)."""
        if not keys:
            return []
        if self.ordered:
            previous = self.last
            for key in keys:
                if previous is not None and key <= previous:
                    self.ordered = False
                    break
                previous = key
        if not self.ordered:
            return self._lookup(keys)
        found: list[Row | None] = []
        append = found.append
        rows, pos, track = self.rows, self.pos, self.track
        for key in keys:
            row: Row | None = None
            while True:
                if pos >= len(rows):
                    rows, pos = self._fetch(), 0
                    if not rows:
                        break
                current = rows[pos]
                current_key = current[_KEY]
                if current_key < key:
                    self._step_over(current)
                    pos += 1
                    continue
                if current_key == key:
                    row = current
                    pos += 1
                    if track and _live_own(current):
                        self.total += 1
                break
            append(row)
        self.rows, self.pos = rows, pos
        self.last = keys[-1]
        return found

    def _lookup(self, keys: Sequence[str]) -> list[Row | None]:
        found: list[Row | None] = []
        late = self.late
        for start in range(0, len(keys), self.chunk):
            part = keys[start : start + self.chunk]
            states = self.state.get_many(self.destination, self.kind, part)
            for key in part:
                state = states.get(key)
                row = None if state is None else _row(state)
                if key not in late:
                    late[key] = row is not None
                    if row is not None and self.track and _live_own(row):
                        self.total += 1
                found.append(row)
        return found

    def finish(self) -> None:
        """Walk the rest of the store: what the projection did not reach left it."""
        if not self.track or self._finished:
            return
        self._finished = True
        late = self.late
        if late:
            # Keys met again out of order did not leave (and were counted twice).
            kept = [key for key in self.leaving if key not in late]
            self.total -= len(self.leaving) - len(kept)
            self.leaving = kept
        rows, pos = self.rows, self.pos
        while True:
            for row in rows[pos:]:
                seen = late.get(row[_KEY]) if late else None
                if seen is None:
                    self._step_over(row)
            rows, pos = self._fetch(), 0
            if not rows:
                break
        self.rows, self.pos = [], 0

    def leaving_states(self) -> Iterator[RecordState]:
        """The states of the records that left, in key order."""
        return _leaving_states(self.state, self.destination, self.kind, self.leaving, self.chunk)


class DeltaScope(Protocol):
    """A delta run's scope (:class:`hub.sync.delta.DeltaScope`): the store keys
    its records may have, per object kind."""

    def keys(self, kind: BatchObject) -> frozenset[str]: ...


class _ScopedMerge:
    """A delta run's pass over one object kind: only the keys of its scope are
    read from the store (once, before anything is sent), and only those may
    leave; the kind's other records are counted in :attr:`kept`, by status
    (the kind's totals less the scope's), as the unchanged records they are."""

    def __init__(
        self,
        state: StateStore,
        destination: str,
        kind: BatchObject,
        track: bool,
        chunk: int,
        keys: frozenset[str],
        totals: Mapping[str, int],
    ) -> None:
        self.state = state
        self.destination = destination
        self.kind = kind
        self.track = track
        self.chunk = chunk
        self.rows: dict[str, Row] = {}
        self._read(sorted(keys))
        in_scope: dict[str, int] = {}
        for row in self.rows.values():
            in_scope[row[_STATUS]] = in_scope.get(row[_STATUS], 0) + 1
        self.kept = {status: count - in_scope.get(status, 0) for status, count in totals.items()}
        #: The hub's live records of the kind (all of them: the guard's share is
        #: of these), before anything is sent; counted only when records may leave.
        self.total = state.owned_count(destination, kind) if track else 0
        self.matched: set[str] = set()
        self.leaving: list[str] = []
        self._finished = False

    def _read(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), self.chunk):
            part = keys[start : start + self.chunk]
            for key, state in self.state.get_many(self.destination, self.kind, part).items():
                self.rows[key] = _row(state)

    def match(self, keys: Sequence[str]) -> list[Row | None]:
        """The store row of each of ``keys`` (``None`` when it has none)."""
        # A key outside the scope (its user's id shadowed by another's) is read now.
        outside = [key for key in keys if key not in self.rows and key not in self.matched]
        if outside:
            self._read(outside)
            for key in outside:
                row = self.rows.get(key)
                if row is not None:  # counted in the totals, not in the scope's
                    self.kept[row[_STATUS]] = self.kept.get(row[_STATUS], 0) - 1
        self.matched.update(keys)
        return [self.rows.get(key) for key in keys]

    def finish(self) -> None:
        """The scope's records the projection did not hold left the source."""
        if not self.track or self._finished:
            return
        self._finished = True
        self.leaving = sorted(
            key for key, row in self.rows.items() if key not in self.matched and _live_own(row)
        )

    def leaving_states(self) -> Iterator[RecordState]:
        """The states of the records that left, in key order."""
        return _leaving_states(self.state, self.destination, self.kind, self.leaving, self.chunk)


class DestinationPlanner:
    """Plans one destination chunk by chunk (what :func:`plan_destination`
    runs; the sync uses it directly to send each chunk's items as they come).

    Feed it the projection's chunks in stream order with :meth:`plan_chunk`
    (each returns that chunk's items), then call :meth:`finish` once; then
    :meth:`iter_deletes` gives the unlinks and deletes (none when the guard
    tripped) and :meth:`plan` the counts. ``end_ids=False`` leaves the link
    ends' destination ids out of planned links (the executor fills them in
    from the store right before sending).
    """

    def __init__(
        self,
        state: StateStore,
        destination: str,
        mode: SyncMode,
        *,
        max_delete_share: float,
        force_delete: bool = False,
        chunk_size: int = CHUNK_SIZE,
        end_ids: bool = True,
        unclean_load: str | None = None,
        scope: DeltaScope | None = None,
    ) -> None:
        self.state = state
        self.destination = destination
        self.mode = SyncMode(mode)
        self.max_delete_share = max_delete_share
        self.force_delete = force_delete
        #: Why the load was not clean (quarantined rows), ``None`` when it was.
        self.unclean_load = unclean_load
        self.chunk_size = max(1, chunk_size)
        self.end_ids = end_ids
        self.counts = _initial_counts()
        self.stats: dict[str, int | float] = {}
        self.seen: dict[BatchObject, int] = dict.fromkeys(_RECORD_OBJECTS, 0)
        self.deletes_on: dict[BatchObject, bool] = {
            BatchObject.ACCOUNT: self.mode is SyncMode.MIRROR,
            BatchObject.CONTACT: self.mode is SyncMode.MIRROR,
            BatchObject.LINK: self.mode in (SyncMode.MIRROR, SyncMode.UPSERT),
        }
        #: A delta run's (:mod:`hub.sync.delta`): the projection holds only the
        #: records of some subjects, and the store's others are unchanged.
        self.scope = scope
        self.merges: dict[BatchObject, _Merge | _ScopedMerge] = {}
        if scope is None:
            for kind in _RECORD_OBJECTS:
                self.merges[kind] = _Merge(
                    state, destination, kind, self.deletes_on[kind], self.chunk_size
                )
        else:
            counts = state.record_counts(destination)
            for kind in _RECORD_OBJECTS:
                self.merges[kind] = _ScopedMerge(
                    state,
                    destination,
                    kind,
                    self.deletes_on[kind],
                    self.chunk_size,
                    scope.keys(kind),
                    counts.get(kind.value, {}),
                )
        self.delete_guard: str | None = None
        self.gone: dict[BatchObject, int] = {}
        self.finished = False

    def _decide(
        self, kind: BatchObject, state: RecordState | None, new_fingerprint: str
    ) -> PlanAction | None:
        """The action for one record or link, ``None`` when nothing is sent (counted)."""
        counts = self.counts
        held = _held_state(state)
        if held is not None:
            if held.status is RecordStatus.OK and held.fingerprint == new_fingerprint:
                counts[f"{kind}.unchanged"] += 1
                return None
            if (
                held.status is RecordStatus.FAILED
                and held.failed_fingerprint is not None
                and held.failed_fingerprint == new_fingerprint
            ):
                counts[f"{kind}.failed"] += 1
                return None
        known = held is not None and (
            held.destination_id is not None or held.fingerprint is not None
        )
        if known and self.mode is SyncMode.CREATE_ONLY:
            counts["skipped.create_only"] += 1
            return None
        if not known and self.mode is SyncMode.UPDATE_ONLY:
            counts["skipped.update_only"] += 1
            return None
        if held is not None and held.last_error is not None:
            counts["failed.pending_retry"] += 1
        if kind is BatchObject.LINK:
            action = PlanAction.LINK
        else:
            action = PlanAction.UPDATE if known else PlanAction.CREATE
        counts[f"{kind}.{action}"] += 1
        return action

    # -- the projection, chunk by chunk ---------------------------------------------

    def plan_chunk(self, chunk: ProjectionChunk) -> list[PlannedItem]:
        """The items of one chunk of the projection stream, in send order."""
        if isinstance(chunk, AccountsChunk):
            return self._records(BatchObject.ACCOUNT, chunk.records)
        if isinstance(chunk, ContactsChunk):
            return self._records(BatchObject.CONTACT, chunk.records)
        if isinstance(chunk, LinksChunk):
            return self._links(chunk.links)
        self.stats = dict(chunk.stats)
        return []

    def _states(self, kind: BatchObject, keys: list[str]) -> dict[str, RecordState]:
        """The full states of ``keys`` (the few records of a chunk that are sent)."""
        return self.state.get_many(self.destination, kind, keys) if keys else {}

    def _action(
        self, kind: BatchObject, state: RecordState | None, new_fingerprint: str
    ) -> tuple[PlanAction | None, str | None]:
        """The action and the remembered destination id of one record or link."""
        if state is None and self.mode is not SyncMode.UPDATE_ONLY:
            # No state: a create (what _decide says, without its detour).
            created = PlanAction.LINK if kind is BatchObject.LINK else PlanAction.CREATE
            self.counts[f"{kind}.{created}"] += 1
            return created, None
        action = self._decide(kind, state, new_fingerprint)
        held = _held_state(state)
        return action, None if held is None else held.destination_id

    def _records(self, kind: BatchObject, records: Sequence[Record]) -> list[PlannedItem]:
        self.seen[kind] += len(records)
        rows = self.merges[kind].match([record.key for record in records])
        todo: list[tuple[str, dict[str, Any], str, bool]] = []
        unchanged = 0
        for record, row in zip(records, rows, strict=True):
            payload = record.fields
            new_fingerprint = fingerprint(payload)
            if row is not None and row[_FINGERPRINT] == new_fingerprint and row[_STATUS] == _OK:
                unchanged += 1
                continue
            todo.append((record.key, payload, new_fingerprint, row is not None))
        self.counts[f"{kind}.unchanged"] += unchanged
        states = self._states(kind, [key for key, _, _, known in todo if known])
        out: list[PlannedItem] = []
        for key, payload, new_fingerprint, known in todo:
            action, destination_id = self._action(
                kind, states.get(key) if known else None, new_fingerprint
            )
            if action is not None:
                out.append(make_item(kind, action, key, payload, new_fingerprint, destination_id))
        return out

    def _links(self, links: Sequence[Link]) -> list[PlannedItem]:
        kind = BatchObject.LINK
        self.seen[kind] += len(links)
        keys = [link_key(link.contact_key, link.account_key) for link in links]
        rows = self.merges[kind].match(keys)
        todo: list[tuple[Link, str, dict[str, Any], str, bool]] = []
        unchanged = 0
        for link, key, row in zip(links, keys, rows, strict=True):
            payload = link_payload(link.properties, link.primary)
            new_fingerprint = fingerprint(payload)
            if row is not None and row[_FINGERPRINT] == new_fingerprint and row[_STATUS] == _OK:
                unchanged += 1
                continue
            todo.append((link, key, payload, new_fingerprint, row is not None))
        self.counts[f"{kind}.unchanged"] += unchanged
        states = self._states(kind, [key for _, key, _, _, known in todo if known])
        planned: list[tuple[Link, str, dict[str, Any], str, str | None]] = []
        for link, key, payload, new_fingerprint, known in todo:
            action, destination_id = self._action(
                kind, states.get(key) if known else None, new_fingerprint
            )
            if action is not None:
                planned.append((link, key, payload, new_fingerprint, destination_id))
        if not planned:
            return []
        contact_ids: dict[str, str] = {}
        account_ids: dict[str, str] = {}
        if self.end_ids:
            contact_ids, account_ids = self._end_ids(
                {p[0].contact_key for p in planned}, {p[0].account_key for p in planned}
            )
        action = PlanAction.LINK
        return [
            make_item(
                kind,
                action,
                key,
                payload,
                new_fingerprint,
                destination_id,
                make_ends(
                    link.contact_key,
                    link.account_key,
                    contact_ids.get(link.contact_key),
                    account_ids.get(link.account_key),
                    link.primary,
                ),
            )
            for link, key, payload, new_fingerprint, destination_id in planned
        ]

    def _end_ids(
        self, contact_keys: Iterable[str], account_keys: Iterable[str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The remembered destination ids of link ends (absent: not created yet)."""

        def ids(kind: BatchObject, keys: Iterable[str]) -> dict[str, str]:
            found: dict[str, str] = {}
            iterator = iter(keys)
            while chunk := list(islice(iterator, self.chunk_size)):
                for key, state in self.state.get_many(self.destination, kind, chunk).items():
                    held = _held_state(state)
                    if held is not None and held.destination_id is not None:
                        found[key] = held.destination_id
            return found

        return ids(BatchObject.CONTACT, contact_keys), ids(BatchObject.ACCOUNT, account_keys)

    # -- what left the source ----------------------------------------------------------

    def finish(self) -> str | None:
        """Count what left the source and apply the delete guard; returns why
        deletes and unlinks are refused (``None`` when they are not)."""
        if self.finished:
            return self.delete_guard
        self.finished = True
        reasons: list[str] = []
        name = self.destination
        if self.scope is not None:
            self._count_kept()
        for kind in (BatchObject.ACCOUNT, BatchObject.CONTACT, BatchObject.LINK):
            if not self.deletes_on[kind]:
                continue
            merge = self.merges[kind]
            merge.finish()
            leaving, total = len(merge.leaving), merge.total
            if not leaving:
                continue
            self.gone[kind] = leaving
            noun = f"{kind}s"
            if self.seen[kind] == 0:
                reasons.append(
                    f"the source has no {noun} for {name!r} while the hub created {total} there:"
                    f" refusing to {'unlink' if kind is BatchObject.LINK else 'delete'} them all"
                )
            elif leaving > self.max_delete_share * total:
                reasons.append(
                    f"{leaving} of the {total} {noun} the hub created in {name!r}"
                    f" ({leaving / total:.0%}) left the source, over"
                    f" destinations.{name}.max_delete_share = {self.max_delete_share:g}"
                )
        if self.gone and not reasons and self.unclean_load:
            what = ", ".join(
                f"{count} {'unlink' if kind is BatchObject.LINK else 'delete'}(s) of {kind}s"
                for kind, count in self.gone.items()
            )
            reasons.append(
                f"{self.unclean_load}, so {what} may come from rows that could not be read"
                " (hub errors --quarantine lists them)"
            )
        if reasons and not self.force_delete:
            self.delete_guard = (
                "; ".join(reasons)
                + ": no record was deleted or unlinked. If this is intended, run again with"
                f" --force-delete, or raise destinations.{name}.max_delete_share"
            )
            self.counts["skipped.delete_guard"] = sum(self.gone.values())
            self.gone = {}
        else:
            for kind, leaving in self.gone.items():
                self.counts["link.unlink" if kind is BatchObject.LINK else f"{kind}.delete"] = (
                    leaving
                )
        return self.delete_guard

    def _count_kept(self) -> None:
        """A delta run: the store's records outside its subjects count as the full
        plan counts them, unchanged (or failed and held back), and as seen."""
        for kind, merge in self.merges.items():
            if not isinstance(merge, _ScopedMerge):
                continue
            ok = merge.kept.get(_OK, 0)
            failed = merge.kept.get(RecordStatus.FAILED.value, 0)
            self.counts[f"{kind}.unchanged"] += ok
            self.counts[f"{kind}.failed"] += failed
            self.seen[kind] += ok + failed

    def iter_deletes(self) -> Iterator[list[PlannedItem]]:
        """After :meth:`finish`: the unlinks, contact deletes and account deletes,
        in send order, a chunk at a time (nothing when the guard tripped)."""
        self.finish()
        for kind in (BatchObject.LINK, BatchObject.CONTACT, BatchObject.ACCOUNT):
            if kind not in self.gone:
                continue
            states = self.merges[kind].leaving_states()
            while part := list(islice(states, self.chunk_size)):
                if kind is BatchObject.LINK:
                    yield self._unlinks(part)
                else:
                    yield [
                        make_item(
                            kind,
                            PlanAction.DELETE,
                            state.key,
                            {},
                            state.fingerprint or "",
                            state.destination_id,
                        )
                        for state in part
                    ]

    def _unlinks(self, states: list[RecordState]) -> list[PlannedItem]:
        ends = [split_link_key(state.key) for state in states]
        contact_ids, account_ids = self._end_ids({c for c, _ in ends}, {a for _, a in ends})
        return [
            make_item(
                BatchObject.LINK,
                PlanAction.UNLINK,
                state.key,
                {},
                state.fingerprint or "",
                state.destination_id,
                make_ends(
                    contact_key,
                    account_key,
                    contact_ids.get(contact_key),
                    account_ids.get(account_key),
                ),
            )
            for state, (contact_key, account_key) in zip(states, ends, strict=True)
        ]

    def plan(self, items: list[PlannedItem] | None = None) -> DestinationPlan:
        """The plan's counts, guard and stats (with ``items``, or none)."""
        self.finish()
        return DestinationPlan(
            self.destination, self.mode, items or [], self.counts, self.delete_guard, self.stats
        )


def plan_destination(
    projection: DestinationProjection | Iterable[ProjectionChunk],
    state: StateStore,
    *,
    mode: SyncMode,
    max_delete_share: float,
    force_delete: bool = False,
    destination: str | None = None,
    chunk_size: int = CHUNK_SIZE,
    unclean_load: str | None = None,
    scope: DeltaScope | None = None,
) -> DestinationPlan:
    """Diff ``projection`` (a whole projection, or a stream of chunks: accounts,
    contacts, links, summary) with what ``state`` holds for its destination.

    ``destination`` names the destination in the store (default: the
    projection's, or the stream summary's; a stream without a summary before
    its records needs it). ``scope``: a delta run's (see
    :class:`DestinationPlanner`). See the module doc for the rules.
    """
    name = destination
    if name is None and isinstance(projection, DestinationProjection):
        name = projection.destination
    if name is None:
        raise ValueError("plan_destination needs destination= for a projection stream")
    planner = DestinationPlanner(
        state,
        name,
        mode,
        max_delete_share=max_delete_share,
        force_delete=force_delete,
        chunk_size=chunk_size,
        unclean_load=unclean_load,
        scope=scope,
    )
    items: list[PlannedItem] = []
    for chunk in _chunks(projection):
        items.extend(planner.plan_chunk(chunk))
    planner.finish()
    for part in planner.iter_deletes():
        items.extend(part)
    return planner.plan(items)


def plan_for_subject(
    plan: DestinationPlan,
    *,
    user_id: str | None = None,
    account_id: str | None = None,
    separator: str = ":",
) -> list[PlannedItem]:
    """The items of ``plan`` about one user or one account (``hub plan --user /
    --account``), in send order; with both, the items about either.

    About a user: their contact, their membership contacts (keys
    ``user{separator}account``) and their links. About an account: its
    record, the membership contacts keyed with it and the links to it.
    """
    if user_id is None and account_id is None:
        raise ValueError("plan_for_subject needs user_id or account_id")
    chosen: list[PlannedItem] = []
    for item in plan.items:
        if item.object is BatchObject.LINK:
            contact_key, account_key = (
                (item.link.contact_key, item.link.account_key)
                if item.link is not None
                else split_link_key(item.key)
            )
        elif item.object is BatchObject.CONTACT:
            contact_key, account_key = item.key, None
        else:
            contact_key, account_key = None, item.key
        member = None
        if contact_key is not None and item.object is BatchObject.CONTACT:
            member = split_membership_key(contact_key, separator)
        match = False
        if user_id is not None and contact_key is not None:
            match = contact_key == user_id or (member is not None and member[0] == user_id)
        if not match and account_id is not None:
            if account_key is not None:
                match = account_key == account_id
            elif member is not None:
                match = member[1] == account_id
        if match:
            chosen.append(item)
    return chosen
