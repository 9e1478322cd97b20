"""plan_destination: the diff of a projection against the state store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hub.contract.capabilities import ObjectKind, SyncMode
from hub.contract.destination import BatchObject, link_key, link_payload
from hub.records import (
    AccountsChunk,
    ContactsChunk,
    DestinationProjection,
    Link,
    LinksChunk,
    ProjectionChunk,
    ProjectionSummary,
    Record,
)
from hub.state import Confirmation, Failure, RecordStatus
from hub.state.sqlite import SqliteStateStore
from hub.sync.fingerprint import fingerprint
from hub.sync.planner import DestinationPlan, PlanAction, PlannedItem, plan_destination

DEST = "crm"
ACCOUNT, CONTACT, LINK = BatchObject.ACCOUNT, BatchObject.CONTACT, BatchObject.LINK


def projection(
    accounts: dict[str, dict[str, Any]],
    contacts: dict[str, dict[str, Any]],
    links: list[tuple[str, str, bool, dict[str, Any]]] = (),  # type: ignore[assignment]
) -> DestinationProjection:
    return DestinationProjection(
        destination=DEST,
        accounts=[Record(ObjectKind.ACCOUNT, k, v) for k, v in sorted(accounts.items())],
        contacts=[Record(ObjectKind.CONTACT, k, v) for k, v in sorted(contacts.items())],
        links=[Link(c, a, p, props) for c, a, p, props in sorted(links)],
        notices=[],
        stats={},
    )


def base() -> DestinationProjection:
    return projection(
        {"tw": {"name": "Twitter"}, "te": {"name": "Tesla"}, "sx": {"name": "SpaceX"}},
        {"elon": {"email": "elon@x.com"}, "gwynne": {"email": "g@spacex.com"}},
        [
            ("elon", "tw", True, {"role": "Owner"}),
            ("elon", "te", False, {"role": "Admin"}),
            ("gwynne", "sx", True, {"role": "Admin"}),
        ],
    )


@pytest.fixture
def store() -> Iterator[SqliteStateStore]:
    with SqliteStateStore(None) as opened:
        yield opened


def plan(
    source: DestinationProjection,
    store: SqliteStateStore,
    mode: SyncMode = SyncMode.UPSERT,
    share: float = 0.5,
    force: bool = False,
) -> DestinationPlan:
    return plan_destination(source, store, mode=mode, max_delete_share=share, force_delete=force)


def apply(store: SqliteStateStore, planned: DestinationPlan) -> None:
    """What an executor does when the destination accepts everything."""
    run = store.start_run(DEST, planned.mode.value)
    for item in planned.items:
        if item.action in (PlanAction.DELETE, PlanAction.UNLINK):
            store.mark_deleted(run, DEST, item.object, [item.key])
        else:
            created = item.destination_id is None
            new_id = f"id-{item.key}" if created else item.destination_id
            store.confirm(
                run,
                DEST,
                item.object,
                [Confirmation(item.key, item.fingerprint, new_id, created)],
            )


def summary(items: list[PlannedItem]) -> list[tuple[str, str, str]]:
    return [(i.object.value, i.action.value, i.key) for i in items]


def test_first_plan_creates_everything_in_send_order(store: SqliteStateStore) -> None:
    planned = plan(base(), store)
    assert summary(planned.items) == [
        ("account", "create", "sx"),
        ("account", "create", "te"),
        ("account", "create", "tw"),
        ("contact", "create", "elon"),
        ("contact", "create", "gwynne"),
        ("link", "link", link_key("elon", "te")),
        ("link", "link", link_key("elon", "tw")),
        ("link", "link", link_key("gwynne", "sx")),
    ]
    assert planned.counts["account.create"] == 3
    assert planned.counts["contact.create"] == 2
    assert planned.counts["link.link"] == 3
    assert planned.delete_guard is None
    first = planned.items[0]
    assert first.payload == {"name": "SpaceX"}
    assert first.fingerprint == fingerprint({"name": "SpaceX"})
    assert first.destination_id is None
    link = planned.items[5]
    assert link.payload == {"properties": {"role": "Admin"}, "primary": False}
    assert link.fingerprint == fingerprint(link_payload({"role": "Admin"}, False))
    assert link.link is not None
    assert (link.link.contact_key, link.link.account_key, link.link.primary) == (
        "elon",
        "te",
        False,
    )
    # the ends are created in this same run: their ids are not known yet
    assert (link.link.contact_id, link.link.account_id) == (None, None)


def test_unchanged_replan_plans_nothing(store: SqliteStateStore) -> None:
    apply(store, plan(base(), store))
    again = plan(base(), store)
    assert again.items == []
    assert again.empty
    assert again.counts["account.unchanged"] == 3
    assert again.counts["contact.unchanged"] == 2
    assert again.counts["link.unchanged"] == 3
    assert sum(v for k, v in again.counts.items() if not k.endswith(".unchanged")) == 0


def test_key_order_of_fields_does_not_matter(store: SqliteStateStore) -> None:
    source = projection({"a": {"x": 1, "y": [1, 2]}}, {})
    apply(store, plan(source, store))
    reordered = projection({"a": {"y": [1, 2], "x": 1}}, {})
    assert plan(reordered, store).items == []


def test_one_changed_field_is_one_update(store: SqliteStateStore) -> None:
    apply(store, plan(base(), store))
    source = base()
    source.contacts[0].fields["email"] = "elon@tesla.com"
    planned = plan(source, store)
    assert summary(planned.items) == [("contact", "update", "elon")]
    (item,) = planned.items
    assert item.destination_id == "id-elon"
    assert item.payload == {"email": "elon@tesla.com"}
    assert planned.counts["contact.update"] == 1
    assert planned.counts["contact.unchanged"] == 1


def test_new_record_is_a_create_and_its_links_carry_known_ids(store: SqliteStateStore) -> None:
    apply(store, plan(base(), store))
    source = base()
    source.contacts.append(Record(ObjectKind.CONTACT, "kimbal", {"email": "k@x.com"}))
    source.links.append(Link("kimbal", "te", True, {"role": "User"}))
    planned = plan(source, store)
    assert summary(planned.items) == [
        ("contact", "create", "kimbal"),
        ("link", "link", link_key("kimbal", "te")),
    ]
    ends = planned.items[1].link
    assert ends is not None
    assert ends.contact_id is None  # created in this run
    assert ends.account_id == "id-te"  # known from the account's state
    assert ends.primary is True


def test_changed_link_properties_relink(store: SqliteStateStore) -> None:
    apply(store, plan(base(), store))
    source = base()
    source.links[0].properties["role"] = "Owner"  # elon/te: Admin -> Owner
    planned = plan(source, store)
    assert summary(planned.items) == [("link", "link", link_key("elon", "te"))]
    (item,) = planned.items
    assert item.destination_id == f"id-{link_key('elon', 'te')}"
    assert item.link is not None
    assert (item.link.contact_id, item.link.account_id) == ("id-elon", "id-te")


def test_removed_link_is_unlinked_in_upsert(store: SqliteStateStore) -> None:
    apply(store, plan(base(), store))
    source = base()
    del source.links[0]  # elon/te left
    planned = plan(source, store, share=1.0)
    assert summary(planned.items) == [("link", "unlink", link_key("elon", "te"))]
    (item,) = planned.items
    assert item.link is not None
    assert (item.link.contact_key, item.link.account_key) == ("elon", "te")
    assert (item.link.contact_id, item.link.account_id) == ("id-elon", "id-te")
    assert planned.counts["link.unlink"] == 1
    apply(store, planned)
    state = store.get_many(DEST, LINK, [link_key("elon", "te")])[link_key("elon", "te")]
    assert state.status is RecordStatus.DELETED
    assert plan(source, store).items == []


def test_links_the_hub_did_not_create_are_left_alone(store: SqliteStateStore) -> None:
    run = store.start_run(DEST, "upsert")
    # matched to an existing link (created=False): not the hub's
    store.confirm(
        run,
        DEST,
        LINK,
        [Confirmation(link_key("elon", "old"), "f", "L1", False)],
    )
    planned = plan(base(), store, mode=SyncMode.MIRROR, share=1.0)
    assert all(i.action is not PlanAction.UNLINK for i in planned.items)


def test_update_only_mode(store: SqliteStateStore) -> None:
    apply(store, plan(projection({"tw": {"n": 1}}, {"elon": {"e": 1}}), store))
    source = projection({"tw": {"n": 2}, "te": {"n": 1}}, {"elon": {"e": 1}, "gw": {"e": 2}})
    planned = plan(source, store, mode=SyncMode.UPDATE_ONLY)
    assert summary(planned.items) == [("account", "update", "tw")]
    assert planned.counts["skipped.update_only"] == 2
    assert planned.counts["contact.unchanged"] == 1


def test_create_only_mode(store: SqliteStateStore) -> None:
    apply(store, plan(projection({"tw": {"n": 1}}, {}), store))
    source = projection({"tw": {"n": 2}, "te": {"n": 1}}, {})
    planned = plan(source, store, mode=SyncMode.CREATE_ONLY)
    assert summary(planned.items) == [("account", "create", "te")]
    assert planned.counts["skipped.create_only"] == 1


def test_create_and_update_only_never_unlink(store: SqliteStateStore) -> None:
    apply(store, plan(base(), store))
    source = base()
    source.links.clear()
    for mode in (SyncMode.CREATE_ONLY, SyncMode.UPDATE_ONLY):
        planned = plan(source, store, mode=mode, share=1.0)
        assert planned.items == []
        assert planned.delete_guard is None


def test_upsert_never_deletes_records(store: SqliteStateStore) -> None:
    apply(store, plan(base(), store))
    source = base()
    del source.accounts[0]
    planned = plan(source, store, share=1.0)
    assert all(i.action is not PlanAction.DELETE for i in planned.items)


def test_mirror_deletes_only_what_the_hub_created(store: SqliteStateStore) -> None:
    apply(store, plan(projection({f"a{i}": {"n": i} for i in range(6)}, {}), store))
    run = store.start_run(DEST, "mirror")
    # matched in the destination (not created by the hub)
    store.confirm(run, DEST, ACCOUNT, [Confirmation("theirs", "f", "T1", False)])
    source = projection({f"a{i}": {"n": i} for i in range(4)}, {})
    planned = plan(source, store, mode=SyncMode.MIRROR, share=0.5)
    assert summary(planned.items) == [("account", "delete", "a4"), ("account", "delete", "a5")]
    assert planned.items[0].destination_id == "id-a4"
    assert planned.items[0].payload == {}
    assert planned.counts["account.delete"] == 2
    apply(store, planned)
    assert plan(source, store, mode=SyncMode.MIRROR).items == []


def test_mirror_send_order(store: SqliteStateStore) -> None:
    apply(store, plan(base(), store))
    source = projection(
        {"tw": {"name": "X"}, "te": {"name": "Tesla"}},  # sx gone, tw renamed
        {"elon": {"email": "elon@x.com"}, "kimbal": {"email": "k@x.com"}},  # gwynne gone
        [("elon", "tw", True, {"role": "Owner"}), ("kimbal", "te", True, {"role": "User"})],
    )
    planned = plan(source, store, mode=SyncMode.MIRROR, force=True)
    assert summary(planned.items) == [
        ("account", "update", "tw"),
        ("contact", "create", "kimbal"),
        ("link", "link", link_key("kimbal", "te")),
        ("link", "unlink", link_key("elon", "te")),
        ("link", "unlink", link_key("gwynne", "sx")),
        ("contact", "delete", "gwynne"),
        ("account", "delete", "sx"),
    ]


def test_guard_refuses_empty_source(store: SqliteStateStore) -> None:
    apply(store, plan(base(), store))
    empty = projection({}, {})
    planned = plan(empty, store, mode=SyncMode.MIRROR, share=1.0)
    assert planned.items == []
    assert planned.delete_guard is not None
    assert "--force-delete" in planned.delete_guard
    assert f"destinations.{DEST}.max_delete_share" in planned.delete_guard
    assert "no accounts" in planned.delete_guard
    assert planned.counts["skipped.delete_guard"] == 3 + 2 + 3
    forced = plan(empty, store, mode=SyncMode.MIRROR, share=1.0, force=True)
    assert forced.delete_guard is None
    assert forced.counts["account.delete"] == 3
    assert forced.counts["contact.delete"] == 2
    assert forced.counts["link.unlink"] == 3


def test_guard_refuses_over_share_but_still_upserts(store: SqliteStateStore) -> None:
    apply(store, plan(projection({f"a{i}": {"n": i} for i in range(10)}, {}), store))
    source = projection({f"a{i}": {"n": i} for i in range(6)} | {"a0": {"n": 99}}, {})
    planned = plan(source, store, mode=SyncMode.MIRROR, share=0.3)
    assert planned.delete_guard is not None
    assert "4 of the 10 accounts" in planned.delete_guard
    assert "max_delete_share = 0.3" in planned.delete_guard
    assert summary(planned.items) == [("account", "update", "a0")]
    assert planned.counts["skipped.delete_guard"] == 4
    assert plan(source, store, mode=SyncMode.MIRROR, share=0.4).delete_guard is None
    forced = plan(source, store, mode=SyncMode.MIRROR, share=0.3, force=True)
    assert forced.counts["account.delete"] == 4


def test_guard_applies_to_unlinks_in_upsert(store: SqliteStateStore) -> None:
    apply(store, plan(base(), store))
    source = base()
    source.links.clear()
    planned = plan(source, store, share=1.0)
    assert planned.items == []
    assert planned.delete_guard is not None and "no links" in planned.delete_guard
    assert plan(source, store, share=1.0, force=True).counts["link.unlink"] == 3


def test_failed_record_is_not_resent_until_its_data_changes(store: SqliteStateStore) -> None:
    source = projection({}, {"elon": {"email": "not-an-email"}})
    first = plan(source, store)
    (item,) = first.items
    run = store.start_run(DEST, "upsert")
    store.fail(
        run, DEST, CONTACT, [Failure("elon", "invalid email", True, fingerprint=item.fingerprint)]
    )
    held = plan(source, store)
    assert held.items == []
    assert held.counts["contact.failed"] == 1
    # data changes: sent again (still a create: never accepted)
    changed = projection({}, {"elon": {"email": "elon@x.com"}})
    resent = plan(changed, store)
    assert summary(resent.items) == [("contact", "create", "elon")]
    assert resent.counts["failed.pending_retry"] == 1
    # or `hub retry`
    assert store.reset_failed(DEST) == 1
    assert summary(plan(source, store).items) == [("contact", "create", "elon")]


def test_failed_update_keeps_id_and_retries_as_update(store: SqliteStateStore) -> None:
    apply(store, plan(projection({}, {"elon": {"e": 1}}), store))
    source = projection({}, {"elon": {"e": 2}})
    (item,) = plan(source, store).items
    run = store.start_run(DEST, "upsert")
    store.fail(run, DEST, CONTACT, [Failure("elon", "bad", True, item.fingerprint)])
    assert plan(source, store).items == []
    retried = plan(projection({}, {"elon": {"e": 3}}), store)
    assert summary(retried.items) == [("contact", "update", "elon")]
    assert retried.items[0].destination_id == "id-elon"


def test_pending_records_are_resent(store: SqliteStateStore) -> None:
    source = projection({}, {"elon": {"e": 1}})
    run = store.start_run(DEST, "upsert")
    store.fail(run, DEST, CONTACT, [Failure("elon", "503", False)])
    planned = plan(source, store)
    assert summary(planned.items) == [("contact", "create", "elon")]
    assert planned.counts["failed.pending_retry"] == 1


def test_failed_without_known_payload_is_resent(store: SqliteStateStore) -> None:
    source = projection({}, {"elon": {"e": 1}})
    run = store.start_run(DEST, "upsert")
    store.fail(run, DEST, CONTACT, [Failure("elon", "bad", True)])  # no fingerprint given
    assert len(plan(source, store).items) == 1


def test_deleted_record_coming_back_is_created(store: SqliteStateStore) -> None:
    apply(store, plan(projection({"a": {"n": 1}, "b": {"n": 1}}, {}), store))
    apply(store, plan(projection({"b": {"n": 1}}, {}), store, mode=SyncMode.MIRROR, force=True))
    back = plan(projection({"a": {"n": 1}, "b": {"n": 1}}, {}), store)
    assert summary(back.items) == [("account", "create", "a")]
    assert back.items[0].destination_id is None


def test_stream_of_chunks(store: SqliteStateStore) -> None:
    whole = base()

    def chunks() -> Iterator[ProjectionChunk]:
        yield AccountsChunk(whole.accounts[:1])
        yield AccountsChunk(whole.accounts[1:])
        yield ContactsChunk(whole.contacts)
        yield LinksChunk(whole.links[:2])
        yield LinksChunk(whole.links[2:])
        yield ProjectionSummary(DEST, [], {"contacts": 2})

    streamed = plan_destination(
        chunks(), store, mode=SyncMode.MIRROR, max_delete_share=0.5, destination=DEST
    )
    assert streamed.items == plan(whole, store, mode=SyncMode.MIRROR).items
    assert streamed.stats == {"contacts": 2}
    with pytest.raises(ValueError, match="destination="):
        plan_destination(chunks(), store, mode=SyncMode.UPSERT, max_delete_share=0.5)


def test_small_chunks_give_the_same_plan(store: SqliteStateStore) -> None:
    apply(store, plan(base(), store))
    source = base()
    source.contacts[1].fields["email"] = "new@spacex.com"
    source.links[2].properties["role"] = "Owner"
    del source.links[0]
    expected = plan(source, store, mode=SyncMode.MIRROR, share=1.0)
    small = plan_destination(
        source, store, mode=SyncMode.MIRROR, max_delete_share=1.0, chunk_size=1
    )
    assert small.items == expected.items
    assert small.counts == expected.counts


def test_many_leavers_are_read_back_a_chunk_at_a_time(store: SqliteStateStore) -> None:
    apply(store, plan(base(), store))
    empty = projection({}, {})
    expected = plan(empty, store, mode=SyncMode.MIRROR, force=True)
    again = plan_destination(
        empty, store, mode=SyncMode.MIRROR, max_delete_share=0.5, force_delete=True, chunk_size=1
    )
    assert again.items == expected.items
    assert len(again.items) == 3 + 2 + 3


# -- the merge pass: paging, writes between chunks, keys out of order ----------------


def _mirror_state(store: SqliteStateStore) -> None:
    """The hub created accounts a0..a9 (even ones matched, so not its own: a0, a2, ...
    are left alone), contacts c0..c9 and links c{i} -> a{i}."""
    run = store.start_run(DEST, "mirror")
    for i in range(10):
        own = i % 2 == 1
        store.confirm(run, DEST, ACCOUNT, [Confirmation(f"a{i}", "old", f"id-a{i}", own)])
        store.confirm(run, DEST, CONTACT, [Confirmation(f"c{i}", "old", f"id-c{i}", True)])
        store.confirm(
            run, DEST, LINK, [Confirmation(link_key(f"c{i}", f"a{i}"), "old", None, True)]
        )


def _chunked(whole: DestinationProjection, size: int) -> Iterator[ProjectionChunk]:
    for start in range(0, len(whole.accounts), size):
        yield AccountsChunk(whole.accounts[start : start + size])
    for start in range(0, len(whole.contacts), size):
        yield ContactsChunk(whole.contacts[start : start + size])
    for start in range(0, len(whole.links), size):
        yield LinksChunk(whole.links[start : start + size])
    yield ProjectionSummary(DEST, [], {})


def _changing_source() -> DestinationProjection:
    # Kept: a1 a2 a5 (changed), new: a10 a55 b; left: a0 a3 a4 a6 a7 a8 a9 (own: 3 7 9).
    accounts = {k: {"n": 1} for k in ("a1", "a10", "a2", "a5", "a55", "b")}
    contacts = {f"c{i}": {"n": 1} for i in (1, 2, 5)} | {"c12": {"n": 1}, "d": {"n": 1}}
    links = [
        ("c1", "a1", True, {}),
        ("c12", "a2", True, {}),
        ("c2", "a2", True, {}),
        ("c5", "a5", False, {}),
        ("d", "b", True, {}),
    ]
    return projection(accounts, contacts, links)


@pytest.mark.parametrize("page", [1, 2, 3, 5000])
@pytest.mark.parametrize("size", [1, 2, 100])
def test_streamed_plan_with_writes_between_chunks_matches_the_whole_plan(
    store: SqliteStateStore, monkeypatch: pytest.MonkeyPatch, page: int, size: int
) -> None:
    """What the sync does: each chunk's items are confirmed before the next chunk
    is planned; the records it creates meanwhile are never taken for leavers."""
    from hub.sync.planner import DestinationPlanner

    _mirror_state(store)
    source = _changing_source()
    expected = plan(source, store, mode=SyncMode.MIRROR, share=1.0)
    monkeypatch.setattr("hub.sync.planner._PAGE", page)
    planner = DestinationPlanner(store, DEST, SyncMode.MIRROR, max_delete_share=1.0, end_ids=False)
    items: list[PlannedItem] = []
    for chunk in _chunked(source, size):
        part = planner.plan_chunk(chunk)
        items.extend(part)
        apply(store, DestinationPlan(DEST, SyncMode.MIRROR, part, {}))
    assert planner.finish() is None
    for part in planner.iter_deletes():
        items.extend(part)
    assert summary(items) == summary(expected.items)
    assert planner.plan().counts == expected.counts
    assert expected.counts["account.delete"] == 3  # a3 a7 a9: the others are not the hub's
    assert expected.counts["contact.delete"] == 7
    assert expected.counts["link.unlink"] == 7


@pytest.mark.parametrize("page", [1, 5000])
def test_keys_out_of_order_fall_back_to_lookups(
    store: SqliteStateStore, monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    from hub.sync.planner import DestinationPlanner

    _mirror_state(store)
    source = _changing_source()
    expected = plan(source, store, mode=SyncMode.MIRROR, share=1.0)
    monkeypatch.setattr("hub.sync.planner._PAGE", page)
    shuffled = [source.accounts[i] for i in (3, 0, 5, 1, 4, 2)]
    contacts = list(reversed(source.contacts))
    links = [source.links[i] for i in (4, 0, 2, 1, 3)]
    planner = DestinationPlanner(store, DEST, SyncMode.MIRROR, max_delete_share=1.0)
    items: list[PlannedItem] = []
    chunks: list[ProjectionChunk] = [
        AccountsChunk(shuffled[:2]),
        AccountsChunk(shuffled[2:]),
        ContactsChunk(contacts[:1]),  # in order on its own, then out of order
        ContactsChunk(contacts[1:]),
        LinksChunk(links),
    ]
    for chunk in chunks:
        part = planner.plan_chunk(chunk)
        items.extend(part)
        apply(store, DestinationPlan(DEST, SyncMode.MIRROR, part, {}))
    for part in planner.iter_deletes():
        items.extend(part)
    assert sorted(summary(items)) == sorted(summary(expected.items))
    assert planner.plan().counts == expected.counts


def test_a_contact_key_below_the_tab_keeps_links_right(store: SqliteStateStore) -> None:
    """Links come by (contact, account); with a contact key holding a character
    below the tab that is not the order of their link keys: still the same plan."""
    source = projection(
        {"a": {}, "b": {}},
        {"u": {}, "u\x01x": {}},
        [("u", "b", True, {}), ("u\x01x", "a", True, {}), ("u", "a", False, {})],
    )
    assert [link_key(x.contact_key, x.account_key) for x in source.links] != sorted(
        link_key(x.contact_key, x.account_key) for x in source.links
    )
    apply(store, plan(source, store))
    again = plan(source, store)
    assert again.items == []
    assert again.counts["link.unchanged"] == 3
    source.links.pop()
    gone = plan(source, store, share=1.0)
    assert summary(gone.items) == [("link", "unlink", link_key("u\x01x", "a"))]


# -- a delta run's scope (hub.sync.delta.DeltaScope) ----------------------------------


def test_a_scoped_plan_reads_and_deletes_only_its_scope_and_counts_the_rest(
    store: SqliteStateStore,
) -> None:
    """A delta run projects Elon's records alone (his links, Twitter, Tesla):
    Gwynne's and SpaceX's records, outside its scope, are unchanged, not gone;
    Elon's link to Tesla, in scope and no longer projected, is unlinked; and a
    projected key outside the scope (``gwynne``, whose id another subject's
    key shadowed) is read from the store, so it is an update, never a create."""
    from hub.sync.delta import DeltaScope

    apply(store, plan(base(), store, mode=SyncMode.MIRROR, share=1.0))
    scope = DeltaScope(
        accounts=frozenset({"tw", "te"}),
        contacts=frozenset({"elon"}),
        links=frozenset({link_key("elon", "tw"), link_key("elon", "te")}),
    )
    part = projection(
        {"tw": {"name": "Twitter"}, "te": {"name": "Tesla"}},
        {"elon": {"email": "elon@x.com"}, "gwynne": {"email": "new@spacex.com"}},
        [("elon", "tw", True, {"role": "Owner"})],
    )
    planned = plan_destination(part, store, mode=SyncMode.MIRROR, max_delete_share=0.5, scope=scope)
    assert summary(planned.items) == [
        ("contact", "update", "gwynne"),
        ("link", "unlink", link_key("elon", "te")),
    ]
    counts = planned.counts
    # Everything else is counted as a full plan would count it.
    assert counts["account.unchanged"] == 3  # tw and te projected, sx outside the scope
    assert counts["contact.unchanged"] == 1 and counts["contact.update"] == 1
    assert counts["link.unchanged"] == 2 and counts["link.unlink"] == 1
    assert counts["account.delete"] == counts["contact.delete"] == 0
    assert planned.delete_guard is None  # 1 unlink of 3 links: under the share
    # The same projection unscoped would delete SpaceX and unlink Gwynne's link.
    unscoped = plan_destination(part, store, mode=SyncMode.MIRROR, max_delete_share=1.0)
    assert ("account", "delete", "sx") in summary(unscoped.items)
