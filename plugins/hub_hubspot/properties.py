"""Properties created on demand, once, in the hub's property group.

Before the first batch of an object type the catalog reads which properties
exist (one ``GET /crm/v3/properties/{objectType}``); before each batch it
creates, in one ``POST .../batch/create``, those the batch's payloads name and
HubSpot lacks, in the hub's group (created first, once). So a property the
mapping needs never reaches HubSpot missing, and never becomes a per-record
failure. The type comes from the values: booleans become ``bool`` /
``booleancheckbox``, numbers ``number``, ISO 8601 date-times ``datetime``,
anything else ``string`` (``text``, or ``textarea`` for long or multi-line values).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from hub_hubspot.client import HubSpotClient, PermanentBatchError

#: Values longer than this make a ``textarea`` (multi-line) property instead of ``text``.
SINGLE_LINE_LENGTH = 255
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_BOOL_OPTIONS = [
    {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
    {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
]


def property_kind(values: Iterable[Any]) -> tuple[str, str]:
    """HubSpot's ``(type, fieldType)`` for a property holding ``values``."""
    present = [value for value in values if value is not None and value != ""]
    if present and all(isinstance(value, bool) for value in present):
        return "bool", "booleancheckbox"
    if present and all(
        isinstance(value, int | float) and not isinstance(value, bool) for value in present
    ):
        return "number", "number"
    if present and all(
        isinstance(value, dt.datetime)
        or (isinstance(value, str) and _ISO_DATETIME.match(value) is not None)
        for value in present
    ):
        return "datetime", "date"
    long = any(len(str(value)) > SINGLE_LINE_LENGTH or "\n" in str(value) for value in present)
    return "string", "textarea" if long else "text"


def _label(name: str) -> str:
    return name.replace("_", " ").strip().capitalize() or name


class PropertyCatalog:
    """The properties of one object type HubSpot holds, created on demand."""

    def __init__(
        self,
        client: HubSpotClient,
        object_type: str,
        group: str,
        group_label: str,
        unique: Iterable[str] = (),
    ) -> None:
        self._client = client
        self._object_type = object_type
        self._group = group
        self._group_label = group_label
        self._unique = frozenset(unique)
        self._known: set[str] | None = None
        self._group_exists = False

    def _load(self) -> set[str]:
        if self._known is None:
            answer = self._client.request("GET", f"/crm/v3/properties/{self._object_type}")
            results = (answer.document or {}).get("results") or []
            self._known = {str(entry["name"]) for entry in results if "name" in entry}
            self._group_exists = any(entry.get("groupName") == self._group for entry in results)
        return self._known

    def known(self) -> frozenset[str]:
        """The names known so far (read from HubSpot on first use)."""
        return frozenset(self._load())

    def ensure(self, values: Mapping[str, Iterable[Any]]) -> list[str]:
        """Create the properties of ``values`` (name -> sample values) HubSpot lacks;
        return the names created."""
        known = self._load()
        missing = sorted(name for name in values if name not in known)
        if not missing:
            return []
        self._ensure_group()
        inputs = []
        for name in missing:
            type_, field_type = property_kind(values[name])
            definition: dict[str, Any] = {
                "name": name,
                "label": _label(name),
                "type": type_,
                "fieldType": field_type,
                "groupName": self._group,
                "description": "Managed by connector-hub.",
            }
            if type_ == "bool":
                definition["options"] = _BOOL_OPTIONS
            if name in self._unique:
                definition["hasUniqueValue"] = True
            inputs.append(definition)
        answer = self._client.request(
            "POST", f"/crm/v3/properties/{self._object_type}/batch/create", {"inputs": inputs}
        )
        document = answer.document or {}
        created = {str(entry.get("name")) for entry in document.get("results") or []}
        for error in document.get("errors") or []:
            # One that exists already (a concurrent run made it) is as good as created.
            message = str(error.get("message") or "")
            if "already exists" in message.lower() or str(error.get("status")) == "409":
                for names in (error.get("context") or {}).values():
                    created.update(str(n) for n in names)
                continue
            raise PermanentBatchError(
                f"HubSpot would not create property for {self._object_type}: {message}"
            )
        known.update(created)
        return sorted(created & set(missing))

    def _ensure_group(self) -> None:
        if self._group_exists:
            return
        try:
            self._client.request(
                "POST",
                f"/crm/v3/properties/{self._object_type}/groups",
                {"name": self._group, "label": self._group_label, "displayOrder": -1},
            )
        except PermanentBatchError as exc:
            if "409" not in exc.reason:
                raise
        self._group_exists = True
