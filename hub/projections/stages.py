"""Projection 3: the user's rolled-up lifecycle stage.

Stages are ordered (``stages.order``, lowest first) and churn is not a rank
but an exit. A user's stage is the highest stage among their memberships that
have not churned; when every staged membership has churned it is the churn
stage; with no staged membership it is ``None``.

A membership's stage is its relationship property ``stages.property``. Values
match exactly (case-sensitive). A missing or empty value means "not staged";
any other value that is neither in the order nor the churn stage is ignored
(as if not staged) and reported.

Example (the seeds'): CUS in A and MQL in B gives CUS; B becomes PRO: PRO;
B churns: CUS again (from A).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hub.config.mapping import StageSettings
from hub.model import Membership

__all__ = ["CHURNED", "UNSTAGED", "StageRanking", "user_stage"]

#: :meth:`StageRanking.rank` of a churned membership.
CHURNED = -1
#: :meth:`StageRanking.rank` of a membership with no (or an unknown) stage.
UNSTAGED = -2

#: Called with a membership and its unknown stage value.
UnknownStage = Callable[[Membership, Any], None]


class StageRanking:
    """:class:`StageSettings`, compiled for ranking memberships fast."""

    __slots__ = ("churn", "order", "property", "ranks")

    def __init__(self, settings: StageSettings) -> None:
        self.order: tuple[str, ...] = tuple(settings.order)
        self.churn: str = settings.churn
        self.property: str = settings.property
        self.ranks: dict[str, int] = {stage: i for i, stage in enumerate(self.order)}
        self.ranks[self.churn] = CHURNED

    def rank(self, membership: Membership, unknown: UnknownStage | None = None) -> int:
        """The membership's rank: ``0`` for the lowest stage up,
        :data:`CHURNED`, or :data:`UNSTAGED` (``unknown`` is called for a value
        that is neither a stage nor churn)."""
        value = membership.properties.get(self.property)
        if value is None or value == "":
            return UNSTAGED
        try:
            rank = self.ranks.get(value)
        except TypeError:  # an unhashable value, e.g. a list
            rank = None
        if rank is None:
            if unknown is not None:
                unknown(membership, value)
            return UNSTAGED
        return rank


def user_stage(
    memberships: Sequence[Membership],
    ranking: StageRanking,
    unknown: UnknownStage | None = None,
) -> str | None:
    """The rolled-up stage of a user with these memberships (see the module doc)."""
    best = UNSTAGED
    for membership in memberships:
        rank = ranking.rank(membership, unknown)
        if rank > best:
            best = rank
    if best >= 0:
        return ranking.order[best]
    if best == CHURNED:
        return ranking.churn
    return None
