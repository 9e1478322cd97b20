"""``hub playbooks plan`` on the shipped PQA/PQL example: who would enter and
what would run, writing nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from hub.cli import app


def test_plan_lists_the_qualified_users_per_account_and_writes_nothing(example: Path) -> None:
    config = example

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


def test_a_playbook_reading_an_attribute_no_source_has_is_refused_before_anything_runs(
    example: Path,
) -> None:
    tmp_path = example.parents[2]
    playbook = tmp_path / "mappings" / "playbooks" / "pqa_pql.toml"
    text = playbook.read_text()
    text = text.replace("account.conversion_score > 0.75", "account.conversion_scor > 0.75")
    text = text.replace("{{ account.name }} is in trial", "{{ account.nmae }} is in trial")
    playbook.write_text(text)
    config = example
    runner = CliRunner()
    for command in (["validate"], ["playbooks", "plan"], ["playbooks", "run"]):
        result = runner.invoke(app, [*command, "--config", str(config)])
        assert result.exit_code == 2, (command, result.output)
        assert "account.conversion_scor" in result.stderr
        assert "did you mean 'conversion_score'?" in result.stderr
        assert "account.nmae" in result.stderr
    state = tmp_path / "examples" / "playbooks" / ".hub" / "state.db"
    if state.exists():  # opened by playbooks run: no entry, no action recorded
        db = sqlite3.connect(state)
        for table in ("playbook_entries", "playbook_actions"):
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
        db.close()
