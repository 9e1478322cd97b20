"""The contract between the sync engine and a destination plugin.

A plugin registers a :class:`~hub.contract.plugins.DestinationType` whose ``factory``
builds a :class:`Destination` from its validated settings and a
:class:`DestinationContext`. The engine then hands it typed :class:`Batch`
objects (one object kind, one operation, at most the declared batch size), in
the order accounts, contacts, links, and expects one :class:`RecordResult` per
item back:

- ``ok``, with the destination's id for the record;
- ``retryable``, with a ``retry_after`` in seconds when the destination said so
  (429, 5xx, a lock, a timeout): the engine retries with backoff;
- ``permanent``, with the reason (a validation error): the record stays failed,
  with its reason, until its data changes or ``hub retry``;

and raises :class:`FatalDestinationError` for what stops the whole run (bad
credentials), naming the setting to fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from hub.contract.capabilities import Capabilities, IdentityKey, Operation


class BatchObject(StrEnum):
    """The kind of item a batch carries."""

    ACCOUNT = "account"
    CONTACT = "contact"
    LINK = "link"


@dataclass(frozen=True, slots=True)
class LinkEnds:
    """The two ends of a link: hub keys, and destination ids once known."""

    contact_key: str
    account_key: str
    contact_id: str | None
    account_id: str | None
    primary: bool = False


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One record (or link) in a batch.

    ``key`` is the hub's identity for it: an ``account_id``, a ``user_id``, a
    membership contact's ``user:account`` key, or for a link
    :func:`link_key` of its ends. ``payload`` is the mapped fields (for a link,
    its properties). ``destination_id`` is the id the destination gave the
    record before, ``None`` when the hub has not seen it confirmed yet.
    """

    key: str
    payload: Mapping[str, Any]
    destination_id: str | None = None
    link: LinkEnds | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """Items of one object kind and one operation, at most the declared batch size."""

    destination: str
    object: BatchObject
    operation: Operation
    items: tuple[BatchItem, ...]
    #: The run this batch belongs to (for logs and idempotency keys).
    run_id: int
    #: The destination's own name for the object ("contacts", "companies", ...).
    object_name: str = ""
    #: The mapping's match chain for these records (``users.match``,
    #: ``accounts.match``), limited to the identity keys the destination declares:
    #: how a record without a destination id finds an existing object.
    match: tuple[IdentityKey, ...] = (IdentityKey.EXTERNAL_ID,)


class Outcome(StrEnum):
    """What became of one record."""

    OK = "ok"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class RecordResult:
    """The destination's answer for one item of a batch."""

    key: str
    outcome: Outcome
    destination_id: str | None = None
    #: For ``retryable``: seconds the destination asked to wait, if it said.
    retry_after: float | None = None
    #: For ``retryable`` and ``permanent``: what went wrong, in the destination's words.
    reason: str | None = None
    #: For ``ok``: the record matched an object the destination already had, by a
    #: later key of its match chain (an e-mail, a domain), and took it over: the
    #: object's id is remembered and the hub's key written onto it.
    adopted: bool = False

    @classmethod
    def ok(cls, key: str, destination_id: str | None = None) -> RecordResult:
        if cls is not RecordResult:
            return cls(key, Outcome.OK, destination_id)
        # One per record a destination accepts: the slots are set directly
        # (a frozen dataclass's __init__ sets each through object.__setattr__).
        made: RecordResult = object.__new__(RecordResult)
        s_key, s_outcome, s_id, s_retry_after, s_reason, s_adopted = _RESULT_SLOTS
        s_key(made, key)
        s_outcome(made, Outcome.OK)
        s_id(made, destination_id)
        s_retry_after(made, None)
        s_reason(made, None)
        s_adopted(made, False)
        return made

    @classmethod
    def adopt(cls, key: str, destination_id: str) -> RecordResult:
        """``ok``: an object the destination already had is now this record's."""
        return cls(key, Outcome.OK, destination_id, adopted=True)

    @classmethod
    def retryable(cls, key: str, reason: str, retry_after: float | None = None) -> RecordResult:
        return cls(key, Outcome.RETRYABLE, None, retry_after, reason)

    @classmethod
    def permanent(cls, key: str, reason: str) -> RecordResult:
        return cls(key, Outcome.PERMANENT, None, None, reason)


_RESULT_SLOTS: Final = tuple(
    RecordResult.__dict__[name].__set__
    for name in ("key", "outcome", "destination_id", "retry_after", "reason", "adopted")
)


class TransientTransportError(Exception):
    """The request for a whole batch did not get through (a timeout, a refused or
    dropped connection): every item of the batch is retried. A plugin raises it
    from ``send`` instead of letting its HTTP library's exception escape, so the
    core needs no HTTP library to tell a transient failure from a bug."""


class FatalDestinationError(Exception):
    """Stops the run for this destination: nothing more can succeed (bad credentials).

    ``setting`` names what to fix, e.g. the environment variable of a token.
    """

    def __init__(self, reason: str, setting: str | None = None) -> None:
        self.reason = reason
        self.setting = setting
        super().__init__(reason if setting is None else f"{reason} (check {setting})")


class RateBudget(Protocol):
    """The request budget of one destination credential, shared by every
    destination using that credential. The engine acquires one request before
    each batch; a plugin making more requests for a batch acquires them too,
    and reports what the destination's response headers said."""

    def acquire(self, requests: int = 1) -> None:
        """Block until ``requests`` may be sent within the budget."""
        ...

    def observe(
        self,
        *,
        limit: int | None = None,
        remaining: int | None = None,
        reset_after: float | None = None,
        daily_remaining: int | None = None,
    ) -> None:
        """Update the budget from a response (``X-RateLimit-*`` and the like)."""
        ...

    def pause(self, seconds: float) -> None:
        """Send nothing on this credential for ``seconds`` (a 429's ``Retry-After``)."""
        ...


@dataclass(frozen=True, slots=True)
class DestinationContext:
    """What the engine gives a destination when it builds it."""

    #: The destination's name in hub.toml.
    name: str
    #: The directory of hub.toml: relative paths in settings are relative to it.
    base_dir: Path
    #: The budget of this destination's credential.
    budget: RateBudget
    #: Seconds to wait on any one request before calling it a timeout.
    timeout: float = 30.0
    #: Extra values for tests (an injected clock, a fake server address).
    extras: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Destination(Protocol):
    """A live connection to one configured destination."""

    #: What this instance can do (usually its type's declaration; a plugin may
    #: narrow limits from its settings, never widen them).
    capabilities: Capabilities
    #: A non-secret identity of the credential in use: destinations sharing it
    #: share one rate budget (e.g. a short hash of the token).
    credential_id: str

    def send(self, batch: Batch) -> Sequence[RecordResult]:
        """Apply ``batch``; return exactly one result per item, in any order.

        Raise :class:`FatalDestinationError` when nothing more can succeed.
        """
        ...

    def close(self) -> None:
        """Release connections and flush files."""
        ...


#: Settings model of a destination type (a pydantic model; ``NoSettings`` when none).
SettingsT = TypeVar("SettingsT", bound=BaseModel, contravariant=True)


class DestinationFactory(Protocol[SettingsT]):
    """Builds a live destination from its validated settings model and context."""

    def __call__(self, settings: SettingsT, context: DestinationContext, /) -> Destination: ...


def link_payload(properties: Mapping[str, Any], primary: bool) -> dict[str, Any]:
    """The payload of a link, as the planner fingerprints and sends it:
    ``{"properties": {...}, "primary": bool}``."""
    return {"properties": properties, "primary": primary}


def link_key(contact_key: str, account_key: str) -> str:
    """The hub key of the link between a contact and an account."""
    return f"{contact_key}\t{account_key}"


def split_link_key(key: str) -> tuple[str, str]:
    """The (contact key, account key) of a link key."""
    contact_key, _, account_key = key.partition("\t")
    return contact_key, account_key
