"""Whole syncs over the repository's sample: outbox destinations and a fake one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sync_fakes import FakePlugin

from hub.contract.capabilities import SyncMode
from hub.contract.plugins import load_plugins
from hub.errors import ConfigError
from hub.state import RunStatus
from hub.state.sqlite import SqliteStateStore
from hub.sync import RunOptions, plan, sync

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A copy of the repository's config, mappings and sample."""
    for name in ("mappings", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "hub.toml", tmp_path / "hub.toml")
    return tmp_path / "hub.toml"


def _edit(config: Path, old: str, new: str) -> None:
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new, 1))


def _outbox_keys(directory: Path) -> list[str]:
    return [
        json.loads(line)["key"]
        for path in sorted(directory.rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_a_sync_delivers_everything_and_a_second_one_sends_nothing(project: Path) -> None:
    runs = sync(project)
    assert [(r.destination, r.status) for r in runs] == [
        ("crm", RunStatus.SUCCEEDED),
        ("mailer", RunStatus.SUCCEEDED),
    ]
    crm = runs[0]
    assert crm.counts["created"] == 65  # 15 accounts and 50 contacts
    assert crm.counts["linked"] == 80
    assert len(_outbox_keys(project.parent / "outbox" / "crm")) == 65 + 80
    assert (project.parent / ".hub" / "state.db").is_file()

    again = sync(project)
    assert all(run.ok for run in again)
    assert [run.counts["sent"] for run in again] == [0, 0]
    assert again[0].counts["unchanged"] == 65 + 80
    assert len(_outbox_keys(project.parent / "outbox" / "crm")) == 65 + 80


def test_a_dry_run_writes_nothing(project: Path) -> None:
    report = plan(project)
    assert report.plans["crm"].counts["account.create"] == 15
    runs = sync(project, dry_run=True)
    assert [run.run_id for run in runs] == [None, None]
    assert runs[0].counts["create"] == 65
    assert not (project.parent / ".hub").exists()
    assert not (project.parent / "outbox").exists()


def test_run_options_are_one_object_and_keywords_override_its_fields(project: Path) -> None:
    options = RunOptions(destinations=["mailer"], dry_run=True)
    [mailer] = sync(project, options)
    assert mailer.destination == "mailer" and mailer.run_id is None
    # A keyword replaces one field; the rest of the options stand.
    [crm] = sync(project, options, destinations=["crm"])
    assert crm.destination == "crm" and crm.run_id is None
    assert not (project.parent / "outbox").exists()
    with pytest.raises(TypeError):
        sync(project, options, no_such_option=True)


def test_a_fatal_error_fails_that_destination_and_the_others_go_on(project: Path) -> None:
    _edit(project, 'type = "outbox"', 'type = "fake"')
    _edit(project, 'directory = "outbox/crm"', 'directory = "outbox/crm"\nfatal = true')
    fake = FakePlugin()
    runs = sync(project, plugins=load_plugins(extra=[fake]))
    crm, mailer = runs
    assert crm.status is RunStatus.FAILED
    assert crm.message == "the token was refused (401) (check HUB_FAKE_TOKEN)"
    assert crm.counts["pending"] == 65 + 80
    assert fake.built[0].closed
    assert mailer.status is RunStatus.SUCCEEDED
    with SqliteStateStore(project.parent / ".hub" / "state.db") as store:
        stored = {run.destination: run for run in store.runs()}
    assert stored["crm"].status is RunStatus.FAILED
    assert stored["crm"].message == crm.message


def test_permanent_failures_make_the_run_partial(project: Path) -> None:
    _edit(project, 'type = "outbox"', 'type = "fake"')
    _edit(project, 'directory = "outbox/crm"', 'refuse = ["acc_tesla", "u_elon"]')
    runs = sync(project, plugins=load_plugins(extra=[FakePlugin()]))
    crm = runs[0]
    assert crm.status is RunStatus.PARTIAL
    assert crm.counts["failed"] == 2
    assert crm.counts["skipped.link_end_missing"] > 0
    assert "2 record(s) failed" in (crm.message or "")


def test_an_unsupported_mode_is_a_config_error_naming_the_capability(project: Path) -> None:
    _edit(project, 'type = "outbox"', 'type = "fake"\nmode = "mirror"')
    with pytest.raises(ConfigError) as caught:
        sync(project, plugins=load_plugins(extra=[FakePlugin()]))
    (problem,) = caught.value.problems
    assert problem.key == "destinations.crm.mode"
    assert "capability sync_modes" in problem.message
    assert problem.expected == "one of: upsert"
    assert problem.line is not None
    assert not (project.parent / ".hub").exists()  # nothing ran


def test_invalid_plugin_settings_are_a_config_error_with_their_key(project: Path) -> None:
    _edit(project, 'type = "outbox"', 'type = "fake"')
    _edit(project, 'directory = "outbox/crm"', 'colour = "blue"')
    with pytest.raises(ConfigError) as caught:
        sync(project, plugins=load_plugins(extra=[FakePlugin()]))
    (problem,) = caught.value.problems
    assert problem.key == "destinations.crm.settings.colour"
    assert problem.line is not None


def test_a_mass_delete_is_refused_unless_forced(project: Path) -> None:
    _edit(
        project, 'mapping = "mappings/crm.toml"', 'mapping = "mappings/crm.toml"\nmode = "mirror"'
    )
    assert all(run.ok for run in sync(project, destinations=["crm"]))
    accounts = project.parent / "examples" / "sample" / "accounts.csv"
    lines = accounts.read_text().splitlines()
    accounts.write_text("\n".join(lines[:-5]) + "\n")  # 5 of 15 accounts leave: 33% > 25%

    (refused,) = sync(project, destinations=["crm"])
    assert refused.status is RunStatus.FAILED
    assert "max_delete_share" in (refused.message or "")
    assert "--force-delete" in (refused.message or "")
    assert refused.counts["deleted"] == refused.counts["unlinked"] == 0
    assert refused.counts["skipped.delete_guard"] > 0

    (forced,) = sync(project, destinations=["crm"], force_delete=True)
    assert forced.status is RunStatus.SUCCEEDED
    assert forced.counts["deleted"] == 5
    assert forced.counts["unlinked"] > 0


def test_other_modes_are_accepted_by_the_outbox(project: Path) -> None:
    _edit(
        project,
        'mapping = "mappings/crm.toml"',
        'mapping = "mappings/crm.toml"\nmode = "create_only"',
    )
    (run,) = sync(project, destinations=["crm"])
    assert run.ok and run.mode is SyncMode.CREATE_ONLY
