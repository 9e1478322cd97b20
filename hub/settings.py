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

from hub.capabilities import SyncMode


class _Section(BaseModel):
    # Attribute docstrings become the JSON schema's descriptions (``hub schema``).
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


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
    """``csv``, ``jsonl``, ``segment`` or ``sql``."""
    table: Table | None = None
    """The canonical table a ``csv`` / ``jsonl`` file holds."""
    path: Path | None = None
    """The file to read (``csv``, ``jsonl``, ``segment``), relative to hub.toml."""
    # repr=False: the URL may carry a password (from the environment).
    url: str | None = Field(default=None, repr=False)
    """SQLAlchemy database URL (``sql``); with a password, set ``HUB_SOURCES__<NAME>__URL``."""
    queries: dict[Table, str] = Field(default_factory=dict)
    """One SQL query per canonical table (``sql``)."""


class EventRollupLevel(StrEnum):
    USER = "user"
    ACCOUNT = "account"
    RELATIONSHIP = "relationship"


class EventRollup(_Section):
    """A property computed from events, added to users, accounts or memberships."""

    property: str
    """Name of the property it becomes (a trait, or a relationship property)."""
    level: EventRollupLevel
    """Whose property it is: ``user``, ``account`` or ``relationship`` (membership)."""
    kind: Literal["count", "last_seen"] = "count"
    """``count`` events, or the time of the latest one (``last_seen``)."""
    event: str | None = None
    """Only this event name (default: every event)."""
    window_days: PositiveInt | None = None
    """Only events in the last ``window_days`` before the as-of time (``count`` only)."""


class EventSettings(_Section):
    """How events roll up into properties."""

    as_of: datetime | None = None
    """The time windows end at; default: the time of the run."""
    rollups: list[EventRollup] = Field(default_factory=list)
    """Properties computed from events."""


class DestinationSettings(_Section):
    """One configured destination."""

    type: str
    """The destination plugin's type name (``outbox``, ``webhook``, ``hubspot``, ...)."""
    mapping: Path
    """The mapping file for this destination."""
    enabled: bool = True
    """False: keep the destination configured but do not sync it."""
    mode: SyncMode = SyncMode.UPSERT
    """upsert, update_only, create_only, or mirror (also deletes what the hub created
    and that left the source); the destination type must support it."""
    max_delete_share: float = Field(default=0.25, ge=0.0, le=1.0)
    """Mirror mode refuses a run deleting more than this share of what the hub
    created there (and any run whose source came back empty) unless --force-delete."""
    # repr=False: secrets from the environment or secret files are merged in here.
    settings: dict[str, Any] = Field(default_factory=dict, repr=False)
    """Plugin-specific settings, validated by the plugin's own settings model."""


class StateSettings(_Section):
    """Where the hub remembers what each destination confirmed."""

    url: str = "sqlite:///.hub/state.db"
    """The state store; ``sqlite:///PATH`` (relative to hub.toml) is the embedded default."""


class SyncSettings(_Section):
    """How the sync engine retries and waits."""

    max_attempts: PositiveInt = 5
    """Attempts per record within one run before it is left pending for the next run."""
    backoff_initial: float = Field(default=0.5, gt=0)
    """First retry delay in seconds; doubles each attempt, with full jitter."""
    backoff_max: float = Field(default=60.0, gt=0)
    """The longest retry delay, in seconds."""
    request_timeout: float = Field(default=30.0, gt=0)
    """Seconds to wait on any one request before it counts as a (retryable) timeout."""


class HubSettings(_Section):
    """The whole of ``hub.toml``."""

    sources: dict[str, SourceSettings] = Field(default_factory=dict)
    """Where the canonical rows come from, by source name."""
    events: EventSettings = Field(default_factory=EventSettings)
    """How events roll up into user, account and relationship properties."""
    destinations: dict[str, DestinationSettings] = Field(default_factory=dict)
    """Where the data goes, by destination name."""
    state: StateSettings = Field(default_factory=StateSettings)
    """The state store."""
    sync: SyncSettings = Field(default_factory=SyncSettings)
    """Retries, backoff and timeouts of the sync engine."""
