"""The first sync into a HubSpot portal that already has contacts and companies
(through ``hub.sync``, against the fake HubSpot): existing contacts are adopted
by e-mail and companies by domain, nothing is created twice, nothing fails, and
one bad record never sinks the batch it travels in."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from fake_hubspot import TOKEN, FakeHubSpot
from portal_data import Portal, make_portal, mapping_toml, sources_toml

from hub.state import ErrorInfo, RunStatus, open_state_store
from hub.sync import sync

MAPPING_FIELDS = {
    "accounts": {"name": "account.name", "domain": "account.domain"},
    "users": {
        "email": "user.email",
        "firstname": "user.first_name",
        "lifecyclestage": "rollup.stage",
    },
}


def _project(tmp_path: Path, url: str, *, users_match: str = '["external_id", "email"]') -> Path:
    mapping = mapping_toml("hubspot", **MAPPING_FIELDS, users_match=users_match)
    # The association labels carry the role.
    (tmp_path / "hubspot.toml").write_text(
        mapping + '\n[links.properties]\nrole = "relationship.role"\n'
    )
    config = tmp_path / "hub.toml"
    config.write_text(
        sources_toml(tmp_path)
        + f"""
[destinations.hubspot]
type = "hubspot"
mapping = "hubspot.toml"

[destinations.hubspot.settings]
tier = "professional"
base_url = "{url}"
"""
    )
    return config


def _seed(fake: FakeHubSpot, portal: Portal) -> tuple[dict[str, str], dict[str, str]]:
    contacts = {
        user["email"]: fake.seed("contacts", {"email": user["email"].upper(), "phone": "+1 555"})
        for user in portal.seeded_users
    }
    companies = {}
    for i, account in enumerate(portal.seeded_accounts):
        # Real portals hold domains as typed: some with www.
        domain = f"www.{account['domain']}" if i % 2 else account["domain"]
        companies[account["account_id"]] = fake.seed("companies", {"domain": domain})
    return contacts, companies


def _errors(project: Path) -> list[ErrorInfo]:
    """The latest run's per-record errors, as ``hub errors`` lists them."""
    with open_state_store("sqlite:///.hub/state.db", project) as store:
        return store.errors(destination="hubspot")


@pytest.fixture
def hubspot_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DESTINATIONS__HUBSPOT__SETTINGS__TOKEN", TOKEN)


@pytest.mark.usefixtures("hubspot_token")
def test_a_portal_with_30_percent_of_the_contacts_is_matched_not_duplicated(
    tmp_path: Path, fake: FakeHubSpot
) -> None:
    portal = make_portal(tmp_path)
    seeded_contacts, seeded_companies = _seed(fake, portal)
    config = _project(tmp_path, fake.url)

    (run,) = sync(config, sleep=lambda seconds: None)

    assert run.status is RunStatus.SUCCEEDED, run.message
    assert run.counts["failed"] == 0
    assert run.counts["adopted"] == len(seeded_contacts) + len(seeded_companies)
    # Every user is exactly one contact, every account exactly one company.
    emails = Counter(r.get("email", "").lower() for r in fake.objects["contacts"].values())
    assert len(fake.objects["contacts"]) == len(portal.users)
    assert max(emails.values()) == 1
    assert len(fake.objects["companies"]) == len(portal.accounts)
    for user in portal.users:
        found = fake.find("contacts", "hub_user_id", user["user_id"])
        assert found is not None, user["user_id"]
        if user["email"] in seeded_contacts:
            # The portal's own contact, its own data kept, the hub's key written on it.
            assert found[0] == seeded_contacts[user["email"]]
            assert found[1]["phone"] == "+1 555"
    for account_id, company_id in seeded_companies.items():
        found = fake.find("companies", "hub_account_id", account_id)
        assert found is not None and found[0] == company_id
    # A second run sends nothing.
    before = len(fake.log)
    (again,) = sync(config, sleep=lambda seconds: None)
    assert again.status is RunStatus.SUCCEEDED
    assert len(fake.log) == before


@pytest.mark.usefixtures("hubspot_token")
def test_a_contact_of_another_hub_record_is_never_taken_over(
    tmp_path: Path, fake: FakeHubSpot
) -> None:
    portal = make_portal(tmp_path, users=20, accounts=5, seeded_share=0, seeded_accounts=0)
    taken = portal.users[3]
    fake.seed("contacts", {"email": taken["email"], "hub_user_id": "u_someone_else"})
    config = _project(tmp_path, fake.url)

    (run,) = sync(config, sleep=lambda seconds: None)

    assert run.counts["failed"] == 1
    assert run.counts["created"] == 19 + 5  # every other user, and every account
    found = fake.find("contacts", "email", taken["email"])
    assert found is not None and found[1]["hub_user_id"] == "u_someone_else"
    reasons = [error.reason for error in _errors(tmp_path)]
    assert any("belongs to another hub record" in r and "u_someone_else" in r for r in reasons)


@pytest.mark.usefixtures("hubspot_token")
def test_a_409_naming_an_existing_contact_resolves_to_it(
    tmp_path: Path, fake: FakeHubSpot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A contact created in the portal after the lookup (a race): HubSpot answers
    the whole batch 409 "Contact already exists. Existing ID: N"; the batch is
    isolated, and the record refused alone adopts N."""
    portal = make_portal(tmp_path, users=30, accounts=5, seeded_share=0, seeded_accounts=0)
    late = portal.users[7]
    config = _project(tmp_path, fake.url)
    looked_up = fake._read

    def read_then_race(object_type: str, body: object) -> tuple[int, object]:
        answer = looked_up(object_type, body)
        if object_type == "contacts" and not fake.find("contacts", "email", late["email"]):
            fake.seed("contacts", {"email": late["email"]})
        return answer

    monkeypatch.setattr(fake, "_read", read_then_race)

    (run,) = sync(config, sleep=lambda seconds: None)

    assert run.status is RunStatus.SUCCEEDED, run.message
    assert run.counts["adopted"] == 1
    assert 409 in fake.statuses()
    assert len(fake.objects["contacts"]) == 30
    found = fake.find("contacts", "email", late["email"])
    assert found is not None and found[1]["hub_user_id"] == late["user_id"]


@pytest.mark.usefixtures("hubspot_token")
def test_without_email_in_the_chain_a_409_fails_and_says_how_to_adopt(
    tmp_path: Path, fake: FakeHubSpot
) -> None:
    portal = make_portal(tmp_path, users=10, accounts=3, seeded_share=0.2, seeded_accounts=0)
    _seed(fake, portal)
    config = _project(tmp_path, fake.url, users_match='["external_id"]')

    (run,) = sync(config, sleep=lambda seconds: None)

    assert run.counts["failed"] == 2
    assert len(fake.objects["contacts"]) == 10  # 8 created, the 2 seeded untouched
    reasons = [error.reason for error in _errors(tmp_path)]
    assert all("add 'email' to users.match" in r for r in reasons), reasons


@pytest.mark.usefixtures("hubspot_token")
def test_one_invalid_value_fails_its_record_alone(tmp_path: Path, fake: FakeHubSpot) -> None:
    """HubSpot refuses a whole batch with 400 for one invalid value (here a
    ``lifecyclestage`` that is no option of the property): 1% of the records are
    bad, and only they fail, each with HubSpot's message."""
    portal = make_portal(tmp_path, users=300, accounts=20, seeded_share=0, seeded_accounts=0)
    bad = {user["user_id"] for user in portal.users[::100]}
    rows = (tmp_path / "users.csv").read_text().splitlines()
    rows[0] += ",lifecycle"
    for i, user in enumerate(portal.users):
        rows[i + 1] += ",zombie" if user["user_id"] in bad else ",lead"
    (tmp_path / "users.csv").write_text("\n".join(rows) + "\n")
    config = _project(tmp_path, fake.url)
    mapping = tmp_path / "hubspot.toml"
    mapping.write_text(
        mapping.read_text().replace(
            'lifecyclestage = "rollup.stage"', 'lifecyclestage = "user.lifecycle"'
        )
    )

    (run,) = sync(config, sleep=lambda seconds: None)

    assert run.counts["failed"] == len(bad) == 3
    assert len(fake.objects["contacts"]) == 300 - 3
    failures = _errors(tmp_path)
    assert {f.key for f in failures} == bad
    assert all("zombie was not a valid enumeration" in f.reason for f in failures)
    upserts = [e for e in fake.log if e.path == "/crm/v3/objects/contacts/batch/upsert"]
    # Three batches of 100: each refused whole, then its bad input (HubSpot quotes
    # the value) resent alone and refused, and the other 99 resent and written.
    assert [(e.inputs, e.status) for e in upserts] == [(100, 400), (1, 400), (99, 200)] * 3
