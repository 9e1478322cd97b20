"""Projection 1: one destination contact per membership.

For user-centric tools with no notion of accounts, each membership matching
``where`` becomes a contact keyed ``"{user_id}{separator}{account_id}"``
(``"u1:a1"``, :func:`membership_key`), its fields read from ``user``, ``account``,
``relationship``, ``rollup``, ``primary_account`` and
``primary_relationship``. Such tools often bill per contact, so the run
reports the *inflation*: contacts / distinct users among them (``0.0`` when
there are no contacts); 3 memberships of 2 users give ``1.5``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hub.contract.capabilities import ObjectKind
from hub.model import Account, Membership, User, membership_key, split_membership_key
from hub.records import Record, make_record
from hub.references import Getter, Scope

__all__ = ["inflation", "membership_contact_records", "membership_key", "split_membership_key"]

Predicate = Callable[[Scope], bool]


def membership_contact_records(
    user: User | None,
    memberships: Sequence[Membership],
    accounts: Mapping[str, Account],
    fields: Mapping[str, Getter],
    *,
    separator: str = ":",
    where: Predicate | None = None,
    rollup: Mapping[str, Any] | None = None,
    primary: Membership | None = None,
) -> list[Record]:
    """The membership contacts of one user with these memberships."""
    scope = Scope(
        user=user,
        rollup=rollup,
        primary_relationship=primary,
        primary_account=None if primary is None else accounts.get(primary.account_id),
    )
    names = sorted(fields)
    records: list[Record] = []
    for membership in memberships:
        scope.account = accounts.get(membership.account_id)
        scope.relationship = membership
        if where is not None and not where(scope):
            continue
        records.append(
            make_record(
                ObjectKind.CONTACT,
                membership_key(membership.user_id, membership.account_id, separator),
                {name: fields[name](scope) for name in names},
            )
        )
    return records


def inflation(contacts: int, users: int) -> float:
    """Contacts per distinct user, rounded to 4 decimals (``0.0`` for none)."""
    return round(contacts / users, 4) if users else 0.0
