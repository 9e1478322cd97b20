"""The state store on PostgreSQL (``[state] url = "postgresql://..."``).

For a team past one machine: several daemons, on one host or many, share one
database as their coordination point. The store is the same as the embedded
one (:class:`hub.state.sql.SqlStateStore`: the same tables, statements and
semantics), through psycopg 3:

- **Connection**: ``postgresql://USER@HOST:PORT/DATABASE`` (or
  ``postgres://``), any libpq parameter after ``?`` (``sslmode=require``,
  ``options=-csearch_path%3Dhub`` for a schema of its own). The password is
  a secret: give it in the environment, either the whole URL as
  ``HUB_STATE__URL`` or libpq's own ``PGPASSWORD`` / ``PGPASSFILE``; a
  password written in hub.toml is refused by ``hub validate``. Messages
  name the host, port and database, never the password.
- **Transactions**: reads run in autocommit; every write method is one
  transaction (``READ COMMITTED``), so a batch's confirmations land together
  or not at all, as in SQLite.
- **Schema**: :data:`hub.state.schema.MIGRATIONS` in the PostgreSQL dialect;
  the version is kept in ``hub_schema``. Migrations take an advisory lock, so
  daemons starting together migrate once. A database from a newer hub is
  refused.
- **Keys** compare bytewise (``COLLATE "C"``), whatever the database's
  locale: the planner merges them in Python's order.
- **Lost connections** (a server restart, a failover) are reopened on the
  next call; the call that found the connection gone raises
  :class:`~hub.errors.StateStoreError`, and what it wrote is rolled back, so
  the run re-sends exactly the unconfirmed batch next time.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import urlsplit

from hub.contract.destination import BatchObject
from hub.errors import ConfigError, Problem, StateStoreError
from hub.redaction import redact
from hub.state.database import Cursor, Writer
from hub.state.schema import SCHEMA_VERSION, Dialect, refuse_newer, statements
from hub.state.sql import CONFIRM_COLUMNS, CONFIRMED, SqlStateStore, _now
from hub.state.store import Confirmation

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "POSTGRES_SCHEMES",
    "PostgresDatabase",
    "PostgresStateStore",
    "connect",
    "is_postgres_url",
    "migrate",
    "shown_url",
]

T = TypeVar("T")

#: The URL schemes of a PostgreSQL state store.
POSTGRES_SCHEMES: Final = ("postgresql", "postgres")

#: A batch of confirmations in one statement (:meth:`PostgresStateStore.confirm`).
_CONFIRM_MANY: Final = (
    CONFIRM_COLUMNS
    + """
SELECT ?, ?, t.key, t.fingerprint, NULL, t.destination_id, 'ok', 0, NULL, t.created, ?
FROM unnest(?::text[], ?::text[], ?::text[], ?::integer[])
    AS t (key, fingerprint, destination_id, created)"""
    + CONFIRMED
)

#: Records a store writes before it first analyzes ``records`` (see
#: :meth:`PostgresStateStore._wrote`).
_ANALYZE_FIRST: Final = 20_000

#: The advisory lock migrations take (any fixed 64-bit number: "hubschem").
_MIGRATION_LOCK: Final = 0x6875627363686D


def is_postgres_url(url: str) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL."""
    scheme, sep, _ = url.partition("://")
    return bool(sep) and scheme.lower() in POSTGRES_SCHEMES


def shown_url(url: str) -> str:
    """``url`` as messages show it: ``postgresql://HOST:PORT/DATABASE``, no
    user, password or parameters."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "postgresql://(unreadable URL)"
    return f"postgresql://{host}{port}{parts.path or '/'}"


def _driver() -> Any:
    """psycopg, or a :class:`ConfigError` saying how to install it."""
    try:
        import psycopg
    except ImportError:
        raise ConfigError(
            [
                Problem(
                    "a PostgreSQL state store needs psycopg, which is not installed",
                    key="state.url",
                    hint="pip install 'connector-hub[postgres]'",
                )
            ]
        ) from None
    return psycopg


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A psycopg connection to ``url`` as the hub opens them all (its
    application name, a 10 s connect timeout); the driver's errors as they are."""
    connection: psycopg.Connection[Any] = _driver().connect(
        url, autocommit=autocommit, connect_timeout=10, application_name="connector-hub"
    )
    return connection


@functools.lru_cache(maxsize=512)
def _native(sql: str) -> str:
    """``sql`` with ``?`` placeholders in psycopg's ``%s`` style."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Writer:
    """A transaction on a psycopg connection, speaking ``?`` placeholders."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor:
        return self._connection.execute(_native(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> None:
        with self._connection.cursor() as cursor:
            cursor.executemany(_native(sql), rows)


def driver_error(shown: str, error: Exception, *, refused: bool = True) -> StateStoreError:
    """A secret-free :class:`StateStoreError` for a driver error on the store
    ``shown`` (:func:`shown_url`); ``refused``: a sync stopped at it."""
    text = str(error).strip()
    first = redact(text.splitlines()[0] if text else type(error).__name__)
    return StateStoreError(
        Problem(
            f"the PostgreSQL state store {shown} cannot be used ({first})"
            + ("; nothing more was sent" if refused else ""),
            key="state.url",
            hint="check that the server is up and reachable, the database exists and the"
            " user may use it (the password from HUB_STATE__URL or PGPASSWORD)",
        )
    )


class PostgresDatabase:
    """:class:`~hub.state.database.Database` on one psycopg connection to
    ``url``, opened now (and again after it is lost). ``setup`` runs on each
    new connection (the schema). ``serialize``: an advisory lock every write
    transaction takes first, so that writers of those tables run one at a time
    as SQLite's ``BEGIN IMMEDIATE`` makes them (the daemons' locks read a
    holder, then write)."""

    dialect: Dialect = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        setup: Callable[[psycopg.Connection[Any]], object] | None = None,
        serialize: int | None = None,
    ) -> None:
        self.url = url
        self._serialize = serialize
        self.shown = shown_url(url)
        self.lock = threading.RLock()
        self._setup = setup
        self._connection: psycopg.Connection[Any] | None = None
        with self.lock:
            self._open()

    def _open(self) -> psycopg.Connection[Any]:
        driver = _driver()
        try:
            connection = connect(self.url)
        except driver.Error as error:
            raise self._error(error) from None
        try:
            if self._setup is not None:
                self._setup(connection)
        except driver.Error as error:
            connection.close()
            raise self._error(error) from None
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _live(self) -> psycopg.Connection[Any]:
        connection = self._connection
        if connection is None or connection.closed:
            return self._open()
        return connection

    def _error(self, error: Exception) -> StateStoreError:
        return driver_error(self.shown, error)

    def _about_the_server(self, error: Exception) -> bool:
        """True for what the server or the network causes; the code's own
        mistakes (a constraint, bad SQL) are raised as they are."""
        psycopg = _driver()
        return isinstance(error, psycopg.OperationalError | psycopg.errors.InsufficientPrivilege)

    @contextmanager
    def _talking(self) -> Iterator[psycopg.Connection[Any]]:
        """The live connection, under the lock; what the server or the network
        does wrong comes out as a :class:`StateStoreError`."""
        with self.lock:
            connection = self._live()
            try:
                yield connection
            except Exception as error:
                if not self._about_the_server(error):
                    raise
                raise self._error(error) from None

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._talking() as connection:
            return connection.execute(_native(sql), tuple(params)).fetchall()

    def write(self, work: Callable[[Writer], T]) -> T:
        with self.transaction() as writer:
            return work(writer)

    @contextmanager
    def transaction(self) -> Iterator[Writer]:
        with self._talking() as connection, connection.transaction():
            if self._serialize is not None:
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (self._serialize,))
            yield _Writer(connection)

    def command(self, sql: str) -> None:
        """Run one statement outside a transaction (``ANALYZE``)."""
        with self._talking() as connection:
            connection.execute(sql)

    def close(self) -> None:
        with self.lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


def _exists(connection: psycopg.Connection[Any], table: str) -> bool:
    """True when the connection's search path holds ``table``."""
    found = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(found and found[0])


def schema_version(connection: psycopg.Connection[Any]) -> int:
    """The version ``hub_schema`` holds (0: a database the hub never used)."""
    if not _exists(connection, "hub_schema"):
        return 0
    row = connection.execute("SELECT max(version) FROM hub_schema").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(connection: psycopg.Connection[Any]) -> int:
    """Bring the database's schema to :data:`SCHEMA_VERSION`; returns the
    version found. Each step is one transaction holding the migration's
    advisory lock, so processes starting together apply it once."""
    found = schema_version(connection)
    refuse_newer(found)
    for version in range(found, SCHEMA_VERSION):
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            connection.execute("CREATE TABLE IF NOT EXISTS hub_schema (version INTEGER NOT NULL)")
            current = schema_version(connection)
            refuse_newer(current)
            if current == version:
                for statement in statements(version, "postgresql"):
                    connection.execute(statement)
                connection.execute("DELETE FROM hub_schema")
                connection.execute("INSERT INTO hub_schema (version) VALUES (%s)", (version + 1,))
    return found


class PostgresStateStore(SqlStateStore):
    """The :class:`~hub.state.StateStore` in the PostgreSQL database at ``url``
    (migrated on opening). ``clock`` returns the current time (tests inject one)."""

    def __init__(self, url: str, *, clock: Callable[[], datetime] = _now) -> None:
        self.url = url
        self.database = PostgresDatabase(url, setup=migrate)
        super().__init__(self.database, clock=clock)
        #: Records written since the last ``ANALYZE``, and how many call for the next.
        self._written = 0
        self._analyze_at = _ANALYZE_FIRST

    def _key_match(self, count: int) -> str:
        # One array parameter, whatever the number of keys.
        return "= ANY (?)"

    def _key_params(self, keys: list[str]) -> Sequence[Any]:
        return (keys,)

    def confirm(
        self,
        run_id: int,
        destination: str,
        object: BatchObject,
        confirmations: Sequence[Confirmation],
    ) -> None:
        """One statement a batch: the confirmations' columns as arrays,
        ``unnest``-ed into the upsert (a batch of 500 in one round trip, not
        500). A batch naming a key twice (the upsert may not touch a row
        twice) goes one row at a time, as in SQLite."""
        keys = [c.key for c in confirmations]
        if len(set(keys)) != len(keys):
            super().confirm(run_id, destination, object, confirmations)
        else:
            columns = (
                keys,
                [c.fingerprint for c in confirmations],
                [c.destination_id for c in confirmations],
                [int(c.created) for c in confirmations],
            )

            def work(db: Writer) -> None:
                db.execute(_CONFIRM_MANY, (destination, object.value, run_id, *columns))

            self._write(work)
        self._wrote(len(confirmations))

    def _wrote(self, count: int) -> None:
        """Keep the server's statistics up with a first sync's inserts.

        A first sync writes millions of records within minutes, before
        autovacuum's next look; with the statistics of an empty table, the
        server's planner may read each batch of keys by scanning the
        destination's every record. So the store analyzes ``records`` itself
        each time the records it wrote double (a handful of times per run)."""
        self._written += count
        if self._written >= self._analyze_at:
            self.database.command("ANALYZE records")
            self._analyze_at = max(_ANALYZE_FIRST, self._written * 2)


def database_problems(url: str) -> list[Problem]:
    """What keeps the PostgreSQL store at ``url`` from being used, found
    without changing anything: psycopg missing, the server unreachable, the
    login refused, a schema from a newer hub. ``hub validate`` reports these."""
    try:
        psycopg = _driver()
    except ConfigError as error:
        return list(error.problems)
    try:
        with connect(url) as connection:
            found = schema_version(connection)
    except psycopg.Error as error:
        return [driver_error(shown_url(url), error, refused=False).problem]
    try:
        refuse_newer(found)
    except StateStoreError as error:
        return [error.problem]
    return []


def existing_tables(url: str, names: Sequence[str]) -> set[str]:
    """Which of the tables ``names`` the database at ``url`` holds, read
    without creating anything (dry runs and reports on a new database)."""
    psycopg = _driver()
    try:
        with connect(url) as connection:
            return {name for name in names if _exists(connection, name)}
    except psycopg.Error as error:
        raise driver_error(shown_url(url), error, refused=False) from None
