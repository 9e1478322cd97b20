"""The settings of a Salesforce destination (``[destinations.NAME.settings]``).

Credentials (``password``, ``security_token``, ``client_secret``,
``private_key``) are secrets: refused in hub.toml, they come from the
environment (``HUB_DESTINATIONS__<NAME>__SETTINGS__PASSWORD`` ...) or a secret
file of that name, and are never logged.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

#: sObject Collections take at most this many records per request.
COLLECTION_SIZE = 200
#: The most records one upsert batch (hence one Bulk API 2.0 ingest job) may hold.
MAX_BULK_BATCH = 100_000
#: Salesforce multi-select picklist values are joined with this.
PICKLIST_SEPARATOR = ";"


class AuthFlow(StrEnum):
    """How the hub obtains an access token from Salesforce's OAuth 2.0 token endpoint."""

    PASSWORD = "password"
    """Username, password and security token, through a connected app
    (``client_id`` + ``client_secret``)."""
    CLIENT_CREDENTIALS = "client_credentials"
    """A connected app's client id and secret, run as its integration user
    (``login_url`` must be the org's My Domain URL)."""
    JWT_BEARER = "jwt_bearer"
    """A JWT signed with the connected app's certificate key (``private_key``), for ``username``."""


_REQUIRED: dict[AuthFlow, tuple[str, ...]] = {
    AuthFlow.PASSWORD: ("username", "password", "security_token", "client_id", "client_secret"),
    AuthFlow.CLIENT_CREDENTIALS: ("client_id", "client_secret"),
    AuthFlow.JWT_BEARER: ("username", "client_id", "private_key"),
}


class SalesforceSettings(BaseModel):
    """Settings of a Salesforce destination."""

    # hide_input_in_errors: a validation error must not echo a credential.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    # -- authentication ----------------------------------------------------------
    auth: AuthFlow = AuthFlow.PASSWORD
    """``password``, ``client_credentials`` or ``jwt_bearer``."""
    login_url: str = "https://login.salesforce.com"
    """Where the token endpoint lives: ``https://login.salesforce.com``,
    ``https://test.salesforce.com`` (sandboxes) or the org's My Domain URL."""
    instance_url: str | None = None
    """Use this instance URL instead of the one the token endpoint returns
    (a proxy, or a local fake in tests)."""
    api_version: str = Field(default="60.0", pattern=r"^\d{2}\.0$")
    """REST API version (``60.0``)."""
    username: str | None = None
    """The integration user's username (``password`` and ``jwt_bearer``)."""
    password: SecretStr | None = None
    """The integration user's password (``password``); from the environment."""
    security_token: SecretStr | None = None
    """The user's security token, appended to the password (``password``); from the environment."""
    client_id: str | None = None
    """The connected app's consumer key."""
    client_secret: SecretStr | None = None
    """The connected app's consumer secret; from the environment."""
    private_key: SecretStr | None = None
    """PEM private key signing the JWT (``jwt_bearer``); from the environment."""

    # -- objects and keys ------------------------------------------------------------
    account_external_id: str = "Hub_Account_Id__c"
    """External-id field on Account holding the hub's ``account_id`` (unique, external id)."""
    contact_external_id: str = "Hub_User_Id__c"
    """External-id field on Contact holding the hub's ``user_id``."""
    lead_external_id: str = "Hub_User_Id__c"
    """External-id field on Lead holding the hub's ``user_id`` (for accountless users)."""

    # -- leads -------------------------------------------------------------------------
    leads_for_accountless_users: bool = False
    """Sync users in no account as Leads instead of private Contacts. Needs the
    mapping to send the user's account count in ``account_count_field``."""
    account_count_field: str = "hub_account_count"
    """Contact payload field carrying ``rollup.account_count``; read by the
    plugin and never written to Salesforce."""
    lead_company: str = "[not provided]"
    """``Lead.Company`` (required by Salesforce) when the payload has none."""
    lead_omit_fields: list[str] = Field(default_factory=list)
    """Contact fields not sent when the record goes as a Lead (fields Lead lacks)."""

    # -- account-contact relations -----------------------------------------------------
    role_picklist: dict[str, str | list[str]] = Field(default_factory=dict)
    """Relationship role -> ``AccountContactRelation.Roles`` picklist value(s),
    e.g. ``{Owner = "Decision Maker", Admin = ["Technical Buyer", "Influencer"]}``.
    A link whose role is not here is refused (permanent), naming this setting."""
    expected_roles: list[str] = Field(default_factory=list)
    """The roles your data uses; when given, each must be in ``role_picklist``
    (checked by ``hub validate``)."""

    # -- volume, limits -----------------------------------------------------------------
    bulk_threshold: int = Field(default=2000, ge=1)
    """An upsert batch of at least this many records goes through one Bulk API 2.0
    ingest job instead of sObject Collections requests of 200."""
    bulk_batch_size: int = Field(default=MAX_BULK_BATCH, ge=1, le=MAX_BULK_BATCH)
    """The most records per upsert batch (one ingest job)."""
    bulk_poll_seconds: int = Field(default=5, ge=0)
    """Seconds before the first poll of an ingest job's state; later polls wait
    longer (doubling, at most 30 s)."""
    bulk_max_wait_seconds: int = Field(default=600, ge=0)
    """The longest a sync waits on one ingest job. Past it the job is aborted and
    its results read: rows Salesforce wrote are confirmed, failed rows fail with
    their error, and unprocessed rows stay pending for the next run."""
    max_api_share: float = Field(default=0.8, gt=0, le=1)
    """Stop (fatal) once this share of the org's daily API requests is used,
    as reported by ``Sforce-Limit-Info``."""
    requests_per_second: float = Field(default=20.0, gt=0, le=50)
    """The request rate the hub allows itself on this org."""
    timeout: float | None = Field(default=None, gt=0)
    """Seconds to wait on a request (default: the hub's ``request_timeout``)."""

    @field_validator("role_picklist")
    @classmethod
    def _picklist_values(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for role, picks in value.items():
            entries = [picks] if isinstance(picks, str) else picks
            if not role.strip():
                raise ValueError("a role name is empty")
            if not entries or any(not entry.strip() for entry in entries):
                raise ValueError(f"role {role!r}: give at least one non-empty picklist value")
            if any(PICKLIST_SEPARATOR in entry for entry in entries):
                raise ValueError(
                    f"role {role!r}: a picklist value cannot contain {PICKLIST_SEPARATOR!r}; "
                    "give several values as a list"
                )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SalesforceSettings:
        missing = [name for name in _REQUIRED[self.auth] if getattr(self, name) in (None, "")]
        if missing:
            raise ValueError(
                f"auth = {self.auth.value!r} needs {', '.join(missing)}: secrets come from the "
                "environment, e.g. HUB_DESTINATIONS__<NAME>__SETTINGS__"
                f"{missing[0].upper()}"
            )
        unmapped = [role for role in self.expected_roles if role not in self.role_picklist]
        if unmapped:
            raise ValueError(
                "role_picklist has no Salesforce picklist value for role(s) "
                + ", ".join(repr(role) for role in unmapped)
                + " listed in expected_roles"
            )
        return self

    def picklist(self, role: str) -> str | None:
        """The ``Roles`` value for ``role`` (values joined with ``;``), ``None`` when unmapped."""
        picks = self.role_picklist.get(role)
        if picks is None:
            return None
        return picks if isinstance(picks, str) else PICKLIST_SEPARATOR.join(picks)
