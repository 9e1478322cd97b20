"""A sync: resolve the projections, plan each destination against the state
store, and carry the plan out.

:func:`sync` is what ``hub sync`` (and later the daemon) runs; :func:`plan`
is its dry run for ``hub plan``, writing nothing at all. For each destination,
in name order:

1. its settings are validated by its plugin's settings model and its mode
   checked against the ``sync_modes`` capability, for every destination before
   anything runs (a :class:`~hub.errors.ConfigError` listing every problem,
   keyed ``destinations.NAME.settings.X`` / ``destinations.NAME.mode``);
2. a run is opened in the state store (a run still ``running`` from a killed
   process becomes ``interrupted``);
3. the projection is streamed by the columnar engine
   (:func:`hub.engine.project.stream`) and each chunk is
   planned against the store (only what changed,
   :class:`~hub.sync.planner.DestinationPlanner`) and sent right away
   (:func:`hub.sync.executor.execute_stream`), the state written after every
   batch; deletes and unlinks are planned once the whole projection went by.
   So a sync holds one chunk of the projection at a time (plus the data set
   and the engine's tables), not the whole projection nor the whole plan;
4. the destination is built by its type's factory, with the credential's
   shared rate budget, when its first batch is ready (nothing to send:
   nothing is built, no request made);
5. the run is finished with its counts and status.

:func:`sync` takes the data set from the sources, or ready-made (``dataset=``,
the benchmarks' seam: no source is read). ``hub plan`` (:func:`plan`) still
resolves whole projections and plans them whole, to report every item.

**Statuses.** ``succeeded``: everything planned was confirmed (links skipped
because an end failed for good in an earlier run are counted in
``skipped.link_end_missing``, not failed again). ``partial``: some records
failed for good in this run or ran out of retries (those stay pending and are
retried next run). ``failed``: a fatal error (bad credentials: the message
names the setting), a stop request, an unexpected plugin error, or a refused
mass delete. Other destinations go on after a failed one.

**Refused mass deletes.** When the planner's delete guard trips (mirror mode,
the source came back empty or the delete share is over ``max_delete_share``,
or any deletes or unlinks at all while the sources quarantined rows this run),
the creates, updates and links still go out, every delete and unlink is held
back (``skipped.delete_guard`` in the counts), and the run is ``failed`` with
the guard's message, so ``hub sync`` exits non-zero until someone looks, and
re-runs with ``--force-delete`` if the deletes are meant.

**Interrupt safety.** The state is written per batch, only after the
destination confirmed it; a run killed at any point (SIGKILL included) loses
nothing, and the next run re-plans from the state and sends exactly what was
not confirmed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from hub.config import TomlDocument, read_toml
from hub.config.mapping import Mapping as MappingFile
from hub.config.settings import DestinationSettings, HubSettings
from hub.config.validate import Project
from hub.contract.capabilities import IdentityKey, SyncMode
from hub.contract.destination import (
    BatchObject,
    Destination,
    DestinationContext,
    FatalDestinationError,
)
from hub.contract.plugins import DestinationType, Plugins, load_plugins
from hub.contract.ratelimit import BudgetRegistry
from hub.errors import ConfigError, Problem, StateStoreError
from hub.model import Dataset

if TYPE_CHECKING:
    from hub.sources.frame import Frame
from hub.projections.destination import ProjectionError
from hub.projections.resolver import collection_paused
from hub.records import AccountsChunk, ContactsChunk, LinksChunk, ProjectionChunk
from hub.redaction import register_settings
from hub.sources.cache import ColumnsCache, KnownFile
from hub.state import (
    InputSnapshot,
    RunStatus,
    StateStore,
    is_postgres_url,
    local_state_dir,
    open_state_store,
    sqlite_path,
    state_database,
)
from hub.state.budgets import DatabaseLedger, open_ledger
from hub.state.locks import LockHeartbeat, LockHolder, SyncLocks
from hub.sync.delta import (
    DeltaScope,
    Subjects,
    load_digests,
    neighbourhood,
    prune,
    reach,
    save_digests,
    scope,
    shifted,
    windows,
)
from hub.sync.executor import ExecutionSummary, execute_stream
from hub.sync.inputs import (
    SourceFiles,
    carried_plan,
    config_token,
    delta_base,
    skippable,
    snapshot_for,
    token,
)
from hub.sync.pipeline import (
    Resolution,
    capabilities_of,
    open_project,
    resolve,
    resolve_as_of,
    selected_destinations,
)
from hub.sync.planner import (
    DestinationPlan,
    DestinationPlanner,
    PlannedItem,
    plan_destination,
)

__all__ = [
    "DestinationRun",
    "PlanReport",
    "RunOptions",
    "SyncProgress",
    "check_destinations",
    "open_store",
    "plan",
    "plan_totals",
    "sync",
    "unchanged",
]

log = logging.getLogger(__name__)

#: Count of the deletes and unlinks a tripped delete guard held back.
DELETE_GUARD_SKIPPED = "skipped.delete_guard"


def match_chains(mapping: MappingFile) -> dict[BatchObject, list[IdentityKey]]:
    """The mapping's match chain per kind of record sent (contacts: the
    membership contacts' when they are enabled, else the users')."""
    contacts = mapping.membership_contacts if mapping.membership_contacts.enabled else mapping.users
    return {BatchObject.ACCOUNT: mapping.accounts.match, BatchObject.CONTACT: contacts.match}


def unchanged(plan_counts: Mapping[str, int]) -> int:
    """Records and links a plan left alone because the destination has them as they are."""
    return sum(count for key, count in plan_counts.items() if key.endswith(".unchanged"))


def plan_totals(plan_counts: Mapping[str, int]) -> dict[str, int]:
    """A plan's counts summed over object kinds: ``create``, ``update``,
    ``unchanged``, ``delete``, ``link``, ``unlink``, ``failed`` (held back)."""
    totals = dict.fromkeys(
        ("create", "update", "unchanged", "delete", "link", "unlink", "failed"), 0
    )
    for key, count in plan_counts.items():
        kind, _, what = key.partition(".")
        if kind in ("account", "contact", "link") and what in totals:
            totals[what] += count
    return totals


#: ``progress(destination, done, total)``: how each destination's run advances,
#: in records examined out of the most the projection can hold (known before
#: the first batch); called as chunks are planned and sent (the CLI draws bars).
SyncProgress = Callable[[str, int, int], None]


@dataclass(slots=True)
class DestinationRun:
    """What a sync did for one destination.

    ``counts`` are the run's counts as stored in the state store: the
    executor's (see :class:`~hub.sync.executor.ExecutionSummary`) plus ``unchanged``
    from the plan, and ``skipped.delete_guard`` when deletes were held back.
    """

    destination: str
    type: str
    mode: SyncMode
    #: The state store's run id; ``None`` for a dry run.
    run_id: int | None
    status: RunStatus
    #: Why the run failed or is partial (a fatal error names the setting to fix).
    message: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    #: What the plan counted (see :class:`~hub.sync.planner.DestinationPlan`).
    planned: dict[str, int] = field(default_factory=dict)
    rate_wait_seconds: float = 0.0
    rate_waits: int = 0
    #: Contract violations noticed in the plugin's results.
    plugin_errors: list[str] = field(default_factory=list)
    #: Rows the sources quarantined in this run's load, by source (the same
    #: for every destination of one sync; ``hub errors --quarantine`` lists them).
    quarantined: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the run succeeded."""
        return self.status is RunStatus.SUCCEEDED


@dataclass(slots=True)
class PlanReport:
    """What :func:`plan` found: the resolution and each destination's plan."""

    resolution: Resolution
    plans: dict[str, DestinationPlan]


# -- checking destinations -------------------------------------------------------


def _problem(
    document: TomlDocument | None,
    path: tuple[str | int, ...],
    message: str,
    *,
    expected: str | None = None,
    hint: str | None = None,
    file: str,
) -> Problem:
    if document is not None:
        return document.problem(path, message, expected=expected, hint=hint, at_value=True)
    return Problem(
        message,
        file=file,
        key=".".join(str(p) for p in path),
        expected=expected,
        hint=hint,
    )


def check_destinations(
    project: Project, plugins: Plugins, config_path: Path, names: list[str], *, need_factory: bool
) -> dict[str, BaseModel]:
    """Validate each destination's plugin settings and mode; the validated
    settings by destination name, or a :class:`ConfigError` listing every problem."""
    document, _ = read_toml(config_path)
    problems: list[Problem] = []
    validated: dict[str, BaseModel] = {}
    for name in names:
        settings = project.settings.destinations[name]
        destination_type = plugins.destinations[settings.type]
        capabilities = destination_type.capabilities
        if need_factory and destination_type.factory is None:
            problems.append(
                _problem(
                    document,
                    ("destinations", name, "type"),
                    f"destination type {settings.type!r} can be previewed but not synced"
                    " (its plugin registers no factory)",
                    hint="upgrade the plugin, or set enabled = false",
                    file=str(config_path),
                )
            )
        if settings.mode not in capabilities.sync_modes:
            supported = sorted(mode.value for mode in capabilities.sync_modes)
            problems.append(
                _problem(
                    document,
                    ("destinations", name, "mode"),
                    f"capability sync_modes: destination type {settings.type!r}"
                    f" does not support mode {settings.mode.value!r}",
                    expected="one of: " + ", ".join(supported),
                    file=str(config_path),
                )
            )
        try:
            validated[name] = destination_type.settings_model.model_validate(settings.settings)
            register_settings(validated[name])
        except ValidationError as error:
            for item in error.errors(include_url=False):
                path = ("destinations", name, "settings", *item["loc"])
                # The value is not repeated: plugin settings hold secrets.
                problems.append(_problem(document, path, item["msg"], file=str(config_path)))
    if problems:
        raise ConfigError(problems)
    return validated


# -- the state store ----------------------------------------------------------------


def open_store(settings: HubSettings, base_dir: Path, *, read_only: bool = False) -> StateStore:
    """The project's state store (``[state] url``, relative to ``base_dir``, the
    directory of hub.toml).

    ``read_only``: for dry runs and reports, which call no writer; a store file
    that does not exist yet is not created (an empty in-memory store stands in).
    """
    url = settings.state.url
    if read_only and is_postgres_url(url):
        from hub.state.postgres import existing_tables

        if not existing_tables(url, ["hub_schema"]):  # a new database: nothing to create
            from hub.state.sqlite import SqliteStateStore

            return SqliteStateStore(None)
    elif read_only:
        path = sqlite_path(url, base_dir)
        if path is None or not path.exists():
            from hub.state.sqlite import SqliteStateStore

            return SqliteStateStore(None)
    return open_state_store(url, base_dir)


# -- plan (dry run) ------------------------------------------------------------------


def _plan_one(
    resolution: Resolution,
    store: StateStore,
    name: str,
    stream: Iterator[ProjectionChunk],
    *,
    force_delete: bool,
    scope: DeltaScope | None,
) -> DestinationPlan:
    settings = resolution.project.settings.destinations[name]
    return plan_destination(
        stream,
        store,
        mode=settings.mode,
        max_delete_share=settings.max_delete_share,
        force_delete=force_delete,
        destination=name,
        unclean_load=unclean_load(resolution),
        scope=scope,
    )


def _tokens(
    project: Project, plugins: Plugins, names: list[str], files: SourceFiles | None
) -> tuple[dict[str, str], dict[str, str]]:
    """Each destination's config token, and its input token where every source is
    a file (:mod:`hub.sync.inputs`)."""
    configs: dict[str, str] = {}
    tokens: dict[str, str] = {}
    if files is not None:
        for name in names:
            capabilities = capabilities_of(project, plugins, name)
            configs[name] = config_token(project, name, capabilities, files)
            if files.complete:  # a SQL source's rows are known only once read
                tokens[name] = token(configs[name], files)
    return configs, tokens


def unclean_load(resolution: Resolution) -> str | None:
    """Why this run's load was not clean (rows quarantined, by source), or ``None``."""
    by_source = resolution.loaded.quarantine.by_source()
    if not by_source:
        return None
    sources = ", ".join(f"{name}: {count}" for name, count in by_source.items())
    return f"the sources quarantined {sum(by_source.values())} row(s) this run ({sources})"


def plan(
    config_path: Path,
    *,
    destinations: list[str] | None = None,
    force_delete: bool = False,
    as_of: datetime | None = None,
    plugins: Plugins | None = None,
    full: bool = False,
) -> PlanReport:
    """Each destination's plan against the state store, writing nothing (no run,
    no state file: a missing store is planned against as empty).

    As ``hub sync`` would: a destination whose inputs are those of its last
    complete run plans nothing (its counts are that run's, carried), and one
    whose rows changed plans what they reach (:mod:`hub.sync.inputs`,
    :mod:`hub.sync.delta`), reading the CSV files the last sync kept read from
    what it kept (:mod:`hub.sources.cache`). ``full`` projects and diffs everything."""
    project, plugins = open_project(config_path, plugins)
    names = sorted(selected_destinations(project, config_path, destinations))
    moment = resolve_as_of(project, as_of)
    files = SourceFiles.take(project)
    configs, tokens = _tokens(project, plugins, names, files)
    resolution = resolve(
        config_path,
        as_of=moment,
        destinations=names,
        plugins=plugins,
        project=project,
        project_destinations=False,
        # The files the last sync kept read are read from it; nothing is written.
        cache=_columns_cache(project, files),
    )
    check_destinations(project, plugins, config_path, names, need_factory=False)
    store = open_store(project.settings, project.base_dir, read_only=True)
    try:
        skips = {} if full else _skips(store, tokens, moment)
        projected = [name for name in names if name not in skips]
        deltas, streams = _projections(
            resolution, store, projected, configs, moment, deltas_on=files is not None and not full
        )
        plans: dict[str, DestinationPlan] = {}
        for name in names:
            kept = skips.get(name)
            if kept is not None:
                mode = project.settings.destinations[name].mode
                plans[name] = DestinationPlan(name, mode, [], carried_plan(kept.planned), None, {})
                continue
            delta = deltas.get(name)
            plans[name] = _plan_one(
                resolution,
                store,
                name,
                streams[name],
                force_delete=force_delete,
                scope=None if delta is None else delta.scope,
            )
    finally:
        store.close()
    return PlanReport(resolution, plans)


# -- sync -----------------------------------------------------------------------------


def _projections(
    resolution: Resolution,
    store: StateStore,
    names: list[str],
    configs: Mapping[str, str],
    moment: datetime,
    *,
    deltas_on: bool,
) -> tuple[dict[str, _Delta], dict[str, Iterator[ProjectionChunk]]]:
    """The projection streams of ``names`` (``hub sync`` and ``hub plan`` alike):
    a delta run's for each destination that can have one (``deltas_on``), in
    full for the others."""
    deltas: dict[str, _Delta] = {}
    if deltas_on:
        digests_dir = _digests_dir(resolution.project)
        for name in names:
            found = _delta(resolution, store, name, configs[name], moment, digests_dir)
            if found is not None:
                deltas[name] = found
    return deltas, _streams(resolution, names, deltas)


def _streams(
    resolution: Resolution, names: list[str], deltas: Mapping[str, _Delta]
) -> dict[str, Iterator[ProjectionChunk]]:
    """Each destination's projection as a stream (its chunks are computed as the
    sync reads them). Delta runs project their subjects alone, from the part of
    the data set they reach when no destination projects everything."""
    # DuckDB and Arrow load only for a run that projects (not for a skipped one).
    from hub.engine.project import stream as engine_stream

    full = [name for name in names if name not in deltas]
    dataset = resolution.loaded.data
    part: Dataset | Frame | None = None
    if deltas and not full:
        part = neighbourhood(dataset, [d.subjects for d in deltas.values()])
    streams: dict[str, Iterator[ProjectionChunk]] = {}
    for name in names:
        delta = deltas.get(name)
        # Built now, so that a mapping the projection refuses fails before anything runs.
        streams[name] = engine_stream(
            name,
            dataset if part is None or delta is None else part,
            resolution.project.mappings[name],
            capabilities_of(resolution.project, resolution.plugins, name),
            resolution.as_of,
            resolution.project.settings.events.rollups,
            only=None if delta is None else (delta.subjects.users, delta.subjects.accounts),
        )
    return streams


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How one sync runs, as one typed object: the CLI and the daemon build it
    once, and each layer below reads what it needs."""

    #: The destinations to sync (default: every enabled one).
    destinations: list[str] | None = None
    #: Let mirror mode delete past the delete guard.
    force_delete: bool = False
    #: Plan only: no run, no state, nothing sent.
    dry_run: bool = False
    #: The time event windows end at (default: hub.toml's, else now).
    as_of: datetime | None = None
    #: Told ``(destination, done, total)`` after each batch.
    progress: SyncProgress | None = None
    #: Handed to each destination in its context (tests).
    extras: Mapping[str, Any] = field(default_factory=dict)
    #: The rate budgets (default: a fresh registry).
    budgets: BudgetRegistry | None = None
    #: Checked between batches: true ends each remaining run as stopped.
    should_stop: Callable[[], bool] | None = None
    #: The executor's backoff sleep (tests).
    sleep: Callable[[float], None] = time.sleep
    #: Take the destinations' locks under this owner (``hub sync``).
    lock_owner: str | None = None
    #: Project and diff every destination even when its inputs did not change
    #: since its last complete run (see :mod:`hub.sync.inputs`).
    full: bool = False


def sync(
    config_path: Path,
    options: RunOptions | None = None,
    *,
    plugins: Plugins | None = None,
    dataset: Dataset | None = None,
    project: Project | None = None,
    **overrides: Any,
) -> list[DestinationRun]:
    """Sync every enabled destination (or ``options.destinations``), in name order.

    ``options`` (:class:`RunOptions`) say how the run goes, built once by the CLI
    or the daemon; keyword ``overrides`` replace single fields of it
    (``sync(path, dry_run=True)``). The parameters below are its fields:

    :param force_delete: let mirror mode delete past the delete guard.
    :param dry_run: plan only (like :func:`plan`): no run, no state, nothing sent;
        each run's ``counts`` are the plan's.
    :param progress: told ``(destination, done, total)`` after each batch.
    :param extras: handed to each destination in its context (tests).
    :param budgets: the rate budgets (default: a fresh registry).
    :param should_stop: checked between batches; true ends each remaining
        destination's run as ``failed`` ("stopped") after the batch in flight.
    :param sleep: the executor's backoff sleep (tests).
    :param dataset: the data set to sync instead of reading the sources
        (benchmarks, embedding); it is enriched with the ``[events]`` rollups
        like a loaded one. Not for ``dry_run``.
    :param project: an already loaded, validated project to run instead of
        reading hub.toml again (the daemon runs its last good configuration).
    :param lock_owner: take the destinations' locks in the state store under
        this name for the run (``hub sync`` does; the daemon holds its own):
        :class:`SyncBusy` when another process holds one.
    :param full: project every destination even when its inputs are those of its
        last complete run (by default such a destination is skipped: a run is
        recorded and nothing is read or sent; see :mod:`hub.sync.inputs`).
    :raises ConfigError: for configuration mistakes, before anything is sent.
    """
    options = dataclasses.replace(options or RunOptions(), **overrides)
    if options.dry_run:
        if dataset is not None:
            raise ValueError("sync(dataset=...) cannot be a dry run")
        report = plan(
            config_path,
            destinations=options.destinations,
            force_delete=options.force_delete,
            as_of=options.as_of,
            plugins=plugins,
            full=options.full,
        )
        return [
            _dry_run(report.resolution, name, planned) for name, planned in report.plans.items()
        ]
    started = time.monotonic()
    if project is None:
        project, plugins = open_project(config_path, plugins)
    plugins = plugins or load_plugins()
    names = sorted(selected_destinations(project, config_path, options.destinations))
    moment = resolve_as_of(project, options.as_of)
    # Hashed before anything is loaded: a file changed during the run keeps no snapshot.
    files = None if dataset is not None else SourceFiles.take(project)
    configs, tokens = _tokens(project, plugins, names, files)
    # A first look without writing anything: a refused load creates no store.
    candidates: dict[str, InputSnapshot] = {}
    if tokens and not options.full:
        peek = open_store(project.settings, project.base_dir, read_only=True)
        try:
            candidates = _skips(peek, tokens, moment)
        finally:
            peek.close()

    cache = None if dataset is not None else _columns_cache(project, files)

    def load() -> Resolution:
        log.info("reading the sources and resolving the projections")
        resolved = resolve(
            config_path,
            as_of=moment,
            destinations=names,
            plugins=plugins,
            dataset=dataset,
            project=project,
            project_destinations=False,
            cache=cache,
        )
        counts = resolved.loaded.counts
        log.info(
            "loaded %s users, %s accounts, %s memberships and %s events (%s row(s)"
            " quarantined) in %.1fs; syncing %s",
            f"{counts.get('users', 0):,}",
            f"{counts.get('accounts', 0):,}",
            f"{counts.get('memberships', 0):,}",
            f"{counts.get('events', 0):,}",
            f"{len(resolved.loaded.quarantine):,}",
            time.monotonic() - started,
            ", ".join(names),
        )
        return resolved

    resolution: Resolution | None = None
    if len(candidates) < len(names):
        resolution = load()
    validated = check_destinations(project, plugins, config_path, names, need_factory=True)
    held = _DestinationLocks.take(project, names, options.lock_owner)
    try:
        store = open_store(project.settings, project.base_dir)
    except BaseException:
        if held is not None:
            held.release()
        raise
    runs: list[DestinationRun] = []
    ledger: DatabaseLedger | None = None
    try:
        # Again under the locks: another sync may have run since the first look.
        skips = _skips(store, {name: tokens[name] for name in candidates}, moment)
        if resolution is None and len(skips) < len(names):
            resolution = load()
        if resolution is not None and dataset is None:
            _report_quarantine(resolution, store)
        if resolution is not None and cache is not None:
            cache.flush()  # the load was accepted: keep what it read
        digests_dir = _digests_dir(project)
        deltas: dict[str, _Delta] = {}
        streams: dict[str, Iterator[ProjectionChunk]] = {}
        if resolution is not None:
            projected = [name for name in names if name not in skips]
            deltas, streams = _projections(
                resolution,
                store,
                projected,
                configs,
                moment,
                deltas_on=files is not None and not options.full,
            )
        should_stop = options.should_stop if held is None else held.stopping(options.should_stop)
        sleep = options.sleep
        if should_stop is not None and sleep is time.sleep:
            sleep = _stoppable_sleep(should_stop)
        budgets = options.budgets
        if budgets is None:
            # On a PostgreSQL state, the credentials' budgets are the fleet's.
            ledger = open_ledger(project.settings.state.url)
            budgets = BudgetRegistry(
                sleep=sleep,
                max_wait=project.settings.sync.max_retry_after,
                should_stop=should_stop,
                ledger=ledger,
            )
        # What every destination's run reads: the options, with the stop and sleep
        # that the locks and the budget's waits honour.
        running = dataclasses.replace(
            options, should_stop=should_stop, sleep=sleep, budgets=budgets
        )
        for name in names:
            if name in skips:
                runs.append(_skipped_run(project, store, name, skips[name]))
                continue
            assert resolution is not None
            runs.append(
                _SyncOne(
                    resolution,
                    store,
                    name,
                    streams[name],
                    validated[name],
                    running,
                    lost_lock=None if held is None else held.lost,
                    scope=deltas[name].scope if name in deltas else None,
                ).run()
            )
        _keep_snapshots(store, runs, configs, tokens, files, resolution, skips, moment, digests_dir)
    finally:
        store.close()
        if ledger is not None:
            ledger.close()
        if held is not None:
            held.release()
    return runs


def _skips(
    store: StateStore, tokens: Mapping[str, str], moment: datetime
) -> dict[str, InputSnapshot]:
    """The destinations whose inputs are those of their last complete run."""
    return {
        name: kept
        for name, current in tokens.items()
        if (kept := skippable(store, name, current, moment)) is not None
    }


def _skipped_run(
    project: Project, store: StateStore, name: str, kept: InputSnapshot
) -> DestinationRun:
    """A run of a destination whose inputs did not change since run ``kept.run_id``:
    recorded like any run, with the plan a full projection would have made."""
    settings = project.settings.destinations[name]
    run_id = store.start_run(name, settings.mode.value)
    planned = carried_plan(kept.planned)
    counts = dict(ExecutionSummary(name).counts)
    counts["unchanged"] = unchanged(planned)
    counts["quarantined"] = sum(kept.quarantined.values())
    message = (
        f"inputs unchanged since run {kept.run_id} (the same source files, mapping and"
        " settings): nothing was read, projected or sent (hub sync --full projects anyway)"
    )
    log.info("%s: run %d: %s", name, run_id, message)
    if kept.quarantined:
        log.warning(
            "%d row(s) quarantined (%s); hub errors --quarantine lists them with their reasons",
            sum(kept.quarantined.values()),
            ", ".join(f"{source}: {count}" for source, count in kept.quarantined.items()),
        )
    store.finish_run(run_id, RunStatus.SUCCEEDED, counts, message)
    return DestinationRun(
        destination=name,
        type=settings.type,
        mode=settings.mode,
        run_id=run_id,
        status=RunStatus.SUCCEEDED,
        message=message,
        counts=counts,
        planned=planned,
        quarantined=dict(kept.quarantined),
    )


def _columns_cache(project: Project, files: SourceFiles | None) -> ColumnsCache | None:
    """The CSV files kept read (:mod:`hub.sources.cache`), in ``inputs/columns/``
    beside the state file, for the files hashed before the load (none for an
    in-memory store)."""
    directory = _digests_dir(project)
    if directory is None or files is None:
        return None
    known = {
        name: KnownFile(digest, files.stats[name][1])
        for name, digest in files.files.items()
        if digest is not None and name in files.stats
    }
    return ColumnsCache(directory / "columns", known)


def _digests_dir(project: Project) -> Path | None:
    """Where the entity digests of delta runs are kept: ``inputs/`` beside the
    state file, or in ``.hub/`` beside hub.toml for a PostgreSQL store
    (``None`` for an in-memory store: no delta runs)."""
    directory = local_state_dir(project.settings.state.url, project.base_dir)
    return None if directory is None else directory / "inputs"


@dataclass(frozen=True, slots=True)
class _Delta:
    """A delta run's subjects and planner scope (:mod:`hub.sync.delta`)."""

    subjects: Subjects
    scope: DeltaScope


def _delta(
    resolution: Resolution,
    store: StateStore,
    name: str,
    config: str,
    moment: datetime,
    digests_dir: Path | None,
) -> _Delta | None:
    """Destination ``name``'s delta run, ``None`` when it must project everything."""
    new = resolution.loaded.digests
    if digests_dir is None or new is None:
        return None
    base = delta_base(store, name, config)
    if base is None or base.digests is None:
        return None
    old = load_digests(digests_dir, base.digests)
    if old is None:
        return None
    mapping = resolution.project.mappings[name]
    moved: tuple[set[str], set[str]] = (set(), set())
    if base.as_of != moment:
        days = windows(resolution.project.settings.events, mapping)
        data = resolution.loaded.data
        moved = shifted(
            data.events if isinstance(data, Dataset) else data, base.as_of, moment, days
        )
    subjects = reach(old, new, moved)
    log.info(
        "%s: delta since run %d: %s of %s users and %s of %s accounts reached by changed"
        " rows; projecting only them (hub sync --full projects everything)",
        name,
        base.run_id,
        f"{len(subjects.users):,}",
        f"{resolution.loaded.counts['users']:,}",
        f"{len(subjects.accounts):,}",
        f"{resolution.loaded.counts['accounts']:,}",
    )
    return _Delta(subjects, scope(subjects, old, new, mapping.membership_contacts.separator))


def _keep_snapshots(
    store: StateStore,
    runs: list[DestinationRun],
    configs: Mapping[str, str],
    tokens: Mapping[str, str],
    files: SourceFiles | None,
    resolution: Resolution | None,
    skips: Mapping[str, InputSnapshot],
    moment: datetime,
    digests_dir: Path | None,
) -> None:
    """After the runs: keep each succeeded run's inputs (a later run with the
    same ones is skipped, one with other CSV rows is a delta run); forget them
    for any other run."""
    same = files is not None and files.unchanged()
    loaded_digests: str | None = None
    if (
        same
        and digests_dir is not None
        and resolution is not None
        and resolution.loaded.digests is not None
        and any(run.ok and run.destination not in skips for run in runs)
    ):
        try:
            loaded_digests = save_digests(digests_dir, resolution.loaded.digests)
        except OSError as error:  # no delta next time, nothing worse
            log.warning("could not keep the input digests in %s: %s", digests_dir, error)
    for run in runs:
        current = tokens.get(run.destination)
        kept: InputSnapshot | None = None
        config = configs.get(run.destination)
        if same and files is not None and config is not None and run.run_id is not None and run.ok:
            earlier = skips.get(run.destination)
            if earlier is not None:
                events, planned, digests = earlier.events, earlier.planned, earlier.digests
            else:
                assert resolution is not None
                events = resolution.loaded.counts.get("events", 0)
                planned, digests = run.planned, loaded_digests
            kept = snapshot_for(
                run.run_id,
                current or "",
                config=config,
                sources=files,
                digests=digests,
                events=events,
                as_of=moment,
                planned=planned,
                quarantined=run.quarantined,
            )
        store.save_input_snapshot(run.destination, kept)
    if digests_dir is not None and digests_dir.is_dir():
        prune(digests_dir, [k.digests for k in store.input_snapshots() if k.digests])


def _report_quarantine(resolution: Resolution, store: StateStore) -> None:
    """Keep this load's quarantined rows in the store and say so in the log."""
    rows = resolution.loaded.quarantine.rows
    store.replace_quarantine(rows)
    if rows:
        by_source = resolution.loaded.quarantine.by_source()
        log.warning(
            "%d row(s) quarantined (%s); hub errors --quarantine lists them with their reasons",
            len(rows),
            ", ".join(f"{name}: {count}" for name, count in by_source.items()),
        )


class SyncBusy(Exception):
    """Another process (a daemon, another ``hub sync``) is syncing a destination."""

    def __init__(self, holders: list[LockHolder]) -> None:
        self.holders = holders
        described = ", ".join(f"{h.name} (held by {h.owner})" for h in holders)
        super().__init__(f"already being synced: {described}; try again when it is done")


class _DestinationLocks:
    """The daemon's per-destination locks (``destination:NAME`` in the state
    store), taken by a manual sync too, so two processes never sync one
    destination together. A :class:`~hub.state.locks.LockHeartbeat` renews them
    every third of ``daemon.lock_ttl``; should they be lost all the same,
    :attr:`lost` is set and the sync sends nothing more."""

    def __init__(self, locks: SyncLocks, names: list[str], owner: str, ttl: float) -> None:
        self.locks = locks
        self.names = names
        self.owner = owner
        self._heartbeat = LockHeartbeat(locks, names, owner, ttl, on_lost=self._lost)
        #: Set when a renewal found the locks taken over.
        self.lost = self._heartbeat.lost

    @staticmethod
    def _lost(names: list[str]) -> None:
        log.error("lost the lock(s) %s: this sync sends nothing more", ", ".join(names))

    @classmethod
    def take(
        cls, project: Project, destinations: list[str], owner: str | None
    ) -> _DestinationLocks | None:
        if owner is None:
            return None
        where = state_database(project.settings.state.url, project.base_dir)
        if where is None:  # in memory: nobody else can see this store
            return None
        ttl = project.settings.daemon.lock_ttl
        locks = SyncLocks(where)
        names = [f"destination:{name}" for name in destinations]
        taken, holders = locks.acquire(names, owner, ttl)
        if not taken:
            locks.close()
            raise SyncBusy(holders)
        return cls(locks, names, owner, ttl)

    def stopping(self, asked: Callable[[], bool] | None) -> Callable[[], bool]:
        """``asked`` (a stop request), or the locks lost or lapsed
        (:meth:`~hub.state.locks.LockHeartbeat.expired`)."""

        def should_stop() -> bool:
            return self._heartbeat.expired() or (asked is not None and asked())

        return should_stop

    def release(self) -> None:
        self._heartbeat.stop()
        self.locks.release(self.names, self.owner)
        self.locks.close()


def _stoppable_sleep(should_stop: Callable[[], bool]) -> Callable[[float], None]:
    """``time.sleep`` that wakes within 0.1 s of ``should_stop()`` turning true
    (SIGTERM during a backoff or a rate-limit wait)."""

    def sleep(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not should_stop():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.1, left))

    return sleep


def _dry_run(resolution: Resolution, name: str, planned: DestinationPlan) -> DestinationRun:
    settings = resolution.project.settings.destinations[name]
    return DestinationRun(
        destination=name,
        type=settings.type,
        mode=planned.mode,
        run_id=None,
        status=RunStatus.FAILED if planned.delete_guard else RunStatus.SUCCEEDED,
        message=planned.delete_guard,
        counts={**plan_totals(planned.counts), "unchanged": unchanged(planned.counts)},
        planned=dict(planned.counts),
    )


class _SyncOne:
    """One destination's run."""

    def __init__(
        self,
        resolution: Resolution,
        store: StateStore,
        name: str,
        stream: Iterator[ProjectionChunk],
        validated: BaseModel,
        options: RunOptions,
        *,
        lost_lock: threading.Event | None = None,
        scope: DeltaScope | None = None,
    ) -> None:
        self.resolution = resolution
        self.lost_lock = lost_lock
        #: A delta run's planner scope (:mod:`hub.sync.delta`).
        self.scope = scope
        self.store = store
        self.name = name
        self.stream = stream
        self.validated = validated
        assert options.budgets is not None  # sync() made the registry
        self.budgets = options.budgets
        self.force_delete = options.force_delete
        self.progress = options.progress
        self.extras = options.extras
        self.should_stop = options.should_stop
        self.sleep = options.sleep
        self.settings: DestinationSettings = resolution.project.settings.destinations[name]
        self.type: DestinationType = resolution.plugins.destinations[self.settings.type]
        self.result = DestinationRun(
            destination=name,
            type=self.settings.type,
            mode=self.settings.mode,
            run_id=None,
            status=RunStatus.RUNNING,
            quarantined=resolution.loaded.quarantine.by_source(),
        )

    def run(self) -> DestinationRun:
        result = self.result
        run_id = self.store.start_run(self.name, self.settings.mode.value)
        result.run_id = run_id
        log.info("%s: run %d: planning against the state store and sending", self.name, run_id)
        built: list[Destination] = []
        # Filled in as batches are confirmed: an interrupted run still records them.
        summary = ExecutionSummary(self.name)
        state_failed = False
        planner = DestinationPlanner(
            self.store,
            self.name,
            self.settings.mode,
            max_delete_share=self.settings.max_delete_share,
            force_delete=self.force_delete,
            unclean_load=unclean_load(self.resolution),
            scope=self.scope,
            end_ids=False,  # the executor reads them right before sending each batch
        )

        def connect() -> tuple[Destination, Any]:
            destination, budget = self._build()
            built.append(destination)
            return destination, budget

        try:
            with collection_paused():
                summary = execute_stream(
                    self.name,
                    self._planned(planner),
                    connect,
                    self.store,
                    run_id,
                    self.resolution.project.settings.sync,
                    should_stop=self.should_stop,
                    sleep=self.sleep,
                    summary=summary,
                    match=match_chains(self.resolution.project.mappings[self.name]),
                )
            planned = planner.plan()
            result.planned = dict(planned.counts)
            if planned.delete_guard:
                result.counts[DELETE_GUARD_SKIPPED] = planned.counts.get(DELETE_GUARD_SKIPPED, 0)
            self._conclude(summary, planned)
        except FatalDestinationError as error:
            # Raised by the factory (a credential checked up front).
            result.status, result.message = RunStatus.FAILED, str(error)
        except ProjectionError as error:
            result.status, result.message = RunStatus.FAILED, f"projection error: {error}"
        except StateStoreError as error:
            # The state file itself failed (disk full, read-only): nothing more
            # can be confirmed, so nothing more is sent; the command says why.
            result.status, result.message = RunStatus.FAILED, error.problem.message
            state_failed = True
            raise
        except Exception as error:
            log.exception("%s: unexpected error", self.name)
            result.status = RunStatus.FAILED
            result.message = f"unexpected error: {type(error).__name__}: {error}"
        except BaseException:
            # Ctrl-C and friends: the run is over, whatever confirmed is kept.
            result.status, result.message = RunStatus.FAILED, "interrupted"
            raise
        finally:
            if not result.planned:
                result.planned = dict(planner.counts)
            held = result.counts.get(DELETE_GUARD_SKIPPED, 0)
            result.counts = {**summary.counts, **result.counts}
            result.counts["skipped"] = result.counts.get("skipped", 0) + held
            result.counts["unchanged"] = unchanged(result.planned)
            result.counts["quarantined"] = sum(result.quarantined.values())
            try:
                for destination in built:
                    destination.close()
            finally:
                if state_failed:  # already raising it; recording would fail the same way
                    with contextlib.suppress(StateStoreError):
                        self.store.finish_run(run_id, result.status, result.counts, result.message)
                else:
                    self.store.finish_run(run_id, result.status, result.counts, result.message)
        return result

    def expected_records(self) -> int:
        """How many records and links the projection holds at most, known from
        the data set before anything is projected: the progress bar's total."""
        mapping = self.resolution.project.mappings[self.name]
        counts = self.resolution.loaded.counts
        memberships = counts["memberships"]
        total = counts["accounts"] if mapping.accounts.enabled else 0
        total += counts["users"] if mapping.users.enabled else 0
        total += memberships if mapping.membership_contacts.enabled else 0
        total += memberships if mapping.links.enabled else 0
        return max(total, 1)

    def _planned(self, planner: DestinationPlanner) -> Iterator[list[PlannedItem]]:
        """The plan, a chunk of the projection at a time, then the deletes
        (none when the delete guard trips: the planner leaves them out).
        Progress counts the records examined, against :meth:`expected_records`."""
        expected = self.expected_records()
        examined = 0
        self._report(examined, expected)
        for chunk in self.stream:
            items = planner.plan_chunk(chunk)
            if isinstance(chunk, AccountsChunk | ContactsChunk):
                examined += len(chunk.records)
            elif isinstance(chunk, LinksChunk):
                examined += len(chunk.links)
            if items:
                yield items
            self._report(min(examined, expected), expected)
        if planner.finish():
            log.warning("%s: %s", self.name, planner.delete_guard)
        yield from planner.iter_deletes()
        self._report(expected, expected)

    def _report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(self.name, done, total)

    def stop_reason(self) -> str:
        """Why a stopped run stopped: its lock was lost, or a stop was asked."""
        if self.lost_lock is not None and self.lost_lock.is_set():
            return (
                "stopped: this sync lost its lock on the destination (another process took"
                " it over), so it sent nothing more; the rest is sent next run"
            )
        return "stopped before the end of the plan; the rest is sent next run"

    def _build(self) -> tuple[Destination, Any]:
        factory = self.type.factory
        assert factory is not None  # checked by check_destinations
        handle = self.budgets.handle(self.type.name, self.type.capabilities.rate_limit)
        context = DestinationContext(
            name=self.name,
            base_dir=self.resolution.project.base_dir,
            budget=handle,
            timeout=self.resolution.project.settings.sync.request_timeout,
            extras=self.extras,
        )
        destination = factory(self.validated, context)
        handle.bind(destination.credential_id, destination.capabilities.rate_limit)
        return destination, handle

    def _conclude(self, summary: ExecutionSummary, planned: DestinationPlan) -> None:
        result = self.result
        result.rate_wait_seconds = summary.rate_wait_seconds
        result.rate_waits = summary.rate_waits
        result.plugin_errors = list(summary.plugin_errors)
        counts = summary.counts
        if summary.fatal is not None:
            result.status, result.message = RunStatus.FAILED, summary.fatal
        elif summary.rate_limited is not None:
            result.status = RunStatus.PARTIAL
            bound = self.resolution.project.settings.sync.max_retry_after
            result.message = (
                f"rate-limited: {self.name} asked to wait {summary.rate_limited:.0f}s, over"
                f" sync.max_retry_after = {bound:g}s;"
                f" {counts.get('pending', 0)} record(s) left pending, sent next run"
            )
        elif summary.stopped:
            result.status = RunStatus.FAILED
            result.message = self.stop_reason()
        elif planned.delete_guard:
            result.status = RunStatus.FAILED
            result.message = (
                f"{planned.delete_guard}; creates, updates and links were sent,"
                " deletes and unlinks held back (hub sync --force-delete to apply them)"
            )
        elif counts.get("failed", 0) or counts.get("pending", 0) > counts.get("skipped", 0):
            # Skipped links alone (an end failed for good in an earlier run,
            # reported then) do not make a run partial again.
            result.status = RunStatus.PARTIAL
            result.message = (
                f"{counts.get('failed', 0)} record(s) failed,"
                f" {counts.get('pending', 0) - counts.get('skipped', 0)} left pending"
                " after retries (hub errors shows why)"
            )
        else:
            result.status = RunStatus.SUCCEEDED
