"""The playbook rules the docs once left open: ``--as-of`` ends the event
windows of ``hub playbooks plan|run`` as it does for ``sync`` and ``plan``; a
``scope = "user"`` action belongs to the first account through which its user
entered (earliest entry, then lowest account id); the ``--json`` shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import Clock, Recorder, load, with_stage, write_project
from typer.testing import CliRunner

from hub.cli import app
from hub.playbooks import run_playbooks
from hub.state.playbooks import PlaybookStore


def _plan(config: Path, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        app, ["playbooks", "plan", "--config", str(config), "--json", *args]
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_plan_json_has_the_documented_shape(example: Path) -> None:
    data = _plan(example)

    assert set(data) == {
        "actions",
        "as_of",
        "at",
        "dry_run",
        "entered",
        "errors",
        "format",
        "goal_reached",
        "timed_out",
    }
    assert data["format"] == 1 and data["dry_run"] is True
    assert data["as_of"] == "2026-11-01T00:00:00+00:00"  # hub.toml's [events] as_of
    assert data["entered"] == [
        {"account_id": "acc_neuralink", "playbook": "pqa_pql"},
        {"account_id": "acc_tesla", "playbook": "pqa_pql"},
    ]  # new entries by account id
    assert data["goal_reached"] == [] and data["timed_out"] == [] and data["errors"] == []
    message = next(a for a in data["actions"] if a["action"] == "send_message")
    assert set(message) == {
        "account_id",
        "action",
        "destination",
        "index",
        "key",
        "params",
        "phase",
        "playbook",
        "reason",
        "status",
        "subject",
    }
    assert message["subject"] == f"account:{message['account_id']}"
    assert message["phase"] == "entry" and message["index"] == 0
    assert message["status"] == "planned" and message["reason"] is None
    assert message["key"].startswith("pqa_pql:") and message["key"].endswith(message["subject"])
    listed = [a for a in data["actions"] if a["action"] == "add_to_list"]
    assert {a["subject"] for a in listed} >= {"u_priya:acc_neuralink"}
    # The same input gives the same document, but for the moment it was judged.
    again = _plan(example)
    assert {**again, "at": None} == {**data, "at": None}


def test_as_of_ends_the_event_windows_playbooks_read(example: Path) -> None:
    # Tesla enters once it completed a task in the 30 days ending at as_of.
    playbook = example.parents[1].parent / "mappings" / "playbooks" / "pqa_pql.toml"
    text = playbook.read_text()
    playbook.write_text(
        text.replace(
            "entry = \"account.stage == 'Trial' and account.conversion_score > 0.75\"",
            "entry = \"account.stage == 'Trial' and account.tasks_completed_30d >= 1\"",
        )
    )
    events = example.parent / "events.csv"
    events.write_text(
        "event,timestamp,user_id,account_id\nTask Completed,2026-10-20T12:00:00Z,u_elon,acc_tesla\n"
    )
    config = example.read_text().replace(
        "[events]",
        '[sources.events]\nkind = "csv"\ntable = "events"\npath = "events.csv"\n\n[events]',
    )
    example.write_text(config)

    def entered(*args: str) -> list[str]:
        data = _plan(example, *args)
        return [e["account_id"] for e in data["entered"]]

    assert entered() == ["acc_tesla"]  # hub.toml's as_of, 2026-11-01
    assert entered("--as-of", "2026-11-19T12:00:00Z") == ["acc_tesla"]  # the window's first end
    assert entered("--as-of", "2026-10-20T11:59:59Z") == []  # the event is after as_of
    assert entered("--as-of", "2026-11-19T12:00:01Z") == []  # out of the window
    assert _plan(example, "--as-of", "2026-10-20")["as_of"] == "2026-10-20T00:00:00+00:00"


SCOPE_USER = """
entry = "account.stage == 'Trial' and account.conversion_score > 0.75"
scope = "user"

[[user_actions]]
destination = "slack"
action = "send_message"
where = "relationship.health_score > 0.5"
text = "Hello {{ user.user_id }} of {{ account.name }}"
"""


def _priya(report_actions: list[Any]) -> list[str]:
    return [a.account_id for a in report_actions if a.subject == "user:u_priya"]


def test_a_user_action_belongs_to_the_lowest_account_id_among_entries_of_one_run(
    tmp_path: Path, clock: Clock
) -> None:
    # Priya qualifies in Tesla (User, 0.95) and Neuralink (Owner, 0.8); both
    # enter in the same run.
    playbooks, graph = load(write_project(tmp_path, SCOPE_USER))
    slack = Recorder("slack")
    report = run_playbooks(playbooks, graph, PlaybookStore(None), clock, connect=lambda name: slack)
    assert _priya(report.actions) == ["acc_neuralink"]
    sent = [r for r in slack.received if r.subject["user_id"] == "u_priya"]
    assert [r.params["text"] for r in sent] == ["Hello u_priya of Neuralink"]


def test_a_user_action_belongs_to_the_account_through_which_the_user_entered_first(
    tmp_path: Path, clock: Clock
) -> None:
    playbooks, graph = load(write_project(tmp_path, SCOPE_USER))
    store = PlaybookStore(tmp_path / "playbooks.db")
    slack = Recorder("slack")
    # Day 0: Neuralink is not a trial yet; Priya enters through Tesla.
    not_yet = with_stage(graph, "acc_neuralink", "Customer")
    first = run_playbooks(playbooks, not_yet, store, clock, connect=lambda name: slack)
    assert _priya(first.actions) == ["acc_tesla"]
    # Day 1: Neuralink enters, with a lower id: Priya's one action stays Tesla's.
    clock.advance(days=1)
    later = run_playbooks(playbooks, graph, store, clock, connect=lambda name: slack)
    assert [a for _, a in later.entered] == ["acc_neuralink"]
    assert _priya(later.actions) == []
    sent = [r for r in slack.received if r.subject["user_id"] == "u_priya"]
    assert [r.subject["account_id"] for r in sent] == ["acc_tesla"]
