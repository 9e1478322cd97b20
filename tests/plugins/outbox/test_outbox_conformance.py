"""The outbox passes the destination conformance kit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hub_outbox import OutboxDestination, OutboxSettings, make_outbox, read_records

from hub.contract.capabilities import Operation
from hub.contract.destination import Batch, BatchItem, BatchObject, Destination, Outcome
from hub.contract.testing import (
    DestinationConformance,
    Expected,
    FailureCase,
    make_batch,
    make_context,
)


class TestOutboxConformance(DestinationConformance):
    destination_type = "outbox"

    def make_destination(self, tmp_path: Path) -> Destination:
        return make_outbox(OutboxSettings(directory=Path("out")), make_context(tmp_path))

    def read_back(
        self, destination: Destination, object: BatchObject, key: str
    ) -> Mapping[str, Any] | None:
        # The latest line for the key across runs says what the outbox "holds".
        assert isinstance(destination, OutboxDestination)
        latest: dict[str, Any] | None = None
        for path in sorted((destination.directory / object.value).glob("run-*.jsonl")):
            for record in read_records(path):
                if record["key"] == key:
                    latest = record
        if latest is None or latest["operation"] in ("delete", "unlink"):
            return None
        payload: dict[str, Any] = latest["payload"]
        return payload

    def failure_cases(self) -> Iterable[FailureCase | tuple[Batch, Expected]]:
        # Only a payload that cannot be written as JSON fails, and only its own item.
        items = [BatchItem("good", {"name": "Acme"}), BatchItem("bad", {"blob": object()})]
        batch = make_batch(BatchObject.ACCOUNT, Operation.UPSERT, items)
        yield batch, {"good": Outcome.OK, "bad": Outcome.PERMANENT}
