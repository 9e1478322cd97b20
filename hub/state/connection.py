"""Opening the state file and writing to it: what the record store, the
daemon's locks and the playbook state share.

Every store opens its own connection to the same SQLite file in WAL mode,
with a busy timeout so that several processes can share it, and writes in
``BEGIN IMMEDIATE`` transactions under a per-connection lock (connections are
shared between threads).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from hub.errors import Problem, StateStoreError

#: How long a 0-byte state file may stay empty before it is refused: another
#: process may have just created it and not yet written its header.
_NEW_FILE_GRACE = 2.0
_SQLITE_HEADER = b"SQLite format 3\x00"


def state_error(
    path: Path | str | None, reason: str, todo: str, *, refused: bool = True
) -> StateStoreError:
    """The error for an unusable state file: what is wrong, and what to do
    (``refused``: a sync or plan stopped before sending anything)."""
    where = "the in-memory state store" if path is None else f"the state file {path}"
    return StateStoreError(
        Problem(
            f"{where} {reason}" + ("; nothing was sent" if refused else ""),
            key="state.url",
            hint=todo,
        )
    )


#: (what is wrong, what to do) for a state file this user cannot write.
_READ_ONLY = (
    "cannot be written (read-only)",
    "make the file and its directory writable by this user, or point [state] url"
    " at a writable path",
)


def sqlite_reason(error: sqlite3.Error) -> tuple[str, str]:
    """(what is wrong, what to do) for an error SQLite raised on the state file."""
    text = str(error)
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return _READ_ONLY
    if "disk is full" in lowered or "database or disk is full" in lowered:
        return (
            "cannot grow: the disk is full",
            "free space on its disk (the store keeps every record confirmed so far)",
        )
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return (
            f"is corrupt ({text})",
            "restore it from a backup (hub state backup makes one), or, to start over"
            " knowingly, move it away: the next sync then sends every record again",
        )
    if "unable to open" in lowered:
        return (
            f"cannot be opened ({text})",
            "check that its directory exists and is writable, or fix [state] url",
        )
    return f"cannot be used ({text})", "run hub state check for details"


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to the state file (``hub state check``, backups,
    validation): it never creates, migrates or changes the file."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def check_state_file(path: Path) -> None:
    """Refuse (:class:`StateStoreError`) a file that exists but is no state
    store: empty, a directory, not SQLite. A missing file is fine (created)."""
    if not path.exists():
        return
    if not path.is_file():
        raise state_error(path, "is not a file", "point [state] url at a file path")
    try:
        deadline = time.monotonic() + _NEW_FILE_GRACE
        size = path.stat().st_size
        while size == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
            size = path.stat().st_size
        if size == 0:
            raise state_error(
                path,
                "is empty (0 bytes), so it is no state store: it was truncated or replaced."
                " The hub will not start over by itself (it would send every record again"
                " and forget which links it created)",
                "restore the file from a backup, or delete it to start over knowingly",
            )
        with path.open("rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except OSError as error:
        raise state_error(
            path, f"cannot be read ({error.strerror})", "make it readable by this user"
        ) from None
    if header != _SQLITE_HEADER:
        raise state_error(
            path,
            "is not a SQLite database (its first bytes are not a SQLite header)",
            "restore it from a backup, or point [state] url at the right file",
        )
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        raise state_error(path, *_READ_ONLY)


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
    if path is not None:
        check_state_file(Path(path))
    try:
        db = sqlite3.connect(
            target, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as error:
        raise state_error(path, *sqlite_reason(error)) from None
    try:
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        db.execute("PRAGMA journal_mode = WAL")
        for pragma in pragmas:
            db.execute(f"PRAGMA {pragma}")
        if setup is not None:
            setup(db)
    except sqlite3.Error as error:
        db.close()
        if not _about_the_file(error):
            raise
        raise state_error(path, *sqlite_reason(error)) from None
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
        except sqlite3.Error as error:
            _rollback(db)
            if not _about_the_file(error):
                raise
            raise state_error(_path_of(db), *sqlite_reason(error)) from None
        except BaseException:
            _rollback(db)
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as error:
            _rollback(db)
            if not _about_the_file(error):
                raise
            raise state_error(_path_of(db), *sqlite_reason(error)) from None


#: Errors that are the code's, not the file's: raised as they are.
_NOT_THE_FILE = (
    sqlite3.IntegrityError,
    sqlite3.ProgrammingError,
    sqlite3.InterfaceError,
    sqlite3.DataError,
    sqlite3.NotSupportedError,
)


def _about_the_file(error: sqlite3.Error) -> bool:
    """True for what the state file causes (corrupt, read-only, full, cannot be
    opened); a busy lock is waited on by the caller, a constraint is a bug."""
    if isinstance(error, _NOT_THE_FILE):
        return False
    return not (isinstance(error, sqlite3.OperationalError) and "locked" in str(error).lower())


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        db.execute("ROLLBACK")


def _path_of(db: sqlite3.Connection) -> str | None:
    for _, name, file in db.execute("PRAGMA database_list"):
        if name == "main":
            return str(file) or None
    return None
