"""Projection 2: account fields listing the account's users.

An entry is the ``value`` reference (``user.email`` by default) for each user
whose membership matches ``where``. Entries are ordered by ``order_by`` (when
set) or else by the entry itself, then by user id; a missing sort value sorts
last. Missing or empty entries are skipped.

The separator must make a destination's "contains" filter match whole
entries, so an entry that *contains* the separator is skipped and reported
(notice ``entry_contains_separator``): writing it would make one entry look
like two. Choose another separator, or another value, to keep it.

Truncation (shared with the user summary fields, see :func:`join_entries`):
when the joined list is longer than ``max_length``, whole entries are dropped
from the end and a ``"(+N more)"`` marker is appended after the separator,
N being the number of entries dropped, keeping as many entries as fit with
the marker. Nothing is ever cut mid-entry. If ``max_length`` is too small for
even the marker alone, the value is the longest run of whole leading entries
that fits with no marker (possibly ``""``); the notice says so.

Example, ``separator=";"``, ``max_length=25``, entries ``a@x.io``,
``b@x.io``, ``c@x.io``, ``d@x.io`` (27 chars joined): ``"a@x.io;b@x.io;(+2 more)"``
(23 chars; keeping a third entry would need 30).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from hub.model import Account, Membership, User
from hub.references import Getter, Scope
from hub.values import render, sort_key

__all__ = ["Joined", "UserList", "join_entries", "marker", "user_list"]

Predicate = Callable[[Scope], bool]


def marker(dropped: int) -> str:
    """The marker standing for ``dropped`` entries."""
    return f"(+{dropped} more)"


class Joined(NamedTuple):
    """Entries joined under a length limit."""

    #: The joined text; ``None`` when there were no entries at all.
    value: str | None
    #: Entries kept (a prefix of the input).
    kept: int
    #: Entries dropped from the end.
    dropped: int
    #: Whether the value ends with the ``"(+N more)"`` marker.
    marked: bool


def join_entries(entries: Sequence[str], separator: str, max_length: int | None) -> Joined:
    """Join ``entries`` with ``separator``, within ``max_length`` characters,
    dropping whole entries from the end behind a ``"(+N more)"`` marker."""
    count = len(entries)
    if count == 0:
        return Joined(None, 0, 0, False)
    sep = len(separator)
    total = sum(map(len, entries)) + sep * (count - 1)
    if max_length is None or total <= max_length:
        return Joined(separator.join(entries), count, 0, False)
    # prefix[k]: length of the first k entries joined (0 for k == 0), up to the
    # first k past max_length: no longer run of entries can be kept.
    prefix = [0]
    running = 0
    for k, entry in enumerate(entries, 1):
        running += len(entry) + (sep if k > 1 else 0)
        prefix.append(running)
        if running > max_length:
            break
    for kept in range(min(count - 1, len(prefix) - 1), -1, -1):
        length = prefix[kept] + (sep if kept else 0) + len(marker(count - kept))
        if length <= max_length:
            head = list(entries[:kept])
            head.append(marker(count - kept))
            return Joined(separator.join(head), kept, count - kept, True)
    # Not even the marker fits: the longest run of whole entries, no marker.
    kept = 0
    while kept < count and prefix[kept + 1] <= max_length:
        kept += 1
    return Joined(separator.join(entries[:kept]), kept, count - kept, False)


class UserList(NamedTuple):
    """One account's list field."""

    value: str | None
    #: Entries written (before the marker).
    kept: int
    #: Entries dropped by truncation (the N of the marker).
    dropped: int
    marked: bool
    #: Users whose entry contains the separator, hence skipped.
    rejected: tuple[str, ...]


class Entries:
    """Whole entries of a list value, collected one by one, then joined.

    An empty entry is skipped; an entry containing the separator is rejected
    (reported by its id), so a "contains" filter matches whole entries only.
    Entries sort by themselves, or by ``order_key`` when the list is
    ``ordered``, ties by id. Shared by the account user lists and the user
    relationship summaries.
    """

    __slots__ = ("keyed", "ordered", "plain", "rejected", "separator")

    def __init__(self, separator: str, ordered: bool) -> None:
        self.separator = separator
        self.ordered = ordered
        self.plain: list[tuple[str, str]] = []  # (entry, id) when ordered by the entry
        self.keyed: list[tuple[tuple[int, Any], str, str]] = []
        self.rejected: list[str] = []

    def add(self, entry: str, ident: str, order_key: Any = None) -> None:
        if not entry:
            return
        if self.separator in entry:
            self.rejected.append(ident)
        elif self.ordered:
            self.keyed.append((sort_key(order_key), ident, entry))
        else:
            self.plain.append((entry, ident))

    def join(self, max_length: int | None) -> Joined:
        if self.ordered:
            self.keyed.sort(key=lambda item: (item[0], item[1]))
            entries = [item[2] for item in self.keyed]
        else:
            self.plain.sort()
            entries = [item[0] for item in self.plain]
        return join_entries(entries, self.separator, max_length)


def user_list(
    account: Account,
    memberships: Sequence[Membership],
    users: Mapping[str, User],
    value: Getter,
    *,
    where: Predicate | None = None,
    order_by: Getter | None = None,
    separator: str = ";",
    max_length: int | None = None,
    scope: Scope | None = None,
) -> UserList:
    """The list field of ``account`` whose ``memberships`` are given (see the
    module doc). ``value``/``order_by`` read ``user`` and ``relationship``;
    ``where`` also ``account``. ``scope``, when given, is reused (its fields
    are overwritten) to spare an allocation per call."""
    if scope is None:
        scope = Scope()
    scope.account = account
    entries = Entries(separator, order_by is not None)
    for membership in memberships:
        user_id = membership.user_id
        scope.user = users.get(user_id)
        scope.relationship = membership
        if where is not None and not where(scope):
            continue
        raw = value(scope)
        entry = raw if raw.__class__ is str else render(raw)
        entries.add(entry, user_id, None if order_by is None else order_by(scope))
    joined = entries.join(max_length)
    rejected = tuple(entries.rejected)
    return UserList(joined.value, joined.kept, joined.dropped, joined.marked, rejected)
