"""Projections 3 and 4 as one query: every user's rolled-up stage, account
count and primary membership.

The rules are those of :mod:`hub.projections.stages` and
:mod:`hub.projections.primary_account`, which the tests hold this query to:

- a membership's stage rank and whether its value is unknown are facets
  computed by :meth:`hub.projections.stages.StageRanking.rank` itself;
- the rolled-up stage is the highest rank (``CHURNED`` when every staged
  membership churned, ``UNSTAGED`` with none): ``max`` of the ranks, since
  ``UNSTAGED < CHURNED < 0``;
- the primary is the first membership in the policy's order, ties by account
  id: ``first(a ORDER BY <policy keys>, a)``. ``first`` and ``last`` order by
  the joined time (:func:`hub.values.instant`, in microseconds), a missing or
  unreadable one after every present one; ``highest_stage`` by the rank with
  an unstaged membership above a churned one; ``most_active`` by the events of
  the pair in ``[as_of - activity_window_days, as_of]``; ``explicit`` takes the
  one flagged membership (:func:`hub.values.truthy`), else applies the
  fallback to the flagged ones (reported) or, with none flagged, to all.

Only fixed SQL is ever built: the policy picks among constant fragments, and
the as-of bounds are parameters.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from hub.config.mapping import PrimaryAccountPolicy, PrimaryAccountSettings, StageSettings
from hub.engine.tables import Tables, micros, window_micros
from hub.model import Membership, membership_key
from hub.projections.notices import EXAMPLES
from hub.projections.stages import CHURNED, UNSTAGED, StageRanking
from hub.values import instant, truthy

__all__ = [
    "UnknownStage",
    "UserContexts",
    "relationship_attributes",
    "rolled_up_stage",
    "user_contexts",
]

#: Each policy's order, best first (``a``, the account id, breaks every tie).
_ORDER: dict[str, str] = {
    PrimaryAccountPolicy.FIRST: "t IS NULL, t ASC",
    PrimaryAccountPolicy.LAST: "t IS NULL, t DESC",
    PrimaryAccountPolicy.HIGHEST_STAGE: (
        "CASE WHEN r >= 0 THEN r WHEN r = -1 THEN -2 ELSE -1 END DESC"
    ),
    PrimaryAccountPolicy.MOST_ACTIVE: "act DESC",
}


@dataclass(frozen=True, slots=True)
class UnknownStage:
    """Memberships whose stage is neither a stage nor churn, for one notice."""

    #: ``str(value)``, the notice's subject.
    subject: str
    #: The value first met in the per-record order (user ids, then account ids).
    value: Any
    count: int
    #: The smallest membership keys (those a :class:`NoticeCollector` keeps).
    examples: list[str]


@dataclass(frozen=True, slots=True)
class UserContexts:
    """What :func:`user_contexts` computed, for the users with memberships."""

    #: ``u``, ``account_count``, ``best`` (the highest rank), ``primary`` (the
    #: primary membership's ``a``), ``several`` (more than one flagged).
    table: pa.Table
    #: The unknown stage values, by notice subject.
    unknown_stages: list[UnknownStage]
    #: Users with several flagged memberships (``explicit``): count, smallest ids.
    several_flags: tuple[int, list[str]]

    def stage(self, ranking: StageRanking, best: int) -> str | None:
        """The rolled-up stage of a user whose highest rank is ``best``."""
        return rolled_up_stage(ranking, best)


def rolled_up_stage(ranking: StageRanking, best: int) -> str | None:
    """The rolled-up stage of a user whose highest rank is ``best``: the stage,
    the churn value when every staged membership churned, else ``None``."""
    if best >= 0:
        return ranking.order[best]
    return ranking.churn if best == CHURNED else None


def relationship_attributes(stages: StageSettings, primary: PrimaryAccountSettings) -> list[str]:
    """The relationship attributes :func:`user_contexts` reads: the stage, and
    the joined time or the flag when the policies read them."""
    policies = _policies(primary)
    wanted = [stages.property]
    if _timed(policies):
        wanted.append(primary.joined_property)
    if policies[0] == PrimaryAccountPolicy.EXPLICIT:
        wanted.append(primary.flag_property)
    return wanted


def _timed(policies: tuple[str, ...]) -> bool:
    """Whether ``first`` or ``last`` is among ``policies`` (they read the joined time)."""
    return bool({PrimaryAccountPolicy.FIRST, PrimaryAccountPolicy.LAST} & set(policies))


def _policies(settings: PrimaryAccountSettings) -> tuple[str, ...]:
    if settings.policy == PrimaryAccountPolicy.EXPLICIT:
        return (settings.policy, settings.fallback)
    return (settings.policy,)


def user_contexts(
    tables: Tables,
    stages: StageSettings,
    primary: PrimaryAccountSettings,
    as_of: datetime,
    *,
    separator: str = ":",
    noticed: frozenset[int] | None = None,
) -> UserContexts:
    """Every user's stage, account count and primary membership (module doc).

    ``tables`` must have the columns of :func:`relationship_attributes`, and
    events when a policy is ``most_active``. ``separator`` builds the example
    membership keys of the unknown-stage notice. ``noticed``, when given, are
    the users (``u``) whose memberships the notices count; the others are
    computed all the same.
    """
    ranking = StageRanking(stages)
    prop = stages.property

    def rank(value: Any) -> int:
        return ranking.rank(Membership("", "", "", {prop: value}))

    def unknown(value: Any) -> bool:
        seen: list[bool] = []
        ranking.rank(Membership("", "", "", {prop: value}), lambda _m, _v: seen.append(True))
        return bool(seen)

    def joined(value: Any) -> int | None:
        moment = instant(value)
        return None if moment is None else micros(moment)

    policies = _policies(primary)
    explicit = policies[0] == PrimaryAccountPolicy.EXPLICIT
    timed = _timed(policies)
    stage_c = tables.column(prop)
    tables.facet("f_rank", prop, rank, pa.int64())
    tables.facet("f_unknown", prop, unknown, pa.bool_())
    # The joined times and the flags only for the policies that read them.
    joins = [f"LEFT JOIN f_rank r ON r.id = m.{stage_c}"]
    if timed:
        tables.facet("f_joined", primary.joined_property, joined, pa.int64())
        joins.append(f"LEFT JOIN f_joined j ON j.id = m.{tables.column(primary.joined_property)}")
    if explicit:
        tables.facet("f_flag", primary.flag_property, truthy, pa.bool_())
        joins.append(f"LEFT JOIN f_flag f ON f.id = m.{tables.column(primary.flag_property)}")
    order = _ORDER[policies[-1]]
    parameters: list[Any] = []
    if PrimaryAccountPolicy.MOST_ACTIVE in policies:
        start = window_micros(as_of, primary.activity_window_days)
        assert start is not None
        activity = "(SELECT u, a, count(*) AS n FROM e WHERE t BETWEEN ? AND ? GROUP BY u, a)"
        parameters = [start, micros(as_of)]
    else:
        activity = "(SELECT NULL::BIGINT AS u, NULL::BIGINT AS a, 0 AS n WHERE false)"
    candidates = "f OR nf = 0" if explicit else "true"
    query = f"""
        WITH k AS (
            SELECT m.u, m.a, coalesce(r.facet, {UNSTAGED}) AS r,
                   {"j.facet" if timed else "NULL::BIGINT"} AS t,
                   {"coalesce(f.facet, false)" if explicit else "false"} AS f,
                   coalesce(x.n, 0) AS act
            FROM m
            {" ".join(joins)}
            LEFT JOIN {activity} x ON x.u = m.u AND x.a = m.a
        ), c AS (
            SELECT *, count(*) FILTER (WHERE f) OVER (PARTITION BY u) AS nf FROM k
        )
        SELECT u, count(*) AS account_count, max(r) AS best,
               first(a ORDER BY {order}, a) FILTER (WHERE {candidates}) AS "primary",
               max(nf) > 1 AS several
        FROM c GROUP BY u ORDER BY u
    """
    connection = tables.connection
    table = connection.sql(query, params=parameters).to_arrow_table()

    unknown_rows = connection.execute(
        f"SELECT m.{stage_c}, m.u, m.a FROM m JOIN f_unknown x ON x.id = m.{stage_c}"
        " JOIN users ON users.u = m.u WHERE x.facet ORDER BY users.urank, m.a"
    ).fetchall()
    # A notice's subject is str(value), so 3 and "3" are one notice, whose
    # value is the first met in the per-record order (user ids, then account ids).
    by_subject: dict[str, tuple[Any, list[tuple[int, int]]]] = {}
    real = tables.real_users  # a phantom user (only a membership names it) is never noticed
    for value_id, u, a in unknown_rows:
        if u >= real or (noticed is not None and u not in noticed):
            continue
        value = tables.values.values[value_id]
        by_subject.setdefault(str(value), (value, []))[1].append((u, a))
    user_ids, account_ids = tables.user_ids, tables.account_ids
    unknown_stages = [
        UnknownStage(
            subject,
            value,
            len(pairs),
            heapq.nsmallest(
                EXAMPLES,
                {membership_key(user_ids[u], account_ids[a], separator) for u, a in pairs},
            ),
        )
        for subject, (value, pairs) in sorted(by_subject.items())
    ]
    # The query's own ``several`` column (false unless the policy is explicit).
    flagged = [
        user_ids[u]
        for u, many in zip(
            table.column("u").to_pylist(), table.column("several").to_pylist(), strict=True
        )
        if many and u < real and (noticed is None or u in noticed)
    ]
    several = (len(flagged), heapq.nsmallest(EXAMPLES, flagged))
    return UserContexts(table, unknown_stages, several)
