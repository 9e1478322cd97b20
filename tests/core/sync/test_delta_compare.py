"""Comparing two loads' digests (hub.sync.delta): the row-by-row shortcut for
files changed in place or grown at the end gives what the join gives.

``reach`` and ``scope`` compare the last run's entity digests with this
run's. When the old entities are the first new ones in the same order (the
common case: rows edited in place, rows appended), they are compared row by
row with Arrow; otherwise the tables are joined in DuckDB. A hypothesis
property holds both to a plain Python reading of the rule (:func:`_oracle`)
on random edits: cells changed, rows appended, removed, moved and
duplicated, ids reused.
"""

from __future__ import annotations

import random
import zlib
from unittest import mock

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.config.settings import Table
from hub.contract.destination import link_key
from hub.model import membership_key
from hub.sources.digests import RowDigests
from hub.sync import delta

Row = tuple[Table, str, str, str]  # table, user id, account id, the other cells


def _digests(rows: list[Row]) -> RowDigests:
    digests = RowDigests()
    seed = RowDigests.seed(["h"])
    for table, user, account, cells in rows:
        data = [f"{user}\x1f{account}\x1f{cells}".encode()]
        if table is Table.ACCOUNTS:
            digests.add_joined(table, seed, data, [account], [""])
        else:
            digests.add_joined(table, seed, data, [user], [account])
    return digests


_IDS = st.sampled_from(["u1", "u2", "u3", "u4", "u5", "u6", ""])
_ACCOUNTS = st.sampled_from(["a1", "a2", "a3", "a4", ""])
_ROWS = st.lists(
    st.tuples(
        st.sampled_from([Table.USERS, Table.ACCOUNTS, Table.MEMBERSHIPS, Table.EVENTS]),
        _IDS,
        _ACCOUNTS,
        st.sampled_from(["x", "y", "z"]),
    ),
    max_size=30,
)


def _edited(rows: list[Row], seed: int) -> list[Row]:
    """``rows`` after a few random edits (often none that moves a row)."""
    rng = random.Random(seed)
    rows = list(rows)
    for _ in range(rng.randrange(4)):
        edit = rng.choice(["cell", "cell", "append", "remove", "move", "duplicate"])
        if edit == "append" or not rows:
            rows.append(
                (
                    rng.choice(list(Table)[:4]),
                    rng.choice(["u1", "u7", ""]),
                    rng.choice(["a1", "a9", ""]),
                    "w",
                )
            )
            continue
        i = rng.randrange(len(rows))
        if edit == "cell":
            table, user, account, _ = rows[i]
            rows[i] = (table, user, account, rng.choice(["x", "y", "q"]))
        elif edit == "remove":
            del rows[i]
        elif edit == "move":
            rows.insert(rng.randrange(len(rows)), rows.pop(i))
        else:
            rows.insert(rng.randrange(len(rows) + 1), rows[i])
    return rows


def _oracle(
    old: RowDigests, new: RowDigests, moved: tuple[set[str], set[str]]
) -> tuple[delta.Subjects, delta.DeltaScope]:
    """What ``reach`` and ``scope`` must give, read off the digests as dicts."""
    before, after = old.as_dicts(), new.as_dicts()

    def changed(kind: str) -> set:  # type: ignore[type-arg]
        keys = set(before[kind]) | set(after[kind])
        return {k for k in keys if before[kind].get(k) != after[kind].get(k)}

    users = changed("users") | changed("user_events") | moved[0]
    accounts = changed("accounts") | changed("account_events") | moved[1]
    pairs = set(before["memberships"]) | set(after["memberships"])
    reached_users = users | {u for u, _ in changed("memberships")}
    reached_users |= {u for u, a in pairs if a in accounts}
    reached_accounts = accounts | {a for _, a in changed("memberships")}
    reached_accounts |= {a for u, a in pairs if u in users}
    known = set(before["users"]) | set(after["users"])
    mine = [(u, a) for u, a in pairs if u in reached_users]
    keys = {membership_key(u, a, ":") for u, a in mine}
    contacts = reached_users | {k for k in keys if k not in known or k in reached_users}
    links = {
        link_key(contact, a)
        for u, a in mine
        for contact in (u, membership_key(u, a, ":"))
        if contact in contacts
    }
    return (
        delta.Subjects(frozenset(reached_users), frozenset(reached_accounts)),
        delta.DeltaScope(frozenset(reached_accounts), frozenset(contacts), frozenset(links)),
    )


def _joined(call):  # type: ignore[no-untyped-def]
    """``call()`` with the row-by-row shortcut turned off: every kind joined."""
    with mock.patch.object(delta._Compared, "_aligned", lambda self, kind: False):
        return call()


@settings(max_examples=80, deadline=None)
@given(rows=_ROWS, seed=st.integers(0, 10_000))
def test_the_row_by_row_comparison_and_the_join_reach_what_the_rule_says(
    rows: list[Row], seed: int
) -> None:
    old, new = _digests(rows), _digests(_edited(rows, seed))
    # Through the file, as a run reads the last run's digests.
    old = delta._decode(delta._encode(old))
    assert old is not None
    moved = ({"u2"}, set()) if seed % 5 == 0 else (set(), set())
    subjects, keys = _oracle(old, new, moved)
    assert delta.reach(old, new, moved) == subjects
    assert delta.scope(subjects, old, new, ":") == keys
    assert _joined(lambda: delta.reach(old, new, moved)) == subjects
    assert _joined(lambda: delta.scope(subjects, old, new, ":")) == keys


def test_files_edited_in_place_and_grown_are_compared_row_by_row() -> None:
    """The shortcut is taken where it applies, and finds the edits."""
    rows: list[Row] = [
        (Table.USERS, "u1", "", "x"),
        (Table.USERS, "u2", "", "x"),
        (Table.ACCOUNTS, "", "a1", "x"),
        (Table.MEMBERSHIPS, "u1", "a1", "x"),
        (Table.MEMBERSHIPS, "u2", "a1", "x"),
    ]
    edited = list(rows)
    edited[1] = (Table.USERS, "u2", "", "y")
    edited.append((Table.USERS, "u3", "", "x"))
    old, new = _digests(rows), _digests(edited)
    joins: list[str] = []
    aligned = delta._Compared._aligned

    def spy(self: delta._Compared, kind: str) -> bool:
        found = aligned(self, kind)
        if not found:
            joins.append(kind)
        return found

    with mock.patch.object(delta._Compared, "_aligned", spy):
        reached = delta.reach(old, new)
    assert joins == []
    # u2 changed and u3 is new; a1 is u2's account (a1 did not change: its
    # other member, u1, is not reached).
    assert reached == delta.Subjects(frozenset({"u2", "u3"}), frozenset({"a1"}))
    # A removed row moves the entities after it: the tables are joined.
    with mock.patch.object(delta._Compared, "_aligned", spy):
        assert delta.reach(old, _digests(rows[1:])) == delta.Subjects(
            frozenset({"u1"}), frozenset({"a1"})
        )
    assert "users" in joins


@settings(max_examples=150, deadline=None)
@given(rows=_ROWS)
def test_digests_are_each_entitys_sums_in_first_read_order(rows: list[Row]) -> None:
    """Rows of distinct entities are kept as they are, rows naming one entity
    twice are summed: either way, each entity's CRC and Adler sums, in the
    order of its first row."""
    digests = _digests(rows)
    seed = RowDigests.seed(["h"])
    wanted: dict[str, dict[tuple[str, str], list[int]]] = {
        "users": {},
        "accounts": {},
        "memberships": {},
        "user_events": {},
        "account_events": {},
    }
    for table, user, account, cells in rows:
        data = f"{user}\x1f{account}\x1f{cells}".encode()
        crc, adler = zlib.crc32(data, seed[0]), zlib.adler32(data, seed[1])
        named = {
            Table.USERS: [("users", user, "")],
            Table.ACCOUNTS: [("accounts", account, "")],
            Table.MEMBERSHIPS: [("memberships", user, account)],
            Table.EVENTS: [("user_events", user, ""), ("account_events", account, "")],
        }[table]
        for kind, k1, k2 in named:
            if (kind == "memberships" and (k1 or k2)) or (kind != "memberships" and k1):
                sums = wanted[kind].setdefault((k1, k2), [0, 0])
                sums[0] += crc
                sums[1] += adler
    for kind, table in digests.tables().items():
        found = list(zip(table["k1"].to_pylist(), table["k2"].to_pylist(), strict=True))
        assert found == list(wanted[kind]), kind
        sums = list(zip(table["crc"].to_pylist(), table["adler"].to_pylist(), strict=True))
        assert sums == [tuple(s) for s in wanted[kind].values()], kind


@settings(max_examples=60, deadline=None)
@given(rows=_ROWS)
def test_digest_rows_kept_and_read_back_give_the_same_digests(rows: list[Row]) -> None:
    """:meth:`RowDigests.rows` then :meth:`RowDigests.extend` (what the kept
    columns of a file hold, hub.sources.cache): the same digests, whether the
    rows come in kind order or not."""
    digests = _digests(rows)
    kept = digests.rows()
    again = RowDigests()
    again.extend(kept)
    assert again.as_dicts() == digests.as_dicts()
    reordered = kept.take(pa.array(list(reversed(range(kept.num_rows))), pa.int64()))
    shuffled = RowDigests()
    shuffled.extend(reordered)
    # Each kind's rows reversed: the same sums, the entities in another order.
    assert shuffled.as_dicts() == digests.as_dicts()
    for kind, table in shuffled.tables().items():
        assert sorted(table["k1"].to_pylist()) == sorted(digests.table(kind)["k1"].to_pylist())
