"""The state store, on both backends: SQLite (the embedded default) and
PostgreSQL (a real server, ``tests/conftest.py``).

Every test taking ``store`` or ``open_store`` runs once on each; the tests of
one backend's own machinery (SQLite's pragmas and file, PostgreSQL's schema
table) say so in their names."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, overload

import psycopg
import pytest

from hub.contract.destination import BatchObject
from hub.errors import ConfigError
from hub.state import (
    Confirmation,
    Failure,
    RecordStatus,
    RunStatus,
    StateStore,
    open_state_store,
)
from hub.state.postgres import PostgresStateStore
from hub.state.sql import SqlStateStore
from hub.state.sqlite import SCHEMA_VERSION, SqliteStateStore, StateVersionError

ACCOUNT = BatchObject.ACCOUNT
CONTACT = BatchObject.CONTACT


Opener = Callable[..., SqlStateStore]


@pytest.fixture
def open_store(state_database: Path | str) -> Iterator[Opener]:
    """Opens stores on one backend's one database (a file, or a PostgreSQL
    database of this test's own); each call opens another connection to it."""
    opened: list[SqlStateStore] = []

    def one(**options: Any) -> SqlStateStore:
        if isinstance(state_database, Path):
            opened.append(SqliteStateStore(state_database, **options))
        else:
            opened.append(PostgresStateStore(state_database, **options))
        return opened[-1]

    yield one
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Opener) -> SqlStateStore:
    return open_store()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStateStore]:
    with SqliteStateStore(tmp_path / "state.db") as opened:
        yield opened


def test_is_a_state_store(store: SqlStateStore) -> None:
    typed: StateStore = store
    assert typed is store


def test_sqlite_pragmas_and_schema_version(sqlite_store: SqliteStateStore, tmp_path: Path) -> None:
    store = sqlite_store
    assert store.journal_mode == "wal"
    raw = sqlite3.connect(tmp_path / "state.db")
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"records", "runs", "run_errors"} <= tables
    finally:
        raw.close()
    assert store._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert store._db.execute("PRAGMA busy_timeout").fetchone()[0] == 30000


def test_reopening_keeps_data_and_does_not_remigrate(open_store: Opener) -> None:
    with open_store() as first:
        run = first.start_run("crm", "upsert")
        first.confirm(run, "crm", ACCOUNT, [Confirmation("a1", "f1", "101", True)])
    with open_store() as second:
        assert second.get_many("crm", ACCOUNT, ["a1"])["a1"].destination_id == "101"


def test_sqlite_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StateVersionError, match="upgrade the hub"):
        SqliteStateStore(path)


def test_confirm_then_get_and_iter(store: SqlStateStore) -> None:
    run = store.start_run("crm", "upsert")
    store.confirm(
        run,
        "crm",
        CONTACT,
        [Confirmation("u2", "f2", "202", True), Confirmation("u1", "f1", None, False)],
    )
    states = store.get_many("crm", CONTACT, ["u1", "u2", "nope"])
    assert set(states) == {"u1", "u2"}
    assert states["u2"].status is RecordStatus.OK
    assert states["u2"].created_by_hub and not states["u1"].created_by_hub
    assert states["u1"].fingerprint == "f1" and states["u1"].destination_id is None
    # other destinations and object kinds are separate
    assert store.get_many("other", CONTACT, ["u1"]) == {}
    assert store.get_many("crm", ACCOUNT, ["u1"]) == {}
    assert [s.key for s in store.iter_records("crm", CONTACT)] == ["u1", "u2"]


def test_confirm_keeps_a_known_id_and_the_created_flag(store: SqlStateStore) -> None:
    run = store.start_run("crm", "upsert")
    store.confirm(run, "crm", ACCOUNT, [Confirmation("a1", "f1", "101", True)])
    store.confirm(run, "crm", ACCOUNT, [Confirmation("a1", "f2", None, False)])
    state = store.get_many("crm", ACCOUNT, ["a1"])["a1"]
    assert (state.fingerprint, state.destination_id, state.created_by_hub) == ("f2", "101", True)


def test_get_many_with_20k_keys(store: SqlStateStore) -> None:
    run = store.start_run("crm", "upsert")
    keys = [f"user-{i:06d}" for i in range(20_000)]
    store.confirm(
        run, "crm", CONTACT, [Confirmation(k, f"fp{k}", f"id{k}", True) for k in keys[::2]]
    )
    # a generator works too, and unknown keys are simply absent
    states = store.get_many("crm", CONTACT, (k for k in keys))
    assert len(states) == 10_000
    assert states["user-000002"].destination_id == "iduser-000002"
    assert "user-000001" not in states
    streamed = list(store.iter_records("crm", CONTACT))
    assert [s.key for s in streamed] == keys[::2]  # ordered by key, across pages


class _Exploding(Sequence[Confirmation]):
    """Confirmations whose iteration fails after ``good`` items."""

    def __init__(self, items: list[Confirmation], good: int) -> None:
        self.items, self.good = items, good

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> Confirmation: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Confirmation]: ...
    def __getitem__(self, index: int | slice) -> Confirmation | Sequence[Confirmation]:
        return self.items[index]

    def __iter__(self) -> Iterator[Confirmation]:
        for n, item in enumerate(self.items):
            if n == self.good:
                raise RuntimeError("boom mid-batch")
            yield item


def test_a_batch_is_one_transaction(store: SqlStateStore) -> None:
    run = store.start_run("crm", "upsert")
    store.confirm(run, "crm", CONTACT, [Confirmation("u0", "f0", "1", True)])
    batch = [Confirmation(f"u{i}", f"f{i}", str(i), True) for i in range(1, 11)]
    with pytest.raises(RuntimeError, match="boom"):
        store.confirm(run, "crm", CONTACT, _Exploding(batch, good=5))
    assert [s.key for s in store.iter_records("crm", CONTACT)] == ["u0"]
    # the store is still usable afterwards
    store.confirm(run, "crm", CONTACT, batch)
    assert len(list(store.iter_records("crm", CONTACT))) == 11


def test_fail_permanent_and_retryable(store: SqlStateStore) -> None:
    run = store.start_run("crm", "upsert")
    store.confirm(run, "crm", CONTACT, [Confirmation("u1", "old", "1", True)])
    store.fail(
        run,
        "crm",
        CONTACT,
        [
            Failure("u1", "email is invalid", permanent=True, fingerprint="new"),
            Failure("u2", "503 Service Unavailable", permanent=False, fingerprint="x"),
        ],
    )
    store.fail(run, "crm", CONTACT, [Failure("u2", "timeout", permanent=False)])
    states = store.get_many("crm", CONTACT, ["u1", "u2"])
    u1, u2 = states["u1"], states["u2"]
    assert u1.status is RecordStatus.FAILED
    assert (u1.fingerprint, u1.failed_fingerprint, u1.destination_id) == ("old", "new", "1")
    assert u1.last_error == "email is invalid" and u1.attempts == 1
    assert u2.status is RecordStatus.PENDING
    assert (u2.fingerprint, u2.failed_fingerprint) == (None, None)
    assert u2.attempts == 2 and u2.last_error == "timeout"
    # a later confirmation clears the failure
    store.confirm(run, "crm", CONTACT, [Confirmation("u1", "new2", None, False)])
    u1 = store.get_many("crm", CONTACT, ["u1"])["u1"]
    assert (u1.status, u1.attempts, u1.last_error, u1.failed_fingerprint) == (
        RecordStatus.OK,
        0,
        None,
        None,
    )
    assert u1.created_by_hub and u1.destination_id == "1"


def test_fail_needs_a_started_run(store: SqlStateStore) -> None:
    # A bug of the caller's, raised as the database's own error (not a state error).
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        store.fail(999, "crm", CONTACT, [Failure("u1", "nope", True)])
    assert store.get_many("crm", CONTACT, ["u1"]) == {}  # rolled back entirely


def test_errors_listing(store: SqlStateStore) -> None:
    first = store.start_run("crm", "upsert")
    store.fail(first, "crm", CONTACT, [Failure("u1", "old error", True)])
    store.finish_run(first, RunStatus.PARTIAL, {"failed": 1})
    other = store.start_run("other", "upsert")
    store.fail(other, "other", ACCOUNT, [Failure("a1", "bad domain", True)])
    store.finish_run(other, RunStatus.PARTIAL, {"failed": 1})
    second = store.start_run("crm", "upsert")
    store.fail(
        second,
        "crm",
        CONTACT,
        [Failure("u3", "rate limited", False), Failure("u2", "bad email", True)],
    )
    store.finish_run(second, RunStatus.PARTIAL, {"failed": 1})
    third = store.start_run("crm", "upsert")  # no errors
    store.finish_run(third, RunStatus.SUCCEEDED, {})

    latest = store.errors()
    assert [(e.run_id, e.destination, e.key) for e in latest] == [
        (other, "other", "a1"),
        (second, "crm", "u2"),
        (second, "crm", "u3"),
    ]
    assert [e.permanent for e in latest] == [True, True, False]
    assert latest[1].reason == "bad email" and latest[1].object is CONTACT
    assert latest[1].at.tzinfo is not None
    assert [e.key for e in store.errors(destination="crm")] == ["u2", "u3"]
    assert [e.key for e in store.errors(run_id=first)] == ["u1"]
    assert [e.key for e in store.errors(run_id=second, limit=1)] == ["u2"]
    assert store.errors(run_id=third) == []


def test_mark_deleted(store: SqlStateStore) -> None:
    run = store.start_run("crm", "mirror")
    store.confirm(
        run,
        "crm",
        ACCOUNT,
        [Confirmation("a1", "f1", "1", True), Confirmation("a2", "f2", "2", True)],
    )
    store.mark_deleted(run, "crm", ACCOUNT, ["a1", "unknown"])
    states = store.get_many("crm", ACCOUNT, ["a1", "a2", "unknown"])
    assert set(states) == {"a1", "a2"}
    assert states["a1"].status is RecordStatus.DELETED
    assert (states["a1"].fingerprint, states["a1"].destination_id) == (None, None)
    assert states["a2"].status is RecordStatus.OK
    # coming back: created afresh
    store.confirm(run, "crm", ACCOUNT, [Confirmation("a1", "f3", "9", True)])
    again = store.get_many("crm", ACCOUNT, ["a1"])["a1"]
    assert (again.status, again.destination_id, again.created_by_hub) == (
        RecordStatus.OK,
        "9",
        True,
    )


def test_counts_of_records_by_status_and_owned(store: SqlStateStore) -> None:
    """What a delta run's planner and the skip read: counts by object and
    status, the hub's own live records, the records a run sends again."""
    run = store.start_run("crm", "mirror")
    store.confirm(
        run,
        "crm",
        ACCOUNT,
        [
            Confirmation("a1", "f1", "1", True),
            Confirmation("a2", "f2", "2", False),  # matched, not created
            Confirmation("a3", "f3", "3", True),
        ],
    )
    store.confirm(run, "crm", CONTACT, [Confirmation("c1", "f", "c", True)])
    store.confirm(run, "other", CONTACT, [Confirmation("c9", "f", "c", True)])
    store.mark_deleted(run, "crm", ACCOUNT, ["a3"])
    store.fail(
        run,
        "crm",
        CONTACT,
        [
            Failure("c2", "refused", True, "fp"),  # failed, its payload known
            Failure("c3", "refused", True, None),  # failed, its payload unknown
            Failure("c4", "timeout", False),  # pending
        ],
    )
    assert store.record_counts("crm") == {
        "account": {"deleted": 1, "ok": 2},
        "contact": {"failed": 2, "ok": 1, "pending": 1},
    }
    assert store.record_counts("nobody") == {}
    assert store.owned_count("crm", ACCOUNT) == 1  # a1 (a2 not created, a3 deleted)
    assert store.owned_count("crm", CONTACT) == 1
    assert store.owned_count("other", ACCOUNT) == 0
    assert store.unsettled("crm") == 2  # c3 and c4
    assert store.unsettled("other") == 0


def test_end_states_say_which_records_the_destination_has(store: SqlStateStore) -> None:
    """What the executor reads of link ends: a record confirmed once and not
    deleted since is there (even when a later send failed), with its id; a
    deleted one or one never confirmed is not; a key without state is absent."""
    run = store.start_run("crm", "mirror")
    store.confirm(
        run,
        "crm",
        CONTACT,
        [Confirmation(f"c{i}", "f", f"id{i}", True) for i in range(6)],
    )
    store.mark_deleted(run, "crm", CONTACT, ["c1"])
    store.fail(
        run,
        "crm",
        CONTACT,
        [
            Failure("c2", "refused", True, "f2"),  # confirmed, then refused for good
            Failure("c3", "timeout", False),  # confirmed, then left pending
            Failure("n1", "refused", True, "f"),  # never confirmed, refused
            Failure("n2", "timeout", False),  # never confirmed, pending
        ],
    )
    store.confirm(run, "other", CONTACT, [Confirmation("o1", "f", "x", True)])
    many = [f"k{i:04d}" for i in range(1200)]  # past one IN query of 500 keys
    store.confirm(run, "crm", ACCOUNT, [Confirmation(key, "f", key, True) for key in many])
    wanted = ["c0", "c1", "c2", "c3", "n1", "n2", "o1", "nothing"]
    assert store.end_states("crm", CONTACT, wanted) == {
        "c0": (True, "id0"),
        "c1": (False, None),
        "c2": (True, "id2"),
        "c3": (True, "id3"),
        "n1": (False, None),
        "n2": (False, None),
    }
    assert store.end_states("crm", ACCOUNT, ["c0", *many]) == {key: (True, key) for key in many}
    assert store.end_states("crm", CONTACT, []) == {}


def test_sqlite_unsettled_searches_the_index_not_every_record(
    sqlite_store: SqliteStateStore,
) -> None:
    """The skip check counts the unsettled records through ``records_status``:
    its work does not grow with the records that are settled. Counted in
    SQLite's virtual machine steps (a progress handler), not in seconds."""
    store = sqlite_store
    run = store.start_run("crm", "mirror")
    settled = [Confirmation(f"c{i:05d}", "f", f"id{i}", True) for i in range(20_000)]
    store.confirm(run, "crm", CONTACT, settled)
    store.fail(
        run, "crm", CONTACT, [Failure("x1", "refused", True), Failure("x2", "timeout", False)]
    )
    steps = 0

    def step() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    store._db.set_progress_handler(step, 100)  # once every 100 instructions
    try:
        assert store.unsettled("crm") == 2
    finally:
        store._db.set_progress_handler(None, 0)
    assert steps < 20  # a scan of the 20,000 settled records takes hundreds


def test_reset_failed(store: SqlStateStore) -> None:
    run = store.start_run("crm", "upsert")
    store.fail(run, "crm", CONTACT, [Failure("u1", "bad", True, "f"), Failure("u2", "bad", True)])
    store.fail(run, "crm", CONTACT, [Failure("u3", "slow", False)])
    run2 = store.start_run("other", "upsert")
    store.fail(run2, "other", CONTACT, [Failure("u1", "bad", True)])
    assert store.reset_failed("crm") == 2
    states = store.get_many("crm", CONTACT, ["u1", "u2", "u3"])
    assert {s.status for s in states.values()} == {RecordStatus.PENDING}
    assert states["u1"].failed_fingerprint is None and states["u1"].attempts == 0
    assert states["u1"].last_error == "bad"  # the reason stays visible
    assert store.get_many("other", CONTACT, ["u1"])["u1"].status is RecordStatus.FAILED
    assert store.reset_failed() == 1
    assert store.reset_failed() == 0


def test_runs_and_interrupted_runs(open_store: Opener) -> None:
    now = [datetime(2024, 6, 1, 12, 0, tzinfo=UTC)]

    def clock() -> datetime:
        now[0] += timedelta(seconds=1)
        return now[0]

    with open_store(clock=clock) as store:
        dead = store.start_run("crm", "mirror")
        elsewhere = store.start_run("other", "upsert")
        fresh = store.start_run("crm", "mirror")
        assert fresh > dead
        by_id = {r.run_id: r for r in store.runs()}
        assert by_id[dead].status is RunStatus.INTERRUPTED
        assert by_id[dead].finished_at is not None
        assert str(fresh) in (by_id[dead].message or "")
        assert by_id[elsewhere].status is RunStatus.RUNNING  # another destination
        assert by_id[fresh].status is RunStatus.RUNNING

        store.finish_run(fresh, RunStatus.SUCCEEDED, {"created": 3, "updated": 1})
        latest = store.runs("crm", limit=1)
        assert len(latest) == 1
        info = latest[0]
        assert info.run_id == fresh and info.status is RunStatus.SUCCEEDED
        assert info.counts == {"created": 3, "updated": 1}
        assert info.mode == "mirror" and info.message is None
        assert info.started_at == datetime(2024, 6, 1, 12, 0, 3, tzinfo=UTC)
        assert info.finished_at == datetime(2024, 6, 1, 12, 0, 4, tzinfo=UTC)
        assert [r.run_id for r in store.runs()] == [fresh, elsewhere, dead]
        # One run by id, and the runs before one (the console's pages).
        assert store.run(fresh) == info
        assert store.run(fresh + 100) is None
        assert [r.run_id for r in store.runs(before=fresh)] == [elsewhere, dead]
        assert [r.run_id for r in store.runs("crm", before=fresh)] == [dead]
        assert store.runs(before=dead) == []


def test_two_connections_share_the_store(open_store: Opener) -> None:
    with open_store() as one, open_store() as two:
        run = one.start_run("crm", "upsert")
        one.confirm(run, "crm", ACCOUNT, [Confirmation("a1", "f1", "1", True)])
        assert two.get_many("crm", ACCOUNT, ["a1"])["a1"].fingerprint == "f1"
        run2 = two.start_run("other", "upsert")
        assert run2 == run + 1


def test_open_state_store_relative_path(tmp_path: Path) -> None:
    store = open_state_store("sqlite:///.hub/state.db", tmp_path)
    try:
        assert (tmp_path / ".hub" / "state.db").exists()
    finally:
        store.close()


def test_open_state_store_absolute_path(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "dir" / "s.db"
    store = open_state_store(f"sqlite:///{target}", Path("/nonexistent"))
    try:
        assert target.exists()
    finally:
        store.close()


def test_open_state_store_memory() -> None:
    store = open_state_store("sqlite:///:memory:", Path("/nonexistent"))
    try:
        run = store.start_run("crm", "upsert")
        store.confirm(run, "crm", ACCOUNT, [Confirmation("a1", "f1", None, True)])
        assert store.get_many("crm", ACCOUNT, ["a1"])["a1"].fingerprint == "f1"
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://hub:s3cret@db/hub", "'mysql' scheme is not supported"),
        ("sqlite://relative.db", "sqlite:/// followed by the path"),
        ("state.db", "not a state store URL"),
        ("sqlite:///", "sqlite:/// followed by the path"),
    ],
)
def test_open_state_store_other_schemes(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_state_store(url, Path("."))
    (problem,) = caught.value.problems
    assert problem.key == "state.url"
    assert problem.expected == "sqlite:///PATH or postgresql://HOST/DATABASE"
    assert says in str(caught.value)
    assert "a SQLite file or a PostgreSQL database" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_a_postgresql_url_opens_the_postgresql_store(postgres_url: str) -> None:
    store = open_state_store(postgres_url, Path("/nonexistent"))
    try:
        assert isinstance(store, PostgresStateStore)
        run = store.start_run("crm", "upsert")
        store.confirm(run, "crm", ACCOUNT, [Confirmation("a1", "f1", None, True)])
    finally:
        store.close()
    with open_state_store(postgres_url.replace("postgresql://", "postgres://"), Path(".")) as again:
        assert again.get_many("crm", ACCOUNT, ["a1"])["a1"].fingerprint == "f1"
