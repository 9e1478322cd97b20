"""``hub playbooks plan`` on the shipped PQA/PQL example: who would enter and
what would run, writing nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app

ROOT = Path(__file__).resolve().parents[3]


def test_plan_lists_the_qualified_users_per_account_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    monkeypatch.setenv("HUB_DESTINATIONS__HUBSPOT__SETTINGS__TOKEN", "pat-na1-plan-only")
    monkeypatch.setenv(
        "HUB_DESTINATIONS__SLACK__SETTINGS__WEBHOOK_URL", "https://hooks.slack.com/services/T/B/X"
    )
    config = tmp_path / "examples" / "playbooks" / "hub.toml"

    result = CliRunner().invoke(app, ["playbooks", "plan", "--config", str(config), "--json"])

    assert result.exit_code == 0, result.output
    actions = json.loads(result.stdout)["actions"]
    added = sorted(a["subject"] for a in actions if a["action"] == "add_to_list")
    # Owners and Admins with health > 0.5 of the two qualified trials; Priya is
    # Owner of Neuralink but a plain User of Tesla: added for Neuralink only.
    assert added == [
        "u_elon:acc_tesla",
        "u_kenji:acc_neuralink",
        "u_lena:acc_tesla",
        "u_priya:acc_neuralink",
    ]
    told = sorted(a["account_id"] for a in actions if a["action"] == "send_message")
    assert told == ["acc_neuralink", "acc_tesla"]  # xAI (exactly 0.75) does not enter
    assert all(a["status"] == "planned" for a in actions)
    assert not (config.parent / ".hub").exists()  # a dry run writes nothing
    assert "pat-na1-plan-only" not in result.output
