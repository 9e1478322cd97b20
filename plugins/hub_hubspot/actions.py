"""Playbook actions on HubSpot, at the API's batch sizes, through the destination's
one :class:`~hub_hubspot.client.HubSpotClient` (its session, the hub's request
timeout, the credential's shared rate budget).

- :func:`change_lists`: ``add_to_list`` / ``remove_from_list`` requests grouped
  per list into ``PUT /crm/v3/lists/{listId}/memberships/add`` (or ``remove``),
  whose body is an array of record ids: one request per list and
  :data:`LIST_IDS_MAX` contacts, not one per contact (static lists only,
  ``processingType`` MANUAL or SNAPSHOT; records already in, or already out,
  are ignored by HubSpot, so a resent change is harmless).
- :func:`create_tasks`: ``POST /crm/v3/objects/tasks/batch/create``, at most 100
  tasks a request, each associated with its contact (HUBSPOT_DEFINED 204, task
  -> contact) and company (192, task -> company); each input carries an
  ``objectWriteTraceId`` so every task id lands on its own request.

The SDK (hubspot-api-client) is not used here, for the reasons given in
:mod:`hub_hubspot.client`: its batch models drop the per-input error context,
and a client built per call ignored the hub's timeout and budget.

A failure is classified like a batch's (:func:`hub_hubspot.client.raise_for_status`):
retryable and permanent failures become the requests' results, bad credentials
raise :class:`~hub.contract.destination.FatalDestinationError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub_hubspot.client import PermanentBatchError, RetryableBatchError

if TYPE_CHECKING:
    from hub_hubspot.client import HubSpotClient

#: Task -> contact and task -> company, HubSpot's default association types.
TASK_TO_CONTACT = 204
TASK_TO_COMPANY = 192
#: Record ids per list membership request. HubSpot documents no maximum for the
#: array; this bound keeps one request's body and time reasonable.
LIST_IDS_MAX = 1000
#: Tasks per ``batch/create`` (HubSpot's object batch maximum).
TASKS_MAX = 100


class ActionError(Exception):
    """An action failed; ``retryable`` says whether trying again later may help."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after

    @classmethod
    def of(cls, failure: RetryableBatchError | PermanentBatchError) -> ActionError:
        if isinstance(failure, RetryableBatchError):
            return cls(failure.reason, retryable=True, retry_after=failure.retry_after)
        return cls(failure.reason, retryable=False)


@dataclass(frozen=True, slots=True)
class ListChange:
    """What a list membership change did, by HubSpot's account."""

    list_id: str
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Task:
    """One task to create."""

    subject: str
    contact_id: str | None = None
    company_id: str | None = None
    body: str | None = None
    due: dt.datetime | None = None
    owner_id: str | None = None
    priority: str | None = None
    extra_properties: Mapping[str, str] | None = None


def change_list(
    client: HubSpotClient, list_id: str, record_ids: Sequence[str], *, add: bool
) -> ListChange:
    """Add records (HubSpot ids) to a static list, or remove them, in requests of
    :data:`LIST_IDS_MAX`; raises :class:`ActionError` on the first failure."""
    ids = list(dict.fromkeys(str(record_id) for record_id in record_ids))
    changed: list[str] = []
    missing: list[str] = []
    path = f"/crm/v3/lists/{list_id}/memberships/{'add' if add else 'remove'}"
    for start in range(0, len(ids), LIST_IDS_MAX):
        try:
            answer = client.request("PUT", path, ids[start : start + LIST_IDS_MAX])
        except (RetryableBatchError, PermanentBatchError) as failure:
            raise ActionError.of(failure) from None
        document = answer.document or {}
        changed.extend(document.get("recordsIdsAdded" if add else "recordIdsRemoved") or [])
        missing.extend(document.get("recordIdsMissing") or [])
    return ListChange(str(list_id), tuple(map(str, changed)), tuple(map(str, missing)))


def add_to_list(client: HubSpotClient, list_id: str, record_ids: Sequence[str]) -> ListChange:
    """Add records (HubSpot ids) to a static list (action ``add_to_list``)."""
    return change_list(client, list_id, record_ids, add=True)


def remove_from_list(client: HubSpotClient, list_id: str, record_ids: Sequence[str]) -> ListChange:
    """Remove records (HubSpot ids) from a static list (action ``remove_from_list``)."""
    return change_list(client, list_id, record_ids, add=False)


def _stamp(when: dt.datetime | None) -> str:
    moment = when or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def task_input(task: Task, trace: str) -> dict[str, Any]:
    """One ``batch/create`` input for ``task``."""
    properties = {
        "hs_timestamp": _stamp(task.due),
        "hs_task_subject": task.subject,
        "hs_task_status": "NOT_STARTED",
        "hs_task_type": "TODO",
    }
    if task.body:
        properties["hs_task_body"] = task.body
    if task.owner_id:
        properties["hubspot_owner_id"] = str(task.owner_id)
    if task.priority:
        properties["hs_task_priority"] = task.priority
    properties.update(task.extra_properties or {})
    associations = [
        {
            "to": {"id": str(target)},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
        }
        for target, type_id in (
            (task.contact_id, TASK_TO_CONTACT),
            (task.company_id, TASK_TO_COMPANY),
        )
        if target
    ]
    return {"objectWriteTraceId": trace, "properties": properties, "associations": associations}


def create_tasks(client: HubSpotClient, tasks: Sequence[Task]) -> list[str | ActionError]:
    """Create ``tasks`` (action ``create_task``), :data:`TASKS_MAX` a request; per
    task, in order, its HubSpot id or the :class:`ActionError` it met."""
    outcomes: list[str | ActionError] = []
    for start in range(0, len(tasks), TASKS_MAX):
        chunk = tasks[start : start + TASKS_MAX]
        traces = [f"task-{start + i}" for i in range(len(chunk))]
        try:
            answer = client.request(
                "POST",
                "/crm/v3/objects/tasks/batch/create",
                {"inputs": [task_input(t, trace) for t, trace in zip(chunk, traces, strict=True)]},
            )
        except (RetryableBatchError, PermanentBatchError) as failure:
            outcomes.extend(ActionError.of(failure) for _ in chunk)
            continue
        document = answer.document or {}
        created = {
            str(entry.get("objectWriteTraceId")): str(entry["id"])
            for entry in document.get("results") or []
        }
        errors: dict[str, str] = {}
        for error in document.get("errors") or []:
            for trace in (error.get("context") or {}).get("objectWriteTraceId") or []:
                errors[str(trace)] = str(error.get("message") or "refused")
        for trace in traces:
            if trace in created:
                outcomes.append(created[trace])
            elif trace in errors:
                outcomes.append(ActionError(f"HubSpot: {errors[trace]}", retryable=False))
            else:
                outcomes.append(
                    ActionError("HubSpot's answer did not mention this task", retryable=True)
                )
    return outcomes
