from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_support import (
    CONSOLE_TOKEN,
    ConsoleProcess,
    FakeHubSpot,
    chromium,
    environment,
    hub,
    make_project,
    new_page,
    plant_dropdown,
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as running:
        plant_dropdown(running)
        yield running


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory, fake: FakeHubSpot) -> Path:
    """The sample with its planted trouble, after one ``hub sync`` (exit 1:
    HubSpot refused some contacts)."""
    config = make_project(tmp_path_factory.mktemp("console"), fake.url)
    result = hub(config, "sync")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "hubspot     partial" in result.stdout, result.stdout
    return config


@pytest.fixture(scope="module")
def console(synced: Path) -> Iterator[ConsoleProcess]:
    """``hub console`` on the synced sample, with a token: reading is open
    on 127.0.0.1, acting needs signing in."""
    with ConsoleProcess(synced, env=environment({"HUB_CONSOLE__TOKEN": CONSOLE_TOKEN})) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as opened:
        yield opened


@pytest.fixture(scope="module")
def page(browser: Any) -> Any:
    return new_page(browser)
