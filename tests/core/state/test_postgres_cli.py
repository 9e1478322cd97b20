"""The sample synced with its state in PostgreSQL, through the command line:
``[state] url = "postgresql://..."`` in hub.toml, the password in the
environment, then ``hub sync``, ``hub state check`` and ``hub state backup``
(restored with ``pg_restore`` as docs/state.md says)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pgcluster import PASSWORD, Cluster
from typer.testing import CliRunner

from hub.cli import app
from hub.state.postgres import PostgresStateStore

ROOT = Path(__file__).resolve().parents[3]
runner = CliRunner()


@pytest.fixture()
def project(tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository's sample, its state in a database of this test's own;
    hub.toml holds the URL without its password, which comes from PGPASSWORD."""
    for name in ("mappings", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    bare = postgres_url.replace(f":{PASSWORD}@", "@")
    text = (ROOT / "hub.toml").read_text() + f'\n[state]\nurl = "{bare}"\n'
    (tmp_path / "hub.toml").write_text(text)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    return tmp_path / "hub.toml"


def _hub(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _sync(config: Path) -> dict[str, Any]:
    code, output = _hub("sync", "--config", str(config), "--json")
    assert code == 0, output
    document: dict[str, Any] = json.loads(output[output.index("{") :])
    return document


def _counts(document: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {run["destination"]: run["counts"] for run in document["runs"]}


def test_the_sample_syncs_with_its_state_in_postgresql(project: Path, postgres_url: str) -> None:
    first = _counts(_sync(project))
    assert first["crm"]["created"] > 0 and first["crm"]["failed"] == 0
    again = _counts(_sync(project))
    assert all(counts["sent"] == 0 for counts in again.values()), again
    # Each record confirmed is in the database, as SQLite would hold it.
    with PostgresStateStore(postgres_url) as store:
        for name, counts in first.items():
            held = store.record_counts(name)
            links = held.pop("link", {})
            assert {status for kind in held.values() for status in kind} == {"ok"}
            assert sum(kind["ok"] for kind in held.values()) == counts["created"], name
            assert links.get("ok", 0) == counts.get("linked", 0), name
        runs = store.runs("crm")
    assert [run.status.value for run in runs[:2]] == ["succeeded", "succeeded"]
    assert not (project.parent / ".hub" / "state.db").exists()  # no SQLite file beside


def test_state_check_and_a_backup_that_restores(
    project: Path, postgres: Cluster, postgres_url: str, tmp_path: Path
) -> None:
    _sync(project)
    code, output = _hub("state", "check", "--config", str(project), "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["ok"] and report["schema_version"] == report["supported_version"]
    assert report["path"].startswith("postgresql://127.0.0.1:")
    assert PASSWORD not in output
    with PostgresStateStore(postgres_url) as store:
        expected = {name: store.record_counts(name) for name in report["records"]}
    assert {name: sum(statuses.values()) for name, statuses in report["records"].items()} == {
        name: sum(sum(s.values()) for s in kinds.values()) for name, kinds in expected.items()
    }

    dump = tmp_path / "state.dump"
    code, output = _hub("state", "backup", str(dump), "--config", str(project))
    assert code == 0, output
    assert dump.stat().st_size > 0 and PASSWORD not in output
    code, output = _hub("state", "backup", str(dump), "--config", str(project))
    assert code != 0 and "already exists" in output  # never overwrites

    # The recipe of docs/state.md: pg_restore into an empty database.
    restored = postgres.create_database("hub_restored")
    bin_dir = Path(shutil.which("pg_restore") or postgres.bin / "pg_restore").parent
    subprocess.run(
        [
            str(bin_dir / "pg_restore"),
            "--no-owner",
            f"--dbname={postgres.url(restored, password=False)}",
            str(dump),
        ],
        env={**os.environ, "PGPASSWORD": PASSWORD},
        check=True,
        capture_output=True,
    )
    with PostgresStateStore(postgres.url(restored)) as store:
        assert {name: store.record_counts(name) for name in expected} == expected


def test_an_unreachable_database_is_refused_before_anything_is_sent(
    project: Path, postgres: Cluster
) -> None:
    text = project.read_text().replace(f":{postgres.port}/", ":1/")
    project.write_text(text)
    code, output = _hub("sync", "--config", str(project))
    assert code == 3, output
    assert "PostgreSQL state store postgresql://127.0.0.1:1/" in output
    assert "Traceback" not in output
    outbox = project.parent / "outbox"
    assert not outbox.exists() or not any(outbox.rglob("*.jsonl"))


def test_a_password_in_hub_toml_is_refused(project: Path, postgres_url: str) -> None:
    text = project.read_text()
    start = text.index('url = "postgresql://')
    end = text.index("\n", start)
    project.write_text(text[:start] + f'url = "{postgres_url}"' + text[end:])
    code, output = _hub("validate", "--config", str(project))
    assert code == 2, output
    assert PASSWORD not in output
    assert "HUB_STATE__URL" in output
    with psycopg.connect(postgres_url) as raw:  # nothing was created
        tables = raw.execute("SELECT to_regclass('records')").fetchone()
    assert tables == (None,)


def test_hub_fleet_shows_who_runs_what(project: Path, postgres_url: str) -> None:
    from hub.state.locks import SyncLocks

    with SyncLocks(postgres_url) as locks, PostgresStateStore(postgres_url) as store:
        assert locks.acquire(["destination:crm"], "worker-7.internal:4242:daemon", ttl=60)[0]
        assert locks.acquire(["destination:mailer"], "worker-8.internal:99:daemon", ttl=0.2)[0]
        locks.mark_started("crm", time.time() - 5)
        run = store.start_run("crm", "upsert")
        time.sleep(0.3)  # mailer's lease lapses
        code, output = _hub("fleet", "--config", str(project), "--json")
        assert code == 0, output
        fleet = json.loads(output)
        by_name = {lock["name"]: lock for lock in fleet["locks"]}
        assert by_name["destination:crm"]["host"] == "worker-7.internal"
        assert by_name["destination:crm"]["pid"] == 4242
        assert by_name["destination:crm"]["expired"] is False
        assert by_name["destination:mailer"]["expired"] is True
        assert [r["run_id"] for r in fleet["running"]] == [run]
        assert [s["sync"] for s in fleet["schedules"]] == ["crm"]
        code, output = _hub("fleet", "--config", str(project))
        assert code == 0 and "4242" in output and "expired" in output


def test_dry_runs_and_reports_create_nothing_in_a_new_database(
    project: Path, postgres_url: str
) -> None:
    for command in (["plan", "--json"], ["fleet", "--json"], ["runs", "--json"]):
        code, output = _hub(*command, "--config", str(project))
        assert code == 0, (command, output)
    with psycopg.connect(postgres_url) as raw:
        tables = raw.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)
