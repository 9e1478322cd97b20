"""The executor: batches, results into the state store, retries, fatal errors, budgets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sync_fakes import (
    FakeClock,
    FakeDestination,
    account,
    capabilities,
    contact,
    link,
    projection,
    small_projection,
)

from hub.config.settings import SyncSettings
from hub.contract.capabilities import Operation, RateLimit, SyncMode
from hub.contract.destination import BatchObject, link_key
from hub.contract.ratelimit import CredentialBudget
from hub.records import DestinationProjection
from hub.state import RecordStatus
from hub.state.sqlite import SqliteStateStore
from hub.sync.executor import ExecutionSummary, execute, iter_batches
from hub.sync.planner import DestinationPlan, PlanAction, PlannedItem, plan_destination

SETTINGS = SyncSettings(max_attempts=3, backoff_initial=0.5, backoff_max=60)


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[SqliteStateStore]:
    with SqliteStateStore(tmp_path / "state.db") as opened:
        yield opened


def _plan(store: SqliteStateStore, source: DestinationProjection | None = None) -> DestinationPlan:
    return plan_destination(
        source or small_projection(), store, mode=SyncMode.UPSERT, max_delete_share=0.5
    )


def _run(
    store: SqliteStateStore,
    destination: FakeDestination,
    plan: DestinationPlan | None = None,
    clock: FakeClock | None = None,
    budget: CredentialBudget | None = None,
    **kwargs: object,
) -> ExecutionSummary:
    clock = clock or FakeClock()
    plan = plan or _plan(store)
    run_id = store.start_run(plan.destination, "upsert")
    return execute(
        plan,
        destination,  # type: ignore[arg-type]
        store,
        budget or CredentialBudget(None, clock=clock, sleep=clock.sleep),
        run_id,
        SETTINGS,
        sleep=clock.sleep,
        jitter=lambda low, high: high,  # the ceiling: deterministic delays
        **kwargs,  # type: ignore[arg-type]
    )


def _status(store: SqliteStateStore, kind: BatchObject, key: str) -> RecordStatus | None:
    state = store.get_many("crm", kind, [key]).get(key)
    return None if state is None else state.status


def test_batches_respect_sizes_and_go_accounts_then_contacts_then_links(
    store: SqliteStateStore,
) -> None:
    destination = FakeDestination(capabilities(upsert=2, link=3))
    summary = _run(store, destination)

    shapes = [(b.object, b.operation, len(b.items)) for b in destination.batches]
    assert shapes == [
        (BatchObject.ACCOUNT, Operation.UPSERT, 2),
        (BatchObject.ACCOUNT, Operation.UPSERT, 1),
        (BatchObject.CONTACT, Operation.UPSERT, 2),
        (BatchObject.CONTACT, Operation.UPSERT, 2),
        (BatchObject.LINK, Operation.LINK, 3),
        (BatchObject.LINK, Operation.LINK, 2),
    ]
    assert [b.object_name for b in destination.batches[:3]] == ["companies", "companies", "people"]
    assert summary.counts["created"] == 7
    assert summary.counts["linked"] == 5
    assert summary.counts["batches"] == 6
    assert summary.counts["pending"] == 0
    # Links carry the ids their ends got earlier in this same run.
    first_link = destination.batches[4].items[0]
    assert first_link.link is not None
    assert (first_link.link.contact_id, first_link.link.account_id) == ("id-u1", "id-a1")
    state = store.get_many("crm", BatchObject.ACCOUNT, ["a1"])["a1"]
    assert state.status is RecordStatus.OK
    assert state.destination_id == "id-a1"
    assert state.created_by_hub


def test_a_key_never_appears_twice_in_one_batch() -> None:
    def item(key: str, action: PlanAction = PlanAction.UPDATE) -> PlannedItem:
        return PlannedItem(BatchObject.CONTACT, action, key, {}, "f", None)

    items = [item("u1"), item("u2"), item("u1"), item("u3"), item("u4", PlanAction.DELETE)]
    batches = [[i.key for i in chunk] for _, _, chunk in iter_batches(items, lambda operation: 10)]
    assert batches == [["u1", "u2"], ["u1", "u3"], ["u4"]]


def test_a_second_run_after_a_full_success_sends_nothing(store: SqliteStateStore) -> None:
    _run(store, FakeDestination())
    again = FakeDestination()
    summary = _run(store, again)
    assert again.batches == []
    assert summary.counts["sent"] == 0
    assert summary.counts["pending"] == 0


def test_retryable_results_are_retried_with_backoff_then_succeed(
    store: SqliteStateStore,
) -> None:
    clock = FakeClock()
    budget = CredentialBudget(None, clock=clock, sleep=clock.sleep)
    destination = FakeDestination(script={"u2": ["retry", "retry:5", "ok"]})
    summary = _run(store, destination, clock=clock, budget=budget)

    # Exponential ceilings 0.5 then 1.0; the second is raised to the Retry-After.
    assert clock.sleeps == [0.5, 5.0]
    assert summary.backoff_seconds == pytest.approx(5.5)
    retries = [b for b in destination.batches if [i.key for i in b.items] == ["u2"]]
    assert len(retries) == 2
    assert summary.counts["retried"] == 2
    assert summary.counts["pending"] == 0
    assert _status(store, BatchObject.CONTACT, "u2") is RecordStatus.OK


def test_retry_after_pauses_the_credential_budget(store: SqliteStateStore) -> None:
    clock = FakeClock()
    budget = CredentialBudget(None, clock=clock, sleep=clock.sleep)
    # The backoff sleep is a no-op here: only the budget's pause can make the wait.
    destination = FakeDestination(script={"a1": ["retry:9"]}, clock=clock)
    run_id = store.start_run("crm", "upsert")
    execute(
        _plan(store),
        destination,  # type: ignore[arg-type]
        store,
        budget,
        run_id,
        SETTINGS,
        sleep=lambda seconds: None,
        jitter=lambda low, high: 0.0,
    )
    assert destination.sent_at[1] - destination.sent_at[0] == pytest.approx(9.0)


def test_retries_run_out_and_the_record_stays_pending_with_its_reason(
    store: SqliteStateStore,
) -> None:
    destination = FakeDestination(script={"u3": ["retry"] * 3})
    summary = _run(store, destination)
    assert destination.keys_sent().count("u3") == SETTINGS.max_attempts
    assert summary.counts["pending"] == 2  # the contact, and its link (skipped)
    state = store.get_many("crm", BatchObject.CONTACT, ["u3"])["u3"]
    assert state.status is RecordStatus.PENDING
    assert state.last_error == "429 busy"
    # The next run sends them again, and only them.
    again = FakeDestination()
    _run(store, again)
    assert again.keys_sent() == ["u3", link_key("u3", "a3")]


def test_a_permanent_failure_is_kept_with_its_reason_and_not_resent(
    store: SqliteStateStore,
) -> None:
    destination = FakeDestination(script={"u4": ["permanent:email is invalid"]})
    summary = _run(store, destination)
    assert summary.counts["failed"] == 1
    assert destination.keys_sent().count("u4") == 1  # not retried
    state = store.get_many("crm", BatchObject.CONTACT, ["u4"])["u4"]
    assert state.status is RecordStatus.FAILED
    errors = store.errors(destination="crm")
    assert [(e.key, e.reason, e.permanent) for e in errors] == [("u4", "email is invalid", True)]
    # Its link is skipped: its contact does not exist in the destination.
    assert summary.counts["skipped.link_end_missing"] == 1
    assert link_key("u4", "a1") not in destination.keys_sent()
    again = FakeDestination()
    _run(store, again)
    assert again.keys_sent() == []  # held back until its data changes (or hub retry)


def test_links_to_a_failed_account_are_skipped_and_sent_once_it_exists(
    store: SqliteStateStore,
) -> None:
    destination = FakeDestination(script={"a2": ["retry"] * 3})
    summary = _run(store, destination)
    skipped = {link_key("u1", "a2"), link_key("u2", "a2")}
    assert not skipped & set(destination.keys_sent())
    assert summary.counts["skipped"] == 2
    assert summary.counts["skipped.link_end_missing"] == 2
    assert summary.counts["pending"] == 3  # the account and its two links
    again = FakeDestination()
    _run(store, again)
    assert again.keys_sent() == ["a2", *sorted(skipped)]
    linked = again.batches[-1].items[0].link
    assert linked is not None and linked.account_id == "id-a2"


def test_a_missing_result_is_retried_and_reported_as_a_plugin_bug(
    store: SqliteStateStore,
) -> None:
    destination = FakeDestination(script={"a3": ["missing"]})
    summary = _run(store, destination)
    assert destination.keys_sent().count("a3") == 2
    assert summary.plugin_errors == ["no result for key 'a3'"]
    assert _status(store, BatchObject.ACCOUNT, "a3") is RecordStatus.OK


def test_a_timeout_raised_by_send_makes_the_whole_batch_retryable(
    store: SqliteStateStore,
) -> None:
    destination = FakeDestination(capabilities(upsert=3), script={"a1": ["timeout"]})
    summary = _run(store, destination)
    assert [i.key for i in destination.batches[1].items] == ["a1", "a2", "a3"]
    assert summary.counts["retried"] == 3
    assert summary.counts["pending"] == 0


def test_a_fatal_error_stops_the_destination_and_names_the_setting(
    store: SqliteStateStore,
) -> None:
    destination = FakeDestination(capabilities(upsert=2), fatal_on_call=2)
    summary = _run(store, destination)
    assert summary.fatal == "the token was refused (401) (check HUB_FAKE_TOKEN)"
    assert len(destination.batches) == 3  # nothing after the fatal one
    # What was confirmed before stays confirmed; the rest is pending.
    assert _status(store, BatchObject.ACCOUNT, "a3") is RecordStatus.OK
    assert _status(store, BatchObject.CONTACT, "u1") is None
    assert summary.counts["pending"] == 4 + 5


def test_should_stop_ends_after_the_batch_in_flight(store: SqliteStateStore) -> None:
    destination = FakeDestination(capabilities(upsert=2))
    summary = _run(store, destination, should_stop=lambda: len(destination.batches) >= 1)
    assert len(destination.batches) == 1
    assert summary.stopped
    assert summary.counts["created"] == 2


def test_the_rate_budget_is_respected(store: SqliteStateStore) -> None:
    clock = FakeClock()
    budget = CredentialBudget(RateLimit(requests=2, per_seconds=10), clock=clock, sleep=clock.sleep)
    destination = FakeDestination(capabilities(upsert=1, link=1), clock=clock)
    progress: list[tuple[int, int]] = []
    summary = _run(
        store,
        destination,
        clock=clock,
        budget=budget,
        progress=lambda done, total: progress.append((done, total)),
    )
    times = destination.sent_at
    assert len(times) == 12
    for index in range(2, len(times)):
        assert times[index] - times[index - 2] >= 10.0
    assert summary.counts["requests"] == 12
    assert summary.rate_waits > 0
    assert summary.rate_wait_seconds == pytest.approx(times[-1] - times[0])
    assert progress[-1] == (12, 12)


def test_mirror_deletes_and_unlinks_what_left_the_source(store: SqliteStateStore) -> None:
    full = projection(
        [account("a1"), account("a2"), account("a3"), account("a4")],
        [contact("u1"), contact("u2")],
        [link("u1", "a1"), link("u2", "a2")],
    )
    _run(
        store,
        FakeDestination(),
        plan_destination(full, store, mode=SyncMode.MIRROR, max_delete_share=0.5),
    )
    smaller = projection(
        [account("a1"), account("a2"), account("a3")],
        [contact("u1"), contact("u2")],
        [link("u1", "a1")],
    )
    destination = FakeDestination()
    summary = _run(
        store,
        destination,
        plan_destination(smaller, store, mode=SyncMode.MIRROR, max_delete_share=0.5),
    )
    assert [(b.object, b.operation) for b in destination.batches] == [
        (BatchObject.LINK, Operation.UNLINK),
        (BatchObject.ACCOUNT, Operation.DELETE),
    ]
    assert summary.counts["unlinked"] == 1
    assert summary.counts["deleted"] == 1
    assert _status(store, BatchObject.ACCOUNT, "a4") is RecordStatus.DELETED
