"""Projection 7: account fields computed from memberships and events.

Windows end at ``as_of`` and reach ``window_days`` back (inclusive at both
ends); without ``window_days`` they cover all time up to ``as_of``. Events
after ``as_of`` never count. ``where`` (over ``user``, ``account``,
``relationship``) restricts every kind to the users whose membership in this
account matches; events with no user, or by a user who is not a member,
then never count.

- ``user_count``: memberships (users) of the account matching ``where``.
- ``active_users``: distinct users with at least one event (named ``event``
  if set) within the account in the window.
- ``last_active``: the time of the latest event (named ``event`` if set)
  within the account, ISO 8601 UTC (``"2024-05-01T12:00:00+00:00"``);
  ``None`` when there is none. ``window_days`` does not apply: the latest
  event up to ``as_of``, however old.
- ``event_count``: events (named ``event`` if set) within the account in the
  window.
- ``activation``: ``True`` when at least ``min_users`` users match ``where``
  and, for each ``name = n`` of ``min_events``, the account has at least
  ``n`` events called ``name`` in the window: the seeds' "at least 2 users
  and 1 task completed" is ``min_users = 2, min_events = {task_completed = 1}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from hub.config.mapping import AccountRollup, AccountRollupKind
from hub.model import Account, Event, Membership, User
from hub.projections.resolver import window_start
from hub.references import Scope
from hub.values import iso_utc, utc

__all__ = ["account_rollup", "rollup_value"]

Predicate = Callable[[Scope], bool]


def _members(
    account: Account,
    memberships: Sequence[Membership],
    users: Mapping[str, User],
    where: Predicate | None,
) -> Sequence[Membership]:
    if where is None:
        return memberships
    scope = Scope(account=account)
    out = []
    for membership in memberships:
        scope.user = users.get(membership.user_id)
        scope.relationship = membership
        if where(scope):
            out.append(membership)
    return out


def account_rollup(
    rollup: AccountRollup,
    account: Account,
    memberships: Sequence[Membership],
    users: Mapping[str, User],
    events: Sequence[Event],
    as_of: datetime,
    where: Predicate | None = None,
) -> Any:
    """The value of ``rollup`` for ``account``.

    ``memberships`` are the account's; ``events`` are the events within the
    account, sorted by time (as :meth:`hub.projections.resolver.Graph.events_of_account`
    gives them); ``where`` is ``rollup.where`` compiled.
    """
    members = _members(account, memberships, users, where)
    return rollup_value(rollup, members, events, as_of, filtered=where is not None)


def rollup_value(
    rollup: AccountRollup,
    members: Sequence[Membership],
    events: Sequence[Event],
    as_of: datetime,
    *,
    filtered: bool,
) -> Any:
    """The value of ``rollup`` for an account whose memberships matching
    ``where`` are ``members`` (all of them when not ``filtered``);
    :func:`account_rollup` with the filtering already done."""
    kind = rollup.kind
    if kind == AccountRollupKind.USER_COUNT:
        return len(members)
    allowed: set[str] | None = None
    if filtered:
        allowed = {m.user_id for m in members}
    end = utc(as_of)
    start = window_start(end, rollup.window_days)
    in_window = [
        e
        for e in events
        if e.timestamp <= end
        and (start is None or e.timestamp >= start)
        and (allowed is None or e.user_id in allowed)
    ]
    if kind == AccountRollupKind.ACTIVE_USERS:
        return len(
            {
                e.user_id
                for e in in_window
                if e.user_id is not None and (rollup.event is None or e.event == rollup.event)
            }
        )
    if kind == AccountRollupKind.EVENT_COUNT:
        return sum(1 for e in in_window if rollup.event is None or e.event == rollup.event)
    if kind == AccountRollupKind.LAST_ACTIVE:
        latest: datetime | None = None
        for e in events:  # all time up to as_of, whatever window_days says
            if (
                e.timestamp <= end
                and (rollup.event is None or e.event == rollup.event)
                and (allowed is None or e.user_id in allowed)
                and (latest is None or e.timestamp > latest)
            ):
                latest = e.timestamp
        return None if latest is None else iso_utc(latest)
    if kind == AccountRollupKind.ACTIVATION:
        if len(members) < rollup.min_users:
            return False
        for name, needed in sorted(rollup.min_events.items()):
            if sum(1 for e in in_window if e.event == name) < needed:
                return False
        return True
    raise ValueError(f"unknown account rollup kind {kind!r}")
