"""The generic signed webhook destination.

Each batch is POSTed as one JSON document to the configured URL, signed with
HMAC-SHA256 (see :mod:`hub_webhook.signing` for the headers and how a
receiver verifies them, and :mod:`hub_webhook.destination` for how answers are
classified). Configure it with::

    [destinations.events]
    type = "webhook"
    mapping = "mappings/crm.toml"
    settings.url = "https://receiver.example/hub"

and the secret in the environment: ``HUB_DESTINATIONS__EVENTS__SETTINGS__SECRET``.
"""

from __future__ import annotations

from hub.contract import (
    Action,
    Capabilities,
    DestinationContext,
    DestinationRegistry,
    DestinationType,
    LinkCapability,
    ObjectCapability,
    ObjectKind,
    Operation,
    SyncMode,
    hookimpl,
)
from hub_webhook.destination import WebhookDestination
from hub_webhook.settings import MAX_BATCH_SIZE, WebhookSettings
from hub_webhook.signing import verify_signature

__version__ = "0.1.0"

__all__ = [
    "CAPABILITIES",
    "WebhookDestination",
    "WebhookSettings",
    "make_webhook",
    "verify_signature",
]

#: The type's declaration: the most any instance can do. An instance narrows
#: batch sizes to its ``batch_size`` and gets a rate limit from its
#: ``requests_per_second`` (the type itself declares none: it depends on the receiver).
CAPABILITIES = Capabilities(
    objects={
        ObjectKind.ACCOUNT: ObjectCapability(name="accounts"),
        ObjectKind.CONTACT: ObjectCapability(name="contacts"),
    },
    links=LinkCapability(many_to_many=True, carries_properties=True, primary=True),
    batch_sizes={operation: MAX_BATCH_SIZE for operation in Operation},
    rate_limit=None,
    sync_modes=frozenset(SyncMode),
    # Playbook actions are POSTed like a batch, with object "action".
    actions=frozenset(Action),
)


def make_webhook(settings: WebhookSettings, context: DestinationContext) -> WebhookDestination:
    """The webhook's :data:`~hub.contract.destination.DestinationFactory`."""
    return WebhookDestination(settings, context, CAPABILITIES)


@hookimpl
def hub_register_destinations(registry: DestinationRegistry) -> None:
    registry.add(
        DestinationType(
            name="webhook",
            capabilities=CAPABILITIES,
            settings_model=WebhookSettings,
            description="One HMAC-signed JSON POST per batch to a URL of yours.",
            factory=make_webhook,
        )
    )
