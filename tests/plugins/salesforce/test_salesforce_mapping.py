"""``mappings/salesforce.toml`` validates against the salesforce type, with its
settings and credentials, in a hub.toml of its own (the repository's hub.toml
stays credential-free)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from salesforce_fake import CLIENT_SECRET

from hub.config.validate import validate_project
from hub.contract.plugins import load_plugins

ROOT = Path(__file__).resolve().parents[3]

HUB_TOML = """
[sources.users]
kind = "csv"
table = "users"
path = "{root}/examples/sample/users.csv"

[sources.accounts]
kind = "csv"
table = "accounts"
path = "{root}/examples/sample/accounts.csv"

[sources.memberships]
kind = "csv"
table = "memberships"
path = "{root}/examples/sample/memberships.csv"

[destinations.salesforce]
type = "salesforce"
mapping = "mappings/salesforce.toml"

[destinations.salesforce.settings]
auth = "client_credentials"
login_url = "https://acme.my.salesforce.com"
client_id = "3MVG9example"
leads_for_accountless_users = true
expected_roles = ["Owner", "Admin", "Billing Admin", "User", "Viewer"]

[destinations.salesforce.settings.role_picklist]
Owner = "Decision Maker"
Admin = "Technical Buyer"
"Billing Admin" = "Economic Buyer"
User = "Business User"
Viewer = "Evaluator"
"""


def _project(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "mappings").mkdir()
    shutil.copy(ROOT / "mappings" / "salesforce.toml", tmp_path / "mappings" / "salesforce.toml")
    config = tmp_path / "hub.toml"
    config.write_text(HUB_TOML.format(root=ROOT) + extra)
    return config


def test_the_best_practice_mapping_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_DESTINATIONS__SALESFORCE__SETTINGS__CLIENT_SECRET", CLIENT_SECRET)
    problems = validate_project(_project(tmp_path), load_plugins().destinations.types())
    assert problems == []


def test_a_missing_secret_and_an_unmapped_role_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUB_DESTINATIONS__SALESFORCE__SETTINGS__CLIENT_SECRET", raising=False)
    config = _project(tmp_path)
    text = config.read_text().replace('Viewer = "Evaluator"\n', "")
    config.write_text(text)
    problems = [str(p) for p in validate_project(config, load_plugins().destinations.types())]
    assert any("client_secret" in p and "HUB_DESTINATIONS__" in p for p in problems), problems
    # One problem at a time from the model: fix the secret, then the role shows.
    monkeypatch.setenv("HUB_DESTINATIONS__SALESFORCE__SETTINGS__CLIENT_SECRET", CLIENT_SECRET)
    problems = [str(p) for p in validate_project(config, load_plugins().destinations.types())]
    assert any("'Viewer'" in p and "role_picklist" in p for p in problems), problems


def test_a_secret_in_hub_toml_is_refused(tmp_path: Path) -> None:
    config = _project(tmp_path)
    text = config.read_text().replace("leads_for", 'client_secret = "oops-in-the-file"\nleads_for')
    config.write_text(text)
    problems = [str(p) for p in validate_project(config, load_plugins().destinations.types())]
    assert any("HUB_DESTINATIONS__SALESFORCE__SETTINGS__CLIENT_SECRET" in p for p in problems)
    assert not any("oops-in-the-file" in p for p in problems)
