"""A destination whose inputs did not change since its last complete run is
skipped: nothing is read, projected or sent (hub.sync.inputs).

The guarantee under test: a skip happens only where a full plan would send
nothing. The last test holds the skip to that oracle over random edits.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import random
import re
import shutil
import sqlite3
from collections.abc import Callable
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
from hub.sync.delta import load_digests

ROOT = Path(__file__).resolve().parents[3]
SKIPPED = "inputs unchanged since run"
DELTA = "delta since run"
#: What the random walk of the oracle test does between syncs.
ACTIONS = ("sync", "sync", "user", "user", "account", "membership", "role", "restore")
ACTIONS += ("pending", "retry", "mapping", "event", "as_of")
#: The as-of times the random walk moves between (the sample's is the first).
AS_OF = (None, datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))


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


def _edit_cell(path: Path, rng: random.Random, column: int, new: Callable[[str], str]) -> None:
    """Give one random row of a CSV file (with no quoted cells) another value in ``column``."""
    lines = path.read_text().splitlines()
    row = rng.randrange(1, len(lines))
    cells = lines[row].split(",")
    cells[column] = new(cells[column])
    lines[row] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


def test_skips_and_delta_runs_send_exactly_what_a_full_plan_holds(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Random edits (users, accounts, memberships, the mapping), records made
    pending, retries and runs; before each sync, the full plan (``hub plan``)
    is the oracle: a skipped destination's plan must be empty, and a projected
    one (in full or a delta run) must send exactly what its plan held."""
    caplog.set_level("INFO", logger="hub.sync")
    rng = random.Random(13)
    base = project.parent
    users = base / "examples" / "sample" / "users.csv"
    memberships = base / "examples" / "sample" / "memberships.csv"
    original_memberships = memberships.read_text()
    state = base / ".hub" / "state.db"
    skipped_seen = projected_seen = deltas_seen = 0
    accounts = base / "examples" / "sample" / "accounts.csv"
    events = base / "examples" / "sample" / "events.jsonl"
    as_of: datetime | None = None
    for step in range(48):
        action = rng.choice(ACTIONS)
        if action == "user":
            _edit_cell(users, rng, 2, lambda old, n=step: f"{old.rstrip('0123456789')}{n}")
        elif action == "membership":
            lines = memberships.read_text().splitlines()
            del lines[rng.randrange(1, len(lines))]
            memberships.write_text("\n".join(lines) + "\n")
        elif action == "account":
            _edit_cell(accounts, rng, 1, lambda old, n=step: f"{old.rstrip('0123456789')}{n}")
        elif action == "role":
            _edit_cell(memberships, rng, 2, lambda _: rng.choice(["Owner", "Admin", "User"]))
        elif action == "event":
            user = rng.choice(["u_elon", "u_maya", "u_kenji", "u_lin", "u_omar"])
            day = rng.randrange(1, 31)
            line = json.dumps(
                {
                    "type": "track",
                    "userId": user,
                    "event": "Report Created",
                    "timestamp": f"2026-10-{day:02d}T12:00:00Z",
                    "messageId": f"msg_walk_{step}",
                }
            )
            events.write_text(events.read_text() + line + "\n")
        elif action == "as_of":
            as_of = rng.choice(AS_OF)
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
        oracle = plan(project, force_delete=True, as_of=as_of, full=True)
        caplog.clear()
        for run in sync(project, force_delete=True, as_of=as_of):
            items = oracle.plans[run.destination].items
            if _skipped(run.message):
                skipped_seen += 1
                assert items == [], (step, run.destination, items[:3])
            else:
                projected_seen += 1
                assert run.counts["sent"] == len(items), (step, action, run.destination)
                if run.destination == "crm":
                    sent = _sent_items(project, run.run_id)
                    wanted = sorted((str(i.object), str(i.action), i.key) for i in items)
                    assert [k for *_, k in sent] == [k for *_, k in wanted], (step, action)
        deltas_seen += sum(DELTA in r.getMessage() for r in caplog.records)
    assert skipped_seen and projected_seen and deltas_seen  # every path was walked
    # Whatever happened, the state and the outbox agree with a full projection.
    final = plan(project, force_delete=True, as_of=as_of, full=True)
    assert all(p.items == [] for p in final.plans.values())
    assert json.loads(json.dumps(final.plans["crm"].counts))["contact.unchanged"] > 0


# -- delta runs: only what the changed rows reach (hub.sync.delta) ----------------------


def _full_plan_items(
    project: Path, as_of: datetime | None = None
) -> dict[str, list[tuple[str, str, str]]]:
    return {name: items for name, (items, _) in _full_plan(project, as_of).items()}


def _full_plan(
    project: Path, as_of: datetime | None = None
) -> dict[str, tuple[list[tuple[str, str, str]], dict[str, int]]]:
    """Each destination's full plan (``hub plan --full``): its items and its counts."""
    report = plan(project, force_delete=True, as_of=as_of, full=True)
    return {
        name: (
            sorted((str(i.object), str(i.action), i.key) for i in planned.items),
            dict(planned.counts),
        )
        for name, planned in report.plans.items()
    }


def _sent_items(project: Path, run_id: int | None) -> list[tuple[str, str, str]]:
    """What a run wrote to the crm outbox: (object, operation, key)."""
    found = []
    for path in (project.parent / "outbox" / "crm").rglob(f"run-{run_id:06d}.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            found.append((path.parent.name, record["operation"], record["key"]))
    return sorted(found)


def test_a_delta_run_sends_what_a_full_plan_holds_and_says_what_it_reached(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sync(project)
    users = project.parent / "examples" / "sample" / "users.csv"
    _edit(users, "Maya,Okafor", "Mayanne,Okafor")
    full = _full_plan(project)
    expected = {name: items for name, (items, _) in full.items()}
    assert expected["crm"] and expected["mailer"]
    caplog.set_level("INFO", logger="hub.sync")
    runs = {run.destination: run for run in sync(project)}
    deltas = [r.getMessage() for r in caplog.records if DELTA in r.getMessage()]
    # Maya, and the two accounts she belongs to, of the sample's users and accounts.
    assert len(deltas) == 2 and all("1 of 50 users and 2 of 15 accounts" in m for m in deltas)
    for name, run in runs.items():
        assert run.ok and run.counts["sent"] == len(expected[name])
        assert run.planned == full[name][1]  # counted as the full plan counts
    sent = _sent_items(project, runs["crm"].run_id)
    assert [key for _, _, key in sent] == [key for _, _, key in expected["crm"]]
    assert all(items == [] for items in _full_plan_items(project).values())


def test_a_delta_run_deletes_and_unlinks_what_left_and_nothing_else(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _edit(
        project, 'mapping = "mappings/crm.toml"', 'mapping = "mappings/crm.toml"\nmode = "mirror"'
    )
    sync(project)
    sample = project.parent / "examples" / "sample"
    # Omar leaves xAI; Kofi leaves the data set with his membership.
    _edit(
        sample / "memberships.csv",
        "u_omar,acc_xai,Owner,MQL,2026-10-02,0.9,3,,2026-10-14T16:56:50Z\n",
        "",
    )
    lines = (sample / "users.csv").read_text().splitlines(keepends=True)
    (sample / "users.csv").write_text("".join(x for x in lines if not x.startswith("u_kofi,")))
    _edit(
        sample / "memberships.csv",
        "u_kofi,acc_neuralink,Viewer,MAL,2026-10-03,0.3,0,,2026-10-24T07:08:21Z\n",
        "",
    )
    expected = _full_plan_items(project)["crm"]
    actions = {(obj, action, key) for obj, action, key in expected}
    assert ("contact", "delete", "u_kofi") in actions
    assert any(
        obj == "link" and action == "unlink" and "u_omar" in key for obj, action, key in actions
    )
    caplog.set_level("INFO", logger="hub.sync")
    runs = {run.destination: run for run in sync(project, force_delete=True)}
    assert any(DELTA in r.getMessage() for r in caplog.records)
    crm = runs["crm"]
    assert crm.ok and crm.counts["sent"] == len(expected)
    assert crm.counts["deleted"] == 1 and crm.counts["unlinked"] == 2
    assert all(items == [] for items in _full_plan_items(project).values())


def test_event_streams_sql_sources_and_a_moving_as_of_time_make_delta_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The repository's sample as it is: CSV tables, a Segment stream and a SQL
    source, whose rows are compared like the others'."""
    for name in ("mappings", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "hub.toml", tmp_path / "hub.toml")
    config = tmp_path / "hub.toml"
    caplog.set_level("INFO", logger="hub.sync")
    sync(config)
    sample = tmp_path / "examples" / "sample"
    # A new event for Maya in the stream.
    track = (
        '{"type": "track", "userId": "u_maya", "event": "Report Created",'
        ' "timestamp": "2026-10-31T10:00:00Z", "context": {"groupId": "acc_globex"},'
        ' "messageId": "msg_delta_1"}\n'
    )
    (sample / "events.jsonl").write_text((sample / "events.jsonl").read_text() + track)
    steps = [("event", None), ("as_of", datetime(2026, 11, 9, tzinfo=UTC))]
    for step, as_of in steps:
        expected = _full_plan_items(config, as_of)
        caplog.clear()
        runs = {run.destination: run for run in sync(config, as_of=as_of)}
        deltas = [r.getMessage() for r in caplog.records if DELTA in r.getMessage()]
        assert len(deltas) == 2, (step, caplog.text)
        for name, run in runs.items():
            assert run.ok and run.counts["sent"] == len(expected[name]), step
        assert all(items == [] for items in _full_plan_items(config, as_of).values()), step
    # Eight days later, the 30-day windows have let go of some events: more
    # than the one user the new event touched were projected again.
    assert any(expected.values())
    assert "1 of 50 users" not in deltas[0]


def test_a_lost_or_altered_digests_file_projects_everything(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="hub.sync")
    sync(project)
    for path in (project.parent / ".hub" / "inputs").iterdir():
        path.write_bytes(path.read_bytes()[:-1])
    _edit(project.parent / "examples" / "sample" / "users.csv", "Maya,Okafor", "Mayanne,Okafor")
    caplog.clear()
    runs = sync(project)
    assert all(run.ok and run.counts["sent"] >= 1 for run in runs)
    assert not any(DELTA in r.getMessage() for r in caplog.records)
    assert "reading the sources" in caplog.text
    assert all(items == [] for items in _full_plan_items(project).values())
    assert len(list((project.parent / ".hub" / "inputs").iterdir())) == 1  # the stale one pruned


def test_a_digests_file_of_the_older_format_projects_everything(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A hub before the columnar digests kept them as a marshal of dicts: the
    first run after the upgrade finds that file (its name its own hash, as
    then) and projects everything rather than misreading it."""
    caplog.set_level("INFO", logger="hub.sync")
    sync(project)
    inputs = project.parent / ".hub" / "inputs"
    (kept,) = inputs.iterdir()
    old = marshal.dumps(("hub-digests-1-py3.11", {"u_maya": 1}, {}, {}, {}, {}))
    name = hashlib.blake2b(old, digest_size=16).hexdigest() + ".digests"
    assert load_digests(inputs, kept.name) is not None
    kept.write_bytes(old)
    kept.rename(inputs / name)
    assert load_digests(inputs, name) is None
    with sqlite3.connect(project.parent / ".hub" / "state.db") as connection:
        changed = connection.execute(
            "UPDATE input_snapshots SET digests = ? WHERE digests = ?", (name, kept.name)
        ).rowcount
    assert changed >= 1
    _edit(project.parent / "examples" / "sample" / "users.csv", "Maya,Okafor", "Mayanne,Okafor")
    caplog.clear()
    runs = sync(project)
    assert all(run.ok and run.counts["sent"] >= 1 for run in runs)
    assert not any(DELTA in r.getMessage() for r in caplog.records)
    assert all(items == [] for items in _full_plan_items(project).values())


def test_hub_plan_takes_the_same_shortcuts_and_says_the_same(project: Path) -> None:
    """``hub plan`` plans as ``hub sync`` would run: nothing for unchanged inputs
    (with the counts a full plan has), a delta after a change (the items a full
    plan has); ``--full`` projects everything."""
    sync(project)
    runner = CliRunner()

    def cli_plan(*extra: str) -> dict[str, dict[str, object]]:
        result = runner.invoke(app, ["plan", "--config", str(project), "--json", *extra])
        assert result.exit_code == 0, result.output
        document = json.loads(result.stdout)
        return {name: data for name, data in document["destinations"].items()}

    shortcut, full = cli_plan(), cli_plan("--full")
    assert shortcut == full  # counts and (no) samples alike
    assert all(data["counts"]["contact.unchanged"] for data in full.values())  # type: ignore[index]
    _edit(project.parent / "examples" / "sample" / "users.csv", "Maya,Okafor", "Mayanne,Okafor")
    delta, full = plan(project), plan(project, full=True)
    for name, planned in full.plans.items():
        assert planned.items, name
        assert [i.key for i in delta.plans[name].items] == [i.key for i in planned.items]
        assert [i.payload for i in delta.plans[name].items] == [i.payload for i in planned.items]
    user = runner.invoke(app, ["plan", "--config", str(project), "--user", "u_maya", "--json"])
    assert user.exit_code == 0 and "Mayanne" in user.stdout
