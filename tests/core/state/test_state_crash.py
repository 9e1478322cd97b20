"""A process killed in the middle of a batch loses nothing that was confirmed
and keeps nothing of the batch it was writing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hub.contract.destination import BatchObject
from hub.state import RecordStatus, RunStatus
from hub.state.sqlite import SqliteStateStore

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from collections.abc import Sequence
    from pathlib import Path

    from hub.contract.destination import BatchObject
    from hub.state import Confirmation
    from hub.state.sqlite import SqliteStateStore

    path, how = Path(sys.argv[1]), sys.argv[2]

    class Dying(Sequence):
        def __init__(self, items):
            self.items = items
        def __len__(self):
            return len(self.items)
        def __getitem__(self, index):
            return self.items[index]
        def __iter__(self):
            for n, item in enumerate(self.items):
                if n == 3:  # rows 0..2 are already written inside the transaction
                    if how == "sigkill":
                        os.kill(os.getpid(), signal.SIGKILL)
                    os._exit(3)
                yield item

    store = SqliteStateStore(path)
    run = store.start_run("crm", "upsert")
    first = [Confirmation(f"a{i}", f"f{i}", f"id{i}", True) for i in range(5)]
    store.confirm(run, "crm", BatchObject.CONTACT, first)
    print("first batch confirmed", flush=True)
    second = [Confirmation(f"b{i}", f"f{i}", f"id{i}", True) for i in range(5)]
    store.confirm(run, "crm", BatchObject.CONTACT, Dying(second))
    print("not reached", flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
@pytest.mark.parametrize("how", ["sigkill", "exit"])
def test_killed_mid_batch(tmp_path: Path, how: str) -> None:
    path = tmp_path / "state.db"
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "plugins")])}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path), how],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert "first batch confirmed" in done.stdout, done.stderr
    assert "not reached" not in done.stdout
    if how == "sigkill":
        assert done.returncode == -signal.SIGKILL
    else:
        assert done.returncode == 3

    with SqliteStateStore(path) as store:
        states = list(store.iter_records("crm", BatchObject.CONTACT))
        assert [s.key for s in states] == [f"a{i}" for i in range(5)]
        assert {s.status for s in states} == {RecordStatus.OK}
        # the dead run is found running, and the next one marks it interrupted
        (dead,) = store.runs("crm")
        assert dead.status is RunStatus.RUNNING
        store.start_run("crm", "upsert")
        assert store.runs("crm")[1].status is RunStatus.INTERRUPTED
