"""Projection 5: user fields summarising all of the user's memberships.

- ``summary``: the ``template`` rendered once per membership matching
  ``where``, e.g. ``"{account.name} ({relationship.role})"`` gives
  ``"SpaceX (User); Tesla (Admin); Twitter (Owner)"``. Entries are ordered by
  ``order_by`` (when set) or else by the rendered entry, then by account id
  (a missing sort value sorts last). A missing value renders as ``""`` inside
  its entry (``" (Admin)"`` for an account with no name): the entry is still
  there, only that part is blank. An empty entry, or one containing the
  separator, is skipped (the latter reported), and ``max_length`` truncates
  by whole entries behind a ``"(+N more)"`` marker, exactly like the account
  list fields (:func:`hub.projections.user_lists.join_entries`). No entry at
  all gives ``None``.
- ``count``: the number of memberships matching ``where`` (``0`` with none).
- ``any``: whether any membership matches ``where`` ("is an admin
  anywhere"); without ``where``, whether the user has any membership.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from hub.model import Account, Membership, User
from hub.projections.user_lists import Entries
from hub.references import Getter, Scope

__all__ = ["RelationshipValue", "relationship_any", "relationship_count", "relationship_summary"]

Predicate = Callable[[Scope], bool]
Template = Callable[[Scope], str]


class RelationshipValue(NamedTuple):
    """A summary field's value and what truncation did to it."""

    value: str | None
    kept: int
    dropped: int
    marked: bool
    #: Account ids whose entry contains the separator, hence skipped.
    rejected: tuple[str, ...]


def relationship_summary(
    user: User | None,
    memberships: Sequence[Membership],
    accounts: Mapping[str, Account],
    template: Template,
    *,
    where: Predicate | None = None,
    order_by: Getter | None = None,
    separator: str = "; ",
    max_length: int | None = None,
    scope: Scope | None = None,
) -> RelationshipValue:
    """The ``summary`` field of a user with these memberships. ``scope``, when
    given, is reused (its fields are overwritten)."""
    if scope is None:
        scope = Scope()
    scope.user = user
    entries = Entries(separator, order_by is not None)
    for membership in memberships:
        account_id = membership.account_id
        scope.account = accounts.get(account_id)
        scope.relationship = membership
        if where is not None and not where(scope):
            continue
        entries.add(template(scope), account_id, None if order_by is None else order_by(scope))
    joined = entries.join(max_length)
    return RelationshipValue(
        joined.value, joined.kept, joined.dropped, joined.marked, tuple(entries.rejected)
    )


def relationship_count(
    user: User | None,
    memberships: Sequence[Membership],
    accounts: Mapping[str, Account],
    where: Predicate | None = None,
    scope: Scope | None = None,
) -> int:
    """The ``count`` field: memberships matching ``where``."""
    if where is None:
        return len(memberships)
    if scope is None:
        scope = Scope()
    scope.user = user
    count = 0
    for membership in memberships:
        scope.account = accounts.get(membership.account_id)
        scope.relationship = membership
        if where(scope):
            count += 1
    return count


def relationship_any(
    user: User | None,
    memberships: Sequence[Membership],
    accounts: Mapping[str, Account],
    where: Predicate | None = None,
    scope: Scope | None = None,
) -> bool:
    """The ``any`` field: whether some membership matches ``where``."""
    if where is None:
        return bool(memberships)
    if scope is None:
        scope = Scope()
    scope.user = user
    for membership in memberships:
        scope.account = accounts.get(membership.account_id)
        scope.relationship = membership
        if where(scope):
            return True
    return False
