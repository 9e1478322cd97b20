"""What a destination receives, decided once for every projector.

- :func:`sections`: which sections a destination receives under its mapping
  and capabilities (accounts, contacts per user, contacts per membership,
  links), its string maxima and its links' properties, and the mappings a
  destination refuses (:class:`ProjectionError`);
- :func:`merged_contacts`: user contacts and membership contacts in one list
  sorted by key, with the inflation reported;
- :func:`collect`: a projection stream (accounts, contacts, links, then one
  :class:`~hub.records.ProjectionSummary`) as one projection.

The projector ``hub`` runs is the columnar engine (:mod:`hub.engine.project`).
The per-record rules it is held to live in the tests
(``tests/oracle/per_record.py``) and decide these things through this module
too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise

from hub.config.mapping import Mapping as DestinationMapping
from hub.contract.capabilities import Capabilities, FieldType, ObjectKind
from hub.model import split_membership_key
from hub.projections.membership_contacts import inflation
from hub.projections.notices import NoticeCollector
from hub.projections.resolver import collection_paused
from hub.records import (
    AccountsChunk,
    ContactsChunk,
    DestinationProjection,
    Link,
    LinksChunk,
    Notice,
    ProjectionChunk,
    Record,
)
from hub.references import ALLOWED, Reference, parse_reference

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ProjectionError",
    "Sections",
    "collect",
    "field_references",
    "merged_contacts",
    "sections",
]

#: Work per chunk of a projection stream: about this many records (the unit
#: of work, not a destination's batch size).
DEFAULT_CHUNK_SIZE = 20_000


class ProjectionError(ValueError):
    """A mapping that cannot be projected for this destination."""


def field_references(mapping: Mapping[str, str], location: str) -> dict[str, Reference]:
    """The references of a mapping's ``name = "namespace.attribute"`` table at
    ``location`` (``"users.fields"``), each in the namespaces allowed there."""
    return {name: parse_reference(text, ALLOWED[location]) for name, text in mapping.items()}


@dataclass(frozen=True, slots=True)
class Sections:
    """What a destination receives under its mapping and capabilities."""

    #: One record per account.
    accounts: bool
    #: One contact per user.
    users: bool
    #: One contact per membership.
    members: bool
    #: Contact-to-account links (users and accounts both projected).
    links: bool
    #: The destination's longest account and contact string (``None``: no limit).
    account_max: int | None
    contact_max: int | None
    #: The links' properties (none when the destination's links carry none).
    link_properties: dict[str, Reference]


def sections(name: str, mapping: DestinationMapping, capabilities: Capabilities) -> Sections:
    """The sections destination ``name`` receives; refuses membership contacts
    with a ``user.email`` field for a destination de-duplicating by e-mail."""
    account_object = capabilities.object(ObjectKind.ACCOUNT)
    contact_object = capabilities.object(ObjectKind.CONTACT)
    accounts_on = mapping.accounts.enabled and account_object is not None
    users_on = mapping.users.enabled and contact_object is not None
    members_on = mapping.membership_contacts.enabled and contact_object is not None
    links_on = mapping.links.enabled and capabilities.links is not None and accounts_on and users_on
    member_refs = field_references(mapping.membership_contacts.fields, "membership_contacts.fields")
    if (
        members_on
        and contact_object is not None
        and contact_object.unique_by_email
        and any(r.namespace == "user" and r.attribute == "email" for r in member_refs.values())
    ):
        raise ProjectionError(
            f"destination {name!r} de-duplicates contacts by e-mail, so one contact per "
            "membership would collapse into one per user: give membership_contacts.fields "
            "no user.email, or disable [membership_contacts]"
        )
    return Sections(
        accounts_on,
        users_on,
        members_on,
        links_on,
        account_object.max_length(FieldType.STRING) if account_object else None,
        contact_object.max_length(FieldType.STRING) if contact_object else None,
        field_references(mapping.links.properties, "links.properties")
        if capabilities.links is not None and capabilities.links.carries_properties
        else {},
    )


def collect(stream: Iterator[ProjectionChunk]) -> DestinationProjection:
    """A projection stream's chunks, collected into one projection."""
    accounts: list[Record] = []
    contacts: list[Record] = []
    links: list[Link] = []
    with collection_paused():
        for chunk in stream:
            if isinstance(chunk, AccountsChunk):
                accounts.extend(chunk.records)
            elif isinstance(chunk, ContactsChunk):
                contacts.extend(chunk.records)
            elif isinstance(chunk, LinksChunk):
                links.extend(chunk.links)
            else:
                return DestinationProjection(
                    chunk.destination, accounts, contacts, links, chunk.notices, chunk.stats
                )
    raise AssertionError("a projection stream ends with its summary")


def merged_contacts(
    contacts: list[Record],
    members: list[Record],
    separator: str,
    notices: NoticeCollector,
    stats: dict[str, int | float],
    chunk_size: int,
) -> Iterator[ContactsChunk]:
    """User contacts and membership contacts in one list sorted by key, in
    chunks; counts the membership contacts and their inflation into ``stats``
    and ``notices``. Refuses a key that is both a user id and a membership key."""
    members.sort(key=_record_key)
    distinct = _distinct_users(members, separator)
    ratio = inflation(len(members), distinct)
    stats["membership_contacts"] = len(members)
    stats["membership_contact_users"] = distinct
    stats["inflation"] = ratio
    notices.add(
        Notice(
            "inflation",
            "membership_contacts",
            f"{len(members)} membership contacts for {distinct} users "
            f"(inflation {ratio}): tools billing per contact bill each",
            {"contacts": len(members), "users": distinct, "inflation": ratio},
        )
    )
    if contacts:
        contacts.extend(members)
        contacts.sort(key=_record_key)
        for before, after in pairwise(contacts):
            if before.key == after.key:
                raise ProjectionError(
                    f"contact key {before.key!r} is both a user id and a membership "
                    f"contact key; change membership_contacts.separator"
                )
    else:
        contacts = members
    for start in range(0, len(contacts), chunk_size):
        yield ContactsChunk(contacts[start : start + chunk_size])


def _record_key(record: Record) -> str:
    return record.key


def _distinct_users(members: list[Record], separator: str) -> int:
    seen: set[str] = set()
    for record in members:
        split = split_membership_key(record.key, separator)
        if split is not None:
            seen.add(split[0])
    return len(seen)
