"""Loading across sources: order of resolution, duplicates, determinism."""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.config.settings import HubSettings
from hub.sources import infer, parse_timestamp
from hub.sources.loading import LoadResult, load

FILES = {
    "crm/users.csv": "user_id,email\nu2,b@acme.io\nu1,a@acme.io\n",
    "app/users.jsonl": json.dumps({"user_id": "u3", "email": "c@acme.io"})
    + "\n"
    + json.dumps({"user_id": "u1", "email": "dup@acme.io"})
    + "\n",
    "crm/accounts.csv": "account_id,name\na2,Beta\na1,Acme\n",
    "app/memberships.csv": "user_id,account_id,role\nu3,a1,member\nu1,a1,admin\nu2,a2,owner\n",
    "app/events.csv": (
        "event,timestamp,user_id,account_id\n"
        "b,2024-01-01T00:00:00Z,u2,\n"
        "a,2024-01-01T00:00:00Z,u2,\n"
        "a,2024-01-01T00:00:00Z,,a1\n"
        "a,2023-12-31T23:00:00-02:00,u1,a1\n"
    ),
}

SOURCES: dict[str, dict[str, str]] = {
    "memberships": {"kind": "csv", "table": "memberships", "path": "app/memberships.csv"},
    "events": {"kind": "csv", "table": "events", "path": "app/events.csv"},
    "crm_users": {"kind": "csv", "table": "users", "path": "crm/users.csv"},
    "app_users": {"kind": "jsonl", "table": "users", "path": "app/users.jsonl"},
    "accounts": {"kind": "csv", "table": "accounts", "path": "crm/accounts.csv"},
}


def _load(tmp_path: Path, names: list[str]) -> LoadResult:
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    sources = {name: SOURCES[name] for name in names}
    return load(HubSettings.model_validate({"sources": sources}), tmp_path)


def test_memberships_and_events_see_users_and_accounts_of_later_sources(tmp_path: Path) -> None:
    # memberships and events are listed before the users and accounts they refer to
    result = _load(tmp_path, list(SOURCES))
    assert gc.isenabled()  # load() pauses the collector and turns it back on
    assert set(result.dataset.memberships) == {("u3", "a1"), ("u1", "a1"), ("u2", "a2")}
    assert len(result.dataset.events) == 4
    assert [(row.source, row.location, row.reason) for row in result.quarantine] == [
        (
            "app_users",
            "app/users.jsonl:2",
            "duplicate user_id u1, first seen at crm/users.csv:3",
        )
    ]
    assert result.dataset.users["u1"].email == "a@acme.io"
    assert result.counts == {"users": 3, "accounts": 2, "memberships": 3, "events": 4}


def test_the_first_source_wins_a_duplicate(tmp_path: Path) -> None:
    result = _load(tmp_path, ["app_users", "crm_users"])
    assert result.dataset.users["u1"].email == "dup@acme.io"
    assert [(row.location, row.reason) for row in result.quarantine] == [
        ("crm/users.csv:3", "duplicate user_id u1, first seen at app/users.jsonl:2")
    ]


def test_the_data_set_does_not_depend_on_source_order(tmp_path: Path) -> None:
    names = list(SOURCES)
    forward = _load(tmp_path, names).dataset
    backward = _load(tmp_path, ["crm_users", *reversed([n for n in names if n != "crm_users"])])
    assert backward.dataset == forward
    # the order of iteration too, not only equality
    # by source name (app_users before crm_users), then file order
    assert list(backward.dataset.users) == list(forward.users) == ["u3", "u2", "u1"]
    assert list(backward.dataset.accounts) == list(forward.accounts) == ["a2", "a1"]
    assert list(backward.dataset.memberships) == list(forward.memberships)
    assert backward.dataset.events == forward.events


def test_records_of_several_sources_are_ordered_by_source_name(tmp_path: Path) -> None:
    (tmp_path / "b.csv").write_text("user_id\nu9\nu1\n", encoding="utf-8")
    (tmp_path / "a.jsonl").write_text('{"user_id": "u5"}\n{"user_id": "u2"}\n', encoding="utf-8")
    b = {"kind": "csv", "table": "users", "path": "b.csv"}
    a = {"kind": "jsonl", "table": "users", "path": "a.jsonl"}
    orders = []
    for sources in ({"zeta": b, "alpha": a}, {"alpha": a, "zeta": b}):
        result = load(HubSettings.model_validate({"sources": sources}), tmp_path)
        orders.append(list(result.dataset.users))
    assert orders == [["u5", "u2", "u9", "u1"], ["u5", "u2", "u9", "u1"]]


def test_events_are_sorted_by_time_user_account_event(tmp_path: Path) -> None:
    events = _load(tmp_path, list(SOURCES)).dataset.events
    assert [(e.event, e.user_id, e.account_id) for e in events] == [
        ("a", None, "a1"),
        ("a", "u2", None),
        ("b", "u2", None),
        ("a", "u1", "a1"),  # 2023-12-31T23:00:00-02:00 is 01:00 UTC
    ]
    assert events[3].timestamp == datetime(2024, 1, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("0", 0),
        ("-3", -3),
        ("+12", 12),
        ("0012", "0012"),
        ("1.25", 1.25),
        ("-.5", -0.5),
        ("3.", 3.0),
        ("2e3", 2000.0),
        ("1_000", "1_000"),
        ("nan", "nan"),
        ("inf", "inf"),
        (" 5", " 5"),
        ("yes", "yes"),
        ("1.2.3", "1.2.3"),
        ("-", "-"),
        ("٣", "٣"),
    ],
)
def test_infer(text: str, expected: Any) -> None:
    value = infer(text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02 05:04:05+02:00", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02", datetime(2024, 1, 2, tzinfo=UTC)),
        ("02/01/2024", None),
        (1704164645, None),
        (None, None),
    ],
)
def test_parse_timestamp(value: object, expected: datetime | None) -> None:
    parsed = parse_timestamp(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC
