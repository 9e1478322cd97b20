"""The Salesforce destination passes the conformance kit, against the local fake."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from salesforce_fake import FakeSalesforce
from salesforce_helpers import ROLE_PICKLIST, salesforce

from hub.contract.capabilities import Operation
from hub.contract.destination import (
    Batch,
    BatchItem,
    BatchObject,
    Destination,
    FatalDestinationError,
    Outcome,
    split_link_key,
)
from hub.contract.testing import (
    DestinationConformance,
    Expected,
    FailureCase,
    check_results,
    make_batch,
)

_ROLE_OF = {value: role for role, value in ROLE_PICKLIST.items()}


def _contacts(*names: str) -> Batch:
    return make_batch(
        BatchObject.CONTACT,
        Operation.UPSERT,
        [BatchItem(name, {"LastName": name, "Email": f"{name}@example.com"}) for name in names],
    )


class TestSalesforceConformance(DestinationConformance):
    destination_type = "salesforce"

    @pytest.fixture(autouse=True)
    def _use_fake(self, fake: FakeSalesforce) -> None:
        self.fake = fake

    def make_destination(self, tmp_path: Path) -> Destination:
        # A full upsert batch (500) goes through one Bulk API 2.0 job; the
        # kit's small batches through sObject Collections.
        return salesforce(tmp_path, self.fake.url, bulk_batch_size=500, bulk_threshold=300)

    def sample_payload(self, object: BatchObject, index: int) -> dict[str, Any]:
        if object is BatchObject.ACCOUNT:
            return {"Name": f"Account {index}", "Website": f"account{index}.example"}
        if object is BatchObject.CONTACT:
            return {"LastName": f"User {index}", "Email": f"user{index}@example.com"}
        return super().sample_payload(object, index)

    def read_back(
        self, destination: Destination, object: BatchObject, key: str
    ) -> Mapping[str, Any] | None:
        org = self.fake.org
        if object is BatchObject.ACCOUNT:
            record = org.find("Account", "Hub_Account_Id__c", key)
        elif object is BatchObject.CONTACT:
            record = org.find("Contact", "Hub_User_Id__c", key)
        else:
            contact_key, account_key = split_link_key(key)
            contact = org.find("Contact", "Hub_User_Id__c", contact_key)
            account = org.find("Account", "Hub_Account_Id__c", account_key)
            if contact is None or account is None:
                return None
            for relation in org.relations(contact["Id"]):
                if relation["AccountId"] == account["Id"]:
                    return {"role": _ROLE_OF.get(relation["Roles"], relation["Roles"])}
            return None
        if record is None:
            return None
        hidden = {"Id", "Hub_Account_Id__c", "Hub_User_Id__c", "AccountId"}
        return {k: v for k, v in record.items() if k not in hidden}

    def failure_cases(self) -> Iterable[FailureCase | tuple[Batch, Expected]]:
        yield FailureCase(
            _contacts("ok", "missing-name", "duplicate"),
            {"ok": Outcome.OK, "duplicate": Outcome.PERMANENT},
            "DUPLICATES_DETECTED",
        )
        batch = make_batch(
            BatchObject.CONTACT,
            Operation.UPSERT,
            [BatchItem("ok", {"LastName": "Ok"}), BatchItem("no-name", {"FirstName": "X"})],
        )
        yield FailureCase(
            batch, {"ok": Outcome.OK, "no-name": Outcome.PERMANENT}, "REQUIRED_FIELD_MISSING"
        )
        yield FailureCase(_contacts("a", "b"), Outcome.RETRYABLE, "503")
        yield FailureCase(_contacts("a"), FatalDestinationError, "REQUEST_LIMIT_EXCEEDED")

    def test_failures_are_classified(self, tmp_path: Path) -> None:
        # Plant the faults the cases above need, in the order they are sent.
        original = self.make_destination
        faults = iter(
            [
                lambda org: None,
                lambda org: None,
                lambda org: org.fail_next.append(
                    (503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "try later"}])
                ),
                lambda org: setattr(org, "api_total", org.api_used),
            ]
        )

        def planted(path: Path) -> Destination:
            next(faults)(self.fake.org)
            return original(path)

        self.make_destination = planted  # type: ignore[method-assign]
        # "duplicate" holds an e-mail with "duplicate" in it: the fake's duplicate rule.
        super().test_failures_are_classified(tmp_path)

    def test_unlink_removes_links_and_a_repeated_unlink_is_not_an_error(
        self, conformance_destination: Destination
    ) -> None:
        """The kit's unlink check, with what Salesforce requires of the direct
        relation: it follows Contact.AccountId and cannot be deleted, so its unlink
        is refused for good with the reason (never reported as done); every other
        relation is gone, and a repeat is ok."""
        size = conformance_destination.capabilities.batch_size(Operation.UNLINK)
        items = self._linked(conformance_destination, size)
        batch = self._batch(conformance_destination, BatchObject.LINK, Operation.LINK, items)
        linked = check_results(batch, conformance_destination.send(batch))
        assert all(r.outcome is Outcome.OK for r in linked.values())
        unlinks = [
            BatchItem(item.key, {}, linked[item.key].destination_id, item.link) for item in items
        ]
        unlink = self._batch(conformance_destination, BatchObject.LINK, Operation.UNLINK, unlinks)
        for _ in range(2):
            answers = check_results(unlink, conformance_destination.send(unlink))
            for item in items:
                assert item.link is not None
                wanted = Outcome.PERMANENT if item.link.primary else Outcome.OK
                assert answers[item.key].outcome is wanted, item.key
            for item in items:
                held = self.read_back(conformance_destination, BatchObject.LINK, item.key)
                assert item.link is not None
                if item.link.primary:
                    assert held == dict(item.payload["properties"]), "the direct relation stays"
                else:
                    assert held is None, f"{item.key}: still related after its unlink"
