"""Recorded exchanges, replayed with the network blocked.

Each cassette in ``cassettes/salesforce/`` follows the request and response
shapes of the Salesforce REST API Developer Guide page a test's docstring
names. They were recorded against the local fake (``salesforce_fake.py``)
with the host rewritten to ``https://example.my.salesforce.com`` and the
credentials filtered out; to record again::

    pytest tests/plugins/salesforce/test_salesforce_cassettes.py --record-mode=rewrite
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hub_salesforce import SalesforceDestination
from salesforce_fake import FakeSalesforce, Org
from salesforce_helpers import salesforce

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
from hub.contract.testing import make_batch

EXAMPLE = "https://example.my.salesforce.com"
ROOT = Path(__file__).resolve().parents[3]
FILTERED = "FILTERED"

pytestmark = [pytest.mark.vcr, pytest.mark.block_network]


def _rewrite(text: str, url: str) -> str:
    return text.replace(url, EXAMPLE)


class Target:
    """Where a test talks to: the fake while recording, the cassette's host on replay."""

    def __init__(self, fake: FakeSalesforce | None) -> None:
        self.fake = fake
        self.url = fake.url if fake is not None else EXAMPLE

    def plant(self, action: Callable[[Org], Any]) -> None:
        """Change the fake org (while recording; the cassette already holds the effect)."""
        if self.fake is not None:
            action(self.fake.org)


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(ROOT / "cassettes" / "salesforce")


@pytest.fixture
def target(record_mode: str) -> Iterator[Target]:
    if record_mode == "none":
        yield Target(None)
        return
    with FakeSalesforce() as fake:
        yield Target(fake)


@pytest.fixture
def vcr_config(target: Target) -> dict[str, Any]:
    url = target.url

    def request(request: Any) -> Any:
        request.uri = _rewrite(request.uri, url)
        if request.path.endswith("/oauth2/token"):
            request.body = None  # the form holds the client secret
        return request

    def response(response: dict[str, Any]) -> dict[str, Any]:
        body = response["body"]["string"]
        text = body.decode() if isinstance(body, bytes) else body
        text = _rewrite(text, url)
        if '"access_token"' in text:
            import json

            document = json.loads(text)
            document["access_token"] = FILTERED
            document["signature"] = FILTERED
            text = json.dumps(document)
        response["body"]["string"] = text.encode()
        headers = response["headers"]
        for name in list(headers):
            if name.lower() == "content-length":
                headers[name] = [str(len(response["body"]["string"]))]
        return response

    return {
        "filter_headers": ["authorization"],
        "before_record_request": request,
        "before_record_response": response,
        "decode_compressed_response": True,
    }


def _send(
    destination: SalesforceDestination, object: BatchObject, operation: Operation, items: list[Any]
) -> dict[str, RecordResult]:
    return {r.key: r for r in destination.send(make_batch(object, operation, items))}


def test_collections_upsert_per_record_results(tmp_path: Path, target: Target) -> None:
    """Follows "sObject Collections: Upsert Records" (PATCH composite/sobjects/Account/
    Hub_Account_Id__c, allOrNone false: an UpsertResult per record, in order)."""
    sf = salesforce(tmp_path, target.url)
    answers = _send(
        sf,
        BatchObject.ACCOUNT,
        Operation.UPSERT,
        [
            BatchItem("acc_twitter", {"Name": "Twitter", "Website": "twitter.example"}),
            BatchItem("acc_blank", {"Website": "blank.example"}),
            BatchItem("acc_tesla", {"Name": "Tesla", "NumberOfEmployees": 127000}),
        ],
    )
    assert answers["acc_twitter"].outcome is Outcome.OK
    assert str(answers["acc_twitter"].destination_id).startswith("001")
    assert answers["acc_blank"].outcome is Outcome.PERMANENT
    assert "REQUIRED_FIELD_MISSING" in str(answers["acc_blank"].reason)
    assert answers["acc_tesla"].outcome is Outcome.OK


def test_bulk_ingest_job_failed_and_successful_results(tmp_path: Path, target: Target) -> None:
    """Follows "Bulk API 2.0: Create a Job", "Upload Job Data", "Close or Abort a Job",
    "Get Job Info", "Get Job Failed Record Results" and "Get Job Successful Record Results"."""
    sf = salesforce(tmp_path, target.url, bulk_threshold=3)
    items = [
        BatchItem("u_elon", {"FirstName": "Elon", "LastName": "Musk", "Email": "elon@x.example"}),
        BatchItem("u_maya", {"FirstName": "Maya", "LastName": "Okafor", "Title": None}),
        BatchItem("u_dup", {"LastName": "Dup", "Email": "duplicate@x.example"}),
        BatchItem("u_nameless", {"FirstName": "Nameless"}),
    ]
    answers = _send(sf, BatchObject.CONTACT, Operation.UPSERT, items)
    assert answers["u_elon"].outcome is Outcome.OK
    assert str(answers["u_maya"].destination_id).startswith("003")
    assert answers["u_dup"].outcome is Outcome.PERMANENT
    assert str(answers["u_dup"].reason).startswith("DUPLICATES_DETECTED")
    assert answers["u_nameless"].outcome is Outcome.PERMANENT
    assert str(answers["u_nameless"].reason).startswith("REQUIRED_FIELD_MISSING")


def test_account_contact_relations(tmp_path: Path, target: Target) -> None:
    """Follows "sObject Collections: Create Records", "Update Records" and "Delete Records"
    and "Execute a SOQL Query", on AccountContactRelation (the Object Reference's
    AccountContactRelation: Roles, IsActive, StartDate, EndDate; IsDirect follows
    Contact.AccountId)."""
    sf = salesforce(tmp_path, target.url)
    accounts = {
        k: str(r.destination_id)
        for k, r in _send(
            sf,
            BatchObject.ACCOUNT,
            Operation.UPSERT,
            [
                BatchItem("acc_twitter", {"Name": "Twitter"}),
                BatchItem("acc_tesla", {"Name": "Tesla"}),
            ],
        ).items()
    }
    contact = str(
        _send(
            sf, BatchObject.CONTACT, Operation.UPSERT, [BatchItem("u_elon", {"LastName": "Musk"})]
        )["u_elon"].destination_id
    )

    def link(account: str, role: str, primary: bool) -> BatchItem:
        return BatchItem(
            link_key("u_elon", account),
            link_payload({"role": role, "IsActive": True, "StartDate": "2024-03-14"}, primary),
            None,
            LinkEnds("u_elon", account, contact, accounts[account], primary),
        )

    linked = _send(
        sf,
        BatchObject.LINK,
        Operation.LINK,
        [link("acc_twitter", "Owner", True), link("acc_tesla", "Admin", False)],
    )
    assert all(r.outcome is Outcome.OK for r in linked.values())
    assert all(str(r.destination_id).startswith("07k") for r in linked.values())
    unlinked = _send(
        sf,
        BatchObject.LINK,
        Operation.UNLINK,
        [
            BatchItem(item.key, {}, linked[item.key].destination_id, item.link)
            for item in (link("acc_twitter", "Owner", True), link("acc_tesla", "Admin", False))
        ],
    )
    twitter, tesla = (
        link(a, r, p).key
        for a, r, p in (("acc_twitter", "Owner", True), ("acc_tesla", "Admin", False))
    )
    # The direct relation (the primary, Twitter) is refused with the reason; Tesla goes.
    assert unlinked[tesla].outcome is Outcome.OK
    assert unlinked[twitter].outcome is Outcome.PERMANENT
    assert "direct one" in (unlinked[twitter].reason or "")


def test_expired_session_is_refreshed_once(tmp_path: Path, target: Target) -> None:
    """Follows "Status Codes and Error Responses" (401 INVALID_SESSION_ID) and
    "OAuth 2.0 Client Credentials Flow for Server-to-Server Integration"."""
    sf = salesforce(tmp_path, target.url)
    first = _send(sf, BatchObject.ACCOUNT, Operation.UPSERT, [BatchItem("a1", {"Name": "A"})])
    target.plant(Org.expire_sessions)
    second = _send(sf, BatchObject.ACCOUNT, Operation.UPSERT, [BatchItem("a1", {"Name": "B"})])
    assert first["a1"].destination_id == second["a1"].destination_id is not None


def test_request_limit_exceeded_stops_the_run(tmp_path: Path, target: Target) -> None:
    """Follows "Status Codes and Error Responses" (403 REQUEST_LIMIT_EXCEEDED) and
    "Limits Info Header" (Sforce-Limit-Info: api-usage)."""
    target.plant(lambda org: setattr(org, "api_total", 2))
    sf = salesforce(tmp_path, target.url, max_api_share=1.0)
    ok = _send(sf, BatchObject.ACCOUNT, Operation.UPSERT, [BatchItem("a1", {"Name": "A"})])
    assert ok["a1"].outcome is Outcome.OK
    # Another client spends the rest of the day's quota.
    target.plant(lambda org: setattr(org, "api_used", 2))
    with pytest.raises(FatalDestinationError, match="REQUEST_LIMIT_EXCEEDED"):
        _send(sf, BatchObject.ACCOUNT, Operation.UPSERT, [BatchItem("a2", {"Name": "B"})])
