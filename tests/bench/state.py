"""Benchmark: the state store's confirms and reads, SQLite beside PostgreSQL.

    python tests/bench/state.py 1000000 [--batch 500]

For N records (the 1M benchmark's contacts, by default one million), in one
run on each backend, each store opened fresh:

1. ``confirm``: a first sync's confirmations, ``--batch`` records a
   transaction (the outbox's upsert batch), through
   :meth:`~hub.state.sql.SqlStateStore.confirm`, as the executor calls it;
2. ``confirm again``: the same keys with new fingerprints (a changed run's
   updates of existing rows);
3. ``scan``: the planner's merge pass, every record by key in pages of 5,000
   (:meth:`~hub.state.sql.SqlStateStore.scan_records`);
4. ``end states``: the executor's reads of link ends, 1,000 keys a call.

SQLite is the embedded file (WAL, ``synchronous=NORMAL``); PostgreSQL a
throwaway server of the distribution's binaries (``tests/pgcluster.py``) with
its durable defaults (``fsync`` and synchronous commit on), on 127.0.0.1 over
TCP. Each line gives wall seconds, the hub process's CPU seconds (the
server's own CPU is not in them) and records per second of wall time. This
machine is shared and noisy: compare the two backends of one run.
Figures are printed, never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from pgcluster import Cluster  # noqa: E402

from hub.contract.destination import BatchObject  # noqa: E402
from hub.state import Confirmation  # noqa: E402
from hub.state.postgres import PostgresStateStore  # noqa: E402
from hub.state.sql import SqlStateStore  # noqa: E402
from hub.state.sqlite import SqliteStateStore  # noqa: E402

CONTACT = BatchObject.CONTACT


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _phase(label: str, records: int, work: Callable[[], None]) -> None:
    wall, cpu = time.perf_counter(), _cpu()
    work()
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    print(f"    {label:<14} {wall:7.1f} s wall {cpu:7.1f} s CPU {records / wall:>10,.0f} /s")


def _bench(name: str, store: SqlStateStore, n: int, batch: int) -> None:
    print(f"  {name}")
    keys = [f"u{i:08d}" for i in range(n)]
    digest = [hashlib.sha256(key.encode()).hexdigest() for key in keys]
    run = store.start_run("crm", "mirror")

    def confirm(suffix: str) -> Callable[[], None]:
        def work() -> None:
            for start in range(0, n, batch):
                store.confirm(
                    run,
                    "crm",
                    CONTACT,
                    [
                        Confirmation(keys[i], digest[i] + suffix, f"id{i}", True)
                        for i in range(start, min(start + batch, n))
                    ],
                )

        return work

    def scan() -> None:
        after: str | None = None
        seen = 0
        while rows := store.scan_records("crm", CONTACT, after, 5000):
            seen += len(rows)
            after = rows[-1][0]
        assert seen == n, seen

    def ends() -> None:
        for start in range(0, n, 1000):
            found = store.end_states("crm", CONTACT, keys[start : start + 1000])
            assert len(found) == min(1000, n - start)

    _phase("confirm", n, confirm(""))
    _phase("confirm again", n, confirm("x"))
    _phase("scan", n, scan)
    _phase("end states", n, ends)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    print(f"{args.n:,} records, {args.batch} a transaction")
    with (
        tempfile.TemporaryDirectory() as tmp,
        SqliteStateStore(Path(tmp) / "state.db") as store,
    ):
        _bench("SQLite (WAL, synchronous=NORMAL)", store, args.n, args.batch)
    with Cluster(durable=True) as cluster:
        url = cluster.url(cluster.create_database("bench"))
        with PostgresStateStore(url) as store:
            _bench("PostgreSQL 127.0.0.1 (fsync, synchronous_commit on)", store, args.n, args.batch)


if __name__ == "__main__":
    main()
