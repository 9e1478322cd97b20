"""Projection 2: account user-list fields, and the whole-entry truncation rule."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from hub.getters import fast_getter
from hub.model import Account, Membership, User
from hub.projections.user_lists import join_entries, marker, user_list
from hub.references import Scope, parse_reference

ACME = Account("acme", "Acme")
EMAIL = fast_getter(parse_reference("user.email"))


def test_fits_unchanged() -> None:
    joined = join_entries(["a@x.io", "b@x.io"], ";", 13)
    assert (joined.value, joined.kept, joined.dropped, joined.marked) == (
        "a@x.io;b@x.io",
        2,
        0,
        False,
    )


def test_no_entries_is_none() -> None:
    assert join_entries([], ";", 10).value is None


def test_docstring_example() -> None:
    entries = ["a@x.io", "b@x.io", "c@x.io", "d@x.io"]
    joined = join_entries(entries, ";", 25)
    assert joined.value == "a@x.io;b@x.io;(+2 more)"
    assert (joined.kept, joined.dropped, joined.marked) == (2, 2, True)


def test_marker_counts_digits() -> None:
    entries = [str(i) for i in range(20)]  # "0;1;...;19"
    joined = join_entries(entries, ";", 20)
    assert joined.value is not None and len(joined.value) <= 20
    kept = joined.value.split(";")[:-1]
    assert kept == entries[: len(kept)]
    assert joined.value.endswith(f";(+{20 - len(kept)} more)")


def test_only_the_marker_fits() -> None:
    joined = join_entries(["aaaaaaaaaa", "bbbbbbbbbb"], ";", 10)
    assert joined.value == "(+2 more)"
    assert (joined.kept, joined.dropped, joined.marked) == (0, 2, True)


def test_when_not_even_the_marker_fits_whole_leading_entries_without_marker() -> None:
    joined = join_entries(["ab", "cd", "efgh"], ";", 6)  # "(+1 more)" is 9 long
    assert joined.value == "ab;cd"
    assert (joined.kept, joined.dropped, joined.marked) == (2, 1, False)
    assert join_entries(["abcdefg"], ";", 3).value == ""


def memberships_of(*rows: tuple[str, str, str | None]) -> tuple[list[Membership], dict[str, User]]:
    users = {uid: User(uid, email) for uid, _, email in rows}
    return [Membership(uid, "acme", role) for uid, role, _ in rows], users


def test_filter_and_default_order_by_entry() -> None:
    memberships, users = memberships_of(
        ("u1", "Owner", "zed@acme.io"),
        ("u2", "User", "amy@acme.io"),
        ("u3", "Admin", "bob@acme.io"),
        ("u4", "Admin", None),  # no e-mail: skipped
        ("u5", "Admin", ""),  # empty: skipped
    )
    listed = user_list(
        ACME,
        memberships,
        users,
        EMAIL,
        where=lambda s: s.relationship is not None and s.relationship.role in ("Owner", "Admin"),
    )
    assert listed.value == "bob@acme.io;zed@acme.io"
    assert listed.kept == 2 and listed.dropped == 0 and listed.rejected == ()


def test_order_by_then_user_id_with_missing_last() -> None:
    memberships = [
        Membership("u3", "acme", "User", {"joined": 2}),
        Membership("u1", "acme", "User", {"joined": 2}),
        Membership("u2", "acme", "User", {}),
        Membership("u4", "acme", "User", {"joined": 1}),
    ]
    users = {m.user_id: User(m.user_id, f"{m.user_id}@x.io") for m in memberships}
    listed = user_list(
        ACME,
        memberships,
        users,
        EMAIL,
        order_by=fast_getter(parse_reference("relationship.joined")),
    )
    assert listed.value == "u4@x.io;u1@x.io;u3@x.io;u2@x.io"


def test_entry_containing_the_separator_is_skipped_and_reported() -> None:
    memberships, users = memberships_of(("u1", "User", "a@x.io"), ("u2", "User", "b;c@x.io"))
    listed = user_list(ACME, memberships, users, EMAIL)
    assert listed.value == "a@x.io"
    assert listed.rejected == ("u2",)


def test_where_sees_the_account() -> None:
    memberships, users = memberships_of(("u1", "User", "a@x.io"))

    def only_acme(scope: Scope) -> bool:
        return scope.account is not None and scope.account.name == "Acme"

    assert user_list(ACME, memberships, users, EMAIL, where=only_acme).value == "a@x.io"
    other = Account("o", "Other")
    assert user_list(other, memberships, users, EMAIL, where=only_acme).value is None


ENTRY = st.text(alphabet="abcxyz@.;, ", min_size=0, max_size=12)


@given(
    st.lists(ENTRY, max_size=25, unique=True),
    st.sampled_from([";", ", ", "|"]),
    st.integers(min_value=1, max_value=80),
)
def test_list_property(raw: list[str], separator: str, max_length: int) -> None:
    memberships = [Membership(f"u{i:02d}", "acme", "User") for i in range(len(raw))]
    users = {f"u{i:02d}": User(f"u{i:02d}", email) for i, email in enumerate(raw)}
    listed = user_list(ACME, memberships, users, EMAIL, separator=separator, max_length=max_length)
    # exactly the matching users, in order (entry, then user id)
    expected = sorted(e for e in raw if e and separator not in e)
    assert len(listed.rejected) == sum(1 for e in raw if e and separator in e)
    if not expected:
        assert listed.value is None
        return
    assert listed.value is not None
    assert len(listed.value) <= max_length or listed.dropped == 0
    full = separator.join(expected)
    if len(full) <= max_length:
        assert listed.value == full
        return
    assert len(listed.value) <= max_length
    parts = listed.value.split(separator) if listed.value else []
    if listed.marked:
        assert parts[-1] == marker(listed.dropped)
        parts = parts[:-1]
    # never cut mid-entry: the kept entries are exactly a prefix of the input
    assert parts == expected[: len(parts)]
    assert listed.kept == len(parts)
    # the marker's N equals the entries dropped
    assert listed.kept + listed.dropped == len(expected)
    assert listed.dropped > 0
    if listed.marked:
        assert re.fullmatch(r"\(\+\d+ more\)", marker(listed.dropped))
    # as many entries as fit: one more would not
    if listed.marked and listed.dropped > 1:
        longer = [*expected[: listed.kept + 1], marker(listed.dropped - 1)]
        assert len(separator.join(longer)) > max_length
