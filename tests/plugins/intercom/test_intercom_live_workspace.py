"""The first sync into an Intercom workspace that already has users and companies
(through ``hub.sync``, against the fake Intercom): users are adopted by e-mail
(the contact gets the hub's external_id), companies are matched by company_id,
nothing is created twice, nothing fails, and a second run sends nothing.

Intercom's API has no lookup of companies by website (short of scrolling every
company), so ``accounts.match = ["external_id", "domain"]`` is refused for it at
validation; its companies are matched by ``company_id`` only."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from intercom_fake import TOKEN, IntercomFake
from intercom_project import TOKEN_VARIABLE
from portal_data import make_portal, mapping_toml, sources_toml

from hub.errors import ConfigError
from hub.state import RunStatus
from hub.sync import sync


def _project(tmp_path: Path, url: str, accounts_match: str = '["external_id"]') -> Path:
    mapping = mapping_toml(
        "intercom",
        accounts={"name": "account.name", "website": "account.domain"},
        users={"email": "user.email", "name": "user.first_name"},
        accounts_match=accounts_match,
    )
    (tmp_path / "intercom.toml").write_text(mapping)
    config = tmp_path / "hub.toml"
    config.write_text(
        sources_toml(tmp_path)
        + f"""
[state]
url = "sqlite:///{tmp_path / "state.db"}"

[destinations.intercom]
type = "intercom"
mapping = "intercom.toml"

[destinations.intercom.settings]
base_url = "{url}"
"""
    )
    return config


def test_a_workspace_with_30_percent_of_the_users_is_matched_not_duplicated(
    tmp_path: Path, fake: IntercomFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    portal = make_portal(tmp_path, users=120, accounts=20, seeded_accounts=6)
    seeded = {}
    for user in portal.seeded_users:
        status, contact = fake.route(
            "POST", "/contacts", {}, {"role": "user", "email": user["email"].upper()}
        )
        assert status == 200
        seeded[user["email"]] = contact["id"]
    for account in portal.seeded_accounts:
        fake.route("POST", "/companies", {}, {"company_id": account["account_id"], "name": "Old"})
    config = _project(tmp_path, fake.base_url)

    (run,) = sync(config, sleep=lambda seconds: None)

    assert run.status is RunStatus.SUCCEEDED, run.message
    assert run.counts["failed"] == 0
    assert run.counts["adopted"] == len(seeded)
    contacts = fake.state.contacts.values()
    assert len(fake.state.contacts) == len(portal.users)
    assert max(Counter(str(c["email"]).lower() for c in contacts).values()) == 1
    for email, contact_id in seeded.items():
        assert fake.state.contacts[contact_id]["external_id"] is not None, email
    assert len(fake.state.companies) == len(portal.accounts)

    before = len(fake.log)
    (again,) = sync(config, sleep=lambda seconds: None)
    assert again.status is RunStatus.SUCCEEDED
    assert len(fake.log) == before


def test_domain_matching_is_refused_for_intercom_companies(
    tmp_path: Path, fake: IntercomFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    make_portal(tmp_path, users=5, accounts=2, seeded_accounts=1)
    config = _project(tmp_path, fake.base_url, accounts_match='["external_id", "domain"]')
    with pytest.raises(ConfigError) as refused:
        sync(config, sleep=lambda seconds: None)
    assert "cannot match companies by 'domain'" in str(refused.value)
    assert "intercom.toml:" in str(refused.value)
    assert fake.log == []
