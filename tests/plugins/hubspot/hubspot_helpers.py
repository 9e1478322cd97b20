"""Builders shared by the HubSpot plugin's tests, the cassette recorder and the benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fake_hubspot import TOKEN
from hub_hubspot import HubSpotDestination, HubSpotSettings, make_hubspot

from hub.contract.capabilities import Operation
from hub.contract.destination import (
    BatchItem,
    BatchObject,
    LinkEnds,
    RateBudget,
    RecordResult,
    link_key,
    link_payload,
)
from hub.contract.testing import RecordingBudget, make_batch, make_context


def make_destination(
    url: str,
    tmp_path: Path,
    *,
    budget: RateBudget | None = None,
    name: str = "crm",
    token: str = TOKEN,
    timeout: float = 5.0,
    **settings: Any,
) -> HubSpotDestination:
    validated = HubSpotSettings.model_validate({"token": token, "base_url": url, **settings})
    context = make_context(tmp_path, name, timeout=timeout)
    if budget is not None:
        context = type(context)(context.name, context.base_dir, budget, context.timeout)
    elif not isinstance(context.budget, RecordingBudget):  # pragma: no cover
        raise AssertionError
    return make_hubspot(validated, context)


def upsert(
    destination: HubSpotDestination, object: BatchObject, records: dict[str, dict[str, Any]]
) -> dict[str, RecordResult]:
    batch = make_batch(
        object, Operation.UPSERT, [BatchItem(key, payload) for key, payload in records.items()]
    )
    return {result.key: result for result in destination.send(batch)}


def link_item(
    contact: tuple[str, str | None],
    account: tuple[str, str | None],
    role: str | None,
    *,
    primary: bool = False,
    destination_id: str | None = None,
) -> BatchItem:
    ends = LinkEnds(contact[0], account[0], contact[1], account[1], primary)
    # Exactly what the engine sends for a link.
    payload = link_payload({"role": role} if role is not None else {}, primary)
    return BatchItem(link_key(contact[0], account[0]), payload, destination_id, ends)


def links(
    destination: HubSpotDestination, items: list[BatchItem], operation: Operation = Operation.LINK
) -> dict[str, RecordResult]:
    batch = make_batch(BatchObject.LINK, operation, items)
    return {result.key: result for result in destination.send(batch)}


#: Where the HubSpot cassettes live.
CASSETTES = Path(__file__).resolve().parents[3] / "cassettes" / "hubspot"
