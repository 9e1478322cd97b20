"""Projection 4: the primary account policies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest

from hub.config.mapping import PrimaryAccountSettings, StageSettings
from hub.model import Membership
from hub.projections.primary_account import primary_membership
from hub.projections.stages import StageRanking

RANKING = StageRanking(StageSettings())


def m(account: str, **props: Any) -> Membership:
    return Membership("u", account, "User", props)


def pick(memberships: Sequence[Membership], **settings: Any) -> str | None:
    chosen = primary_membership(
        sorted(memberships, key=lambda x: x.account_id),
        PrimaryAccountSettings(**settings),
        RANKING,
        activity=lambda x: int(x.properties.get("events", 0)),
    )
    return None if chosen is None else chosen.account_id


def test_no_memberships_no_primary() -> None:
    assert pick([]) is None


def test_first_and_last_by_joined_at_mixed_types() -> None:
    memberships = [
        m("a", joined_at="2024-03-01T00:00:00Z"),
        m("b", joined_at=datetime(2023, 1, 1, tzinfo=UTC)),
        m("c", joined_at=date(2024, 6, 1)),
        m("d"),  # missing: after every present value
        m("e", joined_at="not a date"),
    ]
    assert pick(memberships, policy="first") == "b"
    assert pick(memberships, policy="last") == "c"


def test_missing_joined_sorts_after_present_for_first_and_last() -> None:
    assert pick([m("a"), m("b", joined_at="2024-01-01")], policy="first") == "b"
    assert pick([m("a"), m("b", joined_at="2024-01-01")], policy="last") == "b"
    assert pick([m("b"), m("a")], policy="first") == "a"  # all missing: lowest id


def test_ties_go_to_the_lowest_account_id_for_every_policy() -> None:
    same = {"joined_at": "2024-01-01", "stage": "CUS", "events": 3}
    memberships = [m("c", **same), m("a", **same), m("b", **same)]
    for policy in ("first", "last", "highest_stage", "most_active"):
        assert pick(memberships, policy=policy) == "a", policy
    flagged = [m("c", is_primary=True), m("b", is_primary=True)]
    assert pick(flagged, policy="explicit") == "b"


def test_highest_stage_prefers_non_churned_then_unstaged_then_churned() -> None:
    assert (
        pick(
            [m("a", stage="MQL"), m("b", stage="PRO"), m("c", stage="CUS")], policy="highest_stage"
        )
        == "b"
    )
    assert (
        pick([m("a", stage="churn"), m("b"), m("c", stage="visitor")], policy="highest_stage")
        == "c"
    )
    assert pick([m("a", stage="churn"), m("b")], policy="highest_stage") == "b"
    assert pick([m("b", stage="churn"), m("a", stage="churn")], policy="highest_stage") == "a"


def test_most_active() -> None:
    assert pick([m("a", events=1), m("b", events=5), m("c", events=5)], policy="most_active") == "b"


def test_explicit_flag_and_its_fallbacks() -> None:
    several: list[list[str]] = []

    def run(memberships: list[Membership], **settings: Any) -> str | None:
        chosen = primary_membership(
            memberships,
            PrimaryAccountSettings(policy="explicit", **settings),
            RANKING,
            several_flags=lambda f: several.append([x.account_id for x in f]),
        )
        return None if chosen is None else chosen.account_id

    one = [m("a", joined_at="2020-01-01"), m("b", is_primary="true"), m("c", is_primary="false")]
    assert run(one) == "b"
    # none flagged ("false" and 0 are not set): the fallback among all
    none = [
        m("a", joined_at="2024-01-01", is_primary="false"),
        m("b", joined_at="2020-01-01", is_primary=0),
    ]
    assert run(none) == "b"
    assert run(none, fallback="last") == "a"
    assert several == []
    # several flagged: the fallback among the flagged ones, and reported
    many = [
        m("a", joined_at="2019-01-01"),
        m("b", joined_at="2024-01-01", is_primary=True),
        m("c", joined_at="2021-01-01", is_primary="yes"),
    ]
    assert run(many) == "c"
    assert several == [["b", "c"]]


def test_most_active_needs_activity() -> None:
    with pytest.raises(ValueError, match="activity"):
        primary_membership([m("a"), m("b")], PrimaryAccountSettings(policy="most_active"), RANKING)
