from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fake_hubspot import FakeHubSpot
from hubspot_helpers import CASSETTES


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy from the environment must never see the tests' loopback traffic.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def fake() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as running:
        yield running


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    # Replay only: a request with no recording fails instead of reaching HubSpot.
    return {"record_mode": "none", "filter_headers": ["authorization"]}


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(CASSETTES)
