"""The engine's membership-contact and link queries against
:mod:`hub.projections.membership_contacts` and :mod:`hub.projections.associations`.

Random users, accounts and memberships with values of mixed types (missing,
numbers, strings that look like numbers, dates, lists), ids whose sort order
is not their numeric order and that hold the key separator, fields over every
namespace a membership contact may read (the rollup and the primary
included), filters over the user, account and relationship, and every primary
policy: each user's contacts (keys, fields, order), links (accounts,
properties, the primary flag) and the inflation must be the oracle's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.conditions import compile_condition
from hub.config.mapping import PrimaryAccountPolicy, PrimaryAccountSettings, StageSettings
from hub.contract.capabilities import ObjectKind
from hub.engine.combos import condition_attributes
from hub.engine.memberships import (
    attributes,
    contact_records,
    link_records,
    membership_contact_rows,
    membership_link_rows,
)
from hub.engine.tables import Tables
from hub.engine.users import relationship_attributes, user_contexts
from hub.getters import fast_getter
from hub.model import Account, Dataset, Membership, User
from hub.projections.associations import membership_links
from hub.projections.membership_contacts import inflation, membership_contact_records
from hub.projections.primary_account import primary_membership
from hub.projections.stages import StageRanking, user_stage
from hub.references import ALLOWED, Reference, parse_reference

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
STAGES = StageSettings(order=["MQL", "CUS", "PRO"], churn="churn")
USER_IDS = ["u1", "u10", "u2", "U3", "u:4"]
ACCOUNT_IDS = ["a1", "a10", "a2", "B", "a:b", "a\\x"]
MIXED = st.sampled_from([None, 1, 2.5, "2", "", True, date(2026, 1, 1), ["x"], "SpaceX"])
FIELDS = st.dictionaries(
    st.sampled_from(["email", "name", "role", "stage", "count", "plan", "score", "home", "id"]),
    st.sampled_from(
        [
            "user.email",
            "user.user_id",
            "user.title",
            "account.name",
            "account.account_id",
            "account.plan",
            "relationship.role",
            "relationship.score",
            "relationship.stage",
            "rollup.stage",
            "rollup.account_count",
            "primary_account.name",
            "primary_account.account_id",
            "primary_relationship.role",
            "primary_relationship.score",
        ]
    ),
    max_size=6,
)
PROPERTIES = st.dictionaries(
    st.sampled_from(["role", "score", "plan", "email"]),
    st.sampled_from(
        ["relationship.role", "relationship.score", "account.plan", "user.email", "user.title"]
    ),
    max_size=3,
)
WHERES = st.sampled_from(
    [
        None,
        "relationship.role in ['Owner', 'Admin']",
        "relationship.score > 1",
        "not relationship.role == 'User' and account.plan != 'Free'",
        "exists(account.name)",
        "user.email == 'ann@x.io'",
        "relationship.stage == 'churn'",
    ]
)
POLICIES = st.sampled_from(
    [
        PrimaryAccountPolicy.HIGHEST_STAGE,
        PrimaryAccountPolicy.FIRST,
        PrimaryAccountPolicy.LAST,
        PrimaryAccountPolicy.EXPLICIT,
    ]
)


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    users = {
        u: User(
            u,
            draw(st.sampled_from(["ann@x.io", "bob@x.io", None])),
            {k: v for k, v in {"title": draw(MIXED)}.items() if v is not None},
        )
        for u in USER_IDS
    }
    accounts = {
        a: Account(
            a,
            draw(st.sampled_from(["SpaceX", "", None, "X; Corp", "\u00c9cole"])),
            traits={"plan": draw(st.sampled_from(["Free", "Pro", 3]))},
        )
        for a in ACCOUNT_IDS
    }
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(USER_IDS), st.sampled_from(ACCOUNT_IDS)),
            unique=True,
            max_size=18,
        )
    )
    memberships = {}
    for u, a in pairs:
        properties = {
            "score": draw(MIXED),
            "stage": draw(st.sampled_from(["MQL", "CUS", "PRO", "churn", "lead", None, 3])),
            "joined_at": draw(st.sampled_from([None, "2026-01-05", "2025-03-01", "garbage"])),
            "is_primary": draw(st.sampled_from([None, True, "yes", 0])),
        }
        memberships[(u, a)] = Membership(
            u,
            a,
            draw(st.sampled_from(["Owner", "Admin", "User", ""])),
            {k: v for k, v in properties.items() if v is not None},
        )
    return Dataset(users, accounts, memberships)


def _tables(
    dataset: Dataset,
    references: list[dict[str, Reference]],
    wheres: list[str | None],
    primary: PrimaryAccountSettings,
) -> Tables:
    wanted: dict[str, list[str]] = {"user": [], "account": [], "relationship": []}
    for fields in references:
        for namespace, names in attributes(fields.values()).items():
            wanted[namespace].extend(names)
    for where in wheres:
        for reference in condition_attributes(where):
            wanted[reference.namespace].append(reference.attribute)
    wanted["relationship"].extend(relationship_attributes(STAGES, primary))
    return Tables(dataset, wanted["relationship"], user=wanted["user"], account=wanted["account"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dataset=datasets(),
    fields=FIELDS,
    properties=PROPERTIES,
    member_where=WHERES,
    link_where=WHERES,
    policy=POLICIES,
    separator=st.sampled_from([":", "|", "::"]),
)
def test_the_membership_queries_agree_with_the_per_record_rules(
    dataset: Dataset,
    fields: dict[str, str],
    properties: dict[str, str],
    member_where: str | None,
    link_where: str | None,
    policy: PrimaryAccountPolicy,
    separator: str,
) -> None:
    primary_settings = PrimaryAccountSettings(policy=policy, fallback="first")
    field_refs = {name: parse_reference(text) for name, text in fields.items()}
    property_refs = {name: parse_reference(text) for name, text in properties.items()}
    tables = _tables(
        dataset, [field_refs, property_refs], [member_where, link_where], primary_settings
    )
    contexts = user_contexts(tables, STAGES, primary_settings, AS_OF)
    ranking = StageRanking(STAGES)
    contact_rows = membership_contact_rows(tables, contexts, field_refs, member_where)
    contacts = contact_records(tables, contact_rows, separator=separator, ranking=ranking)
    links = link_records(tables, membership_link_rows(tables, contexts, property_refs, link_where))

    getters = {name: fast_getter(r) for name, r in field_refs.items()}
    link_getters = {name: fast_getter(r) for name, r in property_refs.items()}
    namespaces = ALLOWED["membership_contacts.where"]
    m_where = compile_condition(member_where, namespaces) if member_where else None
    l_where = compile_condition(link_where, namespaces) if link_where else None
    expected_contacts = []
    expected_links = []
    contacted: set[str] = set()
    for user_id, user in sorted(dataset.users.items()):
        ms = sorted(
            (m for m in dataset.memberships.values() if m.user_id == user_id),
            key=lambda m: m.account_id,
        )
        if not ms:
            continue
        rollup = {"account_count": len(ms), "stage": user_stage(ms, ranking)}
        chosen = primary_membership(ms, primary_settings, ranking)
        mine = membership_contact_records(
            user,
            ms,
            dataset.accounts,
            getters,
            separator=separator,
            where=m_where,
            rollup=rollup,
            primary=chosen,
        )
        expected_contacts.extend(mine)
        if mine:
            contacted.add(user_id)
        expected_links.extend(
            membership_links(
                user, ms, dataset.accounts, link_getters, primary=chosen, where=l_where
            )
        )
    assert [(r.key, r.fields) for r in contacts] == [(r.key, r.fields) for r in expected_contacts]
    assert [repr(r.fields) for r in contacts] == [repr(r.fields) for r in expected_contacts]
    assert all(r.object is ObjectKind.CONTACT for r in contacts)
    assert [(x.contact_key, x.account_key, x.primary, x.properties) for x in links] == [
        (x.contact_key, x.account_key, x.primary, x.properties) for x in expected_links
    ]
    assert contact_rows.inflation() == inflation(len(expected_contacts), len(contacted))


@pytest.mark.parametrize("value", ["Robert'); DROP TABLE m;--", 'x" OR 1=1 --'])
def test_a_hostile_value_is_only_data_in_a_field(value: str) -> None:
    dataset = Dataset(
        {"u1": User("u1")},
        {"a1": Account("a1", value)},
        {("u1", "a1"): Membership("u1", "a1", value)},
    )
    refs = {"name": parse_reference("account.name"), "role": parse_reference("relationship.role")}
    primary = PrimaryAccountSettings()
    tables = _tables(dataset, [refs], [f"relationship.role == {value!r}"], primary)
    contexts = user_contexts(tables, STAGES, primary, AS_OF)
    rows = membership_contact_rows(tables, contexts, refs, f"relationship.role == {value!r}")
    [record] = contact_records(tables, rows)
    assert (record.key, record.fields) == ("u1:a1", {"name": value, "role": value})
