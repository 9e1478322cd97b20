"""Locks that hold and waits that end: a sync renews its lock on a heartbeat
whatever its batches do, stops sending once the lock is lost, never waits past
``sync.max_retry_after``, and wakes from any wait on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import HUB_TOML, Project

from hub.state.locks import lock_owner
from hub.sync import SyncBusy, sync

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "webhook"))
from webhook_receiver import SECRET, Receiver

WEBHOOK_TOML = HUB_TOML.replace('type = "outbox"', 'type = "webhook"').replace(
    '[destinations.crm.settings]\ndirectory = "outbox"',
    '[destinations.crm.settings]\nurl = "{url}"\nbatch_size = 2\n\n'
    '[daemon]\nlock_ttl = "1s"\n\n[sync]\nmax_attempts = 2\nbackoff_initial = 0.01',
)


@pytest.fixture()
def receiver(monkeypatch: pytest.MonkeyPatch) -> Receiver:
    monkeypatch.setenv("HUB_DESTINATIONS__CRM__SETTINGS__SECRET", SECRET)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with Receiver() as running:
        yield running  # type: ignore[misc]


def _project(make_project: Callable[..., Project], receiver: Receiver) -> Project:
    return make_project(hub_toml=WEBHOOK_TOML.replace("{url}", receiver.url))


def test_a_retry_after_past_the_bound_ends_the_run_rate_limited_at_once(
    make_project: Callable[..., Project], receiver: Receiver
) -> None:
    project = _project(make_project, receiver)
    receiver.fail_next(429, headers={"Retry-After": "3600"})
    started = time.monotonic()
    result = project.json("sync", code=1)
    assert time.monotonic() - started < 30  # not an hour, not even the lock's lifetime
    [run] = result["runs"]
    assert run["status"] == "partial"
    assert "rate-limited" in run["message"] and "sync.max_retry_after = 300s" in run["message"]
    assert run["counts"]["pending"] == 22  # 2 accounts, 10 contacts, 10 links: all kept
    assert run["counts"]["created"] == 0
    again = project.json("sync", code=0)
    counts = again["runs"][0]["counts"]
    assert counts["created"] + counts["linked"] == 22


def _slow(receiver: Receiver, requests: int, seconds: float) -> None:
    for _ in range(requests):
        receiver.fail_next(200, delay=seconds)


def test_the_heartbeat_keeps_the_lock_through_slow_batches(
    make_project: Callable[..., Project], receiver: Receiver
) -> None:
    project = _project(make_project, receiver)
    receiver.fail_next(200, delay=3.0)  # one request three times the lock's 1 s lifetime
    runs: list[object] = []
    first = threading.Thread(
        target=lambda: runs.append(sync(project.config, lock_owner=lock_owner("first")))
    )
    first.start()
    try:
        beats = []
        for _ in range(2):
            time.sleep(1.0)
            db = sqlite3.connect(project.root / ".hub" / "state.db", timeout=30)
            beats.append(db.execute("SELECT heartbeat_at FROM sync_locks").fetchone()[0])
            db.close()
        # Renewed while the one request was in flight, not only between batches.
        assert beats[1] > beats[0]
        with pytest.raises(SyncBusy, match="destination:crm"):
            sync(project.config, lock_owner=lock_owner("second"))
    finally:
        first.join(timeout=60)
    [[run]] = runs  # type: ignore[misc]
    assert run.ok, run.message  # type: ignore[attr-defined]


def test_a_sync_that_lost_its_lock_sends_nothing_more(
    make_project: Callable[..., Project], receiver: Receiver
) -> None:
    project = _project(make_project, receiver)
    _slow(receiver, 11, 0.4)
    runs: list[object] = []
    first = threading.Thread(
        target=lambda: runs.append(sync(project.config, lock_owner=lock_owner("first")))
    )
    first.start()
    try:
        time.sleep(1.0)
        # Another process takes the lock over (as if this one had been frozen).
        db = sqlite3.connect(project.root / ".hub" / "state.db", timeout=30)
        db.execute(
            "UPDATE sync_locks SET owner = 'thief', expires_at = ? WHERE name = 'destination:crm'",
            (time.time() + 600,),
        )
        db.commit()
        db.close()
        stolen_at = len(receiver.requests)
    finally:
        first.join(timeout=60)
    [[run]] = runs  # type: ignore[misc]
    assert run.status.value == "failed"  # type: ignore[attr-defined]
    assert "lost its lock" in run.message  # type: ignore[attr-defined]
    # At most the batch in flight and the one before the heartbeat noticed.
    assert len(receiver.requests) <= stolen_at + 2
    assert len(receiver.requests) < 11


def test_sigterm_wakes_a_sync_waiting_out_a_retry_after(
    make_project: Callable[..., Project], receiver: Receiver
) -> None:
    project = _project(make_project, receiver)
    receiver.fail_next(429, headers={"Retry-After": "120"})  # under the bound: it waits
    process = subprocess.Popen(
        [sys.executable, "-m", "hub", "sync", "--json", "--config", str(project.config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        deadline = time.monotonic() + 60
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.requests, "the sync never sent its first batch"
        time.sleep(0.5)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
        waited = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
    assert waited < 10, err  # not 120 s
    assert process.returncode == 1, err
    [run] = json.loads(out)["runs"]
    assert run["status"] == "failed" and "stopped" in run["message"]
    assert len(receiver.requests) == 1  # nothing sent after the stop
