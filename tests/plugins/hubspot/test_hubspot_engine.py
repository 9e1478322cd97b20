"""The sample synced through the real engine (``hub.sync``) into the fake HubSpot:
what the core sends reaches HubSpot as the mapping means it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fake_hubspot import TOKEN, FakeHubSpot

from hub.state import RunStatus
from hub.sync import sync

ROOT = Path(__file__).resolve().parents[3]


def _project(tmp_path: Path, url: str) -> Path:
    (tmp_path / "mappings").mkdir()
    shutil.copy(ROOT / "mappings" / "hubspot.toml", tmp_path / "mappings" / "hubspot.toml")
    sample = ROOT / "examples" / "sample"
    tables = "".join(
        f'[sources.{t}]\nkind = "csv"\ntable = "{t}"\npath = "{sample / (t + ".csv")}"\n\n'
        for t in ("users", "accounts", "memberships")
    )
    config = tmp_path / "hub.toml"
    config.write_text(
        tables
        + f"""
# The rollups mappings/hubspot.toml reads (a reference to a missing one is refused).
[[events.rollups]]
property = "last_seen_at"
level = "user"
kind = "last_seen"

[[events.rollups]]
property = "tasks_completed_30d"
level = "account"
event = "Task Completed"
window_days = 30

[destinations.hubspot]
type = "hubspot"
mapping = "mappings/hubspot.toml"

[destinations.hubspot.settings]
tier = "professional"
base_url = "{url}"
"""
    )
    return config


def test_the_sample_reaches_hubspot_with_role_labels_and_the_primary_company(
    tmp_path: Path, fake: FakeHubSpot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_DESTINATIONS__HUBSPOT__SETTINGS__TOKEN", TOKEN)
    config = _project(tmp_path, fake.url)

    (run,) = sync(config, sleep=lambda seconds: None)
    assert run.status is RunStatus.SUCCEEDED, run.message

    elon = fake.find("contacts", "email", "elon@x.example")
    assert elon is not None
    held = {}
    for account, name in (("acc_twitter", "Owner"), ("acc_tesla", "Admin"), ("acc_spacex", "User")):
        company = fake.find("companies", "hub_account_id", account)
        assert company is not None, account
        types = fake.associations[(elon[0], company[0])]
        held[account] = types
        assert fake._labels_of({t for t in types if t[0] == "USER_DEFINED"}) == [name]
    # Exactly one primary company, the one the mapping's policy picks.
    primaries = [a for a, types in held.items() if ("HUBSPOT_DEFINED", 1) in types]
    assert primaries == ["acc_twitter"]

    # An unchanged re-run sends nothing at all.
    before = len(fake.log)
    (again,) = sync(config, sleep=lambda seconds: None)
    assert again.status is RunStatus.SUCCEEDED
    assert len(fake.log) == before
