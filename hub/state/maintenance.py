"""Looking after the state store: ``hub state check`` and ``hub state backup``.

Both read only and never create, migrate or change the store. For a SQLite
file, the backup uses SQLite's online backup API from a read transaction, so
it is a consistent copy even while a daemon writes (WAL readers do not block
writers, nor writers them). For PostgreSQL, :func:`backup_postgres` runs
``pg_dump`` (one snapshot of the database, also safe while daemons write) and
:func:`check_postgres` checks in a read-only transaction. Either copy is
written beside its destination and renamed into place, so a half-written
backup never has the final name.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def _count(report: StateReport, db: Any, tables: set[str]) -> None:
    """Fill ``report``'s counts from ``db`` (a SQLite or psycopg connection)
    of the ``tables`` it holds: records per destination and status, runs, locks."""
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
            _count(report, db, _tables(db))
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


# -- PostgreSQL ---------------------------------------------------------------------

#: The hub's own consistency checks on a PostgreSQL store (the server checks
#: its pages itself): each query counts the rows that break one rule.
_POSTGRES_RULES: tuple[tuple[str, str], ...] = (
    (
        "records with an unknown status",
        "SELECT count(*) FROM records WHERE status NOT IN ('pending', 'ok', 'failed', 'deleted')",
    ),
    (
        "confirmed records without a fingerprint",
        "SELECT count(*) FROM records WHERE status = 'ok' AND fingerprint IS NULL",
    ),
    (
        "runs with an unknown status",
        "SELECT count(*) FROM runs WHERE status NOT IN"
        " ('running', 'succeeded', 'partial', 'failed', 'interrupted')",
    ),
)


def check_postgres(url: str) -> StateReport:
    """Schema version, consistency and counts of the PostgreSQL store at
    ``url``, in one read-only transaction (it creates and migrates nothing);
    :class:`StateStoreError` when the database cannot be reached."""
    from hub.state.postgres import _driver, connect, driver_error, schema_version, shown_url

    psycopg = _driver()
    shown = shown_url(url)
    try:
        with connect(url, autocommit=False) as connection:
            connection.read_only = True
            db: Any = connection  # rows as the driver gives them, as for SQLite
            version = schema_version(db)
            size = int(db.execute("SELECT pg_database_size(current_database())").fetchone()[0])
            tables = {
                str(row[0])
                for row in db.execute(
                    "SELECT table_name FROM information_schema.tables"
                    " WHERE table_schema = ANY (current_schemas(false))"
                )
            }
            findings: list[str] = []
            if "records" in tables and "runs" in tables:
                for rule, query in _POSTGRES_RULES:
                    broken = int(db.execute(query).fetchone()[0])
                    if broken:
                        findings.append(f"{broken} {rule}")
            report = StateReport(shown, True, version, SCHEMA_VERSION, findings or ["ok"], size)
            _count(report, db, tables)
    except psycopg.Error as error:
        raise driver_error(shown, error, refused=False) from None
    if version == 0:
        report.problems.append("the database holds no state store (no sync has run on it yet)")
    if report.integrity != ["ok"]:
        report.problems.append("consistency check failed: " + "; ".join(report.integrity))
    if version > SCHEMA_VERSION:
        report.problems.append(
            f"schema version {version} is newer than this hub's {SCHEMA_VERSION}: upgrade the hub"
        )
    report.ok = not report.problems
    return report


def backup_postgres(url: str, target: Path) -> int:
    """A consistent dump of the PostgreSQL store at ``url`` into ``target``
    (``pg_dump --format=custom``: one snapshot, safe while daemons write);
    returns its size in bytes. Refuses to overwrite. The password goes to
    ``pg_dump`` in its environment, never on its command line.

    Restore with ``pg_restore --clean --if-exists --no-owner -d URL FILE``."""
    import shutil
    import subprocess

    from hub.errors import Problem, StateStoreError
    from hub.redaction import redact
    from hub.state.postgres import _driver, shown_url

    if target.exists():
        raise state_error(
            target,
            "already exists",
            "choose a new backup path (a backup never overwrites)",
            refused=False,
        )
    dump = shutil.which("pg_dump")
    if dump is None:
        raise StateStoreError(
            Problem(
                "pg_dump is not installed, so the PostgreSQL state store cannot be dumped",
                key="state.url",
                hint="install the PostgreSQL client (Debian: apt-get install postgresql-client),"
                " of the server's major version or newer",
            )
        )
    psycopg = _driver()
    parts = psycopg.conninfo.conninfo_to_dict(url)
    password = parts.pop("password", None)
    environment = dict(os.environ)
    if password is not None:
        environment["PGPASSWORD"] = str(password)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    result = subprocess.run(
        [
            dump,
            "--format=custom",
            "--no-owner",
            f"--file={partial}",
            f"--dbname={psycopg.conninfo.make_conninfo(**parts)}",
        ],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        said = redact(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "")
        raise StateStoreError(
            Problem(
                f"the PostgreSQL state store {shown_url(url)} could not be dumped"
                f" (pg_dump: {said})",
                key="state.url",
                hint="check the server and the login, and that pg_dump is of the server's"
                " major version or newer",
            )
        )
    os.replace(partial, target)
    return target.stat().st_size
