"""The HubSpot destination passes the conformance kit, against the fake HubSpot."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from fake_hubspot import FakeHubSpot, Scripted
from hubspot_helpers import make_destination

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
from hub.contract.testing import DestinationConformance, Expected, FailureCase, make_batch

_HUB_PROPERTIES = {"hub_user_id", "hub_account_id"}


def _contacts(*emails: str) -> Batch:
    return make_batch(
        BatchObject.CONTACT,
        Operation.UPSERT,
        [BatchItem(email.split("@")[0] or "none", {"email": email}) for email in emails],
    )


def _rate(policy: str) -> Scripted:
    body = {
        "status": "error",
        "message": f"You have reached your {policy.lower()} limit.",
        "correlationId": "3f2a1b7c-0000-4000-8000-000000000000",
        "category": "RATE_LIMITS",
        "policyName": policy,
    }
    return Scripted(429, body, {"Retry-After": "1"})


class TestHubSpotConformance(DestinationConformance):
    destination_type = "hubspot"

    @pytest.fixture(autouse=True)
    def _use_fake(self, fake: FakeHubSpot) -> None:
        self.fake = fake
        self.scripts: list[Scripted | None] = []

    def make_destination(self, tmp_path: Path) -> Destination:
        if tmp_path.name.startswith("case-"):
            # A failure case: script the fake's next answer before its batch goes.
            scripted = self.scripts[int(tmp_path.name.removeprefix("case-"))]
            if scripted is not None and scripted.status == 401:
                # The fake answers 401 to any token but its own.
                return make_destination(self.fake.url, tmp_path, token="pat-na1-revoked")
            if scripted is not None:
                self.fake.fail_next(scripted.status, scripted.body, headers=scripted.headers)
        return make_destination(self.fake.url, tmp_path)

    def read_back(
        self, destination: Destination, object: BatchObject, key: str
    ) -> Mapping[str, Any] | None:
        if object is BatchObject.LINK:
            contact_key, account_key = split_link_key(key)
            contact = self.fake.find("contacts", "hub_user_id", contact_key)
            company = self.fake.find("companies", "hub_account_id", account_key)
            if contact is None or company is None:
                return None
            held = self.fake.associations.get((contact[0], company[0]))
            if held is None:
                return None
            labels = self.fake._labels_of({t for t in held if t[0] == "USER_DEFINED"})
            return {"role": labels[0]} if labels else {}
        object_type, id_property = (
            ("companies", "hub_account_id")
            if object is BatchObject.ACCOUNT
            else ("contacts", "hub_user_id")
        )
        found = self.fake.find(object_type, id_property, key)
        if found is None:
            return None
        return {k: v for k, v in found[1].items() if k not in _HUB_PROPERTIES}

    def failure_cases(self) -> Iterable[FailureCase | tuple[Batch, Expected]]:
        cases: list[tuple[Scripted | None, FailureCase]] = [
            (Scripted(503), FailureCase(_contacts("a@x.io", "b@x.io"), Outcome.RETRYABLE, "503")),
            (Scripted(423), FailureCase(_contacts("a@x.io"), Outcome.RETRYABLE, "423 locked")),
            (Scripted(477), FailureCase(_contacts("a@x.io"), Outcome.RETRYABLE, "477 migration")),
            (
                _rate("TEN_SECONDLY_ROLLING"),
                FailureCase(_contacts("a@x.io"), Outcome.RETRYABLE, "429 ten-secondly"),
            ),
            (
                _rate("DAILY"),
                FailureCase(_contacts("a@x.io"), FatalDestinationError, "429 daily"),
            ),
            (Scripted(401), FailureCase(_contacts("a@x.io"), FatalDestinationError, "401")),
            (
                None,
                FailureCase(
                    _contacts("good@x.io", "bad-address"),
                    {"good": Outcome.OK, "bad-address": Outcome.PERMANENT},
                    "207 per record",
                ),
            ),
        ]
        self.scripts = [scripted for scripted, _ in cases]
        return [case for _, case in cases]
