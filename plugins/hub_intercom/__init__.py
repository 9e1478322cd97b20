"""The Intercom destination, on python-intercom 5 and Intercom API version 2.14.

Accounts become companies (created or updated by ``company_id``), users become
contacts with the ``user`` role (matched by ``external_id``, then e-mail),
memberships become company attachments, and playbooks can tag and untag
contacts. Links carry no properties in Intercom: summarise roles in the
contact's relationship fields (``users.relationship_fields``) and list users
on the company (``accounts.user_lists``); see ``mappings/intercom.toml``.
Configure it with::

    [destinations.intercom]
    type = "intercom"
    mapping = "mappings/intercom.toml"
    settings.region = "eu"        # us (default), eu or au

and the token in the environment:
``HUB_DESTINATIONS__INTERCOM__SETTINGS__ACCESS_TOKEN``. See
:mod:`hub_intercom.destination` for requests, matching and error handling.
"""

from __future__ import annotations

from hub.contract import require_extra

require_extra("intercom", "intercom", "intercom", "httpx")

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
from hub_intercom.destination import MAX_COMPANIES_PER_CONTACT, IntercomDestination
from hub_intercom.settings import (
    API_VERSION,
    MAX_BATCH_SIZE,
    REQUESTS_PER_MINUTE,
    WINDOW_SECONDS,
    IntercomSettings,
    Region,
    per_window,
)

__version__ = "0.1.0"

__all__ = [
    "API_VERSION",
    "CAPABILITIES",
    "IntercomDestination",
    "IntercomSettings",
    "Region",
    "make_intercom",
]

#: Intercom's string attributes hold at most 255 characters.
STRING_MAX_LENGTH = 255

_FIELD_TYPES = {
    FieldType.STRING: FieldCapability(type=FieldType.STRING, max_length=STRING_MAX_LENGTH),
    FieldType.NUMBER: FieldCapability(type=FieldType.NUMBER),
    FieldType.BOOLEAN: FieldCapability(type=FieldType.BOOLEAN),
    FieldType.DATETIME: FieldCapability(type=FieldType.DATETIME),
}

#: The type's declaration. No batch endpoints: a batch of up to 50 is sent as
#: one request per record (the engine's per-batch request plus the plugin's own).
CAPABILITIES = Capabilities(
    objects={
        ObjectKind.ACCOUNT: ObjectCapability(
            name="companies",
            identity_keys=(IdentityKey.EXTERNAL_ID, IdentityKey.RECORD_ID),
            field_types=_FIELD_TYPES,
        ),
        ObjectKind.CONTACT: ObjectCapability(
            name="contacts",
            identity_keys=(IdentityKey.EXTERNAL_ID, IdentityKey.EMAIL, IdentityKey.RECORD_ID),
            # Intercom keeps one user per e-mail: user:account contacts would collapse.
            unique_by_email=True,
            field_types=_FIELD_TYPES,
        ),
    },
    links=LinkCapability(
        many_to_many=True,
        carries_properties=False,
        primary=False,
        max_per_contact=MAX_COMPANIES_PER_CONTACT,
    ),
    batch_sizes={operation: MAX_BATCH_SIZE for operation in Operation},
    rate_limit=RateLimit(requests=per_window(REQUESTS_PER_MINUTE), per_seconds=WINDOW_SECONDS),
    sync_modes=frozenset(SyncMode),
    actions=frozenset({Action.TAG, Action.UNTAG}),
)


def make_intercom(settings: IntercomSettings, context: DestinationContext) -> IntercomDestination:
    """The Intercom :data:`~hub.contract.destination.DestinationFactory`."""
    return IntercomDestination(settings, context, CAPABILITIES)


@hookimpl
def hub_register_destinations(registry: DestinationRegistry) -> None:
    registry.add(
        DestinationType(
            name="intercom",
            capabilities=CAPABILITIES,
            settings_model=IntercomSettings,
            description="Intercom companies, users and company attachments (API 2.14).",
            factory=make_intercom,
        )
    )
