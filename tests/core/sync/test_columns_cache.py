"""CSV files kept read between syncs (hub.sources.cache), through ``hub sync``.

The sample's three CSV files (with their planted bad rows) and nothing else,
so the load is column-wise. A sync keeps what it read of each file; the next
reads only the files that changed, and gives what reading every file gives:
the same quarantine, the same records sent (a full plan afterwards holds
nothing). An entry that is damaged, or of a file that changed while it was
read, is never used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

import hub.sources.tables as csv_tables
from hub.state.sqlite import SqliteStateStore
from hub.sync import plan, sync

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture()
def project(csv_project: Path) -> Path:
    """The sample's CSV sources alone (no Segment events, no SQL)."""
    return csv_project


def _entries(project: Path) -> set[str]:
    return {path.name for path in (project.parent / ".hub" / "inputs" / "columns").iterdir()}


@pytest.fixture()
def reads() -> Iterator[list[str]]:
    """The sources read from their files (not from what was kept)."""
    found: list[str] = []
    real = csv_tables.CsvSource.read_columns

    def spy(self: csv_tables.CsvSource, *args: Any) -> Any:
        found.append(self.name)
        return real(self, *args)

    with mock.patch.object(csv_tables.CsvSource, "read_columns", spy):
        yield found


def _quarantine(project: Path) -> list[Any]:
    with SqliteStateStore(project.parent / ".hub" / "state.db") as store:
        rows, total, _ = store.quarantined(limit=1000)
    assert total == len(rows) > 0  # the sample's planted bad rows
    return rows


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_a_sync_reads_only_the_files_that_changed(project: Path, reads: list[str]) -> None:
    assert all(run.ok for run in sync(project))
    assert sorted(reads) == ["accounts", "memberships", "users"]
    first = _entries(project)
    assert len(first) == 3
    quarantined = _quarantine(project)

    users = project.parent / "examples" / "sample" / "users.csv"
    _edit(users, "Maya,Okafor", "Mayanne,Okafor")
    reads.clear()
    runs = sync(project)
    assert all(run.ok for run in runs)
    assert reads == ["users"]
    assert sum(run.counts["sent"] for run in runs) >= 1
    # The same bad rows, reasons and lines, and nothing left to send.
    assert _quarantine(project) == quarantined
    assert all(p.items == [] for p in plan(project, full=True).plans.values())
    # The users' old entry is gone, the others are kept.
    now = _entries(project)
    assert len(now) == 3 and len(now & first) == 2

    reads.clear()
    assert all(run.ok for run in sync(project, full=True))
    assert reads == []
    # hub plan plans as the sync would, reading what the sync kept, writing nothing.
    _edit(users, "Mayanne,Okafor", "Maya,Okafor")
    planned = plan(project)
    assert reads == ["users"]
    assert any(p.items for p in planned.plans.values())
    assert _entries(project) == now


def test_a_damaged_entry_is_read_again_from_its_file(project: Path, reads: list[str]) -> None:
    sync(project)
    quarantined = _quarantine(project)
    columns = project.parent / ".hub" / "inputs" / "columns"
    for entry in columns.iterdir():
        cells = entry / "cells.arrow"
        cells.write_bytes(cells.read_bytes()[: len(cells.read_bytes()) // 2])
    reads.clear()
    runs = sync(project, full=True)
    assert all(run.ok and run.counts["sent"] == 0 for run in runs)
    assert sorted(reads) == ["accounts", "memberships", "users"]
    assert _quarantine(project) == quarantined
    # Read again, and kept again whole.
    reads.clear()
    sync(project, full=True)
    assert reads == []


def test_a_file_changed_while_it_is_read_is_not_kept(project: Path, reads: list[str]) -> None:
    users = project.parent / "examples" / "sample" / "users.csv"
    real = csv_tables.CsvSource.read_columns

    def changing(self: csv_tables.CsvSource, *args: Any) -> Any:
        found = real(self, *args)
        if self.name == "users":
            users.write_text(users.read_text().replace("Maya,Okafor", "Mayanne,Okafor"))
        return found

    with mock.patch.object(csv_tables.CsvSource, "read_columns", changing):
        sync(project)
    assert len(_entries(project)) == 2  # accounts and memberships
    # The next sync reads the users' file as it is now, and keeps it.
    reads.clear()
    sync(project)
    assert reads == ["users"]
    assert len(_entries(project)) == 3
    assert all(p.items == [] for p in plan(project, full=True).plans.values())


def test_an_entry_that_cannot_be_written_leaves_the_sync_as_it_is(project: Path) -> None:
    """A full disk (or any failure) while keeping a file's columns is logged,
    and the sync runs and reports as it would have; nothing partial is left."""
    import hub.sources.cache as cache

    with mock.patch.object(cache, "_write", side_effect=OSError(28, "No space left on device")):
        runs = sync(project)
    assert all(run.ok and run.counts["sent"] >= 1 for run in runs)
    assert _entries(project) == set()
    with mock.patch.object(cache, "_write", side_effect=ValueError("unexpected")):
        assert all(run.ok for run in sync(project, full=True))
    assert _entries(project) == set()
