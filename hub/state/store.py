"""What the state store holds and the protocol every backend implements: record
states, runs, confirmations, failures (the backends, :mod:`hub.state.sqlite`,
build on this module; :mod:`hub.state` opens them)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from hub.contract.destination import BatchObject
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


@dataclass(frozen=True, slots=True)
class InputSnapshot:
    """What a destination's last complete run read (:mod:`hub.sync.inputs`)."""

    #: The run that read them (it succeeded, and no run of the destination followed).
    run_id: int
    #: The digest of the sources' files and settings, the mapping and the engine.
    token: str
    #: The same without the sources' bytes (the settings, mapping and engine).
    config: str
    #: Each source's file digest, by source name (``None``: a SQL source).
    files: Mapping[str, str | None]
    #: The name of the file of that load's entity digests (:mod:`hub.sync.delta`).
    digests: str | None
    #: How many events that load held (with none, the as-of time changes nothing).
    events: int
    #: The as-of time event windows ended at.
    as_of: datetime
    #: That run's planned counts, and its quarantined rows by source.
    planned: Mapping[str, int]
    quarantined: Mapping[str, int]


class StateStore(Protocol):
    """What the planner and the executor need from a state backend."""

    def get_many(
        self, destination: str, object: BatchObject, keys: Iterable[str]
    ) -> dict[str, RecordState]:
        """The state of each of ``keys`` that has one."""
        ...

    def end_states(
        self, destination: str, object: BatchObject, keys: Iterable[str]
    ) -> dict[str, tuple[bool, str | None]]:
        """For each of ``keys`` that has a state: whether the destination has
        the record (confirmed once, not deleted since) and its destination id.
        What the executor reads of link ends, a batch of links at a time."""
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

    def runs(
        self, destination: str | None = None, limit: int = 20, *, before: int | None = None
    ) -> list[RunInfo]:
        """The latest runs (older than run ``before``), newest first."""
        ...

    def run(self, run_id: int) -> RunInfo | None:
        """Run ``run_id``, or ``None`` when the store holds no such run."""
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

    def record_counts(self, destination: str) -> dict[str, dict[str, int]]:
        """``{object: {status: count}}`` of ``destination``'s records."""
        ...

    def owned_count(self, destination: str, object: BatchObject) -> int:
        """How many of ``destination``'s live (not deleted) records of
        ``object`` the hub created."""
        ...

    def unsettled(self, destination: str) -> int:
        """How many records a run would send again whatever the inputs (pending,
        or failed with an unknown refused payload)."""
        ...

    def input_snapshot(self, destination: str) -> InputSnapshot | None:
        """What the destination's last complete run read, if it is kept."""
        ...

    def input_snapshots(self) -> list[InputSnapshot]:
        """Every destination's kept snapshot."""
        ...

    def save_input_snapshot(self, destination: str, snapshot: InputSnapshot | None) -> None:
        """Keep (or, with ``None``, forget) the destination's input snapshot."""
        ...

    def quarantined(
        self, source: str | None = None, limit: int = 100
    ) -> tuple[list[QuarantinedRow], int, datetime | None]:
        """The latest load's quarantined rows, their count and when they were loaded."""
        ...

    def close(self) -> None: ...
