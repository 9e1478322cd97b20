"""Test doubles for the sync engine: a scripted destination, a fake clock, small projections.

Imported by the sync tests (their directory is on ``sys.path``, no package).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import hub_outbox
from pydantic import BaseModel, ConfigDict

from hub.contract.capabilities import (
    Capabilities,
    LinkCapability,
    ObjectCapability,
    ObjectKind,
    Operation,
    RateLimit,
    SyncMode,
)
from hub.contract.destination import Batch, DestinationContext, FatalDestinationError, RecordResult
from hub.contract.hookspecs import hookimpl
from hub.contract.plugins import DestinationRegistry, DestinationType
from hub.records import DestinationProjection, Link, Record, make_link, make_record


def capabilities(
    upsert: int = 2,
    link: int = 3,
    delete: int = 2,
    rate_limit: RateLimit | None = None,
    modes: frozenset[SyncMode] = frozenset(SyncMode),
) -> Capabilities:
    return Capabilities(
        objects={
            ObjectKind.ACCOUNT: ObjectCapability(name="companies"),
            ObjectKind.CONTACT: ObjectCapability(name="people"),
        },
        links=LinkCapability(many_to_many=True, carries_properties=True, primary=True),
        batch_sizes={
            Operation.UPSERT: upsert,
            Operation.LINK: link,
            Operation.DELETE: delete,
            Operation.UNLINK: link,
        },
        rate_limit=rate_limit,
        sync_modes=modes,
    )


class FakeClock:
    """A clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


#: A scripted answer: "ok", "retry", "retry:SECONDS" (with Retry-After),
#: "permanent:REASON", "missing" (no result at all), "timeout" (send raises).
Answer = str


@dataclass
class FakeDestination:
    """Answers from a per-key script (default: ``ok`` with id ``id-KEY``) and
    remembers every batch it got."""

    capabilities: Capabilities = field(default_factory=capabilities)
    credential_id: str = "fake-credential"
    script: dict[str, list[Answer]] = field(default_factory=dict)
    #: Raise FatalDestinationError on this call to send (0-based).
    fatal_on_call: int | None = None
    clock: Callable[[], float] | None = None
    batches: list[Batch] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    closed: bool = False

    def send(self, batch: Batch) -> Sequence[RecordResult]:
        if self.fatal_on_call is not None and len(self.batches) == self.fatal_on_call:
            self.batches.append(batch)
            raise FatalDestinationError("the token was refused (401)", "HUB_FAKE_TOKEN")
        self.batches.append(batch)
        if self.clock is not None:
            self.sent_at.append(self.clock())
        results: list[RecordResult] = []
        for item in batch.items:
            queue = self.script.get(item.key)
            answer = queue.pop(0) if queue else "ok"
            if answer == "timeout":
                raise TimeoutError("read timed out")
            if answer == "ok":
                results.append(RecordResult.ok(item.key, item.destination_id or f"id-{item.key}"))
            elif answer.startswith("retry"):
                _, _, after = answer.partition(":")
                results.append(
                    RecordResult.retryable(item.key, "429 busy", float(after) if after else None)
                )
            elif answer.startswith("permanent"):
                results.append(RecordResult.permanent(item.key, answer.partition(":")[2]))
            elif answer != "missing":
                raise AssertionError(f"unknown answer {answer!r}")
        return results

    def close(self) -> None:
        self.closed = True

    def keys_sent(self) -> list[str]:
        return [item.key for batch in self.batches for item in batch.items]


def account(key: str, **fields: Any) -> Record:
    return make_record(ObjectKind.ACCOUNT, key, {"name": key.upper(), **fields})


def contact(key: str, **fields: Any) -> Record:
    return make_record(ObjectKind.CONTACT, key, {"email": f"{key}@example.com", **fields})


def link(contact_key: str, account_key: str, role: str = "User") -> Link:
    return make_link(contact_key, account_key, False, {"role": role})


def projection(
    accounts: list[Record], contacts: list[Record], links: list[Link], name: str = "crm"
) -> DestinationProjection:
    return DestinationProjection(name, accounts, contacts, links, [], {})


def small_projection(name: str = "crm") -> DestinationProjection:
    """3 accounts, 4 contacts, 5 links."""
    return projection(
        [account("a1"), account("a2"), account("a3")],
        [contact("u1"), contact("u2"), contact("u3"), contact("u4")],
        [link("u1", "a1"), link("u1", "a2"), link("u2", "a2"), link("u3", "a3"), link("u4", "a1")],
        name,
    )


# -- a fake destination type, for whole syncs ----------------------------------------


class FakeSettings(BaseModel):
    """Settings of the ``fake`` destination type."""

    model_config = ConfigDict(extra="forbid")

    directory: str = ""
    #: Keys refused for good, with this reason.
    refuse: list[str] = []
    #: Raise a fatal error on the first batch.
    fatal: bool = False


class FakePlugin:
    """Registers the ``fake`` destination type: the outbox's capabilities (so the
    sample mappings validate), upsert only, scripted by its settings."""

    def __init__(self, modes: frozenset[SyncMode] = frozenset({SyncMode.UPSERT})) -> None:
        self.modes = modes
        self.built: list[FakeDestination] = []

    @hookimpl
    def hub_register_destinations(self, registry: DestinationRegistry) -> None:
        declared = hub_outbox.CAPABILITIES.model_copy(update={"sync_modes": self.modes})

        def factory(settings: Any, context: DestinationContext) -> FakeDestination:
            assert isinstance(settings, FakeSettings)
            destination = FakeDestination(
                declared,
                credential_id="fake-token",
                script={key: ["permanent:refused by the fake"] for key in settings.refuse},
                fatal_on_call=0 if settings.fatal else None,
            )
            self.built.append(destination)
            return destination

        registry.add(
            DestinationType(
                name="fake",
                capabilities=declared,
                settings_model=FakeSettings,
                factory=factory,
            )
        )
