"""Each console page is the document its CLI command prints with ``--json``
(one report function behind both), and what the console keeps it computes
again when the inputs change."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from console_support import ConsoleProcess, http, hub_json


def _page_json(console: ConsoleProcess, path: str) -> Any:
    joiner = "&" if "?" in path else "?"
    status, _, body = http(console.url(f"{path}{joiner}format=json"))
    assert status in (200, 404), body
    return json.loads(body)


@pytest.mark.parametrize(
    ("path", "command"),
    [
        ("/", ["status"]),
        ("/runs?limit=20", ["runs"]),
        ("/runs?destination=hubspot&limit=1", ["runs", "-d", "hubspot", "--limit", "1"]),
        ("/errors", ["errors"]),
        ("/errors?destination=hubspot&limit=5", ["errors", "-d", "hubspot", "--limit", "5"]),
        ("/quarantine", ["errors", "--quarantine"]),
        ("/quarantine?source=users", ["errors", "--quarantine", "--source", "users"]),
        ("/plan", ["plan"]),
        ("/inspect?kind=user&id=u_elon", ["inspect", "user", "u_elon"]),
        ("/inspect?kind=account&id=acc_tesla", ["inspect", "account", "acc_tesla"]),
        ("/fleet", ["fleet"]),
    ],
)
def test_a_page_is_the_clis_json(
    console: ConsoleProcess, synced: Path, path: str, command: list[str]
) -> None:
    page = _page_json(console, path)
    cli = hub_json(synced, *command)
    if command == ["fleet"]:
        assert page["locks"] == cli["locks"] == [] and page["running"] == cli["running"]
        return
    assert page == cli


def test_a_runs_page_is_its_errors_and_its_run(console: ConsoleProcess, synced: Path) -> None:
    page = _page_json(console, "/runs/2")
    assert page["run"] == hub_json(synced, "runs", "-d", "hubspot")["runs"][-1]
    assert page["errors"] == hub_json(synced, "errors", "--run", "2")["errors"]
    assert len(page["errors"]) == 39
    status, _, body = http(console.url("/runs/999"))
    assert status == 404 and b"no run 999" in body


def test_the_playbook_page_is_the_dry_run(console: ConsoleProcess, synced: Path) -> None:
    page = _page_json(console, "/playbooks")
    cli = hub_json(synced, "playbooks", "plan")
    assert page["dry_run"] is True
    assert page["entered"] == cli["entered"] and page["entered"]
    assert [dict(a) for a in page["actions"]] == cli["actions"]
    assert {k: v for k, v in page.items() if k != "at"} == {
        k: v for k, v in cli.items() if k != "at"
    }


def _account_names(document: dict[str, Any]) -> set[str]:
    records = document["destinations"]["mailer"]["records"]
    return {str(record["fields"]["account_name"]) for record in records}


def test_a_changed_source_file_is_seen_at_once(console: ConsoleProcess, synced: Path) -> None:
    before = _page_json(console, "/inspect?kind=account&id=acc_tesla")
    assert _account_names(before) == {"Tesla"}
    plan_before = _page_json(console, "/plan")
    # The account's name is in the CSV and in the tracked group calls, which win.
    events = synced.parent / "examples" / "sample" / "events.jsonl"
    text = events.read_text(encoding="utf-8")
    changed = text.replace('"name": "Tesla"', '"name": "Tesla Motors"')
    assert changed != text
    events.write_text(changed, encoding="utf-8")
    try:
        after = _page_json(console, "/inspect?kind=account&id=acc_tesla")
        assert _account_names(after) == {"Tesla Motors"}
        plan = _page_json(console, "/plan")
        assert plan == hub_json(synced, "plan")
        assert plan != plan_before
        assert plan["destinations"]["crm"]["totals"]["update"] >= 1
    finally:
        events.write_text(text, encoding="utf-8")


def test_hub_console_computes_the_plan_before_anyone_asks(synced: Path) -> None:
    """The warm-up: the plan a person opens was computed as the console started."""
    with ConsoleProcess(synced) as console:
        warm = console.wait_for("console.warm", timeout=60)
        assert float(warm["seconds"]) > 0
        time.sleep(1.5)
        asked = datetime.now(UTC)
        status, _, body = http(console.url("/plan"))
        assert status == 200
        found = re.search(rb"Computed (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", body)
        assert found, body[:2000]
        computed = datetime.strptime(found.group(1).decode(), "%Y-%m-%d %H:%M:%S")
        assert computed.replace(tzinfo=UTC) < asked - timedelta(seconds=1)
        assert not [e for e in console.events() if e.get("event") == "console.warm.skipped"]
