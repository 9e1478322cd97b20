"""``hub.toml``: where the data comes from and where it goes.

Loaded through pydantic-settings: values from ``hub.toml``, overridden by
environment variables with the ``HUB_`` prefix and ``__`` nesting
(``HUB_DESTINATIONS__LOCAL__MAPPING=...``). Secrets come only from the
environment or secret files; a secret written into the TOML is refused.
Relative paths are relative to the directory holding ``hub.toml``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Table(StrEnum):
    """The canonical tables a source can fill."""

    USERS = "users"
    ACCOUNTS = "accounts"
    MEMBERSHIPS = "memberships"
    EVENTS = "events"


class SourceKind(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    SEGMENT = "segment"
    SQL = "sql"


class SourceSettings(_Section):
    """One source of canonical rows.

    - ``csv`` / ``jsonl``: one file holding one ``table``.
    - ``segment``: a JSON Lines file of Segment-spec calls (identify, group, track).
    - ``sql``: a SQLAlchemy database ``url`` and one query per table in ``queries``.
    """

    kind: SourceKind
    table: Table | None = None
    path: Path | None = None
    url: str | None = None
    queries: dict[Table, str] = Field(default_factory=dict)


class EventRollupLevel(StrEnum):
    USER = "user"
    ACCOUNT = "account"
    RELATIONSHIP = "relationship"


class EventRollup(_Section):
    """A property computed from events, added to users, accounts or memberships."""

    #: Name of the property it becomes (a trait, or a relationship property).
    property: str
    level: EventRollupLevel
    kind: Literal["count", "last_seen"] = "count"
    #: Only this event name (default: every event).
    event: str | None = None
    #: Only events in the last ``window_days`` before the as-of time (``count`` only).
    window_days: PositiveInt | None = None


class EventSettings(_Section):
    """How events roll up into properties."""

    #: The time windows end at; default: the time of the run.
    as_of: datetime | None = None
    rollups: list[EventRollup] = Field(default_factory=list)


class DestinationSettings(_Section):
    """One configured destination."""

    #: The destination plugin's type name (``outbox``, ``webhook``, ``hubspot``, ...).
    type: str
    #: The mapping file for this destination.
    mapping: Path
    enabled: bool = True
    #: Plugin-specific settings, validated by the plugin's own settings model.
    settings: dict[str, Any] = Field(default_factory=dict)


class HubSettings(_Section):
    """The whole of ``hub.toml``."""

    sources: dict[str, SourceSettings] = Field(default_factory=dict)
    events: EventSettings = Field(default_factory=EventSettings)
    destinations: dict[str, DestinationSettings] = Field(default_factory=dict)
