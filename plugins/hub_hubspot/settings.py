"""The settings of a HubSpot destination (``[destinations.NAME.settings]``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

#: HubSpot's own lifecycle stages, lowest first (the internal values).
HUBSPOT_LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)

#: The hub's default stages (``visitor < MAL < MQL < CUS < PRO``, churn) as HubSpot values.
DEFAULT_STAGE_VALUES = {
    "visitor": "subscriber",
    "MAL": "lead",
    "MQL": "marketingqualifiedlead",
    "CUS": "customer",
    "PRO": "evangelist",
    "churn": "other",
}

Tier = Literal["free", "starter", "professional", "enterprise"]


class HubSpotSettings(BaseModel):
    """Settings of a HubSpot destination.

    ``token`` is a credential: it is refused in hub.toml and comes from the
    environment (``HUB_DESTINATIONS__<NAME>__SETTINGS__TOKEN``) or a secret file.
    """

    # hide_input_in_errors: a validation error must not echo the token.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    token: SecretStr = Field(min_length=1)
    """The private app's access token (scopes: crm.objects.contacts/companies read+write,
    crm.schemas.contacts/companies write, crm.lists write); only from the environment."""
    tier: Tier = "starter"
    """The account's subscription tier: free/starter 100 requests per 10 s and 250,000
    a day; professional 190 per 10 s and 625,000; enterprise 190 and 1,000,000."""
    rate_margin: float = Field(default=0.02, ge=0, le=0.5)
    """Share of HubSpot's 10-second window kept free: the hub counts a request when
    it leaves, HubSpot when it arrives, and the latency between them would otherwise
    turn a full window into a 429 now and then (0.02: 100 requests per 10.2 s)."""
    contact_match: Literal["email", "external_id"] = "external_id"
    """How contacts are matched: by ``email`` (HubSpot's own de-duplication) or by the
    hub-managed unique property ``contact_id_property`` (holding the user id)."""
    contact_id_property: str = Field(default="hub_user_id", pattern=r"^[a-z][a-z0-9_]*$")
    """The unique contact property holding the hub's key (created on demand)."""
    company_id_property: str = Field(default="hub_account_id", pattern=r"^[a-z][a-z0-9_]*$")
    """The unique company property holding the account id (created on demand)."""
    property_group: str = Field(default="connector_hub", pattern=r"^[a-z][a-z0-9_]*$")
    """The property group the hub creates its properties in."""
    property_group_label: str = "Connector hub"
    """The group's label in HubSpot's UI."""
    lifecycle_stage_values: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_STAGE_VALUES)
    )
    """Hub stage -> HubSpot ``lifecyclestage`` value; stages not listed pass unchanged."""
    lifecycle_stage_order: list[str] = Field(
        default_factory=lambda: list(HUBSPOT_LIFECYCLE_STAGES), min_length=1
    )
    """HubSpot's lifecycle stages, lowest first (add custom stages where they sit)."""
    role_label_prefix: str = Field(default="hub_role_", pattern=r"^[a-z][a-z0-9_]*$")
    """Prefix of the association label names the hub creates, one per role."""
    unlink_keeps_association: bool = False
    """On unlink, remove only the hub's labels and keep the plain association
    (default: the association the hub created is removed with its labels)."""
    base_url: str = Field(default="https://api.hubapi.com", pattern=r"^https?://")
    """The API's address; only tests change it (a local fake HubSpot)."""
    timeout: float | None = Field(default=None, gt=0)
    """Seconds to wait for an answer (default: the hub's ``request_timeout``)."""
