"""SQL sources against a temporary SQLite file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from hub.config.settings import HubSettings
from hub.errors import ConfigError
from hub.sources import normalize
from hub.sources.loading import LoadResult, load


def _database(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        CREATE TABLE people (id INTEGER, mail TEXT, plan TEXT, seats INTEGER, score REAL);
        INSERT INTO people VALUES (1, 'a@acme.io', 'pro', 3, 0.5);
        INSERT INTO people VALUES (2, NULL, NULL, NULL, NULL);
        INSERT INTO people VALUES (NULL, 'x@acme.io', NULL, NULL, NULL);
        INSERT INTO people VALUES (4, 'broken', NULL, NULL, NULL);
        INSERT INTO people VALUES (1, 'again@acme.io', NULL, NULL, NULL);
        CREATE TABLE orgs (id TEXT, name TEXT, stage TEXT);
        INSERT INTO orgs VALUES ('a1', 'Acme', 'customer');
        CREATE TABLE seats (uid INTEGER, aid TEXT, role TEXT, joined TEXT);
        INSERT INTO seats VALUES (1, 'a1', 'admin', '2024-01-01');
        INSERT INTO seats VALUES (2, 'a1', NULL, NULL);
        INSERT INTO seats VALUES (9, 'a1', 'member', NULL);
        """
    )
    connection.commit()
    connection.close()


QUERIES = {
    "users": "SELECT id AS user_id, mail AS email, plan, seats, score FROM people ORDER BY rowid",
    "accounts": "SELECT id AS account_id, name, stage FROM orgs",
    "memberships": "SELECT uid AS user_id, aid AS account_id, role, joined AS joined_at FROM seats",
}


def _load(tmp_path: Path, source: dict[str, Any]) -> LoadResult:
    return load(HubSettings.model_validate({"sources": {"app": source}}), tmp_path)


def test_sql_rows_follow_the_conventions(tmp_path: Path) -> None:
    _database(tmp_path / "app.db")
    # a relative SQLite path is relative to base_dir (the directory of hub.toml)
    result = _load(tmp_path, {"kind": "sql", "url": "sqlite:///app.db", "queries": QUERIES})
    users = result.dataset.users
    assert list(users) == ["1", "2"]
    assert users["1"].email == "a@acme.io"
    assert users["1"].traits == {"plan": "pro", "seats": 3, "score": 0.5}
    assert users["2"].email is None
    account = result.dataset.accounts["a1"]
    assert (account.name, account.stage) == ("Acme", "customer")
    membership = result.dataset.memberships[("1", "a1")]
    assert (membership.role, dict(membership.properties)) == ("admin", {"joined_at": "2024-01-01"})
    assert [(row.table, row.location, row.reason) for row in result.quarantine] == [
        ("users", "source app, query users, row 3", "missing user_id"),
        ("users", "source app, query users, row 4", "malformed email 'broken'"),
        (
            "users",
            "source app, query users, row 5",
            "duplicate user_id 1, first seen at source app, query users, row 1",
        ),
        ("memberships", "source app, query memberships, row 2", "missing role"),
        ("memberships", "source app, query memberships, row 3", "unknown user 9"),
    ]
    assert result.counts == {"users": 2, "accounts": 1, "memberships": 1, "events": 0}


def test_sql_timestamps_become_utc(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    metadata = sqlalchemy.MetaData()
    events = sqlalchemy.Table(
        "events",
        metadata,
        sqlalchemy.Column("name", sqlalchemy.String),
        sqlalchemy.Column("at", sqlalchemy.DateTime),
        sqlalchemy.Column("org", sqlalchemy.String),
    )
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            events.insert(),
            [
                {"name": "paid", "at": datetime(2024, 1, 2, 3, 4, 5), "org": "a1"},
                {"name": "paid", "at": None, "org": "a1"},
            ],
        )
    engine.dispose()
    queries = {
        "accounts": "SELECT 'a1' AS account_id",
        # SQLite hands back DateTime columns as ISO text: parsed, naive taken as UTC
        "events": "SELECT name AS event, at AS timestamp, org AS account_id FROM events",
    }
    result = _load(tmp_path, {"kind": "sql", "url": f"sqlite:///{path}", "queries": queries})
    (event,) = result.dataset.events
    assert event.timestamp == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert event.account_id == "a1" and event.user_id is None
    assert [(row.location, row.reason) for row in result.quarantine] == [
        ("source app, query events, row 2", "missing timestamp")
    ]


def test_failing_queries_are_config_errors_naming_each_query(tmp_path: Path) -> None:
    _database(tmp_path / "app.db")
    queries = {
        "users": "SELECT * FROM nowhere",
        "accounts": "SELECT name FROM orgs",
        "memberships": QUERIES["memberships"],
    }
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, {"kind": "sql", "url": "sqlite:///app.db", "queries": queries})
    problems = caught.value.problems
    assert [p.key for p in problems] == [
        "sources.app.queries.users",
        "sources.app.queries.accounts",
    ]
    assert "no such table: nowhere" in problems[0].message
    assert problems[1].message == "the query's result has no account_id column"


def test_bad_url_and_missing_sqlite_file_are_config_errors(tmp_path: Path) -> None:
    settings = HubSettings.model_validate(
        {
            "sources": {
                "one": {"kind": "sql", "url": "not a url s3cret", "queries": QUERIES},
                "two": {"kind": "sql", "url": "sqlite:///missing.db", "queries": QUERIES},
            }
        }
    )
    with pytest.raises(ConfigError) as caught:
        load(settings, tmp_path)
    problems = caught.value.problems
    assert [p.key for p in problems] == ["sources.one.url", "sources.two.url"]
    assert problems[0].message == "not a database URL"
    assert "s3cret" not in str(caught.value)
    assert problems[1].message == f"database file not found: {tmp_path / 'missing.db'}"
    assert not (tmp_path / "missing.db").exists()


def test_database_datetimes_become_utc() -> None:
    naive = datetime(2024, 1, 2, 3, 4, 5)
    aware = datetime(2024, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert normalize(naive) == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert normalize(naive).tzinfo is UTC
    assert normalize(aware).tzinfo is UTC
    assert normalize(aware).hour == 3
    assert normalize("2024-01-02") == "2024-01-02"
    assert normalize(3) == 3
