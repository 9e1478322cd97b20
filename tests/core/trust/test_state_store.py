"""A state store that never starts over by itself: an empty, corrupt,
read-only or newer file is refused with one message naming ``[state] url``,
exit 3, nothing sent; ``hub state check`` and ``hub state backup``."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import USERS, Project

from hub.errors import EXIT_STATE


def _synced(make_project: Callable[..., Project]) -> Project:
    project = make_project()
    project.json("sync", code=0)
    return project


def _state(project: Project) -> Path:
    return project.root / ".hub" / "state.db"


def _damage(path: Path, data: bytes) -> None:
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    path.write_bytes(data)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "is empty (0 bytes)"),
        (b"\x00garbage that is no database\x00" * 40, "is not a SQLite database"),
    ],
    ids=["empty", "not-sqlite"],
)
def test_a_broken_state_file_is_refused_and_nothing_is_sent(
    make_project: Callable[..., Project], data: bytes, says: str
) -> None:
    project = _synced(make_project)
    sent = len(project.sent("contact"))
    _damage(_state(project), data)
    for command in ("sync", "plan", "runs"):
        result = project.hub(command)
        assert result.exit_code == EXIT_STATE, (command, result.output)
        assert "state.url" in result.stderr and says in result.stderr
        assert "Traceback" not in result.output
    assert len(project.sent("contact")) == sent  # nothing sent again
    assert _state(project).read_bytes() == data  # and the file left as it was
    result = project.hub("validate")
    assert result.exit_code == 2 and says in result.stderr


def test_a_corrupt_page_is_reported_by_state_check(make_project: Callable[..., Project]) -> None:
    project = _synced(make_project)
    path = _state(project)
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    raw = bytearray(path.read_bytes())
    page = 4096
    raw[page * 2 : page * 3] = b"\xff" * page  # scribble over one b-tree page
    _damage(path, bytes(raw))
    result = project.hub("state", "check")
    assert result.exit_code == EXIT_STATE, result.output
    assert "Traceback" not in result.output


def test_a_state_file_from_a_newer_hub_is_refused(make_project: Callable[..., Project]) -> None:
    project = _synced(make_project)
    db = sqlite3.connect(_state(project))
    db.execute("PRAGMA user_version = 99")
    db.close()
    result = project.hub("sync")
    assert result.exit_code == EXIT_STATE
    assert "schema version 99" in result.stderr and "upgrade the hub" in result.stderr
    assert project.hub("state", "check").exit_code == EXIT_STATE


@pytest.fixture()
def immutable() -> Iterator[Callable[[Path], None]]:
    """Make files immutable (``chattr +i``: not even root may write them), and
    writable again afterwards."""
    marked: list[Path] = []

    def mark(path: Path) -> None:
        subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
        marked.append(path)

    yield mark
    for path in marked:
        subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)


def test_a_read_only_state_file_is_refused(
    make_project: Callable[..., Project], immutable: Callable[[Path], None]
) -> None:
    project = _synced(make_project)
    project.write("users.csv", USERS.replace("User 1\n", "User One\n"))  # something to send
    path = _state(project)
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    before = path.read_bytes()
    immutable(path)
    sent = len(project.sent("contact"))
    result = project.hub("sync")
    assert result.exit_code == EXIT_STATE, result.output
    assert "cannot be written (read-only)" in result.stderr and "state.url" in result.stderr
    assert "Traceback" not in result.output
    assert len(project.sent("contact")) == sent
    assert path.read_bytes() == before


def test_state_check_reports_counts_and_backup_is_a_consistent_copy(
    make_project: Callable[..., Project],
) -> None:
    project = _synced(make_project)
    report = project.json("state", "check", code=0)
    assert report["ok"] and report["integrity"] == ["ok"]
    assert report["schema_version"] == report["supported_version"]
    assert report["records"]["crm"]["ok"] == 2 + 10 + 10  # accounts, contacts, links
    assert report["runs"] == 1
    target = project.root / "backups" / "state-1.db"
    result = project.hub("state", "backup", str(target))
    assert result.exit_code == 0, result.output
    copy = sqlite3.connect(target)
    assert copy.execute("SELECT count(*) FROM records").fetchone() == (22,)
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    copy.close()
    # Never overwrites a backup.
    again = project.hub("state", "backup", str(target))
    assert again.exit_code == EXIT_STATE and "already exists" in again.stderr
    # The backup restores: the hub goes on from it and sends nothing new.
    shutil.copy(target, _state(project))
    for suffix in ("-wal", "-shm"):
        Path(str(_state(project)) + suffix).unlink(missing_ok=True)
    assert project.json("sync", code=0)["runs"][0]["counts"]["sent"] == 0


def test_backup_is_consistent_while_another_process_writes(
    make_project: Callable[..., Project],
) -> None:
    project = _synced(make_project)
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('PRAGMA journal_mode = WAL')\n"
            "for i in range(3000):\n"
            "    db.execute('BEGIN IMMEDIATE')\n"
            '    db.execute("INSERT INTO runs (destination, mode, status, started_at)'
            " VALUES ('x', 'upsert', 'succeeded', 'now')\")\n"
            "    db.execute('COMMIT')\n",
            str(_state(project)),
        ]
    )
    try:
        for n in range(5):
            target = project.root / f"backup-{n}.db"
            assert project.hub("state", "backup", str(target)).exit_code == 0
            copy = sqlite3.connect(target)
            assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            copy.close()
    finally:
        writer.wait(timeout=60)
    assert writer.returncode == 0


@pytest.fixture()
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB filesystem (tmpfs), for a state store that runs out of room."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        check=True,
        capture_output=True,
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


def test_a_full_disk_is_refused_with_the_setting_to_change(
    make_project: Callable[..., Project], tiny_disk: Path
) -> None:
    project = make_project()
    rows = "".join(f"u{i},u{i}@x.io,{'x' * 200}\n" for i in range(1, 400))
    project.write("users.csv", "user_id,email,name\n" + rows)
    text = (project.root / "hub.toml").read_text()
    project.write("hub.toml", text + f'\n[state]\nurl = "sqlite:///{tiny_disk}/state.db"\n')
    result = project.hub("sync")
    assert result.exit_code == EXIT_STATE, result.output
    assert "the disk is full" in result.stderr and "state.url" in result.stderr
    assert "hub.toml: state.url:" in result.stderr.replace(f"{project.root}/", "")
    assert "Traceback" not in result.output
    assert not (project.root / "outbox").exists()  # nothing sent
