"""The state store: what each destination has confirmed, and the run history.

Per destination and record it keeps the fingerprint of the mapped payload the
destination *accepted*, the destination's id, the status, attempts and last
error. A fingerprint is written only after the destination confirmed the
record, so a run killed at any moment loses nothing: the next run re-sends
exactly what was not confirmed. Secrets never enter the store.

:class:`StateStore` is the interface; :mod:`hub.state.sqlite` is the embedded
default (SQLite, WAL, one transaction per batch). A PostgreSQL backend can
implement the same interface.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from hub.contract.destination import BatchObject
from hub.errors import ConfigError, Problem, StateStoreError
from hub.quarantine import QuarantinedRow


class RecordStatus(StrEnum):
    """Where a record stands with its destination."""

    #: Not confirmed yet (new, changed, or a retryable failure).
    PENDING = "pending"
    #: The destination accepted the payload whose fingerprint is stored.
    OK = "ok"
    #: Refused for good (a validation error); kept with its reason.
    FAILED = "failed"
    #: Deleted (mirror) or unlinked by the hub.
    DELETED = "deleted"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    #: Finished, but some records failed permanently or ran out of retries.
    PARTIAL = "partial"
    #: Stopped: a fatal error (bad credentials), a refused mass delete, a signal.
    FAILED = "failed"
    #: Found still "running" by a later run: the process died mid-run.
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class RecordState:
    """One record's state with one destination."""

    destination: str
    object: BatchObject
    key: str
    #: Fingerprint of the last payload the destination accepted, ``None`` if never.
    fingerprint: str | None
    destination_id: str | None
    status: RecordStatus
    attempts: int
    last_error: str | None
    #: True when the hub created the record (only those may be deleted or unlinked).
    created_by_hub: bool
    #: Fingerprint of the payload the destination refused for good (status
    #: ``failed``), ``None`` when unknown or not failed. The planner does not
    #: send that same payload again until its data changes or ``hub retry``.
    failed_fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class Confirmation:
    """A record the destination accepted."""

    key: str
    fingerprint: str
    destination_id: str | None
    #: True when this confirmation created the record (no destination id before).
    created: bool


@dataclass(frozen=True, slots=True)
class Failure:
    """A record the destination refused (permanent) or that is to be retried."""

    key: str
    #: Stored and shown as given: plugins must never put secrets (tokens,
    #: passwords, authorization headers) in a reason.
    reason: str
    permanent: bool
    #: Fingerprint of the payload that was refused (``PlannedItem.fingerprint``).
    #: Give it for permanent failures: the planner then holds the record back
    #: until its data changes (without it, the record is re-sent every run).
    fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: int
    destination: str
    mode: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    #: e.g. {"created": 10, "updated": 2, "failed": 1, "deleted": 0, "linked": 30, ...}
    counts: Mapping[str, int]
    #: Why the run stopped, for failed runs.
    message: str | None


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    run_id: int
    destination: str
    object: BatchObject
    key: str
    reason: str
    permanent: bool
    at: datetime


class StateStore(Protocol):
    """What the planner and the executor need from a state backend."""

    def get_many(
        self, destination: str, object: BatchObject, keys: Iterable[str]
    ) -> dict[str, RecordState]:
        """The state of each of ``keys`` that has one."""
        ...

    def iter_records(self, destination: str, object: BatchObject) -> Iterator[RecordState]:
        """Every record of ``object`` the store knows for ``destination``, by key."""
        ...

    def confirm(
        self,
        run_id: int,
        destination: str,
        object: BatchObject,
        confirmations: Sequence[Confirmation],
    ) -> None:
        """Record accepted payloads, in one transaction."""
        ...

    def fail(
        self, run_id: int, destination: str, object: BatchObject, failures: Sequence[Failure]
    ) -> None:
        """Record refusals (status ``failed`` when permanent, else stays ``pending``),
        counting attempts and keeping the error in the run's history, in one transaction."""
        ...

    def mark_deleted(
        self, run_id: int, destination: str, object: BatchObject, keys: Sequence[str]
    ) -> None:
        """Record deletions (or unlinks) the destination confirmed."""
        ...

    def start_run(self, destination: str, mode: str) -> int:
        """Open a run; marks runs of ``destination`` left ``running`` as ``interrupted``."""
        ...

    def finish_run(
        self, run_id: int, status: RunStatus, counts: Mapping[str, int], message: str | None = None
    ) -> None: ...

    def runs(self, destination: str | None = None, limit: int = 20) -> list[RunInfo]:
        """The latest runs, newest first."""
        ...

    def errors(
        self, run_id: int | None = None, destination: str | None = None, limit: int = 100
    ) -> list[ErrorInfo]:
        """Per-record errors of one run (default: each destination's latest with errors)."""
        ...

    def reset_failed(self, destination: str | None = None) -> int:
        """Make permanently failed records pending again (``hub retry``); returns how many."""
        ...

    def replace_quarantine(self, rows: Sequence[QuarantinedRow]) -> None:
        """Keep the rows the latest load quarantined, replacing the previous ones."""
        ...

    def quarantined(
        self, source: str | None = None, limit: int = 100
    ) -> tuple[list[QuarantinedRow], int, datetime | None]:
        """The latest load's quarantined rows, their count and when they were loaded."""
        ...

    def close(self) -> None: ...


def describe(value: Any) -> str:
    """A short, secret-free description of an error value for the store."""
    from hub.redaction import redact

    text = redact(str(value))
    return text if len(text) <= 500 else text[:497] + "..."


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,30}")

#: The URL scheme of the embedded SQLite store.
SQLITE_PREFIX = "sqlite:///"


def sqlite_path(url: str, base_dir: Path) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL (relative paths relative to
    ``base_dir``), ``None`` for ``sqlite:///:memory:``.

    Raises :class:`~hub.errors.ConfigError` (key ``state.url``) for any other
    URL; the URL itself is not repeated in the message (it may hold a password).
    """
    if not url.startswith(SQLITE_PREFIX) or url == SQLITE_PREFIX:
        scheme, sep, _ = url.partition("://")
        if not (sep and _SCHEME.fullmatch(scheme)):
            scheme = ""  # show nothing of what may be a password
        if scheme.lower() == "sqlite":
            what = "a SQLite URL is sqlite:/// followed by the path"
        elif scheme:
            what = f"the {scheme!r} scheme is not supported"
        else:
            what = "not a state store URL"
        raise ConfigError(
            [
                Problem(
                    f"{what}: only SQLite state stores are built in",
                    key="state.url",
                    expected="sqlite:///PATH",
                    hint="a path relative to hub.toml, e.g. sqlite:///.hub/state.db",
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
    directory is created. Any other scheme is a :class:`~hub.errors.ConfigError`.
    """
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
