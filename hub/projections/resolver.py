"""The multi-account graph, built once per run, and event enrichment.

:class:`Graph` indexes a :class:`~hub.model.Dataset` the way the projections
read it: each user's memberships (sorted by account id), each account's
memberships (sorted by user id), and events per ``(user, account)``, per user
and per account (sorted by time). Event indexes are built on first use: most
mappings never read events.

:func:`enrich` turns events into properties (``[events]`` rollups of
hub.toml): counts over a window and last-seen times, on users, accounts or
memberships.

Time windows: an event counts when ``as_of - window_days <= timestamp <=
as_of``; events after ``as_of`` are ignored everywhere, so a re-run "as of"
a past moment gives the result it gave then. Naive timestamps are UTC.
"""

from __future__ import annotations

import gc
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import groupby, islice
from operator import attrgetter, lt
from types import MappingProxyType
from typing import Any

from hub.config.settings import EventRollupLevel, EventSettings
from hub.model import Account, Dataset, Event, Membership, User
from hub.values import iso_utc, utc

__all__ = [
    "Graph",
    "collection_paused",
    "count_events",
    "enrich",
    "last_event",
    "window_start",
]

_by_account_id = attrgetter("account_id")
_by_user_id = attrgetter("user_id")
_by_timestamp = attrgetter("timestamp")

_NO_MEMBERSHIPS: tuple[Membership, ...] = ()
_NO_EVENTS: tuple[Event, ...] = ()


def _utc_events(events: Iterable[Event]) -> list[Event]:
    # Naive timestamps are UTC; replacing the rare naive event keeps every
    # comparison between timestamps legal.
    return [
        e if e.timestamp.tzinfo is not None else replace(e, timestamp=utc(e.timestamp))
        for e in events
    ]


@contextmanager
def collection_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of acyclic
    objects: each full collection walks every live object, and building the
    graph or a projection would otherwise trigger dozens of them (2x slower).
    Restores the previous state; nothing built here forms reference cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Graph:
    """The dataset, indexed for the projections. Build once, read many times."""

    __slots__ = (
        "_events",
        "_events_by_account",
        "_events_by_pair",
        "_events_by_user",
        "accounts",
        "dataset",
        "memberships_by_account",
        "memberships_by_user",
        "users",
    )

    def __init__(self, dataset: Dataset) -> None:
        with collection_paused():
            self._build(dataset)

    def _build(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.users = dataset.users
        self.accounts = dataset.accounts
        by_user: dict[str, list[Membership]] = {}
        memberships_in = dataset.memberships.values()
        # Sources list a user's memberships together: a run of them at a time.
        run_ids: list[str] = []
        for user_id, run in groupby(memberships_in, key=_by_user_id):
            run_ids.append(user_id)
            user_list = by_user.get(user_id)
            if user_list is None:
                by_user[user_id] = list(run)
            else:
                user_list.extend(run)
        grouped: defaultdict[str, list[Membership]] = defaultdict(list)
        for membership in memberships_in:
            grouped[membership.account_id].append(membership)
        by_account: dict[str, list[Membership]] = dict(grouped)
        del grouped
        for memberships in by_user.values():
            if len(memberships) > 1:
                memberships.sort(key=_by_account_id)
        # Users in increasing id order, one run each: every account's list was
        # filled in user id order (a user appears once per account), so it is sorted.
        if not all(map(lt, run_ids, islice(run_ids, 1, None))):
            for memberships in by_account.values():
                if len(memberships) > 1:
                    memberships.sort(key=_by_user_id)
        #: user id -> the user's memberships, sorted by account id.
        self.memberships_by_user: dict[str, list[Membership]] = by_user
        #: account id -> the account's memberships, sorted by user id.
        self.memberships_by_account: dict[str, list[Membership]] = by_account
        self._events: list[Event] | None = None
        self._events_by_pair: dict[tuple[str, str], list[Event]] | None = None
        self._events_by_user: dict[str, list[Event]] | None = None
        self._events_by_account: dict[str, list[Event]] | None = None

    # -- memberships ---------------------------------------------------------------

    def memberships_of_user(self, user_id: str) -> Sequence[Membership]:
        """The user's memberships, sorted by account id."""
        return self.memberships_by_user.get(user_id, _NO_MEMBERSHIPS)

    def memberships_of_account(self, account_id: str) -> Sequence[Membership]:
        """The account's memberships, sorted by user id."""
        return self.memberships_by_account.get(account_id, _NO_MEMBERSHIPS)

    # -- events --------------------------------------------------------------------

    def _sorted_events(self) -> list[Event]:
        if self._events is None:
            # Sort by (time, name) so ties do not depend on input order.
            events = _utc_events(self.dataset.events)
            events.sort(key=lambda e: (e.timestamp, e.event))
            self._events = events
        return self._events

    def _index_events(self) -> None:
        with collection_paused():
            self._index_sorted_events()

    def _index_sorted_events(self) -> None:
        by_pair: dict[tuple[str, str], list[Event]] = {}
        by_user: dict[str, list[Event]] = {}
        by_account: dict[str, list[Event]] = {}
        for event in self._sorted_events():  # sorted, so every index is sorted too
            user_id = event.user_id
            account_id = event.account_id
            if user_id is not None:
                by_user.setdefault(user_id, []).append(event)
                if account_id is not None:
                    by_pair.setdefault((user_id, account_id), []).append(event)
            if account_id is not None:
                by_account.setdefault(account_id, []).append(event)
        self._events_by_pair = by_pair
        self._events_by_user = by_user
        self._events_by_account = by_account

    def events_of_pair(self, user_id: str, account_id: str) -> Sequence[Event]:
        """Events by the user within the account, sorted by time."""
        if self._events_by_pair is None:
            self._index_events()
        assert self._events_by_pair is not None
        return self._events_by_pair.get((user_id, account_id), _NO_EVENTS)

    def events_of_user(self, user_id: str) -> Sequence[Event]:
        """Events by the user (in any account or none), sorted by time."""
        if self._events_by_user is None:
            self._index_events()
        assert self._events_by_user is not None
        return self._events_by_user.get(user_id, _NO_EVENTS)

    def events_of_account(self, account_id: str) -> Sequence[Event]:
        """Events within the account (by any user or none), sorted by time."""
        if self._events_by_account is None:
            self._index_events()
        assert self._events_by_account is not None
        return self._events_by_account.get(account_id, _NO_EVENTS)


# -- windows ---------------------------------------------------------------------------


def window_start(as_of: datetime, window_days: int | None) -> datetime | None:
    """The first moment of a window of ``window_days`` ending at ``as_of``
    (``None``: no lower bound)."""
    return None if window_days is None else utc(as_of) - timedelta(days=window_days)


def _window(events: Sequence[Event], start: datetime | None, as_of: datetime) -> tuple[int, int]:
    low = 0 if start is None else bisect_left(events, start, key=_by_timestamp)
    high = bisect_right(events, as_of, key=_by_timestamp)
    return low, high


def count_events(
    events: Sequence[Event],
    as_of: datetime,
    start: datetime | None = None,
    name: str | None = None,
) -> int:
    """How many of ``events`` (sorted by time) fall in ``[start, as_of]``,
    only those named ``name`` when given."""
    if not events:
        return 0
    low, high = _window(events, start, utc(as_of))
    if name is None:
        return max(0, high - low)
    return sum(1 for i in range(low, high) if events[i].event == name)


def last_event(events: Sequence[Event], as_of: datetime, name: str | None = None) -> Event | None:
    """The latest of ``events`` (sorted by time) at or before ``as_of``."""
    if not events:
        return None
    high = bisect_right(events, utc(as_of), key=_by_timestamp)
    for i in range(high - 1, -1, -1):
        if name is None or events[i].event == name:
            return events[i]
    return None


# -- enrichment ------------------------------------------------------------------------


def enrich(dataset: Dataset, events: EventSettings, as_of: datetime) -> Dataset:
    """A dataset whose users, accounts and memberships carry the ``[events]``
    rollups as traits / relationship properties.

    - ``count``: events (named ``event`` if set) in the window (``window_days``
      before ``as_of``, or all time up to ``as_of``); ``0`` when there are none.
    - ``last_seen``: the ISO 8601 UTC time of the latest such event at or before
      ``as_of``; ``None`` when there is none.

    Every object of a level that has rollups gets the properties (so a count is
    ``0``, not missing); a rollup replaces a source value of the same name.
    Objects whose values do not change are reused; the input is not modified.
    User-level rollups count a user's events in any account; account-level ones
    every event within the account (with or without a user); relationship-level
    ones the user's events within that account.
    """
    if not events.rollups:
        return dataset
    with collection_paused():
        return _enrich(dataset, events, as_of)


def _enrich(dataset: Dataset, events: EventSettings, as_of: datetime) -> Dataset:
    moment = utc(as_of)
    found: dict[EventRollupLevel, dict[Any, dict[str, Any]]] = {
        level: {} for level in EventRollupLevel
    }
    defaults: dict[EventRollupLevel, dict[str, Any]] = {level: {} for level in EventRollupLevel}
    timed = _utc_events(dataset.events)
    for rollup in events.rollups:
        level = rollup.level
        prop = rollup.property
        defaults[level][prop] = 0 if rollup.kind == "count" else None
        start = window_start(moment, rollup.window_days) if rollup.kind == "count" else None
        values = found[level]
        for event in timed:
            if rollup.event is not None and event.event != rollup.event:
                continue
            timestamp = event.timestamp
            if timestamp > moment or (start is not None and timestamp < start):
                continue
            key: Any
            if level is EventRollupLevel.USER:
                key = event.user_id
                if key is None or key not in dataset.users:
                    continue
            elif level is EventRollupLevel.ACCOUNT:
                key = event.account_id
                if key is None or key not in dataset.accounts:
                    continue
            else:
                if event.user_id is None or event.account_id is None:
                    continue
                key = (event.user_id, event.account_id)
                if key not in dataset.memberships:
                    continue
            slot = values.get(key)
            if slot is None:
                slot = values[key] = {}
            if rollup.kind == "count":
                slot[prop] = slot.get(prop, 0) + 1
            else:
                previous = slot.get(prop)
                if previous is None or timestamp > previous:
                    slot[prop] = timestamp
    for level_values in found.values():
        for slot in level_values.values():
            for prop, value in slot.items():
                if isinstance(value, datetime):
                    slot[prop] = iso_utc(value)

    def merged(current: Any, level: EventRollupLevel, key: Any) -> Any | None:
        """The new properties mapping, or ``None`` when nothing changes."""
        new = dict(current)
        new.update(defaults[level])
        extra = found[level].get(key)
        if extra:
            new.update(extra)
        return None if new == current else MappingProxyType(new)

    users = dataset.users
    if defaults[EventRollupLevel.USER]:
        users = {}
        for user_id, user in dataset.users.items():
            traits = merged(user.traits, EventRollupLevel.USER, user_id)
            users[user_id] = user if traits is None else User(user.user_id, user.email, traits)
    accounts = dataset.accounts
    if defaults[EventRollupLevel.ACCOUNT]:
        accounts = {}
        for account_id, account in dataset.accounts.items():
            traits = merged(account.traits, EventRollupLevel.ACCOUNT, account_id)
            accounts[account_id] = (
                account
                if traits is None
                else Account(
                    account.account_id, account.name, account.domain, account.stage, traits
                )
            )
    memberships = dataset.memberships
    if defaults[EventRollupLevel.RELATIONSHIP]:
        memberships = {}
        for pair, membership in dataset.memberships.items():
            props = merged(membership.properties, EventRollupLevel.RELATIONSHIP, pair)
            memberships[pair] = (
                membership
                if props is None
                else Membership(membership.user_id, membership.account_id, membership.role, props)
            )
    return Dataset(users=users, accounts=accounts, memberships=memberships, events=dataset.events)
