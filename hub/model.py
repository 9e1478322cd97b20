"""The canonical multi-account model: users, accounts, the memberships between
them (carrying relationship properties) and optional events.

Everything downstream (the resolver, the projections, the destinations) reads
these types and nothing else. They are immutable and slotted: a data set of a
million users and three million memberships must fit comfortably in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

#: Shared empty mapping, so records without traits do not each carry a dict.
EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return EMPTY


@dataclass(frozen=True, slots=True)
class User:
    """A person with one login, who may belong to any number of accounts."""

    user_id: str
    email: str | None = None
    traits: Mapping[str, Any] = field(default_factory=_empty)

    def get(self, name: str) -> Any:
        """The value of a built-in attribute or trait, ``None`` when absent."""
        if name == "user_id":
            return self.user_id
        if name == "email":
            return self.email
        return self.traits.get(name)


@dataclass(frozen=True, slots=True)
class Account:
    """A customer account (workspace, organisation) of the product."""

    account_id: str
    name: str | None = None
    domain: str | None = None
    stage: str | None = None
    traits: Mapping[str, Any] = field(default_factory=_empty)

    def get(self, name: str) -> Any:
        """The value of a built-in attribute or trait, ``None`` when absent."""
        if name == "account_id":
            return self.account_id
        if name == "name":
            return self.name
        if name == "domain":
            return self.domain
        if name == "stage":
            return self.stage
        return self.traits.get(name)


@dataclass(frozen=True, slots=True)
class Membership:
    """One user's relationship to one account.

    ``role`` is always present; every other relationship property (joined_at,
    the user's own stage in this account, a health score, ...) lives in
    ``properties``.
    """

    user_id: str
    account_id: str
    role: str
    properties: Mapping[str, Any] = field(default_factory=_empty)

    def get(self, name: str) -> Any:
        """The value of ``role``, ``user_id``, ``account_id`` or a relationship property."""
        if name == "role":
            return self.role
        if name == "user_id":
            return self.user_id
        if name == "account_id":
            return self.account_id
        return self.properties.get(name)

    def key(self, separator: str = ":") -> str:
        """The membership's identity, ``"{user_id}{separator}{account_id}"``
        (escaped where an id holds the separator: :func:`membership_key`)."""
        return membership_key(self.user_id, self.account_id, separator)


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened: by a user, by a user within an account
    (Segment's ``context.groupId``), or to an account with no user at all."""

    event: str
    timestamp: datetime
    user_id: str | None = None
    account_id: str | None = None
    properties: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(slots=True)
class Dataset:
    """Everything the sources produced, after validation.

    Keys are ids; memberships are keyed ``(user_id, account_id)``. Only rows
    that passed validation are here: the rest is in the quarantine.
    """

    users: dict[str, User] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    memberships: dict[tuple[str, str], Membership] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


_ESCAPE = "\\"


def _escaped(text: str, special: str) -> str:
    if _ESCAPE not in text and not any(char in text for char in special):
        return text
    return "".join(_ESCAPE + char if char == _ESCAPE or char in special else char for char in text)


def membership_key(user_id: str, account_id: str, separator: str) -> str:
    """The contact key of a membership: ``user_id + separator + account_id``,
    each id escaped so that no two memberships share a key.

    In an id, a backslash and every character of the separator are preceded by
    a backslash (user ``a:b`` in account ``c`` is ``a\\:b:c``; user ``a`` in
    account ``b:c`` is ``a:b\\:c``); ids holding neither are written as they
    are, so ordinary keys read ``u1:a1``. :func:`split_membership_key` reverses it.
    """
    return _escaped(user_id, separator) + separator + _escaped(account_id, separator)


def split_membership_key(key: str, separator: str) -> tuple[str, str] | None:
    """``(user_id, account_id)`` of a :func:`membership_key`; ``None`` when
    ``key`` holds no unescaped separator (a user's own contact key)."""
    parts: list[list[str]] = [[]]
    i, n = 0, len(key)
    while i < n:
        char = key[i]
        if char == _ESCAPE and i + 1 < n:
            parts[-1].append(key[i + 1])
            i += 2
        elif len(parts) == 1 and key.startswith(separator, i):
            parts.append([])
            i += len(separator)
        else:
            parts[-1].append(char)
            i += 1
    if len(parts) == 1:
        return None
    return "".join(parts[0]), "".join(parts[1])
