"""The engine's summary, count and any queries against
:mod:`hub.projections.relationship_fields`.

Random users and memberships, templates over the account, the role, a
property of mixed types and the user (missing values render ``""``, entries
may be empty, hold the separator or run long), filters over every namespace,
ordered by the entry or a property; every user's summary (value, kept,
dropped, marker, rejected accounts), count and any must be the oracle's.
"""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.conditions import compile_condition
from hub.engine.summaries import membership_counts, user_summaries
from hub.engine.tables import Tables
from hub.engine.user_lists import NAMESPACES, ListRule, attributes
from hub.getters import fast_getter
from hub.model import Account, Dataset, Membership, User
from hub.projections.relationship_fields import (
    relationship_any,
    relationship_count,
    relationship_summary,
)
from hub.projections.templates import compile_template
from hub.references import parse_reference

USER_IDS = ["u1", "u10", "u2", "U3", "u5"]
ACCOUNT_IDS = ["a1", "a2", "a10", "B4"]
NAMES = st.sampled_from(["SpaceX", "Tesla", "", None, "X; Corp", "\u00c9cole"])
ROLES = st.sampled_from(["Owner", "Admin", "User", ""])
SCORES = st.sampled_from([None, 1, 2.5, "2", True, date(2026, 1, 1), 1.0])
TEMPLATES = st.sampled_from(
    [
        "{account.name} ({relationship.role})",
        "{relationship.role}",
        "{account.name}",
        "{relationship.score}",
        "fixed",
        "{user.email}:{account.account_id}",
        "{account.plan}; {relationship.role}",
    ]
)
WHERES = st.sampled_from(
    [
        None,
        "relationship.role in ['Owner', 'Admin']",
        "relationship.score > 1",
        "not relationship.role == 'User' and account.plan != 'Free'",
        "exists(account.name)",
        "user.email == 'ann@x.io'",
    ]
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Dataset, ListRule]:
    users = {u: User(u, draw(st.sampled_from(["ann@x.io", "bob@x.io", None]))) for u in USER_IDS}
    accounts = {
        a: Account(a, draw(NAMES), traits={"plan": draw(st.sampled_from(["Free", "Pro"]))})
        for a in ACCOUNT_IDS
    }
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(USER_IDS), st.sampled_from(ACCOUNT_IDS)),
            unique=True,
            max_size=16,
        )
    )
    memberships = {
        (u, a): Membership(
            u, a, draw(ROLES), {k: v for k, v in {"score": draw(SCORES)}.items() if v is not None}
        )
        for u, a in pairs
    }
    rule = ListRule(
        template=draw(TEMPLATES),
        where=draw(WHERES),
        order_by=draw(st.sampled_from([None, "relationship.score", "account.name"])),
        separator=draw(st.sampled_from(["; ", ";", ", "])),
        max_length=draw(st.none() | st.integers(0, 40)),
    )
    return Dataset(users, accounts, memberships), rule


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_the_summary_queries_agree_with_the_per_record_rules(
    case: tuple[Dataset, ListRule],
) -> None:
    dataset, rule = case
    assert rule.template is not None
    wanted = attributes([rule])
    tables = Tables(dataset, wanted["relationship"], user=wanted["user"], account=wanted["account"])
    got = user_summaries(tables, rule)
    counts = membership_counts(tables, rule.where)
    template = compile_template(rule.template, NAMESPACES)
    order_by = fast_getter(parse_reference(rule.order_by)) if rule.order_by else None
    where = compile_condition(rule.where, NAMESPACES) if rule.where else None
    for u, (user_id, user) in enumerate(dataset.users.items()):
        members = sorted(
            (m for m in dataset.memberships.values() if m.user_id == user_id),
            key=lambda m: m.account_id,
        )
        expected = relationship_summary(
            user,
            members,
            dataset.accounts,
            template,
            where=where,
            order_by=order_by,
            separator=rule.separator,
            max_length=rule.max_length,
        )
        summary = got.get(user_id)
        if expected.value is None and not expected.rejected:
            assert summary is None, (user_id, summary)
        else:
            assert summary is not None, user_id
            assert tuple(summary) == tuple(expected), user_id
        assert counts[u] == relationship_count(user, members, dataset.accounts, where)
        assert (counts[u] > 0) is relationship_any(user, members, dataset.accounts, where)
