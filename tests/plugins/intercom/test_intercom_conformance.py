"""The conformance kit against the local fake Intercom."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hub_intercom import IntercomDestination, IntercomSettings, make_intercom
from hub_intercom.attributes import COMPANY_STANDARD, CONTACT_STANDARD
from intercom_fake import TOKEN, IntercomFake

from hub.contract.capabilities import Operation
from hub.contract.destination import (
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
    make_batch,
    make_context,
)


class TestIntercomConformance(DestinationConformance):
    destination_type = "intercom"

    @pytest.fixture(autouse=True)
    def _fake(self) -> Iterator[IntercomFake]:
        with IntercomFake() as fake:
            self.fake = fake
            yield fake

    def make_destination(self, tmp_path: Path) -> Destination:
        settings = IntercomSettings(access_token=TOKEN, base_url=self.fake.base_url)
        return make_intercom(settings, make_context(tmp_path))

    def sample_payload(self, object: BatchObject, index: int) -> dict[str, Any]:
        # Intercom's standard field is ``name``; ``seats`` / ``domain`` are custom attributes.
        if object is BatchObject.CONTACT:
            return {"email": f"user{index}@example.com", "name": f"User {index}", "seats": index}
        return super().sample_payload(object, index)

    def read_back(
        self, destination: Destination, object: BatchObject, key: str
    ) -> Mapping[str, Any] | None:
        if object is BatchObject.LINK:
            # An attachment holds no properties in Intercom: {} when attached.
            contact_key, account_key = split_link_key(key)
            contact = self.fake.contact_by_external_id(contact_key)
            company = self.fake.company_by_company_id(account_key)
            if contact is None or company is None:
                return None
            attached = self.fake.state.attached.get(contact["id"], [])
            return {} if company["id"] in attached else None
        if object is BatchObject.ACCOUNT:
            record = self.fake.company_by_company_id(key)
            standard: Iterable[str] = COMPANY_STANDARD
        else:
            record = self.fake.contact_by_external_id(key)
            standard = CONTACT_STANDARD
        if record is None:
            return None
        # Standard attributes Intercom fills in itself (defaults) are not the payload's.
        defaults = (None, 0, False, {})
        held = {
            name: record[name]
            for name in standard
            if name != "remote_created_at" and record.get(name) not in defaults
        }
        return {**held, **record["custom_attributes"]}

    def failure_cases(self) -> Iterable[FailureCase | tuple[Any, Expected]]:
        self.fake.fail("POST", "/companies", 500, times=1)
        yield FailureCase(
            make_batch(BatchObject.ACCOUNT, Operation.UPSERT, [BatchItem("a1", {"name": "A"})]),
            Outcome.RETRYABLE,
            "5xx",
        )

    def test_failures_are_classified(self, tmp_path: Path) -> None:
        super().test_failures_are_classified(tmp_path)
        # And a refused token stops the run.
        bad = IntercomSettings(access_token="wrong-token", base_url=self.fake.base_url)
        destination = IntercomDestination(
            bad,
            make_context(tmp_path, name="support"),
            make_intercom(
                IntercomSettings(access_token=TOKEN), make_context(tmp_path)
            ).capabilities,
        )
        batch = make_batch(BatchObject.ACCOUNT, Operation.UPSERT, [BatchItem("a1", {"name": "A"})])
        with pytest.raises(FatalDestinationError) as raised:
            destination.send(batch)
        assert raised.value.setting == "HUB_DESTINATIONS__SUPPORT__SETTINGS__ACCESS_TOKEN"
        destination.close()
