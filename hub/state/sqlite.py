"""The embedded state store: one SQLite file (``sqlite:///.hub/state.db``).

- **Durability**: WAL journal, ``synchronous=NORMAL`` (a committed
  transaction survives a killed process; an OS crash may lose the last
  transactions, never corrupt the file), foreign keys on.
- **Atomicity**: every write method is one ``BEGIN IMMEDIATE`` transaction:
  a whole batch's confirmations, failures or deletions land together or not
  at all. A process killed mid-batch leaves the previous batches confirmed and
  none of the interrupted one, so the next run re-sends exactly that.
- **Concurrency**: several processes may open the same file (WAL readers
  never block; writers wait up to 30 s for the lock). Within a process, one
  store may be shared by threads (calls are serialised).
- **Schema**: versioned with ``PRAGMA user_version`` and applied by
  :func:`migrate`, one step per version, each in its own transaction; the
  steps are :data:`hub.state.schema.MIGRATIONS`, which the PostgreSQL store
  (:mod:`hub.state.postgres`) applies in its dialect.
- **Secrets**: the store only ever receives keys, fingerprints, destination
  ids, counts and error text, and error text is scrubbed before it is
  written (:func:`hub.redaction.redact`): a destination's error body that
  echoes a token or a webhook URL is stored without it.

Tables::

    records(destination, object, key, fingerprint, failed_fingerprint,
            destination_id, status, attempts, last_error, created_by_hub,
            updated_run)                      -- one row per record and destination
    runs(run_id, destination, mode, status, started_at, finished_at,
         counts, message)                     -- run history; counts is JSON
    run_errors(run_id -> runs, destination, object, key, reason,
               permanent, at)                 -- per-record errors of each run
    quarantine(position, source, tbl, location, reason, record_id,
               loaded_at)                     -- the rows the latest load quarantined
    input_snapshots(destination, run_id, token, config, files, digests,
                    events, as_of, planned,
                    quarantined)              -- the inputs of a destination's last
                                                 complete run (hub.sync.inputs)

``fingerprint`` is the last payload the destination *accepted*;
``failed_fingerprint`` the payload it refused for good (status ``failed``):
the planner holds such a record back until its data changes or ``hub retry``
(:meth:`~hub.state.sql.SqlStateStore.reset_failed`). Timestamps are UTC ISO 8601.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Final

from hub.state.connection import connect
from hub.state.database import SqliteDatabase
from hub.state.schema import MIGRATIONS, SCHEMA_VERSION, StateVersionError, refuse_newer, statements
from hub.state.sql import SqlStateStore, _now

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SqliteStateStore", "StateVersionError", "migrate"]

#: The page cache of each connection, in KiB.
_CACHE_KIB: Final = 65536
#: WAL pages written before a checkpoint (SQLite's default is 1000).
_CHECKPOINT_PAGES: Final = 10000


def migrate(connection: sqlite3.Connection) -> int:
    """Bring the schema of ``connection`` to :data:`SCHEMA_VERSION`; returns the
    version found. Each step runs in its own transaction, so a failed upgrade
    leaves the previous version intact. Safe to run from several processes."""
    found: int = connection.execute("PRAGMA user_version").fetchone()[0]
    refuse_newer(found)
    for version in range(found, SCHEMA_VERSION):
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            current: int = connection.execute("PRAGMA user_version").fetchone()[0]
            if current == version:
                for statement in statements(version, "sqlite"):
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {version + 1}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    return found


class SqliteStateStore(SqlStateStore):
    """The :class:`~hub.state.StateStore` on one SQLite file.

    ``path`` ``None`` (or ``":memory:"``) gives a private in-memory store.
    ``clock`` returns the current time (tests inject one).
    """

    def __init__(
        self,
        path: Path | str | None,
        *,
        clock: Callable[[], datetime] = _now,
        busy_timeout: float = 30.0,
    ) -> None:
        target = ":memory:" if path is None else str(path)
        self.path = None if target == ":memory:" else Path(target)
        self._lock = threading.RLock()
        self._db = connect(
            path,
            busy_timeout=busy_timeout,
            pragmas=(
                "synchronous = NORMAL",
                "foreign_keys = ON",
                # Millions of rows: a 64 MiB page cache, temporary b-trees in memory.
                f"cache_size = -{_CACHE_KIB}",
                "temp_store = MEMORY",
                # Checkpoint the WAL every ~40 MiB rather than 4: a sync confirms
                # millions of rows, and each checkpoint syncs the file.
                f"wal_autocheckpoint = {_CHECKPOINT_PAGES}",
            ),
            setup=migrate,
        )
        self.journal_mode: str = self._db.execute("PRAGMA journal_mode").fetchone()[0]
        super().__init__(SqliteDatabase(self._db, self._lock), clock=clock)
