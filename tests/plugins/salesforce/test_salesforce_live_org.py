"""The first sync into a Salesforce org that already has contacts and accounts
(through ``hub.sync``, against the fake org): contacts are adopted by e-mail and
accounts by their Website's domain, nothing is created twice, nothing fails,
and a second run sends nothing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from portal_data import make_portal, mapping_toml, sources_toml
from salesforce_fake import CLIENT_ID, CLIENT_SECRET, FakeSalesforce

from hub.state import RunStatus
from hub.sync import sync

MAPPING = mapping_toml(
    "salesforce",
    accounts={"Name": "account.name", "Website": "account.domain"},
    users={"LastName": "user.last_name", "Email": "user.email"},
)


def _project(tmp_path: Path, url: str) -> Path:
    (tmp_path / "salesforce.toml").write_text(MAPPING)
    config = tmp_path / "hub.toml"
    config.write_text(
        sources_toml(tmp_path)
        + f"""
[destinations.salesforce]
type = "salesforce"
mapping = "salesforce.toml"

[destinations.salesforce.settings]
auth = "client_credentials"
login_url = "{url}"
client_id = "{CLIENT_ID}"
bulk_poll_seconds = 0

[destinations.salesforce.settings.role_picklist]
Owner = "Decision Maker"
Admin = "Technical Buyer"
User = "Business User"
Viewer = "Evaluator"
"""
    )
    return config


def test_an_org_with_30_percent_of_the_contacts_is_matched_not_duplicated(
    tmp_path: Path, fake: FakeSalesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    portal = make_portal(tmp_path)
    org = fake.org
    contacts = {
        user["email"]: org.seed("Contact", {"LastName": "Seeded", "Email": user["email"].upper()})
        for user in portal.seeded_users
    }
    spellings = ("{}", "www.{}", "https://{}/", "http://www.{}")
    accounts = {
        account["account_id"]: org.seed(
            "Account", {"Name": "Seeded", "Website": spellings[i % 4].format(account["domain"])}
        )
        for i, account in enumerate(portal.seeded_accounts)
    }
    config = _project(tmp_path, fake.url)
    monkeypatch.setenv("HUB_DESTINATIONS__SALESFORCE__SETTINGS__CLIENT_SECRET", CLIENT_SECRET)

    (run,) = sync(config, sleep=lambda seconds: None)

    assert run.status is RunStatus.SUCCEEDED, run.message
    assert run.counts["failed"] == 0
    assert run.counts["adopted"] == len(contacts) + len(accounts)
    held = org.records["Contact"].values()
    assert len(org.records["Contact"]) == len(portal.users)
    assert max(Counter(str(r.get("Email")).lower() for r in held).values()) == 1
    assert len(org.records["Account"]) == len(portal.accounts)
    for email, record_id in contacts.items():
        record = org.records["Contact"][record_id]
        assert str(record["Email"]).lower() == email and record["Hub_User_Id__c"]
    for account_id, record_id in accounts.items():
        assert org.records["Account"][record_id]["Hub_Account_Id__c"] == account_id
    memberships = {(m["user_id"], m["account_id"]) for m in portal.memberships}
    assert len(org.records["AccountContactRelation"]) == len(memberships)

    before = len(fake.data_requests())
    (again,) = sync(config, sleep=lambda seconds: None)
    assert again.status is RunStatus.SUCCEEDED
    assert len(fake.data_requests()) == before
