"""Playbook validation: file:line problems, capabilities, templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Clock, Recorder, load, recorder_plugins, write_project

from hub.config.validate import validate_project
from hub.errors import ConfigError
from hub.playbooks import PLAYBOOK_CHECKS, run_playbooks
from hub.state.playbooks import PlaybookStore

BAD = """\
entry = "account.stage = 'Trial'"
goal = "account.stage == 'Customer'"
timeout = "21 days"
colour = "blue"

[[actions]]
destination = "slak"
action = "send_message"
text = "{{ acount.name }}"

[[user_actions]]
destination = "hubspot"
action = "add_to_list"
where = "user.email != null and primary_account.name == 'x'"
"""


def test_every_problem_has_its_file_and_line(tmp_path: Path) -> None:
    config = write_project(tmp_path, BAD)
    problems = validate_project(
        config, recorder_plugins().destinations.types(), checks=PLAYBOOK_CHECKS
    )
    # The model's problems first (unknown key, bad duration): fix and re-check.
    assert {(p.key, p.line) for p in problems} >= {("colour", 4), ("timeout", 3)}
    assert all(p.file and p.file.endswith("pqa_pql.toml") for p in problems)
    config = write_project(tmp_path, BAD.replace('colour = "blue"\n', "").replace("21 days", "21d"))
    problems = validate_project(
        config, recorder_plugins().destinations.types(), checks=PLAYBOOK_CHECKS
    )
    text = "\n".join(str(p) for p in problems)
    by_key = {p.key: p for p in problems}
    assert by_key["entry"].line == 1 and "'=' is not a comparison" in by_key["entry"].message
    assert by_key["actions[0].destination"].line == 6
    assert by_key["actions[0].destination"].hint == "did you mean 'slack'?"
    assert "template variable 'acount' does not exist" in by_key["actions[0].text"].message
    assert by_key["user_actions[0].where"].line == 13
    assert "primary_account" in by_key["user_actions[0].where"].message
    assert "needs 'list_id'" in text


def test_an_action_the_destination_lacks_names_the_capability(tmp_path: Path) -> None:
    config = write_project(
        tmp_path,
        'entry = "account.stage == \'Trial\'"\n\n[[actions]]\ndestination = "crm"\n'
        'action = "create_task"\nsubject = "x"\n',
        extra='[destinations.crm]\ntype = "outbox"\nmapping = "'
        + str(Path(__file__).resolve().parents[3] / "mappings" / "crm.toml")
        + '"\n[destinations.crm.settings]\ndirectory = "out"\n',
    )
    problems = validate_project(
        config, recorder_plugins().destinations.types(), checks=PLAYBOOK_CHECKS
    )
    action = [p for p in problems if p.key == "actions[0].action"]
    assert action and "capability actions.create_task" in action[0].message
    assert action[0].line == 5


def test_a_template_attribute_missing_from_the_data_is_refused_before_any_run(
    tmp_path: Path, clock: Clock
) -> None:
    playbooks, graph = load(
        write_project(
            tmp_path,
            'entry = "account.stage == \'Trial\'"\n\n[[actions]]\ndestination = "slack"\n'
            'action = "send_message"\ntext = "{{ account.nmae }}"\n',
        )
    )
    store = PlaybookStore(None)
    with pytest.raises(ConfigError) as raised:
        run_playbooks(playbooks, graph, store, clock, connect=lambda name: Recorder(name))
    problem = raised.value.problems[0]
    assert problem.line == 6 and problem.hint == "did you mean 'name'?"
    assert store.entries("pqa_pql") == []


def test_a_value_missing_at_render_time_fails_the_action_and_sends_nothing(
    tmp_path: Path, clock: Clock
) -> None:
    # conversion_score exists in the data, but not for customers.
    playbooks, graph = load(
        write_project(
            tmp_path,
            "entry = \"account.account_id == 'acc_twitter'\"\n\n[[actions]]\n"
            'destination = "slack"\naction = "send_message"\n'
            'text = "{{ account.name }}: {{ account.conversion_score }}"\n',
        )
    )
    slack = Recorder("slack")
    report = run_playbooks(playbooks, graph, PlaybookStore(None), clock, connect=lambda n: slack)
    assert slack.received == []
    [outcome] = report.actions
    assert outcome.status == "failed" and "conversion_score" in (outcome.reason or "")
    assert not report.ok


def test_the_root_config_stays_valid_and_the_example_validates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = Path(__file__).resolve().parents[3]
    from hub.contract.plugins import load_plugins

    types = load_plugins().destinations.types()
    assert validate_project(root / "hub.toml", types, checks=PLAYBOOK_CHECKS) == []
    monkeypatch.setenv("HUB_DESTINATIONS__HUBSPOT__SETTINGS__TOKEN", "pat-na1-" + "0" * 36)
    monkeypatch.setenv("HUB_DESTINATIONS__SLACK__SETTINGS__WEBHOOK_URL", "http://127.0.0.1:9/x")
    assert (
        validate_project(
            root / "examples" / "playbooks" / "hub.toml", types, checks=PLAYBOOK_CHECKS
        )
        == []
    )
