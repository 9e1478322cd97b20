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
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from hub.contract.capabilities import SyncMode
from hub.schedules import DurationError, Schedule, cron_error, parse_duration, timezone_error


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
    PARQUET = "parquet"
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
    multiline: bool = False
    """``csv``: quoted cells may hold line breaks. Off by default, so that a quote
    left open costs its own line (quarantined), not the rows after it."""


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
    mapping: Path | None = None
    """The mapping file for this destination; required unless the destination's
    type holds no objects (an action-only destination such as ``slack``)."""
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
    max_retry_after: Duration = 300.0
    """The longest wait the hub accepts (a ``Retry-After``, a rate window to
    reset): past it the batch stays pending and the run ends rate-limited, to
    resume next run, instead of holding its lock for hours."""


def _duration(value: Any) -> Any:
    if isinstance(value, str | int | float):
        try:
            return parse_duration(value)
        except DurationError as error:
            raise PydanticCustomError("duration", str(error)) from None
    return value


#: Seconds, written as a number or as text (``90s``, ``15m``, ``1h30m``, ``2d``).
Duration = Annotated[
    float,
    BeforeValidator(_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?(ms|s|m|h|d|w)\s*)+$"},
                {"type": "number", "minimum": 0},
            ]
        }
    ),
]


class ScheduleSettings(_Section):
    """When ``hub daemon`` runs one sync: every ``interval``, or on a ``cron`` schedule."""

    destinations: list[str] | None = None
    """The destinations this sync covers (default: every enabled destination)."""
    interval: Duration | None = None
    """Run every this long (``90s``, ``15m``, ``1h``, ``1d``); exactly one of interval and cron."""
    cron: str | None = None
    """A 5-field cron expression (``*/5 * * * *``), in ``timezone``; exactly one of
    interval and cron."""
    timezone: str = "UTC"
    """The IANA time zone of the cron expression (``Europe/Paris``)."""
    jitter: Duration = 0.0
    """A random delay up to this long added to each due time (``30s``)."""
    enabled: bool = True
    """False: keep the schedule but do not run it."""

    def schedule(self) -> Schedule:
        """The :class:`~hub.schedules.Schedule` these settings describe."""
        return Schedule(
            interval=self.interval, cron=self.cron, jitter=self.jitter, timezone=self.timezone
        )

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str | None) -> str | None:
        if value is not None and (problem := cron_error(value)):
            raise PydanticCustomError("cron", problem)
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        if problem := timezone_error(value):
            raise PydanticCustomError("timezone", problem)
        return value

    @field_validator("interval")
    @classmethod
    def _check_interval(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise PydanticCustomError("interval", "the interval must be longer than 0s")
        return value

    @model_validator(mode="after")
    def _one_of_interval_and_cron(self) -> Self:
        if self.interval is None and self.cron is None:
            raise PydanticCustomError(
                "schedule",
                "a schedule needs exactly one of 'interval' (e.g. interval = \"15m\")"
                " and 'cron' (e.g. cron = \"*/5 * * * *\"), and has neither",
            )
        if self.interval is not None and self.cron is not None:
            raise PydanticCustomError(
                "schedule",
                "a schedule needs exactly one of 'interval' and 'cron', and has both",
            )
        return self


class AlertSettings(_Section):
    """Where ``hub daemon`` sends alerts (a failed run, too many rejected records).

    The URLs are credentials (a Slack webhook URL is one): they come only from the
    environment, ``HUB_DAEMON__ALERTS__WEBHOOK_URL`` and
    ``HUB_DAEMON__ALERTS__SLACK_WEBHOOK_URL``, or secret files of those names.
    """

    webhook_url: str | None = Field(default=None, repr=False)
    """A URL that receives each alert as a JSON POST (from the environment only)."""
    slack_webhook_url: str | None = Field(default=None, repr=False)
    """A Slack incoming-webhook URL; alerts are POSTed as ``{"text": ...}``
    (from the environment only)."""
    rejected_share: float = Field(default=0.05, ge=0.0, le=1.0)
    """Alert when a run's records refused for good exceed this share of those sent."""
    repeat_after: Duration = 3600.0
    """The same alert (sync, destination, kind) is not sent again within this long."""
    timeout: Duration = 5.0
    """Seconds to wait for an alert endpoint; a failure is logged, never fatal."""


class DaemonSettings(_Section):
    """How ``hub daemon`` runs: its HTTP endpoint, stopping, reloading, locks and alerts."""

    listen: str = "127.0.0.1:9464"
    """``host:port`` of ``/healthz`` and ``/metrics``; an empty string turns them off."""
    stop_timeout: Duration = 30.0
    """On SIGTERM/SIGINT, seconds to let running syncs finish their batch in flight."""
    unhealthy_after: float = Field(default=3.0, gt=0)
    """``/healthz`` answers 503 when a sync has not completed for this many times
    its interval."""
    reload_interval: Duration = 2.0
    """Seconds between checks of hub.toml and the mapping files for changes
    (0: reload on SIGHUP only)."""
    lock_ttl: Duration = 60.0
    """A sync's lock expires this long after its holder's last heartbeat (a crashed
    daemon's lock is taken over after it)."""
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    """Alerts on failed runs and rejected records."""

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        return _listen(value, "127.0.0.1:9464")

    @field_validator("lock_ttl")
    @classmethod
    def _check_lock_ttl(cls, value: float) -> float:
        if value < 1:
            raise PydanticCustomError("lock_ttl", "the lock time-to-live must be at least 1s")
        return value


def _listen(value: str, example: str) -> str:
    """``value`` as a ``host:port`` to listen on, or ``""`` (off)."""
    if value.strip() == "":
        return ""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise PydanticCustomError(
            "listen", f"expected host:port, e.g. {example} (or an empty string: off)"
        )
    return value


class ConsoleSettings(_Section):
    """The web console (``hub console``, and the daemon's port under ``/console``).

    Reading needs nothing on a loopback address (127.0.0.1, ::1). Anything
    else, and every action (retry, run now), needs the console token, which
    comes only from the environment (``HUB_CONSOLE__TOKEN``) or a secret file
    of that name: it is refused in hub.toml.
    """

    listen: str = "127.0.0.1:8400"
    """``host:port`` of ``hub console``; an address beyond loopback needs a token."""
    token: str | None = Field(default=None, repr=False)
    """The token that signs admins in for actions (from the environment only)."""
    in_daemon: bool = True
    """Serve the console on ``hub daemon``'s port too, under ``/console``."""
    cache_seconds: Duration = 60.0
    """How long a plan, an inspection or a playbook preview is shown before it is
    computed again when a SQL source is read (file sources: until a file,
    hub.toml, a mapping or the state changes)."""

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        return _listen(value, "127.0.0.1:8400")


class PlaybookSettings(_Section):
    """Where the playbooks are (see :mod:`hub.playbooks`)."""

    paths: list[str] = Field(default_factory=list)
    """Glob patterns of playbook files, relative to hub.toml
    (e.g. ``mappings/playbooks/*.toml``); none by default."""


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
    schedules: dict[str, ScheduleSettings] = Field(default_factory=dict)
    """When ``hub daemon`` runs each sync, by sync name."""
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    """The daemon's endpoint, stop timeout, reloading, locks and alerts."""
    playbooks: PlaybookSettings = Field(default_factory=PlaybookSettings)
    """Engagement playbooks run after each sync (``hub playbooks``)."""
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    """The web console: where it listens, its token, its cache."""
