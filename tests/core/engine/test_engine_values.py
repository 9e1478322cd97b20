"""Interning a column at once (``Values.ids``) gives the ids one by one would.

Arrow's dictionary encoding takes a column of strings; any other column goes
value by value. Either way 1 and "1" and True stay three values, a string
interned in an earlier column keeps its id, and ``None`` is id 0.
"""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from hub.engine.values import NULL, Values

TEXT = st.sampled_from(["a", "b", "", "1", "\u00e9", "a b"]) | st.none()
ANY = TEXT | st.sampled_from([1, 1.0, True, False, 0, date(2026, 1, 1)])


@given(columns=st.lists(st.lists(TEXT, max_size=12) | st.lists(ANY, max_size=12), max_size=4))
def test_a_column_at_once_gets_the_ids_of_one_by_one(columns: list[list[object]]) -> None:
    bulk, single = Values(), Values()
    for column in columns:
        assert bulk.ids(column).to_pylist() == [single.id(value) for value in column]
    assert [(type(v), v) for v in bulk.values] == [(type(v), v) for v in single.values]


def test_one_and_the_string_one_stay_apart() -> None:
    values = Values()
    first = values.ids(["1", None, "1"]).to_pylist()
    second = values.ids([1, "1", True]).to_pylist()
    assert first == [1, NULL, 1]
    assert second[1] == 1 and len({second[0], second[1], second[2]}) == 3
