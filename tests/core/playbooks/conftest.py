from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.contract.actions import ActionRequest
from hub.contract.capabilities import Action, Capabilities
from hub.contract.destination import RecordResult
from hub.contract.hookspecs import hookimpl
from hub.contract.plugins import DestinationRegistry, DestinationType, Plugins, load_plugins
from hub.model import Dataset
from hub.playbooks import LoadedPlaybook, load_playbooks
from hub.projections.resolver import Graph
from hub.sync.pipeline import resolve

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "examples" / "sample"
PQA_PQL = ROOT / "mappings" / "playbooks" / "pqa_pql.toml"
START = datetime(2026, 11, 1, tzinfo=UTC)

RECORDER = Capabilities(objects={}, actions=frozenset(Action))


@dataclass
class Recorder:
    """An action-only destination that remembers every request, keyed."""

    name: str
    capabilities: Capabilities = RECORDER
    credential_id: str = "recorder"
    received: list[ActionRequest] = field(default_factory=list)

    def send(self, batch: Any) -> Sequence[RecordResult]:
        return []

    def perform(self, requests: Sequence[ActionRequest]) -> Sequence[RecordResult]:
        self.received.extend(requests)
        return [RecordResult.ok(r.key) for r in requests]

    def close(self) -> None:
        pass


class _RecorderPlugin:
    @hookimpl
    def hub_register_destinations(self, registry: DestinationRegistry) -> None:
        registry.add(DestinationType(name="recorder", capabilities=RECORDER))


def recorder_plugins() -> Plugins:
    return load_plugins(extra=[_RecorderPlugin()])


def write_project(
    tmp_path: Path, playbook: str | Path = PQA_PQL, extra: str = "", *, files: int = 1
) -> Path:
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir(exist_ok=True)
    text = playbook.read_text() if isinstance(playbook, Path) else playbook
    (playbooks / "pqa_pql.toml").write_text(text)
    config = tmp_path / "hub.toml"
    config.write_text(
        f"""
[sources.users]
kind = "csv"
table = "users"
path = "{SAMPLE / "users.csv"}"

[sources.accounts]
kind = "csv"
table = "accounts"
path = "{SAMPLE / "accounts.csv"}"

[sources.memberships]
kind = "csv"
table = "memberships"
path = "{SAMPLE / "memberships.csv"}"

[destinations.hubspot]
type = "recorder"

[destinations.slack]
type = "recorder"

[playbooks]
paths = ["playbooks/*.toml"]

[state]
url = "sqlite:///state.db"
{extra}
"""
    )
    return config


def load(config: Path) -> tuple[list[LoadedPlaybook], Graph]:
    plugins = recorder_plugins()
    resolution = resolve(config, plugins=plugins, project_destinations=False)
    playbooks = load_playbooks(
        resolution.project.settings, config.parent, plugins.destinations.types()
    )
    return playbooks, resolution.graph


def with_stage(graph: Graph, account_id: str, stage: str) -> Graph:
    dataset = graph.dataset
    accounts = dict(dataset.accounts)
    accounts[account_id] = replace(accounts[account_id], stage=stage)
    return Graph(Dataset(dataset.users, accounts, dataset.memberships, dataset.events))


class Clock:
    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped example and mappings, with its secrets set; its hub.toml."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    monkeypatch.setenv("HUB_DESTINATIONS__HUBSPOT__SETTINGS__TOKEN", "pat-na1-plan-only")
    monkeypatch.setenv(
        "HUB_DESTINATIONS__SLACK__SETTINGS__WEBHOOK_URL", "https://hooks.slack.com/services/T/B/X"
    )
    return tmp_path / "examples" / "playbooks" / "hub.toml"
