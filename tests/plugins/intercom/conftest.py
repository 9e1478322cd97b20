from __future__ import annotations

from collections.abc import Iterator

import pytest
from intercom_fake import IntercomFake


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy from the environment must never see the tests' loopback traffic.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def fake() -> Iterator[IntercomFake]:
    with IntercomFake() as running:
        yield running
