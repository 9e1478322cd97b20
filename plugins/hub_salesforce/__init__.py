"""The Salesforce destination (simple-salesforce 1.12, imported lazily).

Accounts and Contacts upserted on hub-managed external-id fields (sObject
Collections, or Bulk API 2.0 above ``bulk_threshold``), multi-account users as
``Contact.AccountId`` (the primary account) plus ``AccountContactRelation``
records with ``Roles``, accountless users as Leads on request, and the org's
daily API quota watched through ``Sforce-Limit-Info``. Configure it with::

    [destinations.salesforce]
    type = "salesforce"
    mapping = "mappings/salesforce.toml"
    settings.auth = "client_credentials"
    settings.login_url = "https://acme.my.salesforce.com"
    settings.client_id = "3MVG9..."
    settings.role_picklist = { Owner = "Decision Maker", Admin = "Technical Buyer" }

and the secret in the environment:
``HUB_DESTINATIONS__SALESFORCE__SETTINGS__CLIENT_SECRET``. See
:mod:`hub_salesforce.destination` for what each batch becomes.
"""

from __future__ import annotations

from hub.contract import require_extra

require_extra("salesforce", "salesforce", "simple_salesforce", "jwt")

from hub.contract import (
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
from hub_salesforce.destination import SalesforceDestination
from hub_salesforce.settings import COLLECTION_SIZE, MAX_BULK_BATCH, AuthFlow, SalesforceSettings

__version__ = "0.1.0"

__all__ = [
    "CAPABILITIES",
    "AuthFlow",
    "SalesforceDestination",
    "SalesforceSettings",
    "make_salesforce",
]

#: A Long Text Area holds at most 131,072 characters; a Text field 255 (give a
#: user list or summary bound for a Text field ``max_length = 255``).
LONG_TEXT_MAX = 131_072


def _fields() -> dict[FieldType, FieldCapability]:
    return {
        FieldType.STRING: FieldCapability(type=FieldType.STRING, max_length=LONG_TEXT_MAX),
        FieldType.NUMBER: FieldCapability(type=FieldType.NUMBER),
        FieldType.BOOLEAN: FieldCapability(type=FieldType.BOOLEAN),
        FieldType.DATETIME: FieldCapability(type=FieldType.DATETIME),
    }


#: The type's declaration: the most any instance can do. An instance narrows
#: the upsert batch to ``bulk_batch_size`` and its rate to ``requests_per_second``.
CAPABILITIES = Capabilities(
    objects={
        ObjectKind.ACCOUNT: ObjectCapability(
            name="Account",
            # domain: matched against Website (its common spellings).
            identity_keys=(IdentityKey.EXTERNAL_ID, IdentityKey.DOMAIN, IdentityKey.RECORD_ID),
            field_types=_fields(),
            custom_fields=False,
        ),
        ObjectKind.CONTACT: ObjectCapability(
            name="Contact",
            identity_keys=(IdentityKey.EXTERNAL_ID, IdentityKey.EMAIL, IdentityKey.RECORD_ID),
            # Duplicate rules may block a second contact with an e-mail, but
            # Salesforce does not merge contacts by e-mail.
            unique_by_email=False,
            field_types=_fields(),
            custom_fields=False,
        ),
    },
    links=LinkCapability(many_to_many=True, carries_properties=True, primary=True),
    batch_sizes={
        # One upsert batch is either collection requests of 200 or one ingest job.
        Operation.UPSERT: MAX_BULK_BATCH,
        Operation.DELETE: COLLECTION_SIZE,
        Operation.LINK: COLLECTION_SIZE,
        Operation.UNLINK: COLLECTION_SIZE,
    },
    # No documented per-second limit: the org's daily quota (learned from
    # Sforce-Limit-Info) is what runs out; 50 a second keeps clear of the
    # concurrent-request limit.
    rate_limit=RateLimit(requests=50, per_seconds=1.0),
    sync_modes=frozenset(SyncMode),
)


def make_salesforce(
    settings: SalesforceSettings, context: DestinationContext
) -> SalesforceDestination:
    """The Salesforce :data:`~hub.contract.destination.DestinationFactory`."""
    return SalesforceDestination(settings, context, CAPABILITIES)


@hookimpl
def hub_register_destinations(registry: DestinationRegistry) -> None:
    registry.add(
        DestinationType(
            name="salesforce",
            capabilities=CAPABILITIES,
            settings_model=SalesforceSettings,
            description=(
                "Salesforce: Accounts, Contacts (or Leads) by external id, "
                "AccountContactRelation roles, Bulk API 2.0 for volume."
            ),
            factory=make_salesforce,
        )
    )
