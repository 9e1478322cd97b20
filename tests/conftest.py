"""Fixtures every test directory may use: a real PostgreSQL server.

``postgres`` starts one throwaway server for the whole session (the
distribution's binaries, :mod:`pgcluster`) the first time a test asks for
it, and stops it at the end; ``postgres_url`` gives each test a database of
its own on it. A machine without the server binaries fails these tests with
the package to install: they are never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pgcluster import Cluster, PostgresMissing


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    try:
        cluster = Cluster().start()
    except PostgresMissing as missing:
        pytest.fail(str(missing), pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres: Cluster) -> str:
    """The URL of a new, empty database on the session's server."""
    return postgres.url(postgres.create_database())


@pytest.fixture(params=["sqlite", "postgresql"])
def state_database(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a store of the state (records, locks, playbooks) lives, once per
    backend: a SQLite file's path, then a PostgreSQL database's URL."""
    if request.param == "sqlite":
        return tmp_path / "state.db"
    url: str = request.getfixturevalue("postgres_url")
    return url
