"""CSV table files: typing, line numbers, validation and quarantine."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.config.settings import HubSettings
from hub.errors import ConfigError
from hub.model import EMPTY
from hub.sources.loading import LoadResult, load


def _load(tmp_path: Path, files: dict[str, str], sources: dict[str, Any]) -> LoadResult:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return load(HubSettings.model_validate({"sources": sources}), tmp_path)


def _csv(table: str, path: str) -> dict[str, str]:
    return {"kind": "csv", "table": table, "path": path}


def _reasons(result: LoadResult) -> list[tuple[str, str, str]]:
    return [(row.table, row.location, row.reason) for row in result.quarantine]


def test_types_are_inferred_but_ids_and_emails_stay_text(tmp_path: Path) -> None:
    result = _load(
        tmp_path,
        {
            "users.csv": (
                "user_id,email,name,age,score,active,zip,code,note\n"
                "007,1@b.io,Ann,42,3.5,TRUE,00123,-12,1.2.3\n"
                "2,,Bob,,-.5,false,0,+7,\n"
            )
        },
        {"u": _csv("users", "users.csv")},
    )
    ann = result.dataset.users["007"]
    assert ann.email == "1@b.io"
    assert ann.traits == {
        "name": "Ann",
        "age": 42,
        "score": 3.5,
        "active": True,
        "zip": "00123",
        "code": -12,
        "note": "1.2.3",
    }
    assert type(ann.traits["age"]) is int
    bob = result.dataset.users["2"]
    assert bob.email is None
    # empty cells are absent, not empty strings
    assert bob.traits == {"name": "Bob", "score": -0.5, "active": False, "zip": 0, "code": 7}
    assert result.counts["users"] == 2
    assert len(result.quarantine) == 0


def test_accounts_name_domain_stage_are_never_converted(tmp_path: Path) -> None:
    result = _load(
        tmp_path,
        {"accounts.csv": "account_id,name,domain,stage,plan,seats\n1,42,true,3,pro,10\n2,,,,,\n"},
        {"a": _csv("accounts", "accounts.csv")},
    )
    account = result.dataset.accounts["1"]
    assert (account.name, account.domain, account.stage) == ("42", "true", "3")
    assert account.traits == {"plan": "pro", "seats": 10}
    bare = result.dataset.accounts["2"]
    assert (bare.name, bare.domain, bare.stage) == (None, None, None)
    assert bare.traits is EMPTY


def test_locations_are_physical_lines_with_multiline_cells(tmp_path: Path) -> None:
    text = (
        "user_id,email,bio\n"  # line 1
        'u1,a@b.io,"first\n'  # line 2
        'second"\n'  # line 3
        "\n"  # line 4: blank, skipped
        ",c@d.io,no id\n"  # line 5
        'u2,not-an-email,"x\n'  # line 6
        'y\nz"\n'  # lines 7-8
        "u1,dup@b.io,again\n"  # line 9
        "u3,e@f.io,ok,extra\n"  # line 10
    )
    source = {**_csv("users", "data/users.csv"), "multiline": True}
    result = _load(tmp_path, {"data/users.csv": text}, {"u": source})
    assert _reasons(result) == [
        ("users", "data/users.csv:5", "missing user_id"),
        ("users", "data/users.csv:6", "malformed email 'not-an-email'"),
        ("users", "data/users.csv:9", "duplicate user_id u1, first seen at data/users.csv:2"),
        ("users", "data/users.csv:10", "row has 4 cells, the header has 3"),
    ]
    assert list(result.dataset.users) == ["u1"]
    assert result.dataset.users["u1"].traits == {"bio": "first\nsecond"}
    rows = list(result.quarantine)
    assert rows[1].record_id == "u2"
    assert rows[2].record_id == "u1"
    assert rows[0].source == "u"
    assert {type(row.table) for row in rows} == {str}  # plain strings, not Table members


def test_short_rows_have_missing_cells_empty(tmp_path: Path) -> None:
    result = _load(
        tmp_path,
        {"users.csv": "user_id,email,plan\nu1\n"},
        {"u": _csv("users", "users.csv")},
    )
    assert result.dataset.users["u1"].email is None
    assert result.dataset.users["u1"].traits is EMPTY


def test_memberships_rules(tmp_path: Path) -> None:
    files = {
        "users.csv": "user_id\nu1\nu2\n",
        "accounts.csv": "account_id\na1\na2\n",
        "memberships.csv": (
            "user_id,account_id,role,joined_at,projects\n"  # 1
            "u1,a1,admin,2024-01-02,3\n"  # 2
            "u1,a2,,2024-01-02,\n"  # 3
            "u9,a1,member,,\n"  # 4
            "u2,a99,member,,\n"  # 5
            "u1,a1,member,,\n"  # 6
            ",a1,member,,\n"  # 7
            "u2,,member,,\n"  # 8
            "u2,a1,member,,\n"  # 9
        ),
    }
    result = _load(
        tmp_path,
        files,
        {
            "u": _csv("users", "users.csv"),
            "a": _csv("accounts", "accounts.csv"),
            "m": _csv("memberships", "memberships.csv"),
        },
    )
    assert _reasons(result) == [
        ("memberships", "memberships.csv:3", "missing role"),
        ("memberships", "memberships.csv:4", "unknown user u9"),
        ("memberships", "memberships.csv:5", "unknown account a99"),
        (
            "memberships",
            "memberships.csv:6",
            "duplicate membership u1/a1, first seen at memberships.csv:2",
        ),
        ("memberships", "memberships.csv:7", "missing user_id"),
        ("memberships", "memberships.csv:8", "missing account_id"),
    ]
    assert [row.record_id for row in result.quarantine][:4] == ["u1:a2", "u9:a1", "u2:a99", "u1:a1"]
    memberships = result.dataset.memberships
    assert list(memberships) == [("u1", "a1"), ("u2", "a1")]
    first = memberships[("u1", "a1")]
    assert first.role == "admin"
    assert first.properties == {"joined_at": "2024-01-02", "projects": 3}
    assert memberships[("u2", "a1")].properties is EMPTY
    assert result.counts == {"users": 2, "accounts": 2, "memberships": 2, "events": 0}


def test_roles_are_interned(tmp_path: Path) -> None:
    result = _load(
        tmp_path,
        {
            "users.csv": "user_id\nu1\nu2\n",
            "accounts.csv": "account_id\na1\n",
            "memberships.csv": "user_id,account_id,role\nu1,a1,member\nu2,a1,member\n",
        },
        {
            "u": _csv("users", "users.csv"),
            "a": _csv("accounts", "accounts.csv"),
            "m": _csv("memberships", "memberships.csv"),
        },
    )
    one, two = result.dataset.memberships.values()
    assert one.role is two.role


def test_events_rules_and_order(tmp_path: Path) -> None:
    files = {
        "users.csv": "user_id\nu1\n",
        "accounts.csv": "account_id\na1\n",
        "events.csv": (
            "event,timestamp,user_id,account_id,plan\n"  # 1
            "login,2024-03-01T10:00:00+02:00,u1,a1,pro\n"  # 2
            "payment failed,2024-03-01T07:00:00,,a1,\n"  # 3
            "login,2024-02-01T00:00:00Z,u1,,\n"  # 4
            "login,yesterday,u1,,\n"  # 5
            "login,,u1,,\n"  # 6
            "login,2024-01-01,,,\n"  # 7
            "login,2024-01-01,u2,,\n"  # 8
            "login,2024-01-01,u1,a2,\n"  # 9
            ",2024-01-01,u1,,\n"  # 10
        ),
    }
    result = _load(
        tmp_path,
        files,
        {
            "e": _csv("events", "events.csv"),
            "u": _csv("users", "users.csv"),
            "a": _csv("accounts", "accounts.csv"),
        },
    )
    assert _reasons(result) == [
        ("events", "events.csv:5", "bad timestamp 'yesterday'"),
        ("events", "events.csv:6", "missing timestamp"),
        ("events", "events.csv:7", "event has neither user_id nor account_id"),
        ("events", "events.csv:8", "unknown user u2"),
        ("events", "events.csv:9", "unknown account a2"),
        ("events", "events.csv:10", "missing event"),
    ]
    events = result.dataset.events
    assert [(e.event, e.timestamp, e.user_id, e.account_id) for e in events] == [
        ("login", datetime(2024, 2, 1, tzinfo=UTC), "u1", None),
        ("payment failed", datetime(2024, 3, 1, 7, tzinfo=UTC), None, "a1"),
        ("login", datetime(2024, 3, 1, 8, tzinfo=UTC), "u1", "a1"),
    ]
    assert all(e.timestamp.tzinfo is UTC for e in events)
    assert events[2].properties == {"plan": "pro"}
    assert events[0].properties is EMPTY


def test_missing_file_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, {}, {"crm": _csv("users", "exports/users.csv")})
    (problem,) = caught.value.problems
    assert problem.key == "sources.crm.path"
    assert problem.file == "exports/users.csv"
    assert "file not found" in problem.message
    assert str(tmp_path / "exports" / "users.csv") in problem.message


def test_header_without_id_column_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(
            tmp_path,
            {"accounts.csv": "id,name\na1,Acme\n", "m.csv": "user_id,account_id\nu1,a1\n"},
            {"a": _csv("accounts", "accounts.csv"), "m": _csv("memberships", "m.csv")},
        )
    problems = caught.value.problems
    assert [(p.key, p.file, p.line) for p in problems] == [
        ("sources.a.path", "accounts.csv", 1),
        ("sources.m.path", "m.csv", 1),
    ]
    assert problems[0].message == "the header has no account_id column"
    assert problems[1].message == "the header has no role column"


def test_events_header_needs_user_or_account(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(
            tmp_path,
            {"events.csv": "event,timestamp\nlogin,2024-01-01\n"},
            {"e": _csv("events", "events.csv")},
        )
    assert caught.value.problems[0].message == "the header has no user_id or account_id column"


def test_all_unreadable_sources_are_reported_together(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(
            tmp_path,
            {"empty.csv": ""},
            {
                "one": _csv("users", "missing.csv"),
                "two": _csv("accounts", "empty.csv"),
                "three": {"kind": "jsonl", "path": "x.jsonl"},
                "four": {"kind": "sql", "queries": {"users": "select 1"}},
            },
        )
    assert [p.key for p in caught.value.problems] == [
        "sources.three.table",
        "sources.four.url",
        "sources.one.path",
        "sources.two.path",
    ]
    assert caught.value.problems[3].message == "the file is empty"


def test_header_names_are_trimmed_and_bom_ignored(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_bytes("\ufeffuser_id , email\nu1, \n".encode())
    result = load(
        HubSettings.model_validate({"sources": {"u": _csv("users", "users.csv")}}), tmp_path
    )
    # " " is not empty, so it is an (invalid) e-mail
    assert _reasons(result) == [("users", "users.csv:2", "malformed email ' '")]


def test_a_line_that_is_not_utf8_is_quarantined_not_the_file(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_bytes(b"user_id,name\nu1,Ren\xe9\nu2,Ok\n")
    (tmp_path / "seg.jsonl").write_bytes(b'{"type": "identify", "userId": "\xff"}\n')
    settings = HubSettings.model_validate(
        {
            "sources": {
                "u": _csv("users", "users.csv"),
                "s": {"kind": "segment", "path": "seg.jsonl"},
            }
        }
    )
    result = load(settings, tmp_path)
    assert list(result.dataset.users) == ["u2"]
    assert _reasons(result) == [
        ("users", "users.csv:2", "invalid UTF-8: byte 0xe9 at column 7"),
        ("events", "seg.jsonl:1", "invalid UTF-8: byte 0xff at column 33"),
    ]
