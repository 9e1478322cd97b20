"""csvdrop passes connector-hub's destination conformance kit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hub_example_plugin import CsvDropDestination, CsvDropSettings, make_csvdrop

from hub.contract import Batch, BatchItem, BatchObject, Destination, Operation, Outcome
from hub.contract.testing import (
    DestinationConformance,
    Expected,
    FailureCase,
    make_batch,
    make_context,
)


class TestCsvDropConformance(DestinationConformance):
    # Also checks that the entry point registers "csvdrop" with a factory.
    destination_type = "csvdrop"

    def make_destination(self, tmp_path: Path) -> Destination:
        return make_csvdrop(CsvDropSettings(), make_context(tmp_path))

    def read_back(
        self, destination: Destination, object: BatchObject, key: str
    ) -> Mapping[str, Any] | None:
        assert isinstance(destination, CsvDropDestination)
        row = destination.rows(object.value).get(key)
        if row is None:
            return None
        # Empty cells are fields this record does not have.
        return {name: value for name, value in row.items() if name != "key" and value != ""}

    def failure_cases(self) -> Iterable[FailureCase | tuple[Batch, Expected]]:
        items = [BatchItem("ok", {"name": "Acme"}), BatchItem("nested", {"tags": ["a", "b"]})]
        batch = make_batch(BatchObject.ACCOUNT, Operation.UPSERT, items)
        yield batch, {"ok": Outcome.OK, "nested": Outcome.PERMANENT}


def test_one_csv_per_object_with_a_column_per_field(tmp_path: Path) -> None:
    destination = make_csvdrop(CsvDropSettings(directory=Path("drop")), make_context(tmp_path))
    items = [BatchItem("a2", {"name": "Beta"}), BatchItem("a1", {"name": "Acme", "plan": "pro"})]
    destination.send(make_batch(BatchObject.ACCOUNT, Operation.UPSERT, items))
    text = (tmp_path / "drop" / "account.csv").read_text()
    assert text.splitlines() == ["key,name,plan", "a1,Acme,pro", "a2,Beta,"]
