"""The graph's indexes and event enrichment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.config.settings import EventSettings
from hub.model import Account, Dataset, Event, Membership, User
from hub.projections.resolver import Graph, count_events, enrich, last_event

AS_OF = datetime(2024, 6, 1, tzinfo=UTC)


def at(days_ago: float) -> datetime:
    return AS_OF - timedelta(days=days_ago)


def dataset() -> Dataset:
    users = {u: User(u, f"{u}@x.io") for u in ("u2", "u1", "u3")}
    accounts = {a: Account(a, a.upper()) for a in ("b", "a")}
    memberships = {
        (u, a): Membership(u, a, "User")
        for u, a in [("u2", "b"), ("u1", "b"), ("u1", "a"), ("u2", "a")]
    }
    events = [
        Event("login", at(3), "u1", "a"),
        Event("login", at(1).replace(tzinfo=None), "u1", "a"),  # naive: UTC
        Event("task", at(2), "u1", "b"),
        Event("login", at(50), "u2", "a"),
        Event("paid", at(4), None, "a"),
        Event("login", at(-2), "u1", "a"),  # after as_of
        Event("login", at(1), "u9", None),  # unknown user
    ]
    return Dataset(users, accounts, memberships, events)


def test_graph_indexes_are_sorted() -> None:
    graph = Graph(dataset())
    assert [m.account_id for m in graph.memberships_of_user("u1")] == ["a", "b"]
    assert [m.user_id for m in graph.memberships_of_account("b")] == ["u1", "u2"]
    assert graph.memberships_of_user("u3") == ()
    pair = graph.events_of_pair("u1", "a")
    assert [e.timestamp for e in pair] == sorted(e.timestamp for e in pair)
    assert len(pair) == 3
    assert [e.event for e in graph.events_of_account("a")] == [
        "login",
        "paid",
        "login",
        "login",
        "login",
    ]
    assert len(graph.events_of_user("u1")) == 4
    assert graph.events_of_user("nobody") == ()


def test_account_memberships_are_sorted_whatever_the_input_order() -> None:
    """Users listed in id order skip the per-account sort; any other order
    (ids decreasing, a user's memberships split in two runs) sorts."""
    ids = [("u2", "a"), ("u1", "a"), ("u3", "b"), ("u1", "b"), ("u3", "a"), ("u0", "a")]
    orders = [sorted(ids), ids, sorted(ids, reverse=True)]
    for order in orders:
        memberships = {pair: Membership(pair[0], pair[1], "User", {}) for pair in order}
        graph = Graph(Dataset({}, {}, memberships, []))
        assert [m.user_id for m in graph.memberships_of_account("a")] == ["u0", "u1", "u2", "u3"]
        assert [m.user_id for m in graph.memberships_of_account("b")] == ["u1", "u3"]
        assert [m.account_id for m in graph.memberships_of_user("u3")] == ["a", "b"]


def test_count_and_last_in_window() -> None:
    events = Graph(dataset()).events_of_account("a")
    assert count_events(events, AS_OF) == 4
    assert count_events(events, AS_OF, at(3)) == 2  # inclusive lower edge
    assert count_events(events, AS_OF, at(4)) == 3
    assert count_events(events, AS_OF, at(3), "login") == 2
    last = last_event(events, AS_OF)
    assert last is not None and last.timestamp == at(1)
    assert last_event(events, AS_OF, "paid") is not None
    assert last_event(events, at(100)) is None


def test_enrich_counts_last_seen_and_reuse() -> None:
    source = dataset()
    settings = EventSettings.model_validate(
        {
            "rollups": [
                {"property": "logins_30d", "level": "user", "event": "login", "window_days": 30},
                {"property": "last_seen", "level": "account", "kind": "last_seen"},
                {"property": "events", "level": "relationship"},
            ]
        }
    )
    enriched = enrich(source, settings, AS_OF)
    assert enriched.users["u1"].traits == {"logins_30d": 2}
    assert enriched.users["u2"].traits == {"logins_30d": 0}  # the 50-day-old login is outside
    assert enriched.users["u3"].traits == {"logins_30d": 0}
    assert enriched.accounts["a"].traits == {"last_seen": at(1).isoformat()}
    assert enriched.accounts["b"].traits == {"last_seen": at(2).isoformat()}
    assert enriched.memberships[("u1", "a")].properties == {"events": 2}
    assert enriched.memberships[("u1", "b")].properties == {"events": 1}
    assert enriched.memberships[("u2", "b")].properties == {"events": 0}
    # the input is untouched; the events list is shared
    assert source.users["u1"].traits == {}
    assert enriched.events is source.events
    # nothing to add: the same objects
    again = enrich(enriched, settings, AS_OF)
    assert all(again.users[k] is enriched.users[k] for k in enriched.users)
    assert enrich(source, EventSettings(), AS_OF) is source
