"""A destination whose inputs did not change since its last complete run is
skipped: nothing is read, projected or sent (hub.sync.inputs).

The guarantee under test: a skip happens only where a full plan would send
nothing. The last test holds the skip to that oracle over random edits.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hub.sources.loading
from hub.cli import app
from hub.contract.destination import BatchObject
from hub.state import Failure, RunStatus
from hub.state.sqlite import SqliteStateStore
from hub.sync import plan, sync

ROOT = Path(__file__).resolve().parents[3]
SKIPPED = "inputs unchanged since run"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """The repository's sample without its SQL source (a query's result cannot
    be known unchanged without running it)."""
    for name in ("mappings", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    text = (ROOT / "hub.toml").read_text()
    billing = re.search(r"\[sources\.billing\].*?\"\"\"\n.*?\"\"\"\n", text, re.S)
    assert billing is not None
    (tmp_path / "hub.toml").write_text(text.replace(billing.group(0), ""))
    return tmp_path / "hub.toml"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _skipped(run_message: str | None) -> bool:
    return run_message is not None and SKIPPED in run_message


def _outbox_lines(project: Path) -> int:
    return sum(
        len(path.read_text().splitlines()) for path in (project.parent / "outbox").rglob("*.jsonl")
    )


def test_an_unchanged_resync_reads_and_sends_nothing_and_says_so(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = sync(project)
    assert all(run.ok and not _skipped(run.message) for run in first)
    lines = _outbox_lines(project)
    full = sync(project, full=True)  # projects and diffs everything: the reference
    assert all(run.counts["sent"] == 0 for run in full)

    def no_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("a skipped sync read a source")

    monkeypatch.setattr(hub.sources.loading, "load", no_load)
    monkeypatch.setattr("hub.sync.pipeline.load", no_load)
    again = sync(project)
    assert [run.status for run in again] == [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED]
    for skipped, reference in zip(again, full, strict=True):
        assert _skipped(skipped.message)
        assert f"{SKIPPED} {reference.run_id}" in (skipped.message or "")
        assert skipped.counts["sent"] == 0
        # What a full plan would have counted, record for record.
        assert skipped.planned == reference.planned
        assert skipped.counts["unchanged"] == reference.counts["unchanged"] > 0
    assert _outbox_lines(project) == lines
    with SqliteStateStore(project.parent / ".hub" / "state.db") as store:
        recorded = store.runs("crm", limit=1)[0]
    assert recorded.run_id == again[0].run_id and SKIPPED in (recorded.message or "")

    # The CLI says it, and --full projects all the same.
    monkeypatch.undo()
    runner = CliRunner()
    result = runner.invoke(app, ["sync", "--config", str(project), "--json"])
    assert result.exit_code == 0, result.output
    assert SKIPPED in result.stderr
    forced = runner.invoke(app, ["sync", "--config", str(project), "--full", "--json"])
    assert forced.exit_code == 0, forced.output
    assert "reading the sources" in forced.stderr and SKIPPED not in forced.stderr


def test_a_changed_row_is_projected_and_sent_then_skipped_again(project: Path) -> None:
    sync(project)
    users = project.parent / "examples" / "sample" / "users.csv"
    _edit(users, "Maya,Okafor", "Mayanne,Okafor")
    changed = sync(project)
    assert not any(_skipped(run.message) for run in changed)
    assert all(run.counts["sent"] >= 1 for run in changed)
    assert all(run.counts["updated"] >= 1 and run.counts["created"] == 0 for run in changed)
    assert all(_skipped(run.message) for run in sync(project))


def test_a_mapping_or_settings_change_projects_again(project: Path) -> None:
    sync(project)
    _edit(project.parent / "mappings" / "crm.toml", "max_length = 200", "max_length = 100")
    runs = {run.destination: run for run in sync(project)}
    assert not _skipped(runs["crm"].message) and runs["crm"].counts["updated"] > 0
    assert _skipped(runs["mailer"].message)  # its mapping did not change
    _edit(project, "window_days = 30", "window_days = 31")  # [events]: every destination
    assert not any(_skipped(run.message) for run in sync(project))


def test_with_events_another_as_of_time_projects_again(project: Path) -> None:
    sync(project)
    later = datetime(2026, 11, 20, tzinfo=UTC)
    moved = sync(project, as_of=later)
    assert not any(_skipped(run.message) for run in moved)
    assert any(run.counts["updated"] for run in moved)  # windows ended elsewhere
    assert all(_skipped(run.message) for run in sync(project, as_of=later))


def test_pending_records_and_other_runs_are_never_skipped(project: Path) -> None:
    sync(project)
    state = project.parent / ".hub" / "state.db"
    with SqliteStateStore(state) as store:
        run_id = store.start_run("crm", "upsert")
        store.fail(run_id, "crm", BatchObject.CONTACT, [Failure("u_maya", "timeout", False)])
        store.finish_run(run_id, RunStatus.PARTIAL, {})
    runs = {run.destination: run for run in sync(project)}
    assert not _skipped(runs["crm"].message)
    assert runs["crm"].counts["sent"] == 1  # the pending record, and only it
    assert _skipped(runs["mailer"].message)
    # A run that died (never finished) is the latest run: no skip after it.
    with SqliteStateStore(state) as store:
        store.start_run("mailer", "upsert")
    runs = {run.destination: run for run in sync(project)}
    assert not _skipped(runs["mailer"].message) and runs["mailer"].counts["sent"] == 0
    assert _skipped(runs["crm"].message)
    # A record made pending outside any run (what hub retry does to a failed one).
    with sqlite3.connect(state) as raw:
        raw.execute(
            "UPDATE records SET status = 'pending' WHERE destination = 'crm' AND key = 'u_elon'"
        )
    raw.close()
    runs = {run.destination: run for run in sync(project)}
    assert not _skipped(runs["crm"].message) and runs["crm"].counts["sent"] == 1


def test_a_file_changed_during_the_run_keeps_no_snapshot(project: Path) -> None:
    users = project.parent / "examples" / "sample" / "users.csv"

    def touch(name: str, done: int, total: int) -> None:
        stat = users.stat()
        os.utime(users, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    assert all(run.ok for run in sync(project, progress=touch))
    assert not any(_skipped(run.message) for run in sync(project))
    assert all(_skipped(run.message) for run in sync(project))


def test_a_sql_source_is_read_every_run(tmp_path: Path) -> None:
    for name in ("mappings", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "hub.toml", tmp_path / "hub.toml")
    config = tmp_path / "hub.toml"
    sync(config)
    assert not any(_skipped(run.message) for run in sync(config))


def test_a_skip_happens_only_where_a_full_plan_sends_nothing(project: Path) -> None:
    """Random edits, retries and runs; before each sync, the full plan (``hub
    plan``) is the oracle: a skipped destination's plan must be empty, and a
    projected one must send what its plan held."""
    rng = random.Random(13)
    base = project.parent
    users = base / "examples" / "sample" / "users.csv"
    memberships = base / "examples" / "sample" / "memberships.csv"
    original_memberships = memberships.read_text()
    state = base / ".hub" / "state.db"
    skipped_seen = projected_seen = 0
    for step in range(24):
        action = rng.choice(
            ["sync", "sync", "sync", "user", "membership", "restore", "pending", "retry", "mapping"]
        )
        if action == "user":
            lines = users.read_text().splitlines()
            row = rng.randrange(1, len(lines))
            cells = lines[row].split(",")
            cells[2] = f"{cells[2].rstrip('0123456789')}{step}"
            lines[row] = ",".join(cells)
            users.write_text("\n".join(lines) + "\n")
        elif action == "membership":
            lines = memberships.read_text().splitlines()
            del lines[rng.randrange(1, len(lines))]
            memberships.write_text("\n".join(lines) + "\n")
        elif action == "restore":
            memberships.write_text(original_memberships)
        elif action == "pending" and state.exists():
            with SqliteStateStore(state) as store:
                keys = [r.key for r in store.iter_records("mailer", BatchObject.CONTACT)]
                run_id = store.start_run("mailer", "upsert")
                store.fail(
                    run_id, "mailer", BatchObject.CONTACT, [Failure(rng.choice(keys), "x", False)]
                )
                store.finish_run(run_id, RunStatus.PARTIAL, {})
        elif action == "retry" and state.exists():  # a record made pending outside a run
            with sqlite3.connect(state) as raw:
                keys = [
                    k for (k,) in raw.execute("SELECT key FROM records WHERE destination='crm'")
                ]
                raw.execute(
                    "UPDATE records SET status = 'pending' WHERE destination = 'crm' AND key = ?",
                    (rng.choice(keys),),
                )
            raw.close()
        elif action == "mapping":
            crm = base / "mappings" / "crm.toml"
            text = crm.read_text()
            crm.write_text(
                text.replace("max_length = 200", "max_length = 150")
                if "max_length = 200" in text
                else text.replace("max_length = 150", "max_length = 200")
            )
        oracle = plan(project, force_delete=True)
        for run in sync(project, force_delete=True):
            items = oracle.plans[run.destination].items
            if _skipped(run.message):
                skipped_seen += 1
                assert items == [], (step, run.destination, items[:3])
            else:
                projected_seen += 1
                assert run.counts["sent"] == len(items), (step, run.destination)
    assert skipped_seen and projected_seen  # both paths were walked
    # Whatever happened, the state and the outbox agree with a full projection.
    final = plan(project, force_delete=True)
    assert all(p.items == [] for p in final.plans.values())
    assert json.loads(json.dumps(final.plans["crm"].counts))["contact.unchanged"] > 0
