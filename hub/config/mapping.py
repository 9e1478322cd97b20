"""The mapping files admins edit (``mappings/*.toml``): one per destination.

A mapping says which projections a destination receives and how canonical
fields land on destination fields. Field values are *references*: a namespace
and an attribute, e.g. ``user.email``, ``account.plan``, ``relationship.role``
(see :mod:`hub.references` for the namespaces and where each is allowed).
Filters are *conditions* in the small safe language of :mod:`hub.conditions`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveInt, model_validator

from hub.contract.capabilities import IdentityKey

DEFAULT_STAGE_ORDER = ("visitor", "MAL", "MQL", "CUS", "PRO")


class _Section(BaseModel):
    # Attribute docstrings become the JSON schema's descriptions (``hub schema``).
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class StageSettings(_Section):
    """The lifecycle stages, lowest first, and the churn exit."""

    order: list[str] = Field(default_factory=lambda: list(DEFAULT_STAGE_ORDER), min_length=1)
    """Stages from lowest to highest."""
    churn: str = "churn"
    """The churn stage: not a rank but an exit."""
    property: str = "stage"
    """The relationship property holding the user's own stage in an account."""

    @model_validator(mode="after")
    def _distinct(self) -> StageSettings:
        if len(set(self.order)) != len(self.order):
            raise ValueError("stages.order lists a stage twice")
        if self.churn in self.order:
            raise ValueError("stages.churn must not also be in stages.order")
        return self


class PrimaryAccountPolicy(StrEnum):
    """How one account is singled out as a user's primary account."""

    FIRST = "first"
    """Earliest joined (relationship property ``joined_property``)."""
    LAST = "last"
    """Latest joined."""
    HIGHEST_STAGE = "highest_stage"
    """The membership with the highest non-churned stage."""
    MOST_ACTIVE = "most_active"
    """The account where the user has the most events over the activity window."""
    EXPLICIT = "explicit"
    """The membership whose ``flag_property`` is true."""


class PrimaryAccountSettings(_Section):
    """The primary-account policy; ties are always broken by account id."""

    policy: PrimaryAccountPolicy = PrimaryAccountPolicy.FIRST
    """``first``, ``last``, ``highest_stage``, ``most_active`` or ``explicit``."""
    joined_property: str = "joined_at"
    """Relationship property with the date the user joined the account."""
    flag_property: str = "is_primary"
    """Relationship property flagging the primary membership (policy ``explicit``)."""
    activity_window_days: PositiveInt = 30
    """Window for ``most_active``, in days before the as-of time."""
    fallback: Literal["first", "last", "highest_stage", "most_active"] = "first"
    """Policy used when ``explicit`` finds no (or several) flagged memberships."""


class UserListField(_Section):
    """An account field listing the account's users (projection 2)."""

    field: str
    """Destination field name."""
    value: str = "user.email"
    """What each entry shows (namespaces ``user``, ``relationship``)."""
    where: str | None = None
    """Only users whose membership matches (namespaces ``user``, ``account``, ``relationship``)."""
    order_by: str | None = None
    """Sort key for the entries (same namespaces as ``value``); ties by user id."""
    separator: str = ";"
    """Between entries; must not occur inside an entry, so "contains" matches whole entries."""
    max_length: PositiveInt | None = None
    """Maximum length; defaults to the destination's string field maximum."""


class RelationshipFieldKind(StrEnum):
    """Kinds of user-level relationship summaries (projection 5)."""

    SUMMARY = "summary"
    """One rendered entry per membership, joined: "SpaceX (User); Tesla (Admin)"."""
    COUNT = "count"
    """The number of memberships matching ``where``."""
    ANY = "any"
    """True when any membership matches ``where`` ("is an admin anywhere")."""


class RelationshipField(_Section):
    """A user field summarising all of the user's memberships (projection 5)."""

    field: str
    """Destination field name."""
    kind: RelationshipFieldKind = RelationshipFieldKind.SUMMARY
    """``summary``, ``count`` or ``any``."""
    template: str = "{account.name} ({relationship.role})"
    """Entry template for ``summary``: ``{namespace.attr}`` placeholders
    (namespaces ``user``, ``account``, ``relationship``).
    """
    where: str | None = None
    """Condition (see hub.conditions): only memberships matching it count."""
    order_by: str | None = None
    """Sort key for ``summary`` entries; default: the rendered entry, ties by account id."""
    separator: str = "; "
    """Between entries of a ``summary``."""
    max_length: PositiveInt | None = None
    """Maximum length; defaults to the destination's string field maximum."""


class AccountRollupKind(StrEnum):
    """Kinds of account rollups (projection 7)."""

    USER_COUNT = "user_count"
    """Users of the account (matching ``where``)."""
    ACTIVE_USERS = "active_users"
    """Users with at least one event (``event`` if set) in the account over ``window_days``."""
    LAST_ACTIVE = "last_active"
    """Time of the latest event in the account (ISO 8601, UTC)."""
    EVENT_COUNT = "event_count"
    """Events (``event`` if set) in the account over ``window_days``."""
    ACTIVATION = "activation"
    """True when at least ``min_users`` users and ``min_events`` per event name."""


class AccountRollup(_Section):
    """An account field computed from memberships and events (projection 7)."""

    field: str
    """Destination field name."""
    kind: AccountRollupKind
    """``user_count``, ``active_users``, ``last_active``, ``event_count`` or ``activation``."""
    where: str | None = None
    """Condition (see hub.conditions): only memberships matching it count."""
    event: str | None = None
    """Only this event name (default: every event)."""
    window_days: PositiveInt | None = None
    """Only events in the last ``window_days`` before the as-of time."""
    min_users: int = Field(default=0, ge=0)
    """``activation``: at least this many users."""
    min_events: dict[str, PositiveInt] = Field(default_factory=dict)
    """``activation``: at least this many events of each named event."""


def _match_chain(chain: list[IdentityKey]) -> list[IdentityKey]:
    if not chain or chain[0] is not IdentityKey.EXTERNAL_ID:
        raise ValueError(
            "a match chain starts with 'external_id' (the hub's own key), e.g. "
            "['external_id', 'email']"
        )
    if IdentityKey.RECORD_ID in chain:
        raise ValueError("'record_id' is always used once known; leave it out of the chain")
    repeated = sorted({key.value for key in chain if chain.count(key) > 1})
    if repeated:
        raise ValueError(f"{', '.join(repeated)} appears more than once in the chain")
    return chain


#: The ``match`` setting: an ordered identity chain (see :class:`AccountsMapping`).
MatchChain = Annotated[list[IdentityKey], AfterValidator(_match_chain)]


class AccountsMapping(_Section):
    """Accounts as destination records."""

    enabled: bool = True
    """Sync accounts to this destination."""
    match: MatchChain = Field(default_factory=lambda: [IdentityKey.EXTERNAL_ID])
    """How an account finds its destination object the first time, in order:
    ``external_id`` (the hub-managed unique field holding the account id), then
    optionally ``domain``. An account whose id is not there yet but whose domain
    matches an existing company adopts that company (its id is remembered and the
    account id written onto it) instead of creating a duplicate."""
    fields: dict[str, str] = Field(default_factory=dict)
    """Destination field -> reference (namespace ``account``)."""
    user_lists: list[UserListField] = Field(default_factory=list)
    """Account fields listing the account's users."""
    rollups: list[AccountRollup] = Field(default_factory=list)
    """Account fields computed from memberships and events."""


class UsersMapping(_Section):
    """One destination contact per user."""

    enabled: bool = True
    """Sync one contact per user to this destination."""
    match: MatchChain = Field(default_factory=lambda: [IdentityKey.EXTERNAL_ID, IdentityKey.EMAIL])
    """How a user finds its destination contact the first time, in order:
    ``external_id`` (the hub-managed unique field holding the user id), then
    ``email``: a user whose id is not there yet but whose e-mail an existing
    contact has adopts that contact. Keys the destination does not declare
    (``identity_keys``) are skipped when this is left at its default."""
    fields: dict[str, str] = Field(default_factory=dict)
    """Destination field -> reference (namespaces ``user``, ``primary_account``,
    ``primary_relationship``, ``rollup``).
    """
    relationship_fields: list[RelationshipField] = Field(default_factory=list)
    """User fields summarising all of the user's memberships."""


class MembershipContactsMapping(_Section):
    """One destination contact per membership, keyed ``user{separator}account`` (projection 1)."""

    enabled: bool = False
    """Sync one contact per membership (for tools with no notion of accounts)."""
    match: MatchChain = Field(default_factory=lambda: [IdentityKey.EXTERNAL_ID])
    """As ``users.match``; by default only the ``user:account`` key (several
    memberships share one e-mail, so e-mail cannot tell them apart)."""
    separator: str = Field(default=":", min_length=1, pattern=r"^[^\\]+$")
    """Between user id and account id in the contact's key."""
    where: str | None = None
    """Only memberships matching this condition become contacts."""
    fields: dict[str, str] = Field(default_factory=dict)
    """Destination field -> reference (namespaces ``user``, ``account``,
    ``relationship``, ``rollup``, ``primary_account``, ``primary_relationship``).
    """


class LinksMapping(_Section):
    """Contact-to-account links, one per membership (projection 6)."""

    enabled: bool = True
    """Link contacts to their accounts."""
    where: str | None = None
    """Condition (see hub.conditions): only memberships matching it count."""
    properties: dict[str, str] = Field(default_factory=lambda: {"role": "relationship.role"})
    """Link property -> reference (namespaces ``user``, ``account``, ``relationship``)."""


class Mapping(_Section):
    """A whole mapping file."""

    destination: str
    """The destination's name, a key of ``[destinations]`` in hub.toml."""
    stages: StageSettings = Field(default_factory=StageSettings)
    """Lifecycle stages, for the user stage rollup."""
    primary_account: PrimaryAccountSettings = Field(default_factory=PrimaryAccountSettings)
    """How a user's primary account is chosen."""
    accounts: AccountsMapping = Field(default_factory=AccountsMapping)
    """Accounts as destination records."""
    users: UsersMapping = Field(default_factory=UsersMapping)
    """One destination contact per user."""
    membership_contacts: MembershipContactsMapping = Field(
        default_factory=MembershipContactsMapping
    )
    """One destination contact per membership (``user:account`` contacts)."""
    links: LinksMapping = Field(default_factory=LinksMapping)
    """Contact-to-account links with relationship properties."""
