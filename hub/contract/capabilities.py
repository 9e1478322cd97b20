"""What a destination can do, declared as data.

A destination plugin declares a :class:`Capabilities` object; the core reads it
to choose projections, batch shapes and limits, and never asks which vendor it
is talking to. A mapping that asks for something the destination lacks is
refused at validation time, naming the capability.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator


class ObjectKind(StrEnum):
    """The canonical kinds of record a destination can hold."""

    #: A person: one per user, or one per membership (``user:account`` contacts).
    CONTACT = "contact"
    #: A company / organisation / account.
    ACCOUNT = "account"


class IdentityKey(StrEnum):
    """How a destination matches an incoming record to an existing one."""

    #: The person's e-mail address.
    EMAIL = "email"
    #: A hub-managed unique external id property (user_id, account_id, user:account).
    EXTERNAL_ID = "external_id"
    #: The destination's own record id, remembered by the hub.
    RECORD_ID = "record_id"
    #: The company's web domain (matched case-insensitively, without ``www.``).
    DOMAIN = "domain"


class FieldType(StrEnum):
    """Field types a destination can hold."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATETIME = "datetime"


class Operation(StrEnum):
    """What a batch asks the destination to do."""

    #: Create or update records (each item says whether its destination id is known).
    UPSERT = "upsert"
    #: Delete (or archive) records the hub created (mirror mode).
    DELETE = "delete"
    #: Add contact-to-account links.
    LINK = "link"
    #: Remove links the hub created.
    UNLINK = "unlink"


class SyncMode(StrEnum):
    """How the planner treats records that are new, changed or gone."""

    #: Create what is new, update what changed; never delete.
    UPSERT = "upsert"
    #: Only update records the destination already has (by remembered id).
    UPDATE_ONLY = "update_only"
    #: Only create new records; never update.
    CREATE_ONLY = "create_only"
    #: Upsert, and delete what the hub created that left the source.
    MIRROR = "mirror"


class Action(StrEnum):
    """Actions a destination offers to playbooks."""

    ADD_TO_LIST = "add_to_list"
    REMOVE_FROM_LIST = "remove_from_list"
    CREATE_TASK = "create_task"
    SEND_MESSAGE = "send_message"
    TAG = "tag"
    UNTAG = "untag"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldCapability(_Strict):
    """One field type a destination offers, and its limits."""

    type: FieldType
    #: Maximum length in characters for string values; ``None`` means unlimited.
    max_length: PositiveInt | None = None


class ObjectCapability(_Strict):
    """One object kind a destination holds."""

    #: The destination's own name for the object ("contacts", "companies", ...).
    name: str
    #: Identity keys the destination can match records on, in preference order.
    identity_keys: tuple[IdentityKey, ...] = (IdentityKey.EXTERNAL_ID,)
    #: True when the destination de-duplicates these records by e-mail.
    unique_by_email: bool = False
    #: Field types it accepts, with their limits.
    field_types: dict[FieldType, FieldCapability] = Field(
        default_factory=lambda: {t: FieldCapability(type=t) for t in FieldType}
    )
    #: True when the hub may create custom fields (properties) on demand.
    custom_fields: bool = True

    def max_length(self, field_type: FieldType = FieldType.STRING) -> int | None:
        """The maximum length of a field of ``field_type``, ``None`` when unlimited."""
        capability = self.field_types.get(field_type)
        return capability.max_length if capability else None


class LinkCapability(_Strict):
    """Whether and how a destination links contacts to accounts."""

    #: A contact can be linked to several accounts.
    many_to_many: bool = True
    #: Links can carry relationship properties (labels, roles).
    carries_properties: bool = False
    #: The destination singles out one primary account per contact.
    primary: bool = False
    #: At most this many accounts per contact (``None``: no limit).
    max_per_contact: PositiveInt | None = None


class RateLimit(_Strict):
    """A destination's documented request budget, per credential."""

    #: Requests allowed per window.
    requests: PositiveInt
    #: The window, in seconds.
    per_seconds: PositiveFloat
    #: Requests allowed per day, ``None`` when there is no daily quota.
    daily_quota: PositiveInt | None = None


class Capabilities(_Strict):
    """Everything a destination declares about itself."""

    #: Object kinds the destination holds.
    objects: dict[ObjectKind, ObjectCapability]
    #: Contact-to-account links, ``None`` when the destination has none.
    links: LinkCapability | None = None
    #: The most items one batch may hold, per operation (absent: 1).
    batch_sizes: dict[Operation, PositiveInt] = Field(default_factory=dict)
    #: The documented request budget, ``None`` when unlimited.
    rate_limit: RateLimit | None = None
    #: Sync modes the destination supports.
    sync_modes: frozenset[SyncMode] = frozenset({SyncMode.UPSERT})
    #: Actions offered to playbooks.
    actions: frozenset[Action] = frozenset()

    def batch_size(self, operation: Operation) -> int:
        """The most items one batch of ``operation`` may hold."""
        return self.batch_sizes.get(operation, 1)

    @model_validator(mode="after")
    def _links_need_both_objects(self) -> Capabilities:
        if self.links is not None and not (
            ObjectKind.CONTACT in self.objects and ObjectKind.ACCOUNT in self.objects
        ):
            raise ValueError("links need both the contact and the account object kinds")
        return self

    def object(self, kind: ObjectKind) -> ObjectCapability | None:
        """The declaration for ``kind``, ``None`` when the destination lacks it."""
        return self.objects.get(kind)
