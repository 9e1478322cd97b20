"""JSON Lines table files: JSON types, nested traits/properties, bad lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.config.settings import HubSettings
from hub.model import EMPTY
from hub.sources.loading import LoadResult, load


def _write(path: Path, rows: list[Any]) -> None:
    path.write_text(
        "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows),
        encoding="utf-8",
    )


def _load(tmp_path: Path, sources: dict[str, Any]) -> LoadResult:
    return load(HubSettings.model_validate({"sources": sources}), tmp_path)


def _reasons(result: LoadResult) -> list[tuple[str, str, str]]:
    return [(row.table, row.location, row.reason) for row in result.quarantine]


def test_users_keep_json_types_and_merge_nested_traits(tmp_path: Path) -> None:
    _write(
        tmp_path / "users.jsonl",
        [
            {
                "user_id": "u1",
                "email": "a@b.io",
                "plan": "free",
                "seats": "3",
                "traits": {"plan": "pro", "score": 0.5, "tags": ["x"]},
            },
            {"user_id": 42, "traits": {"email": "c@d.io", "vip": True}, "gone": None},
            "",
            "{not json",
            "[1, 2]",
            {"email": "e@f.io"},
            {"user_id": "u3", "traits": "oops"},
            {"user_id": 1.5},
        ],
    )
    result = _load(tmp_path, {"u": {"kind": "jsonl", "table": "users", "path": "users.jsonl"}})
    users = result.dataset.users
    assert users["u1"].email == "a@b.io"
    # JSON strings stay strings (no inference); the nested object wins
    assert users["u1"].traits == {"plan": "pro", "seats": "3", "score": 0.5, "tags": ["x"]}
    # integer ids become text; e-mail may come from the nested traits; null is absent
    assert users["42"].email == "c@d.io"
    assert users["42"].traits == {"vip": True}
    assert _reasons(result) == [
        (
            "users",
            "users.jsonl:4",
            "invalid JSON: Expecting property name enclosed in double quotes (column 2)",
        ),
        ("users", "users.jsonl:5", "not a JSON object"),
        ("users", "users.jsonl:6", "missing user_id"),
        ("users", "users.jsonl:7", "traits must be an object"),
        ("users", "users.jsonl:8", "invalid user_id 1.5"),
    ]
    assert list(result.quarantine)[3].record_id == "u3"


def test_memberships_and_events_nested_properties(tmp_path: Path) -> None:
    _write(tmp_path / "users.jsonl", [{"user_id": "u1"}])
    _write(
        tmp_path / "accounts.jsonl",
        [{"account_id": "a1", "name": "Acme", "traits": {"stage": "customer"}}],
    )
    _write(
        tmp_path / "memberships.jsonl",
        [
            {"user_id": "u1", "account_id": "a1", "properties": {"role": "owner", "health": 0.9}},
        ],
    )
    _write(
        tmp_path / "events.jsonl",
        [
            {
                "event": "export",
                "timestamp": "2024-05-01T12:00:00.250+01:00",
                "user_id": "u1",
                "account_id": "a1",
                "properties": {"format": "csv", "rows": 10},
            },
            {"event": "export", "timestamp": 1714560000, "user_id": "u1"},
        ],
    )
    result = _load(
        tmp_path,
        {
            "e": {"kind": "jsonl", "table": "events", "path": "events.jsonl"},
            "m": {"kind": "jsonl", "table": "memberships", "path": "memberships.jsonl"},
            "u": {"kind": "jsonl", "table": "users", "path": "users.jsonl"},
            "a": {"kind": "jsonl", "table": "accounts", "path": "accounts.jsonl"},
        },
    )
    account = result.dataset.accounts["a1"]
    assert (account.name, account.stage, account.traits) == ("Acme", "customer", EMPTY)
    membership = result.dataset.memberships[("u1", "a1")]
    assert membership.role == "owner"
    assert membership.properties == {"health": 0.9}
    (event,) = result.dataset.events
    assert event.timestamp == datetime(2024, 5, 1, 11, 0, 0, 250000, tzinfo=UTC)
    assert event.properties == {"format": "csv", "rows": 10}
    assert _reasons(result) == [("events", "events.jsonl:2", "bad timestamp 1714560000")]
