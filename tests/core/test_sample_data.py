"""The hand-crafted sample in examples/sample: the stories it must tell, the bad rows
planted in it, and that make_sample.py regenerates it byte for byte."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample"
README = SAMPLE.parent / "README.md"
FILES = ("users.csv", "accounts.csv", "memberships.csv", "events.jsonl")


def _load_make_sample() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample", SAMPLE / "make_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


make_sample = _load_make_sample()


def _rows(name: str) -> list[dict[str, str]]:
    with (SAMPLE / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _line(name: str, number: int) -> str:
    return (SAMPLE / name).read_text(encoding="utf-8").splitlines()[number - 1]


def _calls() -> list[dict[str, Any]]:
    calls = []
    for text in (SAMPLE / "events.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            calls.append(json.loads(text))
        except json.JSONDecodeError:
            continue
    return calls


def test_regenerating_gives_identical_bytes(tmp_path: Path) -> None:
    make_sample.write_sample(tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name


def test_elon_has_three_memberships_with_his_roles_and_stages() -> None:
    elon = {m["account_id"]: m for m in _rows("memberships.csv") if m["user_id"] == "u_elon"}
    assert {a: (m["role"], m["stage"]) for a, m in elon.items()} == {
        "acc_twitter": ("Owner", "CUS"),
        "acc_tesla": ("Admin", "MQL"),
        "acc_spacex": ("User", "churn"),
    }
    assert elon["acc_tesla"]["health_score"] == "0.7"
    assert elon["acc_twitter"]["is_primary"] == "true"
    accounts = {a["account_id"]: a for a in _rows("accounts.csv")}
    assert accounts["acc_tesla"]["stage"] == "Trial"
    assert accounts["acc_tesla"]["conversion_score"] == "0.82"


def test_playbook_material() -> None:
    """Trial accounts with conversion score > 0.75, and who in them is a PQL."""
    accounts = {a["account_id"]: a for a in _rows("accounts.csv")}
    pqas = {
        a
        for a, row in accounts.items()
        if row["stage"] == "Trial" and float(row["conversion_score"]) > 0.75
    }
    assert pqas == {"acc_tesla", "acc_neuralink"}
    pqls = {
        (m["account_id"], m["user_id"])
        for m in _rows("memberships.csv")
        if m["account_id"] in pqas
        and m["role"] in ("Owner", "Admin")
        and float(m["health_score"]) > 0.5
    }
    assert pqls == {
        ("acc_tesla", "u_elon"),
        ("acc_tesla", "u_lena"),
        ("acc_neuralink", "u_priya"),
        ("acc_neuralink", "u_kenji"),
    }
    priya = {
        m["account_id"]: m["role"] for m in _rows("memberships.csv") if m["user_id"] == "u_priya"
    }
    assert priya == {"acc_neuralink": "Owner", "acc_tesla": "User"}


def test_shape_of_the_cast() -> None:
    users = [u for u in _rows("users.csv") if u["user_id"]]
    user_ids = {u["user_id"] for u in users}
    account_ids = {a["account_id"] for a in _rows("accounts.csv")}
    memberships = [
        m
        for m in _rows("memberships.csv")
        if m["user_id"] in user_ids and m["account_id"] in account_ids and m["role"]
    ]
    assert len(user_ids) == 51  # 50 users and u_victor, whose e-mail is malformed
    assert len(account_ids) == 15
    assert len(memberships) == 80
    per_user: dict[str, list[dict[str, str]]] = {}
    for m in memberships:
        per_user.setdefault(m["user_id"], []).append(m)
    counts = {u: len(ms) for u, ms in per_user.items()}
    assert {1, 2, 3, 4} <= set(counts.values())
    assert max(counts.values()) >= 7
    assert sum(c <= 2 for c in counts.values()) > len(counts) * 0.7
    assert "u_zoe" not in per_user
    assert {m["stage"] for m in per_user["u_ines"]} == {"churn"}
    assert {m["stage"] for m in per_user["u_felix"]} == {"CUS", "PRO"}
    assert sum(m["account_id"] == "acc_acme" for m in memberships) == 20


def test_planted_bad_rows_are_where_the_readme_says() -> None:
    readme = README.read_text(encoding="utf-8")
    assert _line("users.csv", 14).startswith(",pat.doe@")
    assert _line("users.csv", 32).startswith("u_sam,")
    assert _line("users.csv", 7).startswith("u_sam,")
    assert "@" not in _line("users.csv", 46).split(",")[1]
    assert _line("memberships.csv", 22).startswith("u_felix,acc_soylent,")
    assert _line("memberships.csv", 47).startswith("u_ghost,acc_acme,")
    assert _line("memberships.csv", 72).startswith("u_tom,acc_globex,,")
    with pytest.raises(json.JSONDecodeError):
        json.loads(_line("events.jsonl", 164))
    for location in (
        "users.csv:14",
        "users.csv:32",
        "users.csv:46",
        "memberships.csv:22",
        "memberships.csv:47",
        "memberships.csv:72",
        "events.jsonl:164",
    ):
        assert f"sample/{location}" in readme, location


def test_write_sample_reports_the_planted_rows(tmp_path: Path) -> None:
    locations = make_sample.write_sample(tmp_path)
    assert set(locations) == set(make_sample.BAD_ROW_KINDS)
    readme = README.read_text(encoding="utf-8")
    for location in locations.values():
        assert f"sample/{location}" in readme
    # Exactly one line of events.jsonl is not JSON.
    lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    broken = []
    for number, text in enumerate(lines, start=1):
        try:
            json.loads(text)
        except json.JSONDecodeError:
            broken.append(f"events.jsonl:{number}")
    assert broken == [locations["events_not_json"]]


def test_events_follow_the_segment_conventions() -> None:
    calls = _calls()
    assert {c["type"] for c in calls} == {"identify", "group", "track"}
    for call in calls:
        assert "2026-09-01T00:00:00Z" < call["timestamp"] < "2026-11-01T00:00:00Z"
        if call["type"] == "track" and "userId" not in call:
            assert call["anonymousId"] == "system"
            assert call["context"]["groupId"]
    system_events = {c["event"] for c in calls if c["type"] == "track" and "userId" not in c}
    assert "Payment Failed" in system_events
    elon_groups = {
        c["groupId"]: c["context"]["relationship"]["role"]
        for c in calls
        if c["type"] == "group" and c["userId"] == "u_elon"
    }
    assert elon_groups == {"acc_twitter": "Owner", "acc_tesla": "Admin", "acc_spacex": "User"}
    assert {"Task Completed", "Project Created", "Logged In"} <= {
        c["event"] for c in calls if c["type"] == "track"
    }


def test_the_sample_billing_database_is_read_through_sql_and_can_be_regenerated(
    tmp_path: Path,
) -> None:
    import sqlite3

    from hub.config.validate import load_project
    from hub.sources.loading import load

    root = Path(__file__).resolve().parents[2]
    project = load_project(root / "hub.toml")
    assert project.settings.sources["billing"].kind == "sql"
    loaded = load(project.settings, project.base_dir)
    invoices = [e for e in loaded.dataset.events if e.event == "Invoice Paid"]
    paying = {a for a, acc in loaded.dataset.accounts.items() if acc.stage == "Customer"}
    assert paying and {e.account_id for e in invoices} == paying
    assert all(e.user_id is None and e.properties["amount_cents"] > 0 for e in invoices)
    assert len(invoices) == 3 * len(paying)  # one per month, three months

    sys.path.insert(0, str(root / "examples" / "sample"))
    try:
        from make_billing_db import write_billing_db
    finally:
        sys.path.pop(0)

    def rows(path: Path) -> list[tuple[object, ...]]:
        with sqlite3.connect(path) as db:
            return db.execute("SELECT * FROM invoices ORDER BY id").fetchall()

    assert rows(write_billing_db(tmp_path)) == rows(root / "examples" / "sample" / "billing.db")
