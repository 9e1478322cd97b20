"""What the projections produce: destination records, links, notices.

These are the hand-off between the pure core and the destinations. They are
immutable and slotted (there may be millions of them), and they turn into
JSON-ready dicts with a deterministic key order, so that the same input gives
byte-identical output.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from itertools import repeat
from typing import Any

from hub.contract.capabilities import ObjectKind

__all__ = [
    "AccountsChunk",
    "ContactsChunk",
    "DestinationProjection",
    "Link",
    "LinksChunk",
    "Notice",
    "ProjectionChunk",
    "ProjectionSummary",
    "Record",
    "jsonable",
    "link_to_json",
    "make_link",
    "make_links",
    "make_record",
    "make_records",
    "notice_to_json",
    "projection_to_json",
    "record_to_json",
]


@dataclass(frozen=True, slots=True)
class Record:
    """One destination record.

    ``key`` is the hub's external id: the ``account_id`` of an account, the
    ``user_id`` of a contact, or ``"{user_id}{separator}{account_id}"`` of a
    membership contact.
    """

    object: ObjectKind
    key: str
    fields: dict[str, Any]

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by the projection workers by the million: rebuild through the
        # fast constructor rather than the frozen dataclass's __setstate__.
        return (make_record, (self.object, self.key, self.fields))


@dataclass(frozen=True, slots=True)
class Link:
    """A contact-to-account link: one per membership (projection 6).

    ``primary`` marks the link to the user's primary account; ``properties``
    are the relationship properties the link carries (empty when the
    destination's links cannot hold any).
    """

    contact_key: str
    account_key: str
    primary: bool
    properties: dict[str, Any]

    def __reduce__(self) -> tuple[Any, ...]:
        return (make_link, (self.contact_key, self.account_key, self.primary, self.properties))


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the run must report: a truncated list, an unknown stage value,
    the inflation of membership contacts, several primary flags, ...

    ``kind`` is a stable machine name, ``subject`` says what it is about (a
    field, a stage value, a projection), ``detail`` holds JSON-ready numbers and
    a few examples.
    """

    kind: str
    subject: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DestinationProjection:
    """Everything one destination would receive, and what the run must report.

    ``accounts`` and ``contacts`` are sorted by key, ``links`` by
    ``(contact_key, account_key)``, ``notices`` by ``(kind, subject, message)``.
    """

    destination: str
    accounts: list[Record]
    contacts: list[Record]
    links: list[Link]
    notices: list[Notice]
    stats: dict[str, int | float]


@dataclass(frozen=True, slots=True)
class AccountsChunk:
    """Account records of a projection stream, in key order."""

    records: list[Record]


@dataclass(frozen=True, slots=True)
class ContactsChunk:
    """Contact records (user contacts and membership contacts) of a projection
    stream, in key order."""

    records: list[Record]


@dataclass(frozen=True, slots=True)
class LinksChunk:
    """Links of a projection stream, in ``(contact_key, account_key)`` order."""

    links: list[Link]


@dataclass(frozen=True, slots=True)
class ProjectionSummary:
    """The last item of a projection stream: what the run must report, and the
    counts (the ``notices`` and ``stats`` of :class:`DestinationProjection`)."""

    destination: str
    notices: list[Notice]
    stats: dict[str, int | float]


#: What :func:`hub.engine.project.stream` yields: account
#: chunks, then contact chunks, then link chunks, then one summary.
ProjectionChunk = AccountsChunk | ContactsChunk | LinksChunk | ProjectionSummary


_new = object.__new__
_set_object = Record.__dict__["object"].__set__
_set_key = Record.__dict__["key"].__set__
_set_fields = Record.__dict__["fields"].__set__
_set_contact = Link.__dict__["contact_key"].__set__
_set_account = Link.__dict__["account_key"].__set__
_set_primary = Link.__dict__["primary"].__set__
_set_properties = Link.__dict__["properties"].__set__


def make_record(object: ObjectKind, key: str, fields: dict[str, Any]) -> Record:
    """``Record(object, key, fields)``, twice as fast: a frozen dataclass's
    ``__init__`` goes through ``object.__setattr__`` per field, and projections
    build millions of records. Writes the slots directly; same result."""
    record: Record = _new(Record)
    _set_object(record, object)
    _set_key(record, key)
    _set_fields(record, fields)
    return record


def make_records(
    object: ObjectKind, keys: Sequence[str], fields: Sequence[dict[str, Any]]
) -> list[Record]:
    """``[make_record(object, k, f) for k, f in zip(keys, fields)]``, column by
    column with C-level loops (the same records)."""
    if len(keys) != len(fields):
        raise ValueError("as many keys as fields are needed")
    records: list[Record] = list(map(_new, repeat(Record, len(keys))))
    deque(map(_set_object, records, repeat(object)), 0)
    deque(map(_set_key, records, keys), 0)
    deque(map(_set_fields, records, fields), 0)
    return records


def make_links(
    contact_keys: Sequence[str],
    account_keys: Sequence[str],
    primaries: Sequence[bool],
    properties: Sequence[dict[str, Any]],
) -> list[Link]:
    """``make_link`` over columns of equal length, with C-level loops."""
    n = len(contact_keys)
    if not (len(account_keys) == len(primaries) == len(properties) == n):
        raise ValueError("columns of links must have the same length")
    links: list[Link] = list(map(_new, repeat(Link, n)))
    deque(map(_set_contact, links, contact_keys), 0)
    deque(map(_set_account, links, account_keys), 0)
    deque(map(_set_primary, links, primaries), 0)
    deque(map(_set_properties, links, properties), 0)
    return links


def make_link(
    contact_key: str, account_key: str, primary: bool, properties: dict[str, Any]
) -> Link:
    """``Link(...)``, twice as fast (see :func:`make_record`)."""
    link: Link = _new(Link)
    _set_contact(link, contact_key)
    _set_account(link, account_key)
    _set_primary(link, primary)
    _set_properties(link, properties)
    return link


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data, with mapping keys sorted.

    Datetimes become ISO 8601 strings (naive ones are taken as UTC), dates ISO
    dates, sets sorted lists, decimals strings, enums their value.
    """
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, set | frozenset):
        return sorted((jsonable(v) for v in value), key=repr)
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [jsonable(v) for v in value]
    return str(value)


def record_to_json(record: Record) -> dict[str, Any]:
    """A record as a JSON-ready dict."""
    return {"fields": jsonable(record.fields), "key": record.key, "object": record.object.value}


def link_to_json(link: Link) -> dict[str, Any]:
    """A link as a JSON-ready dict."""
    return {
        "account_key": link.account_key,
        "contact_key": link.contact_key,
        "primary": link.primary,
        "properties": jsonable(link.properties),
    }


def notice_to_json(notice: Notice) -> dict[str, Any]:
    """A notice as a JSON-ready dict."""
    return {
        "detail": jsonable(notice.detail),
        "kind": notice.kind,
        "message": notice.message,
        "subject": notice.subject,
    }


def projection_to_json(projection: DestinationProjection) -> dict[str, Any]:
    """A whole projection as a JSON-ready dict (keys sorted at every level)."""
    return {
        "accounts": [record_to_json(r) for r in projection.accounts],
        "contacts": [record_to_json(r) for r in projection.contacts],
        "destination": projection.destination,
        "links": [link_to_json(link) for link in projection.links],
        "notices": [notice_to_json(n) for n in projection.notices],
        "stats": {k: projection.stats[k] for k in sorted(projection.stats)},
    }
