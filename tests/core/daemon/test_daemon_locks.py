"""Sync locks in the state store: one holder at a time, all or none, expiry
of a crashed holder's lock, and two processes (and two daemons) never running
the same sync together. The lock tests run on both backends: a SQLite file
and a PostgreSQL database (a real server, ``tests/conftest.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from itertools import pairwise
from pathlib import Path

import pytest
from daemon_support import make_project, wait_until

from hub.daemon import Daemon
from hub.state import RunStatus
from hub.state.locks import LockHeartbeat, SyncLocks
from hub.state.sqlite import SqliteStateStore


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def path(state_database: Path | str) -> Path | str:
    """Where the locks live: a SQLite file's path, or a PostgreSQL URL."""
    return state_database


def test_one_holder_at_a_time_and_all_or_none(path: Path | str) -> None:
    with SyncLocks(path) as a, SyncLocks(path) as b:
        assert a.acquire(["destination:crm"], "A", ttl=30) == (True, [])
        ok, holders = b.acquire(["destination:crm"], "B", ttl=30)
        assert not ok and [(h.name, h.owner) for h in holders] == [("destination:crm", "A")]
        # All or none: crm is taken, so mailer is not taken either.
        ok, _ = b.acquire(["destination:mailer", "destination:crm"], "B", ttl=30)
        assert not ok
        assert [h.name for h in a.holders()] == ["destination:crm"]
        assert b.acquire(["destination:mailer"], "B", ttl=30)[0]
        # The holder may take it again (renewal); others' release does nothing.
        assert a.acquire(["destination:crm"], "A", ttl=30)[0]
        b.release(["destination:crm"], "B")
        assert {h.name: h.owner for h in a.holders()} == {
            "destination:crm": "A",
            "destination:mailer": "B",
        }
        a.release(["destination:crm"], "A")
        assert b.acquire(["destination:crm"], "B", ttl=30)[0]
        b.release_all("B")
        assert a.holders() == []


def test_a_crashed_holders_lock_expires_and_the_holder_learns_it_lost_it(
    path: Path | str,
) -> None:
    clock = FakeClock()
    with SyncLocks(path, clock=clock) as a, SyncLocks(path, clock=clock) as b:
        assert a.acquire(["destination:crm"], "A", ttl=10)[0]
        clock.now += 9
        assert a.renew(["destination:crm"], "A", ttl=10) == []  # heartbeat
        clock.now += 9.5
        assert not b.acquire(["destination:crm"], "B", ttl=10)[0]  # renewed: still A's
        clock.now += 1  # 10.5 s since A's last heartbeat: expired
        ok, taken_over = b.acquire(["destination:crm"], "B", ttl=10)
        assert ok and [h.owner for h in taken_over] == ["A"]
        assert a.renew(["destination:crm"], "A", ttl=10) == ["destination:crm"]


def test_schedule_marks(path: Path | str) -> None:
    with SyncLocks(path) as locks:
        assert locks.mark("crm") is None
        locks.mark_started("crm", 100.0)
        locks.mark_finished("crm", 101.0, "succeeded", success=True)
        locks.mark_started("crm", 200.0)
        locks.mark_finished("crm", 201.0, "failed", success=False)
        mark = locks.mark("crm")
        assert mark is not None
        assert (mark.last_started, mark.last_finished, mark.last_status, mark.last_success) == (
            200.0,
            201.0,
            "failed",
            101.0,
        )


HOLDER = """
import json, sys, time
from hub.state.locks import LockHeartbeat, SyncLocks

path, owner, out = sys.argv[1], sys.argv[2], sys.argv[3]
spans = []
locks = SyncLocks(path)
deadline = time.monotonic() + 20
while len(spans) < 15 and time.monotonic() < deadline:
    ok, _ = locks.acquire(["destination:crm"], owner, ttl=30)
    if not ok:
        time.sleep(0.001)
        continue
    start = time.time()
    time.sleep(0.01)
    end = time.time()
    locks.release(["destination:crm"], owner)
    spans.append((start, end))
    time.sleep(0.002)
open(out, "w").write(json.dumps(spans))
"""


def test_two_processes_never_hold_the_same_lock_together(path: Path | str, tmp_path: Path) -> None:
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    SyncLocks(path).close()
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(path), owner, str(tmp_path / f"{owner}.json")]
        )
        for owner in ("A", "B")
    ]
    try:
        for process in processes:
            assert process.wait(timeout=40) == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    spans = [
        (start, end, owner)
        for owner in ("A", "B")
        for start, end in json.loads((tmp_path / f"{owner}.json").read_text())
    ]
    assert len(spans) == 30
    spans.sort()
    for (_, end, _), (start, _, _) in pairwise(spans):
        assert end <= start  # no overlap


def _skipped(daemon: Daemon) -> float:
    """Due runs a daemon left to the other one (locked, or just run by it)."""
    return sum(
        daemon.metrics.registry.get_sample_value(
            "hub_sync_skipped_total", {"sync": "crm", "reason": reason}
        )
        or 0.0
        for reason in ("locked", "ran_elsewhere")
    )


def test_two_daemons_sharing_a_store_never_run_the_same_sync_together(tmp_path: Path) -> None:
    config = make_project(
        tmp_path,
        '[schedules.crm]\ndestinations = ["crm"]\ninterval = "100ms"\n'
        '[daemon]\nlisten = ""\nstop_timeout = "10s"\n',
    )
    daemons = [Daemon(config, install_signals=False) for _ in range(2)]
    threads = [threading.Thread(target=d.run, daemon=True) for d in daemons]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    try:
        # Which daemon wins each slot is a race (under load one may win most of
        # them): what is guaranteed is that both contend and never overlap.
        while time.monotonic() < deadline and not (
            all(d.syncs["crm"].runs + _skipped(d) >= 2 for d in daemons)
            and any(_skipped(d) for d in daemons)
            and sum(d.syncs["crm"].runs for d in daemons) >= 6
        ):
            time.sleep(0.05)
    finally:
        for d in daemons:
            d.request_stop()
        for thread in threads:
            thread.join(timeout=15)
    assert not any(thread.is_alive() for thread in threads)
    # Both took part (ran the sync or found it held by the other), runs were
    # left to the other daemon at times ...
    assert all(d.syncs["crm"].runs + _skipped(d) >= 2 for d in daemons)
    assert any(_skipped(d) > 0 for d in daemons)
    assert sum(d.syncs["crm"].runs for d in daemons) >= 6
    # ... and no run ever met another one running: the store marks a run it
    # finds still running as interrupted, and none is.
    with SqliteStateStore(tmp_path / ".hub" / "state.db") as store:
        runs = store.runs("crm", limit=1000)
    assert len(runs) >= 6
    assert {run.status for run in runs} == {RunStatus.SUCCEEDED}
    spans = sorted((run.started_at, run.finished_at) for run in runs)
    for (_, end), (start, _) in pairwise(spans):
        assert end is not None and end <= start


def test_a_heartbeat_that_cannot_renew_lapses_and_the_holder_stops(
    path: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder asks before each batch: once ``ttl`` has passed without a
    renewal that held (a frozen process, an unreachable store), it must send
    nothing more, even before any renewal says the locks were taken over;
    once a renewal holds again, it may go on."""
    with SyncLocks(path) as locks:
        assert locks.acquire(["destination:crm"], "A", ttl=0.4)[0]
        heartbeat = LockHeartbeat(locks, ["destination:crm"], "A", 0.4)
        try:
            time.sleep(0.5)
            assert not heartbeat.expired()  # renewed every third of the ttl

            def unreachable(*args: object, **kwargs: object) -> list[str]:
                raise OSError("the state store cannot be reached")

            monkeypatch.setattr(locks, "renew", unreachable)
            wait_until(heartbeat.expired, 2.0, "the lease to lapse")
            assert not heartbeat.lost.is_set()  # nobody said it was taken over
            monkeypatch.undo()
            wait_until(lambda: not heartbeat.expired(), 2.0, "a renewal that holds")
        finally:
            heartbeat.stop()
