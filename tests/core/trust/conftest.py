"""A small project on disk, written by each test, synced through the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from hub.cli import app

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
mode = "{mode}"
max_delete_share = 0.5

[destinations.crm.settings]
directory = "outbox"
"""

CRM_TOML = """
destination = "crm"

[accounts.fields]
name = "account.name"

[users.fields]
email = "user.email"
name = "user.name"

[links.properties]
role = "relationship.role"
"""

USERS = "user_id,email,name\n" + "".join(f"u{i},u{i}@x.io,User {i}\n" for i in range(1, 11))
ACCOUNTS = "account_id,name\na1,Acme\na2,Beta\n"
MEMBERSHIPS = "user_id,account_id,role\n" + "".join(
    f"u{i},a{1 + i % 2},{'Owner' if i < 3 else 'User'}\n" for i in range(1, 11)
)


@dataclass
class Project:
    root: Path
    runner: CliRunner

    @property
    def config(self) -> Path:
        return self.root / "hub.toml"

    def write(self, name: str, text: str | bytes) -> None:
        path = self.root / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")

    def hub(self, *args: str) -> Result:
        return self.runner.invoke(app, [*args, "--config", str(self.config)])

    def json(self, *args: str, code: int | None = None) -> Any:
        result = self.hub(*args, "--json")
        if code is not None:
            assert result.exit_code == code, result.output
        return json.loads(result.stdout)

    def sent(self, object_: str) -> list[dict[str, Any]]:
        """Every outbox line written for ``object_``, in order, over all runs."""
        lines: list[dict[str, Any]] = []
        for path in sorted((self.root / "outbox" / object_).glob("run-*.jsonl")):
            lines.extend(json.loads(line) for line in path.read_text().splitlines())
        return lines


@pytest.fixture()
def make_project(tmp_path: Path) -> Callable[..., Project]:
    def make(mode: str = "upsert", crm: str = CRM_TOML, hub_toml: str = HUB_TOML) -> Project:
        project = Project(tmp_path, CliRunner())
        project.write("hub.toml", hub_toml.replace("{mode}", mode))
        project.write("crm.toml", crm)
        project.write("users.csv", USERS)
        project.write("accounts.csv", ACCOUNTS)
        project.write("memberships.csv", MEMBERSHIPS)
        return project

    return make
