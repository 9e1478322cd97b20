"""The planner: what one destination needs, against what it already confirmed.

:func:`plan_destination` diffs a destination's projection with the state
store and returns a :class:`DestinationPlan`: the items to send, in send order
(accounts, contacts, links, unlinks, contact deletes, account deletes), and
counts for the report. It writes nothing; ``hub plan`` prints it, the executor
sends it.

Rules, per record (account, contact or membership contact) and per link
(keyed :func:`hub.destination.link_key`, payload ``{"properties", "primary"}``):

- the **fingerprint** of the mapped payload (:mod:`hub.fingerprint`) is
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
``max_delete_share`` of the records the hub created there. ``force_delete``
lifts the guard. Creates and updates are still planned.

**Memory**: the projection is read once, a chunk at a time (it may also be a
stream of :data:`hub.records.ProjectionChunk`); states are fetched with
``get_many`` for ~5,000 keys at a time and not kept. Only when deletes or
unlinks are possible does the planner keep the set of the projection's keys of
that kind (a set of 3 million short strings: a few hundred MB at worst), and
walks :meth:`~hub.state.StateStore.iter_records` once to count and collect
what left (a second time only when over 100,000 records left).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import islice
from typing import Any

from hub.capabilities import SyncMode
from hub.destination import BatchObject, LinkEnds, link_key, split_link_key
from hub.fingerprint import fingerprint, link_payload
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

__all__ = [
    "CHUNK_SIZE",
    "DestinationPlan",
    "PlanAction",
    "PlannedItem",
    "plan_destination",
    "plan_for_subject",
]

#: Keys per ``get_many`` call.
CHUNK_SIZE = 5000
#: Records leaving the source kept from the first walk of the store; beyond
#: this, the store is walked again once the guard has let the deletes through.
_KEEP_LEAVING = 100_000


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


class _Planner:
    def __init__(
        self,
        state: StateStore,
        destination: str,
        mode: SyncMode,
        chunk_size: int,
    ) -> None:
        self.state = state
        self.destination = destination
        self.mode = mode
        self.chunk_size = chunk_size
        self.counts = _initial_counts()
        self.upserts: dict[BatchObject, list[PlannedItem]] = {k: [] for k in _RECORD_OBJECTS}
        self.seen: dict[BatchObject, int] = dict.fromkeys(_RECORD_OBJECTS, 0)
        self.deletes_on: dict[BatchObject, bool] = {
            BatchObject.ACCOUNT: mode is SyncMode.MIRROR,
            BatchObject.CONTACT: mode is SyncMode.MIRROR,
            BatchObject.LINK: mode in (SyncMode.MIRROR, SyncMode.UPSERT),
        }
        self.current: dict[BatchObject, set[str]] = {k: set() for k in _RECORD_OBJECTS}

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

    def records(self, kind: BatchObject, records: Sequence[Record]) -> None:
        track = self.current[kind] if self.deletes_on[kind] else None
        out = self.upserts[kind]
        self.seen[kind] += len(records)
        for chunk in _batched(records, self.chunk_size):
            states = self.state.get_many(self.destination, kind, (r.key for r in chunk))
            for record in chunk:
                key = record.key
                if track is not None:
                    track.add(key)
                payload = record.fields
                new_fingerprint = fingerprint(payload)
                state = states.get(key)
                action = self._decide(kind, state, new_fingerprint)
                if action is not None:
                    held = _held_state(state)
                    out.append(
                        PlannedItem(
                            kind,
                            action,
                            key,
                            payload,
                            new_fingerprint,
                            None if held is None else held.destination_id,
                        )
                    )

    def links(self, links: Sequence[Link]) -> None:
        kind = BatchObject.LINK
        track = self.current[kind] if self.deletes_on[kind] else None
        out = self.upserts[kind]
        self.seen[kind] += len(links)
        for chunk in _batched(links, self.chunk_size):
            keys = [link_key(link.contact_key, link.account_key) for link in chunk]
            if track is not None:
                track.update(keys)
            states = self.state.get_many(self.destination, kind, keys)
            planned: list[tuple[Link, str, dict[str, Any], str, str | None]] = []
            for link, key in zip(chunk, keys, strict=True):
                payload = link_payload(link.properties, link.primary)
                new_fingerprint = fingerprint(payload)
                state = states.get(key)
                if self._decide(kind, state, new_fingerprint) is not None:
                    held = _held_state(state)
                    planned.append(
                        (
                            link,
                            key,
                            payload,
                            new_fingerprint,
                            None if held is None else held.destination_id,
                        )
                    )
            if not planned:
                continue
            contact_ids, account_ids = self._end_ids(
                {p[0].contact_key for p in planned}, {p[0].account_key for p in planned}
            )
            for link, key, payload, new_fingerprint, destination_id in planned:
                ends = LinkEnds(
                    link.contact_key,
                    link.account_key,
                    contact_ids.get(link.contact_key),
                    account_ids.get(link.account_key),
                    link.primary,
                )
                out.append(
                    PlannedItem(
                        kind, PlanAction.LINK, key, payload, new_fingerprint, destination_id, ends
                    )
                )

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

    def _deletable(self, kind: BatchObject) -> Iterator[tuple[RecordState, bool]]:
        """Every live record the hub created, and whether it left the source."""
        current = self.current[kind]
        for state in self.state.iter_records(self.destination, kind):
            if state.created_by_hub and state.status is not RecordStatus.DELETED:
                yield state, state.key not in current

    def deletes(
        self, max_delete_share: float, force_delete: bool
    ) -> tuple[dict[BatchObject, list[PlannedItem]], str | None]:
        planned: dict[BatchObject, list[PlannedItem]] = {k: [] for k in _RECORD_OBJECTS}
        gone: dict[BatchObject, int] = {}
        leavers: dict[BatchObject, list[RecordState] | None] = {}
        reasons: list[str] = []
        name = self.destination
        for kind in (BatchObject.ACCOUNT, BatchObject.CONTACT, BatchObject.LINK):
            if not self.deletes_on[kind]:
                continue
            total = leaving = 0
            kept: list[RecordState] | None = []
            for state, left in self._deletable(kind):
                total += 1
                if left:
                    leaving += 1
                    if kept is not None:
                        kept.append(state)
                        if len(kept) > _KEEP_LEAVING:
                            kept = None  # too many to hold: walk the store again if due
            if not leaving:
                continue
            gone[kind] = leaving
            leavers[kind] = kept
            noun = f"{kind}s"
            if self.seen[kind] == 0:
                reasons.append(
                    f"the source has no {noun} for {name!r} while the hub created {total} there:"
                    f" refusing to {'unlink' if kind is BatchObject.LINK else 'delete'} them all"
                )
            elif leaving > max_delete_share * total:
                reasons.append(
                    f"{leaving} of the {total} {noun} the hub created in {name!r}"
                    f" ({leaving / total:.0%}) left the source, over"
                    f" destinations.{name}.max_delete_share = {max_delete_share:g}"
                )
        if reasons and not force_delete:
            message = (
                "; ".join(reasons)
                + ": no record was deleted or unlinked. If this is intended, run again with"
                f" --force-delete, or raise destinations.{name}.max_delete_share"
            )
            self.counts["skipped.delete_guard"] = sum(gone.values())
            return planned, message
        for kind in gone:
            out = planned[kind]
            kept = leavers[kind]
            states = (
                kept
                if kept is not None
                else (state for state, left in self._deletable(kind) if left)
            )
            if kind is BatchObject.LINK:
                self._unlinks(states, out)
                continue
            out.extend(
                PlannedItem(
                    kind,
                    PlanAction.DELETE,
                    state.key,
                    {},
                    state.fingerprint or "",
                    state.destination_id,
                )
                for state in states
            )
            self.counts[f"{kind}.delete"] = len(out)
        return planned, None

    def _unlinks(self, states: Iterable[RecordState], out: list[PlannedItem]) -> None:
        kind = BatchObject.LINK
        pending: list[RecordState] = []

        def flush() -> None:
            ends = [split_link_key(state.key) for state in pending]
            contact_ids, account_ids = self._end_ids({c for c, _ in ends}, {a for _, a in ends})
            for state, (contact_key, account_key) in zip(pending, ends, strict=True):
                out.append(
                    PlannedItem(
                        kind,
                        PlanAction.UNLINK,
                        state.key,
                        {},
                        state.fingerprint or "",
                        state.destination_id,
                        LinkEnds(
                            contact_key,
                            account_key,
                            contact_ids.get(contact_key),
                            account_ids.get(account_key),
                        ),
                    )
                )
            pending.clear()

        for state in states:
            pending.append(state)
            if len(pending) >= self.chunk_size:
                flush()
        if pending:
            flush()
        self.counts["link.unlink"] = len(out)


def plan_destination(
    projection: DestinationProjection | Iterable[ProjectionChunk],
    state: StateStore,
    *,
    mode: SyncMode,
    max_delete_share: float,
    force_delete: bool = False,
    destination: str | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> DestinationPlan:
    """Diff ``projection`` (a whole projection, or a stream of chunks: accounts,
    contacts, links, summary) with what ``state`` holds for its destination.

    ``destination`` names the destination in the store (default: the
    projection's, or the stream summary's; a stream without a summary before
    its records needs it). See the module doc for the rules.
    """
    mode = SyncMode(mode)
    name = destination
    if name is None and isinstance(projection, DestinationProjection):
        name = projection.destination
    if name is None:
        raise ValueError("plan_destination needs destination= for a projection stream")
    planner = _Planner(state, name, mode, chunk_size)
    stats: dict[str, int | float] = {}
    for chunk in _chunks(projection):
        if isinstance(chunk, AccountsChunk):
            planner.records(BatchObject.ACCOUNT, chunk.records)
        elif isinstance(chunk, ContactsChunk):
            planner.records(BatchObject.CONTACT, chunk.records)
        elif isinstance(chunk, LinksChunk):
            planner.links(chunk.links)
        else:
            stats = dict(chunk.stats)
    deletes, guard = planner.deletes(max_delete_share, force_delete)
    items = [
        *planner.upserts[BatchObject.ACCOUNT],
        *planner.upserts[BatchObject.CONTACT],
        *planner.upserts[BatchObject.LINK],
        *deletes[BatchObject.LINK],
        *deletes[BatchObject.CONTACT],
        *deletes[BatchObject.ACCOUNT],
    ]
    return DestinationPlan(name, mode, items, planner.counts, guard, stats)


def _about_user(key: str, user_id: str, separator: str) -> bool:
    return key == user_id or key.startswith(user_id + separator)


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
    account_suffix = None if account_id is None else separator + account_id
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
        match = False
        if user_id is not None and contact_key is not None:
            match = _about_user(contact_key, user_id, separator)
        if not match and account_id is not None:
            if account_key is not None:
                match = account_key == account_id
            elif contact_key is not None and account_suffix is not None:
                match = contact_key.endswith(account_suffix)
        if match:
            chosen.append(item)
    return chosen
