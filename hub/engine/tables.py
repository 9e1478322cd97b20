"""The data set as integer tables in DuckDB.

- ``users(u, urank, real, <column>...)``: one row per user, ``u`` its position
  in the data set, ``urank`` its id's position among the user ids sorted,
  ``real`` false for a user only a membership names, and a column of value
  ids per user attribute a rule reads (``u0``, ``u1``, ...);
- ``accounts(a, real, <column>...)``: one row per account (``real`` as for
  users), with a column of value ids per account attribute a rule reads
  (``a0``, ``a1``, ...);
- ``m(u, a, <column>...)``: one row per membership; ``a`` is the account's
  position among the account ids *sorted* (so ``ORDER BY a`` is the order of
  account ids, the rules' tie-break), and each relationship attribute a rule
  reads is a column of value ids (:mod:`hub.engine.values`), named ``c0``,
  ``c1``, ... (:meth:`Tables.column`);
- ``e(u, a, t, n)``: every event, ``u`` and ``a`` its user and account
  (``NULL`` when it names none, or one the data set does not hold), ``t`` its
  time in microseconds since the epoch (UTC), ``n`` its name's value id.

The connection is in memory and spills to a temporary directory of its own
(removed by :meth:`Tables.close`, or when the tables are collected) when a
set is larger than the memory DuckDB is given. A process killed before it
closes its tables leaves its directory behind: the next tables made on the
same host remove every such directory whose process is gone
(:func:`remove_stale_spills`).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from pathlib import Path
from typing import Any, Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from hub.engine.values import Values
from hub.model import Dataset
from hub.projections.resolver import window_start
from hub.sources import arange
from hub.sources.frame import Frame
from hub.values import utc

__all__ = ["EPOCH", "Tables", "micros", "remove_stale_spills", "window_micros"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """``moment`` (naive taken as UTC) in whole microseconds since the epoch."""
    return (utc(moment) - EPOCH) // _MICROSECOND


def window_micros(as_of: datetime, window_days: int | None) -> int | None:
    """The first microsecond of a window of ``window_days`` ending at ``as_of``
    (:func:`hub.projections.resolver.window_start`); ``None``: no lower bound."""
    start = window_start(as_of, window_days)
    return None if start is None else micros(start)


_user_id_of = attrgetter("user_id")
_account_id_of = attrgetter("account_id")


def _positions(keys: pa.Array, ids: pa.Array) -> pa.Array:
    """The position of each of ``keys`` among ``ids`` (null for a null key): the
    frame's counterpart of :func:`_index`."""
    return pc.index_in(keys, value_set=ids).cast(pa.int64())


def _index(index: dict[str, int], key: str | None) -> int | None:
    return None if key is None else index.get(key)


#: Spill directories are ``hub-engine-<host>-<pid>-<random>``.
_SPILL_PREFIX: Final = "hub-engine-"


def _host() -> str:
    """This host's name as a spill directory holds it (no ``-``, no separator)."""
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_spills(directory: Path | None = None) -> list[Path]:
    """Remove the spill directories left by processes of this host that are
    gone (killed before they closed their tables); returns those removed.

    Only directories named for this host are considered: a temporary
    directory shared with other hosts or containers keeps theirs, whose
    processes this one cannot see. A directory that cannot be removed (another
    user's) is left as it is."""
    root = Path(directory if directory is not None else tempfile.gettempdir())
    mine = f"{_SPILL_PREFIX}{_host()}-"
    removed: list[Path] = []
    try:
        candidates = [path for path in root.iterdir() if path.name.startswith(mine)]
    except OSError:
        return removed
    for path in candidates:
        pid_text = path.name[len(mine) :].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _alive(int(pid_text)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
    return removed


class Tables:
    """A data set's users, accounts, memberships and events, as integer tables."""

    def __init__(
        self,
        dataset: Dataset | Frame,
        relationship: Iterable[str] = (),
        *,
        user: Iterable[str] = (),
        account: Iterable[str] = (),
        events: bool = False,
        connection: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        #: Where DuckDB spills what does not fit in its memory: a directory of
        #: its own, removed with these tables (DuckDB's default is ``.tmp`` in
        #: the working directory, which is the user's project).
        remove_stale_spills()
        self._spill = tempfile.TemporaryDirectory(prefix=f"{_SPILL_PREFIX}{_host()}-{os.getpid()}-")
        self.connection = (
            connection
            if connection is not None
            else duckdb.connect(config={"temp_directory": self._spill.name})
        )
        #: The relationship attributes ``m`` has a column of, in column order.
        self.relationship: tuple[str, ...] = tuple(dict.fromkeys(relationship))
        #: The user and account attributes ``users`` and ``accounts`` have columns of.
        self.user: tuple[str, ...] = tuple(dict.fromkeys(user))
        self.account: tuple[str, ...] = tuple(dict.fromkeys(account))
        #: Facet tables the rule queries share while these tables live (two
        #: lists of the same entries read one), by what they are made of.
        self.facets: dict[tuple[Any, ...], Any] = {}
        if isinstance(dataset, Frame):
            self._of_frame(dataset, events)
            return
        self.values = Values()
        memberships = dataset.memberships.values()
        # A membership may name a user or an account the data set does not hold
        # (a data set handed in through the API; sources quarantine those): it
        # is kept, as the per-record rules keep it, with a "phantom" user or
        # account whose every attribute is missing and which gets no record.
        phantom_users = sorted(set(map(_user_id_of, memberships)) - dataset.users.keys())
        #: ``user_ids[u]``: the id of user ``u``, in the data set's order, then
        #: the phantom users' (those below :attr:`real_users` are the data set's).
        self.user_ids: list[str] = [*dataset.users, *phantom_users]
        self.real_users = len(dataset.users)
        #: ``account_ids[a]``: the account ids, sorted (phantoms among them).
        self.account_ids: list[str] = sorted(
            dataset.accounts.keys() | set(map(_account_id_of, memberships))
        )
        #: Whether account ``a`` is the data set's (not a phantom).
        self.real_accounts: list[bool] = [a in dataset.accounts for a in self.account_ids]
        user_index = {user_id: u for u, user_id in enumerate(self.user_ids)}
        account_index = {account_id: a for a, account_id in enumerate(self.account_ids)}
        columns: dict[str, pa.Array] = {
            "u": pa.array([user_index[m.user_id] for m in memberships], pa.int64()),
            "a": pa.array([account_index[m.account_id] for m in memberships], pa.int64()),
        }
        ids = self.values.ids
        for name in self.relationship:
            columns[self.column(name)] = ids([m.get(name) for m in memberships])
        self._register("m", pa.table(columns))
        ranks = sorted(range(len(self.user_ids)), key=self.user_ids.__getitem__)
        urank = [0] * len(ranks)
        for position, u in enumerate(ranks):
            urank[u] = position
        user_columns: dict[str, pa.Array] = {
            "u": arange(0, len(self.user_ids)),
            "urank": pa.array(urank, pa.int64()),
            "real": pa.array([u < self.real_users for u in range(len(self.user_ids))], pa.bool_()),
        }
        users = list(dataset.users.values())
        missing = [None] * len(phantom_users)
        for i, name in enumerate(self.user):
            user_columns[f"u{i}"] = ids([*(x.get(name) for x in users), *missing])
        self._register("users", pa.table(user_columns))
        account_columns: dict[str, pa.Array] = {
            "a": arange(0, len(self.account_ids)),
            "real": pa.array(self.real_accounts, pa.bool_()),
        }
        accounts = [dataset.accounts.get(x) for x in self.account_ids]
        for i, name in enumerate(self.account):
            account_columns[f"a{i}"] = ids([None if x is None else x.get(name) for x in accounts])
        self._register("accounts", pa.table(account_columns))
        if events:
            self._register(
                "e",
                pa.table(
                    {
                        "u": pa.array(
                            [_index(user_index, x.user_id) for x in dataset.events], pa.int64()
                        ),
                        "a": pa.array(
                            [_index(account_index, x.account_id) for x in dataset.events],
                            pa.int64(),
                        ),
                        "t": pa.array([micros(x.timestamp) for x in dataset.events], pa.int64()),
                        "n": ids([x.event for x in dataset.events]),
                    }
                ),
            )

    def _of_frame(self, frame: Frame, events: bool) -> None:
        """The tables of a columnar load (:mod:`hub.sources.frame`): its value ids
        as they are, its keys turned into positions by Arrow's hash joins. A
        frame has no phantoms: its memberships name loaded users and accounts."""
        self.values = frame.values
        user_keys = frame.users.keys["user_id"]
        account_keys = frame.accounts.keys["account_id"]
        self.user_ids = user_keys.to_pylist()
        self.real_users = len(self.user_ids)
        order = pc.sort_indices(account_keys)
        sorted_ids = pc.take(account_keys, order)
        self.account_ids = sorted_ids.to_pylist()
        self.real_accounts = [True] * len(self.account_ids)
        members = frame.memberships
        columns: dict[str, pa.Array] = {
            "u": _positions(members.keys["user_id"], user_keys),
            "a": _positions(members.keys["account_id"], sorted_ids),
        }
        for name in self.relationship:
            columns[self.column(name)] = members.column(name)
        self._register("m", pa.table(columns))
        count = len(self.user_ids)
        user_columns: dict[str, pa.Array] = {
            "u": arange(0, count),
            # The inverse of the sorting permutation: each id's rank.
            "urank": pc.sort_indices(pc.sort_indices(user_keys)).cast(pa.int64()),
            "real": pa.repeat(pa.scalar(True, pa.bool_()), count),
        }
        for i, name in enumerate(self.user):
            user_columns[f"u{i}"] = frame.users.column(name)
        self._register("users", pa.table(user_columns))
        account_columns: dict[str, pa.Array] = {
            "a": arange(0, len(self.account_ids)),
            "real": pa.array(self.real_accounts, pa.bool_()),
        }
        for i, name in enumerate(self.account):
            account_columns[f"a{i}"] = pc.take(frame.accounts.column(name), order)
        self._register("accounts", pa.table(account_columns))
        if events:
            happened = frame.events
            self._register(
                "e",
                pa.table(
                    {
                        "u": _positions(happened.keys["user_id"], user_keys),
                        "a": _positions(happened.keys["account_id"], sorted_ids),
                        "t": happened.keys["t"],
                        "n": happened.column("event"),
                    }
                ),
            )

    def close(self) -> None:
        """Close the connection and remove the spill directory."""
        self.connection.close()
        self._spill.cleanup()

    def column(self, name: str) -> str:
        """The column of ``m`` holding relationship attribute ``name`` (``c0``,
        ``c1``, ...: a mapping's names never become SQL)."""
        return f"c{self.relationship.index(name)}"

    def qualified(self, namespace: str, name: str) -> str:
        """The qualified column of attribute ``name`` of a ``user``, ``account``
        or ``relationship`` (``users.u0``, ``accounts.a1``, ``m.c2``)."""
        if namespace == "user":
            return f"users.u{self.user.index(name)}"
        if namespace == "account":
            return f"accounts.a{self.account.index(name)}"
        return f"m.{self.column(name)}"

    def _register(self, name: str, table: pa.Table) -> None:
        self.connection.register(f"_{name}_arrow", table)
        self.connection.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _{name}_arrow")
        self.connection.unregister(f"_{name}_arrow")

    def facet(
        self, name: str, attribute: str, function: Callable[[Any], Any], type_: pa.DataType
    ) -> None:
        """Create table ``name(id, facet)``: ``function`` of each distinct value of
        relationship attribute ``attribute`` (:meth:`hub.engine.values.Values.facet`)."""
        column = self.column(attribute)
        ids = self.connection.execute(f"SELECT DISTINCT {column} FROM m").fetchall()
        self._register(name, self.values.facet((row[0] for row in ids), function, type_))
