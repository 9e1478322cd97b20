"""The HubSpot destination: companies, contacts and their memberships as v4
associations with a label per role, through a private app's token.

Configure it with::

    [destinations.hubspot]
    type = "hubspot"
    mapping = "mappings/hubspot.toml"
    settings.tier = "professional"

and the token in the environment: ``HUB_DESTINATIONS__HUBSPOT__SETTINGS__TOKEN``.
See :mod:`hub_hubspot.destination` for what each batch becomes,
:mod:`hub_hubspot.client` for how answers are classified and
:mod:`hub_hubspot.actions` for the playbook actions.
"""

from __future__ import annotations

from hub.contract import (
    Action,
    Capabilities,
    DestinationContext,
    DestinationRegistry,
    DestinationType,
    FieldCapability,
    FieldType,
    IdentityKey,
    LinkCapability,
    ObjectCapability,
    ObjectKind,
    Operation,
    RateLimit,
    SyncMode,
    hookimpl,
)
from hub_hubspot.actions import (
    ActionError,
    ListChange,
    Task,
    add_to_list,
    create_tasks,
    remove_from_list,
)
from hub_hubspot.destination import (
    ASSOCIATION_BATCH_MAX,
    OBJECT_BATCH_MAX,
    HubSpotDestination,
)
from hub_hubspot.settings import HubSpotSettings, Tier

__version__ = "0.1.0"

__all__ = [
    "CAPABILITIES",
    "ActionError",
    "HubSpotDestination",
    "HubSpotSettings",
    "ListChange",
    "Task",
    "add_to_list",
    "create_tasks",
    "instance_rate_limit",
    "make_hubspot",
    "rate_limit",
    "remove_from_list",
]

#: HubSpot's limit on a string property's value, in characters (text and textarea alike).
STRING_MAX_LENGTH = 65_536

#: Requests per 10 s and per day of a private app, by subscription tier.
TIER_LIMITS: dict[str, tuple[int, int]] = {
    "free": (100, 250_000),
    "starter": (100, 250_000),
    "professional": (190, 625_000),
    "enterprise": (190, 1_000_000),
}


def rate_limit(tier: Tier) -> RateLimit:
    """The documented request budget of ``tier``."""
    requests, daily = TIER_LIMITS[tier]
    return RateLimit(requests=requests, per_seconds=10.0, daily_quota=daily)


def _field_types() -> dict[FieldType, FieldCapability]:
    types = {t: FieldCapability(type=t) for t in FieldType}
    types[FieldType.STRING] = FieldCapability(type=FieldType.STRING, max_length=STRING_MAX_LENGTH)
    return types


#: The type's declaration: the most any instance can do (enterprise's rate); an
#: instance narrows the rate limit to its ``tier``.
CAPABILITIES = Capabilities(
    objects={
        ObjectKind.ACCOUNT: ObjectCapability(
            name="companies",
            identity_keys=(IdentityKey.EXTERNAL_ID, IdentityKey.DOMAIN, IdentityKey.RECORD_ID),
            field_types=_field_types(),
        ),
        ObjectKind.CONTACT: ObjectCapability(
            name="contacts",
            identity_keys=(IdentityKey.EXTERNAL_ID, IdentityKey.EMAIL, IdentityKey.RECORD_ID),
            unique_by_email=True,
            field_types=_field_types(),
        ),
    },
    links=LinkCapability(many_to_many=True, carries_properties=True, primary=True),
    batch_sizes={
        Operation.UPSERT: OBJECT_BATCH_MAX,
        Operation.DELETE: OBJECT_BATCH_MAX,
        Operation.LINK: ASSOCIATION_BATCH_MAX,
        Operation.UNLINK: ASSOCIATION_BATCH_MAX,
    },
    rate_limit=rate_limit("enterprise"),
    sync_modes=frozenset(SyncMode),
    actions=frozenset({Action.ADD_TO_LIST, Action.REMOVE_FROM_LIST, Action.CREATE_TASK}),
)


def instance_rate_limit(settings: HubSpotSettings) -> RateLimit:
    """The tier's budget, its window stretched by ``rate_margin`` (narrowed, never widened)."""
    declared = rate_limit(settings.tier)
    return declared.model_copy(
        update={"per_seconds": round(declared.per_seconds * (1 + settings.rate_margin), 3)}
    )


def make_hubspot(settings: HubSpotSettings, context: DestinationContext) -> HubSpotDestination:
    """The HubSpot :data:`~hub.contract.destination.DestinationFactory`."""
    capabilities = CAPABILITIES.model_copy(update={"rate_limit": instance_rate_limit(settings)})
    return HubSpotDestination(settings, context, capabilities)


@hookimpl
def hub_register_destinations(registry: DestinationRegistry) -> None:
    registry.add(
        DestinationType(
            name="hubspot",
            capabilities=CAPABILITIES,
            settings_model=HubSpotSettings,
            description="HubSpot companies, contacts and labelled v4 associations "
            "(private app token).",
            factory=make_hubspot,
        )
    )
