"""The live Intercom destination.

**Requests.** Intercom has no batch write endpoints: a batch is sent one
request per record, so each changed company, contact and link costs one
request, and an unchanged one none (the engine sends nothing for it):

- companies: ``POST /companies`` (create-or-update by ``company_id`` = the hub
  key); its ``id`` is the destination id (and cached for links);
- contacts (role ``user``, ``external_id`` = the hub key): with a remembered id,
  ``PUT /contacts/{id}``; without, one ``POST /contacts/search`` for the whole
  batch (external id ``IN`` the keys, or e-mail ``IN`` the e-mails), then
  ``PUT`` the match (external id first, then e-mail) or ``POST /contacts``. A
  ``409`` on a create (Intercom's search lags behind recent creates, so a
  racing create finds it) is resolved to the contact named in the answer and
  updated: never a duplicate;
- links: ``POST /contacts/{id}/companies`` with Intercom's company ``id``;
  unlinks ``DELETE /contacts/{id}/companies/{company id}``; deletes (mirror)
  ``DELETE /contacts/{id}`` and ``DELETE /companies/{id}``. "Already gone"
  (404) is success.

The engine acquires one request from the budget per batch; the destination
acquires every further request of the batch itself.

**Custom attributes** are created on demand: when Intercom refuses a body
because a custom attribute does not exist, the plugin lists the model's data
attributes once per instance, creates the missing ones (``data_type`` from
the value, see :mod:`hub_intercom.attributes`) and sends the body again. So
attribute creation costs requests once per attribute, never per record.

**Errors** are classified from the status and the ``error.list`` codes:
``401`` / ``403`` stop the run (:class:`~hub.contract.destination.FatalDestinationError`
naming ``HUB_DESTINATIONS__<NAME>__SETTINGS__ACCESS_TOKEN``); ``429`` is
retryable after ``X-RateLimit-Reset`` (the budget is paused until then and the
rest of the batch is not sent); ``5xx``, timeouts and connection errors are
retryable (after a timeout or connection error the rest of the batch is not
sent either); other statuses (validation, ``not_found``, the per-contact
company limit) are permanent for that record, with Intercom's code and message.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from hub.contract import (
    Action,
    ActionRequest,
    Batch,
    BatchItem,
    BatchObject,
    Capabilities,
    CredentialBudget,
    DestinationContext,
    FatalDestinationError,
    IdentityKey,
    Operation,
    RateLimit,
    RecordResult,
    env_var_name,
    normal_email,
)
from hub_intercom.attributes import (
    COMPANY_STANDARD,
    CONTACT_STANDARD,
    company_body,
    contact_body,
    custom_types,
)
from hub_intercom.client import (
    IntercomClient,
    IntercomError,
    IntercomUnreachable,
    rate_headers,
    token_fingerprint,
)
from hub_intercom.settings import WINDOW_SECONDS, IntercomSettings, per_window

if TYPE_CHECKING:
    from intercom import Intercom

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Intercom's limit of companies attached to one contact (``contact_company_limit_exceeded``).
MAX_COMPANIES_PER_CONTACT = 1000
#: Contacts per search page (Intercom's maximum).
SEARCH_PAGE_SIZE = 150

_MISSING_ATTRIBUTE = re.compile(r"attribute\b.*\b(does not exist|not found|unknown)", re.IGNORECASE)
_CONFLICT_ID = re.compile(r"\bid=([0-9A-Za-z_-]+)")
_FATAL_CODES = frozenset({"unauthorized", "token_unauthorized", "token_revoked", "token_not_found"})
_GONE = 404


class _Abort(Exception):
    """Stop sending the rest of the batch (rate limited, or Intercom unreachable)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def instance_capabilities(base: Capabilities, settings: IntercomSettings) -> Capabilities:
    """The type's declaration narrowed to one instance's settings."""
    return base.model_copy(
        update={
            "batch_sizes": {
                operation: min(settings.batch_size, size)
                for operation, size in base.batch_sizes.items()
            },
            "rate_limit": RateLimit(
                requests=per_window(settings.requests_per_minute), per_seconds=WINDOW_SECONDS
            ),
        }
    )


#: The workspace caps of this process, by (API base URL, workspace name): apps
#: of one workspace (other tokens, other destinations) draw on one of them.
_WORKSPACES: dict[tuple[str, str], CredentialBudget] = {}
_WORKSPACES_LOCK = threading.Lock()


def workspace_budget(
    settings: IntercomSettings, extras: Mapping[str, Any]
) -> CredentialBudget | None:
    """The budget of the workspace cap (25,000 per minute, in 10-second windows)
    shared by the destinations naming ``settings.workspace``; ``None`` without
    one (this app's own budget, 1,666 per 10 s, is below the cap). ``extras``
    may give ``monotonic`` and ``sleep`` (tests run it on a fake clock)."""
    if settings.workspace is None:
        return None
    key = (settings.api_base_url(), settings.workspace)
    limit = RateLimit(
        requests=per_window(settings.workspace_requests_per_minute), per_seconds=WINDOW_SECONDS
    )
    clock, sleep = extras.get("monotonic"), extras.get("sleep")
    with _WORKSPACES_LOCK:
        found = _WORKSPACES.get(key)
        if found is None:
            found = _WORKSPACES[key] = CredentialBudget(
                limit,
                name=f"intercom workspace {settings.workspace!r}",
                clock=clock if callable(clock) else time.monotonic,
                sleep=sleep if callable(sleep) else time.sleep,
            )
        return found


def link_id(contact_id: str, company_id: str) -> str:
    """The destination id of a link: both Intercom ids."""
    return f"{contact_id}/{company_id}"


class IntercomDestination:
    """Companies, contacts (role user) and their company attachments in one Intercom app."""

    def __init__(
        self,
        settings: IntercomSettings,
        context: DestinationContext,
        capabilities: Capabilities,
    ) -> None:
        self.capabilities = instance_capabilities(capabilities, settings)
        self.name = context.name
        self.credential_id = f"intercom:{token_fingerprint(settings.access_token)}"
        self._budget = context.budget
        self._workspace = workspace_budget(settings, context.extras)
        clock = context.extras.get("clock")
        self._clock: Callable[[], float] = clock if callable(clock) else time.time
        self._token_setting = env_var_name(
            ("destinations", context.name, "settings", "access_token")
        )
        self._compose_name = settings.compose_name
        timeout = settings.timeout if settings.timeout is not None else context.timeout
        self.client = IntercomClient(
            settings.access_token, settings.api_base_url(), timeout, self._observe
        )
        #: company_id (hub key) -> Intercom company id.
        self._company_ids: dict[str, str] = {}
        #: model -> data attribute names known to exist (``None``: not listed yet).
        self._attributes: dict[str, set[str] | None] = {"contact": None, "company": None}
        #: tag name -> Intercom tag id.
        self._tag_ids: dict[str, str] = {}
        # Requests already acquired for the current send (the engine acquires one per batch).
        self._prepaid = 0

    def __repr__(self) -> str:
        return f"IntercomDestination({self.name!r}, base_url={self.client.base_url!r})"

    # -- requests, budget and errors ---------------------------------------------

    def _observe(self, headers: Mapping[str, str]) -> None:
        seen = rate_headers(headers, self._clock())
        if seen is None:
            return
        # X-RateLimit-Limit counts Intercom's 10-second window, the budget's own.
        self._budget.observe(
            limit=seen.limit, remaining=seen.remaining, reset_after=seen.reset_after
        )

    def _slot(self) -> None:
        if self._prepaid > 0:
            self._prepaid -= 1
        else:
            self._budget.acquire()
        # The engine knows nothing of the workspace cap: every request draws on it here.
        if self._workspace is not None:
            self._workspace.acquire()

    def _call(self, operation: Callable[[Intercom], T]) -> T:
        self._slot()
        return self.client.call(operation)

    def _direct(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        self._slot()
        return self.client.request(method, path, json=json, params=params)

    def _retry_after(self, error: IntercomError) -> float | None:
        seen = rate_headers(error.headers, self._clock())
        return seen.reset_after if seen is not None else None

    def _failure(self, key: str, error: IntercomError) -> RecordResult:
        """The result for one record Intercom refused; raises what stops the run or the batch."""
        if error.status in (401, 403) or error.has_code(*_FATAL_CODES):
            raise FatalDestinationError(
                f"Intercom refused the access token ({error.describe()})",
                setting=self._token_setting,
            )
        if error.status == 429:
            retry_after = self._retry_after(error)
            if retry_after is not None:
                self._budget.pause(retry_after)
            raise _Abort(f"rate limited by Intercom ({error.describe()})", retry_after)
        if error.status >= 500 or error.status in (0, 408):
            return RecordResult.retryable(key, f"Intercom is failing: {error.describe()}")
        if error.has_code("contact_company_limit_exceeded"):
            return RecordResult.permanent(
                key,
                f"the contact already has Intercom's maximum of {MAX_COMPANIES_PER_CONTACT} "
                f"companies, so this membership was not attached ({error.describe()})",
            )
        return RecordResult.permanent(key, f"Intercom refused it: {error.describe()}")

    def _each(
        self, items: Sequence[BatchItem], work: Callable[[BatchItem], RecordResult]
    ) -> list[RecordResult]:
        """``work`` on every item, one result each; a 429 or no answer stops the batch."""
        results: list[RecordResult] = []
        for index, item in enumerate(items):
            try:
                try:
                    results.append(work(item))
                except IntercomError as error:
                    results.append(self._failure(item.key, error))
                except IntercomUnreachable as error:
                    raise _Abort(str(error)) from error
                except ValidationError as error:
                    # The SDK's request model refused a value before sending it.
                    problems = "; ".join(
                        f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
                    )
                    results.append(
                        RecordResult.permanent(item.key, f"not an Intercom value: {problems}")
                    )
            except _Abort as abort:
                results.append(RecordResult.retryable(item.key, abort.reason, abort.retry_after))
                results.extend(
                    RecordResult.retryable(rest.key, f"not sent: {abort.reason}", abort.retry_after)
                    for rest in items[index + 1 :]
                )
                log.warning(
                    "intercom %s: %d item(s) left for a retry: %s",
                    self.name,
                    len(items) - index,
                    abort.reason,
                )
                break
        return results

    # -- the contract -------------------------------------------------------------

    def send(self, batch: Batch) -> Sequence[RecordResult]:
        """Apply ``batch``, one request per record (see the module's notes)."""
        self._prepaid = 1
        try:
            items = list(batch.items)
            kind, operation = batch.object, batch.operation
            if kind is BatchObject.ACCOUNT and operation is Operation.UPSERT:
                return self._each(items, self._upsert_company)
            if kind is BatchObject.CONTACT and operation is Operation.UPSERT:
                matcher = _ContactMatcher(self, items, by_email=IdentityKey.EMAIL in batch.match)
                return self._each(items, matcher.upsert)
            if kind is BatchObject.LINK and operation in (Operation.LINK, Operation.UPSERT):
                return self._each(items, self._link)
            if kind is BatchObject.LINK and operation in (Operation.UNLINK, Operation.DELETE):
                return self._each(items, self._unlink)
            if kind is BatchObject.ACCOUNT and operation is Operation.DELETE:
                return self._each(items, self._delete_company)
            if kind is BatchObject.CONTACT and operation is Operation.DELETE:
                return self._each(items, self._delete_contact)
            reason = f"Intercom cannot {operation.value} {kind.value}s"
            return [RecordResult.permanent(item.key, reason) for item in items]
        finally:
            self._prepaid = 0

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()

    # -- custom attributes --------------------------------------------------------

    def _with_attributes(self, model: str, types: Mapping[str, str], write: Callable[[], T]) -> T:
        """``write()``; when Intercom lacks a custom attribute, create it and write again."""
        try:
            return write()
        except IntercomError as error:
            text = " ".join(error.messages)
            if (
                not types
                or error.status not in (400, 404, 422)
                or not _MISSING_ATTRIBUTE.search(text)
            ):
                raise
        self.ensure_attributes(model, types)
        return write()

    def ensure_attributes(self, model: str, types: Mapping[str, str]) -> list[str]:
        """Create the data attributes of ``model`` (``contact``/``company``) that are
        missing, with their ``data_type``; returns the names created."""
        known = self._attributes[model]
        if known is None:
            listed = self._direct("GET", "/data_attributes", params={"model": model})
            data = listed.get("data", []) if isinstance(listed, dict) else []
            known = {str(entry.get("name")) for entry in data if isinstance(entry, dict)}
            self._attributes[model] = known
        created: list[str] = []
        for name, data_type in types.items():
            if name in known:
                continue
            body = {"name": name, "model": model, "data_type": data_type}
            try:
                self._direct("POST", "/data_attributes", json=body)
                created.append(name)
            except IntercomError as error:
                # Created meanwhile by someone else: just as good.
                if not (error.status == 400 and "exist" in " ".join(error.messages).lower()):
                    raise
            known.add(name)
            log.info("intercom %s: created %s attribute %r (%s)", self.name, model, name, data_type)
        return created

    # -- companies ----------------------------------------------------------------

    def _upsert_company(self, item: BatchItem) -> RecordResult:
        from intercom.types.create_or_update_company_request import CreateOrUpdateCompanyRequest

        body = company_body(item.key, item.payload)
        # An absent value is not sent (company_body), so it creates no attribute either.
        present = {name: value for name, value in item.payload.items() if value is not None}
        types = custom_types(present, COMPANY_STANDARD)
        company = self._with_attributes(
            "company",
            types,
            lambda: self._call(
                lambda sdk: sdk.companies.create_or_update(
                    request=CreateOrUpdateCompanyRequest(**body)
                )
            ),
        )
        company_id = str(company.id)
        self._company_ids[item.key] = company_id
        return RecordResult.ok(item.key, company_id)

    def company_id(self, key: str) -> str:
        """Intercom's ``id`` of the company whose ``company_id`` is ``key`` (cached)."""
        known = self._company_ids.get(key)
        if known is not None:
            return known
        found = self._direct("GET", "/companies", params={"company_id": key})
        if isinstance(found, dict) and found.get("type") == "list":
            entries = found.get("data") or []
            found = entries[0] if entries else None
        if not isinstance(found, dict) or not found.get("id"):
            raise IntercomError(404, ["company_not_found"], [f"no company with company_id {key}"])
        self._company_ids[key] = str(found["id"])
        return self._company_ids[key]

    def _delete_company(self, item: BatchItem) -> RecordResult:
        try:
            company_id = item.destination_id or self.company_id(item.key)
            self._call(lambda sdk: sdk.companies.delete(company_id))
        except IntercomError as error:
            if error.status != _GONE:
                raise
        self._company_ids.pop(item.key, None)
        return RecordResult.ok(item.key, item.destination_id)

    # -- contacts -----------------------------------------------------------------

    def _contact_body(self, item: BatchItem) -> tuple[dict[str, Any], dict[str, str]]:
        body = contact_body(item.key, item.payload, with_name=self._compose_name)
        return body, custom_types(item.payload, CONTACT_STANDARD)

    def update_contact(self, contact_id: str, item: BatchItem) -> str:
        """``PUT /contacts/{id}`` with ``item``'s payload; the contact's id."""
        body, types = self._contact_body(item)
        contact = self._with_attributes(
            "contact",
            types,
            lambda: self._call(lambda sdk: sdk.contacts.update(contact_id, **body)),
        )
        return str(getattr(contact, "id", None) or contact_id)

    def create_contact(self, item: BatchItem) -> str:
        """``POST /contacts``; on a 409, the existing contact updated instead. Its id."""
        from intercom.types.create_contact_request_with_external_id import (
            CreateContactRequestWithExternalId,
        )

        body, types = self._contact_body(item)
        try:
            contact = self._with_attributes(
                "contact",
                types,
                lambda: self._call(
                    lambda sdk: sdk.contacts.create(
                        request=CreateContactRequestWithExternalId(**body)
                    )
                ),
            )
            return str(contact.id)
        except IntercomError as error:
            if error.status != 409:
                raise
            existing = self._conflicting(item.key, error)
        log.info(
            "intercom %s: %s already existed as %s (409): updated", self.name, item.key, existing
        )
        return self.update_contact(existing, item)

    def _conflicting(self, key: str, error: IntercomError) -> str:
        """The id of the contact a 409 says already exists, if it is this record's."""
        named = _CONFLICT_ID.search(" ".join(error.messages))
        if named is not None:
            contact = self._call(lambda sdk: sdk.contacts.find(named.group(1)))
        else:
            contact = self._call(lambda sdk: sdk.contacts.show_contact_by_external_id(key))
        external_id = getattr(contact, "external_id", None)
        if external_id not in (None, "", key):
            raise IntercomError(
                409,
                ["conflict"],
                [
                    f"the e-mail belongs to Intercom contact {contact.id} "
                    f"with another external_id ({external_id})"
                ],
            )
        return str(contact.id)

    def search_contacts(
        self, items: Sequence[BatchItem], *, email_too: bool = True
    ) -> dict[str, tuple[str, bool]]:
        """One search (paged) for ``items``: hub key -> the matching contact's id and
        whether it is adopted: by external id first, then (``email_too``, the match
        chain's next key) e-mail, a contact with no external id, which is adopted."""
        keys = [item.key for item in items]
        emails = {
            item.key: normal_email(item.payload["email"])
            for item in items
            if email_too
            and isinstance(item.payload.get("email"), str)
            and item.payload["email"].strip()
        }
        filters: list[dict[str, Any]] = [{"field": "external_id", "operator": "IN", "value": keys}]
        if emails:
            filters.append(
                {"field": "email", "operator": "IN", "value": sorted(set(emails.values()))}
            )
        # Intercom's search takes a list of single filters or one of groups, not
        # both: the role (users only, no leads) is checked on the answers.
        query: dict[str, Any] = (
            {"operator": "OR", "value": filters} if len(filters) > 1 else filters[0]
        )
        by_external: dict[str, str] = {}
        by_email: dict[str, str] = {}
        pagination: dict[str, Any] = {"per_page": SEARCH_PAGE_SIZE}
        while True:
            page = self._direct(
                "POST", "/contacts/search", json={"query": query, "pagination": pagination}
            )
            for contact in page.get("data", []) if isinstance(page, dict) else []:
                if contact.get("role") != "user":
                    continue
                external_id = contact.get("external_id")
                if external_id:
                    by_external.setdefault(str(external_id), str(contact["id"]))
                email = contact.get("email")
                if email and not external_id:
                    by_email.setdefault(str(email).lower(), str(contact["id"]))
            following = (
                ((page.get("pages") or {}).get("next") or {}) if isinstance(page, dict) else {}
            )
            cursor = following.get("starting_after") if isinstance(following, dict) else None
            if not cursor:
                break
            pagination = {"per_page": SEARCH_PAGE_SIZE, "starting_after": cursor}
        matches: dict[str, tuple[str, bool]] = {}
        claimed: set[str] = set()
        for key in keys:
            if key in by_external:
                matches[key] = (by_external[key], False)
                continue
            found = by_email.get(emails.get(key, ""))
            if found is not None and found not in claimed:
                claimed.add(found)
                matches[key] = (found, True)
        return matches

    def _delete_contact(self, item: BatchItem) -> RecordResult:
        try:
            contact_id = item.destination_id
            if contact_id is None:
                found = self._call(lambda sdk: sdk.contacts.show_contact_by_external_id(item.key))
                contact_id = str(found.id)
            self._call(lambda sdk: sdk.contacts.delete(contact_id))
        except IntercomError as error:
            if error.status != _GONE:
                raise
        return RecordResult.ok(item.key, item.destination_id)

    # -- links --------------------------------------------------------------------

    def _ends(self, item: BatchItem) -> tuple[str | None, str | None]:
        contact_id = item.link.contact_id if item.link else None
        company_id = item.link.account_id if item.link else None
        if (contact_id is None or company_id is None) and item.destination_id:
            known_contact, _, known_company = item.destination_id.partition("/")
            contact_id = contact_id or known_contact or None
            company_id = company_id or known_company or None
        return contact_id, company_id

    def _link(self, item: BatchItem) -> RecordResult:
        contact_id, company_id = self._ends(item)
        if contact_id is None:
            return RecordResult.permanent(item.key, "the contact has no Intercom id yet")
        if company_id is None:
            if item.link is None:
                return RecordResult.permanent(item.key, "the link names no company")
            company_id = self.company_id(item.link.account_key)
        attached = company_id
        self._call(lambda sdk: sdk.companies.attach_contact(contact_id, company_id=attached))
        return RecordResult.ok(item.key, link_id(contact_id, company_id))

    def _unlink(self, item: BatchItem) -> RecordResult:
        contact_id, company_id = self._ends(item)
        if contact_id is None:
            return RecordResult.ok(item.key, item.destination_id)  # never attached
        try:
            if company_id is None:
                if item.link is None:
                    return RecordResult.ok(item.key, item.destination_id)
                company_id = self.company_id(item.link.account_key)
            detached = company_id
            self._call(lambda sdk: sdk.companies.detach_contact(contact_id, detached))
        except IntercomError as error:
            if error.status != _GONE:
                raise
        return RecordResult.ok(item.key, item.destination_id)

    # -- actions: tags ------------------------------------------------------------

    def perform(self, requests: Sequence[ActionRequest]) -> Sequence[RecordResult]:
        """Playbook actions ``tag`` / ``untag`` (param ``tag``, the tag's name; the
        subject's ``contact_id``): the tag is found or created once by name, then
        each contact is tagged (``POST /contacts/{id}/tags``) or untagged
        (``DELETE /contacts/{id}/tags/{tag id}``, an absent tag is success), one
        result per request. A subject with no Intercom contact yet is retryable."""
        answers: dict[str, RecordResult] = {}
        grouped: dict[tuple[Action, str], list[ActionRequest]] = {}
        for request in requests:
            tag = str(request.params.get("tag") or "").strip()
            contact_id = request.subject.get("contact_id")
            if request.action not in (Action.TAG, Action.UNTAG):
                answers[request.key] = RecordResult.permanent(
                    request.key, f"intercom cannot {request.action}"
                )
            elif not tag:
                answers[request.key] = RecordResult.permanent(
                    request.key, f"the {request.action} action needs a 'tag' parameter"
                )
            elif not contact_id:
                answers[request.key] = RecordResult.retryable(
                    request.key,
                    f"user {request.subject.get('user_id')!r} has no Intercom contact yet:"
                    f" sync destination {self.name!r} first",
                )
            else:
                grouped.setdefault((request.action, tag), []).append(request)
        for (action, tag), chunk in grouped.items():
            ids = [str(request.subject["contact_id"]) for request in chunk]
            done = (
                self.tag_contacts(tag, ids)
                if action is Action.TAG
                else self.untag_contacts(tag, ids)
            )
            for request, result in zip(chunk, done, strict=True):
                answers[request.key] = dataclasses.replace(result, key=request.key)
        return [answers[request.key] for request in requests if request.key in answers]

    def tag_id(self, tag: str) -> str:
        """The id of the tag named ``tag``, created if need be (create-or-update by name)."""
        from intercom.types.create_or_update_tag_request import CreateOrUpdateTagRequest

        known = self._tag_ids.get(tag)
        if known is None:
            created = self._call(
                lambda sdk: sdk.tags.create(request=CreateOrUpdateTagRequest(name=tag))
            )
            known = self._tag_ids[tag] = str(created.id)
        return known

    def tag_contacts(self, tag: str, contact_ids: Iterable[str]) -> list[RecordResult]:
        """The ``tag`` action: tag each contact (by Intercom id); one result per contact."""
        return self._tagging(tag, contact_ids, untag=False)

    def untag_contacts(self, tag: str, contact_ids: Iterable[str]) -> list[RecordResult]:
        """The ``untag`` action: remove ``tag`` from each contact; an absent tag is success."""
        return self._tagging(tag, contact_ids, untag=True)

    def _tagging(self, tag: str, contact_ids: Iterable[str], *, untag: bool) -> list[RecordResult]:
        self._prepaid = 0
        items = [BatchItem(contact_id, {}) for contact_id in contact_ids]
        try:
            tag_id = self.tag_id(tag)
        except IntercomError as error:
            refused = error  # the name ``error`` is unbound after the except clause
            return self._each(items, lambda item: self._failure(item.key, refused))
        except IntercomUnreachable as error:
            return [RecordResult.retryable(item.key, str(error)) for item in items]

        def apply(item: BatchItem) -> RecordResult:
            contact_id = item.key
            if not untag:
                self._call(lambda sdk: sdk.tags.tag_contact(contact_id, tag_id=tag_id))
                return RecordResult.ok(contact_id, contact_id)
            try:
                self._call(lambda sdk: sdk.tags.untag_contact(contact_id, tag_id))
            except IntercomError as error:
                if error.status != _GONE:
                    raise
            return RecordResult.ok(contact_id, contact_id)

        return self._each(items, apply)


class _ContactMatcher:
    """The contacts of one batch: one search for those with no remembered id."""

    def __init__(
        self, destination: IntercomDestination, items: Sequence[BatchItem], *, by_email: bool
    ) -> None:
        self.destination = destination
        self.by_email = by_email
        self.unknown = [item for item in items if item.destination_id is None]
        self._matches: dict[str, tuple[str, bool]] | None = None
        self._failed: Exception | None = None

    def matches(self) -> dict[str, tuple[str, bool]]:
        if self._failed is not None:
            raise self._failed
        if self._matches is None:
            try:
                self._matches = self.destination.search_contacts(
                    self.unknown, email_too=self.by_email
                )
            except (IntercomError, IntercomUnreachable) as error:
                self._failed = error
                raise
        return self._matches

    def upsert(self, item: BatchItem) -> RecordResult:
        destination = self.destination
        found = (
            (item.destination_id, False) if item.destination_id else self.matches().get(item.key)
        )
        if found is not None:
            contact_id, adopted = found
            try:
                updated = destination.update_contact(contact_id, item)
                if adopted:
                    return RecordResult.adopt(item.key, updated)
                return RecordResult.ok(item.key, updated)
            except IntercomError as error:
                # A remembered contact deleted (or merged) in Intercom since: create it again.
                if error.status != _GONE or item.destination_id is None:
                    raise
        return RecordResult.ok(item.key, destination.create_contact(item))
