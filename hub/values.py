"""How projections compare, render and read values.

Values come from sources of every kind (CSV strings, JSON numbers, SQL
datetimes), so ordering and rendering must never raise and never depend on
input order: every value gets a total, deterministic sort key.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from math import isnan
from typing import Any

__all__ = ["instant", "iso_utc", "render", "sort_key", "truthy", "utc"]

_TRUE_STRINGS = frozenset({"true", "t", "yes", "y", "1", "on"})


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware datetime; a naive one is taken to be UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC, e.g. ``2024-05-01T12:00:00+00:00``."""
    return utc(moment).astimezone(UTC).isoformat()


def sort_key(value: Any) -> tuple[int, Any]:
    """A total order over values of any kind: numbers, then booleans, then
    strings, then dates/times, then anything else (by ``repr``); ``None`` (and
    NaN) last."""
    if value is None:
        return (9, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | Decimal):
        return (0, value)
    if isinstance(value, float):
        return (8, 0) if isnan(value) else (0, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, datetime):
        return (3, utc(value))
    if isinstance(value, date):
        return (3, datetime.combine(value, time(), tzinfo=UTC))
    return (4, repr(value))


def render(value: Any) -> str:
    """A value as text in a list or summary entry; ``None`` renders as ``""``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return render(value.value)
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def truthy(value: Any) -> bool:
    """Whether a flag is set: ``True``, a non-zero number, or a string such as
    ``"true"``, ``"yes"``, ``"1"`` (case-insensitive); CSV gives strings, and
    ``"false"`` must not count as set."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_STRINGS
    return False


def instant(value: Any) -> datetime | None:
    """A point in time from a datetime, a date, an ISO 8601 string or epoch
    seconds; ``None`` when the value is missing or not a time."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return utc(datetime.fromisoformat(text))
        except ValueError:
            return None
    if isinstance(value, int | float | Decimal):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None
