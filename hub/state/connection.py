"""Opening the state file and writing to it: what the record store, the
daemon's locks and the playbook state share.

Every store opens its own connection to the same SQLite file in WAL mode,
with a busy timeout so that several processes can share it, and writes in
``BEGIN IMMEDIATE`` transactions under a per-connection lock (connections are
shared between threads).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def connect(
    path: Path | str | None,
    *,
    busy_timeout: float,
    pragmas: Sequence[str] = (),
    setup: Callable[[sqlite3.Connection], object] | None = None,
) -> sqlite3.Connection:
    """A connection to the state file at ``path`` (``None``: private, in memory),
    in WAL mode with ``pragmas`` applied and ``setup`` run (schema); closed
    again if any of that fails.

    ``isolation_level=None``: no implicit transactions; writes go through
    :func:`immediate`.
    """
    target = ":memory:" if path is None else str(path)
    db = sqlite3.connect(
        target, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        db.execute("PRAGMA journal_mode = WAL")
        for pragma in pragmas:
            db.execute(f"PRAGMA {pragma}")
        if setup is not None:
            setup(db)
    except BaseException:
        db.close()
        raise
    return db


@contextmanager
def immediate(db: sqlite3.Connection, lock: threading.RLock) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` transaction: committed when the block ends,
    rolled back when it raises."""
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
