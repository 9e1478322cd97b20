"""Projection 5 (user relationship fields) and the entry templates."""

from __future__ import annotations

import pytest

from hub.getters import fast_getter
from hub.model import Account, Membership, User
from hub.projections.relationship_fields import (
    relationship_any,
    relationship_count,
    relationship_summary,
)
from hub.projections.templates import TemplateError, compile_template, template_references
from hub.references import Scope, parse_reference

ELON = User("elon", "elon@x.com", {"name": "Elon"})
ACCOUNTS = {
    "tw": Account("tw", "Twitter"),
    "te": Account("te", "Tesla"),
    "sx": Account("sx", "SpaceX"),
    "nn": Account("nn", None),
}
MEMBERSHIPS = [
    Membership("elon", "sx", "User", {"seats": 3}),
    Membership("elon", "te", "Admin", {"seats": 1}),
    Membership("elon", "tw", "Owner", {"seats": 2}),
]
TEMPLATE = compile_template("{account.name} ({relationship.role})")


def is_admin(scope: Scope) -> bool:
    return scope.relationship is not None and scope.relationship.role in ("Owner", "Admin")


def test_the_seeds_summary() -> None:
    summary = relationship_summary(ELON, list(reversed(MEMBERSHIPS)), ACCOUNTS, TEMPLATE)
    assert summary.value == "SpaceX (User); Tesla (Admin); Twitter (Owner)"


def test_summary_where_order_by_and_truncation() -> None:
    filtered = relationship_summary(ELON, MEMBERSHIPS, ACCOUNTS, TEMPLATE, where=is_admin)
    assert filtered.value == "Tesla (Admin); Twitter (Owner)"
    by_seats = relationship_summary(
        ELON,
        MEMBERSHIPS,
        ACCOUNTS,
        TEMPLATE,
        order_by=fast_getter(parse_reference("relationship.seats")),
    )
    assert by_seats.value == "Tesla (Admin); Twitter (Owner); SpaceX (User)"
    short = relationship_summary(ELON, MEMBERSHIPS, ACCOUNTS, TEMPLATE, max_length=30)
    assert short.value == "SpaceX (User); (+2 more)"
    assert (short.kept, short.dropped) == (1, 2)


def test_summary_ties_by_account_id_and_none_without_entries() -> None:
    twins = [Membership("elon", "b", "User"), Membership("elon", "a", "User")]
    accounts = {"a": Account("a", "Same"), "b": Account("b", "Same")}
    template = compile_template("{account.name}|{account.account_id}")
    assert relationship_summary(ELON, twins, accounts, template, separator=", ").value == (
        "Same|a, Same|b"
    )
    assert relationship_summary(ELON, [], ACCOUNTS, TEMPLATE).value is None
    never = relationship_summary(ELON, MEMBERSHIPS, ACCOUNTS, TEMPLATE, where=lambda s: False)
    assert never.value is None


def test_summary_missing_value_renders_empty_and_separator_entries_are_skipped() -> None:
    memberships = [Membership("elon", "nn", "Admin"), Membership("elon", "tw", "Owner; Founder")]
    summary = relationship_summary(ELON, memberships, ACCOUNTS, TEMPLATE)
    assert summary.value == " (Admin)"
    assert summary.rejected == ("tw",)


def test_count_and_any() -> None:
    assert relationship_count(ELON, MEMBERSHIPS, ACCOUNTS) == 3
    assert relationship_count(ELON, MEMBERSHIPS, ACCOUNTS, is_admin) == 2
    assert relationship_any(ELON, MEMBERSHIPS, ACCOUNTS, is_admin) is True
    assert relationship_any(ELON, MEMBERSHIPS[:1], ACCOUNTS, is_admin) is False
    assert relationship_any(ELON, [], ACCOUNTS) is False
    assert relationship_count(ELON, [], ACCOUNTS) == 0


def test_template_escapes_and_user_data_is_never_formatted() -> None:
    user = User("u", traits={"nick": "{user.user_id} %s %(x)d {0}"})
    template = compile_template("{{literal}} 100% {user.nick}!")
    assert template(Scope(user=user)) == "{literal} 100% {user.user_id} %s %(x)d {0}!"
    assert compile_template("no placeholders {{}}")(Scope()) == "no placeholders {}"
    assert (
        compile_template("{user.missing}-{user.flag}")(Scope(user=User("u", traits={"flag": True})))
        == "-true"
    )
    assert [str(r) for r in template_references("{account.name} ({relationship.role})")] == [
        "account.name",
        "relationship.role",
    ]


@pytest.mark.parametrize(
    ("text", "position"),
    [("{account.name", 0), ("a } b", 2), ("{nope.x}", 1), ("{account}", 1), ("{a{b}", 2)],
)
def test_template_errors_point_at_the_problem(text: str, position: int) -> None:
    with pytest.raises(TemplateError) as error:
        compile_template(text, ("account", "relationship"))
    assert error.value.position == position


def test_template_namespace_not_allowed() -> None:
    with pytest.raises(TemplateError, match="not available"):
        compile_template("{primary_account.name}", ("user", "account", "relationship"))
