"""Projection 6: contact-to-account links, one per membership.

Every membership matching ``links.where`` becomes a :class:`~hub.records.Link`
from the user's contact (key: ``user_id``) to the account (key:
``account_id``). Its properties are the ``links.properties`` references
(default ``{"role": "relationship.role"}``) when the destination's links can
carry properties, else none. The link to the user's primary account has
``primary=True``; if ``where`` filters that membership out, no link of the
user is primary. Links come sorted by account id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hub.model import Account, Membership, User
from hub.records import Link, make_link
from hub.references import Getter, Scope

__all__ = ["membership_links"]

Predicate = Callable[[Scope], bool]


def membership_links(
    user: User | None,
    memberships: Sequence[Membership],
    accounts: Mapping[str, Account],
    properties: Mapping[str, Getter],
    *,
    primary: Membership | None = None,
    where: Predicate | None = None,
    scope: Scope | None = None,
    shared: dict[tuple[Any, ...], dict[str, Any]] | None = None,
) -> list[Link]:
    """The links of one user with these memberships (sorted by account id).

    ``scope``, when given, is reused (its fields are overwritten). ``shared``,
    when given, makes links with equal property values share one properties
    dict (millions of links mostly carry one of a few roles): treat link
    properties as read-only.
    """
    if scope is None:
        scope = Scope()
    scope.user = user
    getters = [(name, properties[name]) for name in sorted(properties)]
    single = getters[0] if len(getters) == 1 else None
    links: list[Link] = []
    for membership in memberships:
        scope.account = accounts.get(membership.account_id)
        scope.relationship = membership
        if where is not None and not where(scope):
            continue
        values: dict[str, Any]
        if not getters:
            values = {}
        elif shared is None:
            values = {name: get(scope) for name, get in getters}
        else:
            key: tuple[Any, ...] = (
                (single[1](scope),) if single is not None else tuple([g(scope) for _, g in getters])
            )
            # By type and value: 1, 1.0 and True are equal, but not one value.
            typed = tuple([(type(value), value) for value in key])
            try:
                values = shared[typed]
            except KeyError:
                values = shared[typed] = dict(zip([name for name, _ in getters], key, strict=True))
            except TypeError:  # an unhashable value: not shared
                values = dict(zip([name for name, _ in getters], key, strict=True))
        links.append(
            make_link(membership.user_id, membership.account_id, membership is primary, values)
        )
    return links
