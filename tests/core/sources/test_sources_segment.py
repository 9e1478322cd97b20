"""Segment-spec calls: identify, group (with relationship properties) and track."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.config.settings import HubSettings
from hub.model import EMPTY
from hub.sources.loading import LoadResult, load

CALLS: list[Any] = [
    # 1: the later identify (by timestamp) wins, even though it comes first in the file
    {
        "type": "identify",
        "userId": "u1",
        "traits": {"email": "new@acme.io", "plan": "pro"},
        "timestamp": "2024-02-01T00:00:00Z",
    },
    # 2
    {
        "type": "identify",
        "userId": "u1",
        "traits": {"email": "old@acme.io", "name": "Ann", "plan": "free", "title": "CTO"},
        "timestamp": "2024-01-01T00:00:00Z",
    },
    # 3: a null removes the trait
    {
        "type": "identify",
        "userId": "u1",
        "traits": {"title": None},
        "timestamp": "2024-03-01T00:00:00Z",
    },
    # 4
    {
        "type": "group",
        "userId": "u1",
        "groupId": "a1",
        "traits": {"name": "Acme", "domain": "acme.io", "stage": "trial", "plan": "team"},
        "context": {"relationship": {"role": "admin", "projects": 2}},
        "timestamp": "2024-01-05T00:00:00Z",
    },
    # 5: same pair later: merges the relationship and account traits
    {
        "type": "group",
        "userId": "u1",
        "groupId": "a1",
        "traits": {"stage": "customer"},
        "context": {"relationship": {"projects": 5, "stage": "champion"}},
        "timestamp": "2024-02-05T00:00:00Z",
    },
    # 6: a user-level event within an account
    {
        "type": "track",
        "userId": "u1",
        "event": "Report Created",
        "properties": {"size": 3},
        "context": {"groupId": "a1"},
        "timestamp": "2024-02-10T10:00:00+01:00",
    },
    # 7: an account-level event
    {
        "type": "track",
        "event": "Payment Failed",
        "context": {"groupId": "a1"},
        "timestamp": "2024-02-09T00:00:00Z",
    },
    # 8
    {"type": "identify", "anonymousId": "anon-1", "traits": {}, "timestamp": "2024-01-01"},
    # 9
    {"type": "page", "userId": "u1", "name": "Home", "timestamp": "2024-01-01"},
    # 10
    "{broken",
    # 11
    {"type": "track", "anonymousId": "anon-1", "event": "Viewed", "timestamp": "2024-01-01"},
    # 12: a membership with no role anywhere
    {
        "type": "identify",
        "userId": "u2",
        "traits": {"email": "bob@acme.io"},
        "timestamp": "2024-01-01",
    },
    # 13
    {"type": "group", "userId": "u2", "groupId": "a1", "timestamp": "2024-01-01"},
    # 14: a group call with no user: an account only
    {"type": "group", "groupId": "a2", "traits": {"name": "Beta"}, "timestamp": "2024-01-01"},
    # 15
    {"type": "identify", "userId": "u3", "timestamp": "last week"},
    # 16
    {
        "type": "track",
        "userId": "u1",
        "event": "Opened",
        "context": {"groupId": "a9"},
        "timestamp": "2024-01-01",
    },
    # 17
    {"type": "alias", "userId": "u1", "previousId": "x"},
    # 18
    {"type": "group", "userId": "u1", "timestamp": "2024-01-01"},
]


def _load(tmp_path: Path, calls: list[Any]) -> LoadResult:
    (tmp_path / "segment.jsonl").write_text(
        "".join((c if isinstance(c, str) else json.dumps(c)) + "\n" for c in calls),
        encoding="utf-8",
    )
    settings = HubSettings.model_validate(
        {"sources": {"seg": {"kind": "segment", "path": "segment.jsonl"}}}
    )
    return load(settings, tmp_path)


def test_identify_merges_traits_in_timestamp_order(tmp_path: Path) -> None:
    result = _load(tmp_path, CALLS)
    user = result.dataset.users["u1"]
    assert user.email == "new@acme.io"
    assert user.traits == {"name": "Ann", "plan": "pro"}
    assert result.dataset.users["u2"].traits is EMPTY
    assert sorted(result.dataset.users) == ["u1", "u2"]


def test_group_makes_an_account_and_a_membership_with_relationship_properties(
    tmp_path: Path,
) -> None:
    result = _load(tmp_path, CALLS)
    account = result.dataset.accounts["a1"]
    assert (account.name, account.domain, account.stage) == ("Acme", "acme.io", "customer")
    assert account.traits == {"plan": "team"}
    assert result.dataset.accounts["a2"].name == "Beta"
    membership = result.dataset.memberships[("u1", "a1")]
    assert membership.role == "admin"
    assert membership.properties == {"projects": 5, "stage": "champion"}
    assert list(result.dataset.memberships) == [("u1", "a1")]


def test_track_takes_its_account_from_context_group_id(tmp_path: Path) -> None:
    result = _load(tmp_path, CALLS)
    events = [
        (e.event, e.timestamp, e.user_id, e.account_id, e.properties) for e in result.dataset.events
    ]
    assert events == [
        ("Payment Failed", datetime(2024, 2, 9, tzinfo=UTC), None, "a1", EMPTY),
        ("Report Created", datetime(2024, 2, 10, 9, tzinfo=UTC), "u1", "a1", {"size": 3}),
    ]


def test_unsupported_and_bad_calls_are_quarantined_with_their_line(tmp_path: Path) -> None:
    result = _load(tmp_path, CALLS)
    assert sorted((row.location, row.table, row.reason) for row in result.quarantine) == sorted(
        [
            ("segment.jsonl:8", "users", "no userId"),
            ("segment.jsonl:9", "events", "unsupported call type page"),
            (
                "segment.jsonl:10",
                "events",
                "invalid JSON: Expecting property name enclosed in double quotes (column 2)",
            ),
            ("segment.jsonl:11", "events", "no userId"),
            ("segment.jsonl:13", "memberships", "missing role"),
            ("segment.jsonl:15", "users", "bad timestamp 'last week'"),
            ("segment.jsonl:16", "events", "unknown account a9"),
            ("segment.jsonl:17", "events", "unsupported call type alias"),
            ("segment.jsonl:18", "accounts", "missing groupId"),
        ]
    )
    assert all(row.source == "seg" for row in result.quarantine)
    assert result.counts == {"users": 2, "accounts": 2, "memberships": 1, "events": 2}


def test_role_may_come_from_an_earlier_group_call(tmp_path: Path) -> None:
    calls = [
        {"type": "identify", "userId": "u1", "timestamp": "2024-01-01"},
        {"type": "group", "userId": "u1", "groupId": "a1", "timestamp": "2024-01-03"},
        {
            "type": "group",
            "userId": "u1",
            "groupId": "a1",
            "context": {"relationship": {"role": "member"}},
            "timestamp": "2024-01-02",
        },
        {
            "type": "group",
            "userId": "u1",
            "groupId": "a1",
            "context": {"relationship": {"role": "owner"}},
            "timestamp": "2024-01-04",
        },
    ]
    result = _load(tmp_path, calls)
    assert result.dataset.memberships[("u1", "a1")].role == "owner"
    assert len(result.quarantine) == 0


@pytest.mark.parametrize("segment_first", [True, False])
def test_segment_calls_update_what_table_sources_hold_whatever_the_source_order(
    tmp_path: Path, segment_first: bool
) -> None:
    (tmp_path / "users.csv").write_text(
        "user_id,email,plan\nu1,csv@acme.io,free\n", encoding="utf-8"
    )
    (tmp_path / "accounts.csv").write_text(
        "account_id,name,stage\na1,Acme,Trial\n", encoding="utf-8"
    )
    (tmp_path / "memberships.csv").write_text(
        "user_id,account_id,role,joined_at\nu1,a1,User,2024-01-01\n", encoding="utf-8"
    )
    calls = [
        {
            "type": "identify",
            "userId": "u1",
            "timestamp": "2024-01-01",
            "traits": {"email": "seg@acme.io", "title": "CTO"},
        },
        {
            "type": "group",
            "userId": "u1",
            "groupId": "a1",
            "timestamp": "2024-01-02",
            "traits": {"stage": "Customer"},
            "context": {"relationship": {"role": "Admin"}},
        },
    ]
    (tmp_path / "segment.jsonl").write_text(
        "".join(json.dumps(call) + "\n" for call in calls), encoding="utf-8"
    )
    tables = {
        name: {"kind": "csv", "table": name, "path": f"{name}.csv"}
        for name in ("users", "accounts", "memberships")
    }
    segment = {"seg": {"kind": "segment", "path": "segment.jsonl"}}
    sources = {**segment, **tables} if segment_first else {**tables, **segment}
    result = load(HubSettings.model_validate({"sources": sources}), tmp_path)

    assert len(result.quarantine) == 0
    user = result.dataset.users["u1"]
    assert user.email == "seg@acme.io"  # the call's value wins
    assert dict(user.traits) == {"plan": "free", "title": "CTO"}  # merged
    account = result.dataset.accounts["a1"]
    assert (account.name, account.stage) == ("Acme", "Customer")
    membership = result.dataset.memberships[("u1", "a1")]
    assert membership.role == "Admin"
    assert dict(membership.properties) == {"joined_at": "2024-01-01"}


def test_the_same_user_in_two_table_sources_is_a_duplicate(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("user_id,email\nu1,a@acme.io\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("user_id,email\nu1,b@acme.io\n", encoding="utf-8")
    settings = HubSettings.model_validate(
        {
            "sources": {
                "first": {"kind": "csv", "table": "users", "path": "a.csv"},
                "second": {"kind": "csv", "table": "users", "path": "b.csv"},
            }
        }
    )
    result = load(settings, tmp_path)
    assert result.dataset.users["u1"].email == "a@acme.io"
    assert [(row.source, row.location, row.reason) for row in result.quarantine] == [
        ("second", "b.csv:2", "duplicate user_id u1, first seen at a.csv:2")
    ]
