"""Playbook actions on HubSpot, through hubspot-api-client (imported lazily).

- :func:`add_to_list` / :func:`remove_from_list`: ``PUT /crm/v3/lists/{listId}/memberships/add``
  and ``.../remove`` with record ids (static lists: ``processingType`` MANUAL or SNAPSHOT;
  records already in, or already out, are ignored by HubSpot).
- :func:`create_task`: ``POST /crm/v3/objects/tasks`` associated with a contact
  (HUBSPOT_DEFINED 204, task -> contact) and a company (192, task -> company).

Each call acquires one request from the destination's rate budget, reports the
rate-limit headers, and classifies a failure exactly like a batch does
(:func:`hub_hubspot.client.raise_for_status`): retryable and permanent
failures raise :class:`ActionError`, bad credentials
:class:`~hub.destination.FatalDestinationError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub_hubspot.client import (
    PermanentBatchError,
    RetryableBatchError,
    observe_headers,
    raise_for_status,
)

if TYPE_CHECKING:
    from hub_hubspot.destination import HubSpotDestination

#: Task -> contact and task -> company, HubSpot's default association types.
TASK_TO_CONTACT = 204
TASK_TO_COMPANY = 192


class ActionError(Exception):
    """An action failed; ``retryable`` says whether trying again later may help."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class ListChange:
    """What a list membership change did, by HubSpot's account."""

    list_id: str
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]


def _sdk(destination: HubSpotDestination) -> Any:
    # Imported here: the SDK is heavy and only actions need it.
    from hubspot import HubSpot

    return HubSpot(
        access_token=destination.settings.token.get_secret_value(),
        host=destination.client.base_url,
    )


def _headers(raw: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(raw or {}).items()}


def _call(destination: HubSpotDestination, operation: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one SDK ``*_with_http_info`` call under the budget; return its data."""
    client = destination.client
    client.budget.acquire(1)
    client.sent += 1
    timeout = destination.settings.timeout or 30.0
    try:
        data, _status, headers = operation(*args, _request_timeout=timeout, **kwargs)
    except Exception as exc:
        status = getattr(exc, "status", None)
        if not isinstance(status, int) or status == 0:
            raise ActionError(
                f"could not reach HubSpot: {type(exc).__name__}", retryable=True
            ) from exc
        response_headers = _headers(getattr(exc, "headers", None))
        observe_headers(client.budget, response_headers)
        try:
            raise_for_status(
                status,
                response_headers,
                getattr(exc, "body", None),
                budget=client.budget,
                token_setting=client.token_setting,
            )
        except RetryableBatchError as failure:
            raise ActionError(
                failure.reason, retryable=True, retry_after=failure.retry_after
            ) from None
        except PermanentBatchError as failure:
            raise ActionError(failure.reason, retryable=False) from None
        raise
    observe_headers(client.budget, _headers(headers))
    return data


def _list_change(
    destination: HubSpotDestination, list_id: str, record_ids: Sequence[str], add: bool
) -> ListChange:
    api = _sdk(destination).crm.lists.memberships_api
    operation = api.add_with_http_info if add else api.remove_with_http_info
    ids = [str(record_id) for record_id in record_ids]
    data = _call(destination, operation, str(list_id), ids)
    # serialize=True: HubSpot's own field names, as in the API reference.
    document = data.to_dict(serialize=True) if hasattr(data, "to_dict") else dict(data or {})
    changed = document.get("recordsIdsAdded" if add else "recordIdsRemoved") or []
    missing = document.get("recordIdsMissing") or []
    return ListChange(str(list_id), tuple(map(str, changed)), tuple(map(str, missing)))


def add_to_list(
    destination: HubSpotDestination, list_id: str, record_ids: Sequence[str]
) -> ListChange:
    """Add records (HubSpot ids) to a static list (action ``add_to_list``)."""
    return _list_change(destination, list_id, record_ids, add=True)


def remove_from_list(
    destination: HubSpotDestination, list_id: str, record_ids: Sequence[str]
) -> ListChange:
    """Remove records (HubSpot ids) from a static list (action ``remove_from_list``)."""
    return _list_change(destination, list_id, record_ids, add=False)


def create_task(
    destination: HubSpotDestination,
    *,
    subject: str,
    contact_id: str | None = None,
    company_id: str | None = None,
    body: str | None = None,
    due: dt.datetime | None = None,
    owner_id: str | None = None,
    priority: str | None = None,
    extra_properties: Mapping[str, str] | None = None,
) -> str:
    """Create a task associated with a contact and/or a company (action
    ``create_task``); return the task's HubSpot id."""
    from hubspot.crm.objects.tasks import (
        AssociationSpec,
        PublicAssociationsForObject,
        PublicObjectId,
        SimplePublicObjectInputForCreate,
    )

    when = due or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    properties = {
        "hs_timestamp": when.astimezone(dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "hs_task_subject": subject,
        "hs_task_status": "NOT_STARTED",
        "hs_task_type": "TODO",
    }
    if body:
        properties["hs_task_body"] = body
    if owner_id:
        properties["hubspot_owner_id"] = str(owner_id)
    if priority:
        properties["hs_task_priority"] = priority
    properties.update(extra_properties or {})
    associations = [
        PublicAssociationsForObject(
            to=PublicObjectId(id=str(target)),
            types=[
                AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=type_id)
            ],
        )
        for target, type_id in ((contact_id, TASK_TO_CONTACT), (company_id, TASK_TO_COMPANY))
        if target
    ]
    task = SimplePublicObjectInputForCreate(properties=properties, associations=associations)
    api = _sdk(destination).crm.objects.tasks.basic_api
    data = _call(destination, api.create_with_http_info, simple_public_object_input_for_create=task)
    return str(data.id)
