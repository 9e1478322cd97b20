"""Projections 1 (membership contacts), 6 (associations) and 7 (account rollups)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.config.mapping import AccountRollup
from hub.getters import fast_getter
from hub.model import Account, Event, Membership, User
from hub.projections.account_rollups import account_rollup
from hub.projections.associations import membership_links
from hub.projections.membership_contacts import inflation, membership_contact_records
from hub.references import Scope, parse_reference

AS_OF = datetime(2024, 6, 1, tzinfo=UTC)
ACCOUNTS = {"a": Account("a", "A"), "b": Account("b", "B")}
USER = User("u", "u@x.io")
MEMBERSHIPS = [Membership("u", "a", "Owner", {"seats": 2}), Membership("u", "b", "User")]


def ref(text: str):  # type: ignore[no-untyped-def]
    return fast_getter(parse_reference(text))


def test_membership_contacts_keys_fields_and_where() -> None:
    records = membership_contact_records(
        USER,
        MEMBERSHIPS,
        ACCOUNTS,
        {
            "company": ref("account.name"),
            "role": ref("relationship.role"),
            "primary": ref("primary_account.name"),
            "stage": ref("rollup.stage"),
        },
        separator="|",
        rollup={"stage": "CUS"},
        primary=MEMBERSHIPS[1],
    )
    assert [r.key for r in records] == ["u|a", "u|b"]
    assert records[0].fields == {"company": "A", "primary": "B", "role": "Owner", "stage": "CUS"}
    only_owners = membership_contact_records(
        USER,
        MEMBERSHIPS,
        ACCOUNTS,
        {},
        where=lambda s: s.relationship is not None and s.relationship.role == "Owner",
    )
    assert [r.key for r in only_owners] == ["u:a"]


def test_inflation() -> None:
    assert inflation(3, 2) == 1.5
    assert inflation(0, 0) == 0.0
    assert inflation(10, 3) == 3.3333


def test_links_properties_primary_and_where() -> None:
    links = membership_links(
        USER,
        MEMBERSHIPS,
        ACCOUNTS,
        {"role": ref("relationship.role"), "seats": ref("relationship.seats")},
        primary=MEMBERSHIPS[0],
    )
    assert [(x.contact_key, x.account_key, x.primary) for x in links] == [
        ("u", "a", True),
        ("u", "b", False),
    ]
    assert links[0].properties == {"role": "Owner", "seats": 2}
    assert links[1].properties == {"role": "User", "seats": None}
    # the primary membership filtered out: no link is primary
    filtered = membership_links(
        USER,
        MEMBERSHIPS,
        ACCOUNTS,
        {},
        primary=MEMBERSHIPS[0],
        where=lambda s: s.account is not None and s.account.account_id == "b",
    )
    assert [(x.account_key, x.primary, x.properties) for x in filtered] == [("b", False, {})]


# -- account rollups --------------------------------------------------------------------

ACME = Account("acme", "Acme")
MEMBERS = [
    Membership("u1", "acme", "Owner"),
    Membership("u2", "acme", "Admin"),
    Membership("u3", "acme", "User"),
]
USERS = {m.user_id: User(m.user_id) for m in MEMBERS}


def at(days_ago: float) -> datetime:
    return AS_OF - timedelta(days=days_ago)


EVENTS = sorted(
    [
        Event("login", at(40), "u3", "acme"),
        Event("task_completed", at(10), "u1", "acme"),
        Event("login", at(5), "u1", "acme"),
        Event("login", at(30), "u2", "acme"),  # exactly on the 30-day edge: inside
        Event("payment_failed", at(1), None, "acme"),
        Event("login", at(-1), "u3", "acme"),  # after as_of: never counts
    ],
    key=lambda e: e.timestamp,
)


def is_admin(scope: Scope) -> bool:
    return scope.relationship is not None and scope.relationship.role in ("Owner", "Admin")


def rollup(where: object = None, **settings: object) -> object:
    spec = AccountRollup(field="f", **settings)  # type: ignore[arg-type]
    return account_rollup(spec, ACME, MEMBERS, USERS, EVENTS, AS_OF, where)  # type: ignore[arg-type]


def test_user_count() -> None:
    assert rollup(kind="user_count") == 3
    assert rollup(is_admin, kind="user_count") == 2


def test_active_users() -> None:
    assert rollup(kind="active_users", window_days=30) == 2
    assert rollup(kind="active_users") == 3
    assert rollup(kind="active_users", window_days=30, event="task_completed") == 1
    assert rollup(is_admin, kind="active_users") == 2


def test_last_active_and_event_count() -> None:
    assert rollup(kind="last_active") == at(1).isoformat()
    assert rollup(kind="last_active", event="login") == "2024-05-27T00:00:00+00:00"
    assert rollup(is_admin, kind="last_active") == at(5).isoformat()
    assert rollup(kind="last_active", event="nope") is None
    assert rollup(kind="event_count") == 5
    assert rollup(kind="event_count", window_days=30) == 4
    assert rollup(kind="event_count", window_days=30, event="login") == 2
    assert rollup(is_admin, kind="event_count", window_days=30) == 3


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"min_users": 2, "min_events": {"task_completed": 1}}, True),
        ({"min_users": 4, "min_events": {"task_completed": 1}}, False),
        ({"min_users": 2, "min_events": {"task_completed": 2}}, False),
        ({"min_users": 2, "min_events": {"task_completed": 1}, "window_days": 7}, False),
        ({"min_users": 0}, True),
    ],
)
def test_activation_the_seeds_rule(settings: dict[str, object], expected: bool) -> None:
    assert rollup(kind="activation", **settings) is expected
