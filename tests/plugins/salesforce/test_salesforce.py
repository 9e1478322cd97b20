"""The Salesforce destination against the local fake org: upserts, bulk jobs,
leads, account-contact relations, limits, sessions and secrecy."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hub_salesforce import CAPABILITIES, SalesforceSettings
from pydantic import ValidationError
from salesforce_fake import (
    CLIENT_SECRET,
    PASSWORD,
    SECURITY_TOKEN,
    USERNAME,
    FakeSalesforce,
)
from salesforce_helpers import salesforce, salesforce_settings

from hub.contract.capabilities import Operation
from hub.contract.destination import (
    BatchItem,
    BatchObject,
    FatalDestinationError,
    LinkEnds,
    Outcome,
    RecordResult,
    link_key,
    link_payload,
)
from hub.contract.testing import RecordingBudget, make_batch


def _send(destination, object, operation, items) -> dict[str, RecordResult]:  # type: ignore[no-untyped-def]
    results = destination.send(make_batch(object, operation, items))
    assert len(results) == len(items)
    return {r.key: r for r in results}


def _accounts(destination, *keys: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    answers = _send(
        destination,
        BatchObject.ACCOUNT,
        Operation.UPSERT,
        [BatchItem(k, {"Name": k.title()}) for k in keys],
    )
    assert all(r.outcome is Outcome.OK for r in answers.values())
    return {k: str(r.destination_id) for k, r in answers.items()}


def _link(user: str, contact_id: str, account: str, account_id: str, role: str, primary: bool):  # type: ignore[no-untyped-def]
    return BatchItem(
        link_key(user, account),
        link_payload({"role": role, "StartDate": "2024-03-14T10:00:00Z"}, primary),
        None,
        LinkEnds(user, account, contact_id, account_id, primary),
    )


# -- upserts -------------------------------------------------------------------------


def test_small_batches_go_through_collections_of_200(tmp_path: Path, fake: FakeSalesforce) -> None:
    """Follows "sObject Collections: Upsert Records": one PATCH per 200 records."""
    sf = salesforce(tmp_path, fake.url)
    items = [BatchItem(f"u{i}", {"LastName": f"User {i}"}) for i in range(450)]
    answers = _send(sf, BatchObject.CONTACT, Operation.UPSERT, items)
    assert all(r.outcome is Outcome.OK for r in answers.values())
    assert answers["u0"].destination_id == fake.org.find("Contact", "Hub_User_Id__c", "u0")["Id"]
    patches = [p for m, p in fake.data_requests() if m == "PATCH"]
    assert patches == ["/services/data/v60.0/composite/sobjects/Contact/Hub_User_Id__c"] * 3


def test_a_large_batch_is_one_bulk_job_with_per_record_errors(
    tmp_path: Path, fake: FakeSalesforce
) -> None:
    """Follows "Bulk API 2.0: Get Job Failed Record Results" and
    "Get Job Successful Record Results"."""
    fake.org.bulk_polls_in_progress = 2
    sf = salesforce(tmp_path, fake.url, bulk_threshold=100)
    items = [BatchItem(f"u{i}", {"LastName": f"User {i}", "Title": None}) for i in range(150)]
    items[7] = BatchItem("u7", {"FirstName": "No last name"})
    items[9] = BatchItem("u9", {"LastName": "Dup", "Email": "duplicate@example.com"})
    fake.org.lock_keys.add("u11")
    answers = _send(sf, BatchObject.CONTACT, Operation.UPSERT, items)
    assert answers["u7"].outcome is Outcome.PERMANENT
    assert "REQUIRED_FIELD_MISSING" in str(answers["u7"].reason)
    assert answers["u9"].outcome is Outcome.PERMANENT
    assert "DUPLICATES_DETECTED" in str(answers["u9"].reason)
    assert answers["u11"].outcome is Outcome.RETRYABLE
    assert "UNABLE_TO_LOCK_ROW" in str(answers["u11"].reason)
    ok = [r for r in answers.values() if r.outcome is Outcome.OK]
    assert len(ok) == 147 and all(str(r.destination_id).startswith("003") for r in ok)
    paths = [p.rsplit("/", 1)[-1] for _, p in fake.data_requests()]
    assert paths.count("batches") == 1  # one upload: one job for the whole batch
    assert "failedResults" in paths and "successfulResults" in paths
    # "#N/A" nulls a field in a bulk CSV; an empty cell would leave it as it was.
    assert fake.org.find("Contact", "Hub_User_Id__c", "u1")["Title"] is None


def test_a_lock_is_retryable_and_a_validation_error_permanent(
    tmp_path: Path, fake: FakeSalesforce
) -> None:
    """Follows "sObject Collections: Upsert Records" (errors per record, allOrNone false)."""
    sf = salesforce(tmp_path, fake.url)
    fake.org.lock_keys.add("locked")
    items = [
        BatchItem("locked", {"LastName": "L"}),
        BatchItem("rule", {"LastName": "INVALID"}),
        BatchItem("fine", {"LastName": "F"}),
    ]
    answers = _send(sf, BatchObject.CONTACT, Operation.UPSERT, items)
    assert answers["locked"].outcome is Outcome.RETRYABLE
    assert answers["rule"].outcome is Outcome.PERMANENT
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in str(answers["rule"].reason)
    assert answers["fine"].outcome is Outcome.OK
    again = _send(sf, BatchObject.CONTACT, Operation.UPSERT, items[:1])
    assert again["locked"].outcome is Outcome.OK


def test_an_unknown_field_is_permanent_for_the_request(
    tmp_path: Path, fake: FakeSalesforce
) -> None:
    sf = salesforce(tmp_path, fake.url)
    items = [BatchItem("a1", {"Name": "A", "Bogus__c": 1}), BatchItem("a2", {"Name": "B"})]
    answers = _send(sf, BatchObject.ACCOUNT, Operation.UPSERT, items)
    assert {r.outcome for r in answers.values()} == {Outcome.PERMANENT}
    assert "INVALID_FIELD" in str(answers["a1"].reason)


# -- leads ---------------------------------------------------------------------------


def test_accountless_users_become_leads_and_contacts_stay_contacts(
    tmp_path: Path, fake: FakeSalesforce
) -> None:
    sf = salesforce(tmp_path, fake.url, leads_for_accountless_users=True)
    items = [
        BatchItem("solo", {"LastName": "Solo", "hub_account_count": 0}),
        BatchItem("member", {"LastName": "Member", "hub_account_count": 2}),
    ]
    answers = _send(sf, BatchObject.CONTACT, Operation.UPSERT, items)
    assert str(answers["solo"].destination_id).startswith("00Q")
    assert str(answers["member"].destination_id).startswith("003")
    lead = fake.org.find("Lead", "Hub_User_Id__c", "solo")
    assert lead["Company"] == "[not provided]" and "hub_account_count" not in lead
    # A user the hub already holds as a Contact stays one when their accounts go.
    gone = BatchItem("member", {"LastName": "Member", "hub_account_count": 0}, "003x")
    assert (
        str(_send(sf, BatchObject.CONTACT, Operation.UPSERT, [gone])["member"].destination_id)[:3]
        == "003"
    )
    missing = _send(sf, BatchObject.CONTACT, Operation.UPSERT, [BatchItem("x", {"LastName": "X"})])
    assert missing["x"].outcome is Outcome.PERMANENT
    assert "rollup.account_count" in str(missing["x"].reason)


# -- account-contact relations -----------------------------------------------------------


def test_a_slow_ingest_job_is_aborted_after_the_bounded_wait_and_each_row_settled(
    tmp_path: Path, fake: FakeSalesforce
) -> None:
    """Bulk API 2.0 "Get Job Unprocessed Record Results": a job still running
    after ``bulk_max_wait_seconds`` is aborted; the rows it wrote are confirmed,
    its failed rows fail with their error, and the rows it never reached stay
    pending (retryable). The wait runs on the hub's clock, not the SDK's 24 h."""
    fake.org.bulk_rows_per_poll = 30
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    sf = salesforce(
        tmp_path,
        fake.url,
        bulk_threshold=100,
        bulk_poll_seconds=5,
        bulk_max_wait_seconds=20,
        extras={"monotonic": lambda: now[0], "sleep": sleep},
    )
    items = [BatchItem(f"u{i:03d}", {"LastName": f"User {i}"}) for i in range(150)]
    items[3] = BatchItem("u003", {"FirstName": "No last name"})
    answers = _send(sf, BatchObject.CONTACT, Operation.UPSERT, items)
    outcomes = [answers[item.key].outcome for item in items]
    # 30 rows on close, 30 more at each poll (5, 15 and 20 s: the deadline), then the abort.
    assert outcomes[:120].count(Outcome.OK) == 119
    assert answers["u003"].outcome is Outcome.PERMANENT
    assert "REQUIRED_FIELD_MISSING" in (answers["u003"].reason or "")
    assert set(outcomes[120:]) == {Outcome.RETRYABLE}
    assert "not processed" in (answers["u149"].reason or "")
    assert now[0] == 20.0
    [job] = fake.org.jobs.values()
    assert job.state == "Aborted"
    assert fake.org.find("Contact", "Hub_User_Id__c", "u149") is None


def test_a_failed_ingest_job_settles_each_row(tmp_path: Path, fake: FakeSalesforce) -> None:
    """A job that fails as a whole (InvalidBatch: a column Salesforce does not
    know) fails its unprocessed rows for good, with Salesforce's message."""
    sf = salesforce(tmp_path, fake.url, bulk_threshold=10)
    items = [BatchItem(f"u{i}", {"LastName": "X", "BogusField__c": "1"}) for i in range(12)]
    answers = _send(sf, BatchObject.CONTACT, Operation.UPSERT, items)
    assert {r.outcome for r in answers.values()} == {Outcome.PERMANENT}
    assert "InvalidBatch" in (answers["u0"].reason or "")


def test_multi_account_user_primary_and_relations(tmp_path: Path, fake: FakeSalesforce) -> None:
    """Follows "sObject Collections: Create/Update/Delete Records" on AccountContactRelation."""
    sf = salesforce(tmp_path, fake.url)
    accounts = _accounts(sf, "twitter", "tesla", "spacex")
    contact = _send(
        sf, BatchObject.CONTACT, Operation.UPSERT, [BatchItem("elon", {"LastName": "Musk"})]
    )["elon"].destination_id
    assert contact is not None
    links = [
        _link("elon", contact, "twitter", accounts["twitter"], "Owner", True),
        _link("elon", contact, "tesla", accounts["tesla"], "Admin", False),
        _link("elon", contact, "spacex", accounts["spacex"], "User", False),
    ]
    first = _send(sf, BatchObject.LINK, Operation.LINK, links)
    assert all(r.outcome is Outcome.OK for r in first.values())
    org = fake.org
    assert org.records["Contact"][contact]["AccountId"] == accounts["twitter"]
    held = {r["AccountId"]: r for r in org.relations(contact)}
    assert held[accounts["twitter"]]["IsDirect"] is True
    assert held[accounts["twitter"]]["Roles"] == "Decision Maker"
    assert held[accounts["tesla"]]["Roles"] == "Technical Buyer"
    assert held[accounts["tesla"]]["StartDate"] == "2024-03-14"
    assert held[accounts["tesla"]]["IsDirect"] is False

    # Re-sent unchanged: one query, no write.
    before = len(fake.data_requests())
    again = _send(sf, BatchObject.LINK, Operation.LINK, links)
    assert {k: r.destination_id for k, r in again.items()} == {
        k: r.destination_id for k, r in first.items()
    }
    assert [m for m, _ in fake.data_requests()[before:]] == ["GET"]

    # The primary moves to Tesla by changing AccountId; Twitter stays, indirect.
    moved = [
        _link("elon", contact, "twitter", accounts["twitter"], "Owner", False),
        _link("elon", contact, "tesla", accounts["tesla"], "Admin", True),
    ]
    assert all(
        r.outcome is Outcome.OK for r in _send(sf, BatchObject.LINK, Operation.LINK, moved).values()
    )
    held = {r["AccountId"]: r for r in org.relations(contact)}
    assert org.records["Contact"][contact]["AccountId"] == accounts["tesla"]
    assert held[accounts["tesla"]]["IsDirect"] and not held[accounts["twitter"]]["IsDirect"]
    assert held[accounts["tesla"]]["Id"] == first[links[1].key].destination_id

    # An indirect relation is deleted; the direct one cannot be (only a primary change
    # removes it): said as a refusal, never reported as done.
    unlinks = [
        BatchItem(item.key, {}, None, item.link)
        for item in (links[0], links[1])  # twitter (now indirect), tesla (direct)
    ]
    answers = _send(sf, BatchObject.LINK, Operation.UNLINK, unlinks)
    assert answers[links[0].key].outcome is Outcome.OK
    direct = answers[links[1].key]
    assert direct.outcome is Outcome.PERMANENT
    assert "direct one (Contact.AccountId)" in (direct.reason or "")
    assert "primary account changes" in (direct.reason or "")
    remaining = {r["AccountId"] for r in org.relations(contact)}
    assert remaining == {accounts["tesla"], accounts["spacex"]}


def test_a_primary_move_recreates_the_relation_an_org_deletes(
    tmp_path: Path, fake: FakeSalesforce
) -> None:
    """With the Account Settings choice that deletes the previous primary's relation
    on a primary change, the hub puts it back (indirect, with its roles and dates):
    the user still belongs to that account, and the hub's link did not change."""
    fake.org.keep_previous_primary = False
    sf = salesforce(tmp_path, fake.url)
    accounts = _accounts(sf, "twitter", "tesla")
    contact = _send(
        sf, BatchObject.CONTACT, Operation.UPSERT, [BatchItem("elon", {"LastName": "Musk"})]
    )["elon"].destination_id
    assert contact is not None
    twitter = _link("elon", contact, "twitter", accounts["twitter"], "Owner", True)
    tesla = _link("elon", contact, "tesla", accounts["tesla"], "Admin", False)
    _send(sf, BatchObject.LINK, Operation.LINK, [twitter, tesla])
    # Only the new primary's link is re-sent (the old one's batch came earlier).
    moved = _send(
        sf,
        BatchObject.LINK,
        Operation.LINK,
        [_link("elon", contact, "tesla", accounts["tesla"], "Admin", True)],
    )
    assert {r.outcome for r in moved.values()} == {Outcome.OK}
    held = {r["AccountId"]: r for r in fake.org.relations(contact)}
    assert held[accounts["tesla"]]["IsDirect"] is True
    assert held[accounts["twitter"]]["IsDirect"] is False
    assert held[accounts["twitter"]]["Roles"] == "Decision Maker"
    assert held[accounts["twitter"]]["StartDate"] == "2024-03-14"
    # With the other setting nothing is re-created (nothing was deleted).
    fake.org.keep_previous_primary = True
    before = len(fake.data_requests())
    _send(
        sf,
        BatchObject.LINK,
        Operation.LINK,
        [_link("elon", contact, "twitter", accounts["twitter"], "Owner", True)],
    )
    assert [m for m, _ in fake.data_requests()[before:]].count("POST") == 0


def test_an_unmapped_role_is_refused_naming_the_setting(
    tmp_path: Path, fake: FakeSalesforce
) -> None:
    sf = salesforce(tmp_path, fake.url, role_picklist={"Owner": "Decision Maker"})
    accounts = _accounts(sf, "acme")
    contact = _send(
        sf, BatchObject.CONTACT, Operation.UPSERT, [BatchItem("u1", {"LastName": "One"})]
    )["u1"].destination_id
    assert contact is not None
    answers = _send(
        sf,
        BatchObject.LINK,
        Operation.LINK,
        [_link("u1", contact, "acme", accounts["acme"], "Guest", True)],
    )
    [result] = answers.values()
    assert result.outcome is Outcome.PERMANENT
    assert "destinations.crm.settings.role_picklist" in str(result.reason)


def test_settings_refuse_an_expected_role_without_a_picklist_value() -> None:
    with pytest.raises(ValidationError, match="'Viewer'"):
        SalesforceSettings.model_validate(
            {
                "auth": "client_credentials",
                "client_id": "x",
                "client_secret": "y",
                "role_picklist": {"Owner": "Decision Maker"},
                "expected_roles": ["Owner", "Viewer"],
            }
        )
    with pytest.raises(ValidationError, match="cannot contain"):
        salesforce_settings("https://x.example", role_picklist={"Owner": "A;B"})


# -- limits, sessions, credentials -------------------------------------------------------


def test_daily_usage_feeds_the_budget_and_stops_before_the_share(
    tmp_path: Path, fake: FakeSalesforce
) -> None:
    budget = RecordingBudget()
    sf = salesforce(tmp_path, fake.url, budget=budget, max_api_share=0.8)
    fake.org.api_total = 1000
    fake.org.api_used = 500
    _accounts(sf, "a1")
    assert budget.observed[-1]["daily_remaining"] == 499
    fake.org.api_used = 799
    _accounts(sf, "a2")  # this request brings usage to 800/1000
    with pytest.raises(FatalDestinationError) as stopped:
        _accounts(sf, "a3")
    assert "max_api_share" in str(stopped.value) and "800 of the org's 1000" in str(stopped.value)
    assert fake.org.find("Account", "Hub_Account_Id__c", "a3") is None


def test_request_limit_exceeded_is_fatal(tmp_path: Path, fake: FakeSalesforce) -> None:
    sf = salesforce(tmp_path, fake.url)
    fake.org.api_total = 0
    with pytest.raises(FatalDestinationError, match="REQUEST_LIMIT_EXCEEDED"):
        _accounts(sf, "a1")


def test_an_expired_session_is_refreshed_once_then_fatal(
    tmp_path: Path, fake: FakeSalesforce
) -> None:
    sf = salesforce(tmp_path, fake.url)
    _accounts(sf, "a1")
    fake.org.expire_sessions()
    _accounts(sf, "a2")  # refreshed
    assert fake.org.token_requests == 2
    fake.org.refuse_sessions = True
    with pytest.raises(FatalDestinationError) as stopped:
        _accounts(sf, "a3")
    assert "HUB_DESTINATIONS__CRM__SETTINGS__CLIENT_SECRET" in str(stopped.value)
    assert fake.org.token_requests == 3


@pytest.mark.parametrize("flow", ["password", "client_credentials", "jwt_bearer"])
def test_each_auth_flow_gets_a_token(tmp_path: Path, fake: FakeSalesforce, flow: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    extra = {
        "password": {"username": USERNAME, "password": PASSWORD, "security_token": SECURITY_TOKEN},
        "client_credentials": {},
        "jwt_bearer": {"username": USERNAME, "private_key": pem, "client_secret": None},
    }[flow]
    sf = salesforce(tmp_path, fake.url, auth=flow, **extra)
    assert _accounts(sf, "a1")["a1"].startswith("001")


def test_bad_credentials_are_fatal_and_never_echoed(
    tmp_path: Path, fake: FakeSalesforce, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sf = salesforce(tmp_path, fake.url, client_secret="wrong-secret-value")
    with pytest.raises(FatalDestinationError) as stopped:
        _accounts(sf, "a1")
    message = str(stopped.value)
    assert "invalid_grant" in message
    assert "HUB_DESTINATIONS__CRM__SETTINGS__CLIENT_SECRET" in message
    for secret in ("wrong-secret-value", CLIENT_SECRET):
        assert secret not in message and secret not in caplog.text and secret not in repr(sf)
    assert "wrong-secret-value" not in repr(sf.settings)


def test_capabilities_and_narrowing(tmp_path: Path, fake: FakeSalesforce) -> None:
    sf = salesforce(tmp_path, fake.url, bulk_batch_size=5000, requests_per_second=5)
    assert sf.capabilities.batch_size(Operation.UPSERT) == 5000
    assert sf.capabilities.batch_size(Operation.LINK) == 200
    assert CAPABILITIES.links is not None and CAPABILITIES.links.primary
    assert sf.capabilities.rate_limit is not None and sf.capabilities.rate_limit.requests == 5


def test_mirror_deletes_and_a_repeated_delete_is_ok(tmp_path: Path, fake: FakeSalesforce) -> None:
    sf = salesforce(tmp_path, fake.url)
    ids = _accounts(sf, "a1", "a2")
    deletes = [BatchItem(k, {}, v) for k, v in ids.items()]
    for _ in range(2):
        answers = _send(sf, BatchObject.ACCOUNT, Operation.DELETE, deletes)
        assert all(r.outcome is Outcome.OK for r in answers.values())
    assert fake.org.records["Account"] == {}
