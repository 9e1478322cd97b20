"""The condition language: parsing, precedence, run-time safety, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.conditions import (
    And,
    Compare,
    ConditionSyntaxError,
    InList,
    Literal,
    Not,
    Or,
    Ref,
    compile_condition,
    condition_references,
    parse_condition,
)
from hub.model import Account, Membership, User
from hub.references import Reference, Scope


def scope(
    role: str = "Owner",
    *,
    user: dict[str, Any] | None = None,
    account: dict[str, Any] | None = None,
    relationship: dict[str, Any] | None = None,
    email: str | None = "elon@example.com",
    stage: str | None = "CUS",
) -> Scope:
    return Scope(
        user=User("u1", email=email, traits=user or {}),
        account=Account("a1", name="Twitter", stage=stage, traits=account or {}),
        relationship=Membership("u1", "a1", role, relationship or {}),
        rollup={"stage": "PRO", "account_count": 3},
    )


def check(text: str, s: Scope) -> bool:
    return compile_condition(text)(s)


# -- parsing -------------------------------------------------------------------


def test_and_binds_tighter_than_or() -> None:
    tree = parse_condition("user.a == 1 or user.b == 2 and user.c == 3")
    assert isinstance(tree, Or)
    assert isinstance(tree.operands[0], Compare)
    assert isinstance(tree.operands[1], And)


def test_parentheses_override_precedence() -> None:
    tree = parse_condition("(user.a == 1 or user.b == 2) and user.c == 3")
    assert isinstance(tree, And)
    assert isinstance(tree.operands[0], Or)


def test_not_binds_tighter_than_and() -> None:
    tree = parse_condition("not user.a and user.b")
    assert isinstance(tree, And)
    assert tree.operands[0] == Not(Ref("user.a", 4), 0)


def test_not_in_is_one_operator() -> None:
    tree = parse_condition("relationship.role not in ('Owner', \"Admin\",)")
    assert tree == InList(Ref("relationship.role", 0), ("Owner", "Admin"), True, 18)


def test_literals_and_escapes() -> None:
    text = r"""user.x in ['it\'s', "a\"b\n", 3, -2.5, 1e3, true, false, null, '\u00e9']"""
    tree = parse_condition(text)
    assert isinstance(tree, InList)
    assert tree.values == ("it's", 'a"b\n', 3, -2.5, 1000.0, True, False, None, "é")


def test_literal_positions() -> None:
    tree = parse_condition("account.plan == 'pro'")
    assert tree == Compare("==", Ref("account.plan", 0), Literal("pro", 16), 13)


def test_condition_references_in_order_without_duplicates() -> None:
    refs = condition_references(
        "relationship.role == 'Owner' and exists(user.email) or relationship.role == 'Admin'"
    )
    assert refs == [Reference("relationship", "role"), Reference("user", "email")]


# -- evaluation ----------------------------------------------------------------


def test_in_and_not_in() -> None:
    cond = "relationship.role in ['Owner', 'Admin']"
    assert check(cond, scope("Owner"))
    assert check(cond, scope("Admin"))
    assert not check(cond, scope("User"))
    assert check("relationship.role not in ['Owner', 'Admin']", scope("User"))
    assert not check("relationship.role not in ['Owner', 'Admin']", scope("Admin"))


def test_in_with_mixed_literals_keeps_types_apart() -> None:
    assert check("relationship.n in [1, 'x']", scope(relationship={"n": 1}))
    assert not check("relationship.n in ['1', true]", scope(relationship={"n": 1}))
    assert not check("relationship.flag in [1]", scope(relationship={"flag": True}))
    assert check("relationship.n in [null, 2]", scope(relationship={}))


def test_precedence_at_run_time() -> None:
    s = scope("User", relationship={"health": 0.9})
    # and first: False or (True and True)
    assert check("relationship.role == 'Owner' or relationship.health > 0.5 and true", s)
    assert not check("(relationship.role == 'Owner' or true) and relationship.health < 0.5", s)
    assert check("not relationship.role == 'Owner'", s)
    assert not check("not not relationship.role == 'Owner'", s)


def test_comparisons_on_numbers_strings_and_dates() -> None:
    s = scope(
        relationship={"health": 0.75, "projects": 3, "joined_at": datetime(2024, 1, 2, tzinfo=UTC)},
        account={"joined": datetime(2023, 1, 1, tzinfo=UTC)},
    )
    assert check("relationship.health > 0.5 and relationship.health <= 0.75", s)
    assert check("relationship.projects >= 3 and relationship.projects != 4", s)
    assert check("account.name < 'Zebra' and account.name > 'Apple'", s)
    assert check("relationship.joined_at > account.joined", s)
    assert check("rollup.stage == 'PRO' and rollup.account_count == 3", s)


def test_missing_values_never_order_and_equal_only_null() -> None:
    s = scope(relationship={}, email=None)
    for op in ("<", "<=", ">", ">="):
        assert not check(f"relationship.health {op} 0.5", s)
        assert not check(f"0.5 {op} relationship.health", s)
    assert check("relationship.health == null", s)
    assert not check("relationship.health != null", s)
    assert not check("user.email == 'x'", s)
    assert check("user.email != 'x'", s)
    assert not check("exists(user.email)", s)
    assert check("exists(user.user_id)", s)
    assert not check("relationship.health", s)


def test_missing_namespace_object_is_none() -> None:
    assert check("primary_account.name == null", Scope())
    assert not check("primary_account.name > 'a'", Scope())


def test_type_mismatch_is_false_not_an_error() -> None:
    s = scope(relationship={"health": "0.9", "score": 5, "admin": True})
    assert not check("relationship.health > 0.5", s)
    assert not check("relationship.health == 0.9", s)
    assert check("relationship.health != 0.9", s)
    assert not check("relationship.score > 'a'", s)
    assert not check("relationship.admin == 1", s)
    assert not check("relationship.admin > false", s)
    assert check("relationship.admin == true", s)
    naive_and_aware = scope(
        relationship={"a": datetime(2024, 1, 1), "b": datetime(2024, 1, 1, tzinfo=UTC)}
    )
    assert not check("relationship.a < relationship.b", naive_and_aware)


def test_bare_operands_are_truth_tests() -> None:
    assert check("relationship.admin", scope(relationship={"admin": True}))
    assert not check("relationship.admin", scope(relationship={"admin": False}))
    assert check("not account.domain", scope())
    assert check("true and not false", scope())


def test_namespace_not_allowed_is_reported_at_the_reference() -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        compile_condition("user.email == 'x' and rollup.stage == 'PRO'", ("user", "account"))
    assert info.value.position == 22
    assert "rollup" in info.value.message


def test_unknown_namespace_is_refused() -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        compile_condition("usr.email == 'x'")
    assert info.value.position == 0


def test_unknown_rollup_attribute_is_refused() -> None:
    with pytest.raises(ConditionSyntaxError):
        compile_condition("rollup.nope == 1")


# -- syntax errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "expected_fragment"),
    [
        ("relationship.role in ['Owner', 'Admin'", 38, "']'"),
        ("relationship.role == 'Owner", 21, "closing '"),
        ("relationship.role = 'Owner'", 18, "'=='"),
        ("user.a == 1 user.b == 2", 12, "'and', 'or'"),
        ("(user.a == 1", 12, "')'"),
        ("user.a ==", 9, "a reference"),
        ("", 0, "a condition"),
        ("   ", 3, "a condition"),
        ("user.a in user.b", 10, "a list"),
        ("user.a in [user.b]", 11, "a literal"),
        ("role == 'Owner'", 0, "namespace.attribute"),
        ("user.a == True", 10, "'true'"),
        ("user.a && user.b", 7, "'and'"),
        ("user.a == 'x' $", 14, "a reference"),
        ("user.a == 1.2.3", 13, "a number"),
        ("user.a == 'bad \\q escape'", 15, "\\n"),
        ("user.a < user.b < user.c", 16, "'and', 'or'"),
        ("exists(1)", 7, "a reference"),
        ("[1] == user.a", 0, "a reference or a literal"),
        ("user.a in ['x' 'y']", 15, "','"),
    ],
)
def test_syntax_errors_point_at_the_problem(
    text: str, position: int, expected_fragment: str
) -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition(text)
    assert info.value.position == position, str(info.value)
    assert info.value.expected is not None
    assert expected_fragment in info.value.expected, info.value.expected


_ALPHABET = st.sampled_from(
    [
        *"()[],'\"\\=!<>.-_ 0123456789aeinortu",
        *("and", "or", "not", "in", "true", "null", "exists", "user.email", "relationship.role"),
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_random_text_only_ever_raises_syntax_errors(text: str) -> None:
    try:
        predicate = compile_condition(text)
    except ConditionSyntaxError as error:
        assert 0 <= error.position <= len(text)
        return
    assert predicate(scope()) in (True, False)


@settings(max_examples=1000, deadline=None)
@given(st.lists(_ALPHABET, max_size=25).map(" ".join))
def test_near_valid_text_only_ever_raises_syntax_errors(text: str) -> None:
    try:
        predicate = compile_condition(text)
    except ConditionSyntaxError as error:
        assert 0 <= error.position <= len(text)
        return
    assert predicate(scope()) in (True, False)
    assert predicate(Scope()) in (True, False)
