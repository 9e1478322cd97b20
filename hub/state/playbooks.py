"""Playbook state: entries, planned phases and action executions.

Tables in the state store's database (its SQLite file or PostgreSQL
database), beside (and independent of) the sync store's schema (created ``IF
NOT EXISTS``)::

    playbook_entries(id, playbook, account_id, entered_at, status, exited_at)
        -- status: active, goal_reached, timed_out
    playbook_phases(entry_id, phase, planned_at)
        -- a phase's actions were planned (their intents recorded) once
    playbook_actions(entry_id, phase, action_index, subject, playbook, key,
                     destination, action, subject_json, params_json, status,
                     attempts, last_error, destination_id, updated_at)
        -- status: pending (intent recorded, not confirmed), ok, failed

Exactly once per entry: a phase's intents are written in one transaction with
its phase row, then performed, then confirmed. A run that dies in between
leaves ``pending`` rows, which the next run re-sends with the same
idempotency ``key`` and never plans again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from hub.state.database import Writer
from hub.state.tables import open_tables

__all__ = ["ActionRow", "EntryRow", "NewAction", "PlaybookStore"]

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS playbook_entries (
        id {serial},
        playbook TEXT NOT NULL,
        account_id TEXT NOT NULL,
        entered_at TEXT NOT NULL,
        status TEXT NOT NULL,
        exited_at TEXT
    )
    """,
    "CREATE INDEX IF NOT EXISTS playbook_entries_account"
    " ON playbook_entries (playbook, account_id)",
    """
    CREATE TABLE IF NOT EXISTS playbook_phases (
        entry_id INTEGER NOT NULL REFERENCES playbook_entries (id),
        phase TEXT NOT NULL,
        planned_at TEXT NOT NULL,
        PRIMARY KEY (entry_id, phase)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS playbook_actions (
        entry_id INTEGER NOT NULL REFERENCES playbook_entries (id),
        phase TEXT NOT NULL,
        action_index INTEGER NOT NULL,
        subject TEXT NOT NULL,
        playbook TEXT NOT NULL,
        key TEXT NOT NULL UNIQUE,
        destination TEXT NOT NULL,
        action TEXT NOT NULL,
        subject_json TEXT NOT NULL,
        params_json TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        destination_id TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (entry_id, phase, action_index, subject)
    )
    """,
    "CREATE INDEX IF NOT EXISTS playbook_actions_subject"
    " ON playbook_actions (playbook, phase, action_index, subject)",
)


@dataclass(frozen=True, slots=True)
class EntryRow:
    id: int
    playbook: str
    account_id: str
    entered_at: datetime
    status: str
    exited_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewAction:
    """An action to record as intended (status ``pending``, or ``failed`` with a reason)."""

    phase: str
    action_index: int
    subject: str
    key: str
    destination: str
    action: str
    subject_data: dict[str, Any]
    params: dict[str, Any]
    failed: str | None = None


@dataclass(frozen=True, slots=True)
class ActionRow:
    entry_id: int
    phase: str
    action_index: int
    subject: str
    playbook: str
    key: str
    destination: str
    action: str
    subject_data: dict[str, Any]
    params: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    destination_id: str | None


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _entry(row: tuple[Any, ...]) -> EntryRow:
    return EntryRow(
        row[0],
        row[1],
        row[2],
        datetime.fromisoformat(row[3]),
        row[4],
        None if row[5] is None else datetime.fromisoformat(row[5]),
    )


_ACTION_COLUMNS = (
    "entry_id, phase, action_index, subject, playbook, key, destination, action,"
    " subject_json, params_json, status, attempts, last_error, destination_id"
)


def _action(row: tuple[Any, ...]) -> ActionRow:
    return ActionRow(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        json.loads(row[8]),
        json.loads(row[9]),
        row[10],
        row[11],
        row[12],
        row[13],
    )


#: The advisory lock PostgreSQL writers of these tables take ("hubplays").
_PLAYBOOK_WRITER: Final = 0x687562706C617973


class PlaybookStore:
    """Playbook state in one SQLite file (``None``: private, in memory), or
    in the PostgreSQL database at a ``postgresql://`` URL."""

    def __init__(self, path: Path | str | None, *, busy_timeout: float = 30.0) -> None:
        self._sql, self.path = open_tables(
            path,
            _SCHEMA,
            serialize=_PLAYBOOK_WRITER,
            pragmas=("foreign_keys = ON",),
            busy_timeout=busy_timeout,
        )

    def __enter__(self) -> PlaybookStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._sql.close()

    def _transaction(self) -> AbstractContextManager[Writer]:
        return self._sql.transaction()

    # -- reads -------------------------------------------------------------------

    def entries(self, playbook: str, status: str | None = None) -> list[EntryRow]:
        sql = (
            "SELECT id, playbook, account_id, entered_at, status, exited_at"
            " FROM playbook_entries WHERE playbook = ?"
        )
        args: list[Any] = [playbook]
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        return [_entry(row) for row in self._sql.read(sql + " ORDER BY id", args)]

    def latest_entries(self, playbook: str) -> dict[str, EntryRow]:
        """Each account's latest entry into ``playbook``."""
        return {entry.account_id: entry for entry in self.entries(playbook)}

    def phase_planned(self, entry_id: int, phase: str) -> bool:
        rows = self._sql.read(
            "SELECT 1 FROM playbook_phases WHERE entry_id = ? AND phase = ?", (entry_id, phase)
        )
        return bool(rows)

    def subject_done(self, playbook: str, phase: str, index: int, subject: str) -> bool:
        """True when an action was ever recorded for this subject (any entry)."""
        rows = self._sql.read(
            "SELECT 1 FROM playbook_actions WHERE playbook = ? AND phase = ?"
            " AND action_index = ? AND subject = ? LIMIT 1",
            (playbook, phase, index, subject),
        )
        return bool(rows)

    def actions(self, playbook: str | None = None, status: str | None = None) -> list[ActionRow]:
        sql = f"SELECT {_ACTION_COLUMNS} FROM playbook_actions WHERE 1 = 1"
        args: list[Any] = []
        if playbook is not None:
            sql += " AND playbook = ?"
            args.append(playbook)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY entry_id, phase, action_index, subject"
        return [_action(row) for row in self._sql.read(sql, args)]

    # -- writes ------------------------------------------------------------------

    def enter(self, playbook: str, account_id: str, at: datetime) -> int:
        with self._transaction() as db:
            row = db.execute(
                "INSERT INTO playbook_entries (playbook, account_id, entered_at, status)"
                " VALUES (?, ?, ?, 'active') RETURNING id",
                (playbook, account_id, _iso(at)),
            ).fetchall()[0]
            return int(row[0])

    def exit(self, entry_id: int, status: str, at: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE playbook_entries SET status = ?, exited_at = ? WHERE id = ?",
                (status, _iso(at), entry_id),
            )

    def plan_phase(
        self, playbook: str, entry_id: int, phase: str, actions: Iterable[NewAction], at: datetime
    ) -> None:
        """Record a phase's intents and the phase itself, in one transaction."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO playbook_phases (entry_id, phase, planned_at) VALUES (?, ?, ?)",
                (entry_id, phase, _iso(at)),
            )
            db.executemany(
                "INSERT INTO playbook_actions (entry_id, phase, action_index, subject, playbook,"
                " key, destination, action, subject_json, params_json, status, last_error,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        entry_id,
                        a.phase,
                        a.action_index,
                        a.subject,
                        playbook,
                        a.key,
                        a.destination,
                        a.action,
                        json.dumps(a.subject_data, sort_keys=True, default=str),
                        json.dumps(a.params, sort_keys=True, default=str),
                        "failed" if a.failed else "pending",
                        a.failed,
                        _iso(at),
                    )
                    for a in actions
                ],
            )

    def record(
        self,
        key: str,
        status: str,
        at: datetime,
        *,
        error: str | None = None,
        destination_id: str | None = None,
    ) -> None:
        """The outcome of one attempt: ``ok``, ``failed``, or ``pending`` (retry later)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE playbook_actions SET status = ?, attempts = attempts + 1,"
                " last_error = ?, destination_id = COALESCE(?, destination_id), updated_at = ?"
                " WHERE key = ?",
                (status, error, destination_id, _iso(at), key),
            )


def iter_keys(rows: Iterable[ActionRow]) -> Iterator[str]:
    for row in rows:
        yield row.key
