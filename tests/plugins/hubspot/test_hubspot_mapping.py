"""``mappings/hubspot.toml`` validates against the HubSpot destination type."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hub.config.validate import validate_project
from hub.contract.plugins import load_plugins

ROOT = Path(__file__).resolve().parents[3]


def _project(tmp_path: Path) -> Path:
    (tmp_path / "mappings").mkdir()
    shutil.copy(ROOT / "mappings" / "hubspot.toml", tmp_path / "mappings" / "hubspot.toml")
    sample = ROOT / "examples" / "sample"
    config = tmp_path / "hub.toml"
    config.write_text(
        f"""
[sources.users]
kind = "csv"
table = "users"
path = "{sample / "users.csv"}"

[sources.accounts]
kind = "csv"
table = "accounts"
path = "{sample / "accounts.csv"}"

[sources.memberships]
kind = "csv"
table = "memberships"
path = "{sample / "memberships.csv"}"

[destinations.hubspot]
type = "hubspot"
mapping = "mappings/hubspot.toml"

[destinations.hubspot.settings]
tier = "professional"
contact_match = "email"
"""
    )
    return config


def test_the_hubspot_mapping_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DESTINATIONS__HUBSPOT__SETTINGS__TOKEN", "pat-na1-validate-only")
    problems = validate_project(_project(tmp_path), load_plugins().destinations.types())
    assert problems == []


def test_a_missing_token_names_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUB_DESTINATIONS__HUBSPOT__SETTINGS__TOKEN", raising=False)
    problems = validate_project(_project(tmp_path), load_plugins().destinations.types())
    assert [p.key for p in problems] == ["destinations.hubspot.settings.token"]
    assert "HUB_DESTINATIONS__HUBSPOT__SETTINGS__TOKEN" in str(problems[0])


def test_a_list_longer_than_hubspot_allows_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_DESTINATIONS__HUBSPOT__SETTINGS__TOKEN", "pat-na1-validate-only")
    config = _project(tmp_path)
    mapping = tmp_path / "mappings" / "hubspot.toml"
    mapping.write_text(mapping.read_text().replace("max_length = 5000", "max_length = 70000"))
    problems = validate_project(config, load_plugins().destinations.types())
    assert any("65536" in str(p) for p in problems), problems
