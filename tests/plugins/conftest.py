"""Shared by every plugin test: no request may violate a vendor's published contract."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import vendor_contract


@pytest.fixture(autouse=True)
def _requests_follow_the_published_contract() -> Iterator[None]:
    """Fail the test that made a fake receive a request outside the vendor's contract."""
    before = len(vendor_contract.REFUSED)
    yield
    refused = vendor_contract.REFUSED[before:]
    if refused:
        lines = "\n".join(f"  {vendor}: {request}: {why}" for vendor, request, why in refused[:5])
        pytest.fail(f"{len(refused)} request(s) violate the published contract:\n{lines}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = vendor_contract.summary()
    if lines:
        terminalreporter.section("vendor contracts")
        for line in lines:
            terminalreporter.write_line(line)
