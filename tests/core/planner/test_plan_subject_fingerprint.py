"""plan_for_subject and fingerprints."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.contract.capabilities import ObjectKind, SyncMode
from hub.contract.destination import BatchObject, link_key
from hub.records import DestinationProjection, Link, Record
from hub.state.sqlite import SqliteStateStore
from hub.sync.fingerprint import fingerprint
from hub.sync.planner import plan_destination, plan_for_subject


def _projection() -> DestinationProjection:
    return DestinationProjection(
        destination="crm",
        accounts=[Record(ObjectKind.ACCOUNT, k, {"n": k}) for k in ("sx", "te", "tw")],
        contacts=[
            Record(ObjectKind.CONTACT, k, {"n": k})
            for k in ("elon", "elon:te", "elon:tw", "elonx", "gwynne", "gwynne:sx")
        ],
        links=[
            Link("elon", "te", False, {}),
            Link("elon", "tw", True, {}),
            Link("gwynne", "sx", True, {}),
        ],
        notices=[],
        stats={},
    )


def _keys(user_id: str | None = None, account_id: str | None = None) -> list[tuple[str, str]]:
    with SqliteStateStore(None) as store:
        plan = plan_destination(_projection(), store, mode=SyncMode.UPSERT, max_delete_share=0.5)
    return [
        (i.object.value, i.key)
        for i in plan_for_subject(plan, user_id=user_id, account_id=account_id)
    ]


def test_plan_for_a_user() -> None:
    assert _keys(user_id="elon") == [
        ("contact", "elon"),
        ("contact", "elon:te"),
        ("contact", "elon:tw"),
        ("link", link_key("elon", "te")),
        ("link", link_key("elon", "tw")),
    ]


def test_plan_for_an_account() -> None:
    assert _keys(account_id="tw") == [
        ("account", "tw"),
        ("contact", "elon:tw"),
        ("link", link_key("elon", "tw")),
    ]


def test_plan_for_both_is_either() -> None:
    assert _keys(user_id="gwynne", account_id="te") == [
        ("account", "te"),
        ("contact", "elon:te"),
        ("contact", "gwynne"),
        ("contact", "gwynne:sx"),
        ("link", link_key("elon", "te")),
        ("link", link_key("gwynne", "sx")),
    ]


def test_plan_for_nobody_is_an_error() -> None:
    with SqliteStateStore(None) as store:
        plan = plan_destination(_projection(), store, mode=SyncMode.UPSERT, max_delete_share=0.5)
    with pytest.raises(ValueError, match="user_id or account_id"):
        plan_for_subject(plan)
    assert plan.items[0].object is BatchObject.ACCOUNT


class Colour(Enum):
    RED = "red"


def test_fingerprint_is_order_independent_and_short() -> None:
    a = {"b": 1, "a": {"y": [1, {"q": 2, "p": 1}], "x": None}}
    b = {"a": {"x": None, "y": [1, {"p": 1, "q": 2}]}, "b": 1}
    assert fingerprint(a) == fingerprint(b)
    assert len(fingerprint(a)) == 32
    int(fingerprint(a), 16)


def test_fingerprint_sees_every_change() -> None:
    base: dict[str, Any] = {"a": 1, "b": "x"}
    others: list[dict[str, Any]] = [
        {"a": 2, "b": "x"},
        {"a": "1", "b": "x"},
        {"a": 1, "b": "x", "c": None},
        {"a": 1},
        {"a": 1.5, "b": "x"},
        {"a": True, "b": "x"},
        {"a": [1], "b": "x"},
    ]
    assert len({fingerprint(base), *(fingerprint(o) for o in others)}) == len(others) + 1


def test_fingerprint_of_non_json_values() -> None:
    when = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    payload: dict[str, Any] = {
        "when": when,
        "naive": datetime(2024, 6, 1, 12, 0),
        "day": date(2024, 6, 1),
        "amount": Decimal("1.50"),
        "colour": Colour.RED,
        "tags": {"b", "a"},
        "nested": OrderedDict([("z", 1), ("a", 2)]),
    }
    same = {
        "when": when.isoformat(),
        "naive": when.isoformat(),
        "day": "2024-06-01",
        "amount": "1.50",
        "colour": "red",
        "tags": ["a", "b"],
        "nested": {"a": 2, "z": 1},
    }
    assert fingerprint(payload) == fingerprint(same)
    # keys JSON cannot sort among themselves still work
    assert fingerprint({1: "a", "b": 2}) == fingerprint({"1": "a", "b": 2})  # type: ignore[dict-item]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=4), json_values, max_size=6), st.randoms())
def test_fingerprint_ignores_key_order(payload: dict[str, Any], rng: Any) -> None:
    items = list(payload.items())
    rng.shuffle(items)
    assert fingerprint(dict(items)) == fingerprint(payload)


@given(st.dictionaries(st.text(max_size=4), json_values | st.floats(), max_size=6))
def test_fingerprint_is_the_hash_of_canonical_json(payload: dict[str, Any]) -> None:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    assert fingerprint(payload) == hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
