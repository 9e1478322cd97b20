"""The state store: what each destination has confirmed, and the run history.

Per destination and record it keeps the fingerprint of the mapped payload the
destination *accepted*, the destination's id, the status, attempts and last
error. A fingerprint is written only after the destination confirmed the
record, so a run killed at any moment loses nothing: the next run re-sends
exactly what was not confirmed. Secrets never enter the store.

:class:`StateStore` is the interface; :mod:`hub.state.sqlite` is the embedded
default (SQLite, WAL, one transaction per batch) and :mod:`hub.state.postgres`
the store a fleet of daemons shares (``postgresql://``); both run the same
SQL (:mod:`hub.state.sql`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from hub.errors import ConfigError, Problem, StateStoreError
from hub.state.store import (
    Confirmation,
    ErrorInfo,
    Failure,
    InputSnapshot,
    RecordState,
    RecordStatus,
    RunInfo,
    RunStatus,
    StateStore,
)

__all__ = [
    "SQLITE_PREFIX",
    "Confirmation",
    "ErrorInfo",
    "Failure",
    "InputSnapshot",
    "RecordState",
    "RecordStatus",
    "RunInfo",
    "RunStatus",
    "StateStore",
    "describe",
    "is_postgres_url",
    "local_state_dir",
    "open_state_store",
    "sqlite_path",
    "state_database",
    "state_file_problems",
]


def describe(value: Any) -> str:
    """A short, secret-free description of an error value for the store."""
    from hub.redaction import redact

    text = redact(str(value))
    return text if len(text) <= 500 else text[:497] + "..."


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,30}")

#: The URL scheme of the embedded SQLite store.
SQLITE_PREFIX = "sqlite:///"
#: What a state URL may look like, for messages.
_EXPECTED = "sqlite:///PATH or postgresql://HOST/DATABASE"


def is_postgres_url(url: str) -> bool:
    """True for a PostgreSQL state store URL (``postgresql://`` or ``postgres://``)."""
    from hub.state.postgres import is_postgres_url as postgres

    return postgres(url)


def state_database(url: str, base_dir: Path) -> Path | str | None:
    """What the locks and the playbook state open beside the record store
    (:class:`~hub.state.locks.SyncLocks`, :class:`~hub.state.playbooks.PlaybookStore`):
    the SQLite file's path, the PostgreSQL URL, or ``None`` for a store in
    memory (which no other process sees)."""
    return url if is_postgres_url(url) else sqlite_path(url, base_dir)


def local_state_dir(url: str, base_dir: Path) -> Path | None:
    """Where this host keeps the files beside the state store (the delta
    runs' entity digests, the kept CSV columns): the SQLite file's directory,
    ``.hub/`` beside hub.toml for a PostgreSQL store, ``None`` in memory."""
    if is_postgres_url(url):
        return base_dir / ".hub"
    path = sqlite_path(url, base_dir)
    return None if path is None else path.parent


def sqlite_path(url: str, base_dir: Path) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL (relative paths relative to
    ``base_dir``), ``None`` for ``sqlite:///:memory:``.

    Raises :class:`~hub.errors.ConfigError` (key ``state.url``) for any other
    URL (a PostgreSQL one too: callers ask :func:`is_postgres_url` first);
    the URL itself is not repeated in the message (it may hold a password).
    """
    if not url.startswith(SQLITE_PREFIX) or url == SQLITE_PREFIX:
        scheme, sep, _ = url.partition("://")
        if not (sep and _SCHEME.fullmatch(scheme)):
            scheme = ""  # show nothing of what may be a password
        if scheme.lower() == "sqlite":
            what = "a SQLite URL is sqlite:/// followed by the path"
        elif is_postgres_url(url):
            what = "a PostgreSQL URL names no file"
        elif scheme:
            what = f"the {scheme!r} scheme is not supported"
        else:
            what = "not a state store URL"
        raise ConfigError(
            [
                Problem(
                    f"{what}: the state store is a SQLite file or a PostgreSQL database",
                    key="state.url",
                    expected=_EXPECTED,
                    hint="a path relative to hub.toml, e.g. sqlite:///.hub/state.db, or"
                    " postgresql://USER@HOST:5432/DATABASE (the password in HUB_STATE__URL"
                    " or PGPASSWORD)",
                )
            ]
        )
    rest = url[len(SQLITE_PREFIX) :]
    if rest == ":memory:":
        return None
    path = Path(rest)
    return path if path.is_absolute() else base_dir / path


def open_state_store(url: str, base_dir: Path) -> StateStore:
    """Open the state store at ``url`` (``[state] url`` of hub.toml).

    ``sqlite:///.hub/state.db`` is relative to ``base_dir`` (the directory of
    hub.toml), ``sqlite:////var/lib/hub/state.db`` absolute, and
    ``sqlite:///:memory:`` a private in-memory store (tests). The parent
    directory is created. ``postgresql://USER@HOST/DATABASE`` opens (and
    migrates) a PostgreSQL database (:mod:`hub.state.postgres`). Any other
    scheme is a :class:`~hub.errors.ConfigError`.
    """
    if is_postgres_url(url):
        from hub.state.postgres import PostgresStateStore

        return PostgresStateStore(url)
    from hub.state.sqlite import SqliteStateStore

    path = sqlite_path(url, base_dir)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteStateStore(path)


def state_file_problems(url: str, base_dir: Path) -> list[Problem]:
    """What keeps ``[state] url`` from being used, found without creating or
    changing anything: an unsupported URL, a file that is empty, corrupt, not
    SQLite, from a newer hub, or not writable, or a directory that cannot be
    created. ``hub validate`` reports these; sync refuses them the same way."""
    from hub.state.connection import check_state_file, state_error

    if is_postgres_url(url):
        from hub.state.postgres import database_problems

        return database_problems(url)
    try:
        path = sqlite_path(url, base_dir)
    except ConfigError as error:
        return list(error.problems)
    if path is None:
        return []
    try:
        check_state_file(path)
    except StateStoreError as error:
        return [error.problem]
    if not path.exists():
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            todo = "create it, make it writable, or point [state] url elsewhere"
            return [state_error(path, f"cannot be created in {parent}", todo).problem]
        return []
    return _schema_problems(path)


def _schema_problems(path: Path) -> list[Problem]:
    """The version and readability of an existing state file, read only."""
    import sqlite3

    from hub.state.connection import connect_read_only, sqlite_reason, state_error
    from hub.state.sqlite import SCHEMA_VERSION

    try:
        db = connect_read_only(path)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            db.close()
    except sqlite3.Error as error:
        return [state_error(path, *sqlite_reason(error)).problem]
    if version > SCHEMA_VERSION:
        return [
            state_error(
                path,
                f"has schema version {version}, this hub knows up to {SCHEMA_VERSION}",
                "upgrade the hub to the version that wrote it, or point [state] url elsewhere",
            ).problem
        ]
    return []
