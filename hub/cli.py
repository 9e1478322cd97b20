"""The ``hub`` command line (typer, with rich output).

A user's mistake (a bad hub.toml, a mapping error, an unknown id) is printed as
a list of problems with their file and line, never as a traceback, and exits
with a distinct code: 2 for configuration, 1 for everything else the user can
fix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hub import __version__
from hub.errors import EXIT_CONFIG, EXIT_STATE, ConfigError, StateStoreError

if TYPE_CHECKING:
    from hub.state import StateStore
    from hub.sync.pipeline import Resolution

app = typer.Typer(
    name="hub",
    help="Sync multi-account product data (users, accounts, memberships) into CRMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
inspect_app = typer.Typer(help="Show exactly what each destination would receive.")
app.add_typer(inspect_app, name="inspect")
playbooks_app = typer.Typer(help="Engagement playbooks: preview and run them.")
app.add_typer(playbooks_app, name="playbooks")
state_app = typer.Typer(help="The state store: check it, back it up.")
app.add_typer(state_app, name="state")

console = Console()
err = Console(stderr=True)

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        envvar="HUB_CONFIG",
        help="The hub.toml to use.",
        show_default=True,
    ),
]
AsOfOption = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        help="End of event windows (ISO 8601); default: hub.toml's events.as_of, else now.",
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"],
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
DestinationOption = Annotated[
    list[str] | None,
    typer.Option("--destination", "-d", help="Only this destination (repeatable)."),
]


def _fail_config(error: ConfigError) -> None:
    from hub.config.validate import format_problems

    err.print(f"[bold red]{len(error.problems)} problem(s) in the configuration:[/]")
    err.print(format_problems(error.problems), markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_CONFIG)


def _require_subject(resolution: Resolution, kind: str, subject_id: str) -> None:
    """Exit 1, saying so (and where a quarantined row of that id went), when
    the sources hold no ``kind`` with ``subject_id``."""
    from hub.reports import missing_subject

    missing = missing_subject(resolution, kind, subject_id)
    if missing is None:
        return
    err.print(missing["message"], style="red", markup=False, highlight=False)
    for row in missing["quarantined"]:
        err.print(f"  quarantined at {row['location']}: {row['reason']}", markup=False)
    raise typer.Exit(1)


def _show(data: Any, as_json: bool, printer: Callable[[Console, Any], None]) -> None:
    """``data`` as JSON for scripts, or through ``printer`` for people."""
    if as_json:
        _emit_json(data)
    else:
        printer(console, data)


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        console.print(f"connector-hub {__version__}")
        raise typer.Exit()


@app.command()
def validate(
    config: ConfigOption = Path("hub.toml"),
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Check the files only: read no source and no state store (CI of mapping repos).",
        ),
    ] = False,
) -> None:
    """The pre-flight of a sync: hub.toml, every mapping, the sources (readable,
    and holding every attribute the mappings read) and the state store; report
    every problem at once (exit 2)."""
    from hub.config.validate import format_problems, validate_project
    from hub.contract.plugins import load_plugins
    from hub.playbooks import PLAYBOOK_CHECKS

    plugins = load_plugins()
    problems = validate_project(
        config,
        destination_types=plugins.destinations.types(),
        offline=offline,
        checks=PLAYBOOK_CHECKS,
    )
    for failed in plugins.failed:
        err.print(
            f"plugin {failed.name} ({failed.value}) skipped: {failed.error}",
            style="yellow",
            markup=False,
        )
    if problems:
        err.print(f"[bold red]{len(problems)} problem(s):[/]")
        err.print(format_problems(problems), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG)
    checked = (
        "configuration and mappings" if offline else "configuration, mappings, sources and state"
    )
    console.print(f"[green]{config}: {checked} are valid.[/]")


@app.command()
def schema(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory to write the schemas to.")
    ] = Path(".hub/schemas"),
) -> None:
    """Write JSON Schemas for hub.toml and mapping files (for taplo / VS Code)."""
    from hub.config.schema import write_schemas

    for path in write_schemas(out):
        console.print(f"wrote {path}")


@app.command()
def preview(
    config: ConfigOption = Path("hub.toml"),
    as_of: AsOfOption = None,
    destination: DestinationOption = None,
    as_json: JsonOption = False,
) -> None:
    """Resolve every projection for every destination and report what each would get."""
    from hub.reports import preview_summary, print_preview
    from hub.sync.pipeline import resolve

    try:
        resolution = resolve(config, as_of=as_of, destinations=destination)
    except ConfigError as error:
        _fail_config(error)
        return
    if as_json:
        _emit_json(preview_summary(resolution))
    else:
        print_preview(console, resolution)


def _inspect(
    kind: str,
    subject_id: str,
    config: Path,
    as_of: datetime | None,
    destination: list[str] | None,
    as_json: bool,
) -> None:
    from hub.reports import inspect_subject, print_inspection
    from hub.sync.pipeline import resolve

    try:
        # Only the subject is projected (inspect_subject), not every record.
        resolution = resolve(
            config, as_of=as_of, destinations=destination, project_destinations=False
        )
    except ConfigError as error:
        _fail_config(error)
        return
    _require_subject(resolution, kind, subject_id)
    data = inspect_subject(resolution, kind, subject_id)
    _show(data, as_json, print_inspection)


@inspect_app.command("user")
def inspect_user(
    user_id: Annotated[str, typer.Argument(help="The user's id.")],
    config: ConfigOption = Path("hub.toml"),
    as_of: AsOfOption = None,
    destination: DestinationOption = None,
    as_json: JsonOption = False,
) -> None:
    """The records and links every destination would receive for one user."""
    _inspect("user", user_id, config, as_of, destination, as_json)


@inspect_app.command("account")
def inspect_account(
    account_id: Annotated[str, typer.Argument(help="The account's id.")],
    config: ConfigOption = Path("hub.toml"),
    as_of: AsOfOption = None,
    destination: DestinationOption = None,
    as_json: JsonOption = False,
) -> None:
    """The records and links every destination would receive for one account."""
    _inspect("account", account_id, config, as_of, destination, as_json)


FullOption = Annotated[
    bool,
    typer.Option(
        "--full",
        help="Project and diff every record, even when the inputs are those of the"
        " destination's last complete run (skipped otherwise) or only some rows changed"
        " (a delta run otherwise).",
    ),
]
ForceDeleteOption = Annotated[
    bool,
    typer.Option(
        "--force-delete",
        help="Mirror mode: delete and unlink even past the mass-delete guard.",
    ),
]


def _open_store(config: Path, *, read_only: bool) -> StateStore:
    """The state store of ``config``; ``read_only`` for commands that only read
    it (a store that does not exist yet is not created)."""
    from hub.config import load_settings
    from hub.sync import open_store

    try:
        settings = load_settings(config)
        return open_store(settings, config.parent, read_only=read_only)
    except ConfigError as error:
        _fail_config(error)
        raise  # not reached: _fail_config exits


def _run_sync(
    config: Path,
    destination: list[str] | None,
    force_delete: bool,
    as_json: bool,
    as_of: datetime | None,
    full: bool = False,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from hub.reports import print_sync_summary, sync_summary
    from hub.state.locks import lock_owner
    from hub.sync import RunOptions, SyncBusy
    from hub.sync import sync as run_sync

    show_bars = not as_json and console.is_terminal
    # What the sync is doing, on stderr from its first second (the bars, or
    # the JSON on stdout, only come once there is something to count).
    status = logging.StreamHandler(sys.stderr)
    status.setFormatter(logging.Formatter("hub: %(message)s"))
    status.setLevel(logging.INFO)
    sync_log = logging.getLogger("hub.sync")
    sync_log.addHandler(status)
    previous_level = sync_log.level
    sync_log.setLevel(logging.INFO)
    sync_log.propagate = False
    bars = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not show_bars,
    )
    tasks: dict[str, Any] = {}

    def progress(name: str, done: int, total: int) -> None:
        if name not in tasks:
            tasks[name] = bars.add_task(name, total=total)
        bars.update(tasks[name], completed=done, total=total)

    # SIGTERM (a service manager stopping us): finish the batch in flight,
    # record it, end the runs as failed ("stopped"), exit 1.
    stop_requested: list[int] = []
    previous = None
    with contextlib.suppress(ValueError):  # not the main thread (embedded use): no handler
        previous = signal.signal(
            signal.SIGTERM, lambda signum, frame: stop_requested.append(signum)
        )
    try:
        with bars:
            options = RunOptions(
                destinations=destination,
                force_delete=force_delete,
                as_of=as_of,
                progress=progress if show_bars else None,
                should_stop=lambda: bool(stop_requested),
                lock_owner=lock_owner("hub-sync"),
                full=full,
            )
            runs = run_sync(config, options)
    except ConfigError as error:
        _fail_config(error)
        return
    except SyncBusy as busy:
        err.print(f"[red]{busy}[/]", highlight=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted: what the destinations confirmed is kept;[/]")
        err.print("[yellow]the next sync sends the rest.[/]")
        raise typer.Exit(130) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        sync_log.removeHandler(status)
        sync_log.setLevel(previous_level)
        sync_log.propagate = True
    if as_json:
        _emit_json(sync_summary(runs))
    else:
        print_sync_summary(console, runs)
    if not all(run.ok for run in runs):
        raise typer.Exit(1)


@app.command("sync")
def sync_command(
    config: ConfigOption = Path("hub.toml"),
    destination: DestinationOption = None,
    force_delete: ForceDeleteOption = False,
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
    full: FullOption = False,
) -> None:
    """Send what changed to every destination; exit 1 if any record or run failed.

    A destination whose source files, mapping and settings are those of its last
    complete run is skipped: the run is recorded, nothing is read or sent
    (--full projects it all the same).

    --json prints ``{"format", "ok", "runs": [...]}`` (see
    :func:`hub.reports.sync_summary`). Exit codes: 0 everything succeeded, 1 a
    record failed or was left pending, or a run failed (bad credentials, a
    refused mass delete), 2 a configuration problem.
    """
    _run_sync(config, destination, force_delete, as_json, as_of, full)


@app.command("plan")
def plan_command(
    config: ConfigOption = Path("hub.toml"),
    destination: DestinationOption = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Exactly what this user's records would get.")
    ] = None,
    account: Annotated[
        str | None,
        typer.Option("--account", help="Exactly what this account's records would get."),
    ] = None,
    force_delete: ForceDeleteOption = False,
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
    full: FullOption = False,
) -> None:
    """What the next sync would create, update, link, unlink and delete; writes nothing.

    As the sync would: nothing for a destination whose inputs are those of its
    last complete run, only what changed rows reach after a few changed (--full
    projects and diffs everything).

    --json prints :func:`hub.reports.plan_summary` (counts and up to 5 samples
    per action), or with --user / --account :func:`hub.reports.plan_subject`
    (every planned item for that subject, with its payload).
    """
    from hub.reports import plan_subject, plan_summary, print_plan, print_plan_subject
    from hub.sync import plan

    if user is not None and account is not None:
        err.print("[red]give --user or --account, not both.[/]")
        raise typer.Exit(1)
    try:
        report = plan(
            config, destinations=destination, force_delete=force_delete, as_of=as_of, full=full
        )
    except ConfigError as error:
        _fail_config(error)
        return
    if user is None and account is None:
        data = plan_summary(report)
        _show(data, as_json, print_plan)
        return
    kind, subject_id = ("user", user) if user is not None else ("account", account)
    assert subject_id is not None
    _require_subject(report.resolution, kind, subject_id)
    data = plan_subject(report, kind, subject_id)
    _show(data, as_json, print_plan_subject)


@app.command("runs")
def runs_command(
    config: ConfigOption = Path("hub.toml"),
    destination: Annotated[
        str | None, typer.Option("--destination", "-d", help="Only this destination.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The latest sync runs, newest first (--json: :func:`hub.reports.runs_json`)."""
    from hub.reports import print_runs, runs_json

    store = _open_store(config, read_only=True)
    try:
        data = runs_json(store.runs(destination, limit=limit))
    finally:
        store.close()
    _show(data, as_json, print_runs)


@app.command("fleet")
def fleet_command(config: ConfigOption = Path("hub.toml"), as_json: JsonOption = False) -> None:
    """Who runs what: the locks every daemon sharing this state holds (owner
    host:pid, heartbeat, expiry), the runs in progress and each schedule's
    last run (--json: :func:`hub.reports.fleet_json`). Reads only."""
    from hub.config import load_settings
    from hub.reports import fleet_report, print_fleet

    try:
        settings = load_settings(config)
    except ConfigError as error:
        _fail_config(error)
        raise  # not reached
    _show(fleet_report(settings, config.parent), as_json, print_fleet)


@app.command("status")
def status_command(config: ConfigOption = Path("hub.toml"), as_json: JsonOption = False) -> None:
    """Each destination: its latest run, the schedules that run it, the lock
    held on it (--json: :func:`hub.reports.status_json`). Reads only."""
    from hub.config import load_settings
    from hub.reports import print_status, status_report

    try:
        settings = load_settings(config)
    except ConfigError as error:
        _fail_config(error)
        raise  # not reached
    _show(status_report(settings, config.parent), as_json, print_status)


@app.command("console")
def console_command(
    config: ConfigOption = Path("hub.toml"),
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen", help="host:port to serve on (default: [console] listen, 127.0.0.1:8400)."
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = "info",
) -> None:
    """Serve the web console: runs, errors, quarantine, the plan, one record's
    payload per destination, playbooks, and two actions (retry, run now).

    Reading is open on a loopback address; beyond it, and for every action,
    the console token of HUB_CONSOLE__TOKEN is needed (a non-loopback
    --listen without one is refused, exit 2). Stops on SIGINT/SIGTERM,
    after the batch in flight of a sync it started."""
    import threading

    import structlog

    from hub.config import load_settings
    from hub.config.validate import format_problems
    from hub.console import ConsoleApp, console_problem
    from hub.observability import bind, configure_logging, parse_listen, uvicorn_server

    configure_logging(log_level, "auto")
    log = structlog.get_logger("hub.console")
    try:
        settings = load_settings(config)
        if listen is not None:
            settings.console.listen = (
                type(settings.console).model_validate({"listen": listen}).listen
            )
    except ConfigError as error:
        _fail_config(error)
        raise  # not reached
    except ValueError as error:  # a --listen that is not host:port
        err.print(f"--listen: {error}", style="red", markup=False)
        raise typer.Exit(EXIT_CONFIG) from None
    where = settings.console.listen or "127.0.0.1:8400"
    problem = console_problem(where, settings.console.token)
    if problem is not None:
        err.print("[bold red]the console cannot start:[/]")
        err.print(format_problems([problem]), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG)
    host, port = parse_listen(where)
    console_app = ConsoleApp(config, listen_host=host, settings=settings)
    try:
        sock = bind(host, port)
    except OSError as error:
        err.print(f"cannot listen on {where}: {error.strerror or error}", style="red", markup=False)
        raise typer.Exit(1) from None
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in str(bound_host) else str(bound_host)
    log.info(
        "console.started",
        url=f"http://{shown}:{bound_port}/",
        actions="on" if settings.console.token else "off (set HUB_CONSOLE__TOKEN)",
        config=str(config),
    )
    server = uvicorn_server(console_app.app)
    # The plan and the resolution behind inspections, computed once while the
    # first pages are served (the daemon's console leaves its CPU to the syncs).
    threading.Thread(target=console_app.warm, name="console-warm", daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        stopped = console_app.jobs.stop(settings.daemon.stop_timeout)
        sock.close()
        log.info("console.stopped", jobs_stopped=stopped)


@app.command("errors")
def errors_command(
    config: ConfigOption = Path("hub.toml"),
    run: Annotated[
        int | None,
        typer.Option("--run", help="This run's errors (default: each destination's latest)."),
    ] = None,
    destination: Annotated[
        str | None, typer.Option("--destination", "-d", help="Only this destination.")
    ] = None,
    quarantine: Annotated[
        bool,
        typer.Option(
            "--quarantine",
            help="The source rows the latest sync quarantined, with file:line and reason.",
        ),
    ] = False,
    source: Annotated[
        str | None, typer.Option("--source", help="With --quarantine: only this source.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many errors.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Why records failed: per-record errors of a run (--json: :func:`hub.reports.errors_json`).

    With --quarantine: the source rows the latest sync quarantined, with their
    file:line and reason (--json: :func:`hub.reports.quarantine_json`)."""
    from hub.reports import errors_json, print_errors, print_quarantine, quarantine_json

    store = _open_store(config, read_only=True)
    try:
        if quarantine:
            rows, total, loaded_at = store.quarantined(source, limit=limit)
            _show(quarantine_json(rows, total, loaded_at), as_json, print_quarantine)
            return
        data = errors_json(store.errors(run, destination, limit=limit))
    finally:
        store.close()
    _show(data, as_json, print_errors)


@app.command("retry")
def retry_command(
    config: ConfigOption = Path("hub.toml"),
    destination: DestinationOption = None,
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make permanently failed records pending again, then sync those destinations.

    Output and exit codes as ``hub sync``.
    """
    store = _open_store(config, read_only=False)
    try:
        reset = (
            sum(store.reset_failed(name) for name in destination)
            if destination
            else (store.reset_failed(None))
        )
    finally:
        store.close()
    if not as_json:
        console.print(f"{reset} failed record(s) made pending again.")
    _run_sync(config, destination, False, as_json, as_of)


@app.command()
def plugins(as_json: JsonOption = False) -> None:
    """List installed plugins, their destination types and capabilities."""
    from hub.contract.plugins import load_plugins

    loaded = load_plugins()
    data = {
        "plugins": [
            {"name": name, "distribution": dist}
            for name, dist in sorted(loaded.distributions.items())
        ],
        "failed": [
            {"name": f.name, "entry_point": f.value, "error": f.error} for f in loaded.failed
        ],
        "destination_types": [
            {
                "name": t.name,
                "description": t.description,
                "capabilities": t.capabilities.model_dump(mode="json"),
                "settings_schema": t.settings_model.model_json_schema(),
            }
            for t in loaded.destinations.types().values()
        ],
    }
    if as_json:
        _emit_json(data)
        return
    table = Table("destination type", "objects", "links", "description")
    for t in loaded.destinations.types().values():
        links = t.capabilities.links
        table.add_row(
            t.name,
            ", ".join(f"{k.value} ({o.name})" for k, o in t.capabilities.objects.items()),
            "none"
            if links is None
            else ("with properties" if links.carries_properties else "plain"),
            t.description,
        )
    console.print(table)
    for f in loaded.failed:
        err.print(
            f"plugin {f.name} ({f.value}) failed to load: {f.error}", style="yellow", markup=False
        )


class LogFormat(StrEnum):
    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


@app.command("daemon")
def daemon_command(
    config: ConfigOption = Path("hub.toml"),
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = "info",
    log_format: Annotated[
        LogFormat,
        typer.Option("--log-format", help="auto: JSON unless stderr is a terminal."),
    ] = LogFormat.AUTO,
) -> None:
    """Run the syncs of [schedules] on their schedules until SIGTERM/SIGINT.

    SIGHUP, or a change to hub.toml or a mapping file, reloads the
    configuration (a broken one is reported and the running one kept).
    /healthz and /metrics are served on [daemon] listen (127.0.0.1:9464).
    Exit codes: 0 stopped cleanly, 1 syncs still running after
    daemon.stop_timeout, 2 a configuration problem at start.
    """
    import logging

    import structlog

    from hub.daemon import Daemon
    from hub.observability import configure_logging

    configure_logging(log_level, log_format.value)
    log = structlog.get_logger("hub.daemon")
    try:
        daemon = Daemon(config)
    except ConfigError as error:
        log.error(
            "config.invalid",
            problem_count=len(error.problems),
            problems=[str(problem) for problem in error.problems],
        )
        raise typer.Exit(EXIT_CONFIG) from None
    code = daemon.run()
    if daemon.abandoned:
        # Syncs still running past the stop timeout: leave without waiting for them.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(code)
    raise typer.Exit(code)


def _playbooks(config: Path, as_of: datetime | None, *, dry_run: bool, as_json: bool) -> None:
    from datetime import UTC

    from hub.playbooks import open_playbook_store, run_resolution
    from hub.sync import open_store
    from hub.sync.pipeline import resolve

    try:
        resolution = resolve(config, as_of=as_of, project_destinations=False)
        settings = resolution.project.settings
        if not settings.playbooks.paths:
            err.print("no playbooks configured ([playbooks] paths in hub.toml)", markup=False)
            raise typer.Exit(1)
        store = open_playbook_store(settings, config.parent, read_only=dry_run)
        sync_store = open_store(settings, config.parent, read_only=True)
        try:
            report = run_resolution(
                resolution,
                store,
                lambda: datetime.now(UTC),
                dry_run=dry_run,
                sync_store=sync_store,
            )
        finally:
            store.close()
            sync_store.close()
    except ConfigError as error:
        _fail_config(error)
        return
    if as_json:
        from hub.reports import playbooks_json

        _emit_json(playbooks_json(report, resolution.as_of))
    else:
        verb = "would enter" if dry_run else "entered"
        for playbook, account in report.entered:
            console.print(f"{playbook}: {account} {verb}")
        for playbook, account in report.goal_reached:
            console.print(f"{playbook}: {account} reached the goal")
        for playbook, account in report.timed_out:
            console.print(f"{playbook}: {account} timed out")
        table = Table("playbook", "account", "phase", "action", "subject", "status", "detail")
        for a in report.actions:
            detail = a.reason or "; ".join(f"{k}={v}" for k, v in sorted(a.params.items()))
            table.add_row(
                a.playbook,
                a.account_id,
                a.phase,
                f"{a.destination}.{a.action}",
                a.subject,
                a.status,
                detail,
            )
        console.print(table)
        for message in report.errors:
            err.print(message, markup=False)
    if not report.ok:
        raise typer.Exit(1)


@playbooks_app.command("plan")
def playbooks_plan(
    config: ConfigOption = Path("hub.toml"),
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who would enter, and which actions would run: nothing is written or sent."""
    _playbooks(config, as_of, dry_run=True, as_json=as_json)


@playbooks_app.command("run")
def playbooks_run(
    config: ConfigOption = Path("hub.toml"),
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate entries, goals and timeouts now, and perform pending actions once."""
    _playbooks(config, as_of, dry_run=False, as_json=as_json)


def _state_file(config: Path) -> Path | str:
    """The state file of ``config``, or its PostgreSQL URL (exit 2 for a URL
    that is neither, or a store in memory)."""
    from hub.config import load_settings
    from hub.state import state_database

    try:
        settings = load_settings(config)
        where = state_database(settings.state.url, config.parent)
    except ConfigError as error:
        _fail_config(error)
        raise  # not reached
    if where is None:
        err.print("[red]state.url is sqlite:///:memory:: there is no file to check or back up.[/]")
        raise typer.Exit(EXIT_CONFIG)
    return where


@state_app.command("check")
def state_check(config: ConfigOption = Path("hub.toml"), as_json: JsonOption = False) -> None:
    """Integrity, schema version and counts of the state store (read-only).

    Exit 0 when sound, 3 when the file is damaged or from a newer hub."""
    from hub.state.maintenance import check_postgres, check_state

    where = _state_file(config)
    report = check_postgres(where) if isinstance(where, str) else check_state(where)
    data = dataclasses.asdict(report)
    if as_json:
        _emit_json(data)
    else:
        mark = "[green]ok[/]" if report.ok else "[bold red]problems[/]"
        console.print(f"{report.path}: {mark}", highlight=False)
        console.print(
            f"schema version {report.schema_version} (this hub: {report.supported_version}),"
            f" {report.size_bytes:,} bytes, {report.runs} run(s)",
            highlight=False,
        )
        for destination, statuses in report.records.items():
            counts = ", ".join(f"{n:,} {status}" for status, n in statuses.items())
            console.print(f"  {destination}: {counts}", markup=False, highlight=False)
        for name, owner in report.locks.items():
            console.print(f"  lock {name}: {owner}", markup=False, highlight=False)
        for problem in report.problems:
            err.print(f"[red]{problem}[/]", highlight=False)
    if not report.ok:
        raise typer.Exit(EXIT_STATE)


@state_app.command("backup")
def state_backup(
    path: Annotated[Path, typer.Argument(help="Where to write the copy (must not exist).")],
    config: ConfigOption = Path("hub.toml"),
) -> None:
    """A consistent copy of the state store, safe while a daemon runs (a
    PostgreSQL store: a pg_dump file, restored with pg_restore)."""
    from hub.state.maintenance import backup_postgres, backup_state

    where = _state_file(config)
    size = backup_postgres(where, path) if isinstance(where, str) else backup_state(where, path)
    console.print(f"backed up to {path} ({size:,} bytes)", markup=False, highlight=False)


def _refusing_state_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command``, printing an unusable state store as one clear message and
    exiting with :data:`~hub.errors.EXIT_STATE` (3) instead of a traceback."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except StateStoreError as error:
            problem = error.problem
            config = kwargs.get("config")
            if problem.file is None and isinstance(config, Path):
                problem = dataclasses.replace(problem, file=str(config))  # where [state] is
            err.print("[bold red]the state store cannot be used:[/]")
            err.print(str(problem), markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_STATE) from None

    return run


for _typer in (app, inspect_app, playbooks_app, state_app):
    for _command in _typer.registered_commands:
        if _command.callback is not None:
            _command.callback = _refusing_state_errors(_command.callback)


def main() -> None:
    """Console-script entry point."""
    from hub.redaction import install_log_redaction

    install_log_redaction()
    app()
