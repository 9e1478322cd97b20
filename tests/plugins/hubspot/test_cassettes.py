"""Replays of recorded HubSpot conversations, with the network blocked.

The cassettes (``cassettes/hubspot/``) are recorded by ``record_cassettes.py``;
``record_mode = "none"`` (conftest) makes any request without a recording an
error, and ``block_network`` refuses every socket besides.
"""

from __future__ import annotations

from pathlib import Path

import hubspot_scenarios as scenarios
import pytest
from hub_hubspot.destination import parse_link_destination_id
from hubspot_helpers import make_destination

from hub.contract.destination import Outcome

HUBSPOT = "https://api.hubapi.com"
pytestmark = [pytest.mark.vcr, pytest.mark.block_network]


def test_sync_replays(tmp_path: Path) -> None:
    got = scenarios.sync(make_destination(HUBSPOT, tmp_path, token="pat-replay"))
    assert {r.outcome for r in got["accounts"].values()} == {Outcome.OK}
    assert got["contacts"]["elon"].outcome is Outcome.OK
    assert got["contacts"]["bad"].outcome is Outcome.PERMANENT
    assert "not-an-address" in (got["contacts"]["bad"].reason or "")
    assert got["regressed"]["elon"].destination_id == got["contacts"]["elon"].destination_id
    assert {r.outcome for r in got["linked"].values()} == {Outcome.OK}
    primary = next(
        r for key, r in got["linked"].items() if key.startswith("elon") and key.endswith("acme")
    )
    parsed = parse_link_destination_id(primary.destination_id)
    assert parsed is not None and ("HUBSPOT_DEFINED", 1) in parsed[2]
    changed = next(iter(got["changed"].values()))
    parsed = parse_link_destination_id(changed.destination_id)
    assert parsed is not None and ("HUBSPOT_DEFINED", 1) not in parsed[2]
    assert {r.outcome for r in got["unlinked"].values()} == {Outcome.OK}


def test_actions_replay(tmp_path: Path) -> None:
    got = scenarios.actions(make_destination(HUBSPOT, tmp_path, token="pat-replay"))
    assert got["added"].outcome is Outcome.OK
    assert got["added"].destination_id == got["contact"].destination_id
    assert got["removed"].outcome is Outcome.OK
    assert got["task"].outcome is Outcome.OK and (got["task"].destination_id or "").isdigit()


def test_faults_replay(tmp_path: Path) -> None:
    got = scenarios.faults(make_destination(HUBSPOT, tmp_path, token="pat-replay"))
    assert {r.outcome for r in got.values()} == {Outcome.RETRYABLE}
    # No Retry-After on a ten-secondly 429: a tenth of the 10-second window.
    assert got["rate"].retry_after == 1.0
    assert "TEN_SECONDLY_ROLLING" in (got["rate"].reason or "")
    assert "503" in (got["unavailable"].reason or "")
    assert "423 locked" in (got["locked"].reason or "")
    assert "477 migration in progress" in (got["migrating"].reason or "")


def test_cassettes_hold_no_credentials() -> None:
    from hubspot_helpers import CASSETTES

    texts = [path.read_text() for path in sorted(CASSETTES.glob("*.yaml"))]
    assert len(texts) == 3
    for text in texts:
        assert "authorization" not in text.lower()
        assert "pat-" not in text and "Bearer" not in text
        assert "127.0.0.1" not in text
