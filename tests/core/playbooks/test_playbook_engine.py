"""The PQA/PQL playbook end to end with an injected clock: entry, a goal reached
for one account, a timeout for the other, every action exactly once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from conftest import Clock, Recorder, load, with_stage, write_project

from hub.contract.destination import RecordResult
from hub.playbooks import run_playbooks
from hub.state.playbooks import PlaybookStore


def _connect(destinations: dict[str, Recorder]):  # type: ignore[no-untyped-def]
    return lambda name: destinations[name]


def test_entry_goal_and_timeout_run_every_action_once(
    tmp_path: Path, clock: Clock, state_database: Path | str
) -> None:
    """On both backends of the state: a SQLite file, a PostgreSQL database."""
    playbooks, graph = load(write_project(tmp_path))
    hubspot, slack = Recorder("hubspot"), Recorder("slack")
    connect = _connect({"hubspot": hubspot, "slack": slack})
    store = PlaybookStore(state_database)

    report = run_playbooks(playbooks, graph, store, clock, connect=connect)
    assert sorted(a for _, a in report.entered) == ["acc_neuralink", "acc_tesla"]  # not xAI (0.75)
    added = {(r.subject["user_id"], r.subject["account_id"]) for r in hubspot.received}
    assert added == {
        ("u_elon", "acc_tesla"),
        ("u_lena", "acc_tesla"),
        ("u_priya", "acc_neuralink"),
        ("u_kenji", "acc_neuralink"),
    }
    # Priya: Owner of Neuralink, a plain User of Tesla: acted on for Neuralink only.
    assert ("u_priya", "acc_tesla") not in added
    assert {r.action.value for r in hubspot.received} == {"add_to_list"}
    assert all(r.params["list_id"] == "501" for r in hubspot.received)
    assert sorted(r.params["text"] for r in slack.received) == [
        "New PQA: Neuralink is in trial with a conversion score of 0.91.",
        "New PQA: Tesla is in trial with a conversion score of 0.82.",
    ]

    # Nothing new a day later: no action runs twice.
    clock.advance(days=1)
    again = run_playbooks(playbooks, graph, store, clock, connect=connect)
    assert again.entered == [] and again.actions == []
    assert len(hubspot.received) == 4 and len(slack.received) == 2

    # Day 10: Tesla becomes a customer: goal reached for Tesla only.
    clock.advance(days=9)
    converted = with_stage(graph, "acc_tesla", "Customer")
    report = run_playbooks(playbooks, converted, store, clock, connect=connect)
    assert report.goal_reached == [("pqa_pql", "acc_tesla")] and report.timed_out == []
    removed = [r for r in hubspot.received if r.action.value == "remove_from_list"]
    assert {r.subject["user_id"] for r in removed} == {"u_elon", "u_lena"}
    assert slack.received[-1].params["text"].startswith("Tesla became a customer")

    # Day 21 + a second: Neuralink never converted: timed out, one task per PQL.
    clock.advance(days=11, seconds=1)
    report = run_playbooks(playbooks, converted, store, clock, connect=connect)
    assert report.timed_out == [("pqa_pql", "acc_neuralink")] and report.goal_reached == []
    tasks = [r for r in hubspot.received if r.action.value == "create_task"]
    assert {r.subject["user_id"] for r in tasks} == {"u_priya", "u_kenji"}
    priya = next(r for r in tasks if r.subject["user_id"] == "u_priya")
    assert "Priya is Owner of Neuralink" in priya.params["body"]
    kenji = next(r for r in tasks if r.subject["user_id"] == "u_kenji")
    assert "is Admin of Neuralink" in kenji.params["body"]

    # And later runs do nothing more; every key was sent exactly once.
    clock.advance(days=30)
    assert run_playbooks(playbooks, converted, store, clock, connect=connect).actions == []
    keys = Counter(r.key for r in hubspot.received + slack.received)
    assert set(keys.values()) == {1}
    assert len(keys) == 4 + 2 + 2 + 1 + 2
    assert {row.status for row in store.actions()} == {"ok"}
    statuses = {e.account_id: e.status for e in store.entries("pqa_pql")}
    assert statuses == {"acc_tesla": "goal_reached", "acc_neuralink": "timed_out"}


class Crash(BaseException):
    """The process dying mid-run (not an Exception: nothing may catch it)."""


class CrashingRecorder(Recorder):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.crash = True

    def perform(self, requests):  # type: ignore[no-untyped-def]
        self.received.extend(requests)  # delivered...
        if self.crash:
            self.crash = False
            raise Crash  # ...but never confirmed
        return [RecordResult.ok(r.key) for r in requests]


def test_a_crash_between_send_and_confirm_resends_the_same_keys_once(
    tmp_path: Path, clock: Clock, state_database: Path | str
) -> None:
    playbooks, graph = load(write_project(tmp_path))
    hubspot, slack = CrashingRecorder("hubspot"), Recorder("slack")
    connect = _connect({"hubspot": hubspot, "slack": slack})
    store = PlaybookStore(state_database)
    with pytest.raises(Crash):
        run_playbooks(playbooks, graph, store, clock, connect=connect)
    store.close()
    first = [r.key for r in hubspot.received]
    assert len(first) == 4
    # Restart: a new process, a new store on the same file (database).
    store = PlaybookStore(state_database)
    assert {row.status for row in store.actions() if row.destination == "hubspot"} == {"pending"}
    report = run_playbooks(playbooks, graph, store, clock, connect=connect)
    assert report.entered == []  # not planned again
    assert [r.key for r in hubspot.received[4:]] == first  # same idempotency keys
    assert {row.status for row in store.actions()} == {"ok"}
    assert run_playbooks(playbooks, graph, store, clock, connect=connect).actions == []
    assert len(hubspot.received) == 8 and len(set(r.key for r in hubspot.received)) == 4


def test_plan_writes_nothing(tmp_path: Path, clock: Clock) -> None:
    playbooks, graph = load(write_project(tmp_path))
    hubspot, slack = Recorder("hubspot"), Recorder("slack")
    store = PlaybookStore(None)
    report = run_playbooks(
        playbooks,
        graph,
        store,
        clock,
        connect=_connect({"hubspot": hubspot, "slack": slack}),
        dry_run=True,
    )
    assert sorted(a for _, a in report.entered) == ["acc_neuralink", "acc_tesla"]
    assert {a.status for a in report.actions} == {"planned"}
    assert len(report.actions) == 6
    assert hubspot.received == [] and slack.received == []
    assert store.entries("pqa_pql") == [] and store.actions() == []


def test_scope_user_acts_once_per_user_across_accounts(tmp_path: Path, clock: Clock) -> None:
    playbook = """
entry = "account.stage == 'Trial' and account.conversion_score > 0.75"
scope = "{scope}"

[[user_actions]]
destination = "slack"
action = "send_message"
where = "relationship.health_score > 0.5"
text = "Hello {{{{ user.user_id }}}} of {{{{ account.name }}}}"
"""
    counts = {}
    for scope in ("membership", "user"):
        directory = tmp_path / scope
        directory.mkdir()
        playbooks, graph = load(write_project(directory, playbook.format(scope=scope)))
        slack = Recorder("slack")
        run_playbooks(
            playbooks,
            graph,
            PlaybookStore(None),
            clock,
            connect=_connect({"slack": slack, "hubspot": Recorder("hubspot")}),
        )
        counts[scope] = Counter(r.subject["user_id"] for r in slack.received)
    # Priya qualifies in both Tesla (User, 0.95) and Neuralink (Owner, 0.8).
    assert counts["membership"]["u_priya"] == 2
    assert counts["user"]["u_priya"] == 1
    assert set(counts["user"].values()) == {1}
