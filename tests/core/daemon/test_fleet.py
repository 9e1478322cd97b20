"""A fleet: three ``hub daemon`` processes on one PostgreSQL state.

Three webhook destinations share one receiver on 127.0.0.1, and so one
credential and its budget (20 requests in any second, enforced by the
receiver with 429s). Each destination has a schedule of its own; every daemon
runs all three schedules. Mid-run, the daemon holding a lock is SIGKILLed,
and another one SIGSTOPped past its lease, then thawed. Then:

- every record is delivered (the store holds each confirmed, the receiver
  got each final payload, and a fresh plan finds nothing to send);
- none is delivered twice except a batch whose run was cut off before it
  could confirm it;
- no destination is ever sent to by two runs at once (in the receiver's
  order of arrival, a destination's run ids never go back);
- the shared budget holds: under 1% of the requests were answered 429;
- any daemon's ``/fleet`` shows the locks the others hold.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import defaultdict
from pathlib import Path

import psycopg
import pytest
from daemon_support import (
    SECRET,
    DaemonProcess,
    Receiver,
    http_get,
    make_project,
    wait_until,
)
from pgcluster import PASSWORD

from hub.contract.destination import BatchObject
from hub.state import RecordStatus, RunStatus
from hub.state.postgres import PostgresStateStore
from hub.sync import plan, plan_totals

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="POSIX signals")

NAMES = ("d1", "d2", "d3")
TTL = 2.0

DESTINATION = """
[destinations.{name}]
type = "webhook"
mapping = "mappings/{name}.toml"
settings.url = "{url}"
settings.batch_size = 2
settings.requests_per_second = 20

[schedules.{name}]
destinations = ["{name}"]
interval = "1s"
"""

FLEET = """
[state]
url = "{state}"

[daemon]
listen = "127.0.0.1:0"
lock_ttl = "{ttl}s"
stop_timeout = "20s"
"""


def _holders(url: str) -> dict[str, int]:
    """Which process holds each destination's lock now: name -> pid."""
    with psycopg.connect(url) as raw:
        rows = raw.execute(
            "SELECT name, owner, expires_at FROM sync_locks WHERE expires_at > %s", (time.time(),)
        ).fetchall()
    return {str(name).split(":", 1)[1]: int(str(owner).split(":")[1]) for name, owner, _ in rows}


def test_three_daemons_share_one_state_through_a_kill_and_a_freeze(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = postgres_url.replace(f":{PASSWORD}@", "@")
    with Receiver(limit=(20, 1.0)) as receiver:
        receiver.delay = 0.04
        extra = FLEET.format(state=bare, ttl=TTL) + "".join(
            DESTINATION.format(name=name, url=receiver.url) for name in NAMES
        )
        config = make_project(tmp_path, extra)
        mailer = (tmp_path / "mappings" / "mailer.toml").read_text()
        for name in NAMES:
            (tmp_path / "mappings" / f"{name}.toml").write_text(
                mailer.replace('destination = "mailer"', f'destination = "{name}"')
            )
        env = {"PGPASSWORD": PASSWORD}
        env.update({f"HUB_DESTINATIONS__{n.upper()}__SETTINGS__SECRET": SECRET for n in NAMES})
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        daemons = [DaemonProcess(config, tmp_path / f"daemon-{i}.log", env) for i in range(3)]
        for daemon in daemons:
            daemon.__enter__()
        try:
            by_pid = {d.process.pid: d for d in daemons if d.process is not None}
            # 1. Runs under way: SIGKILL a daemon that holds a lock.
            wait_until(lambda: len(receiver.snapshot()) >= 8, 30, "the first requests")
            held = wait_until(lambda: _holders(postgres_url), 10, "a lock held")
            # Any daemon's /fleet shows who runs what, from the shared state.
            code, body = http_get(daemons[2].url("/fleet"))
            assert code == 200, body
            fleet = json.loads(body)
            assert {lock["pid"] for lock in fleet["locks"]} <= set(by_pid)
            assert fleet["locks"] and {s["sync"] for s in fleet["schedules"]} <= set(NAMES)
            killed = by_pid[next(iter(held.values()))]
            assert killed.process is not None
            killed.process.kill()
            killed.process.wait(timeout=10)

            # 2. Another holder (alive) is frozen past its lease, then thawed.
            def other_holder() -> int | None:
                pids = [p for p in _holders(postgres_url).values() if p != killed.process.pid]
                return pids[0] if pids else None

            frozen_pid = wait_until(other_holder, 20, "a live daemon holding a lock")
            frozen = by_pid[frozen_pid]
            os.kill(frozen_pid, signal.SIGSTOP)
            time.sleep(TTL * 2.5)  # its locks expire, and are taken over
            os.kill(frozen_pid, signal.SIGCONT)

            # 3. The fleet finishes the job: nothing left to send anywhere.
            def settled() -> bool:
                report = plan(config, destinations=list(NAMES))
                sending = ("create", "update", "delete", "link", "unlink", "failed")
                return all(
                    not any(plan_totals(p.counts)[what] for what in sending)
                    for p in report.plans.values()
                )

            wait_until(settled, 90, "every destination settled")
            time.sleep(1.0)  # runs in progress when the plan came up empty end
        finally:
            for daemon in daemons:
                if daemon.process is not None and daemon.process.poll() is None:
                    daemon.process.send_signal(signal.SIGTERM)
            for daemon in daemons:
                daemon.__exit__(None, None, None)
        requests = receiver.snapshot()
        throttled = receiver.throttled

    with PostgresStateStore(postgres_url) as store:
        status = {run.run_id: run.status for n in NAMES for run in store.runs(n, limit=1000)}
        confirmed = {
            (n, state.key): state.fingerprint
            for n in NAMES
            for state in store.iter_records(n, BatchObject.CONTACT)
        }
        statuses = {
            state.status for n in NAMES for state in store.iter_records(n, BatchObject.CONTACT)
        }
    assert statuses == {RecordStatus.OK}
    assert {n for n, _ in confirmed} == set(NAMES)
    assert len(confirmed) == 3 * 69

    # Every record delivered: each final payload reached the receiver.
    delivered: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for request in requests:
        for key, print_ in request.items:
            delivered[(request.destination, key, print_)].append(request.run_id)
    for (name, key), print_ in confirmed.items():
        assert delivered[(name, key, print_)], (name, key)

    # None twice, but for a batch of a run cut off before it confirmed it:
    # killed, stopped by its lapsed lease, or frozen between sending a batch
    # and confirming it (that run may end well after the thaw, but its batch
    # was sent again meanwhile by the run that took the lock over).
    frozen_runs = {int(e["run_id"]) for e in frozen.find("run.finished")}
    cut_off = {run for run, state in status.items() if state is not RunStatus.SUCCEEDED}
    assert cut_off, "the kill and the freeze cut no run off"
    cut_off |= frozen_runs
    for item, runs in delivered.items():
        assert len(runs) <= 2, item
        if len(runs) == 2:
            assert runs[0] in cut_off, (item, runs)
    assert sum(len(runs) - 1 for runs in delivered.values()) <= 2 * 2 * 2  # two batches, twice

    # Never two runs of one destination at once: run ids only go forward.
    for name in NAMES:
        order = [r.run_id for r in sorted(requests, key=lambda r: r.at) if r.destination == name]
        assert order == sorted(order), (name, order)

    # The shared budget held: almost no 429s across three daemons.
    assert throttled / (len(requests) + throttled) < 0.01, (throttled, len(requests))
    # The frozen daemon, thawed, saw its locks lapse and stopped its run.
    assert frozen.find("lock.lost") or frozen.find("run.finished", status="failed")
