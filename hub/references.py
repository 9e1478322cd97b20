"""References: how mappings and conditions name a value.

A reference is ``namespace.attribute``:

==========================  ====================================================
namespace                   attribute
==========================  ====================================================
``user``                    ``user_id``, ``email`` or any user trait
``account``                 ``account_id``, ``name``, ``domain``, ``stage`` or a trait
``relationship``            ``role`` or any relationship property
``primary_account``         like ``account``, for the user's primary account
``primary_relationship``    like ``relationship``, for the primary membership
``rollup``                  ``stage`` (the user's rolled-up stage), ``account_count``
==========================  ====================================================

Each place in a mapping allows some namespaces only (a list field on an account
has no primary account); :data:`ALLOWED` says which, and validation uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hub.model import Account, Membership, User

NAMESPACES = (
    "user",
    "account",
    "relationship",
    "primary_account",
    "primary_relationship",
    "rollup",
)

#: Attributes of the ``rollup`` namespace.
ROLLUP_ATTRIBUTES = ("stage", "account_count")


@dataclass(slots=True)
class Scope:
    """The values a reference or condition is evaluated against."""

    user: User | None = None
    account: Account | None = None
    relationship: Membership | None = None
    primary_account: Account | None = None
    primary_relationship: Membership | None = None
    rollup: Mapping[str, Any] | None = None


Getter = Callable[[Scope], Any]


class ReferenceError_(ValueError):
    """A reference that is not ``namespace.attribute`` with a known namespace."""


@dataclass(frozen=True, slots=True)
class Reference:
    namespace: str
    attribute: str

    def __str__(self) -> str:
        return f"{self.namespace}.{self.attribute}"

    def getter(self) -> Getter:
        """A fast function reading this reference from a :class:`Scope`."""
        attribute = self.attribute
        namespace = self.namespace
        if namespace == "rollup":

            def get_rollup(scope: Scope) -> Any:
                return None if scope.rollup is None else scope.rollup.get(attribute)

            return get_rollup

        def get(scope: Scope) -> Any:
            target = getattr(scope, namespace)
            return None if target is None else target.get(attribute)

        return get


def parse_reference(text: str, allowed: tuple[str, ...] = NAMESPACES) -> Reference:
    """Parse ``namespace.attribute``; raise :class:`ReferenceError_` with a reason."""
    namespace, dot, attribute = text.strip().partition(".")
    if not dot or not namespace or not attribute:
        raise ReferenceError_(f"expected namespace.attribute (e.g. user.email), got {text!r}")
    if namespace not in allowed:
        raise ReferenceError_(
            f"namespace {namespace!r} is not available here; expected one of: " + ", ".join(allowed)
        )
    if namespace == "rollup" and attribute not in ROLLUP_ATTRIBUTES:
        raise ReferenceError_(
            f"rollup has no attribute {attribute!r}; expected one of: "
            + ", ".join(ROLLUP_ATTRIBUTES)
        )
    return Reference(namespace, attribute)


#: Namespaces each mapping location allows (key: a dotted location in the mapping).
ALLOWED: dict[str, tuple[str, ...]] = {
    "accounts.fields": ("account",),
    "accounts.user_lists.value": ("user", "relationship"),
    "accounts.user_lists.order_by": ("user", "relationship"),
    "accounts.user_lists.where": ("user", "account", "relationship"),
    "accounts.rollups.where": ("user", "account", "relationship"),
    "users.fields": ("user", "primary_account", "primary_relationship", "rollup"),
    "users.relationship_fields.template": ("user", "account", "relationship"),
    "users.relationship_fields.where": ("user", "account", "relationship"),
    "users.relationship_fields.order_by": ("user", "account", "relationship"),
    "membership_contacts.fields": NAMESPACES,
    "membership_contacts.where": ("user", "account", "relationship"),
    "links.properties": ("user", "account", "relationship"),
    "links.where": ("user", "account", "relationship"),
}
