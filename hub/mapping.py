"""The mapping files admins edit (``mappings/*.toml``): one per destination.

A mapping says which projections a destination receives and how canonical
fields land on destination fields. Field values are *references*: a namespace
and an attribute, e.g. ``user.email``, ``account.plan``, ``relationship.role``
(see :mod:`hub.references` for the namespaces and where each is allowed).
Filters are *conditions* in the small safe language of :mod:`hub.conditions`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

DEFAULT_STAGE_ORDER = ("visitor", "MAL", "MQL", "CUS", "PRO")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StageSettings(_Section):
    """The lifecycle stages, lowest first, and the churn exit."""

    #: Stages from lowest to highest.
    order: list[str] = Field(default_factory=lambda: list(DEFAULT_STAGE_ORDER), min_length=1)
    #: The churn stage: not a rank but an exit.
    churn: str = "churn"
    #: The relationship property holding the user's own stage in an account.
    property: str = "stage"

    @model_validator(mode="after")
    def _distinct(self) -> StageSettings:
        if len(set(self.order)) != len(self.order):
            raise ValueError("stages.order lists a stage twice")
        if self.churn in self.order:
            raise ValueError("stages.churn must not also be in stages.order")
        return self


class PrimaryAccountPolicy(StrEnum):
    """How one account is singled out as a user's primary account."""

    #: Earliest joined (relationship property ``joined_property``).
    FIRST = "first"
    #: Latest joined.
    LAST = "last"
    #: The membership with the highest non-churned stage.
    HIGHEST_STAGE = "highest_stage"
    #: The account where the user has the most events over the activity window.
    MOST_ACTIVE = "most_active"
    #: The membership whose ``flag_property`` is true.
    EXPLICIT = "explicit"


class PrimaryAccountSettings(_Section):
    """The primary-account policy; ties are always broken by account id."""

    policy: PrimaryAccountPolicy = PrimaryAccountPolicy.FIRST
    #: Relationship property with the date the user joined the account.
    joined_property: str = "joined_at"
    #: Relationship property flagging the primary membership (policy ``explicit``).
    flag_property: str = "is_primary"
    #: Window for ``most_active``, in days before the as-of time.
    activity_window_days: PositiveInt = 30
    #: Policy used when ``explicit`` finds no (or several) flagged memberships.
    fallback: Literal["first", "last", "highest_stage", "most_active"] = "first"


class UserListField(_Section):
    """An account field listing the account's users (projection 2)."""

    #: Destination field name.
    field: str
    #: What each entry shows (namespaces ``user``, ``relationship``).
    value: str = "user.email"
    #: Only users whose membership matches (namespaces ``user``, ``account``, ``relationship``).
    where: str | None = None
    #: Sort key for the entries (same namespaces as ``value``); ties by user id.
    order_by: str | None = None
    #: Between entries; must not occur inside an entry, so "contains" matches whole entries.
    separator: str = ";"
    #: Maximum length; defaults to the destination's string field maximum.
    max_length: PositiveInt | None = None


class RelationshipFieldKind(StrEnum):
    """Kinds of user-level relationship summaries (projection 5)."""

    #: One rendered entry per membership, joined: "SpaceX (User); Tesla (Admin)".
    SUMMARY = "summary"
    #: The number of memberships matching ``where``.
    COUNT = "count"
    #: True when any membership matches ``where`` ("is an admin anywhere").
    ANY = "any"


class RelationshipField(_Section):
    """A user field summarising all of the user's memberships (projection 5)."""

    field: str
    kind: RelationshipFieldKind = RelationshipFieldKind.SUMMARY
    #: Entry template for ``summary``: ``{namespace.attr}`` placeholders
    #: (namespaces ``user``, ``account``, ``relationship``).
    template: str = "{account.name} ({relationship.role})"
    where: str | None = None
    #: Sort key for ``summary`` entries; default: the rendered entry, ties by account id.
    order_by: str | None = None
    separator: str = "; "
    max_length: PositiveInt | None = None


class AccountRollupKind(StrEnum):
    """Kinds of account rollups (projection 7)."""

    #: Users of the account (matching ``where``).
    USER_COUNT = "user_count"
    #: Users with at least one event (``event`` if set) in the account over ``window_days``.
    ACTIVE_USERS = "active_users"
    #: Time of the latest event in the account (ISO 8601, UTC).
    LAST_ACTIVE = "last_active"
    #: Events (``event`` if set) in the account over ``window_days``.
    EVENT_COUNT = "event_count"
    #: True when at least ``min_users`` users and ``min_events`` per event name.
    ACTIVATION = "activation"


class AccountRollup(_Section):
    """An account field computed from memberships and events (projection 7)."""

    field: str
    kind: AccountRollupKind
    where: str | None = None
    event: str | None = None
    window_days: PositiveInt | None = None
    min_users: int = Field(default=0, ge=0)
    min_events: dict[str, PositiveInt] = Field(default_factory=dict)


class AccountsMapping(_Section):
    """Accounts as destination records."""

    enabled: bool = True
    #: Destination field -> reference (namespace ``account``).
    fields: dict[str, str] = Field(default_factory=dict)
    user_lists: list[UserListField] = Field(default_factory=list)
    rollups: list[AccountRollup] = Field(default_factory=list)


class UsersMapping(_Section):
    """One destination contact per user."""

    enabled: bool = True
    #: Destination field -> reference (namespaces ``user``, ``primary_account``,
    #: ``primary_relationship``, ``rollup``).
    fields: dict[str, str] = Field(default_factory=dict)
    relationship_fields: list[RelationshipField] = Field(default_factory=list)


class MembershipContactsMapping(_Section):
    """One destination contact per membership, keyed ``user{separator}account`` (projection 1)."""

    enabled: bool = False
    separator: str = Field(default=":", min_length=1)
    #: Only memberships matching this condition become contacts.
    where: str | None = None
    #: Destination field -> reference (namespaces ``user``, ``account``,
    #: ``relationship``, ``rollup``, ``primary_account``, ``primary_relationship``).
    fields: dict[str, str] = Field(default_factory=dict)


class LinksMapping(_Section):
    """Contact-to-account links, one per membership (projection 6)."""

    enabled: bool = True
    where: str | None = None
    #: Link property -> reference (namespaces ``user``, ``account``, ``relationship``).
    properties: dict[str, str] = Field(default_factory=lambda: {"role": "relationship.role"})


class Mapping(_Section):
    """A whole mapping file."""

    #: The destination's name, a key of ``[destinations]`` in hub.toml.
    destination: str
    stages: StageSettings = Field(default_factory=StageSettings)
    primary_account: PrimaryAccountSettings = Field(default_factory=PrimaryAccountSettings)
    accounts: AccountsMapping = Field(default_factory=AccountsMapping)
    users: UsersMapping = Field(default_factory=UsersMapping)
    membership_contacts: MembershipContactsMapping = Field(
        default_factory=MembershipContactsMapping
    )
    links: LinksMapping = Field(default_factory=LinksMapping)
