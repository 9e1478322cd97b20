"""The state store's logic in SQL, once, for every backend.

:class:`SqlStateStore` implements :class:`~hub.state.StateStore` on a
:class:`~hub.state.database.Database`: :class:`hub.state.sqlite.SqliteStateStore`
(the embedded default) and :class:`hub.state.postgres.PostgresStateStore` open
their connection and schema, and share everything else here. The schema is
:mod:`hub.state.schema`; the semantics (confirm after accept, one transaction
per batch, secrets scrubbed) are the module doc of :mod:`hub.state.sqlite`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from itertools import islice
from types import TracebackType
from typing import Any, Final, Self

from hub.contract.destination import BatchObject
from hub.quarantine import QuarantinedRow
from hub.redaction import redact
from hub.state.database import Database, Writer
from hub.state.store import (
    Confirmation,
    ErrorInfo,
    Failure,
    InputSnapshot,
    RecordState,
    RecordStatus,
    RunInfo,
    RunStatus,
)

__all__ = ["CONFIRMED", "CONFIRM_COLUMNS", "QUARANTINE_KEPT", "SqlStateStore"]

#: The most quarantined rows kept (the count is always complete).
QUARANTINE_KEPT: Final = 100_000

#: Keys per ``IN (...)`` query of :meth:`SqlStateStore.get_many`.
_IN_CHUNK: Final = 500
#: Rows per page of :meth:`SqlStateStore.iter_records`.
_PAGE: Final = 5000

_COLUMNS: Final = (
    "destination, object, key, fingerprint, destination_id, status, attempts,"
    " last_error, created_by_hub, failed_fingerprint"
)

#: What a confirmation does to a record the store holds already.
CONFIRMED: Final = """
ON CONFLICT (destination, object, key) DO UPDATE SET
    fingerprint = excluded.fingerprint,
    failed_fingerprint = NULL,
    destination_id = coalesce(excluded.destination_id, records.destination_id),
    status = 'ok',
    attempts = 0,
    last_error = NULL,
    created_by_hub = CASE WHEN records.status = 'deleted'
                            OR excluded.created_by_hub > records.created_by_hub
                          THEN excluded.created_by_hub ELSE records.created_by_hub END,
    updated_run = excluded.updated_run
"""

#: The columns a confirmation (or a failure) inserts.
CONFIRM_COLUMNS: Final = """
INSERT INTO records (destination, object, key, fingerprint, failed_fingerprint,
                     destination_id, status, attempts, last_error, created_by_hub, updated_run)"""

_CONFIRM: Final = (
    CONFIRM_COLUMNS + "\nVALUES (?, ?, ?, ?, NULL, ?, 'ok', 0, NULL, ?, ?)" + CONFIRMED
)

_FAIL: Final = (
    CONFIRM_COLUMNS
    + """
VALUES (?, ?, ?, NULL, ?, NULL, ?, 1, ?, 0, ?)
ON CONFLICT (destination, object, key) DO UPDATE SET
    failed_fingerprint = excluded.failed_fingerprint,
    status = excluded.status,
    attempts = records.attempts + 1,
    last_error = excluded.last_error,
    updated_run = excluded.updated_run
"""
)

_RUN_ERROR: Final = """
INSERT INTO run_errors (run_id, destination, object, key, reason, permanent, at)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""

_DELETE: Final = """
UPDATE records SET status = 'deleted', fingerprint = NULL, failed_fingerprint = NULL,
    destination_id = NULL, attempts = 0, last_error = NULL, updated_run = ?
WHERE destination = ? AND object = ? AND key = ?
"""


#: Record statuses as the counts of an interrupted run name them.
_INTERRUPTED_COUNTS: Final = {"ok": "confirmed", "deleted": "deleted", "failed": "failed"}


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


_OBJECTS: Final = {kind.value: kind for kind in BatchObject}
_STATUSES: Final = {status.value: status for status in RecordStatus}
_new = object.__new__
# RecordState's slots, set directly: a frozen dataclass's __init__ goes through
# object.__setattr__ per field, and states are read by the million.
_set_destination = RecordState.__dict__["destination"].__set__
_set_object = RecordState.__dict__["object"].__set__
_set_key = RecordState.__dict__["key"].__set__
_set_fingerprint = RecordState.__dict__["fingerprint"].__set__
_set_destination_id = RecordState.__dict__["destination_id"].__set__
_set_status = RecordState.__dict__["status"].__set__
_set_attempts = RecordState.__dict__["attempts"].__set__
_set_last_error = RecordState.__dict__["last_error"].__set__
_set_created = RecordState.__dict__["created_by_hub"].__set__
_set_failed = RecordState.__dict__["failed_fingerprint"].__set__


def _state(row: tuple[Any, ...]) -> RecordState:
    """``RecordState(*row)`` with the enums and booleans restored, fast."""
    state: RecordState = _new(RecordState)
    _set_destination(state, row[0])
    _set_object(state, _OBJECTS[row[1]])
    _set_key(state, row[2])
    _set_fingerprint(state, row[3])
    _set_destination_id(state, row[4])
    _set_status(state, _STATUSES[row[5]])
    _set_attempts(state, row[6])
    _set_last_error(state, row[7])
    _set_created(state, row[8] == 1)
    _set_failed(state, row[9])
    return state


class SqlStateStore:
    """The :class:`~hub.state.StateStore` on ``database`` (whose schema is
    migrated). ``clock`` returns the current time (tests inject one)."""

    def __init__(self, database: Database, *, clock: Callable[[], datetime] = _now) -> None:
        self._sql = database
        self._clock = clock
        placeholders = ", ".join("?" * _IN_CHUNK)
        self._get_full = (
            f"SELECT {_COLUMNS} FROM records WHERE destination = ? AND object = ?"
            f" AND key IN ({placeholders})"
        )
        # SQLite keeps no statistics: it is told which index finds the few
        # unsettled records (PostgreSQL's planner knows).
        self._by_status = " INDEXED BY records_status" if database.dialect == "sqlite" else ""
        # Insertion order, among a record's errors of one moment: SQLite's row
        # id; PostgreSQL's tuple id (the rows are never updated, so never move).
        self._inserted = "rowid" if database.dialect == "sqlite" else "ctid"

    # -- plumbing -------------------------------------------------------------

    def _write(self, work: Callable[[Writer], None]) -> None:
        """Run ``work`` in one transaction."""
        self._sql.write(work)

    def __enter__(self) -> Self:
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

    # -- records --------------------------------------------------------------

    def get_many(
        self, destination: str, object: BatchObject, keys: Iterable[str]
    ) -> dict[str, RecordState]:
        """The state of each of ``keys`` that has one (``IN`` queries of 500 keys)."""
        found: dict[str, RecordState] = {}
        prefix = (destination, object.value)
        iterator = iter(keys)
        while chunk := list(islice(iterator, _IN_CHUNK)):
            if len(chunk) == _IN_CHUNK:
                sql = self._get_full
            else:
                sql = (
                    f"SELECT {_COLUMNS} FROM records WHERE destination = ? AND object = ?"
                    f" AND key IN ({', '.join('?' * len(chunk))})"
                )
            for row in self._sql.read(sql, (*prefix, *chunk)):
                found[row[2]] = _state(row)
        return found

    def end_states(
        self, destination: str, object: BatchObject, keys: Iterable[str]
    ) -> dict[str, tuple[bool, str | None]]:
        """For each of ``keys`` that has a state: whether the destination has
        the record (confirmed once, not deleted since) and its destination id.
        Four columns and no object per row: the executor reads a million link
        ends in a full sync."""
        found: dict[str, tuple[bool, str | None]] = {}
        prefix = (destination, object.value)
        ok, deleted = RecordStatus.OK.value, RecordStatus.DELETED.value
        iterator = iter(keys)
        while chunk := list(islice(iterator, _IN_CHUNK)):
            sql = (
                "SELECT key, destination_id, status, fingerprint FROM records"
                " WHERE destination = ? AND object = ?"
                f" AND key IN ({', '.join('?' * len(chunk))})"
            )
            for key, destination_id, status, fingerprint in self._sql.read(sql, (*prefix, *chunk)):
                exists = status != deleted and (status == ok or fingerprint is not None)
                found[key] = (exists, destination_id)
        return found

    def scan_records(
        self, destination: str, object: BatchObject, after: str | None, limit: int
    ) -> list[tuple[str, str | None, str, int]]:
        """Up to ``limit`` records of ``object`` for ``destination`` with a key
        after ``after`` (``None``: from the first), by key, as
        ``(key, fingerprint, status, created_by_hub)`` rows (``status`` its
        string value, ``created_by_hub`` 0 or 1).

        What the planner's merge pass reads: millions of rows, so only what
        tells an unchanged record, and no objects built."""
        if after is None:
            return self._sql.read(
                "SELECT key, fingerprint, status, created_by_hub FROM records"
                " WHERE destination = ? AND object = ? ORDER BY key LIMIT ?",
                (destination, object.value, limit),
            )
        return self._sql.read(
            "SELECT key, fingerprint, status, created_by_hub FROM records"
            " WHERE destination = ? AND object = ? AND key > ? ORDER BY key LIMIT ?",
            (destination, object.value, after, limit),
        )

    def iter_records(self, destination: str, object: BatchObject) -> Iterator[RecordState]:
        """Every record of ``object`` for ``destination``, by key, a page at a
        time (no read transaction is held between pages)."""
        after: str | None = None
        sql_first = (
            f"SELECT {_COLUMNS} FROM records WHERE destination = ? AND object = ?"
            " ORDER BY key LIMIT ?"
        )
        sql_next = (
            f"SELECT {_COLUMNS} FROM records WHERE destination = ? AND object = ? AND key > ?"
            " ORDER BY key LIMIT ?"
        )
        while True:
            if after is None:
                rows = self._sql.read(sql_first, (destination, object.value, _PAGE))
            else:
                rows = self._sql.read(sql_next, (destination, object.value, after, _PAGE))
            for row in rows:
                yield _state(row)
            if len(rows) < _PAGE:
                return
            after = rows[-1][2]

    def confirm(
        self,
        run_id: int,
        destination: str,
        object: BatchObject,
        confirmations: Sequence[Confirmation],
    ) -> None:
        """Record accepted payloads (status ``ok``, attempts and errors cleared),
        in one transaction. A known destination id is kept when the destination
        returned none; ``created`` marks the record as the hub's own."""
        kind = object.value
        rows = (
            (destination, kind, c.key, c.fingerprint, c.destination_id, int(c.created), run_id)
            for c in confirmations
        )

        def work(db: Writer) -> None:
            db.executemany(_CONFIRM, rows)

        self._write(work)

    def fail(
        self, run_id: int, destination: str, object: BatchObject, failures: Sequence[Failure]
    ) -> None:
        """Record refusals, in one transaction: status ``failed`` (with the
        refused payload's fingerprint) when permanent, else ``pending``; attempts
        counted; the reason kept as the record's last error and in the run's
        error history. The accepted fingerprint and destination id stay.

        ``run_id`` must come from :meth:`start_run` (the error history refers
        to it). Reasons are scrubbed of secrets (:func:`hub.redaction.redact`)."""
        kind = object.value
        at = _iso(self._clock())

        failed, pending = RecordStatus.FAILED.value, RecordStatus.PENDING.value

        def work(db: Writer) -> None:
            db.executemany(
                _FAIL,
                (
                    (
                        destination,
                        kind,
                        f.key,
                        f.fingerprint if f.permanent else None,
                        failed if f.permanent else pending,
                        redact(f.reason),
                        run_id,
                    )
                    for f in failures
                ),
            )
            db.executemany(
                _RUN_ERROR,
                (
                    (run_id, destination, kind, f.key, redact(f.reason), int(f.permanent), at)
                    for f in failures
                ),
            )

        self._write(work)

    def mark_deleted(
        self, run_id: int, destination: str, object: BatchObject, keys: Sequence[str]
    ) -> None:
        """Record deletions (or unlinks) the destination confirmed, in one
        transaction: status ``deleted``, fingerprint and destination id cleared
        (a record coming back is created afresh). Unknown keys are ignored."""
        kind = object.value
        rows = ((run_id, destination, kind, key) for key in keys)

        def work(db: Writer) -> None:
            db.executemany(_DELETE, rows)

        self._write(work)

    def reset_failed(self, destination: str | None = None) -> int:
        """Make permanently failed records pending again (``hub retry``):
        the planner sends them on the next run. Returns how many."""
        sql = (
            "UPDATE records SET status = 'pending', failed_fingerprint = NULL, attempts = 0"
            " WHERE status = 'failed'"
        )
        params: tuple[str, ...] = ()
        if destination is not None:
            sql += " AND destination = ?"
            params = (destination,)
        changed = 0

        def work(db: Writer) -> None:
            nonlocal changed
            changed = db.execute(sql, params).rowcount

        self._write(work)
        return changed

    def replace_quarantine(self, rows: Sequence[QuarantinedRow]) -> None:
        """Keep the rows the latest load quarantined (replacing the previous
        load's), up to :data:`QUARANTINE_KEPT`; reasons scrubbed of secrets."""
        at = _iso(self._clock())

        def work(db: Writer) -> None:
            db.execute("DELETE FROM quarantine")
            db.executemany(
                "INSERT INTO quarantine (source, tbl, location, reason, record_id, loaded_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (row.source, row.table, row.location, redact(row.reason), row.record_id, at)
                    for row in rows[:QUARANTINE_KEPT]
                ),
            )

        self._write(work)

    def quarantined(
        self, source: str | None = None, limit: int = 100
    ) -> tuple[list[QuarantinedRow], int, datetime | None]:
        """The latest load's quarantined rows (of ``source``), in load order, at
        most ``limit``; with how many there are and when they were loaded."""
        where, params = ("WHERE source = ?", (source,)) if source is not None else ("", ())
        total = self._sql.read(f"SELECT count(*) FROM quarantine {where}", params)[0]
        rows = self._sql.read(
            "SELECT source, tbl, location, reason, record_id, loaded_at FROM quarantine"
            f" {where} ORDER BY position LIMIT ?",
            (*params, limit),
        )
        loaded = self._sql.read("SELECT max(loaded_at) FROM quarantine")[0]
        found = [QuarantinedRow(r[0], r[1], r[2], r[3], r[4]) for r in rows]
        return found, int(total[0]), _parse(loaded[0])

    def record_counts(self, destination: str) -> dict[str, dict[str, int]]:
        """``{object: {status: count}}`` of ``destination``'s records, read off
        the ``records_status`` index (``(status, destination)``, the key's
        ``object`` beside it): a run over millions of records reads no row."""
        statuses = [status.value for status in RecordStatus]
        marks = ", ".join("?" * len(statuses))
        counts: dict[str, dict[str, int]] = {}
        rows = self._sql.read(
            f"SELECT object, status, count(*) FROM records WHERE status IN ({marks})"
            " AND destination = ? GROUP BY status, object",
            (*statuses, destination),
        )
        for kind, status, count in sorted(rows):
            counts.setdefault(kind, {})[status] = count
        return counts

    def owned_count(self, destination: str, object: BatchObject) -> int:
        """How many of ``destination``'s live records of ``object`` the hub
        created (what the delete guard's share is of)."""
        row = self._sql.read(
            "SELECT count(*) FROM records WHERE destination = ? AND object = ?"
            " AND status != 'deleted' AND created_by_hub = 1",
            (destination, object.value),
        )[0]
        return int(row[0])

    def unsettled(self, destination: str) -> int:
        """How many of ``destination``'s records a run would send again whatever
        the inputs: pending ones, and failed ones whose refused payload is unknown
        (both found through the ``records_status`` index; named to SQLite, which
        without statistics would scan the destination's every record for the
        failed ones, to read ``failed_fingerprint``)."""
        hint = self._by_status
        row = self._sql.read(
            f"SELECT (SELECT count(*) FROM records{hint}"
            " WHERE status = 'pending' AND destination = ?)"
            f" + (SELECT count(*) FROM records{hint}"
            " WHERE status = 'failed' AND destination = ? AND failed_fingerprint IS NULL)",
            (destination, destination),
        )[0]
        return int(row[0])

    # -- input snapshots ------------------------------------------------------

    def input_snapshots(self) -> list[InputSnapshot]:
        """Every destination's kept snapshot (to know which digest files are in use)."""
        names = [row[0] for row in self._sql.read("SELECT destination FROM input_snapshots")]
        return [kept for name in names if (kept := self.input_snapshot(name)) is not None]

    def input_snapshot(self, destination: str) -> InputSnapshot | None:
        """What ``destination``'s last complete run read (``None``: no such run)."""
        rows = self._sql.read(
            "SELECT run_id, token, config, files, digests, events, as_of, planned,"
            " quarantined FROM input_snapshots WHERE destination = ?",
            (destination,),
        )
        if not rows:
            return None
        row = rows[0]
        return InputSnapshot(
            run_id=row[0],
            token=row[1],
            config=row[2],
            files=json.loads(row[3]),
            digests=row[4],
            events=row[5],
            as_of=datetime.fromisoformat(row[6]),
            planned=json.loads(row[7]),
            quarantined=json.loads(row[8]),
        )

    def save_input_snapshot(self, destination: str, snapshot: InputSnapshot | None) -> None:
        """Keep ``snapshot`` as ``destination``'s (``None`` forgets it)."""

        def work(db: Writer) -> None:
            db.execute("DELETE FROM input_snapshots WHERE destination = ?", (destination,))
            if snapshot is not None:
                db.execute(
                    "INSERT INTO input_snapshots (destination, run_id, token, config, files,"
                    " digests, events, as_of, planned, quarantined)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        destination,
                        snapshot.run_id,
                        snapshot.token,
                        snapshot.config,
                        json.dumps(dict(snapshot.files), sort_keys=True),
                        snapshot.digests,
                        snapshot.events,
                        _iso(snapshot.as_of),
                        json.dumps(dict(snapshot.planned), sort_keys=True),
                        json.dumps(dict(snapshot.quarantined), sort_keys=True),
                    ),
                )

        self._write(work)

    # -- runs -----------------------------------------------------------------

    def start_run(self, destination: str, mode: str) -> int:
        """Open a run (status ``running``). Runs of ``destination`` still
        ``running`` belong to a process that died: they become ``interrupted``.
        (So only one sync per destination may run at a time.)"""
        now = _iso(self._clock())
        run_id = 0

        def work(db: Writer) -> None:
            nonlocal run_id
            run_id = db.execute(
                "INSERT INTO runs (destination, mode, status, started_at, counts)"
                " VALUES (?, ?, 'running', ?, '{}') RETURNING run_id",
                (destination, mode, now),
            ).fetchall()[0][0]
            dead = [
                row[0]
                for row in db.execute(
                    "SELECT run_id FROM runs WHERE destination = ? AND status = 'running'"
                    " AND run_id <> ?",
                    (destination, run_id),
                )
            ]
            for dead_id in dead:
                # What the dead run confirmed, from the records it wrote (its
                # own counts were never written: it was killed before the end).
                counts = {
                    _INTERRUPTED_COUNTS.get(status, status): count
                    for status, count in db.execute(
                        "SELECT status, count(*) FROM records WHERE destination = ?"
                        " AND updated_run = ? GROUP BY status",
                        (destination, dead_id),
                    )
                }
                db.execute(
                    "UPDATE runs SET status = 'interrupted', finished_at = ?,"
                    " message = coalesce(message, ?),"
                    " counts = CASE WHEN counts = '{}' THEN ? ELSE counts END"
                    " WHERE run_id = ?",
                    (
                        now,
                        f"still running when run {run_id} started",
                        json.dumps(counts, sort_keys=True, separators=(",", ":")),
                        dead_id,
                    ),
                )

        self._write(work)
        return run_id

    def finish_run(
        self, run_id: int, status: RunStatus, counts: Mapping[str, int], message: str | None = None
    ) -> None:
        now = _iso(self._clock())
        text = json.dumps(dict(counts), sort_keys=True, separators=(",", ":"))

        def work(db: Writer) -> None:
            db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, counts = ?, message = ?"
                " WHERE run_id = ?",
                (
                    RunStatus(status).value,
                    now,
                    text,
                    None if message is None else redact(message),
                    run_id,
                ),
            )

        self._write(work)

    def runs(
        self, destination: str | None = None, limit: int = 20, *, before: int | None = None
    ) -> list[RunInfo]:
        """The latest runs (older than run ``before``), newest first."""
        where: list[str] = []
        params: list[Any] = []
        if destination is not None:
            where.append("destination = ?")
            params.append(destination)
        if before is not None:
            where.append("run_id < ?")
            params.append(before)
        return self._runs(where, params, limit)

    def run(self, run_id: int) -> RunInfo | None:
        """Run ``run_id``, or ``None`` when the store holds no such run."""
        found = self._runs(["run_id = ?"], [run_id], 1)
        return found[0] if found else None

    def _runs(self, where: list[str], params: list[Any], limit: int) -> list[RunInfo]:
        sql = (
            "SELECT run_id, destination, mode, status, started_at, finished_at, counts, message"
            " FROM runs"
        )
        if where:
            sql += f" WHERE {' AND '.join(where)}"
        sql += " ORDER BY run_id DESC LIMIT ?"
        rows = self._sql.read(sql, (*params, limit))
        return [
            RunInfo(
                run_id=row[0],
                destination=row[1],
                mode=row[2],
                status=RunStatus(row[3]),
                started_at=datetime.fromisoformat(row[4]),
                finished_at=_parse(row[5]),
                counts=json.loads(row[6]),
                message=row[7],
            )
            for row in rows
        ]

    def errors(
        self, run_id: int | None = None, destination: str | None = None, limit: int = 100
    ) -> list[ErrorInfo]:
        """Per-record errors of run ``run_id`` (optionally of one destination),
        or by default of each destination's latest run that had errors; in
        run, destination, object, key order."""
        where: list[str] = []
        params: list[Any] = []
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        else:
            inner = "SELECT max(run_id) FROM run_errors"
            if destination is not None:
                inner += " WHERE destination = ?"
                params.append(destination)
            where.append(f"run_id IN ({inner} GROUP BY destination)")
        if destination is not None:
            where.append("destination = ?")
            params.append(destination)
        sql = (
            "SELECT run_id, destination, object, key, reason, permanent, at FROM run_errors"
            f" WHERE {' AND '.join(where)}"
            f" ORDER BY run_id, destination, object, key, at, {self._inserted} LIMIT ?"
        )
        rows = self._sql.read(sql, (*params, limit))
        return [
            ErrorInfo(
                run_id=row[0],
                destination=row[1],
                object=BatchObject(row[2]),
                key=row[3],
                reason=row[4],
                permanent=bool(row[5]),
                at=datetime.fromisoformat(row[6]),
            )
            for row in rows
        ]
