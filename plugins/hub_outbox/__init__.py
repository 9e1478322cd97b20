"""The local outbox destination: JSON Lines files on disk, no account anywhere.

It is the embedded default the README's main job uses: everything the hub
would send to a CRM lands in readable files instead.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from hub.capabilities import Capabilities, LinkCapability, ObjectCapability, ObjectKind
from hub.hookspecs import hookimpl
from hub.plugins import DestinationRegistry, DestinationType

__version__ = "0.1.0"


class OutboxSettings(BaseModel):
    """Settings of an outbox destination."""

    model_config = ConfigDict(extra="forbid")

    #: Directory the JSON Lines files are written to (relative to hub.toml).
    directory: Path = Path("outbox")


CAPABILITIES = Capabilities(
    objects={
        ObjectKind.ACCOUNT: ObjectCapability(name="accounts"),
        ObjectKind.CONTACT: ObjectCapability(name="contacts"),
    },
    links=LinkCapability(many_to_many=True, carries_properties=True, primary=True),
)


@hookimpl
def hub_register_destinations(registry: DestinationRegistry) -> None:
    registry.add(
        DestinationType(
            name="outbox",
            capabilities=CAPABILITIES,
            settings_model=OutboxSettings,
            description="JSON Lines files per destination and object, on local disk.",
        )
    )
