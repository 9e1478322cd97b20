"""Links as ``AccountContactRelation`` records: what each link asks for.

A link's properties land on the relation: the property ``role`` becomes
``Roles`` through the ``role_picklist`` setting (an unmapped role refuses the
link, naming the setting); every other property name is an
``AccountContactRelation`` field (``StartDate``, ``EndDate``, ``IsActive``, or
a custom field), dates cut to ``YYYY-MM-DD``.

The engine sends a link's payload as ``{"properties": {...}, "primary": bool}``
(``hub.contract.link_payload``); a bare properties mapping is read too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.contract import BatchItem
from hub_salesforce.settings import PICKLIST_SEPARATOR, SalesforceSettings

#: The link property holding the relationship role.
ROLE_PROPERTY = "role"
#: The relation fields holding dates.
DATE_FIELDS = frozenset({"StartDate", "EndDate"})
#: Fields Salesforce does not let anyone set on the direct relation.
NOT_ON_DIRECT = frozenset({"IsActive"})
#: What the hub reads back of a relation.
RELATION_COLUMNS = ("Id", "AccountId", "ContactId", "IsDirect", "IsActive", "Roles")


@dataclass(frozen=True, slots=True)
class WantedRelation:
    """One link, resolved: its ends' Salesforce ids and the relation's fields."""

    item: BatchItem
    contact_id: str
    account_id: str
    primary: bool
    fields: dict[str, Any]


class RelationRefused(ValueError):
    """A link that cannot become a relation as it is (permanent)."""


def link_properties(item: BatchItem) -> tuple[Mapping[str, Any], bool]:
    """The link's properties and whether it is the primary one."""
    payload = item.payload
    properties = payload.get("properties")
    if isinstance(properties, Mapping) and set(payload) <= {"properties", "primary"}:
        return properties, bool(payload.get("primary", False))
    primary = item.link.primary if item.link is not None else False
    return payload, primary


def _date(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    try:
        return dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        raise RelationRefused(f"{text!r} is not a date (YYYY-MM-DD...)") from None


def relation_fields(
    properties: Mapping[str, Any], settings: SalesforceSettings, setting_name: str
) -> dict[str, Any]:
    """The ``AccountContactRelation`` fields for a link's properties.

    :param setting_name: the ``role_picklist`` setting's full name, for the reason.
    """
    fields: dict[str, Any] = {}
    for name, value in sorted(properties.items()):
        if name == ROLE_PROPERTY:
            if value is None or value == "":
                fields["Roles"] = None
                continue
            roles = settings.picklist(str(value))
            if roles is None:
                raise RelationRefused(
                    f"role {value!r} has no AccountContactRelation.Roles picklist value: "
                    f'add it to {setting_name} (e.g. {value} = "Business User")'
                )
            fields["Roles"] = roles
        elif name in DATE_FIELDS:
            fields[name] = _date(value)
        elif isinstance(value, Mapping | list | tuple | set):
            raise RelationRefused(f"property {name!r} is not a single value")
        else:
            fields[name] = value
    return fields


def _picks(value: Any) -> set[str]:
    return {pick for pick in str(value or "").split(PICKLIST_SEPARATOR) if pick}


def _same(current: Any, wanted: Any, field: str) -> bool:
    if field == "Roles":
        return _picks(current) == _picks(wanted)
    if field in DATE_FIELDS:
        return (current or None) == (wanted or None)
    return bool(current == wanted)


def changes(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``wanted`` that ``current`` (a queried relation) does not hold yet."""
    return {
        field: value
        for field, value in wanted.items()
        if field not in current or not _same(current.get(field), value, field)
    }


def without_direct_only(fields: Mapping[str, Any], is_direct: bool) -> dict[str, Any]:
    """``fields`` minus what cannot be set on the direct relation."""
    return {k: v for k, v in fields.items() if not (is_direct and k in NOT_ON_DIRECT)}
