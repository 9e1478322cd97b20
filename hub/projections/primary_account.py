"""Projection 4: the user's primary account.

For destinations where a contact has one account, a policy picks one of the
user's memberships (``[primary_account]`` of the mapping):

- ``first``: the earliest ``joined_property`` (``joined_at``);
- ``last``: the latest ``joined_property``;
- ``highest_stage``: the highest non-churned stage; a membership with no
  stage comes after every staged one, a churned one after those;
- ``most_active``: the most events by the user within the account over the
  ``activity_window_days`` before ``as_of``;
- ``explicit``: the membership whose ``flag_property`` is set (``true``,
  a non-zero number, or ``"true"``/``"yes"``/``"1"``). With no flagged
  membership the ``fallback`` policy picks among all of them; with several,
  it picks among the flagged ones only and the run reports it.

Every tie, in every policy, goes to the **lowest account id**. A joined value
that is missing or not a time (datetime, date, ISO 8601 string, epoch
seconds) sorts after every present one, for ``first`` and ``last`` alike.
A user with no memberships has no primary account (``None``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from hub.config.mapping import PrimaryAccountPolicy, PrimaryAccountSettings
from hub.model import Membership
from hub.projections.stages import CHURNED, StageRanking
from hub.values import instant, truthy

__all__ = ["primary_membership"]

#: The number of events by the membership's user within its account in the window.
Activity = Callable[[Membership], int]


def _pick(
    memberships: Sequence[Membership],
    policy: PrimaryAccountPolicy | str,
    settings: PrimaryAccountSettings,
    ranking: StageRanking,
    activity: Activity | None,
) -> Membership:
    # ``memberships`` is sorted by account id, so a strict ``<``/``>`` on the
    # policy's own key keeps the first, i.e. lowest, account id on a tie.
    best = memberships[0]
    if len(memberships) == 1:
        return best
    if policy in (PrimaryAccountPolicy.FIRST, PrimaryAccountPolicy.LAST):
        latest = policy == PrimaryAccountPolicy.LAST
        prop = settings.joined_property
        best_time: datetime | None = instant(best.properties.get(prop))
        for membership in memberships[1:]:
            moment = instant(membership.properties.get(prop))
            if moment is None:
                continue
            if (
                best_time is None
                or (latest and moment > best_time)
                or (not latest and moment < best_time)
            ):
                best, best_time = membership, moment
        return best
    if policy == PrimaryAccountPolicy.HIGHEST_STAGE:

        def stage_key(membership: Membership) -> int:
            rank = ranking.rank(membership)
            # non-churned staged (0..n) > unstaged > churned
            if rank >= 0:
                return rank
            return -2 if rank == CHURNED else -1

        best_rank = stage_key(best)
        for membership in memberships[1:]:
            rank = stage_key(membership)
            if rank > best_rank:
                best, best_rank = membership, rank
        return best
    if policy == PrimaryAccountPolicy.MOST_ACTIVE:
        if activity is None:
            raise ValueError("the most_active policy needs an activity function")
        best_count = activity(best)
        for membership in memberships[1:]:
            count = activity(membership)
            if count > best_count:
                best, best_count = membership, count
        return best
    raise ValueError(f"unknown primary account policy {policy!r}")


def primary_membership(
    memberships: Sequence[Membership],
    settings: PrimaryAccountSettings,
    ranking: StageRanking,
    activity: Activity | None = None,
    several_flags: Callable[[Sequence[Membership]], None] | None = None,
) -> Membership | None:
    """The user's primary membership under ``settings`` (see the module doc).

    ``memberships`` must be sorted by account id (as
    :meth:`hub.projections.resolver.Graph.memberships_of_user` gives them). ``activity`` is
    needed by ``most_active`` (also as the fallback); ``several_flags`` is
    called with the flagged memberships when ``explicit`` finds more than one.
    """
    if not memberships:
        return None
    if settings.policy != PrimaryAccountPolicy.EXPLICIT:
        return _pick(memberships, settings.policy, settings, ranking, activity)
    flag = settings.flag_property
    flagged = [m for m in memberships if truthy(m.properties.get(flag))]
    if len(flagged) == 1:
        return flagged[0]
    if flagged:
        if several_flags is not None:
            several_flags(flagged)
        return _pick(flagged, settings.fallback, settings, ranking, activity)
    return _pick(memberships, settings.fallback, settings, ranking, activity)
