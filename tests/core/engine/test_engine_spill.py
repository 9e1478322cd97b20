"""A process killed mid-sync leaves its DuckDB spill directory behind (a
SIGKILL runs no clean-up): the next sync on the host removes it, and keeps
those of live processes and of other hosts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app

KILLED = """
import os, signal
from hub.engine.tables import Tables
from hub.model import Dataset
tables = Tables(Dataset({}, {}, {}, []))
(__import__("pathlib").Path(tables._spill.name) / "spill.tmp").write_bytes(b"x" * 4096)
os.kill(os.getpid(), signal.SIGKILL)
"""

ROOT = Path(__file__).resolve().parents[3]


def test_a_killed_processs_spill_directory_is_removed_by_the_next_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spills = tmp_path / "tmp"
    spills.mkdir()
    killed = subprocess.run(
        [sys.executable, "-c", KILLED], env={**os.environ, "TMPDIR": str(spills)}, check=False
    )
    assert killed.returncode == -signal.SIGKILL
    [left] = list(spills.iterdir())
    assert left.name.startswith("hub-engine-") and (left / "spill.tmp").exists()
    # A live process's directory, and another host's (a /tmp shared with
    # another container): neither is this sync's to remove.
    host = left.name.split("-")[2]
    live = spills / f"hub-engine-{host}-{os.getppid()}-live"
    other = spills / "hub-engine-otherhost-1-gone"
    live.mkdir()
    other.mkdir()

    # The README's main job, on a copy of the repository's default project.
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "hub.toml", project)
    shutil.copytree(ROOT / "examples", project / "examples")
    shutil.copytree(ROOT / "mappings", project / "mappings")
    monkeypatch.setattr(tempfile, "tempdir", str(spills))
    result = CliRunner().invoke(app, ["sync", "--config", str(project / "hub.toml")])

    assert result.exit_code == 0, result.output
    assert not left.exists()
    assert live.exists() and other.exists()
    # The sync's own directory went with its tables.
    assert sorted(path.name for path in spills.iterdir()) == sorted([live.name, other.name])
