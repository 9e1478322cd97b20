"""``hub daemon``: the configured syncs, on their schedules, unattended.

One :class:`Daemon` per process. Its main thread keeps time, watches the
configuration and handles signals; each due sync runs in a worker thread of
its own (one run per sync at a time), calling :func:`hub.sync.sync` for the
sync's destinations.

- **Schedules** (``[schedules.NAME]``): an interval or a cron expression, with
  jitter (:mod:`hub.schedules`). When each sync last started is kept in the
  state store, so after a downtime the sync is simply overdue and runs once.
- **Locks**: before a run, the daemon locks ``destination:NAME`` for every
  destination of the sync in the state store (:mod:`hub.state.locks`), all or
  none; a heartbeat renews them every third of ``lock_ttl``. Another daemon
  sharing the store skips a locked sync and tries again later. A crashed
  daemon's locks expire after ``lock_ttl``. A daemon that finds its lock taken
  over (it froze for longer than ``lock_ttl``) stops that run after the batch
  in flight.
- **Stopping** (SIGTERM, SIGINT): no new run starts; running syncs are asked
  to stop after their batch in flight (``should_stop``), whose state is then
  written; the daemon exits 0 once they have, or 1 after ``stop_timeout``
  (the batches still in flight are then not confirmed and are sent again by
  the next run). A second signal stops waiting at once.
- **Reloading** (SIGHUP, or a change to hub.toml or a mapping file, polled
  every ``reload_interval``): the new configuration is validated in full
  (:func:`hub.config.validate.load_project`); a broken one is logged with every
  problem and the previous one keeps running. Running syncs finish with the
  configuration they started with.
- **Observability**: structured logs, ``/healthz`` and ``/metrics``
  (:mod:`hub.observability`), alerts (:mod:`hub.alerts`).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from hub.alerts import Alerter
from hub.config import Project
from hub.config.settings import HubSettings, ScheduleSettings
from hub.config.watch import ConfigWatcher
from hub.console import ConsoleApp, console_problem
from hub.contract.plugins import Plugins, load_plugins
from hub.contract.ratelimit import BudgetRegistry
from hub.errors import ConfigError, Problem
from hub.observability import (
    Metrics,
    ObservabilityServer,
    health_document,
    iso_time,
    parse_listen,
)
from hub.schedules import Schedule
from hub.state import RunStatus, state_database
from hub.state.budgets import open_ledger
from hub.state.locks import LockHeartbeat, SyncLocks, lock_owner

__all__ = ["Daemon", "SyncStatus"]

log = structlog.get_logger("hub.daemon")

#: Run statuses from the worst; a sync's status is its worst destination's.
_WORST_FIRST = ("error", "failed", "interrupted", "partial", "succeeded")
#: Destination run statuses that count as a completed sync (health).
_COMPLETED = frozenset({RunStatus.SUCCEEDED, RunStatus.PARTIAL})


# -- state -----------------------------------------------------------------------


@dataclass(slots=True)
class SyncStatus:
    """One scheduled sync, as the daemon sees it."""

    name: str
    settings: ScheduleSettings
    schedule: Schedule
    next_due: float
    last_started: float | None = None
    last_finished: float | None = None
    last_status: str | None = None
    last_message: str | None = None
    #: When the sync last completed (every destination succeeded or partial).
    last_success: float | None = None
    runs: int = 0
    worker: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.is_alive()

    def period(self, now: float) -> float:
        """The schedule's period around ``now`` (for health)."""
        return self.schedule.period(now)

    def describe(self) -> str:
        return self.schedule.describe()


@dataclass(slots=True)
class _Held:
    locks: SyncLocks
    names: list[str]
    heartbeat: LockHeartbeat

    @property
    def lost(self) -> threading.Event:
        return self.heartbeat.lost


class Daemon:
    """The scheduled sync daemon for the project at ``config_path``.

    The configuration is loaded (and fully validated) on construction: a
    :class:`~hub.errors.ConfigError` lists every problem. :meth:`run` blocks
    until a stop is requested (a signal, or :meth:`request_stop`).

    ``clock`` (epoch seconds) and ``rng`` are injectable for tests;
    ``install_signals`` is false when embedding the daemon off the main thread.
    """

    def __init__(
        self,
        config_path: Path,
        *,
        plugins: Plugins | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        install_signals: bool = True,
    ) -> None:
        self.config_path = config_path
        self.plugins = plugins or load_plugins()
        self.clock = clock
        self.rng = rng or random.Random()
        self.install_signals = install_signals
        self.owner = lock_owner(f"daemon-{uuid.uuid4().hex[:8]}")
        self.started_at = clock()
        self.syncs: dict[str, SyncStatus] = {}
        self.server: ObservabilityServer | None = None
        self.console: ConsoleApp | None = None
        #: Every problem of the last reload that failed (``None``: the files on
        #: disk are the configuration running).
        self.config_problems: list[str] | None = None
        self.config_loaded_at: float = 0.0
        #: True when :meth:`run` returned with syncs still running (stop timeout).
        self.abandoned = False
        self._mutex = threading.RLock()
        self._stop = threading.Event()
        self._force = threading.Event()
        self._wake = threading.Event()
        self._reload_requested = threading.Event()
        self._held: dict[str, _Held] = {}
        self._stores: dict[Path | str | None, SyncLocks] = {}
        self._stop_reason: str | None = None
        self.metrics = Metrics(self._last_success_samples)
        project = self._load()
        self.project = project
        # Rate-limit waits wake on a stop, and a wait past sync.max_retry_after
        # ends the run rate-limited instead of holding the lock for hours.
        # On a PostgreSQL state, the credentials' budgets are the fleet's
        # (hub.state.budgets): kept in the database the daemon starts with.
        self._ledger = open_ledger(project.settings.state.url)
        self.budgets = BudgetRegistry(
            sleep=self._sleep,
            max_wait=project.settings.sync.max_retry_after,
            should_stop=self._stop.is_set,
            ledger=self._ledger,
        )
        self._locks = self._store_for(project)
        self.alerter = Alerter(
            project.settings.daemon.alerts, clock=clock, on_result=self.metrics.alert_result
        )
        self._apply(project)
        self._watcher = ConfigWatcher(config_path, project)

    # -- configuration ---------------------------------------------------------

    @property
    def settings(self) -> HubSettings:
        return self.project.settings

    def _load(self) -> Project:
        from hub.config.validate import load_project
        from hub.playbooks import PLAYBOOK_CHECKS

        project = load_project(
            self.config_path,
            destination_types=self.plugins.destinations.types(),
            checks=PLAYBOOK_CHECKS,
        )
        if not any(s.enabled for s in project.settings.schedules.values()):
            raise ConfigError(
                [
                    Problem(
                        "no enabled schedule: the daemon has nothing to run",
                        file=str(self.config_path),
                        key="schedules",
                        expected="at least one [schedules.NAME] table",
                        hint='e.g. [schedules.crm] destinations = ["crm"], interval = "15m"',
                    )
                ]
            )
        return project

    def _store_for(self, project: Project) -> SyncLocks:
        path = state_database(project.settings.state.url, project.base_dir)
        if path not in self._stores:
            if path is None:
                log.warning(
                    "state.in_memory",
                    message="an in-memory state store: locks and schedule marks are"
                    " not shared with other processes nor kept across restarts",
                )
            self._stores[path] = SyncLocks(path, clock=self.clock)
        return self._stores[path]

    def _apply(self, project: Project) -> None:
        """Make ``project`` the running configuration: schedules added, changed
        (their next due time recomputed) or removed; runs in progress go on."""
        old = self.project.settings if self.syncs else None
        self.project = project
        self.config_loaded_at = self.clock()
        self._locks = self._store_for(project)
        self.alerter.update(project.settings.daemon.alerts)
        if old is not None and old.daemon.listen != project.settings.daemon.listen:
            log.warning(
                "config.listen_changed",
                message="daemon.listen changed: restart the daemon to apply it",
                listen=old.daemon.listen,
            )
        now = self.clock()
        wanted = {name: s for name, s in project.settings.schedules.items() if s.enabled}
        with self._mutex:
            for name in list(self.syncs):
                if name not in wanted:
                    del self.syncs[name]
            for name, settings in wanted.items():
                existing = self.syncs.get(name)
                if existing is not None and existing.settings == settings:
                    continue
                schedule = settings.schedule()
                if existing is None:
                    mark = self._locks.mark(name)
                    existing = SyncStatus(name, settings, schedule, next_due=now)
                    if mark is not None:
                        existing.last_started = mark.last_started
                        existing.last_finished = mark.last_finished
                        existing.last_status = mark.last_status
                        existing.last_success = mark.last_success
                    self.syncs[name] = existing
                existing.settings = settings
                existing.schedule = schedule
                existing.next_due = schedule.next_due(existing.last_started, now, self.rng)

    def reload(self, reason: str) -> bool:
        """Load the configuration again; keep the running one if the new one is
        broken (every problem logged). True when the new one was applied."""
        try:
            project = self._load()
        except ConfigError as error:
            self.config_problems = [str(problem) for problem in error.problems]
            self.metrics.reloads.labels("failed").inc()
            log.error(
                "config.reload_failed",
                reason=reason,
                problem_count=len(error.problems),
                problems=self.config_problems,
                message="the new configuration is broken; the previous one keeps running",
            )
            return False
        except Exception as error:
            self.config_problems = [f"{type(error).__name__}: {error}"]
            self.metrics.reloads.labels("failed").inc()
            log.exception("config.reload_failed", reason=reason, problems=self.config_problems)
            return False
        self._apply(project)
        self.config_problems = None
        self.metrics.reloads.labels("ok").inc()
        log.info(
            "config.reloaded",
            reason=reason,
            syncs={name: s.describe() for name, s in sorted(self.syncs.items())},
        )
        return True

    def _check_files(self) -> None:
        changed = self._watcher.changed(self.project)
        if changed:
            taken = self._watcher.seen  # stamped before the reload reads the files
            self.reload(f"changed: {', '.join(changed)}")
            # The files a new configuration names are watched from now on; an
            # edit made while the reload ran still counts as a change.
            self._watcher.reset(self.project, taken)

    # -- health ------------------------------------------------------------------

    def _last_success_samples(self) -> Iterator[tuple[str, float | None, float]]:
        now = self.clock()
        with self._mutex:
            syncs = list(self.syncs.values())
        for status in syncs:
            reference = status.last_success or self.started_at
            yield status.name, status.last_success, max(0.0, now - reference)

    def health(self) -> tuple[bool, dict[str, Any]]:
        """``(healthy, document)`` for ``/healthz`` (see
        :func:`hub.observability.health_document`)."""
        with self._mutex:
            syncs = list(self.syncs.values())
        return health_document(
            syncs,
            now=self.clock(),
            started_at=self.started_at,
            unhealthy_after=self.settings.daemon.unhealthy_after,
            header={
                "pid": os.getpid(),
                "owner": self.owner,
                "started_at": iso_time(self.started_at),
                "stopping": self._stop.is_set(),
                "config": {
                    "path": str(self.config_path),
                    "loaded_at": iso_time(self.config_loaded_at),
                    "problems": self.config_problems or [],
                },
            },
        )

    # -- control -----------------------------------------------------------------

    def fleet(self) -> dict[str, Any]:
        """``/fleet``: :func:`hub.reports.fleet_report` of the running configuration."""
        from hub.reports import fleet_report

        return fleet_report(self.project.settings, self.project.base_dir, locks=self._locks)

    def _open_console(self, host: str) -> ConsoleApp | None:
        """The web console under ``/console`` on the daemon's port, unless
        ``[console] in_daemon`` is false or the port is beyond loopback with
        no console token (then it is off, and the log says why)."""
        settings = self.settings.console
        if not settings.in_daemon:
            return None
        problem = console_problem(self.settings.daemon.listen, settings.token)
        if problem is not None:
            log.warning("console.off", reason=str(problem), hint=problem.hint)
            return None
        return ConsoleApp(
            self.config_path, listen_host=host, settings=self.settings, locks=lambda: self._locks
        )

    def request_stop(self, reason: str = "requested") -> None:
        """Stop: no new run; running syncs stop after their batch in flight.
        A second request stops waiting for them."""
        if self._stop.is_set():
            self._force.set()
        else:
            self._stop_reason = reason
            self._stop.set()
        self._wake.set()

    def request_reload(self) -> None:
        self._reload_requested.set()
        self._wake.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if signum == getattr(signal, "SIGHUP", None):
            self.request_reload()
        else:
            self.request_stop(name)

    def _install_signals(self) -> dict[int, Any]:
        previous: dict[int, Any] = {}
        if not self.install_signals or threading.current_thread() is not threading.main_thread():
            return previous
        wanted = [signal.SIGTERM, signal.SIGINT]
        if hasattr(signal, "SIGHUP"):
            wanted.append(signal.SIGHUP)
        for signum in wanted:
            previous[signum] = signal.signal(signum, self._on_signal)
        return previous

    # -- the main loop --------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped; the exit code: 0 after a clean stop, 1 when syncs
        were still running after ``stop_timeout``."""
        previous = self._install_signals()
        try:
            listen = self.settings.daemon.listen
            if listen:
                host, port = parse_listen(listen)
                self.console = self._open_console(host)
                self.server = ObservabilityServer(
                    host,
                    port,
                    self.metrics,
                    self.health,
                    fleet=self.fleet,
                    console=None if self.console is None else self.console.app,
                )
                self.server.start()
            address = self.server.address if self.server else None
            log.info(
                "daemon.started",
                config=str(self.config_path),
                pid=os.getpid(),
                owner=self.owner,
                listen=f"{address[0]}:{address[1]}" if address else None,
                syncs={name: s.describe() for name, s in sorted(self.syncs.items())},
            )
            self._loop()
            return self._shutdown()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _loop(self) -> None:
        next_check = time.monotonic()
        while not self._stop.is_set():
            interval = self.settings.daemon.reload_interval
            if self._reload_requested.is_set():
                self._reload_requested.clear()
                taken = self._watcher.signature(self.project)
                self.reload("SIGHUP")
                self._watcher.reset(self.project, taken)
            elif interval and time.monotonic() >= next_check:
                self._check_files()
                next_check = time.monotonic() + interval
            now = self.clock()
            wait = 60.0
            with self._mutex:
                for status in self.syncs.values():
                    if status.worker is not None and not status.worker.is_alive():
                        status.worker = None
                    if status.worker is not None:
                        continue
                    if now >= status.next_due:
                        self._launch(status)
                    else:
                        wait = min(wait, status.next_due - now)
            if interval:
                wait = min(wait, max(0.0, next_check - time.monotonic()))
            self._wake.wait(max(0.01, wait))
            self._wake.clear()

    def _launch(self, status: SyncStatus) -> None:
        project = self.project
        thread = threading.Thread(
            target=self._run_sync,
            args=(status, project),
            name=f"hub-sync-{status.name}",
            daemon=True,
        )
        status.worker = thread
        thread.start()

    def _shutdown(self) -> int:
        with self._mutex:
            running = [s for s in self.syncs.values() if s.worker is not None]
        workers = [s.worker for s in running if s.worker is not None and s.worker.is_alive()]
        timeout = self.settings.daemon.stop_timeout
        log.info(
            "daemon.stopping",
            reason=self._stop_reason,
            running=sorted(s.name for s in running if s.worker in workers),
            stop_timeout=timeout,
        )
        deadline = time.monotonic() + timeout
        if self.console is not None:  # syncs started from the console: the same stop
            self.console.jobs.stop(timeout)
        for worker in workers:
            while worker.is_alive() and time.monotonic() < deadline and not self._force.is_set():
                worker.join(0.05)
        still = [worker.name for worker in workers if worker.is_alive()]
        code = 0
        if still:
            self.abandoned = True
            code = 1
            log.error(
                "daemon.stop_timeout",
                still_running=still,
                message="syncs did not stop in time; their batches in flight are not"
                " confirmed and the next run sends them again",
            )
        for store in self._stores.values():
            try:
                store.release_all(self.owner)
            except Exception:
                log.exception("lock.release_failed")
        if self.server is not None:
            self.server.stop()
        self.alerter.close()
        if not still:
            for store in self._stores.values():
                store.close()
            if self._ledger is not None:
                self._ledger.close()
        log.info("daemon.stopped", exit_code=code)
        return code

    # -- one run -------------------------------------------------------------------

    def _destinations(self, status: SyncStatus, project: Project) -> list[str]:
        enabled = set(project.mappings)
        wanted = status.settings.destinations
        if wanted is None:
            return sorted(enabled)
        disabled = [name for name in wanted if name not in enabled]
        if disabled:
            log.warning("sync.disabled_destinations", sync=status.name, destinations=disabled)
        return [name for name in wanted if name in enabled]

    def _sleep(self, seconds: float) -> None:
        """The executor's backoff sleep, cut short by a stop request."""
        self._stop.wait(seconds)

    def _run_sync(self, status: SyncStatus, project: Project) -> None:
        structlog.contextvars.bind_contextvars(sync=status.name)
        try:
            self._run_sync_locked(status, project)
        except Exception:
            log.exception("sync.crashed")
            status.next_due = status.schedule.next_due(self.clock(), self.clock(), self.rng)
        finally:
            self._wake.set()

    def _run_sync_locked(self, status: SyncStatus, project: Project) -> None:
        name = status.name
        destinations = self._destinations(status, project)
        now = self.clock()
        if not destinations:
            log.warning("sync.no_destinations", message="no enabled destination to run")
            status.last_started = now
            status.next_due = status.schedule.next_due(now, now, self.rng)
            return
        locks = self._locks
        lock_names = [f"destination:{d}" for d in destinations]
        ttl = project.settings.daemon.lock_ttl
        acquired, holders = locks.acquire(lock_names, self.owner, ttl)
        if not acquired:
            self.metrics.skipped.labels(name, "locked").inc()
            mark = locks.mark(name)
            if mark is not None:
                status.last_started = mark.last_started or status.last_started
                status.last_success = mark.last_success or status.last_success
            retry = min(max(status.schedule.period(now) / 10, 1.0), 30.0)
            status.next_due = max(
                status.schedule.next_due(status.last_started, now, self.rng), now + retry
            )
            log.info(
                "sync.locked",
                holders={holder.name: holder.owner for holder in holders},
                retry_at=iso_time(status.next_due),
            )
            return
        mark = locks.mark(name)
        if (
            mark is not None
            and mark.last_started is not None
            and (status.last_started is None or mark.last_started > status.last_started)
        ):
            # Another daemon sharing the store ran this sync since we last did:
            # the schedule counts from its run.
            status.last_started = mark.last_started
            status.last_success = mark.last_success or status.last_success
            due = status.schedule.next_due(mark.last_started, now, self.rng)
            if due > now:
                locks.release(lock_names, self.owner)
                status.next_due = due
                self.metrics.skipped.labels(name, "ran_elsewhere").inc()
                log.info("sync.ran_elsewhere", next_due=iso_time(due))
                return
        for holder in holders:
            log.warning(
                "lock.taken_over",
                lock=holder.name,
                previous_owner=holder.owner,
                expired_at=iso_time(holder.expires_at),
            )
        heartbeat = LockHeartbeat(
            locks,
            lock_names,
            self.owner,
            project.settings.daemon.lock_ttl,
            on_lost=lambda lost: log.error(
                "lock.lost",
                sync=name,
                locks=lost,
                message="another process took the lock over; this run stops"
                " after its batch in flight",
            ),
        )
        entry = _Held(locks, lock_names, heartbeat)
        with self._mutex:
            self._held[name] = entry
        started = self.clock()
        late = started - status.next_due
        status.last_started = started
        status.runs += 1
        self.metrics.running.labels(name).set(1)
        log.info(
            "sync.started",
            destinations=destinations,
            late_seconds=round(max(0.0, late), 3),
            catch_up=late > status.schedule.period(started),
        )
        runs: list[Any] = []
        error: str | None = None
        try:
            locks.mark_started(name, started)
            runs = self._call_sync(project, destinations, entry)
        except ConfigError as problem:
            error = "; ".join(str(p) for p in problem.problems)
            log.error("sync.config_error", problems=[str(p) for p in problem.problems])
        except Exception as failure:
            error = f"{type(failure).__name__}: {failure}"
            log.exception("sync.error")
        finally:
            with self._mutex:
                self._held.pop(name, None)
            heartbeat.stop()
            try:
                locks.release(lock_names, self.owner)
            except Exception:
                log.exception("lock.release_failed")
            self.metrics.running.labels(name).set(0)
        finished = self.clock()
        self._conclude(status, locks, destinations, runs, error, started, finished)
        if error is None and project.settings.playbooks.paths:
            self._run_playbooks(project)

    def _run_playbooks(self, project: Project) -> None:
        """Playbooks, after a successful sync (their destination ids are fresh)."""

        from hub.playbooks import open_playbook_store, run_resolution
        from hub.sync import open_store
        from hub.sync.pipeline import resolve

        try:
            resolution = resolve(
                self.config_path, project=project, plugins=self.plugins, project_destinations=False
            )
            store = open_playbook_store(project.settings, project.base_dir, read_only=False)
            sync_store = open_store(project.settings, project.base_dir, read_only=True)
            try:
                report = run_resolution(
                    resolution, store, lambda: datetime.now(UTC), sync_store=sync_store
                )
            finally:
                store.close()
                sync_store.close()
            log.info("playbooks.finished", counts=report.counts(), errors=report.errors)
        except ConfigError as problem:
            log.error("playbooks.config_error", problems=[str(p) for p in problem.problems])
        except Exception:
            log.exception("playbooks.error")

    def _call_sync(self, project: Project, destinations: list[str], entry: _Held) -> list[Any]:
        from hub.sync import RunOptions, sync

        options = RunOptions(
            destinations=destinations,
            budgets=self.budgets,
            should_stop=lambda: self._stop.is_set() or entry.heartbeat.expired(),
            sleep=self._sleep,
        )
        # The loaded project, not hub.toml again: the daemon keeps running its
        # last good configuration even while the files on disk are broken.
        return sync(self.config_path, options, plugins=self.plugins, project=project)

    def _conclude(
        self,
        status: SyncStatus,
        locks: SyncLocks,
        destinations: list[str],
        runs: list[Any],
        error: str | None,
        started: float,
        finished: float,
    ) -> None:
        name = status.name
        stopping = self._stop.is_set()
        statuses: list[str] = []
        if runs and runs[0].quarantined:
            by_source = dict(runs[0].quarantined)
            self.metrics.record_quarantine(name, by_source)
            log.warning(
                "sources.quarantined",
                rows=sum(by_source.values()),
                by_source=by_source,
                message="hub errors --quarantine lists them with their file:line and reason",
            )
        for run in runs:
            run_status = run.status.value
            statuses.append(run_status)
            self.metrics.record_run(
                name, run.destination, run_status, run.counts, run.rate_wait_seconds
            )
            rejected = run.counts.get("failed", 0)
            sent = run.counts.get("sent", 0)
            event = log.info if run.status is RunStatus.SUCCEEDED else log.warning
            event(
                "run.finished",
                destination=run.destination,
                run_id=run.run_id,
                status=run_status,
                message=run.message,
                counts={k: v for k, v in sorted(run.counts.items()) if v},
                rate_wait_seconds=round(run.rate_wait_seconds, 3),
            )
            stopped_by_us = stopping and run.status is RunStatus.FAILED
            self.alerter.run_finished(
                name,
                run.destination,
                run_status,
                message=run.message,
                run_id=run.run_id,
                rejected=rejected,
                sent=sent,
                failed=run.status in (RunStatus.FAILED, RunStatus.INTERRUPTED)
                and not stopped_by_us,
            )
        if error is not None:
            statuses.append("error")
            for destination in destinations:
                self.metrics.runs.labels(name, destination, "error").inc()
            self.alerter.run_finished(name, None, "error", message=error, failed=True)
        overall = min(statuses, key=_WORST_FIRST.index) if statuses else "error"
        success = error is None and bool(runs) and all(run.status in _COMPLETED for run in runs)
        self.metrics.run_seconds.labels(name).inc(max(0.0, finished - started))
        try:
            status.last_finished = finished
            status.last_status = overall
            status.last_message = error or next((r.message for r in runs if r.message), None)
            if success:
                status.last_success = finished
            locks.mark_finished(name, finished, overall, success=success)
        finally:
            status.next_due = status.schedule.next_due(started, self.clock(), self.rng)
            (log.info if success else log.warning)(
                "sync.finished",
                status=overall,
                seconds=round(finished - started, 3),
                next_due=iso_time(status.next_due),
            )
