"""From a hub payload to an Intercom request body, and data attribute types.

A payload key that is one of Intercom's standard attributes of the model
(:data:`CONTACT_STANDARD`, :data:`COMPANY_STANDARD`) is sent as such; every
other key is a custom attribute (``custom_attributes``), created on demand as
a data attribute whose ``data_type`` follows the value (:func:`data_type`).

Values are made JSON-ready: ``datetime`` / ``date`` values (and ISO 8601
date-time strings) become Unix seconds, as Intercom's timestamp and ``date``
attributes want; ``Decimal`` becomes a number; enums their value.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

#: Standard contact attributes a payload may set, and how their values are sent.
CONTACT_STANDARD: Mapping[str, str] = {
    "email": "string",
    "phone": "string",
    "name": "string",
    "avatar": "string",
    "signed_up_at": "timestamp",
    "last_seen_at": "timestamp",
    "owner_id": "integer",
    "unsubscribed_from_emails": "boolean",
}
#: Standard company attributes a payload may set (``company_id`` is the hub key).
COMPANY_STANDARD: Mapping[str, str] = {
    "name": "string",
    "plan": "string",
    "size": "integer",
    "website": "string",
    "industry": "string",
    "remote_created_at": "timestamp",
    "monthly_spend": "integer",
}
#: Keys the plugin sets itself: a payload's values for them are ignored.
RESERVED = frozenset({"external_id", "role", "company_id", "id", "custom_attributes"})

# An ISO 8601 date-time with a time part (what the projections render datetimes as).
_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"
)


def _timestamp(value: dt.datetime | dt.date) -> int:
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return int(moment.timestamp())
    return int(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp())


def _parse_datetime(text: str) -> dt.datetime | None:
    if not _ISO_DATETIME.match(text.strip()):
        return None
    try:
        return dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def json_value(value: Any) -> Any:
    """``value`` as Intercom takes it (see the module's rules)."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, dt.datetime | dt.date):
        return _timestamp(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, str):
        parsed = _parse_datetime(value)
        return _timestamp(parsed) if parsed is not None else value
    return value


def _standard_value(kind: str, value: Any) -> Any:
    value = json_value(value)
    if value is None:
        return None
    if kind == "string":
        return value if isinstance(value, str) else str(value)
    if kind in ("integer", "timestamp") and isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return value  # Intercom refuses it: a permanent error for this record
    if kind in ("integer", "timestamp") and isinstance(value, float):
        return int(value)
    return value


def data_type(value: Any) -> str:
    """The Intercom ``data_type`` of a new custom attribute holding ``value``."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float | Decimal):
        return "float"
    if isinstance(value, dt.datetime | dt.date):
        return "date"
    if isinstance(value, str) and _parse_datetime(value) is not None:
        return "date"
    return "string"


def custom_types(payload: Mapping[str, Any], standard: Mapping[str, str]) -> dict[str, str]:
    """The ``data_type`` of each custom attribute ``payload`` sets (for creating it)."""
    return {
        key: data_type(value)
        for key, value in payload.items()
        if key not in RESERVED and key not in standard
    }


def compose_name(payload: Mapping[str, Any]) -> str | None:
    """``first_name last_name`` when the payload has either and no ``name``."""
    if payload.get("name") not in (None, ""):
        return None
    parts = [str(payload[k]).strip() for k in ("first_name", "last_name") if payload.get(k)]
    return " ".join(part for part in parts if part) or None


def split_payload(
    payload: Mapping[str, Any], standard: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(standard attributes, custom attributes)`` of ``payload``, JSON-ready."""
    fields: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for key, value in payload.items():
        if key in RESERVED:
            continue
        if key in standard:
            fields[key] = _standard_value(standard[key], value)
        else:
            custom[key] = json_value(value)
    return fields, custom


def contact_body(
    external_id: str, payload: Mapping[str, Any], *, with_name: bool
) -> dict[str, Any]:
    """The body creating or updating a contact (role ``user``) for ``payload``."""
    fields, custom = split_payload(payload, CONTACT_STANDARD)
    if with_name and "name" not in fields:
        name = compose_name(payload)
        if name is not None:
            fields["name"] = name
    body: dict[str, Any] = {"role": "user", "external_id": external_id, **fields}
    if custom:
        body["custom_attributes"] = custom
    return body


def company_body(company_id: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The body creating or updating the company ``company_id`` for ``payload``.

    An absent custom attribute (``None``) is left out: the 2.14 description types
    company ``custom_attributes`` values as non-nullable, and Intercom documents no
    way to clear one, so the value Intercom holds stays until the source sets another.
    """
    fields, custom = split_payload(payload, COMPANY_STANDARD)
    custom = {key: value for key, value in custom.items() if value is not None}
    body: dict[str, Any] = {"company_id": company_id, **fields}
    if custom:
        body["custom_attributes"] = custom
    return body
