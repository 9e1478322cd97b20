"""A process killed mid-sync leaves its DuckDB spill directory behind (a
SIGKILL runs no clean-up): the next sync on the host removes it, and keeps
those of live processes and of other hosts."""

from __future__ import annotations

import os
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

HUB_TOML = """
[sources.users]
kind = "csv"
table = "users"
path = "users.csv"

[sources.accounts]
kind = "csv"
table = "accounts"
path = "accounts.csv"

[sources.memberships]
kind = "csv"
table = "memberships"
path = "memberships.csv"

[destinations.crm]
type = "outbox"
mapping = "crm.toml"

[destinations.crm.settings]
directory = "outbox"
"""

CRM_TOML = """
destination = "crm"

[accounts.fields]
name = "account.name"

[users.fields]
email = "user.email"
"""


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

    project = tmp_path / "project"
    project.mkdir()
    for name, text in {
        "hub.toml": HUB_TOML,
        "crm.toml": CRM_TOML,
        "users.csv": "user_id,email\nu1,u1@x.io\n",
        "accounts.csv": "account_id,name\na1,Acme\n",
        "memberships.csv": "user_id,account_id,role\nu1,a1,Owner\n",
    }.items():
        (project / name).write_text(text)
    monkeypatch.setattr(tempfile, "tempdir", str(spills))
    result = CliRunner().invoke(app, ["sync", "--config", str(project / "hub.toml")])

    assert result.exit_code == 0, result.output
    assert not left.exists()
    assert live.exists() and other.exists()
    # The sync's own directory went with its tables.
    assert sorted(path.name for path in spills.iterdir()) == sorted([live.name, other.name])
