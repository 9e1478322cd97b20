"""What the CLI shows: the preview of every projection, the inspection of one
user or account, the plan of the next sync, a sync's summary, the run history
and per-record errors, as rich tables for people and as JSON for scripts.

The JSON shapes are documented in the README and kept stable: later checks
and scripts read them. Keys are sorted; lists are in key order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table

from hub.config.settings import HubSettings
from hub.model import Dataset
from hub.playbooks.engine import PlaybookReport
from hub.quarantine import QuarantinedRow
from hub.records import (
    DestinationProjection,
    jsonable,
    link_to_json,
    notice_to_json,
    record_to_json,
)
from hub.state import ErrorInfo, RunInfo
from hub.state.locks import LockHolder, ScheduleMark, SyncLocks
from hub.sync import DestinationRun, PlanReport, plan_totals
from hub.sync.pipeline import Resolution
from hub.sync.planner import PlanAction, PlannedItem, plan_for_subject

if TYPE_CHECKING:
    from hub.sources.frame import Frame

#: Version of the JSON shapes printed by ``--json``; bumped on any breaking change.
JSON_FORMAT = 1


def _quarantine_json(resolution: Resolution) -> list[dict[str, Any]]:
    return [
        {
            "location": row.location,
            "reason": row.reason,
            "record_id": row.record_id,
            "source": row.source,
            "table": row.table,
        }
        for row in resolution.loaded.quarantine
    ]


def _destination_summary(
    resolution: Resolution, projection: DestinationProjection
) -> dict[str, Any]:
    destination = resolution.project.settings.destinations[projection.destination]
    return {
        "type": destination.type,
        "accounts": len(projection.accounts),
        "contacts": len(projection.contacts),
        "links": len(projection.links),
        "stats": jsonable(projection.stats),
        "notices": [notice_to_json(n) for n in projection.notices],
    }


def preview_summary(resolution: Resolution) -> dict[str, Any]:
    """The ``hub preview --json`` document."""
    return {
        "format": JSON_FORMAT,
        "as_of": jsonable(resolution.as_of),
        "sources": {
            "loaded": dict(sorted(resolution.loaded.counts.items())),
            "quarantined": len(resolution.loaded.quarantine),
            "quarantine": _quarantine_json(resolution),
        },
        "destinations": {
            name: _destination_summary(resolution, projection)
            for name, projection in sorted(resolution.projections.items())
        },
    }


def print_preview(console: Console, resolution: Resolution) -> None:
    """The preview as tables."""
    data = preview_summary(resolution)
    loaded = data["sources"]["loaded"]
    console.print(
        f"[bold]Sources[/] (as of {data['as_of']}): "
        + ", ".join(f"{count} {table}" for table, count in loaded.items())
    )
    quarantine = data["sources"]["quarantine"]
    if quarantine:
        table = Table("location", "table", "reason", title=f"{len(quarantine)} row(s) quarantined")
        for row in quarantine:
            table.add_row(row["location"], row["table"], row["reason"])
        console.print(table)
    summary = Table(
        "destination",
        "type",
        "accounts",
        "contacts",
        "links",
        "notes",
        title="What each destination would receive",
    )
    for name, item in data["destinations"].items():
        stats = item["stats"]
        notes = (
            f"inflation {stats['inflation']} (contacts per user)" if "inflation" in stats else ""
        )
        summary.add_row(
            name,
            item["type"],
            str(item["accounts"]),
            str(item["contacts"]),
            str(item["links"]),
            notes,
        )
    console.print(summary)
    for name, item in data["destinations"].items():
        for notice in item["notices"]:
            console.print(f"  [yellow]{name}[/]: {notice['message']}", highlight=False)
    console.print(
        "Run [bold]hub inspect user ID[/] or [bold]hub inspect account ID[/] to see exact payloads."
    )


def inspect_subject(resolution: Resolution, kind: str, subject_id: str) -> dict[str, Any]:
    """The ``hub inspect user|account ID --json`` document.

    Projected from the part of the data set the subject's records read
    (:func:`hub.sync.delta.subject_part`): what the whole gives, at the cost of
    that part, so that an inspection of one user of a million does not build
    tables of them all."""
    from hub.sync.delta import subject_part

    part = subject_part(resolution.loaded.data, kind, subject_id)
    destinations: dict[str, Any] = {}
    for name in sorted(resolution.destinations):
        settings = resolution.project.settings.destinations[name]
        capabilities = resolution.plugins.destinations[settings.type].capabilities
        mapping = resolution.project.mappings[name]
        from hub.engine.project import project_subject  # DuckDB loads when used

        projection = project_subject(
            kind,
            subject_id,
            name,
            part,
            mapping,
            capabilities,
            resolution.as_of,
            resolution.project.settings.events.rollups,
        )
        destinations[name] = {
            "type": settings.type,
            "records": [record_to_json(r) for r in [*projection.accounts, *projection.contacts]],
            "links": [link_to_json(link) for link in projection.links],
            "notices": [notice_to_json(n) for n in projection.notices],
        }
    return {
        "format": JSON_FORMAT,
        "as_of": jsonable(resolution.as_of),
        "subject": {"type": kind, "id": subject_id},
        "destinations": destinations,
    }


def _holds(data: Dataset | Frame, kind: str, subject_id: str) -> bool:
    """Whether ``data`` has the user or account ``subject_id`` (a frame is
    searched as it is, never made a data set)."""
    if isinstance(data, Dataset):
        return subject_id in (data.users if kind == "user" else data.accounts)
    import pyarrow.compute as pc

    table = data.users if kind == "user" else data.accounts
    keys = table.keys["user_id" if kind == "user" else "account_id"]
    return bool(pc.any(pc.equal(keys, subject_id)).as_py())


def missing_subject(resolution: Resolution, kind: str, subject_id: str) -> dict[str, Any] | None:
    """``None`` when the sources hold the ``kind`` (``user`` or ``account``)
    ``subject_id``; else why not: ``{"message", "quarantined": [{"location",
    "reason"}]}``, the rows of that id the load quarantined."""
    if _holds(resolution.loaded.data, kind, subject_id):
        return None
    return {
        "message": f"no {kind} with id {subject_id!r} in the sources.",
        "quarantined": [
            {"location": row.location, "reason": row.reason}
            for row in resolution.loaded.quarantine
            if row.record_id == subject_id
        ],
    }


def _cell(value: Any) -> str:
    if value is None:
        return "[dim]null[/]"
    return str(jsonable(value))


def print_inspection(console: Console, data: dict[str, Any]) -> None:
    """An inspection as one table per destination and object."""
    subject = data["subject"]
    console.print(f"[bold]{subject['type']} {subject['id']}[/] (as of {data['as_of']})")
    for name, item in data["destinations"].items():
        console.rule(f"{name} ({item['type']})")
        if not item["records"] and not item["links"]:
            console.print("  receives nothing for this " + subject["type"])
        for record in item["records"]:
            table = Table(
                "field", "value", title=f"{record['object']} {record['key']}", title_justify="left"
            )
            for field, value in record["fields"].items():
                table.add_row(field, _cell(value))
            console.print(table)
        if item["links"]:
            links = Table(
                "contact", "account", "primary", "properties", title="links", title_justify="left"
            )
            for link in item["links"]:
                links.add_row(
                    link["contact_key"],
                    link["account_key"],
                    "yes" if link["primary"] else "",
                    ", ".join(f"{k}={_cell(v)}" for k, v in link["properties"].items()),
                )
            console.print(links)
        for notice in item["notices"]:
            console.print(f"  [yellow]{notice['message']}[/]", highlight=False)


# -- plan, sync, runs and errors --------------------------------------------------

#: Samples per action in ``hub plan``.
PLAN_SAMPLES = 5

#: The counts the sync summary shows, in order.
SUMMARY_COUNTS = (
    "created",
    "updated",
    "adopted",
    "unchanged",
    "deleted",
    "linked",
    "unlinked",
    "failed",
    "pending",
    "quarantined",
)


def planned_item_to_json(item: PlannedItem) -> dict[str, Any]:
    """One planned item: ``{"action", "object", "key", "destination_id",
    "fingerprint", "payload", "link"}``; ``link`` is ``null`` or
    ``{"contact_key", "account_key", "contact_id", "account_id", "primary"}``."""
    link = item.link
    return {
        "action": item.action.value,
        "destination_id": item.destination_id,
        "fingerprint": item.fingerprint,
        "key": item.key,
        "link": None
        if link is None
        else {
            "account_id": link.account_id,
            "account_key": link.account_key,
            "contact_id": link.contact_id,
            "contact_key": link.contact_key,
            "primary": link.primary,
        },
        "object": item.object.value,
        "payload": jsonable(item.payload),
    }


def plan_summary(report: PlanReport, samples: int = PLAN_SAMPLES) -> dict[str, Any]:
    """The ``hub plan --json`` document::

        {"format": 1, "as_of": "...",
         "destinations": {NAME: {"type", "mode", "counts": {...}, "totals": {...},
                                 "delete_guard": str | null,
                                 "samples": {ACTION: [planned item, ...]}}}}

    ``counts`` are the planner's (``"account.create"``, ``"contact.unchanged"``,
    ``"link.unlink"``, ``"skipped.delete_guard"``, ...; see
    :class:`~hub.sync.planner.DestinationPlan`); ``totals`` sums them over object
    kinds (``create``, ``update``, ``unchanged``, ``delete``, ``link``,
    ``unlink``, ``failed``: held back after a permanent failure); ``samples``
    holds up to ``samples`` items per action (``create``, ``update``,
    ``delete``, ``link``, ``unlink``) in plan order, each as
    :func:`planned_item_to_json`.
    """
    destinations: dict[str, Any] = {}
    for name, planned in sorted(report.plans.items()):
        settings = report.resolution.project.settings.destinations[name]
        by_action: dict[str, list[dict[str, Any]]] = {action.value: [] for action in PlanAction}
        for item in planned.items:
            bucket = by_action[item.action.value]
            if len(bucket) < samples:
                bucket.append(planned_item_to_json(item))
        destinations[name] = {
            "counts": dict(sorted(planned.counts.items())),
            "totals": plan_totals(planned.counts),
            "delete_guard": planned.delete_guard,
            "mode": planned.mode.value,
            "samples": by_action,
            "type": settings.type,
        }
    return {
        "as_of": jsonable(report.resolution.as_of),
        "destinations": destinations,
        "format": JSON_FORMAT,
    }


def plan_subject(report: PlanReport, kind: str, subject_id: str) -> dict[str, Any]:
    """The ``hub plan --user ID | --account ID --json`` document::

        {"format": 1, "as_of": "...", "subject": {"type": "user"|"account", "id": ID},
         "destinations": {NAME: {"type", "mode", "items": [planned item, ...]}}}

    ``items`` are exactly what the next sync would send for the subject (its
    records, its links, its deletes), in send order.
    """
    destinations: dict[str, Any] = {}
    for name, planned in sorted(report.plans.items()):
        settings = report.resolution.project.settings.destinations[name]
        separator = report.resolution.project.mappings[name].membership_contacts.separator
        items = (
            plan_for_subject(planned, user_id=subject_id, separator=separator)
            if kind == "user"
            else plan_for_subject(planned, account_id=subject_id, separator=separator)
        )
        destinations[name] = {
            "items": [planned_item_to_json(item) for item in items],
            "mode": planned.mode.value,
            "type": settings.type,
        }
    return {
        "as_of": jsonable(report.resolution.as_of),
        "destinations": destinations,
        "format": JSON_FORMAT,
        "subject": {"id": subject_id, "type": kind},
    }


def _item_label(item: dict[str, Any]) -> str:
    link = item["link"]
    if link is not None:
        return f"{link['contact_key']} → {link['account_key']}"
    return f"{item['object']} {item['key']}"


def print_plan(console: Console, data: dict[str, Any]) -> None:
    """The plan as one table of counts and a few samples per destination."""
    counts_table = Table(
        "destination",
        "mode",
        "create",
        "update",
        "unchanged",
        "delete",
        "link",
        "unlink",
        title="What the next sync would do",
    )
    for name, item in data["destinations"].items():
        counts = item["totals"]
        counts_table.add_row(
            name,
            item["mode"],
            *(
                str(counts.get(key, 0))
                for key in ("create", "update", "unchanged", "delete", "link", "unlink")
            ),
        )
    console.print(counts_table)
    for name, item in data["destinations"].items():
        if item["delete_guard"]:
            console.print(f"  [red]{name}[/]: {item['delete_guard']}", highlight=False)
        for action, samples in item["samples"].items():
            if not samples:
                continue
            shown = ", ".join(_item_label(sample) for sample in samples)
            more = item["totals"].get(action, len(samples)) - len(samples)
            console.print(
                f"  {name} {action}: {shown}" + (f" (+{more} more)" if more > 0 else ""),
                highlight=False,
                markup=False,
            )
    console.print("Run [bold]hub plan --user ID[/] or [bold]--account ID[/] for exact payloads.")


def print_plan_subject(console: Console, data: dict[str, Any]) -> None:
    """A subject's planned items, one table per item."""
    subject = data["subject"]
    console.print(f"[bold]{subject['type']} {subject['id']}[/] (as of {data['as_of']})")
    for name, item in data["destinations"].items():
        console.rule(f"{name} ({item['type']}, {item['mode']})")
        if not item["items"]:
            console.print("  nothing to send: up to date")
        for planned in item["items"]:
            title = f"{planned['action']} {_item_label(planned)}"
            if planned["destination_id"]:
                title += f" (id {planned['destination_id']})"
            table = Table("field", "value", title=title, title_justify="left")
            for field, value in planned["payload"].items():
                table.add_row(field, _cell(value))
            console.print(table)


def sync_summary(runs: list[DestinationRun]) -> dict[str, Any]:
    """The ``hub sync --json`` (and ``hub retry --json``) document::

        {"format": 1, "ok": bool,
         "quarantine": {"total": int, "by_source": {SOURCE: int}},
         "runs": [{"destination", "type", "mode", "run_id", "status", "message",
                   "counts": {...}, "planned": {...}, "rate_waits", "rate_wait_seconds",
                   "plugin_errors": [...]}]}

    ``counts`` are the run's (:class:`~hub.sync.executor.ExecutionSummary` keys plus
    ``unchanged``, ``quarantined`` and ``skipped.*``); ``planned`` the plan's;
    ``ok`` is true when every run succeeded. ``quarantine``: the rows this
    sync's load quarantined (``hub errors --quarantine`` lists them).
    """
    by_source = runs[0].quarantined if runs else {}
    return {
        "format": JSON_FORMAT,
        "ok": all(run.ok for run in runs),
        "quarantine": {"total": sum(by_source.values()), "by_source": dict(by_source)},
        "runs": [
            {
                "counts": dict(sorted(run.counts.items())),
                "destination": run.destination,
                "message": run.message,
                "mode": run.mode.value,
                "planned": dict(sorted(run.planned.items())),
                "plugin_errors": list(run.plugin_errors),
                "rate_wait_seconds": round(run.rate_wait_seconds, 3),
                "rate_waits": run.rate_waits,
                "run_id": run.run_id,
                "status": run.status.value,
                "type": run.type,
            }
            for run in runs
        ],
    }


_STATUS_STYLE = {"succeeded": "green", "partial": "yellow", "failed": "red"}


def print_sync_summary(console: Console, runs: list[DestinationRun]) -> None:
    """One row per destination: its status and counts (deletes, links and
    unlinks only when some destination had any), then rate-limit waits and
    each run's message."""
    always = {"created", "updated", "unchanged", "failed", "pending"}
    # Quarantined rows are the load's, the same for every destination: said
    # once below the table rather than in a column.
    shown = [
        key
        for key in SUMMARY_COUNTS
        if key != "quarantined" and (key in always or any(run.counts.get(key, 0) for run in runs))
    ]
    # Compact (no borders, one space between columns): ten columns fit 80.
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), title="Sync")
    table.add_column("destination")
    table.add_column("status")
    for key in shown:
        table.add_column(key, justify="right")
    for run in runs:
        style = _STATUS_STYLE.get(run.status.value, "")
        table.add_row(
            run.destination,
            f"[{style}]{run.status.value}[/]" if style else run.status.value,
            *(str(run.counts.get(key, 0)) for key in shown),
        )
    console.print(table)
    for run in runs:
        if run.rate_waits:
            console.print(
                f"  {run.destination}: waited {run.rate_waits} time(s) for the rate limit,"
                f" {run.rate_wait_seconds:.1f}s in all",
                highlight=False,
                markup=False,
            )
    for run in runs:
        if run.message:
            console.print(f"  {run.destination}: {run.message}", highlight=False, markup=False)
        for error in run.plugin_errors:
            console.print(
                f"  {run.destination}: plugin bug: {error}", highlight=False, markup=False
            )
    if any(run.counts.get("failed", 0) for run in runs):
        console.print("Run [bold]hub errors[/] to see why records failed.")
    by_source = runs[0].quarantined if runs else {}
    if by_source:
        listed = ", ".join(f"{name}: {count}" for name, count in by_source.items())
        console.print(
            f"[yellow]{sum(by_source.values())} source row(s) quarantined ({listed}):[/]"
            " [bold]hub errors --quarantine[/] lists them with their file:line and reason.",
            highlight=False,
        )


def quarantine_json(
    rows: list[QuarantinedRow], total: int, loaded_at: datetime | None
) -> dict[str, Any]:
    """The ``hub errors --quarantine --json`` document::

        {"format": 1, "loaded_at": "...", "total": int,
         "rows": [{"source", "table", "location", "reason", "record_id"}]}

    the rows the latest sync's load quarantined, in the order they were read
    (``total`` counts them all; ``rows`` holds at most ``--limit``).
    """
    return {
        "format": JSON_FORMAT,
        "loaded_at": jsonable(loaded_at),
        "rows": [
            {
                "location": row.location,
                "reason": row.reason,
                "record_id": row.record_id,
                "source": row.source,
                "table": row.table,
            }
            for row in rows
        ],
        "total": total,
    }


def print_quarantine(console: Console, data: dict[str, Any]) -> None:
    """Quarantined rows as a table: where each is, and why."""
    if not data["total"]:
        console.print("No quarantined rows in the latest load.")
        return
    table = Table(title="Quarantined rows")
    table.add_column("source")
    table.add_column("table")
    # Never cut: a person goes to exactly this file and line.
    table.add_column("location", overflow="fold")
    table.add_column("reason", overflow="fold")
    for row in data["rows"]:
        table.add_row(row["source"], row["table"], row["location"], row["reason"])
    console.print(table)
    if data["total"] > len(data["rows"]):
        console.print(f"{len(data['rows'])} of {data['total']} shown (--limit for more).")


def runs_json(runs: list[RunInfo]) -> dict[str, Any]:
    """The ``hub runs --json`` document::

        {"format": 1, "runs": [{"run_id", "destination", "mode", "status",
                                "started_at", "finished_at", "counts", "message"}]}

    newest first; times are ISO 8601 UTC, ``finished_at`` ``null`` while running.
    """
    return {"format": JSON_FORMAT, "runs": [run_json(run) for run in runs]}


def run_json(run: RunInfo) -> dict[str, Any]:
    """One run of :func:`runs_json`; ``duration_seconds`` is ``null`` while it runs."""
    finished = run.finished_at
    return {
        "counts": dict(sorted(run.counts.items())),
        "destination": run.destination,
        "duration_seconds": (
            None if finished is None else round((finished - run.started_at).total_seconds(), 3)
        ),
        "finished_at": jsonable(finished),
        "message": run.message,
        "mode": run.mode,
        "run_id": run.run_id,
        "started_at": jsonable(run.started_at),
        "status": run.status.value,
    }


def status_json(
    settings: HubSettings,
    latest: dict[str, RunInfo],
    marks: list[ScheduleMark],
    holders: list[LockHolder],
    now: float,
) -> dict[str, Any]:
    """The ``hub status --json`` document (the console's first page)::

        {"format": 1,
         "destinations": [{"name", "type", "mode", "enabled", "mapping",
                           "last_run": run | null,
                           "lock": {"owner", "expired"} | null,
                           "schedules": [{"sync", "schedule", "enabled",
                                          "last_started", "last_status"}]}]}

    each destination of hub.toml by name, with its latest run (as in
    :func:`runs_json`), the lock held on it, and the ``[schedules]`` that run
    it (``schedule`` reads ``every 15m, jitter 30s``)."""
    by_sync = {mark.sync: mark for mark in marks}
    locks = {holder.name: holder for holder in holders}
    destinations = []
    for name, destination in sorted(settings.destinations.items()):
        schedules = []
        for sync, schedule in sorted(settings.schedules.items()):
            covered = schedule.destinations
            if covered is None and not destination.enabled:
                continue
            if covered is not None and name not in covered:
                continue
            mark = by_sync.get(sync)
            schedules.append(
                {
                    "enabled": schedule.enabled,
                    "last_started": _epoch(None if mark is None else mark.last_started),
                    "last_status": None if mark is None else mark.last_status,
                    "schedule": schedule.schedule().describe(),
                    "sync": sync,
                }
            )
        holder = locks.get(f"destination:{name}")
        run = latest.get(name)
        destinations.append(
            {
                "enabled": destination.enabled,
                "last_run": None if run is None else run_json(run),
                "lock": None
                if holder is None
                else {"expired": holder.expires_at <= now, "owner": holder.owner},
                "mapping": None if destination.mapping is None else str(destination.mapping),
                "mode": destination.mode.value,
                "name": name,
                "schedules": schedules,
                "type": destination.type,
            }
        )
    return {"destinations": destinations, "format": JSON_FORMAT}


def print_status(console: Console, data: dict[str, Any]) -> None:
    """Each destination: its latest run, its schedules and its lock."""
    from rich.markup import escape

    table = Table("destination", "last run", "finished", "schedules", "lock")
    for row in data["destinations"]:
        run = row["last_run"]
        if run is None:
            last = "never" if row["mapping"] else "actions only"
        else:
            style = _STATUS_STYLE.get(run["status"], "")
            shown = f"[{style}]{run['status']}[/]" if style else run["status"]
            last = f"#{run['run_id']} {shown}"
        lock = row["lock"]
        table.add_row(
            escape(row["name"]) + ("" if row["enabled"] else " (disabled)"),
            last,
            "" if run is None else (run["finished_at"] or "running")[:19].replace("T", " "),
            escape("\n".join(f"{s['sync']}: {s['schedule']}" for s in row["schedules"])),
            ""
            if lock is None
            else escape(lock["owner"]) + (" (expired)" if lock["expired"] else ""),
        )
    console.print(table)


def playbooks_json(report: PlaybookReport, as_of: datetime) -> dict[str, Any]:
    """The ``hub playbooks plan|run --json`` document::

        {"format": 1, "as_of", "at", "dry_run",
         "entered": [{"playbook", "account_id"}],
         "goal_reached": [{"playbook", "account_id"}],
         "timed_out": [{"playbook", "account_id"}],
         "actions": [{"playbook", "account_id", "phase", "index", "destination",
                      "action", "subject", "key", "status", "params", "reason"}],
         "errors": ["..."]}

    ``as_of`` ends the event windows (``--as-of``), ``at`` is the moment the
    entries, goals and timeouts were judged (now), both ISO 8601 UTC. Accounts
    are in the order they were judged: entries already open first (oldest
    first), then new entries by account id. ``phase`` is ``entry``,
    ``goal_reached`` or ``goal_not_reached``; ``index`` the action's place in
    its phase (0-based); ``subject`` ``account:ID``, ``USER:ACCOUNT`` (scope
    ``membership``) or ``user:ID`` (scope ``user``); ``key`` the idempotency
    key the destination receives; ``status`` ``planned`` (plan), ``ok``,
    ``failed`` or ``pending`` (run); ``reason`` why it failed, else ``null``.
    """

    def accounts(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
        return [{"account_id": account, "playbook": playbook} for playbook, account in pairs]

    return {
        "actions": [
            {
                "account_id": a.account_id,
                "action": a.action,
                "destination": a.destination,
                "index": a.index,
                "key": a.key,
                "params": dict(sorted(a.params.items())),
                "phase": a.phase,
                "playbook": a.playbook,
                "reason": a.reason,
                "status": a.status,
                "subject": a.subject,
            }
            for a in report.actions
        ],
        "as_of": jsonable(as_of),
        "at": jsonable(report.at),
        "dry_run": report.dry_run,
        "entered": accounts(report.entered),
        "errors": list(report.errors),
        "format": JSON_FORMAT,
        "goal_reached": accounts(report.goal_reached),
        "timed_out": accounts(report.timed_out),
    }


def print_runs(console: Console, data: dict[str, Any]) -> None:
    """The run history as a table."""
    table = Table("run", "destination", "mode", "status", "started", "counts", "message")
    for run in data["runs"]:
        counts = run["counts"]
        shown = ", ".join(f"{key} {counts[key]}" for key in SUMMARY_COUNTS if counts.get(key, 0))
        style = _STATUS_STYLE.get(run["status"], "")
        table.add_row(
            str(run["run_id"]),
            run["destination"],
            run["mode"],
            f"[{style}]{run['status']}[/]" if style else run["status"],
            run["started_at"],
            shown,
            run["message"] or "",
        )
    console.print(table)


def errors_json(errors: list[ErrorInfo]) -> dict[str, Any]:
    """The ``hub errors --json`` document::

        {"format": 1, "errors": [{"run_id", "destination", "object", "key",
                                  "reason", "permanent", "at"}]}

    ``permanent`` false: a retryable error, the record is retried next run.
    """
    return {
        "errors": [
            {
                "at": jsonable(error.at),
                "destination": error.destination,
                "key": error.key,
                "object": error.object.value,
                "permanent": error.permanent,
                "reason": error.reason,
                "run_id": error.run_id,
            }
            for error in errors
        ],
        "format": JSON_FORMAT,
    }


def print_errors(console: Console, data: dict[str, Any]) -> None:
    """Per-record errors as a table."""
    if not data["errors"]:
        console.print("No record errors.")
        return
    table = Table("run", "destination", "object", "key", "kind", "reason")
    for error in data["errors"]:
        table.add_row(
            str(error["run_id"]),
            error["destination"],
            error["object"],
            error["key"],
            "permanent" if error["permanent"] else "retryable",
            error["reason"],
        )
    console.print(table)
    if any(error["permanent"] for error in data["errors"]):
        console.print("Fix the data (or the mapping) and sync, or run [bold]hub retry[/].")


def _epoch(seconds: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC (``None`` stays ``None``)."""
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def fleet_json(
    holders: list[LockHolder], marks: list[ScheduleMark], running: list[RunInfo], now: float
) -> dict[str, Any]:
    """The ``hub fleet --json`` document (and the daemon's ``/fleet``): who
    runs what, from the state store every daemon of the fleet shares::

        {"format": 1,
         "locks": [{"name", "owner", "host", "pid", "acquired_at", "heartbeat_at",
                    "expires_at", "heartbeat_age_seconds", "expires_in_seconds",
                    "expired"}],
         "schedules": [{"sync", "last_started", "last_finished", "last_status",
                        "last_success"}],
         "running": [{"run_id", "destination", "mode", "started_at"}]}

    ``owner`` is ``host:pid:tag``; a lock ``expired`` is free to be taken over
    (its holder stopped renewing it: crashed, frozen or cut off). ``running``
    lists the runs the store has as running (a run whose process died shows
    until the next run of its destination marks it interrupted)."""
    locks = []
    for holder in holders:
        host, _, rest = holder.owner.partition(":")
        pid = rest.partition(":")[0]
        locks.append(
            {
                "acquired_at": _epoch(holder.acquired_at),
                "expired": holder.expires_at <= now,
                "expires_at": _epoch(holder.expires_at),
                "expires_in_seconds": round(holder.expires_at - now, 3),
                "heartbeat_age_seconds": round(max(0.0, now - holder.heartbeat_at), 3),
                "heartbeat_at": _epoch(holder.heartbeat_at),
                "host": host,
                "name": holder.name,
                "owner": holder.owner,
                "pid": int(pid) if pid.isdigit() else None,
            }
        )
    return {
        "format": JSON_FORMAT,
        "locks": locks,
        "running": [
            {
                "destination": run.destination,
                "mode": run.mode,
                "run_id": run.run_id,
                "started_at": jsonable(run.started_at),
            }
            for run in running
        ],
        "schedules": [
            {
                "last_finished": _epoch(mark.last_finished),
                "last_started": _epoch(mark.last_started),
                "last_status": mark.last_status,
                "last_success": _epoch(mark.last_success),
                "sync": mark.sync,
            }
            for mark in marks
        ],
    }


def fleet_report(
    settings: HubSettings,
    base_dir: Path,
    now: float | None = None,
    *,
    locks: SyncLocks | None = None,
) -> dict[str, Any]:
    """:func:`fleet_json` read from the state store of ``settings`` (nothing
    is created: a SQLite file that does not exist yet reads as empty).
    ``locks``: the daemon's own open :class:`SyncLocks` on that store, read
    instead of opening another connection for each request."""
    import time

    from hub.state import RunStatus
    from hub.sync import open_store

    holders, marks = _locks_read(settings, base_dir, locks)
    store = open_store(settings, base_dir, read_only=True)
    try:
        running = [run for run in store.runs(limit=1000) if run.status is RunStatus.RUNNING]
    finally:
        store.close()
    return fleet_json(holders, marks, running, time.time() if now is None else now)


def _locks_read(
    settings: HubSettings, base_dir: Path, locks: SyncLocks | None
) -> tuple[list[LockHolder], list[ScheduleMark]]:
    """The lock holders and schedule marks of the state of ``settings``: through
    ``locks`` when the caller holds them open, else read from the store (none
    when it has no locks table yet)."""
    from hub.state import state_database

    if locks is not None:
        return locks.holders(), locks.marks()
    opened = _shared_locks(state_database(settings.state.url, base_dir))
    if opened is None:
        return [], []
    with opened:
        return opened.holders(), opened.marks()


def _shared_locks(where: Path | str | None) -> SyncLocks | None:
    """The locks table of the state at ``where``, opened; ``None`` when the
    store has none yet (nothing is created)."""
    if isinstance(where, str):
        from hub.state.postgres import existing_tables

        shared = bool(existing_tables(where, ["sync_locks"]))
    else:
        shared = where is not None and where.exists()
    return SyncLocks(where) if shared and where is not None else None


def status_report(
    settings: HubSettings,
    base_dir: Path,
    now: float | None = None,
    *,
    locks: SyncLocks | None = None,
) -> dict[str, Any]:
    """:func:`status_json` read from the state store of ``settings`` (nothing
    is created), through ``locks`` when the caller holds them open."""
    import time

    from hub.sync import open_store

    holders, marks = _locks_read(settings, base_dir, locks)
    store = open_store(settings, base_dir, read_only=True)
    try:
        latest = {}
        for name in settings.destinations:
            found = store.runs(name, limit=1)
            if found:
                latest[name] = found[0]
    finally:
        store.close()
    return status_json(settings, latest, marks, holders, time.time() if now is None else now)


def print_fleet(console: Console, data: dict[str, Any]) -> None:
    """The fleet as tables: locks held, runs in progress, the schedules' marks."""
    from rich.markup import escape

    locks = Table(title="locks")
    for header in ("lock", "owner", "heartbeat", "lease"):
        locks.add_column(header, overflow="fold")
    for lock in data["locks"]:
        left = lock["expires_in_seconds"]
        lease = f"[red]expired {-left:.1f}s ago[/]" if lock["expired"] else f"{left:.1f}s left"
        locks.add_row(
            escape(lock["name"]),
            escape(lock["owner"]),
            f"{lock['heartbeat_age_seconds']:.1f}s ago",
            lease,
        )
    console.print(locks if data["locks"] else "no lock is held")
    if data["running"]:
        running = Table("run", "destination", "started", title="running")
        for run in data["running"]:
            running.add_row(str(run["run_id"]), escape(run["destination"]), run["started_at"])
        console.print(running)
    if data["schedules"]:
        schedules = Table("sync", "last started", "last finished", "status", "last success")
        for mark in data["schedules"]:
            schedules.add_row(
                escape(mark["sync"]),
                mark["last_started"] or "",
                mark["last_finished"] or "",
                escape(mark["last_status"] or ""),
                mark["last_success"] or "",
            )
        console.print(schedules)
