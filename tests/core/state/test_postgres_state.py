"""What is PostgreSQL's own in the state store: its schema table, its
migrations under concurrency, its collations, its connection and its errors.
The store's behaviour, shared with SQLite, is tested on both backends in
``test_state_store.py``."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from pgcluster import PASSWORD, Cluster

from hub.contract.destination import BatchObject
from hub.errors import StateStoreError
from hub.state import Confirmation
from hub.state.postgres import PostgresStateStore, shown_url
from hub.state.schema import SCHEMA_VERSION, StateVersionError

CONTACT = BatchObject.CONTACT


def test_the_schema_version_is_kept_in_hub_schema(postgres_url: str) -> None:
    with PostgresStateStore(postgres_url):
        pass
    with psycopg.connect(postgres_url) as raw:
        assert raw.execute("SELECT version FROM hub_schema").fetchall() == [(SCHEMA_VERSION,)]
        tables = {
            row[0]
            for row in raw.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
        key = raw.execute(
            "SELECT collation_name FROM information_schema.columns"
            " WHERE table_name = 'records' AND column_name = 'key'"
        ).fetchone()
    assert {"records", "runs", "run_errors", "quarantine", "input_snapshots"} <= tables
    assert key == ("C",)


def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    with PostgresStateStore(postgres_url):
        pass
    with psycopg.connect(postgres_url) as raw:
        raw.execute("UPDATE hub_schema SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(StateVersionError, match="upgrade the hub"):
        PostgresStateStore(postgres_url)


def test_daemons_starting_together_migrate_once(postgres_url: str) -> None:
    """Eight connections open an empty database at once: each waits on the
    migration's advisory lock, one creates the tables, none fails."""
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def open_one() -> None:
        try:
            start.wait()
            PostgresStateStore(postgres_url).close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(postgres_url) as raw:
        assert raw.execute("SELECT count(*) FROM hub_schema").fetchone() == (1,)


def test_keys_come_back_in_pythons_order_whatever_the_locale(
    postgres: Cluster, postgres_url: str
) -> None:
    """The planner merges the store's keys with the projection's, both by
    key: on a database whose default collation is linguistic (ICU, English),
    the store still orders keys as Python sorts strings."""
    name = postgres.create_database("hub_icu")
    with psycopg.connect(postgres.url(), autocommit=True) as raw:
        raw.execute(f'DROP DATABASE "{name}"')
        raw.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu'
            " ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    keys = ["b", "B", "a", "_x", "é", "Z1", "z", "a:1", "a-1", "aa"]
    with PostgresStateStore(postgres.url(name)) as store:
        run = store.start_run("crm", "mirror")
        store.confirm(run, "crm", CONTACT, [Confirmation(k, "f", None, True) for k in keys])
        scanned = [row[0] for row in store.scan_records("crm", CONTACT, None, 100)]
        after = [row[0] for row in store.scan_records("crm", CONTACT, "Z1", 100)]
        iterated = [state.key for state in store.iter_records("crm", CONTACT)]
    assert scanned == iterated == sorted(keys)
    assert after == [k for k in sorted(keys) if k > "Z1"]
    with psycopg.connect(postgres.url(name)) as raw:  # the database really is linguistic
        linguistic = raw.execute("SELECT %s::text < %s::text", ("a", "B")).fetchone()
    assert linguistic == (True,)  # bytewise, "B" < "a"


def test_an_unreachable_server_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql://hub:{PASSWORD}@127.0.0.1:1/hub_state?connect_timeout=2"
    with pytest.raises(StateStoreError) as caught:
        PostgresStateStore(url)
    text = str(caught.value.problem)
    assert "postgresql://127.0.0.1:1/hub_state" in text
    assert PASSWORD not in text
    assert caught.value.problem.key == "state.url"


def test_a_wrong_password_is_refused_without_echoing_it(postgres: Cluster) -> None:
    url = postgres.url().replace(PASSWORD, "not-the-password-42")
    with pytest.raises(StateStoreError) as caught:
        PostgresStateStore(url)
    text = str(caught.value.problem)
    assert "password authentication failed" in text
    assert "not-the-password-42" not in text


def test_the_password_may_come_from_pgpassword(
    postgres: Cluster, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = postgres_url.replace(f":{PASSWORD}@", "@")
    assert PASSWORD not in bare
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with PostgresStateStore(bare) as store:
        assert store.runs() == []


def test_a_lost_connection_fails_one_call_and_is_reopened(postgres_url: str) -> None:
    """The server ends the store's session (a restart, a failover): the call
    that finds it gone raises a state error and writes nothing; the next
    call opens a new connection and finds what was confirmed before."""
    with PostgresStateStore(postgres_url) as store:
        run = store.start_run("crm", "mirror")
        store.confirm(run, "crm", CONTACT, [Confirmation("c1", "f1", "1", True)])
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'connector-hub'"
            )
        with pytest.raises(StateStoreError, match="cannot be used"):
            store.confirm(run, "crm", CONTACT, [Confirmation("c2", "f2", "2", True)])
        states = store.get_many("crm", CONTACT, ["c1", "c2"])
    assert set(states) == {"c1"}


def test_messages_show_host_port_and_database_only() -> None:
    assert (
        shown_url("postgresql://hub:s3cret@db.internal:6543/state?sslmode=require")
        == "postgresql://db.internal:6543/state"
    )
    assert shown_url("postgres://db/state") == "postgresql://db/state"
