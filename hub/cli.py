"""The ``hub`` command line (typer, with rich output).

A user's mistake (a bad hub.toml, a mapping error, an unknown id) is printed as
a list of problems with their file and line, never as a traceback, and exits
with a distinct code: 2 for configuration, 1 for everything else the user can
fix.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hub import __version__
from hub.errors import EXIT_CONFIG, ConfigError

app = typer.Typer(
    name="hub",
    help="Sync multi-account product data (users, accounts, memberships) into CRMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
inspect_app = typer.Typer(help="Show exactly what each destination would receive.")
app.add_typer(inspect_app, name="inspect")

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
    from hub.validate import format_problems

    err.print(f"[bold red]{len(error.problems)} problem(s) in the configuration:[/]")
    err.print(format_problems(error.problems), markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_CONFIG)


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
def validate(config: ConfigOption = Path("hub.toml")) -> None:
    """Check hub.toml and every mapping; report every problem at once (exit 2)."""
    from hub.plugins import load_plugins
    from hub.validate import format_problems, validate_project

    plugins = load_plugins()
    problems = validate_project(config, destination_types=plugins.destinations.types())
    for failed in plugins.failed:
        err.print(f"[yellow]plugin {failed.name} ({failed.value}) skipped: {failed.error}[/]")
    if problems:
        err.print(f"[bold red]{len(problems)} problem(s):[/]")
        err.print(format_problems(problems), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG)
    console.print(f"[green]{config}: configuration and mappings are valid.[/]")


@app.command()
def schema(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory to write the schemas to.")
    ] = Path(".hub/schemas"),
) -> None:
    """Write JSON Schemas for hub.toml and mapping files (for taplo / VS Code)."""
    from hub.schema import write_schemas

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
    from hub.pipeline import resolve
    from hub.reports import preview_summary, print_preview

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
    from hub.pipeline import resolve
    from hub.reports import inspect_subject, print_inspection

    try:
        resolution = resolve(config, as_of=as_of, destinations=destination)
    except ConfigError as error:
        _fail_config(error)
        return
    known = resolution.dataset.users if kind == "user" else resolution.dataset.accounts
    if subject_id not in known:
        quarantined = [row for row in resolution.loaded.quarantine if row.record_id == subject_id]
        err.print(f"[red]no {kind} with id {subject_id!r} in the sources.[/]")
        for row in quarantined:
            err.print(f"  quarantined at {row.location}: {row.reason}", markup=False)
        raise typer.Exit(1)
    data = inspect_subject(resolution, kind, subject_id)
    if as_json:
        _emit_json(data)
    else:
        print_inspection(console, data)


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


@app.command()
def plugins(as_json: JsonOption = False) -> None:
    """List installed plugins, their destination types and capabilities."""
    from hub.plugins import load_plugins

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
        err.print(f"[yellow]plugin {f.name} ({f.value}) failed to load: {f.error}[/]")


def main() -> None:
    """Console-script entry point."""
    app()
