"""The webhook destination passes the conformance kit, against a local receiver."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from hub_webhook import WebhookSettings, make_webhook
from webhook_receiver import SECRET, Receiver

from hub.contract.capabilities import Operation
from hub.contract.destination import (
    Batch,
    BatchItem,
    BatchObject,
    Destination,
    FatalDestinationError,
    Outcome,
)
from hub.contract.testing import (
    DestinationConformance,
    Expected,
    FailureCase,
    make_batch,
    make_context,
)


def _contacts(*keys: str, reject: str = "") -> Batch:
    return make_batch(
        BatchObject.CONTACT,
        Operation.UPSERT,
        [
            BatchItem(
                key,
                {
                    "email": f"{key}@example.com",
                    **({"reject": reject} if reject and key.startswith("bad") else {}),
                },
            )
            for key in keys
        ],
    )


class TestWebhookConformance(DestinationConformance):
    destination_type = "webhook"

    @pytest.fixture(autouse=True)
    def _use_receiver(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def make_destination(self, tmp_path: Path) -> Destination:
        settings = WebhookSettings.model_validate({"url": self.receiver.url, "secret": SECRET})
        return make_webhook(settings, make_context(tmp_path, "events"))

    def read_back(
        self, destination: Destination, object: BatchObject, key: str
    ) -> Mapping[str, Any] | None:
        return self.receiver.store.get((object.value, key))

    def failure_cases(self) -> Iterable[FailureCase | tuple[Batch, Expected]]:
        yield FailureCase(_contacts("status-503-a", "b"), Outcome.RETRYABLE, "503")
        yield FailureCase(_contacts("status-429-a"), Outcome.RETRYABLE, "429")
        yield FailureCase(_contacts("status-422-a", "b"), Outcome.PERMANENT, "422")
        yield FailureCase(_contacts("status-401-a"), FatalDestinationError, "401")
        yield (
            _contacts("good", "bad", reject="email is invalid"),
            {"good": Outcome.OK, "bad": Outcome.PERMANENT},
        )
