"""project_destination: every projection composed from a mapping, deterministically."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from per_record import (
    ProjectionError,
    project_account,
    project_destination,
    project_user,
)

from hub.conditions import compile_condition
from hub.config.mapping import Mapping
from hub.contract.capabilities import (
    Capabilities,
    FieldCapability,
    FieldType,
    LinkCapability,
    ObjectCapability,
    ObjectKind,
)
from hub.model import Account, Dataset, Event, Membership, User
from hub.projections.resolver import Graph
from hub.records import DestinationProjection, projection_to_json

AS_OF = datetime(2024, 6, 1, tzinfo=UTC)


def caps(
    links: bool = True, account_max: int | None = None, unique_by_email: bool = False
) -> Capabilities:
    account_types = {t: FieldCapability(type=t) for t in FieldType}
    account_types[FieldType.STRING] = FieldCapability(type=FieldType.STRING, max_length=account_max)
    return Capabilities(
        objects={
            ObjectKind.CONTACT: ObjectCapability(name="contacts", unique_by_email=unique_by_email),
            ObjectKind.ACCOUNT: ObjectCapability(name="companies", field_types=account_types),
        },
        links=LinkCapability(carries_properties=True, primary=True) if links else None,
    )


def seeds() -> Dataset:
    users = {
        "elon": User("elon", "elon@x.com", {"name": "Elon"}),
        "gwynne": User("gwynne", "gwynne@spacex.com", {"name": "Gwynne"}),
        "loner": User("loner", "loner@x.com"),
    }
    accounts = {
        "tw": Account("tw", "Twitter", "twitter.com", "Customer"),
        "te": Account("te", "Tesla", "tesla.com", "Trial"),
        "sx": Account("sx", "SpaceX", "spacex.com", "Trial"),
    }
    memberships = {
        ("elon", "tw"): Membership(
            "elon", "tw", "Owner", {"stage": "CUS", "joined_at": "2022-10-27"}
        ),
        ("elon", "te"): Membership(
            "elon", "te", "Admin", {"stage": "MQL", "joined_at": "2004-02-01"}
        ),
        ("elon", "sx"): Membership(
            "elon", "sx", "User", {"stage": "visitor", "joined_at": "2002-03-14"}
        ),
        ("gwynne", "sx"): Membership("gwynne", "sx", "Owner", {"stage": "Customer"}),
    }
    day = timedelta(days=1)
    events = [
        Event("task_completed", AS_OF - 2 * day, "elon", "sx"),
        Event("login", AS_OF - 3 * day, "gwynne", "sx"),
        Event("login", AS_OF - 90 * day, "elon", "tw"),
    ]
    return Dataset(users, accounts, memberships, events)


MAPPING: dict[str, Any] = {
    "destination": "crm",
    "primary_account": {"policy": "first"},
    "accounts": {
        "fields": {"name": "account.name", "domain": "account.domain"},
        "user_lists": [
            {"field": "admins", "where": "relationship.role in ['Owner', 'Admin']"},
            {
                "field": "everyone",
                "value": "user.name",
                "order_by": "user.user_id",
                "separator": ", ",
            },
        ],
        "rollups": [
            {"field": "users", "kind": "user_count"},
            {"field": "active_7d", "kind": "active_users", "window_days": 7},
            {"field": "last_active", "kind": "last_active"},
            {
                "field": "activated",
                "kind": "activation",
                "min_users": 2,
                "min_events": {"task_completed": 1},
            },
        ],
    },
    "users": {
        "fields": {
            "email": "user.email",
            "stage": "rollup.stage",
            "accounts": "rollup.account_count",
            "company": "primary_account.name",
            "role_there": "primary_relationship.role",
        },
        "relationship_fields": [
            {"field": "summary"},
            {
                "field": "admin_count",
                "kind": "count",
                "where": "relationship.role in ['Owner', 'Admin']",
            },
            {"field": "is_owner", "kind": "any", "where": "relationship.role == 'Owner'"},
        ],
    },
}


def project(
    dataset: Dataset | Graph,
    mapping: dict[str, Any] = MAPPING,
    capabilities: Capabilities | None = None,
) -> DestinationProjection:
    return project_destination(
        "crm",
        dataset,
        Mapping.model_validate(mapping),
        capabilities or caps(),
        AS_OF,
        compile_condition,
    )


def test_the_seeds_end_to_end() -> None:
    result = project(seeds())
    accounts = {r.key: r.fields for r in result.accounts}
    contacts = {r.key: r.fields for r in result.contacts}
    assert [r.key for r in result.accounts] == ["sx", "te", "tw"]
    assert accounts["sx"] == {
        "name": "SpaceX",
        "domain": "spacex.com",
        "admins": "gwynne@spacex.com",
        "everyone": "Elon, Gwynne",
        "users": 2,
        "active_7d": 2,
        "last_active": (AS_OF - timedelta(days=2)).isoformat(),
        "activated": True,
    }
    assert accounts["tw"]["activated"] is False
    assert accounts["te"]["last_active"] is None
    assert contacts["elon"] == {
        "email": "elon@x.com",
        "stage": "CUS",
        "accounts": 3,
        "company": "SpaceX",  # first joined
        "role_there": "User",
        "summary": "SpaceX (User); Tesla (Admin); Twitter (Owner)",
        "admin_count": 2,
        "is_owner": True,
    }
    # a user with no membership still gets a contact
    assert contacts["loner"]["summary"] is None and contacts["loner"]["stage"] is None
    assert contacts["loner"]["company"] is None and contacts["loner"]["admin_count"] == 0
    assert [(x.contact_key, x.account_key, x.primary, x.properties) for x in result.links] == [
        ("elon", "sx", True, {"role": "User"}),
        ("elon", "te", False, {"role": "Admin"}),
        ("elon", "tw", False, {"role": "Owner"}),
        ("gwynne", "sx", True, {"role": "Owner"}),
    ]
    # gwynne's stage "Customer" is not a stage: ignored and reported
    [unknown] = [n for n in result.notices if n.kind == "unknown_stage"]
    assert unknown.subject == "Customer" and unknown.detail["examples"] == ["gwynne:sx"]
    assert contacts["gwynne"]["stage"] is None
    assert result.stats == {"accounts": 3, "user_contacts": 3, "contacts": 3, "links": 4}


def test_list_truncation_uses_the_destination_maximum_and_is_reported() -> None:
    mapping = {**MAPPING, "accounts": {"user_lists": [{"field": "admins"}]}}
    result = project(seeds(), mapping, caps(account_max=24))
    sx = next(r for r in result.accounts if r.key == "sx")
    assert sx.fields["admins"] == "elon@x.com;(+1 more)"
    [notice] = [n for n in result.notices if n.kind == "list_truncated"]
    assert notice.subject == "accounts.user_lists.admins"
    assert notice.detail == {
        "count": 1,
        "examples": ["sx"],
        "dropped_entries": 1,
        "without_marker": 0,
    }


def test_membership_contacts_and_inflation() -> None:
    mapping = {
        "destination": "mail",
        "users": {"enabled": False},
        "membership_contacts": {
            "enabled": True,
            "fields": {"email": "user.email", "company": "account.name", "stage": "rollup.stage"},
        },
    }
    result = project(seeds(), mapping)
    assert [r.key for r in result.contacts] == ["elon:sx", "elon:te", "elon:tw", "gwynne:sx"]
    assert result.contacts[0].fields == {"company": "SpaceX", "email": "elon@x.com", "stage": "CUS"}
    assert result.stats["inflation"] == 2.0
    assert (
        result.stats["membership_contacts"] == 4 and result.stats["membership_contact_users"] == 2
    )
    assert result.links == []  # no user contacts to link
    assert any(n.kind == "inflation" and n.detail["inflation"] == 2.0 for n in result.notices)


def test_membership_contacts_refused_when_contacts_are_unique_by_email() -> None:
    mapping = {
        "destination": "x",
        "membership_contacts": {"enabled": True, "fields": {"e": "user.email"}},
    }
    with pytest.raises(ProjectionError, match="e-mail"):
        project(seeds(), mapping, caps(unique_by_email=True))
    mapping["membership_contacts"]["fields"] = {"name": "user.name"}
    assert project(seeds(), mapping, caps(unique_by_email=True)).stats["membership_contacts"] == 4


def test_key_collision_between_user_and_membership_contacts_is_an_error() -> None:
    dataset = seeds()
    dataset.users["elon:sx"] = User("elon:sx")
    mapping = {"destination": "x", "membership_contacts": {"enabled": True}}
    with pytest.raises(ProjectionError, match="separator"):
        project(dataset, mapping)


def test_capabilities_and_switches_gate_the_projections() -> None:
    no_links = project(seeds(), capabilities=caps(links=False))
    assert no_links.links == [] and no_links.accounts and no_links.contacts
    off = project(seeds(), {**MAPPING, "accounts": {"enabled": False}})
    assert off.accounts == [] and off.links == []
    contacts_only = Capabilities(objects={ObjectKind.CONTACT: ObjectCapability(name="people")})
    only = project(seeds(), capabilities=contacts_only)
    assert only.accounts == [] and only.links == [] and len(only.contacts) == 3
    plain = Capabilities(
        objects={
            ObjectKind.CONTACT: ObjectCapability(name="c"),
            ObjectKind.ACCOUNT: ObjectCapability(name="a"),
        },
        links=LinkCapability(carries_properties=False),
    )
    assert all(link.properties == {} for link in project(seeds(), capabilities=plain).links)


def test_links_where_and_primary_policies() -> None:
    mapping = {**MAPPING, "primary_account": {"policy": "most_active", "activity_window_days": 120}}
    result = project(seeds(), mapping)
    assert [x.account_key for x in result.links if x.primary and x.contact_key == "elon"] == ["sx"]
    mapping = {
        **MAPPING,
        "primary_account": {"policy": "highest_stage"},
        "links": {"where": "relationship.role != 'User'"},
    }
    result = project(seeds(), mapping)
    assert [(x.contact_key, x.account_key, x.primary) for x in result.links] == [
        ("elon", "te", False),
        ("elon", "tw", True),
        ("gwynne", "sx", True),
    ]
    assert next(r for r in result.contacts if r.key == "elon").fields["company"] == "Twitter"


def dump(projection: DestinationProjection) -> str:
    return json.dumps(projection_to_json(projection), sort_keys=True)


FULL_MAPPING = {**MAPPING, "membership_contacts": {"enabled": True, "separator": "::"}}


def test_project_user_and_account_match_the_full_projection() -> None:
    graph = Graph(seeds())
    full = project_destination(
        "crm", graph, Mapping.model_validate(FULL_MAPPING), caps(), AS_OF, compile_condition
    )
    mapping = Mapping.model_validate(FULL_MAPPING)
    for user_id in graph.users:
        one = project_user("crm", graph, mapping, caps(), AS_OF, compile_condition, user_id)
        assert one.accounts == []
        assert one.contacts == [
            r for r in full.contacts if r.key == user_id or r.key.startswith(user_id + "::")
        ]
        assert one.links == [x for x in full.links if x.contact_key == user_id]
    for account_id in graph.accounts:
        one = project_account("crm", graph, mapping, caps(), AS_OF, compile_condition, account_id)
        assert one.accounts == [r for r in full.accounts if r.key == account_id]
        assert one.contacts == [r for r in full.contacts if r.key.endswith("::" + account_id)]
        assert one.links == [x for x in full.links if x.account_key == account_id]
    assert (
        project_user("crm", graph, mapping, caps(), AS_OF, compile_condition, "nobody").contacts
        == []
    )
    assert (
        project_account("crm", graph, mapping, caps(), AS_OF, compile_condition, "nobody").accounts
        == []
    )


def test_outputs_are_sorted() -> None:
    result = project(seeds(), FULL_MAPPING)
    assert [r.key for r in result.contacts] == sorted(r.key for r in result.contacts)
    assert [(x.contact_key, x.account_key) for x in result.links] == sorted(
        (x.contact_key, x.account_key) for x in result.links
    )
    assert [(n.kind, n.subject, n.message) for n in result.notices] == sorted(
        (n.kind, n.subject, n.message) for n in result.notices
    )


# -- determinism ------------------------------------------------------------------------

ROLES = ["Owner", "Admin", "User"]
STAGES = ["visitor", "MAL", "MQL", "CUS", "PRO", "churn", "bogus", None]


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    n_users = draw(st.integers(1, 8))
    n_accounts = draw(st.integers(1, 5))
    users = {
        f"u{i}": User(
            f"u{i}",
            draw(st.sampled_from([None, f"u{i}@x.io", "same@x.io"])),
            {"name": draw(st.sampled_from(["Ann", "Bob", "Bob"]))},
        )
        for i in range(n_users)
    }
    accounts = {
        f"a{i}": Account(f"a{i}", draw(st.sampled_from(["Acme", "Beta", None])))
        for i in range(n_accounts)
    }
    pairs = draw(
        st.sets(
            st.tuples(st.sampled_from(sorted(users)), st.sampled_from(sorted(accounts))),
            max_size=20,
        )
    )
    memberships = {}
    for user_id, account_id in sorted(pairs):
        props: dict[str, Any] = {}
        stage = draw(st.sampled_from(STAGES))
        if stage is not None:
            props["stage"] = stage
        if draw(st.booleans()):
            props["joined_at"] = f"2024-0{draw(st.integers(1, 3))}-01"
        if draw(st.booleans()):
            props["is_primary"] = draw(st.booleans())
        memberships[(user_id, account_id)] = Membership(
            user_id, account_id, draw(st.sampled_from(ROLES)), props
        )
    events = [
        Event(
            draw(st.sampled_from(["login", "task_completed"])),
            AS_OF - timedelta(days=draw(st.integers(-1, 40))),
            draw(st.sampled_from([None, *users])),
            draw(st.sampled_from([None, *accounts])),
        )
        for _ in range(draw(st.integers(0, 12)))
    ]
    return Dataset(users, accounts, memberships, events)


def shuffled(dataset: Dataset, seed: int) -> Dataset:
    rnd = random.Random(seed)

    def mix(d: dict[Any, Any]) -> dict[Any, Any]:
        items = list(d.items())
        rnd.shuffle(items)
        return dict(items)

    def mix_props(m: Membership) -> Membership:
        items = list(m.properties.items())
        rnd.shuffle(items)
        return Membership(m.user_id, m.account_id, m.role, dict(items))

    events = list(dataset.events)
    rnd.shuffle(events)
    memberships = {k: mix_props(m) for k, m in mix(dataset.memberships).items()}
    return Dataset(mix(dataset.users), mix(dataset.accounts), memberships, events)


DETERMINISM_MAPPINGS = [
    FULL_MAPPING,
    {
        **FULL_MAPPING,
        "primary_account": {"policy": "explicit", "fallback": "most_active"},
        "users": {
            **MAPPING["users"],
            "relationship_fields": [
                {"field": "s", "max_length": 20, "template": "{account.name}/{relationship.role}"}
            ],
        },
    },
    {
        **FULL_MAPPING,
        "primary_account": {"policy": "last"},
        "accounts": {
            "user_lists": [{"field": "l", "value": "user.name", "max_length": 12, "separator": "|"}]
        },
    },
]


@settings(max_examples=60, deadline=None)
@given(datasets(), st.integers(0, 2**16), st.sampled_from(range(len(DETERMINISM_MAPPINGS))))
def test_same_input_gives_byte_identical_output_whatever_the_order(
    dataset: Dataset, seed: int, which: int
) -> None:
    mapping = DETERMINISM_MAPPINGS[which]
    expected = dump(project(dataset, mapping, caps(account_max=30)))
    assert dump(project(shuffled(dataset, seed), mapping, caps(account_max=30))) == expected
