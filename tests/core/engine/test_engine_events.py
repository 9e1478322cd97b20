"""The engine's event queries against the per-record rules: the ``[events]``
rollups (:func:`hub.projections.resolver.enrich`) and the account rollups
(:func:`hub.projections.account_rollups.account_rollup`).

Random events by members, by users of other accounts, by no user or in no
account, before, on and after the window's ends (naive times among them),
some named, with rollups of every kind and level (a property written twice,
a source value replaced) and account rollups with and without a filter:
every value must be the oracle's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.conditions import compile_condition
from hub.config.mapping import AccountRollup, AccountRollupKind
from hub.config.settings import EventRollup, EventRollupLevel, EventSettings
from hub.engine.account_rollups import account_rollup_values
from hub.engine.combos import NAMESPACES
from hub.engine.events import enrich
from hub.engine.tables import Tables
from hub.model import Account, Dataset, Event, Membership, User
from hub.projections.account_rollups import account_rollup
from hub.projections.resolver import Graph
from hub.projections.resolver import enrich as enrich_records

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
USER_IDS = ["u1", "u10", "u2", "u3"]
ACCOUNT_IDS = ["a1", "a2", "a10"]
NAMES = ["Login", "Task Completed", "Invoice Paid"]
#: Offsets from AS_OF in seconds: on the ends of 1- and 7-day windows, around them, after.
OFFSETS = st.sampled_from(
    [0, -1, 1, -86_400, -86_401, -86_399, -7 * 86_400, -7 * 86_400 - 1, -30 * 86_400, 3600]
)
LEVELS = st.sampled_from(list(EventRollupLevel))
PROPERTIES = st.sampled_from(["seen", "n", "plan"])


@st.composite
def times(draw: st.DrawFn) -> datetime:
    moment = AS_OF + timedelta(seconds=draw(OFFSETS), microseconds=draw(st.sampled_from([0, 5])))
    return moment.replace(tzinfo=None) if draw(st.booleans()) else moment


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    users = {u: User(u, traits={"plan": "source"}) for u in USER_IDS}
    accounts = {
        a: Account(a, traits={"plan": draw(st.sampled_from(["Free", "Pro"]))}) for a in ACCOUNT_IDS
    }
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(USER_IDS), st.sampled_from(ACCOUNT_IDS)),
            unique=True,
            max_size=10,
        )
    )
    memberships = {
        (u, a): Membership(u, a, draw(st.sampled_from(["Owner", "User"])), {"plan": "x"})
        for u, a in pairs
    }
    events = [
        Event(
            draw(st.sampled_from(NAMES)),
            draw(times()),
            draw(st.none() | st.sampled_from(USER_IDS)),
            draw(st.none() | st.sampled_from(ACCOUNT_IDS)),
        )
        for _ in range(draw(st.integers(0, 25)))
    ]
    return Dataset(users, accounts, memberships, events)


@st.composite
def event_rollups(draw: st.DrawFn) -> list[EventRollup]:
    found = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["count", "last_seen"]))
        found.append(
            EventRollup(
                property=draw(PROPERTIES),
                level=draw(LEVELS),
                kind=kind,
                event=draw(st.none() | st.sampled_from(NAMES)),
                window_days=draw(st.none() | st.sampled_from([1, 7])) if kind == "count" else None,
            )
        )
    # One kind per property and level: mixing them is refused by hub validate.
    kinds: dict[tuple[str, str], str] = {}
    return [r for r in found if kinds.setdefault((r.level, r.property), r.kind) == r.kind]


def _typed(value: object) -> tuple[type, object]:
    """A value with its type: a count ``0`` is not ``False``, nor ``None``."""
    return type(value), value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dataset=datasets(), rollups=event_rollups())
def test_the_event_rollup_queries_agree_with_enrich(
    dataset: Dataset, rollups: list[EventRollup]
) -> None:
    properties = ["seen", "n", "plan"]
    tables = Tables(dataset, properties, user=properties, account=properties, events=True)
    enrich(tables, rollups, AS_OF)
    expected = enrich_records(dataset, EventSettings(rollups=rollups), AS_OF)
    values = tables.values.values
    connection = tables.connection
    for i, name in enumerate(properties):
        got_users = dict(connection.execute(f"SELECT u, u{i} FROM users").fetchall())
        for u, user in enumerate(expected.users.values()):
            assert _typed(values[got_users[u]]) == _typed(user.get(name)), (user.user_id, name)
        got_accounts = dict(connection.execute(f"SELECT a, a{i} FROM accounts").fetchall())
        for a, account_id in enumerate(tables.account_ids):
            assert _typed(values[got_accounts[a]]) == _typed(
                expected.accounts[account_id].get(name)
            )
        got_pairs = {
            (tables.user_ids[u], tables.account_ids[a]): values[v]
            for u, a, v in connection.execute(f"SELECT u, a, c{i} FROM m").fetchall()
        }
        for pair, membership in expected.memberships.items():
            assert _typed(got_pairs[pair]) == _typed(membership.get(name)), (pair, name)


ACCOUNT_ROLLUPS = st.builds(
    AccountRollup,
    field=st.just("f"),
    kind=st.sampled_from(list(AccountRollupKind)),
    where=st.none()
    | st.sampled_from(["relationship.role == 'Owner'", "account.plan == 'Pro'", "false"]),
    event=st.none() | st.sampled_from(NAMES),
    window_days=st.none() | st.sampled_from([1, 7]),
    min_users=st.integers(0, 3),
    min_events=st.dictionaries(st.sampled_from(NAMES), st.integers(1, 3), max_size=2),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dataset=datasets(), rollup=ACCOUNT_ROLLUPS)
def test_the_account_rollup_queries_agree_with_the_per_record_rule(
    dataset: Dataset, rollup: AccountRollup
) -> None:
    tables = Tables(dataset, ["role"], account=["plan"], events=True)
    got = account_rollup_values(tables, rollup, AS_OF)
    graph = Graph(dataset)
    where = compile_condition(rollup.where, NAMESPACES) if rollup.where else None
    for a, account_id in enumerate(tables.account_ids):
        expected = account_rollup(
            rollup,
            dataset.accounts[account_id],
            graph.memberships_of_account(account_id),
            dataset.users,
            graph.events_of_account(account_id),
            AS_OF,
            where,
        )
        assert got[a] == expected and type(got[a]) is type(expected), (account_id, got[a])
