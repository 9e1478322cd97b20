"""Coordination of daemons sharing a state store: sync locks and schedule marks.

Two tables in the state store's database (its SQLite file, or its PostgreSQL
database), beside (and independent of) the store's own schema (created with
``IF NOT EXISTS``, no schema version)::

    sync_locks(name, owner, acquired_at, heartbeat_at, expires_at)
        -- one row per held lock; times are epoch seconds (wall clock)
    sync_schedule(sync, last_started, last_finished, last_status, last_success)
        -- when each scheduled sync last ran, for catch-up and health

**Locks.** :meth:`SyncLocks.acquire` takes a set of names (the daemon locks
``destination:NAME`` for each destination of a sync) all at once or not at
all, in one transaction that writers take one at a time (SQLite's ``BEGIN
IMMEDIATE``; a PostgreSQL advisory lock), so two daemons never run the same
destination together. A holder renews its locks (:meth:`SyncLocks.renew`,
the heartbeat) well within ``ttl``; a lock whose holder stopped renewing (a
crashed or frozen daemon) expires ``ttl`` seconds after its last heartbeat and
may then be taken over. A holder that finds its lock taken over must stop.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

from hub.state.database import Writer
from hub.state.tables import open_tables

__all__ = ["LockHeartbeat", "LockHolder", "ScheduleMark", "SyncLocks"]

_log = logging.getLogger(__name__)

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS sync_locks (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        acquired_at {real} NOT NULL,
        heartbeat_at {real} NOT NULL,
        expires_at {real} NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS sync_schedule (
        sync TEXT PRIMARY KEY,
        last_started {real},
        last_finished {real},
        last_status TEXT,
        last_success {real}
    )
    """,
)


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds a lock, and until when."""

    name: str
    owner: str
    acquired_at: float
    heartbeat_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class ScheduleMark:
    """When a scheduled sync last started and finished, and how it went."""

    sync: str
    last_started: float | None
    last_finished: float | None
    last_status: str | None
    #: The last run that completed (every destination succeeded or partial).
    last_success: float | None


def lock_owner(tag: str) -> str:
    """An owner name for this process: ``host:pid:tag``."""
    return f"{socket.gethostname()}:{os.getpid()}:{tag}"


def _dead_here(owner: str) -> bool:
    """True when ``owner`` (``host:pid:...``) is a process of this host that no
    longer exists: its locks need not wait for their expiry (a SIGKILLed sync)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


#: The advisory lock PostgreSQL writers of these tables take ("hublocks").
_LOCKS_WRITER: Final = 0x6875626C6F636B73


class SyncLocks:
    """Locks and schedule marks in the SQLite file at ``path`` (``None``: in
    memory, this process only), or in the PostgreSQL database at a
    ``postgresql://`` URL. Thread-safe; ``clock`` gives epoch seconds."""

    def __init__(
        self,
        path: Path | str | None,
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 30.0,
    ) -> None:
        self._clock = clock
        self._sql, self.path = open_tables(
            path,
            _SCHEMA,
            serialize=_LOCKS_WRITER,
            pragmas=("synchronous = NORMAL",),
            busy_timeout=busy_timeout,
            create_directory=True,
        )

    # -- plumbing -------------------------------------------------------------

    def _transaction(self, work: Callable[[Writer], object]) -> object:
        return self._sql.write(work)

    def close(self) -> None:
        self._sql.close()

    def __enter__(self) -> SyncLocks:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- locks ----------------------------------------------------------------

    def acquire(
        self, names: Iterable[str], owner: str, ttl: float
    ) -> tuple[bool, list[LockHolder]]:
        """Take every lock of ``names`` for ``owner`` for ``ttl`` seconds, or none.

        Returns ``(True, taken_over)`` with the expired holders that were
        replaced, or ``(False, holders)`` with the live holders in the way.
        Locks ``owner`` already holds are renewed.
        """
        wanted = sorted(set(names))
        now = self._clock()

        def work(db: Writer) -> tuple[bool, list[LockHolder]]:
            blocking: list[LockHolder] = []
            expired: list[LockHolder] = []
            for name in wanted:
                row = db.execute(
                    "SELECT name, owner, acquired_at, heartbeat_at, expires_at"
                    " FROM sync_locks WHERE name = ?",
                    (name,),
                ).fetchone()
                if row is None or row[1] == owner:
                    continue
                holder = LockHolder(*row)
                gone = holder.expires_at <= now or _dead_here(holder.owner)
                (expired if gone else blocking).append(holder)
            if blocking:
                return False, blocking
            db.executemany(
                "INSERT INTO sync_locks (name, owner, acquired_at, heartbeat_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,"
                " acquired_at = CASE WHEN sync_locks.owner = excluded.owner"
                " THEN sync_locks.acquired_at ELSE excluded.acquired_at END,"
                " heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at",
                [(name, owner, now, now, now + ttl) for name in wanted],
            )
            return True, expired

        result = self._transaction(work)
        assert isinstance(result, tuple)
        return result

    def renew(self, names: Iterable[str], owner: str, ttl: float) -> list[str]:
        """The heartbeat: extend ``owner``'s locks of ``names``; returns the names
        ``owner`` no longer holds (expired and taken over, or released)."""
        wanted = sorted(set(names))
        now = self._clock()

        def work(db: Writer) -> list[str]:
            lost = []
            for name in wanted:
                cursor = db.execute(
                    "UPDATE sync_locks SET heartbeat_at = ?, expires_at = ?"
                    " WHERE name = ? AND owner = ?",
                    (now, now + ttl, name, owner),
                )
                if cursor.rowcount != 1:
                    lost.append(name)
            return lost

        result = self._transaction(work)
        assert isinstance(result, list)
        return result

    def release(self, names: Iterable[str], owner: str) -> None:
        """Give back ``owner``'s locks of ``names`` (others' are left alone)."""
        rows = [(name, owner) for name in sorted(set(names))]

        def work(db: Writer) -> None:
            db.executemany("DELETE FROM sync_locks WHERE name = ? AND owner = ?", rows)

        self._transaction(work)

    def release_all(self, owner: str) -> None:
        """Give back every lock ``owner`` holds (on exit)."""

        def work(db: Writer) -> None:
            db.execute("DELETE FROM sync_locks WHERE owner = ?", (owner,))

        self._transaction(work)

    def holders(self) -> list[LockHolder]:
        """Every lock row, expired or not, by name."""
        rows = self._sql.read(
            "SELECT name, owner, acquired_at, heartbeat_at, expires_at"
            " FROM sync_locks ORDER BY name"
        )
        return [LockHolder(*row) for row in rows]

    # -- schedule marks -------------------------------------------------------

    def mark_started(self, sync: str, at: float) -> None:
        def work(db: Writer) -> None:
            db.execute(
                "INSERT INTO sync_schedule (sync, last_started) VALUES (?, ?)"
                " ON CONFLICT (sync) DO UPDATE SET last_started = excluded.last_started",
                (sync, at),
            )

        self._transaction(work)

    def mark_finished(self, sync: str, at: float, status: str, *, success: bool) -> None:
        def work(db: Writer) -> None:
            db.execute(
                "INSERT INTO sync_schedule (sync, last_finished, last_status, last_success)"
                " VALUES (?, ?, ?, ?)"
                " ON CONFLICT (sync) DO UPDATE SET last_finished = excluded.last_finished,"
                " last_status = excluded.last_status,"
                " last_success = coalesce(excluded.last_success, sync_schedule.last_success)",
                (sync, at, status, at if success else None),
            )

        self._transaction(work)

    def marks(self) -> list[ScheduleMark]:
        """Every scheduled sync's mark, by name."""
        rows = self._sql.read(
            "SELECT sync, last_started, last_finished, last_status, last_success"
            " FROM sync_schedule ORDER BY sync"
        )
        return [ScheduleMark(*row) for row in rows]

    def mark(self, sync: str) -> ScheduleMark | None:
        """What the store remembers of ``sync``, ``None`` if it never ran."""
        rows = self._sql.read(
            "SELECT sync, last_started, last_finished, last_status, last_success"
            " FROM sync_schedule WHERE sync = ?",
            (sync,),
        )
        return ScheduleMark(*rows[0]) if rows else None


class LockHeartbeat:
    """Renews ``owner``'s locks of ``names`` every third of ``ttl`` on a thread of
    its own, whatever the holder is doing (a long request, a rate-limit wait).
    Should they be lost all the same (the process was frozen past ``ttl`` and
    another took them over), :attr:`lost` is set, ``on_lost`` told which, and the
    beating stops: the holder sends nothing more. :meth:`stop` ends it.

    The locks are taken just before the heartbeat starts. :meth:`expired`
    tells the holder, before each batch it sends, whether ``ttl`` has passed
    since the last renewal that held: then another process may hold the locks
    now, and a process thawed after a SIGSTOP must not send its next batch in
    the moment before its heartbeat finds out."""

    def __init__(
        self,
        locks: SyncLocks,
        names: Sequence[str],
        owner: str,
        ttl: float,
        *,
        on_lost: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.locks = locks
        self.names = list(names)
        self.owner = owner
        self.ttl = ttl
        self.on_lost = on_lost
        #: Set when a renewal found the locks taken over.
        self.lost = threading.Event()
        #: When the locks were last known held (monotonic seconds).
        self._renewed = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="hub-lock-heartbeat", daemon=True)
        self._thread.start()

    def expired(self) -> bool:
        """True when the locks are lost, or ``ttl`` has passed since the last
        renewal that held them (the process was frozen, or the store could not
        be reached): the holder sends nothing more."""
        return self.lost.is_set() or time.monotonic() - self._renewed >= self.ttl

    def _beat(self) -> None:
        while not self._done.wait(max(0.1, self.ttl / 3)):
            began = time.monotonic()
            try:
                lost = self.locks.renew(self.names, self.owner, self.ttl)
            except Exception:
                _log.exception("lock renewal failed: %s", ", ".join(self.names))
                continue
            if not lost:
                self._renewed = began
                continue
            self.lost.set()
            if self.on_lost is not None:
                self.on_lost(lost)
            return

    def stop(self) -> None:
        """Stop renewing (the holder releases the locks itself)."""
        self._done.set()
        self._thread.join(timeout=5)
