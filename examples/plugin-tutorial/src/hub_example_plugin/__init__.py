"""``csvdrop``: an example connector-hub destination writing one CSV file per object kind.

Each file holds what the destination currently "has": one row per record
(``key`` then one column per field), rewritten atomically after every batch.
Upserts replace a row, deletes and unlinks remove it, so sending a batch twice
changes nothing.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hub.contract import (
    Batch,
    BatchObject,
    Capabilities,
    DestinationContext,
    DestinationRegistry,
    DestinationType,
    LinkCapability,
    ObjectCapability,
    ObjectKind,
    Operation,
    RecordResult,
    SyncMode,
    hookimpl,
)

__version__ = "0.1.0"

#: The column holding the hub's key; the other columns are payload fields.
KEY_COLUMN = "key"


class CsvDropSettings(BaseModel):
    """``[destinations.NAME.settings]`` of a csvdrop destination."""

    model_config = ConfigDict(extra="forbid")

    #: Where the CSV files go, relative to hub.toml.
    directory: Path = Path("csvdrop")
    #: The field separator.
    delimiter: str = Field(default=",", min_length=1, max_length=1)


CAPABILITIES = Capabilities(
    objects={
        ObjectKind.ACCOUNT: ObjectCapability(name="accounts"),
        ObjectKind.CONTACT: ObjectCapability(name="contacts"),
    },
    links=LinkCapability(many_to_many=True, carries_properties=True),
    batch_sizes={operation: 200 for operation in Operation},
    sync_modes=frozenset({SyncMode.UPSERT, SyncMode.MIRROR}),
)


class CsvDropDestination:
    """A live csvdrop destination."""

    capabilities: Capabilities = CAPABILITIES

    def __init__(self, settings: CsvDropSettings, context: DestinationContext) -> None:
        directory = settings.directory
        if not directory.is_absolute():
            directory = context.base_dir / directory
        self.directory = directory.resolve()
        self.delimiter = settings.delimiter
        # Destinations sharing a credential share a rate budget; files have none.
        self.credential_id = f"csvdrop:{self.directory}"

    def path(self, object: str) -> Path:
        """The CSV file of one object kind (``account``, ``contact``, ``link``)."""
        return self.directory / f"{object}.csv"

    def rows(self, object: str) -> dict[str, dict[str, str]]:
        """The rows of ``object``'s file, by key."""
        path = self.path(object)
        if not path.exists():
            return {}
        with path.open(newline="", encoding="utf-8") as handle:
            return {
                row[KEY_COLUMN]: row for row in csv.DictReader(handle, delimiter=self.delimiter)
            }

    def send(self, batch: Batch) -> Sequence[RecordResult]:
        rows = self.rows(batch.object.value)
        results: list[RecordResult] = []
        for item in batch.items:
            if batch.operation in (Operation.DELETE, Operation.UNLINK):
                rows.pop(item.key, None)  # already gone is fine: a re-sent delete
                results.append(RecordResult.ok(item.key, item.destination_id or item.key))
                continue
            # A link's payload is {"properties": {...}, "primary": bool}; a link
            # row holds its properties (csvdrop declares no primary account).
            fields = (
                item.payload["properties"] if batch.object is BatchObject.LINK else item.payload
            )
            problem = _not_scalar(fields)
            if problem:
                # One bad record is that record's problem, never its batch's.
                results.append(RecordResult.permanent(item.key, problem))
                continue
            cells = {name: "" if value is None else str(value) for name, value in fields.items()}
            rows[item.key] = {KEY_COLUMN: item.key, **cells}
            results.append(RecordResult.ok(item.key, item.destination_id or item.key))
        self._write(batch.object.value, rows)
        return results

    def _write(self, object: str, rows: Mapping[str, Mapping[str, str]]) -> None:
        columns = sorted({name for row in rows.values() for name in row} - {KEY_COLUMN})
        self.directory.mkdir(parents=True, exist_ok=True)
        # Write a temporary file and rename it: a crash never leaves half a file,
        # and fsync makes a confirmed record durable before send() returns.
        fd, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(
                handle, [KEY_COLUMN, *columns], delimiter=self.delimiter, restval=""
            )
            writer.writeheader()
            writer.writerows(rows[key] for key in sorted(rows))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path(object))

    def close(self) -> None:
        """Nothing to release: every batch is on disk when send() returns."""


def _not_scalar(payload: Mapping[str, Any]) -> str | None:
    for name, value in payload.items():
        if not (value is None or isinstance(value, str | int | float | bool)):
            return f"field {name!r}: a CSV cell holds a scalar, not {type(value).__name__}"
    return None


def make_csvdrop(settings: CsvDropSettings, context: DestinationContext) -> CsvDropDestination:
    """The factory connector-hub calls with validated settings."""
    return CsvDropDestination(settings, context)


@hookimpl
def hub_register_destinations(registry: DestinationRegistry) -> None:
    """Register the ``csvdrop`` destination type."""
    registry.add(
        DestinationType(
            name="csvdrop",
            capabilities=CAPABILITIES,
            settings_model=CsvDropSettings,
            description="One CSV file per object kind, on local disk.",
            factory=make_csvdrop,
        )
    )
