"""Rows that failed validation: kept with their reason and where they came from.

Nothing a source reads is dropped silently: a row is either in the data set or
in the quarantine, and the quarantine is counted and reported on every run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class QuarantinedRow:
    """One rejected row.

    ``location`` says where the row is, as a person would look for it:
    ``"examples/sample/users.csv:14"`` for a file and line, or
    ``"source app, query users, row 5"`` for a SQL query result.
    """

    source: str
    table: str
    location: str
    reason: str
    record_id: str | None = None


@dataclass(slots=True)
class Quarantine:
    """The quarantined rows of one load, in the order they were found."""

    rows: list[QuarantinedRow] = field(default_factory=list)

    def add(
        self,
        source: str,
        table: str,
        location: str,
        reason: str,
        record_id: str | None = None,
    ) -> None:
        self.rows.append(QuarantinedRow(source, table, location, reason, record_id))

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[QuarantinedRow]:
        return iter(self.rows)

    def by_source(self) -> dict[str, int]:
        """Counts by source, in source-name order (run reports, the delete guard)."""
        return dict(sorted(Counter(row.source for row in self.rows).items()))

    def counts(self) -> dict[tuple[str, str], int]:
        """Counts by (table, reason), for the run report."""
        return dict(Counter((row.table, row.reason) for row in self.rows))
