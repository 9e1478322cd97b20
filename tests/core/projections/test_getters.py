"""The fast getters give exactly what Reference.getter() gives."""

from __future__ import annotations

import pytest

from hub.getters import fast_getter
from hub.model import Account, Membership, User
from hub.references import NAMESPACES, ROLLUP_ATTRIBUTES, Scope, parse_reference

USER = User("u1", "u1@x.io", {"name": "Ann", "email": "trait@x.io"})
ACCOUNT = Account("a1", "Acme", "acme.io", "Trial", {"plan": "pro", "name": "trait"})
MEMBER = Membership("u1", "a1", "Admin", {"joined_at": "2024-01-01", "role": "trait"})
FULL = Scope(USER, ACCOUNT, MEMBER, ACCOUNT, MEMBER, {"stage": "CUS", "account_count": 2})
EMPTY = Scope()
ATTRIBUTES = [
    "user_id", "email", "name", "account_id", "domain", "stage", "plan",
    "role", "joined_at", "missing", "account_count",
]  # fmt: skip


@pytest.mark.parametrize("namespace", NAMESPACES)
@pytest.mark.parametrize("attribute", ATTRIBUTES)
def test_same_values_as_reference_getter(namespace: str, attribute: str) -> None:
    if namespace == "rollup" and attribute not in ROLLUP_ATTRIBUTES:
        return
    reference = parse_reference(f"{namespace}.{attribute}")
    fast = fast_getter(reference)
    slow = reference.getter()
    for scope in (FULL, EMPTY):
        assert fast(scope) == slow(scope), (namespace, attribute)


def test_built_ins_win_over_traits() -> None:
    assert fast_getter(parse_reference("user.email"))(FULL) == "u1@x.io"
    assert fast_getter(parse_reference("relationship.role"))(FULL) == "Admin"
