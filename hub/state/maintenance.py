"""Looking after the state file: ``hub state check`` and ``hub state backup``.

Both open the file read-only and never create, migrate or change it. The
backup uses SQLite's online backup API from a read transaction, so it is a
consistent copy even while a daemon writes (WAL readers do not block writers,
nor writers them); the copy is written beside its destination and renamed
into place, so a half-written backup never has the final name.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from hub.state.connection import (
    check_state_file,
    connect_read_only,
    sqlite_reason,
    state_error,
)
from hub.state.sqlite import SCHEMA_VERSION

__all__ = ["StateReport", "backup_state", "check_state"]


@dataclass(slots=True)
class StateReport:
    """What ``hub state check`` found (``--json`` prints it as it is)."""

    path: str
    ok: bool
    schema_version: int
    supported_version: int
    #: ``PRAGMA integrity_check``'s findings (``["ok"]`` for a sound file).
    integrity: list[str]
    size_bytes: int
    #: Records per destination and status: ``{"crm": {"ok": 80, "failed": 2}}``.
    records: dict[str, dict[str, int]] = field(default_factory=dict)
    runs: int = 0
    #: Locks currently held: ``{"destination:crm": "hub-sync host:pid"}``.
    locks: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _tables(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def check_state(path: Path) -> StateReport:
    """Integrity, schema version and counts of the state file at ``path``;
    :class:`StateStoreError` when it cannot be read at all (missing, empty, not
    SQLite)."""
    if not path.exists():
        raise state_error(path, "does not exist (no sync has run yet)", "run hub sync to create it")
    check_state_file(path)
    try:
        db = connect_read_only(path)
        try:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            integrity = [str(row[0]) for row in db.execute("PRAGMA integrity_check")]
            report = StateReport(
                str(path), True, version, SCHEMA_VERSION, integrity, path.stat().st_size
            )
            tables = _tables(db)
            if "records" in tables:
                for destination, status, count in db.execute(
                    "SELECT destination, status, count(*) FROM records"
                    " GROUP BY destination, status ORDER BY destination, status"
                ):
                    report.records.setdefault(destination, {})[status] = count
            if "runs" in tables:
                report.runs = int(db.execute("SELECT count(*) FROM runs").fetchone()[0])
            if "sync_locks" in tables:
                for name, owner in db.execute("SELECT name, owner FROM sync_locks ORDER BY name"):
                    report.locks[str(name)] = str(owner)
        finally:
            db.close()
    except sqlite3.DatabaseError as error:
        raise state_error(path, *sqlite_reason(error), refused=False) from None
    if integrity != ["ok"]:
        report.problems.append("integrity check failed: " + "; ".join(integrity[:5]))
    if version > SCHEMA_VERSION:
        report.problems.append(
            f"schema version {version} is newer than this hub's {SCHEMA_VERSION}: upgrade the hub"
        )
    report.ok = not report.problems
    return report


def backup_state(path: Path, target: Path) -> int:
    """Copy the state file at ``path`` to ``target`` consistently (safe while a
    daemon runs); returns the copy's size in bytes. Refuses to overwrite."""
    if target.exists():
        raise state_error(
            target,
            "already exists",
            "choose a new backup path (a backup never overwrites)",
            refused=False,
        )
    if not path.exists():
        raise state_error(
            path, "does not exist (no sync has run yet)", "nothing to back up", refused=False
        )
    check_state_file(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        source = connect_read_only(path)
        try:
            copy = sqlite3.connect(partial)
            try:
                source.backup(copy)
                # A self-contained file: no WAL beside it.
                copy.execute("PRAGMA journal_mode = DELETE")
            finally:
                copy.close()
        finally:
            source.close()
        os.replace(partial, target)
    except sqlite3.Error as error:
        partial.unlink(missing_ok=True)
        raise state_error(path, *sqlite_reason(error), refused=False) from None
    except OSError as error:
        partial.unlink(missing_ok=True)
        reason = f"cannot be written ({error.strerror})"
        raise state_error(target, reason, "choose a writable path", refused=False) from None
    return target.stat().st_size
