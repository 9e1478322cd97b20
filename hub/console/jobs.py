"""Syncs the console starts (retry, run now), each in a thread of its own.

They run exactly as ``hub retry -d NAME`` and ``hub sync -d NAME`` do: through
:func:`hub.sync.sync`, which takes the destination's lock in the state store,
so a daemon's scheduled run, another console or a ``hub sync`` in a terminal
never send the same destination at once (a locked destination ends the job
with the lock holder named). One job per destination at a time in a console.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from hub.errors import ConfigError, StateStoreError

__all__ = ["Job", "Jobs"]

log = structlog.get_logger("hub.console")

#: Jobs kept for the overview page, newest first.
KEPT_JOBS = 50


@dataclass
class Job:
    """One retry or sync started from the console."""

    job_id: int
    action: str  # "retry" or "sync"
    destination: str
    started_at: datetime
    finished_at: datetime | None = None
    #: "running", "succeeded", "failed" (a record or run failed), "refused"
    #: (the destination is locked, the configuration is broken) or "error".
    status: str = "running"
    message: str | None = None
    #: Records made pending again (retry).
    reset: int | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "destination": self.destination,
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
            "job_id": self.job_id,
            "message": self.message,
            "reset": self.reset,
            "runs": self.runs,
            "started_at": self.started_at.isoformat(),
            "status": self.status,
        }


class Jobs:
    """The console's jobs, and the stop signal they honour (after the batch in flight)."""

    def __init__(self, config_path: Path) -> None:
        self._config = config_path
        self._lock = threading.Lock()
        self._jobs: deque[Job] = deque(maxlen=KEPT_JOBS)
        self._threads: dict[int, threading.Thread] = {}
        self._ids = itertools.count(1)
        self.stopping = threading.Event()

    def recent(self) -> list[Job]:
        with self._lock:
            return list(self._jobs)

    def get(self, job_id: int) -> Job | None:
        with self._lock:
            return next((job for job in self._jobs if job.job_id == job_id), None)

    def start(self, action: str, destination: str) -> Job:
        """Start ``action`` on ``destination``, or return the job already running it."""
        with self._lock:
            for job in self._jobs:
                if job.destination == destination and job.status == "running":
                    return job
            job = Job(next(self._ids), action, destination, datetime.now(UTC))
            self._jobs.appendleft(job)
            thread = threading.Thread(
                target=self._run, args=(job,), name=f"hub-console-{action}", daemon=True
            )
            self._threads[job.job_id] = thread
        log.info("console.job.started", job=job.job_id, action=action, destination=destination)
        thread.start()
        return job

    def stop(self, timeout: float) -> bool:
        """Ask running jobs to stop after their batch in flight; True when all did in time."""
        self.stopping.set()
        with self._lock:
            threads = list(self._threads.values())
        deadline = datetime.now(UTC).timestamp() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - datetime.now(UTC).timestamp()))
        return not any(thread.is_alive() for thread in threads)

    def _run(self, job: Job) -> None:
        from hub.reports import sync_summary
        from hub.state.locks import lock_owner
        from hub.sync import RunOptions, SyncBusy, sync

        try:
            if job.action == "retry":
                job.reset = _reset_failed(self._config, job.destination)
            runs = sync(
                self._config,
                RunOptions(
                    destinations=[job.destination],
                    should_stop=self.stopping.is_set,
                    lock_owner=lock_owner("hub-console"),
                ),
            )
            summary = sync_summary(runs)
            job.runs = summary["runs"]
            job.status = "succeeded" if summary["ok"] else "failed"
            job.message = next((run.message for run in runs if run.message), None)
        except SyncBusy as busy:
            job.status, job.message = "refused", str(busy)
        except ConfigError as error:
            job.status = "refused"
            job.message = "; ".join(str(problem) for problem in error.problems)
        except StateStoreError as error:
            job.status, job.message = "error", str(error.problem)
        except Exception as error:  # reported on the job's page, never lost
            log.exception("console.job.crashed", job=job.job_id)
            job.status, job.message = "error", f"{type(error).__name__}: {error}"
        finally:
            job.finished_at = datetime.now(UTC)
            with self._lock:
                self._threads.pop(job.job_id, None)
            log.info(
                "console.job.finished",
                job=job.job_id,
                action=job.action,
                destination=job.destination,
                status=job.status,
            )


def _reset_failed(config: Path, destination: str) -> int:
    """``hub retry``'s first step: the destination's failed records made pending."""
    from hub.config import load_settings
    from hub.sync import open_store

    settings = load_settings(config)
    store = open_store(settings, config.parent, read_only=False)
    try:
        return store.reset_failed(destination)
    finally:
        store.close()
