"""Collecting notices without flooding the report.

One notice per affected record would mean a million notices for a million
users with an unknown stage; projections instead count occurrences per
``(kind, subject)`` and keep the smallest few example keys, so the report is
short and the same whatever the input order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.records import Notice

__all__ = [
    "EXAMPLES",
    "NoticeCollector",
    "entry_rejected",
    "list_notices",
    "list_truncated",
    "several_primary_flags",
    "unknown_stage",
]

#: How many example keys a notice keeps.
EXAMPLES = 10


@dataclass(slots=True)
class _Tally:
    message: str
    count: int = 0
    examples: list[str] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)


class NoticeCollector:
    """Counts occurrences of a notice per ``(kind, subject)``."""

    __slots__ = ("_extra", "_tallies")

    def __init__(self) -> None:
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._extra: list[Notice] = []

    def count(self, kind: str, subject: str, message: str, example: str, **totals: int) -> None:
        """Record one occurrence; ``totals`` are summed into the notice's detail.

        ``message`` may use ``{count}``; it is the same for every occurrence of
        a ``(kind, subject)``.
        """
        tally = self._tallies.get((kind, subject))
        if tally is None:
            tally = self._tallies[(kind, subject)] = _Tally(message)
        tally.count += 1
        tally.examples.append(example)
        for name, amount in totals.items():
            tally.totals[name] = tally.totals.get(name, 0) + amount

    def count_all(
        self, kind: str, subject: str, message: str, count: int, examples: list[str], **totals: int
    ) -> None:
        """:meth:`count` ``count`` times in one call, ``examples`` holding at
        least the smallest :data:`EXAMPLES` of theirs (``totals`` summed once)."""
        if count <= 0:
            return
        tally = self._tallies.get((kind, subject))
        if tally is None:
            tally = self._tallies[(kind, subject)] = _Tally(message)
        tally.count += count
        tally.examples.extend(examples)
        for name, amount in totals.items():
            tally.totals[name] = tally.totals.get(name, 0) + amount

    def merge(self, other: NoticeCollector) -> None:
        """Add ``other``'s occurrences after this one's (as if counted here)."""
        for key, theirs in other._tallies.items():
            tally = self._tallies.get(key)
            if tally is None:
                tally = self._tallies[key] = _Tally(theirs.message)
            tally.count += theirs.count
            tally.examples.extend(theirs.examples)
            for name, amount in theirs.totals.items():
                tally.totals[name] = tally.totals.get(name, 0) + amount
        self._extra.extend(other._extra)

    def add(self, notice: Notice) -> None:
        """Add a notice as is."""
        self._extra.append(notice)

    def notices(self) -> list[Notice]:
        """Every notice, sorted by ``(kind, subject, message)``."""
        out = list(self._extra)
        for (kind, subject), tally in self._tallies.items():
            examples = sorted(set(tally.examples))[:EXAMPLES]
            detail: dict[str, Any] = {"count": tally.count, "examples": examples}
            detail.update(tally.totals)
            out.append(Notice(kind, subject, tally.message.format(count=tally.count), detail))
        out.sort(key=lambda n: (n.kind, n.subject, n.message))
        return out


def list_truncated(
    notices: NoticeCollector,
    subject: str,
    key: str,
    dropped: int,
    marked: bool,
    max_length: int | None,
) -> None:
    """Count a list or summary of ``key`` truncated behind the marker."""
    notices.count(
        "list_truncated",
        subject,
        f"{{count}} value(s) longer than {max_length} characters: whole entries dropped "
        'from the end behind a "(+N more)" marker',
        key,
        dropped_entries=dropped,
        without_marker=0 if marked else 1,
    )


def list_notices(
    notices: NoticeCollector,
    subject: str,
    key: str,
    listed: Any,
    separator: str,
    max_length: int | None,
) -> None:
    """What one list or summary of ``key`` reports: its truncation, and each
    entry skipped for holding the separator (``key/other``). ``listed`` is a
    :class:`~hub.projections.user_lists.UserList` or a summary's
    ``RelationshipValue`` (``dropped``, ``marked``, ``rejected``)."""
    if listed.dropped:
        list_truncated(notices, subject, key, listed.dropped, listed.marked, max_length)
    for other in listed.rejected:
        entry_rejected(notices, subject, f"{key}/{other}", separator)


def entry_rejected(notices: NoticeCollector, subject: str, key: str, separator: str) -> None:
    """Count an entry skipped because it holds its list's separator."""
    notices.count(
        "entry_contains_separator",
        subject,
        f"{{count}} entr(y/ies) skipped because they contain the separator {separator!r}, "
        "which would split one entry into two; choose another separator",
        key,
    )


def unknown_stage(
    notices: NoticeCollector,
    stage_property: str,
    value: Any,
    count: int,
    examples: list[str],
) -> None:
    """Count ``count`` memberships whose stage ``value`` is neither a stage
    nor churn (``examples``: their keys, at least the smallest)."""
    notices.count_all(
        "unknown_stage",
        str(value),
        f"{{count}} membership(s) have {stage_property} = {value!r}, which is "
        "neither in stages.order nor stages.churn; ignored when rolling up stages",
        count,
        examples,
    )


def several_primary_flags(
    notices: NoticeCollector, flag_property: str, fallback: str, count: int, examples: list[str]
) -> None:
    """Count ``count`` users with several memberships flagged primary
    (``examples``: their ids, at least the smallest)."""
    notices.count_all(
        "several_primary_flags",
        flag_property,
        "{count} user(s) have several memberships flagged primary; the fallback "
        f"policy {fallback!r} picked among them",
        count,
        examples,
    )
