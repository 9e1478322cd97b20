"""The command line, end to end over the repository's own sample and config."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.cli import app

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "hub.toml"
runner = CliRunner()


def _json(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--config", str(CONFIG), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A copy of the repository's config, mappings and sample, to break at will."""
    for name in ("mappings", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(CONFIG, tmp_path / "hub.toml")
    return tmp_path


def test_validate_accepts_the_repository_config() -> None:
    result = runner.invoke(app, ["validate", "--config", str(CONFIG)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout


def test_validate_reports_five_planted_mistakes_with_lines_and_exits_2(project: Path) -> None:
    mapping = project / "mappings" / "crm.toml"
    lines = mapping.read_text().splitlines()
    planted = {
        # line number (1-based) -> replacement
        lines.index('policy = "highest_stage"') + 1: 'policy = "hightest_stage"',
        lines.index('separator = ";"') + 1: 'seperator = ";"',
        lines.index("max_length = 255") + 1: 'max_length = "long"',
        lines.index("where = \"relationship.role in ['Owner', 'Admin']\"") + 1: (
            "where = \"relationship.role in ['Owner', 'Admin'\""
        ),
        lines.index('email = "user.email"') + 1: 'email = "usr.email"',
    }
    for number, text in planted.items():
        lines[number - 1] = text
    mapping.write_text("\n".join(lines) + "\n")

    result = runner.invoke(app, ["validate", "--config", str(project / "hub.toml")])

    assert result.exit_code == 2
    output = result.stderr
    assert "Traceback" not in output
    assert "5 problem(s)" in output
    for number in planted:
        assert f"crm.toml:{number}:" in output, f"line {number} not reported:\n{output}"
    assert "highest_stage" in output  # did-you-mean for the policy
    assert "separator" in output  # did-you-mean for the key
    assert "user.email" in output  # did-you-mean for the namespace


def test_a_toml_syntax_error_is_a_located_problem_not_a_traceback(project: Path) -> None:
    (project / "hub.toml").write_text("[sources.users\nkind = 'csv'\n")
    result = runner.invoke(app, ["preview", "--config", str(project / "hub.toml")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "hub.toml:1:" in result.stderr


def test_a_secret_written_in_hub_toml_is_refused(project: Path) -> None:
    config = project / "hub.toml"
    config.write_text(config.read_text() + '\ntoken = "pat-na1-123"\n')
    result = runner.invoke(app, ["validate", "--config", str(config)])
    assert result.exit_code == 2
    assert "pat-na1-123" not in result.output
    assert "token" in result.stderr


def test_inspect_user_shows_elon_as_each_destination_would_receive_him() -> None:
    data = _json("inspect", "user", "u_elon")
    assert data["format"] == 1
    assert data["subject"] == {"type": "user", "id": "u_elon"}
    assert set(data["destinations"]) == {"crm", "mailer"}

    crm = data["destinations"]["crm"]
    (contact,) = crm["records"]
    assert contact["object"] == "contact" and contact["key"] == "u_elon"
    fields = contact["fields"]
    assert fields["accounts_summary"] == "SpaceX (User); Tesla (Admin); Twitter (Owner)"
    assert fields["lifecycle_stage"] == "CUS"  # SpaceX churned; Twitter is CUS, Tesla MQL
    assert fields["primary_account_id"] == "acc_twitter"
    assert fields["is_admin_anywhere"] is True
    assert fields["account_count"] == 3
    links = {link["account_key"]: link for link in crm["links"]}
    assert set(links) == {"acc_spacex", "acc_tesla", "acc_twitter"}
    assert links["acc_twitter"]["primary"] is True
    assert links["acc_tesla"]["properties"]["role"] == "Admin"
    assert [link["primary"] for link in crm["links"]].count(True) == 1

    mailer = data["destinations"]["mailer"]
    # one contact per non-churned membership, keyed user:account
    assert [r["key"] for r in mailer["records"]] == ["u_elon:acc_tesla", "u_elon:acc_twitter"]
    assert mailer["records"][0]["fields"]["role"] == "Admin"
    assert mailer["links"] == []


def test_inspect_account_shows_its_record_and_links_only() -> None:
    data = _json("inspect", "account", "acc_tesla")
    crm = data["destinations"]["crm"]
    (account,) = crm["records"]
    assert account["object"] == "account" and account["key"] == "acc_tesla"
    admins = account["fields"]["admin_emails"].split(";")
    assert "elon@x.example" in admins
    assert admins == sorted(admins)
    assert {link["account_key"] for link in crm["links"]} == {"acc_tesla"}
    assert account["fields"]["user_count"] == len(crm["links"])


def test_inspect_an_unknown_id_says_so_and_where_a_quarantined_row_went() -> None:
    result = runner.invoke(app, ["inspect", "user", "u_victor", "--config", str(CONFIG)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "users.csv:46" in result.stderr
    assert "malformed" in result.stderr


def test_preview_json_reports_every_destination_and_the_quarantine() -> None:
    data = _json("preview")
    assert data["sources"]["loaded"] == {
        "accounts": 15,
        "events": data["sources"]["loaded"]["events"],
        "memberships": 80,
        "users": 50,
    }
    locations = {row["location"] for row in data["sources"]["quarantine"]}
    for planted in (
        "examples/sample/users.csv:14",
        "examples/sample/users.csv:32",
        "examples/sample/users.csv:46",
        "examples/sample/memberships.csv:22",
        "examples/sample/memberships.csv:47",
        "examples/sample/memberships.csv:72",
        "examples/sample/events.jsonl:164",
    ):
        assert planted in locations
    crm = data["destinations"]["crm"]
    assert (crm["accounts"], crm["contacts"], crm["links"]) == (15, 50, 80)
    mailer = data["destinations"]["mailer"]
    assert mailer["accounts"] == 0 and mailer["links"] == 0
    assert mailer["stats"]["inflation"] == pytest.approx(
        mailer["contacts"] / mailer["stats"]["membership_contact_users"], abs=1e-4
    )
    assert any(n["kind"] == "list_truncated" for n in crm["notices"])


def test_preview_is_byte_identical_across_runs() -> None:
    first = runner.invoke(app, ["preview", "--config", str(CONFIG), "--json"]).stdout
    second = runner.invoke(app, ["preview", "--config", str(CONFIG), "--json"]).stdout
    assert first == second


def test_schema_writes_both_json_schemas(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schema", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["hub.config.schema.json", "mapping.schema.json"]
    for name in written:
        schema = json.loads((tmp_path / name).read_text())
        assert schema["$schema"].startswith("https://json-schema.org/")


def test_plugins_json_lists_the_outbox_with_its_capabilities() -> None:
    result = runner.invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    types = {t["name"]: t for t in data["destination_types"]}
    assert "outbox" in types
    assert types["outbox"]["capabilities"]["links"]["carries_properties"] is True
    assert "directory" in types["outbox"]["settings_schema"]["properties"]


def test_python_dash_m_hub_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hub", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("connector-hub ")


def test_validate_refuses_a_missing_plugin_secret_and_never_echoes_one(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = project / "hub.toml"
    text = config.read_text()
    text = text.replace(
        'type = "outbox"\nmapping = "mappings/crm.toml"',
        'type = "webhook"\nmapping = "mappings/crm.toml"',
    )
    text = text.replace('directory = "outbox/crm"', 'url = "http://127.0.0.1:9/hook"')
    config.write_text(text)
    monkeypatch.delenv("HUB_DESTINATIONS__CRM__SETTINGS__SECRET", raising=False)
    result = runner.invoke(app, ["validate", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "destinations.crm.settings.secret" in result.stderr
    assert "HUB_DESTINATIONS__CRM__SETTINGS__SECRET" in result.stderr

    monkeypatch.setenv("HUB_DESTINATIONS__CRM__SETTINGS__SECRET", "a-long-enough-test-secret")
    result = runner.invoke(app, ["validate", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "a-long-enough-test-secret" not in result.output


def test_validate_refuses_a_mode_the_destination_type_lacks(project: Path) -> None:
    from hub.config.validate import validate_project
    from hub.contract.capabilities import SyncMode
    from hub.contract.plugins import load_plugins

    config = project / "hub.toml"
    config.write_text(
        config.read_text().replace(
            'mapping = "mappings/crm.toml"', 'mapping = "mappings/crm.toml"\nmode = "mirror"'
        )
    )
    outbox = load_plugins().destinations["outbox"]
    narrow = outbox.capabilities.model_copy(update={"sync_modes": frozenset({SyncMode.UPSERT})})
    types = {"outbox": dataclasses.replace(outbox, capabilities=narrow)}
    problems = validate_project(config, destination_types=types)
    assert [p.key for p in problems] == ["destinations.crm.mode"]
    assert "capability sync_modes" in problems[0].message
    assert problems[0].line is not None


def test_a_manual_sync_refuses_a_destination_another_process_is_syncing(project: Path) -> None:
    from hub.state.locks import SyncLocks

    config = project / "hub.toml"
    locks = SyncLocks(project / ".hub" / "state.db")
    taken, _ = locks.acquire(["destination:crm"], "the daemon on host-a", 300)
    assert taken
    result = runner.invoke(app, ["sync", "--config", str(config), "-d", "crm"])
    assert result.exit_code == 1, result.output
    assert "destination:crm (held by the daemon on host-a)" in result.stderr.replace("\n", " ")
    assert not (project / "outbox" / "crm").exists()  # nothing was sent

    locks.release(["destination:crm"], "the daemon on host-a")
    result = runner.invoke(app, ["sync", "--config", str(config), "-d", "crm"])
    assert result.exit_code == 0, result.output
    # the manual sync released its own locks when done
    assert locks.holders() == []
    locks.close()


def test_a_lock_left_by_a_killed_process_on_this_host_is_taken_over_at_once(
    tmp_path: Path,
) -> None:
    from hub.state.locks import SyncLocks, lock_owner

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    owner_of_dead = f"{lock_owner('x').split(':')[0]}:{dead.stdout.strip()}:hub-sync"
    locks = SyncLocks(tmp_path / "state.db")
    assert locks.acquire(["destination:crm"], owner_of_dead, 300)[0]
    assert locks.acquire(["destination:crm"], lock_owner("hub-sync"), 300)[0]
    # a live holder still blocks
    assert not locks.acquire(["destination:crm"], "elsewhere:1:other", 300)[0]
    locks.close()


def test_hub_plugins_shows_the_missing_extra_word_for_word(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plugin skipped for a missing extra: its message reaches the user whole,
    brackets included (they are not console markup)."""
    from hub.contract import plugins as loader

    real = loader.load_plugins

    def with_a_failure() -> loader.Plugins:
        loaded = real()
        error = (
            "the salesforce plugin needs simple_salesforce: pip install 'connector-hub[salesforce]'"
        )
        loaded.failed.append(loader.FailedPlugin("salesforce", "hub_salesforce", error))
        return loaded

    monkeypatch.setattr(loader, "load_plugins", with_a_failure)
    result = runner.invoke(app, ["plugins"])
    assert "pip install 'connector-hub[salesforce]'" in result.output.replace("\n", "")
