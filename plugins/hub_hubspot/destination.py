"""The live HubSpot destination.

- **Upserts** go to ``POST /crm/v3/objects/{contacts|companies}/batch/upsert``
  (at most 100 inputs), matched by ``idProperty``: ``email`` or the hub's
  unique property for contacts, the hub's unique property for companies. Each
  input carries an ``objectWriteTraceId``; a 207's errors name it in their
  ``context``, so each error lands on its own record (permanent, in HubSpot's
  words). HubSpot's record id becomes the destination id.
- **Lifecycle stage regressions** are made to stick. HubSpot silently keeps
  ``lifecyclestage`` when asked to move it backwards, and the upsert answer
  shows the value it kept. For every contact whose kept stage ranks higher
  (``lifecycle_stage_order``) than the one sent, two more requests follow,
  for the whole batch at once: ``batch/update`` with ``lifecyclestage = ""``
  (cleared), then ``batch/update`` with the wanted stage. A batch with no
  regression costs nothing extra.
- **Deletes** (mirror) archive by HubSpot id (``batch/archive``); an already
  archived record is not an error.
- **Links** are v4 associations contact -> company, at most 2,000 per request:
  a USER_DEFINED label per role (``hub_role_<role>``, created on demand through
  ``POST /crm/associations/v4/contacts/companies/labels``), the primary
  company (HUBSPOT_DEFINED 1) when the link is primary, the plain association
  (HUBSPOT_DEFINED 279) when there is no role. Several links reaching the same
  contact-company pair (two users sharing an e-mail) are sent as one input.
  The destination id of a link records what the hub applied
  (``contact:company:H1,U37``); a link re-sent with another role or no longer
  primary has the hub's stale labels removed (``batch/labels/archive``).
- **Unlinks** remove exactly what the hub applied (its labels, the primary type
  it set) and, unless ``unlink_keeps_association``, the plain association
  (which, per HubSpot, removes the pair's association outright).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hub.contract import (
    Action,
    ActionRequest,
    Batch,
    BatchItem,
    BatchObject,
    Capabilities,
    DestinationContext,
    IdentityKey,
    Operation,
    RecordResult,
    normal_domain,
)
from hub_hubspot.client import (
    HubSpotClient,
    PermanentBatchError,
    RetryableBatchError,
)
from hub_hubspot.properties import PropertyCatalog
from hub_hubspot.settings import HubSpotSettings

logger = logging.getLogger(__name__)

#: HubSpot's object batch maximum (create, update, upsert, archive).
OBJECT_BATCH_MAX = 100
#: CRM search: values of one ``IN`` filter, and results per page.
SEARCH_VALUES_MAX = 100
SEARCH_PAGE_MAX = 200
#: HubSpot's v4 association batch maximum (create, archive, labels/archive).
ASSOCIATION_BATCH_MAX = 2000
#: contact -> company: the primary company, and the plain (unlabeled) association.
PRIMARY_TYPE_ID = 1
UNLABELED_TYPE_ID = 279
HUBSPOT_DEFINED = "HUBSPOT_DEFINED"
USER_DEFINED = "USER_DEFINED"
LIFECYCLE_PROPERTY = "lifecyclestage"

_CATEGORY_CODES = {HUBSPOT_DEFINED: "H", USER_DEFINED: "U"}
_CODE_CATEGORIES = {code: category for category, code in _CATEGORY_CODES.items()}
_NOT_NAME = re.compile(r"[^a-z0-9]+")

AssociationType = tuple[str, int]


def encode_value(value: Any) -> str:
    """A payload value as HubSpot's property string ("" clears the property)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        moment: dt.datetime = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float | Decimal | str):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return ";".join(encode_value(entry) for entry in value)
    return json.dumps(value, sort_keys=True, default=str)


def _named_by(entry: Mapping[str, Any], invalid: Sequence[tuple[str, str]]) -> bool:
    """True when one of ``invalid`` (property, HubSpot's message) quotes this
    input's value of that property."""
    properties = entry.get("properties") or {}
    return any(
        str(properties.get(name) or "") and str(properties[name]) in message
        for name, message in invalid
    )


def _text(value: Any) -> str | None:
    return str(value) if value else None


def link_destination_id(contact_id: str, company_id: str, types: Iterable[AssociationType]) -> str:
    """``contact:company:H1,U37``: the pair, and the association types the hub applied."""
    codes = ",".join(f"{_CATEGORY_CODES[c]}{t}" for c, t in sorted(set(types)))
    return f"{contact_id}:{company_id}:{codes}"


def parse_link_destination_id(value: str | None) -> tuple[str, str, set[AssociationType]] | None:
    """The pair and types of a link destination id, ``None`` when it is not one."""
    if not value or value.count(":") != 2:
        return None
    contact_id, company_id, codes = value.split(":")
    types: set[AssociationType] = set()
    for code in filter(None, codes.split(",")):
        category = _CODE_CATEGORIES.get(code[:1])
        if category is None or not code[1:].isdigit():
            return None
        types.add((category, int(code[1:])))
    return contact_id, company_id, types


def _error_keys(error: Mapping[str, Any]) -> set[str]:
    """Every string an error's ``context`` names (trace ids, ids, property names)."""
    found: set[str] = set()
    for values in (error.get("context") or {}).values():
        if isinstance(values, list):
            found.update(str(value) for value in values)
        elif values is not None:
            found.add(str(values))
    return found


def _error_reason(error: Mapping[str, Any]) -> str:
    message = str(error.get("message") or error.get("category") or "rejected")
    details = [
        str(detail.get("message"))
        for detail in error.get("errors") or []
        if isinstance(detail, dict) and detail.get("message") and detail.get("message") != message
    ]
    return "; ".join([message, *details])[:300]


def _error_is_retryable(error: Mapping[str, Any]) -> bool:
    status = str(error.get("status") or "")
    return status in {"408", "423", "429", "477"} or status.startswith("5")


def isolation_budget(inputs: int) -> int:
    """Extra requests one batch may spend isolating refused inputs: enough to
    single out about four bad inputs of a full batch by halving (each costs two
    requests per level, ``2 * log2(n)``), never a request per input."""
    return 8 * max(1, math.ceil(math.log2(max(inputs, 2))))


@dataclass(slots=True)
class Sent:
    """What the requests for one batch came back with, by ``objectWriteTraceId``."""

    results: list[Mapping[str, Any]] = field(default_factory=list)
    failed: dict[str, RecordResult] = field(default_factory=dict)
    #: Inputs refused alone with 409 CONFLICT: trace -> the id HubSpot named.
    conflicts: dict[str, str] = field(default_factory=dict)

    def merge(self, other: Sent) -> None:
        self.results.extend(other.results)
        for trace, result in other.failed.items():
            self.failed.setdefault(trace, result)
        self.conflicts.update(other.conflicts)
        done = {str(entry.get("objectWriteTraceId")) for entry in other.results}
        for trace in done:
            self.failed.pop(trace, None)


class HubSpotDestination:
    """Sends the hub's batches to one HubSpot account."""

    def __init__(
        self,
        settings: HubSpotSettings,
        context: DestinationContext,
        capabilities: Capabilities,
    ) -> None:
        self.capabilities = capabilities
        self.name = context.name
        self.settings = settings
        self.client = HubSpotClient(settings, context)
        self.credential_id = self.client.credential_id
        unique = {
            "contacts": [settings.contact_id_property],
            "companies": [settings.company_id_property],
        }
        self._catalogs = {
            object_type: PropertyCatalog(
                self.client,
                object_type,
                settings.property_group,
                settings.property_group_label,
                unique=unique[object_type],
            )
            for object_type in ("contacts", "companies")
        }
        self._stage_rank = {stage: i for i, stage in enumerate(settings.lifecycle_stage_order)}
        #: Role label -> its USER_DEFINED type id (contact -> company), read once.
        self._labels: dict[str, int] | None = None

    def __repr__(self) -> str:
        return f"HubSpotDestination({self.name!r}, url={self.client.base_url!r})"

    # -- the Destination protocol ----------------------------------------------

    def send(self, batch: Batch) -> Sequence[RecordResult]:
        """Apply ``batch`` (see the module); one result per item."""
        self.client.prepaid(1)
        try:
            if batch.object is BatchObject.LINK:
                if batch.operation is Operation.UNLINK:
                    return self._unlink(batch.items)
                return self._link(batch.items)
            object_type = "companies" if batch.object is BatchObject.ACCOUNT else "contacts"
            if batch.operation is Operation.DELETE:
                return self._archive(object_type, batch.items)
            return self._upsert(object_type, batch)
        except RetryableBatchError as exc:
            return [RecordResult.retryable(i.key, exc.reason, exc.retry_after) for i in batch.items]
        except PermanentBatchError as exc:
            return [RecordResult.permanent(i.key, exc.reason) for i in batch.items]
        finally:
            self.client.prepaid(0)

    def close(self) -> None:
        """Close the HTTP session."""
        self.client.close()

    # -- playbook actions (hub.contract.actions) ----------------------------------------

    def perform(self, requests: Sequence[ActionRequest]) -> Sequence[RecordResult]:
        """Playbook actions: ``add_to_list`` / ``remove_from_list`` (params
        ``list_id``; the subject's ``contact_id``) and ``create_task`` (params
        ``subject``, ``body``, optional ``priority``; associated with the
        subject's ``contact_id`` and ``company_id`` when known). List changes go
        one request per list (an array of contacts), tasks 100 a request
        (:mod:`hub_hubspot.actions`), all through this destination's client.
        List changes are idempotent in HubSpot; a task is created once per
        confirmed key."""
        from hub_hubspot.actions import ActionError, Task, change_list, create_tasks

        answers: dict[str, RecordResult] = {}
        lists: dict[tuple[Action, str], list[ActionRequest]] = {}
        tasks: list[ActionRequest] = []
        for request in requests:
            contact_id = request.subject.get("contact_id")
            if request.action in (Action.ADD_TO_LIST, Action.REMOVE_FROM_LIST):
                if not contact_id:
                    answers[request.key] = RecordResult.retryable(
                        request.key,
                        f"user {request.subject.get('user_id')!r} has no HubSpot contact"
                        f" yet: sync destination {self.name!r} first",
                    )
                    continue
                lists.setdefault((request.action, str(request.params["list_id"])), []).append(
                    request
                )
            elif request.action is Action.CREATE_TASK:
                tasks.append(request)
            else:
                answers[request.key] = RecordResult.permanent(
                    request.key, f"hubspot cannot {request.action}"
                )

        def failed(key: str, error: ActionError) -> RecordResult:
            if error.retryable:
                return RecordResult.retryable(key, error.reason, error.retry_after)
            return RecordResult.permanent(key, error.reason)

        for (action, list_id), grouped in lists.items():
            ids = [str(request.subject["contact_id"]) for request in grouped]
            try:
                change_list(self.client, list_id, ids, add=action is Action.ADD_TO_LIST)
            except ActionError as error:
                answers.update({r.key: failed(r.key, error) for r in grouped})
                continue
            answers.update(
                {r.key: RecordResult.ok(r.key, str(r.subject["contact_id"])) for r in grouped}
            )
        if tasks:
            specs = [
                Task(
                    subject=str(request.params.get("subject", "")),
                    body=str(request.params["body"]) if request.params.get("body") else None,
                    priority=str(request.params["priority"])
                    if request.params.get("priority")
                    else None,
                    contact_id=_text(request.subject.get("contact_id")),
                    company_id=_text(request.subject.get("company_id")),
                )
                for request in tasks
            ]
            for request, outcome in zip(tasks, create_tasks(self.client, specs), strict=True):
                answers[request.key] = (
                    failed(request.key, outcome)
                    if isinstance(outcome, ActionError)
                    else RecordResult.ok(request.key, outcome)
                )
        return [answers[request.key] for request in requests if request.key in answers]

    # -- records ------------------------------------------------------------------

    def _id_property(self, object_type: str) -> str:
        if object_type == "companies":
            return self.settings.company_id_property
        if self.settings.contact_match == "email":
            return "email"
        return self.settings.contact_id_property

    def _properties(self, object_type: str, item: BatchItem) -> dict[str, str]:
        properties = {name: encode_value(value) for name, value in item.payload.items()}
        if object_type == "contacts" and LIFECYCLE_PROPERTY in properties:
            stage = properties[LIFECYCLE_PROPERTY]
            properties[LIFECYCLE_PROPERTY] = self.settings.lifecycle_stage_values.get(stage, stage)
        return properties

    def _upsert(self, object_type: str, batch: Batch) -> list[RecordResult]:
        id_property = self._id_property(object_type)
        results: list[RecordResult] = []
        # One input per HubSpot identity: two hub records with one e-mail are one contact.
        inputs: dict[str, dict[str, Any]] = {}
        keys_of: dict[str, list[str]] = {}
        items_of: dict[str, list[BatchItem]] = {}
        samples: dict[str, list[Any]] = {}
        for item in batch.items:
            properties = self._properties(object_type, item)
            if id_property == "email":
                match = properties.get("email", "").strip().lower()
                if not match:
                    results.append(
                        RecordResult.permanent(item.key, "no e-mail to match the contact on")
                    )
                    continue
            else:
                match = item.key
                properties[id_property] = item.key
            for name, value in item.payload.items():
                samples.setdefault(name, []).append(value)
            if id_property != "email":
                samples.setdefault(id_property, []).append(item.key)
            trace = (
                f"{batch.run_id}-{len(inputs)}"
                if match not in inputs
                else inputs[match]["objectWriteTraceId"]
            )
            inputs[match] = {
                "idProperty": id_property,
                "id": match,
                "objectWriteTraceId": trace,
                "properties": {**inputs.get(match, {}).get("properties", {}), **properties},
            }
            keys_of.setdefault(trace, []).append(item.key)
            items_of.setdefault(trace, []).append(item)
        if not inputs:
            return results
        self._catalogs[object_type].ensure(samples)
        entries = {entry["objectWriteTraceId"]: entry for entry in inputs.values()}
        # The match chain: records new to the hub first look for an object HubSpot
        # already has by their next key (e-mail, domain), and adopt it.
        found: dict[str, str] = {}
        outcome = Sent()
        if id_property != "email":
            new = {
                trace: entry
                for trace, entry in entries.items()
                if not any(item.destination_id for item in items_of[trace])
            }
            found, outcome = self._existing(object_type, batch.match, new, id_property)
        updates = [
            {
                "id": found[trace],
                "objectWriteTraceId": trace,
                "properties": entries[trace]["properties"],
            }
            for trace in found
        ]
        upserts = [
            entry
            for trace, entry in entries.items()
            if trace not in found and trace not in outcome.failed
        ]
        path = f"/crm/v3/objects/{object_type}/batch"
        budget = [isolation_budget(len(entries))]
        if updates:
            outcome.merge(self._isolated(f"{path}/update", updates, budget))
        if upserts:
            outcome.merge(self._isolated(f"{path}/upsert", upserts, budget))
        if outcome.conflicts:
            adopted = self._resolve_conflicts(
                object_type, batch.match, outcome, entries, items_of, id_property, budget
            )
            found.update(adopted)
        done = self._done(outcome.results, entries, id_property)
        stage_failures = self._stick_lifecycle_stages(object_type, inputs, done)
        for trace, keys in keys_of.items():
            for key in keys:
                if trace in done and trace not in stage_failures:
                    record_id = str(done[trace]["id"])
                    results.append(
                        RecordResult.adopt(key, record_id)
                        if trace in found
                        else RecordResult.ok(key, record_id)
                    )
                elif trace in stage_failures:
                    results.append(RecordResult.retryable(key, stage_failures[trace]))
                elif trace in outcome.failed:
                    results.append(dataclasses.replace(outcome.failed[trace], key=key))
                else:
                    results.append(
                        RecordResult.retryable(key, "HubSpot's answer did not mention this record")
                    )
        return results

    @staticmethod
    def _done(
        answered: Sequence[Mapping[str, Any]],
        entries: Mapping[str, Mapping[str, Any]],
        id_property: str,
    ) -> dict[str, Mapping[str, Any]]:
        """HubSpot's record per trace (by ``objectWriteTraceId``, else by the match value)."""
        by_match = {str(entry["id"]).lower(): trace for trace, entry in entries.items()}
        done: dict[str, Mapping[str, Any]] = {}
        for entry in answered:
            trace = entry.get("objectWriteTraceId")
            if trace not in entries:
                value = str((entry.get("properties") or {}).get(id_property, "")).lower()
                trace = by_match.get(value)
            if trace in entries:
                done[str(trace)] = entry
        return done

    # -- the match chain ----------------------------------------------------------

    def _existing(
        self,
        object_type: str,
        chain: Sequence[IdentityKey],
        new: Mapping[str, Mapping[str, Any]],
        id_property: str,
    ) -> tuple[dict[str, str], Sent]:
        """Objects HubSpot already has for records new to the hub, by the chain's
        next key: trace -> HubSpot id to adopt; the records that cannot be placed
        (their e-mail is another hub record's contact) fail in the :class:`Sent`."""
        outcome = Sent()
        if not new:
            return {}, outcome
        if object_type == "contacts" and IdentityKey.EMAIL in chain:
            values = {
                trace: str(entry["properties"].get("email") or "").strip().lower()
                for trace, entry in new.items()
            }
            held = self._read_by("contacts", "email", {v for v in values.values() if v})
            key_name = "e-mail"
        elif object_type == "companies" and IdentityKey.DOMAIN in chain:
            values = {
                trace: normal_domain(entry["properties"].get("domain"))
                for trace, entry in new.items()
            }
            held = self._search_domains({v for v in values.values() if v})
            key_name = "domain"
        else:
            return {}, outcome
        adopt: dict[str, str] = {}
        claimed: set[str] = set()
        for trace, value in values.items():
            own = new[trace]["id"]
            candidates = held.get(value, []) if value else []
            if any(keyed == own for _, keyed in candidates):
                continue  # already this record's: the upsert by the hub's key finds it
            free = [record_id for record_id, keyed in candidates if not keyed]
            free = [record_id for record_id in free if record_id not in claimed]
            if free:
                adopt[trace] = free[0]
                claimed.add(free[0])
            elif candidates and object_type == "contacts":
                record_id, keyed = candidates[0]
                outcome.failed[trace] = RecordResult.permanent(
                    "",
                    f"HubSpot contact {record_id} already has {key_name} {value!r} and belongs"
                    f" to another hub record ({id_property} {keyed!r}); HubSpot keeps one"
                    " contact per e-mail",
                )
        return adopt, outcome

    def _read_by(
        self, object_type: str, id_property: str, values: Iterable[str]
    ) -> dict[str, list[tuple[str, str]]]:
        """``value -> [(HubSpot id, the hub's key on it)]`` by a unique property."""
        key_property = self._key_property(object_type)
        held: dict[str, list[tuple[str, str]]] = {}
        ordered = sorted(values)
        for start in range(0, len(ordered), OBJECT_BATCH_MAX):
            body: dict[str, Any] = {
                "inputs": [{"id": value} for value in ordered[start : start + OBJECT_BATCH_MAX]],
                "properties": [id_property, key_property],
                "propertiesWithHistory": [],
            }
            if id_property != "hs_object_id":
                body["idProperty"] = id_property
            answer = self.client.request("POST", f"/crm/v3/objects/{object_type}/batch/read", body)
            for entry in (answer.document or {}).get("results") or []:
                properties = entry.get("properties") or {}
                value = str(
                    entry.get("id")
                    if id_property == "hs_object_id"
                    else properties.get(id_property)
                ).lower()
                held.setdefault(value, []).append(
                    (str(entry["id"]), str(properties.get(key_property) or ""))
                )
        return held

    def _search_domains(self, domains: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
        """``domain -> [(company id, the hub's key on it)]``, oldest first (HubSpot
        does not keep domains unique, so a domain may have several companies)."""
        key_property = self._key_property("companies")
        held: dict[str, list[tuple[str, str]]] = {}
        ordered = sorted(domains)
        for start in range(0, len(ordered), SEARCH_VALUES_MAX):
            chunk = ordered[start : start + SEARCH_VALUES_MAX]
            variants = sorted({*chunk, *(f"www.{domain}" for domain in chunk)})
            after = "0"
            while True:
                answer = self.client.request(
                    "POST",
                    "/crm/v3/objects/companies/search",
                    {
                        "filterGroups": [
                            {"filters": [{"propertyName": "domain", "operator": "IN", "values": v}]}
                            for v in (variants[:SEARCH_VALUES_MAX], variants[SEARCH_VALUES_MAX:])
                            if v
                        ],
                        "properties": ["domain", key_property],
                        "sorts": [],
                        "limit": SEARCH_PAGE_MAX,
                        "after": after,
                    },
                )
                document = answer.document or {}
                for entry in document.get("results") or []:
                    properties = entry.get("properties") or {}
                    domain = normal_domain(properties.get("domain"))
                    held.setdefault(domain, []).append(
                        (str(entry["id"]), str(properties.get(key_property) or ""))
                    )
                following = ((document.get("paging") or {}).get("next") or {}).get("after")
                if not following:
                    break
                after = str(following)
        for candidates in held.values():
            candidates.sort(key=lambda pair: int(pair[0]) if pair[0].isdigit() else 0)
        return held

    def _key_property(self, object_type: str) -> str:
        if object_type == "companies":
            return self.settings.company_id_property
        return self.settings.contact_id_property

    def _resolve_conflicts(
        self,
        object_type: str,
        chain: Sequence[IdentityKey],
        outcome: Sent,
        entries: Mapping[str, Mapping[str, Any]],
        items_of: Mapping[str, Sequence[BatchItem]],
        id_property: str,
        budget: list[int],
    ) -> dict[str, str]:
        """A record HubSpot refused alone with 409 "Contact already exists. Existing ID:
        N" adopts N when the chain matches by e-mail, the record is new to the hub and
        N holds no other record's key; otherwise it fails, saying whose contact N is."""
        conflicts = dict(outcome.conflicts)
        outcome.conflicts.clear()
        adoptable = {
            trace: existing
            for trace, existing in conflicts.items()
            if object_type == "contacts"
            and IdentityKey.EMAIL in chain
            and not any(item.destination_id for item in items_of[trace])
        }
        for trace in set(conflicts) - set(adoptable):
            outcome.failed[trace] = RecordResult.permanent(
                "",
                f"HubSpot: contact {conflicts[trace]} already has this e-mail"
                + (
                    " (another record's contact: HubSpot keeps one contact per e-mail)"
                    if any(item.destination_id for item in items_of[trace])
                    else "; add 'email' to users.match to adopt it"
                ),
            )
        if not adoptable:
            return {}
        held = self._read_by(object_type, "hs_object_id", set(adoptable.values()))
        adopt: dict[str, str] = {}
        for trace, existing in adoptable.items():
            keyed = next((key for _, key in held.get(existing, [])), "")
            if keyed and keyed != entries[trace]["id"]:
                outcome.failed[trace] = RecordResult.permanent(
                    "",
                    f"HubSpot contact {existing} already has this e-mail and belongs to another"
                    f" hub record ({id_property} {keyed!r})",
                )
            elif existing in adopt.values():
                outcome.failed[trace] = RecordResult.permanent(
                    "", f"HubSpot contact {existing} is adopted by another record of this batch"
                )
            else:
                adopt[trace] = existing
        if adopt:
            for trace in adopt:
                outcome.failed.pop(trace, None)
            outcome.merge(
                self._isolated(
                    f"/crm/v3/objects/{object_type}/batch/update",
                    [
                        {
                            "id": existing,
                            "objectWriteTraceId": trace,
                            "properties": entries[trace]["properties"],
                        }
                        for trace, existing in adopt.items()
                    ],
                    budget,
                )
            )
        return adopt

    # -- isolation ------------------------------------------------------------------

    def _isolated(self, path: str, entries: list[dict[str, Any]], budget: list[int]) -> Sent:
        """POST ``entries`` to a batch endpoint. HubSpot refuses a whole request for
        one invalid input (a 400, a 409): the inputs are then split in halves and
        resent, so only the inputs refused alone fail, each with HubSpot's words.
        ``budget`` bounds the extra requests; past it, what is left fails together."""
        outcome = Sent()
        try:
            answer = self.client.request("POST", path, {"inputs": entries})
        except RetryableBatchError as exc:
            for entry in entries:
                outcome.failed[entry["objectWriteTraceId"]] = RecordResult.retryable(
                    "", exc.reason, exc.retry_after
                )
            return outcome
        except PermanentBatchError as exc:
            if len(entries) > 1 and budget[0] >= 2:
                budget[0] -= 2
                # HubSpot names the property and quotes the bad value: the inputs
                # holding it go apart at once (a wrong guess only costs a halving).
                suspects = [entry for entry in entries if _named_by(entry, exc.invalid)]
                if not suspects or len(suspects) == len(entries):
                    half = (len(entries) + 1) // 2
                    suspects = entries[:half]
                rest = [entry for entry in entries if entry not in suspects]
                outcome.merge(self._isolated(path, suspects, budget))
                outcome.merge(self._isolated(path, rest, budget))
                return outcome
            for entry in entries:
                trace = entry["objectWriteTraceId"]
                if len(entries) == 1 and exc.status == 409 and exc.existing_id:
                    outcome.conflicts[trace] = exc.existing_id
                reason = exc.reason + (
                    "" if len(entries) == 1 else f" (refused with {len(entries) - 1} other(s))"
                )
                outcome.failed[trace] = RecordResult.permanent("", reason)
            return outcome
        document = answer.document or {}
        outcome.results.extend(document.get("results") or [])
        traces = {entry["objectWriteTraceId"] for entry in entries}
        by_value = {str(entry.get("id")).lower(): entry["objectWriteTraceId"] for entry in entries}
        for error in document.get("errors") or []:
            named = _error_keys(error)
            reason = f"HubSpot: {_error_reason(error)}"
            hits = (named & traces) | {by_value[v] for v in named if v.lower() in by_value}
            for trace in hits:
                outcome.failed.setdefault(
                    trace,
                    RecordResult.retryable("", reason)
                    if _error_is_retryable(error)
                    else RecordResult.permanent("", reason),
                )
        return outcome

    def _stick_lifecycle_stages(
        self,
        object_type: str,
        inputs: Mapping[str, Mapping[str, Any]],
        done: Mapping[str, Mapping[str, Any]],
    ) -> dict[str, str]:
        """Clear, then set, the stages HubSpot refused to move backwards; return
        the traces whose stage could not be set, with the reason."""
        if object_type != "contacts":
            return {}
        regressed: dict[str, tuple[str, str]] = {}
        for entry in inputs.values():
            trace = entry["objectWriteTraceId"]
            wanted = entry["properties"].get(LIFECYCLE_PROPERTY)
            if not wanted or trace not in done:
                continue
            kept = str((done[trace].get("properties") or {}).get(LIFECYCLE_PROPERTY) or "")
            if kept == wanted or kept not in self._stage_rank or wanted not in self._stage_rank:
                continue
            if self._stage_rank[wanted] < self._stage_rank[kept]:
                regressed[trace] = (str(done[trace]["id"]), wanted)
        if not regressed:
            return {}
        path = f"/crm/v3/objects/{object_type}/batch/update"
        try:
            for phase in ("clear", "set"):
                self.client.request(
                    "POST",
                    path,
                    {
                        "inputs": [
                            {
                                "id": record_id,
                                "properties": {
                                    LIFECYCLE_PROPERTY: "" if phase == "clear" else wanted
                                },
                            }
                            for record_id, wanted in regressed.values()
                        ]
                    },
                )
        except (RetryableBatchError, PermanentBatchError) as exc:
            reason = f"lifecycle stage regression not applied: {exc.reason}"
            return {trace: reason for trace in regressed}
        return {}

    def _archive(self, object_type: str, items: Sequence[BatchItem]) -> list[RecordResult]:
        results: list[RecordResult] = []
        ids: dict[str, list[str]] = {}
        for item in items:
            if not item.destination_id:
                # Nothing the hub knows of in HubSpot: nothing to delete.
                results.append(RecordResult.ok(item.key, None))
                continue
            ids.setdefault(item.destination_id, []).append(item.key)
        if ids:
            self.client.request(
                "POST",
                f"/crm/v3/objects/{object_type}/batch/archive",
                {"inputs": [{"id": record_id} for record_id in ids]},
            )
        for record_id, keys in ids.items():
            results.extend(RecordResult.ok(key, record_id) for key in keys)
        return results

    # -- links ---------------------------------------------------------------------

    def label_name(self, role: str) -> str:
        """The association label name of ``role`` (``hub_role_account_owner``)."""
        slug = _NOT_NAME.sub("_", role.lower()).strip("_") or "role"
        return f"{self.settings.role_label_prefix}{slug}"

    def _role_types(self, roles: Iterable[str]) -> dict[str, int]:
        """Label type ids of ``roles``, creating the labels HubSpot lacks."""
        base = "/crm/associations/v4/contacts/companies/labels"
        if self._labels is None:
            answer = self.client.request("GET", base)
            self._labels = {
                str(entry.get("label")): int(entry["typeId"])
                for entry in (answer.document or {}).get("results") or []
                if entry.get("category") == USER_DEFINED and entry.get("label")
            }
        for role in sorted(set(roles) - set(self._labels)):
            answer = self.client.request(
                "POST", base, {"label": role, "name": self.label_name(role)}
            )
            for entry in (answer.document or {}).get("results") or []:
                if entry.get("label") == role and entry.get("category") == USER_DEFINED:
                    self._labels[role] = int(entry["typeId"])
                    break
            else:
                raise PermanentBatchError(f"HubSpot created no association label for {role!r}")
        return {role: self._labels[role] for role in roles}

    @staticmethod
    def _role(item: BatchItem) -> str:
        # A link's payload is {"properties": {...}, "primary": bool} (hub.contract.link_payload).
        properties = item.payload.get("properties") or {}
        role = properties.get("role")
        return str(role).strip() if role is not None else ""

    def _link(self, items: Sequence[BatchItem]) -> list[RecordResult]:
        results: list[RecordResult] = []
        pending: list[BatchItem] = []
        for item in items:
            if item.link is None or not item.link.contact_id or not item.link.account_id:
                results.append(
                    RecordResult.retryable(item.key, "the contact or company has no HubSpot id yet")
                )
            else:
                pending.append(item)
        if not pending:
            return results
        role_types = self._role_types({self._role(i) for i in pending if self._role(i)})
        # Never the same pair twice in one request: links reaching one pair merge.
        pairs: dict[tuple[str, str], set[AssociationType]] = {}
        stale: dict[tuple[str, str], set[AssociationType]] = {}
        keys_of: dict[tuple[str, str], list[BatchItem]] = {}
        for item in pending:
            assert item.link is not None and item.link.contact_id and item.link.account_id
            pair = (item.link.contact_id, item.link.account_id)
            role = self._role(item)
            types: set[AssociationType] = (
                {(USER_DEFINED, role_types[role])}
                if role
                else {(HUBSPOT_DEFINED, UNLABELED_TYPE_ID)}
            )
            if item.link.primary:
                types.add((HUBSPOT_DEFINED, PRIMARY_TYPE_ID))
            pairs.setdefault(pair, set()).update(types)
            keys_of.setdefault(pair, []).append(item)
            before = parse_link_destination_id(item.destination_id)
            if before is not None and (before[0], before[1]) == pair:
                stale.setdefault(pair, set()).update(before[2])
        removals = {
            pair: old - pairs[pair] - {(HUBSPOT_DEFINED, UNLABELED_TYPE_ID)}
            for pair, old in stale.items()
        }
        removals = {pair: types for pair, types in removals.items() if types}
        if removals:
            self._archive_labels(removals)
        answer = self.client.request(
            "POST",
            "/crm/v4/associations/contacts/companies/batch/create",
            {"inputs": [self._association_input(pair, types) for pair, types in pairs.items()]},
        )
        document = answer.document or {}
        linked = {
            (str(entry.get("fromObjectId")), str(entry.get("toObjectId")))
            for entry in document.get("results") or []
        }
        errors = document.get("errors") or []
        for pair, pair_items in keys_of.items():
            if pair in linked:
                destination_id = link_destination_id(pair[0], pair[1], pairs[pair])
                results.extend(RecordResult.ok(item.key, destination_id) for item in pair_items)
                continue
            reason = next(
                (f"HubSpot: {_error_reason(e)}" for e in errors if set(pair) <= _error_keys(e)),
                None,
            )
            for item in pair_items:
                if reason is None:
                    results.append(
                        RecordResult.retryable(
                            item.key, "HubSpot's answer did not mention this link"
                        )
                    )
                else:
                    results.append(RecordResult.permanent(item.key, reason))
        return results

    @staticmethod
    def _association_input(
        pair: tuple[str, str], types: Iterable[AssociationType]
    ) -> dict[str, Any]:
        return {
            "from": {"id": pair[0]},
            "to": {"id": pair[1]},
            "types": [
                {"associationCategory": category, "associationTypeId": type_id}
                for category, type_id in sorted(set(types))
            ],
        }

    def _archive_labels(self, removals: Mapping[tuple[str, str], set[AssociationType]]) -> None:
        self.client.request(
            "POST",
            "/crm/v4/associations/contacts/companies/batch/labels/archive",
            {"inputs": [self._association_input(pair, types) for pair, types in removals.items()]},
        )

    def _unlink(self, items: Sequence[BatchItem]) -> list[RecordResult]:
        results: list[RecordResult] = []
        removals: dict[tuple[str, str], set[AssociationType]] = {}
        keys_of: dict[tuple[str, str], list[str]] = {}
        for item in items:
            applied = parse_link_destination_id(item.destination_id)
            if applied is None:
                # The hub has no record of applying anything here: nothing of its to remove.
                results.append(RecordResult.ok(item.key, item.destination_id))
                continue
            contact_id, company_id, types = applied
            pair = (contact_id, company_id)
            if not self.settings.unlink_keeps_association:
                types = types | {(HUBSPOT_DEFINED, UNLABELED_TYPE_ID)}
            else:
                types = types - {(HUBSPOT_DEFINED, UNLABELED_TYPE_ID)}
            removals.setdefault(pair, set()).update(types)
            keys_of.setdefault(pair, []).append(item.key)
        removals = {pair: types for pair, types in removals.items() if types}
        if removals:
            # Already removed is fine: HubSpot answers 204 either way.
            self._archive_labels(removals)
        for pair, keys in keys_of.items():
            destination_id = link_destination_id(pair[0], pair[1], ())
            results.extend(RecordResult.ok(key, destination_id) for key in keys)
        return results
