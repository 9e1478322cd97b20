"""What the CLI shows: the preview of every projection and the inspection of
one user or account, as rich tables for people and as JSON for scripts.

The JSON shapes are documented in the README and kept stable: later checks
and scripts read them. Keys are sorted; lists are in key order.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from hub.conditions import compile_condition
from hub.pipeline import Resolution
from hub.projections.destination import project_account, project_user
from hub.records import (
    DestinationProjection,
    jsonable,
    link_to_json,
    notice_to_json,
    record_to_json,
)

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
        notes = ", ".join(f"{k}={v}" for k, v in item["stats"].items())
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
    """The ``hub inspect user|account ID --json`` document."""
    destinations: dict[str, Any] = {}
    for name in sorted(resolution.projections):
        settings = resolution.project.settings.destinations[name]
        capabilities = resolution.plugins.destinations[settings.type].capabilities
        mapping = resolution.project.mappings[name]
        project = project_user if kind == "user" else project_account
        projection = project(
            name,
            resolution.graph,
            mapping,
            capabilities,
            resolution.as_of,
            compile_condition,
            subject_id,
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
