"""When the daemon runs a sync: durations, cron expressions and due times.

Pure functions of their arguments (the clock and the random source are
passed in), so the daemon's timing is tested without waiting.

**Catch-up.** The due time is computed from the last time the sync *started*
(remembered in the state store), never from a list of missed slots: after a
downtime spanning any number of slots, the sync is simply overdue, runs once,
and the next due time is computed from that run's start. One catch-up run,
not one per missed slot.

**Jitter.** A random delay in ``[0, jitter]`` is added to each due time
(drawn once per due time), so that many daemons started together do not hit a
destination at the same second.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

__all__ = [
    "DurationError",
    "Schedule",
    "cron_error",
    "format_duration",
    "parse_duration",
    "timezone_error",
]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


class DurationError(ValueError):
    """Text that is not a duration."""


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``value``: a number of seconds, or text such as ``90s``,
    ``15m``, ``1h30m``, ``2d``, ``500ms``. Negative values are refused."""
    if isinstance(value, bool):
        raise DurationError("a duration is a number of seconds or text such as '15m'")
    if isinstance(value, int | float):
        if value < 0:
            raise DurationError("a duration cannot be negative")
        return float(value)
    text = value.strip().lower().replace(" ", "")
    if not text:
        raise DurationError("empty duration")
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds < 0:
            raise DurationError("a duration cannot be negative")
        return seconds
    position = 0
    total = 0.0
    while position < len(text):
        match = _PART.match(text, position)
        if match is None:
            raise DurationError(
                "not a duration: a number and a unit among ms, s, m, h, d, w"
                " (e.g. '90s', '15m', '1h30m'), or a number of seconds"
            )
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    return total


def format_duration(seconds: float) -> str:
    """``seconds`` as short text: ``15m``, ``1h30m``, ``2.5s``."""
    if seconds < 60 and seconds != int(seconds):
        return f"{seconds:g}s"
    whole = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return "".join(parts) or "0s"


def cron_error(expression: str) -> str | None:
    """Why ``expression`` is not a valid 5-field cron expression, ``None`` if it is."""
    fields = expression.split()
    if len(fields) != 5:
        return (
            f"a cron expression has 5 fields (minute hour day-of-month month day-of-week),"
            f" not {len(fields)}"
        )
    if not croniter.is_valid(expression):
        return "not a valid cron expression (e.g. '*/5 * * * *': every 5 minutes)"
    return None


def timezone_error(name: str) -> str | None:
    """Why ``name`` is not a known IANA time zone, ``None`` if it is."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r}"
    return None


def _as_datetime(moment: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(moment, UTC).astimezone(zone)


@dataclass(frozen=True, slots=True)
class Schedule:
    """One sync's timing: an ``interval`` in seconds or a ``cron`` expression
    (evaluated in ``timezone``), and a ``jitter`` bound in seconds."""

    interval: float | None = None
    cron: str | None = None
    jitter: float = 0.0
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.interval is None) == (self.cron is None):
            raise ValueError("a schedule has exactly one of interval and cron")
        if self.interval is not None and self.interval <= 0:
            raise ValueError("the interval must be positive")
        if self.cron is not None and (problem := cron_error(self.cron)):
            raise ValueError(problem)
        if self.jitter < 0:
            raise ValueError("the jitter cannot be negative")

    def describe(self) -> str:
        """``every 15m, jitter 30s`` or ``cron '*/5 * * * *' (UTC)``."""
        if self.cron is not None:
            text = f"cron {self.cron!r} ({self.timezone})"
        else:
            assert self.interval is not None
            text = f"every {format_duration(self.interval)}"
        if self.jitter:
            text += f", jitter {format_duration(self.jitter)}"
        return text

    def _cron_next(self, after: float) -> float:
        assert self.cron is not None
        zone = ZoneInfo(self.timezone)
        following: datetime = croniter(self.cron, _as_datetime(after, zone)).get_next(datetime)
        return following.timestamp()

    def period(self, now: float) -> float:
        """The time between two runs around ``now``: the interval, or the gap
        between the next two cron slots (for health checks)."""
        if self.interval is not None:
            return self.interval
        first = self._cron_next(now)
        return self._cron_next(first) - first

    def next_due(self, last_started: float | None, now: float, rng: random.Random) -> float:
        """When the sync is due next (epoch seconds), jitter included.

        - Interval: ``last_started + interval``; with no run known, ``now``.
        - Cron: the first slot after ``last_started``; with no run known, the
          first slot after ``now``.

        A result in the past means "overdue": the daemon runs the sync once,
        right away, and computes the next due time from that run's start; so a
        downtime over many slots gives one catch-up run, not one per slot.
        """
        if self.interval is not None:
            base = now if last_started is None else last_started + self.interval
        else:
            base = self._cron_next(now if last_started is None else last_started)
        if self.jitter:
            base += rng.uniform(0.0, self.jitter)
        return base
