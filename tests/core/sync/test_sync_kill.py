"""A ``hub sync`` killed with SIGKILL mid-run loses nothing and re-sends nothing confirmed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.contract.destination import BatchObject
from hub.state import RecordStatus, RunStatus
from hub.state.sqlite import SqliteStateStore

ROOT = Path(__file__).resolve().parents[3]

#: ``hub`` with one more destination type, ``slow_outbox``: the outbox with
#: batches of 4 and a pause after writing each (before the hub confirms it),
#: so that a kill lands mid-run, often between a write and its confirmation.
SLOW_HUB = """
import sys
import time

import hub.sync.pipeline
import hub_outbox
from hub.contract.capabilities import Operation
from hub.contract.hookspecs import hookimpl
from hub.contract.plugins import DestinationType, load_plugins

CAPABILITIES = hub_outbox.CAPABILITIES.model_copy(
    update={"batch_sizes": {operation: 4 for operation in Operation}}
)


class SlowOutbox(hub_outbox.OutboxDestination):
    capabilities = CAPABILITIES

    def send(self, batch):
        results = super().send(batch)
        time.sleep(0.02)
        return results


class SlowPlugin:
    @hookimpl
    def hub_register_destinations(self, registry):
        registry.add(
            DestinationType(
                "slow_outbox",
                CAPABILITIES,
                hub_outbox.OutboxSettings,
                factory=lambda settings, context: SlowOutbox(settings, context),
            )
        )


hub.sync.pipeline.load_plugins = lambda: load_plugins(extra=[SlowPlugin()])

from hub.cli import main

sys.argv = ["hub", *sys.argv[1:]]
main()
"""


def _keys(directory: Path, run_id: int | None = None) -> list[tuple[str, str]]:
    """(object, key) of every line of the outbox files (of one run)."""
    pattern = "*.jsonl" if run_id is None else f"run-{run_id:06d}.jsonl"
    return [
        (path.parent.name, json.loads(line)["key"])
        for path in sorted(directory.rglob(pattern))
        for line in path.read_text().splitlines()
        if line.strip()
    ]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_sync_resumes_without_loss_or_resending_what_was_confirmed(
    tmp_path: Path,
) -> None:
    for name in ("mappings", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    config = tmp_path / "hub.toml"
    config.write_text((ROOT / "hub.toml").read_text().replace('"outbox"', '"slow_outbox"'))
    script = tmp_path / "slow_hub.py"
    script.write_text(SLOW_HUB)
    command = [sys.executable, str(script), "sync", "--config", str(config), "--json"]
    crm = tmp_path / "outbox" / "crm"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        # Count complete lines only: a file may be caught mid-write.
        written = sum(path.read_bytes().count(b"\n") for path in crm.rglob("*.jsonl"))
        if written >= 60:  # accounts done, contacts under way
            break
        time.sleep(0.005)
    assert process.poll() is None, process.stderr.read() if process.stderr else ""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    if process.stderr:
        process.stderr.close()

    state_file = tmp_path / ".hub" / "state.db"
    with SqliteStateStore(state_file) as store:
        confirmed = {
            (kind.value, state.key)
            for kind in BatchObject
            for state in store.iter_records("crm", kind)
            if state.status is RecordStatus.OK
        }
        (killed,) = store.runs("crm")
    assert killed.status is RunStatus.RUNNING
    assert 0 < len(confirmed) < 145
    # Everything confirmed is on disk (fsynced before the hub confirmed it).
    assert confirmed <= set(_keys(crm))

    finished = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    resumed = next(run for run in report["runs"] if run["destination"] == "crm")
    assert resumed["status"] == "succeeded"

    second = set(_keys(crm, resumed["run_id"]))
    assert not second & confirmed  # nothing confirmed was sent again
    everything = set(_keys(crm))
    assert len({key for kind, key in everything if kind == "account"}) == 15
    assert len({key for kind, key in everything if kind == "contact"}) == 50
    assert len({key for kind, key in everything if kind == "link"}) == 80
    with SqliteStateStore(state_file) as store:
        statuses = {
            state.status for kind in BatchObject for state in store.iter_records("crm", kind)
        }
        history = {run.run_id: run for run in store.runs("crm")}
        runs = {run_id: run.status for run_id, run in history.items()}
    assert statuses == {RecordStatus.OK}
    assert runs == {killed.run_id: RunStatus.INTERRUPTED, resumed["run_id"]: RunStatus.SUCCEEDED}
    # The killed run records what it confirmed, not zero counts.
    assert history[killed.run_id].counts == {"confirmed": len(confirmed)}
    # Only the batch in flight at the kill may have been written twice.
    assert len(_keys(crm)) - 145 <= 4


@pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="needs SIGTERM")
def test_sigterm_finishes_the_batch_in_flight_and_records_a_stopped_run(tmp_path: Path) -> None:
    for name in ("mappings", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    config = tmp_path / "hub.toml"
    config.write_text((ROOT / "hub.toml").read_text().replace('"outbox"', '"slow_outbox"'))
    script = tmp_path / "slow_hub.py"
    script.write_text(SLOW_HUB)
    command = [sys.executable, str(script), "sync", "--config", str(config), "--json"]
    crm = tmp_path / "outbox" / "crm"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if sum(path.read_bytes().count(b"\n") for path in crm.rglob("*.jsonl")) >= 20:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    report = json.loads(stdout)
    statuses = {run["destination"]: (run["status"], run["message"]) for run in report["runs"]}
    assert statuses["crm"][0] == "failed"
    assert "stopped" in statuses["crm"][1]
    with SqliteStateStore(tmp_path / ".hub" / "state.db") as store:
        confirmed = sum(
            1
            for kind in BatchObject
            for state in store.iter_records("crm", kind)
            if state.status is RecordStatus.OK
        )
        (run,) = store.runs("crm")
    assert run.status is RunStatus.FAILED
    # Every batch written was confirmed: the one in flight was finished, not cut.
    assert confirmed == len(_keys(crm)) < 145
