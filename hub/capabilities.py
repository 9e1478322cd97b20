"""What a destination can do, declared as data.

A destination plugin declares a :class:`Capabilities` object; the core reads it
to choose projections, batch shapes and limits, and never asks which vendor it
is talking to. A mapping that asks for something the destination lacks is
refused at validation time, naming the capability.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator


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


class FieldType(StrEnum):
    """Field types a destination can hold."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATETIME = "datetime"


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


class Capabilities(_Strict):
    """Everything a destination declares about itself."""

    #: Object kinds the destination holds.
    objects: dict[ObjectKind, ObjectCapability]
    #: Contact-to-account links, ``None`` when the destination has none.
    links: LinkCapability | None = None

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
