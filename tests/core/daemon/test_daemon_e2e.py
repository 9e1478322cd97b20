"""End to end: ``hub daemon`` as a subprocess, two syncs on short intervals
(an outbox, and a webhook against a local receiver), source changes between
runs, SIGTERM mid-run, a restart: every change delivered, nothing confirmed
sent twice."""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path

import pytest
from daemon_support import (
    SECRET,
    DaemonProcess,
    Receiver,
    edit_csv,
    http_get,
    make_project,
    outbox_lines,
    wait_until,
)

from hub.contract.destination import BatchObject
from hub.state import RecordStatus, RunStatus
from hub.state.sqlite import SqliteStateStore
from hub.sync import plan, plan_totals

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")

SCHEDULES = """
[destinations.mailer]
type = "webhook"
mapping = "mappings/mailer.toml"
settings.url = "{url}"
settings.batch_size = 5
settings.requests_per_second = 1000

[schedules.crm]
destinations = ["crm"]
interval = "1s"

[schedules.mailer]
destinations = ["mailer"]
interval = "1s"
jitter = "100ms"

[daemon]
listen = "127.0.0.1:0"
stop_timeout = "20s"
"""


def _finished(daemon: DaemonProcess, destination: str, after: int = 0) -> list[dict[str, object]]:
    return [
        e
        for e in daemon.find("run.finished", destination=destination)
        if isinstance(e["run_id"], int) and e["run_id"] > after
    ]


def _updated(event: dict[str, object]) -> int:
    counts = event["counts"]
    assert isinstance(counts, dict)
    return int(counts.get("updated", 0)) + int(counts.get("created", 0))


def test_the_daemon_delivers_every_change_once_across_a_sigterm_and_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Receiver() as receiver:
        config = make_project(tmp_path, SCHEDULES.format(url=receiver.url))
        env = {"HUB_DESTINATIONS__MAILER__SETTINGS__SECRET": SECRET}
        sample = tmp_path / "examples" / "sample"
        log = tmp_path / "daemon.log"

        with DaemonProcess(config, log, env) as daemon:
            # 1. Both syncs run and deliver everything.
            for destination in ("crm", "mailer"):
                daemon.wait_for(
                    "run.finished",
                    where=lambda e, d=destination: (
                        e["destination"] == d  # type: ignore[misc]
                        and e["status"] == "succeeded"
                    ),
                )
            status, body = http_get(daemon.url("/healthz"))
            assert status == 200, body
            assert json.loads(body)["status"] == "ok"

            # 2. A change in the source reaches both destinations on their next runs.
            last_crm = max(int(e["run_id"]) for e in _finished(daemon, "crm"))  # type: ignore[call-overload]
            last_mailer = max(int(e["run_id"]) for e in _finished(daemon, "mailer"))  # type: ignore[call-overload]
            edit_csv(
                sample / "users.csv",
                lambda lines: [line.replace(",Maya,Okafor,", ",Maya A.,Okafor,") for line in lines],
            )
            wait_until(
                lambda: (
                    any(_updated(e) for e in _finished(daemon, "crm", last_crm))
                    and any(_updated(e) for e in _finished(daemon, "mailer", last_mailer))
                ),
                20,
                "the first change in both destinations",
            )

            # 3. A change touching every mailer contact, sent slowly; SIGTERM mid-run.
            seen = receiver.runs()
            receiver.delay = 0.15
            edit_csv(
                sample / "accounts.csv",
                lambda lines: (
                    [lines[0]]
                    + [line.replace(",", " Inc,", 2).replace(" Inc,", ",", 1) for line in lines[1:]]
                ),
            )
            wait_until(
                lambda: sum(1 for r in receiver.snapshot() if r.run_id not in seen) >= 3,
                20,
                "the slow run to be under way",
            )
            code, seconds = daemon.stop(signal.SIGTERM)
            assert code == 0, daemon.events()[-5:]
            # The batch in flight (one 0.15 s request) is finished, then the daemon exits.
            assert seconds < 10
            stopped = [e for e in _finished(daemon, "mailer") if e["status"] == "failed"]
            assert stopped and "stopped" in str(stopped[-1]["message"])
            assert daemon.find("daemon.stopped", exit_code=0)

        state = tmp_path / ".hub" / "state.db"
        with SqliteStateStore(state) as store:
            stopped_run = next(
                run
                for run in store.runs("mailer", limit=100)
                if run.status is RunStatus.FAILED and run.message and "stopped" in run.message
            )
            at_stop = {
                s.key: s.fingerprint for s in store.iter_records("mailer", BatchObject.CONTACT)
            }
        # Stopped mid-run: part of the change was confirmed, the rest is left for later.
        assert 0 < stopped_run.counts["updated"] < 69
        assert stopped_run.counts["pending"] > 0

        # 4. While the daemon is down, one more change: a new user in Tesla.
        edit_csv(
            sample / "users.csv",
            lambda lines: [
                *lines,
                "u_new,new.person@tesla.example,New,Person,Engineer,US,2026-10-30T00:00:00Z",
            ],
        )
        edit_csv(
            sample / "memberships.csv",
            lambda lines: [*lines, _membership_line(lines[0], "u_new", "acc_tesla")],
        )
        receiver.delay = 0.0
        with DaemonProcess(config, log, env) as daemon:
            # The restart catches up at once (both syncs are overdue) and finishes the job.
            for destination in ("crm", "mailer"):
                daemon.wait_for(
                    "run.finished",
                    where=lambda e, d=destination: (
                        e["destination"] == d  # type: ignore[misc]
                        and e["status"] == "succeeded"
                        and _updated(e) > 0
                    ),
                )
            # ... then finds nothing more to send.
            for destination in ("crm", "mailer"):
                daemon.wait_for(
                    "run.finished",
                    where=lambda e, d=destination: (
                        e["destination"] == d  # type: ignore[misc]
                        and e["status"] == "succeeded"
                        and set(e["counts"]) - {"quarantined"} == {"unchanged"}
                    ),  # type: ignore[arg-type]
                )
            code, _ = daemon.stop(signal.SIGTERM)
            assert code == 0

    # Every change delivered: the store holds every record as confirmed and a
    # fresh plan finds nothing to send.
    monkeypatch.setenv("HUB_DESTINATIONS__MAILER__SETTINGS__SECRET", SECRET)
    report = plan(config)
    for name, destination_plan in report.plans.items():
        totals = plan_totals(destination_plan.counts)
        assert totals["create"] == totals["update"] == totals["delete"] == 0, name
        assert totals["link"] == totals["unlink"] == 0, name
    with SqliteStateStore(state) as store:
        confirmed = {
            (destination, kind.value, s.key): s.fingerprint
            for destination in ("crm", "mailer")
            for kind in BatchObject
            for s in store.iter_records(destination, kind)
            if s.status is RecordStatus.OK
        }
        assert not [
            s
            for destination in ("crm", "mailer")
            for kind in BatchObject
            for s in store.iter_records(destination, kind)
            if s.status is not RecordStatus.OK
        ]
    # The contacts the stopped run did not reach were sent after the restart.
    left = {key for key, fp in at_stop.items() if confirmed[("mailer", "contact", key)] != fp}
    assert left
    assert left <= {key for run, _, key, _ in receiver.iter_items() if run > stopped_run.run_id}

    # What the receivers hold last for each key is what the store confirmed.
    received = [(run, obj, key, fp) for run, obj, key, fp in receiver.iter_items()]
    written = outbox_lines(tmp_path / "outbox" / "crm")
    last: dict[tuple[str, str, str], str] = {}
    for _, obj, key, fp in received:
        last[("mailer", obj, key)] = fp
    for _, obj, key, fp in written:
        last[("crm", obj, key)] = fp
    assert last == confirmed
    assert receiver.bad_signatures == 0
    new_contacts = [k for (d, _, k) in confirmed if d == "mailer" and k.startswith("u_new:")]
    assert new_contacts == ["u_new:acc_tesla"]
    latest = {r.payloads[k]["account_name"] for r in receiver.snapshot() for k in r.payloads}
    assert any(name.endswith(" Inc") for name in latest)

    # Nothing confirmed was sent twice: the daemon finished the batch in
    # flight at SIGTERM and confirmed it before exiting, so not even that
    # batch repeats (only a stop past stop_timeout, or SIGKILL, may resend
    # one batch: tests/core/sync/test_sync_kill.py). No record went back to an
    # earlier value here, so every (destination, key, fingerprint) is unique.
    deliveries = Counter(
        [("mailer", obj, key, fp) for _, obj, key, fp in received]
        + [("crm", obj, key, fp) for _, obj, key, fp in written]
    )
    assert [item for item, count in deliveries.items() if count > 1] == []
    # And the stopped run's confirmed part was not sent again after the restart.
    stopped_keys = {(key, fp) for run, _, key, fp in received if run == stopped_run.run_id}
    after = {(key, fp) for run, _, key, fp in received if run > stopped_run.run_id}
    assert stopped_keys and not stopped_keys & after


def _membership_line(header: str, user: str, account: str) -> str:
    columns = header.split(",")
    values = {"user_id": user, "account_id": account, "role": "User", "stage": "MQL"}
    return ",".join(values.get(column, "") for column in columns)
