"""Interning a column at once (``Values.ids``) gives the ids one by one would.

Arrow's dictionary encoding takes a column of strings; any other column goes
value by value. Either way 1 and "1" and True stay three values, a string
interned in an earlier column keeps its id, and ``None`` is id 0.
"""

from __future__ import annotations

import contextlib
from datetime import date
from pathlib import Path

import duckdb
import pytest
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


def test_the_engine_spills_into_a_directory_of_its_own_never_the_working_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB's in-memory default spills into ``./.tmp``, the user's project:
    the engine's tables spill into a temporary directory, removed on close,
    even when a query needs more than the memory it is given."""
    from hub.engine.tables import Tables
    from hub.model import Account, Dataset, Membership, User

    monkeypatch.chdir(tmp_path)
    users = {f"u{i}": User(f"u{i}", f"u{i}@x.io") for i in range(2000)}
    accounts = {"a": Account("a")}
    memberships = {(u, "a"): Membership(u, "a", "User") for u in users}
    tables = Tables(Dataset(users, accounts, memberships), user=["email"])
    [(spill,)] = tables.connection.sql("SELECT current_setting('temp_directory')").fetchall()
    assert Path(spill).is_dir() and tmp_path not in Path(spill).parents
    tables.connection.execute("SET memory_limit = '1MB'")
    tables.connection.execute("SET preserve_insertion_order = false")
    with contextlib.suppress(duckdb.OutOfMemoryException):  # spilled or refused: never in cwd
        tables.connection.sql(
            "SELECT x.u, y.u FROM users x, users y ORDER BY x.u0, y.u0 LIMIT 5"
        ).fetchall()
    tables.close()
    assert not Path(spill).exists()
    assert not (tmp_path / ".tmp").exists()
