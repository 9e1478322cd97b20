"""The engine's user-context query against the per-record rules (the oracle).

For random data sets whose values are of every type a source can give (stage
values that are unknown, empty, numbers, lists; joined times as datetimes,
naive ones, dates, ISO strings, epoch seconds, garbage; flags as booleans,
numbers and strings), every user's rolled-up stage, account count and primary
membership from :func:`hub.engine.users.user_contexts` must equal what
:func:`hub.projections.stages.user_stage` and
:func:`hub.projections.primary_account.primary_membership` give, and so must
the notices' counts and examples.
"""

from __future__ import annotations

import heapq
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.config.mapping import PrimaryAccountPolicy, PrimaryAccountSettings, StageSettings
from hub.engine.tables import Tables
from hub.engine.users import relationship_attributes, user_contexts
from hub.model import Account, Dataset, Event, Membership, User
from hub.projections.notices import EXAMPLES
from hub.projections.primary_account import primary_membership
from hub.projections.resolver import count_events, window_start
from hub.projections.stages import StageRanking, user_stage

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
STAGES = StageSettings(order=["visitor", "MAL", "MQL", "CUS", "PRO"], churn="churn")

STAGE_VALUES = st.sampled_from(
    [
        "visitor",
        "MAL",
        "MQL",
        "CUS",
        "PRO",
        "churn",
        "",
        "Churn",
        "lead",
        3,
        "3",
        True,
        "True",
        None,
    ]
) | st.just(["CUS"])
JOINED_VALUES = st.sampled_from(
    [
        None,
        "2026-01-05",
        "2026-01-05T00:00:00Z",
        "2026-01-05T01:00:00+01:00",
        " 2025-12-31 ",
        "not a date",
        "",
        True,
        1767571200,
        1767571200.5,
        date(2026, 1, 5),
        datetime(2026, 1, 5),
        datetime(2026, 1, 5, tzinfo=UTC),
        datetime(2024, 2, 29, 12, 30, tzinfo=UTC),
    ]
)
FLAG_VALUES = st.sampled_from(
    [None, True, False, 1, 0, 2.5, "yes", "no", " TRUE ", "1", "0", "", ["x"]]
)
#: Ids whose sort order differs from their numeric order and across cases.
ACCOUNT_IDS = ["a1", "a10", "a2", "a9", "B", "b", "a\u00e9", "a:b", "a\\x"]
USER_IDS = ["u1", "u10", "u2", "U3", "u:4", "u5"]


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    users = {user_id: User(user_id) for user_id in USER_IDS}
    accounts = {account_id: Account(account_id) for account_id in ACCOUNT_IDS}
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(USER_IDS), st.sampled_from(ACCOUNT_IDS)),
            unique=True,
            max_size=30,
        )
    )
    memberships = {
        (u, a): Membership(
            u,
            a,
            "User",
            {
                key: value
                for key, value in {
                    "stage": draw(STAGE_VALUES),
                    "joined_at": draw(JOINED_VALUES),
                    "is_primary": draw(FLAG_VALUES),
                }.items()
                if value is not None
            },
        )
        for u, a in pairs
    }
    events = sorted(
        (
            Event(
                "Task Completed",
                AS_OF - timedelta(days=draw(st.sampled_from([0, 1, 29, 30, 31, -1]))),
                u,
                a,
            )
            for u, a in draw(
                st.lists(st.sampled_from(pairs), max_size=20) if pairs else st.just([])
            )
        ),
        key=lambda event: event.timestamp,
    )
    return Dataset(users, accounts, memberships, events)


POLICIES = st.sampled_from(list(PrimaryAccountPolicy))
FALLBACKS = st.sampled_from(["first", "last", "highest_stage", "most_active"])


def _oracle(
    dataset: Dataset, primary: PrimaryAccountSettings
) -> tuple[
    dict[str, tuple[int, str | None, str | None]], dict[str, tuple[Any, int, set[str]]], list[str]
]:
    ranking = StageRanking(STAGES)
    start = window_start(AS_OF, primary.activity_window_days)
    unknown: dict[str, tuple[Any, int, set[str]]] = {}
    several: list[str] = []

    def note_unknown(membership: Membership, value: Any) -> None:
        # NoticeCollector's tally: per str(value), the first value's message.
        first, count, keys = unknown.get(str(value), (value, 0, set()))
        unknown[str(value)] = (first, count + 1, keys | {membership.key()})

    def activity(membership: Membership) -> int:
        events = [
            e
            for e in dataset.events
            if e.user_id == membership.user_id and e.account_id == membership.account_id
        ]
        return count_events(events, AS_OF, start)

    out: dict[str, tuple[int, str | None, str | None]] = {}
    for user_id in sorted(dataset.users):  # the projection's order: by user id
        ms = sorted(
            (m for m in dataset.memberships.values() if m.user_id == user_id),
            key=lambda m: m.account_id,
        )
        if not ms:
            continue
        stage = user_stage(ms, ranking, note_unknown)
        chosen = primary_membership(
            ms, primary, ranking, activity, lambda flagged: several.append(flagged[0].user_id)
        )
        out[user_id] = (len(ms), stage, chosen.account_id if chosen is not None else None)
    return out, unknown, several


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dataset=datasets(), policy=POLICIES, fallback=FALLBACKS)
def test_the_user_context_query_agrees_with_the_per_record_rules(
    dataset: Dataset, policy: PrimaryAccountPolicy, fallback: str
) -> None:
    primary = PrimaryAccountSettings(policy=policy, fallback=fallback)  # type: ignore[arg-type]
    expected, unknown, several = _oracle(dataset, primary)
    tables = Tables(dataset, relationship_attributes(STAGES, primary), events=True)
    contexts = user_contexts(tables, STAGES, primary, AS_OF)
    ranking = StageRanking(STAGES)
    got = {
        tables.user_ids[row["u"]]: (
            row["account_count"],
            contexts.stage(ranking, row["best"]),
            tables.account_ids[row["primary"]] if row["primary"] is not None else None,
        )
        for row in contexts.table.to_pylist()
    }
    assert got == expected
    assert [(u.subject, repr(u.value), u.count, u.examples) for u in contexts.unknown_stages] == [
        (subject, repr(first), count, heapq.nsmallest(EXAMPLES, keys))
        for subject, (first, count, keys) in sorted(unknown.items())
    ]
    if policy == PrimaryAccountPolicy.EXPLICIT:
        assert contexts.several_flags == (len(several), heapq.nsmallest(EXAMPLES, several))
    else:
        assert contexts.several_flags == (0, [])


def test_a_tie_goes_to_the_lowest_account_id_in_string_order() -> None:
    """Accounts a10 and a9 with the same stage: a10 sorts first as a string."""
    dataset = Dataset(
        {"u1": User("u1")},
        {"a9": Account("a9"), "a10": Account("a10")},
        {
            ("u1", "a9"): Membership("u1", "a9", "User", {"stage": "CUS"}),
            ("u1", "a10"): Membership("u1", "a10", "User", {"stage": "CUS"}),
        },
    )
    primary = PrimaryAccountSettings(policy=PrimaryAccountPolicy.HIGHEST_STAGE)
    tables = Tables(dataset, relationship_attributes(STAGES, primary))
    row = user_contexts(tables, STAGES, primary, AS_OF).table.to_pylist()[0]
    assert tables.account_ids[row["primary"]] == "a10"


@pytest.mark.parametrize("value", ["Robert'); DROP TABLE m;--", 'x" OR 1=1 --'])
def test_a_hostile_value_is_only_data(value: str) -> None:
    """Values never become SQL: a stage value written as SQL is an unknown stage."""
    dataset = Dataset(
        {"u1": User("u1")},
        {"a1": Account("a1")},
        {("u1", "a1"): Membership("u1", "a1", "User", {"stage": value})},
    )
    primary = PrimaryAccountSettings()
    tables = Tables(dataset, relationship_attributes(STAGES, primary))
    contexts = user_contexts(tables, STAGES, primary, AS_OF)
    [unknown] = contexts.unknown_stages
    assert (unknown.subject, unknown.value, unknown.count, unknown.examples) == (
        value,
        value,
        1,
        ["u1:a1"],
    )
    assert tables.connection.execute("SELECT count(*) FROM m").fetchone() == (1,)
