"""``hub sync``, ``hub plan``, ``hub runs``, ``hub errors`` and ``hub retry``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sync_fakes import FakePlugin
from typer.testing import CliRunner

import hub.sync.pipeline
from hub.cli import app
from hub.contract.plugins import Plugins, load_plugins

ROOT = Path(__file__).resolve().parents[3]
runner = CliRunner()


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    for name in ("mappings", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "hub.toml", tmp_path / "hub.toml")
    return tmp_path / "hub.toml"


@pytest.fixture()
def fake(project: Path, monkeypatch: pytest.MonkeyPatch) -> FakePlugin:
    """The crm destination becomes a ``fake`` one refusing two records for good."""
    plugin = FakePlugin()

    def plugins() -> Plugins:
        return load_plugins(extra=[plugin])

    monkeypatch.setattr(hub.sync.pipeline, "load_plugins", plugins)
    text = project.read_text().replace('type = "outbox"', 'type = "fake"', 1)
    text = text.replace('directory = "outbox/crm"', 'refuse = ["acc_tesla", "u_elon"]')
    project.write_text(text)
    return plugin


def _invoke(project: Path, *args: str) -> Any:
    return runner.invoke(app, [*args, "--config", str(project)])


def _json(project: Path, *args: str, code: int = 0) -> Any:
    result = _invoke(project, *args, "--json")
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_plan_shows_counts_and_samples_and_writes_nothing(project: Path) -> None:
    data = _json(project, "plan")
    crm = data["destinations"]["crm"]
    assert crm["totals"]["create"] == 65
    assert crm["totals"]["link"] == 80
    assert crm["counts"]["account.create"] == 15
    assert crm["delete_guard"] is None
    assert len(crm["samples"]["create"]) == 5
    assert crm["samples"]["create"][0]["object"] == "account"
    assert crm["samples"]["link"][0]["link"]["contact_key"]
    assert not (project.parent / ".hub").exists()
    text = _invoke(project, "plan")
    assert text.exit_code == 0
    assert "(+60 more)" in text.stdout


def test_plan_for_one_user_gives_the_exact_payloads(project: Path) -> None:
    data = _json(project, "plan", "--user", "u_elon")
    assert data["subject"] == {"id": "u_elon", "type": "user"}
    crm = data["destinations"]["crm"]["items"]
    assert [(i["action"], i["object"]) for i in crm][:1] == [("create", "contact")]
    assert crm[0]["key"] == "u_elon"
    assert crm[0]["payload"]["email"]
    assert {i["link"]["account_key"] for i in crm if i["object"] == "link"} >= {"acc_twitter"}
    mailer = data["destinations"]["mailer"]["items"]
    assert all(i["key"].startswith("u_elon:") for i in mailer)
    # After a sync there is nothing left to send for him.
    assert _invoke(project, "sync").exit_code == 0
    after = _json(project, "plan", "--user", "u_elon")
    assert after["destinations"]["crm"]["items"] == []
    unknown = _invoke(project, "plan", "--user", "nobody")
    assert unknown.exit_code == 1
    assert "no user with id 'nobody'" in unknown.output


def test_sync_then_runs_lists_them_newest_first(project: Path) -> None:
    first = _json(project, "sync")
    assert first["ok"] is True
    assert [run["status"] for run in first["runs"]] == ["succeeded", "succeeded"]
    second = _json(project, "sync")
    assert second["runs"][0]["counts"]["sent"] == 0
    assert second["runs"][0]["counts"]["unchanged"] == 145
    runs = _json(project, "runs")["runs"]
    assert [(r["run_id"], r["destination"]) for r in runs] == [
        (4, "mailer"),
        (3, "crm"),
        (2, "mailer"),
        (1, "crm"),
    ]
    assert runs[3]["counts"]["created"] == 65
    only = _json(project, "runs", "-d", "crm", "--limit", "1")["runs"]
    assert [r["run_id"] for r in only] == [3]
    table = _invoke(project, "runs")
    assert table.exit_code == 0 and "succeeded" in table.stdout


def test_status_shows_each_destinations_latest_run_and_schedule(project: Path) -> None:
    before = _json(project, "status")
    assert [d["name"] for d in before["destinations"]] == ["crm", "mailer"]
    assert all(d["last_run"] is None and d["lock"] is None for d in before["destinations"])
    assert not (project.parent / ".hub").exists()  # read only: nothing created
    assert _invoke(project, "sync").exit_code == 0
    after = _json(project, "status")["destinations"]
    crm = after[0]
    assert crm["type"] == "outbox" and crm["mode"] == "upsert"
    assert crm["mapping"] == "mappings/crm.toml"
    assert crm["last_run"]["run_id"] == 1 and crm["last_run"]["status"] == "succeeded"
    assert crm["last_run"]["counts"]["created"] == 65
    assert crm["last_run"]["duration_seconds"] >= 0
    assert crm["schedules"] == [
        {
            "enabled": True,
            "last_started": None,
            "last_status": None,
            "schedule": "every 15m, jitter 30s",
            "sync": "all",
        }
    ]
    assert after[1]["last_run"]["run_id"] == 2
    table = _invoke(project, "status")
    assert table.exit_code == 0 and "succeeded" in table.stdout and "every 15m" in table.stdout


def test_sync_summary_table_without_a_terminal(project: Path) -> None:
    result = _invoke(project, "sync")
    assert result.exit_code == 0, result.output
    assert "created" in result.stdout and "unchanged" in result.stdout
    assert "crm" in result.stdout and "mailer" in result.stdout
    header = next(line for line in result.stdout.splitlines() if "destination" in line)
    assert header.split() == [
        "destination",
        "status",
        "created",
        "updated",
        "unchanged",
        "linked",
        "failed",
        "pending",
    ]
    assert "crm         succeeded      65" in result.stdout
    assert "━" not in result.stdout  # no progress bar off a terminal


def test_failed_records_exit_1_and_hub_errors_says_why(project: Path, fake: FakePlugin) -> None:
    data = _json(project, "sync", code=1)
    crm = data["runs"][0]
    assert crm["status"] == "partial"
    assert crm["counts"]["failed"] == 2
    errors = _json(project, "errors")["errors"]
    assert {(e["destination"], e["key"], e["reason"], e["permanent"]) for e in errors} == {
        ("crm", "acc_tesla", "refused by the fake", True),
        ("crm", "u_elon", "refused by the fake", True),
    }
    run_errors = _json(project, "errors", "--run", str(crm["run_id"]), "-d", "crm")["errors"]
    assert len(run_errors) == 2
    table = _invoke(project, "errors")
    assert "refused by the fake" in table.stdout and "permanent" in table.stdout
    # A second sync does not send them again (held back until their data changes)...
    again = _json(project, "sync")
    assert again["runs"][0]["counts"]["sent"] == 0
    # ...but hub retry does.
    retried = _invoke(project, "retry", "-d", "crm")
    assert retried.exit_code == 1  # the fake still refuses them
    assert "2 failed record(s) made pending again" in retried.stdout
    last = fake.built[-1]
    assert {"acc_tesla", "u_elon"} <= set(last.keys_sent())


def test_a_fatal_error_exits_1_and_names_the_setting(project: Path, fake: FakePlugin) -> None:
    project.write_text(project.read_text().replace("refuse = [", "fatal = true\nrefuse = ["))
    result = _invoke(project, "sync")
    assert result.exit_code == 1
    assert "check HUB_FAKE_TOKEN" in result.stdout
    runs = _json(project, "runs")["runs"]
    assert {r["destination"]: r["status"] for r in runs} == {"crm": "failed", "mailer": "succeeded"}


def test_a_config_error_exits_2(project: Path, fake: FakePlugin) -> None:
    project.write_text(
        project.read_text().replace('type = "fake"', 'type = "fake"\nmode = "mirror"')
    )
    result = _invoke(project, "sync")
    assert result.exit_code == 2
    assert "destinations.crm.mode" in result.output
    assert "capability sync_modes" in result.output
    assert _invoke(project, "plan").exit_code == 2


def test_runs_and_errors_before_any_sync_create_nothing(project: Path) -> None:
    assert _json(project, "runs") == {"format": 1, "runs": []}
    assert _json(project, "errors") == {"errors": [], "format": 1}
    assert not (project.parent / ".hub").exists()
