"""The engine's user-list query against :func:`hub.projections.user_lists.user_list`.

Random accounts and members, with entries that are empty, hold the separator,
are not strings, or are long enough to truncate; filters on the role, a
relationship property and an account attribute; ordered by the entry or by a
property of mixed types; every limit from "nothing fits" up: every account's
value, kept and dropped counts, marker and rejected users must be the oracle's.
"""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.conditions import compile_condition
from hub.engine.tables import Tables
from hub.engine.user_lists import NAMESPACES, ListRule, account_lists, attributes
from hub.getters import fast_getter
from hub.model import Account, Dataset, Membership, User
from hub.projections.user_lists import user_list
from hub.references import parse_reference

USER_IDS = ["u1", "u10", "u2", "U3", "u5", "u6", "u7"]
ACCOUNT_IDS = ["a1", "a2", "a10"]
EMAILS = st.sampled_from(
    ["ann@x.io", "bob@x.io", "b@x.io", "", "c;d@x.io", "zoe@example.com", "\u00e9va@x.io", None]
)
#: Entries that are not strings: rendered (numbers, booleans, dates).
ANY_VALUES = st.sampled_from([None, 7, 70, 2.5, True, False, date(2026, 1, 2), "7"])
ROLES = st.sampled_from(["Owner", "Admin", "User", "Viewer"])
SCORES = st.sampled_from([None, 1, 2.5, "2", True, date(2026, 1, 1), 1.0])
WHERES = st.sampled_from(
    [
        None,
        "relationship.role in ['Owner', 'Admin']",
        "relationship.score > 1",
        "not relationship.role == 'User' and account.plan != 'Free'",
        "exists(user.email)",
    ]
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Dataset, ListRule, ListRule]:
    users = {
        u: User(
            u,
            draw(EMAILS),
            {"nick": draw(st.sampled_from(["x", "y;z", ""])), "n": draw(ANY_VALUES)},
        )
        for u in USER_IDS
    }
    accounts = {
        a: Account(a, traits={"plan": draw(st.sampled_from(["Free", "Pro"]))}) for a in ACCOUNT_IDS
    }
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(USER_IDS), st.sampled_from(ACCOUNT_IDS)),
            unique=True,
            max_size=20,
        )
    )
    memberships = {
        (u, a): Membership(
            u,
            a,
            draw(ROLES),
            {k: v for k, v in {"score": draw(SCORES)}.items() if v is not None},
        )
        for u, a in pairs
    }
    rule, other = (
        ListRule(
            value=draw(st.sampled_from(["user.email", "user.nick", "user.n", "relationship.role"])),
            where=draw(WHERES),
            order_by=draw(st.sampled_from([None, "relationship.score", "user.email"])),
            separator=draw(st.sampled_from([";", "; ", "@"])),
            max_length=draw(st.none() | st.integers(0, 40) | st.just(255)),
        )
        for _ in range(2)
    )
    return Dataset(users, accounts, memberships), rule, other


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_the_user_list_query_agrees_with_the_per_record_rule(
    case: tuple[Dataset, ListRule, ListRule],
) -> None:
    """Each list agrees with the per-record rule, after another list of the
    same tables (which shares its entries' facet when it lists the same
    value with the same separator)."""
    dataset, rule, other = case
    wanted = attributes([rule, other])
    tables = Tables(dataset, wanted["relationship"], user=wanted["user"], account=wanted["account"])
    account_lists(tables, other)
    got = account_lists(tables, rule)
    value = fast_getter(parse_reference(rule.value))
    order_by = fast_getter(parse_reference(rule.order_by)) if rule.order_by else None
    where = compile_condition(rule.where, NAMESPACES) if rule.where else None
    for account_id, account in dataset.accounts.items():
        members = [m for m in dataset.memberships.values() if m.account_id == account_id]
        expected = user_list(
            account,
            members,
            dataset.users,
            value,
            where=where,
            order_by=order_by,
            separator=rule.separator,
            max_length=rule.max_length,
        )
        listed = got.get(account_id)
        if expected.value is None and not expected.rejected:
            assert listed is None, (account_id, listed)
            continue
        assert listed is not None, account_id
        assert listed._replace(rejected=()) == expected._replace(rejected=()), account_id
        assert sorted(listed.rejected) == sorted(expected.rejected)
        assert list(listed.rejected) == sorted(listed.rejected)
