"""Projection 3: the user's rolled-up stage."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hub.config.mapping import StageSettings
from hub.model import Membership
from hub.projections.stages import CHURNED, UNSTAGED, StageRanking, user_stage

RANKING = StageRanking(StageSettings())


def member(account: str, stage: object) -> Membership:
    props = {} if stage is None else {"stage": stage}
    return Membership("elon", account, "User", props)


def test_the_seeds_sequence() -> None:
    # CUS in A and MQL in B gives CUS.
    assert user_stage([member("A", "CUS"), member("B", "MQL")], RANKING) == "CUS"
    # B becomes PRO: the user is PRO.
    assert user_stage([member("A", "CUS"), member("B", "PRO")], RANKING) == "PRO"
    # B churns: the user is CUS again, from A.
    assert user_stage([member("A", "CUS"), member("B", "churn")], RANKING) == "CUS"


def test_every_staged_membership_churned_gives_churn() -> None:
    assert user_stage([member("A", "churn"), member("B", "churn")], RANKING) == "churn"
    assert user_stage([member("A", "churn"), member("B", None)], RANKING) == "churn"


def test_no_staged_membership_gives_none() -> None:
    assert user_stage([], RANKING) is None
    assert user_stage([member("A", None), member("B", "")], RANKING) is None


def test_unknown_values_are_ignored_and_reported() -> None:
    seen: list[tuple[str, object]] = []
    stage = user_stage(
        [member("A", "MQL"), member("B", "Customer"), member("C", "cus")],
        RANKING,
        lambda m, value: seen.append((m.account_id, value)),
    )
    assert stage == "MQL"
    assert seen == [("B", "Customer"), ("C", "cus")]


def test_unhashable_value_is_unknown_not_a_crash() -> None:
    seen: list[object] = []
    assert user_stage([member("A", ["CUS"])], RANKING, lambda m, v: seen.append(v)) is None
    assert seen == [["CUS"]]


def test_custom_order_and_churn() -> None:
    ranking = StageRanking(StageSettings(order=["trial", "paid"], churn="lost", property="st"))
    memberships = [
        Membership("u", "A", "User", {"st": "paid"}),
        Membership("u", "B", "User", {"st": "trial"}),
        Membership("u", "C", "User", {"stage": "PRO"}),  # not the configured property
    ]
    assert user_stage(memberships, ranking) == "paid"
    assert ranking.rank(memberships[2]) == UNSTAGED
    assert ranking.rank(Membership("u", "D", "User", {"st": "lost"})) == CHURNED


STAGES = [*StageSettings().order, "churn", None, "bogus"]


@given(st.lists(st.sampled_from(STAGES), max_size=8))
def test_rollup_matches_an_independent_oracle(stages: list[str | None]) -> None:
    memberships = [member(f"a{i}", stage) for i, stage in enumerate(stages)]
    order = StageSettings().order
    live = [s for s in stages if s in order]
    if live:
        expected: str | None = max(live, key=order.index)
    elif "churn" in stages:
        expected = "churn"
    else:
        expected = None
    assert user_stage(memberships, RANKING) == expected
    # ...and does not depend on the order of the memberships.
    assert user_stage(list(reversed(memberships)), RANKING) == expected
