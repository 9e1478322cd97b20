"""The live Salesforce destination.

- **Accounts and contacts** are upserted on hub-managed external-id fields:
  through sObject Collections (``PATCH composite/sobjects/{SObject}/{ExtId}``,
  200 records a request, ``allOrNone: false``, one result per record), or, for
  a batch of at least ``bulk_threshold`` records, one Bulk API 2.0 ingest job
  (create, upload the CSV, close, poll with a growing pause for at most
  ``bulk_max_wait_seconds``, aborting the job past it; then ``successfulResults/``
  for the ids, ``failedResults/`` for the per-record errors and
  ``unprocessedrecords/`` for the rows a failed or aborted job never reached,
  which stay pending).
- **Leads**: with ``leads_for_accountless_users``, a user whose
  ``account_count_field`` is 0 is upserted as a Lead on ``lead_external_id``
  (a user already held as a Contact stays one).
- **Links** are ``AccountContactRelation`` records (:meth:`_link`): the primary
  link sets ``Contact.AccountId`` (Salesforce then makes that relation the
  direct one), every other link is an indirect relation created or updated
  with its ``Roles``, ``IsActive``, ``StartDate``, ``EndDate``. When the primary
  moves, the previous primary's relation is checked afterwards: an org whose
  Account Settings delete it on a primary change gets it back, indirect, with
  its roles and dates. An unlink deletes an indirect relation; the direct one
  cannot be deleted (only a primary change or deleting the contact removes it),
  so its unlink is refused for good, saying so, never reported as done.
- **Limits**: every response's ``Sforce-Limit-Info: api-usage=N/M`` feeds the
  budget (``daily_remaining = M - N``); once ``N/M`` reaches ``max_api_share``
  the destination stops (fatal) before sending more. 403
  ``REQUEST_LIMIT_EXCEEDED`` is fatal; ``INVALID_SESSION_ID`` refreshes the
  session once, then is fatal naming the credential settings. Per-record
  errors are classified by :mod:`hub_salesforce.errors`.

simple-salesforce (1.12) is imported lazily: ``sf.restful`` for collections
and queries, ``sf.bulk2`` for ingest jobs.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from hub.contract import (
    Batch,
    BatchItem,
    BatchObject,
    Capabilities,
    DestinationContext,
    IdentityKey,
    Operation,
    Outcome,
    RateLimit,
    RecordResult,
    env_var_name,
    normal_domain,
    normal_email,
    website_variants,
)
from hub_salesforce.client import RequestFailed, SalesforceClient
from hub_salesforce.errors import (
    GONE_CODES,
    classify_bulk_error,
    classify_record,
    record_codes,
)
from hub_salesforce.relations import (
    RELATION_COLUMNS,
    RelationRefused,
    WantedRelation,
    changes,
    link_properties,
    relation_fields,
    without_direct_only,
)
from hub_salesforce.settings import (
    _REQUIRED,
    COLLECTION_SIZE,
    PICKLIST_SEPARATOR,
    SalesforceSettings,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Salesforce key prefixes (the first three characters of a record id).
CONTACT_PREFIX = "003"
LEAD_PREFIX = "00Q"
RELATION_OBJECT = "AccountContactRelation"
#: Ingest job states after which nothing more happens to its rows.
BULK_FINISHED = frozenset({"JobComplete", "Failed", "Aborted"})
#: The longest pause between two polls of an ingest job.
BULK_MAX_POLL_SECONDS = 30.0
#: Relation fields kept when the hub re-creates a previous primary's relation.
PRESERVED_FIELDS = ("StartDate", "EndDate")
#: Bulk API 2.0 CSV: this value sets a field to null (an empty cell leaves it unchanged).
BULK_NULL = "#N/A"
#: Keep each ingest job's CSV under this many bytes (Salesforce takes 100 MB a job, encoded).
BULK_MAX_BYTES = 90 * 1024 * 1024
_MISSING = object()


def instance_capabilities(base: Capabilities, settings: SalesforceSettings) -> Capabilities:
    """The type's declaration narrowed to one instance's settings."""
    rate = settings.requests_per_second
    limit = (
        RateLimit(requests=int(rate), per_seconds=1.0)
        if rate >= 1 and rate.is_integer()
        else RateLimit(requests=1, per_seconds=1.0 / rate)
    )
    sizes = dict(base.batch_sizes)
    sizes[Operation.UPSERT] = min(settings.bulk_batch_size, base.batch_size(Operation.UPSERT))
    return base.model_copy(update={"batch_sizes": sizes, "rate_limit": limit})


def _value(value: Any) -> Any:
    """A payload value as Salesforce JSON takes it."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple | set | frozenset):
        # A multi-select picklist.
        return PICKLIST_SEPARATOR.join(str(v) for v in value)
    if isinstance(value, Mapping):
        raise ValueError("a nested object is not a Salesforce field value")
    return value


def _get_field(record: Mapping[str, Any], name: str) -> Any:
    """A record's field, its name matched case-insensitively (as Salesforce does)."""
    return next((value for key, value in record.items() if key.lower() == name.lower()), None)


def _csv_cell(value: Any) -> str:
    if value is None:
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _soql_list(values: Sequence[str]) -> str:
    quoted = (value.replace("\\", "\\\\").replace("'", "\\'") for value in values)
    return ", ".join(f"'{value}'" for value in quoted)


def _job_results(sobject: str, job_id: str, kind: str, sf: Any) -> str:
    """The ``failedResults/``, ``successfulResults/`` or ``unprocessedrecords/`` CSV
    of an ingest job."""
    handler = getattr(sf.bulk2, sobject)
    if kind == "failedResults":
        return str(handler.get_failed_records(job_id))
    if kind == "unprocessedrecords":
        return str(handler.get_unprocessed_records(job_id))
    return str(handler.get_successful_records(job_id))


class SalesforceDestination:
    """Writes batches to one Salesforce org."""

    def __init__(
        self,
        settings: SalesforceSettings,
        context: DestinationContext,
        capabilities: Capabilities,
    ) -> None:
        self.settings = settings
        self.name = context.name
        self.capabilities = instance_capabilities(capabilities, settings)
        who = settings.client_id or settings.username or ""
        digest = hashlib.sha256(f"{settings.login_url}|{who}".encode()).hexdigest()[:12]
        # The daily quota is per org; the login and the app identify it well enough.
        self.credential_id = f"salesforce:{digest}"
        timeout = settings.timeout if settings.timeout is not None else context.timeout
        credential_settings = ", ".join(
            env_var_name(("destinations", self.name, "settings", field))
            if field in ("password", "security_token", "client_secret", "private_key")
            else f"destinations.{self.name}.settings.{field}"
            for field in _REQUIRED[settings.auth]
        )
        #: Talking to the org: the session, the login, quota tracking, errors.
        self.client = SalesforceClient(
            settings, self.name, context.budget, timeout, credential_settings
        )
        self._call = self.client.call
        self._restful = self.client.restful
        self._query = self.client.query
        self._picklist_setting = f"destinations.{self.name}.settings.role_picklist"
        # Ingest job polls wait on these (tests inject a fake clock).
        monotonic, sleep = context.extras.get("monotonic"), context.extras.get("sleep")
        self._monotonic: Callable[[], float] = monotonic if callable(monotonic) else time.monotonic
        self._sleep: Callable[[float], None] = sleep if callable(sleep) else time.sleep

    def __repr__(self) -> str:
        return f"SalesforceDestination({self.name!r}, auth={self.settings.auth.value!r})"

    # -- the contract ------------------------------------------------------------------

    def send(self, batch: Batch) -> Sequence[RecordResult]:
        """Apply ``batch``; one result per item (see the module docstring)."""
        self.client.begin_send()
        try:
            if batch.object is BatchObject.LINK:
                if batch.operation is Operation.UNLINK:
                    return self._unlink(batch.items)
                return self._link(batch.items)
            if batch.operation is Operation.DELETE:
                return self._delete(batch.items)
            return self._upsert(batch)
        except RequestFailed as failure:
            return [failure.result(item.key) for item in batch.items]

    def close(self) -> None:
        """Close the HTTP session's connections."""
        self.client.close()

    # -- accounts, contacts, leads -------------------------------------------------------

    def _target(self, batch: Batch, item: BatchItem) -> tuple[str, str, dict[str, Any]]:
        """The sObject, external-id field and record of an upsert item (ValueError: refused)."""
        settings = self.settings
        payload = dict(item.payload)
        if batch.object is BatchObject.ACCOUNT:
            sobject, external_id = "Account", settings.account_external_id
        else:
            count = payload.pop(settings.account_count_field, _MISSING)
            sobject, external_id = "Contact", settings.contact_external_id
            held_as_contact = (item.destination_id or "").startswith(CONTACT_PREFIX)
            if settings.leads_for_accountless_users and not held_as_contact:
                if count is _MISSING:
                    raise ValueError(
                        f"leads_for_accountless_users is on but the record has no "
                        f"{settings.account_count_field!r} field: map users.fields."
                        f'{settings.account_count_field} = "rollup.account_count"'
                    )
                if not count:
                    sobject, external_id = "Lead", settings.lead_external_id
                    for name in settings.lead_omit_fields:
                        payload.pop(name, None)
                    if not any(name.lower() == "company" for name in payload):
                        payload["Company"] = settings.lead_company
        record: dict[str, Any] = {"attributes": {"type": sobject}}
        for name, value in payload.items():
            record[name] = _value(value)
        record[external_id] = item.key
        return sobject, external_id, record

    def _upsert(self, batch: Batch) -> list[RecordResult]:
        results: list[RecordResult] = []
        groups: dict[tuple[str, str], list[tuple[BatchItem, dict[str, Any]]]] = {}
        for item in batch.items:
            try:
                sobject, external_id, record = self._target(batch, item)
            except ValueError as problem:
                results.append(RecordResult.permanent(item.key, str(problem)))
                continue
            groups.setdefault((sobject, external_id), []).append((item, record))
        for (sobject, external_id), entries in list(groups.items()):
            adopted = self._adopt(sobject, external_id, batch.match, entries)
            results.extend(adopted.values())
            entries = [entry for entry in entries if entry[0].key not in adopted]
            if len(entries) >= self.settings.bulk_threshold:
                results.extend(self._bulk_upsert(sobject, external_id, entries))
                continue
            for chunk in _chunks(entries, COLLECTION_SIZE):
                if self.client.over_quota:
                    reason = self.client.quota_reason()
                    results.extend(RecordResult.retryable(item.key, reason) for item, _ in chunk)
                    continue
                results.extend(self._collection_upsert(sobject, external_id, chunk))
        return results

    def _adopt(
        self,
        sobject: str,
        external_id: str,
        chain: Sequence[IdentityKey],
        entries: Sequence[tuple[BatchItem, dict[str, Any]]],
    ) -> dict[str, RecordResult]:
        """The match chain: records new to the hub (no Salesforce id yet) look for a
        Contact with their ``Email`` or an Account with their ``Website``'s domain
        that holds no hub key; each found one is adopted (updated by Id with the
        record and the hub's key) instead of a duplicate being created."""
        if sobject == "Contact" and IdentityKey.EMAIL in chain:
            field, normal = "Email", normal_email
        elif sobject == "Account" and IdentityKey.DOMAIN in chain:
            field, normal = "Website", normal_domain
        else:
            return {}
        new = {
            item.key: normal(_get_field(record, field))
            for item, record in entries
            if not item.destination_id and normal(_get_field(record, field))
        }
        if not new:
            return {}
        values = sorted(set(new.values()))
        if field == "Website":
            values = sorted({variant for value in values for variant in website_variants(value)})
        held: dict[str, list[tuple[str, str]]] = {}
        for wanted in _chunks(values, COLLECTION_SIZE):
            soql = (
                f"SELECT Id, {field}, {external_id} FROM {sobject} "
                f"WHERE {field} IN ({_soql_list(wanted)})"
            )
            for row in self._query(soql):
                held.setdefault(normal(row.get(field)), []).append(
                    (str(row["Id"]), str(row.get(external_id) or ""))
                )
        claimed: set[str] = set()
        updates: list[tuple[BatchItem, dict[str, Any]]] = []
        for item, record in entries:
            value = new.get(item.key)
            free = sorted(
                record_id
                for record_id, keyed in held.get(value or "", [])
                if not keyed and record_id not in claimed
            )
            if value and free:
                claimed.add(free[0])
                updates.append((item, {**record, "Id": free[0]}))
        written = self._write_records(
            "PATCH", [(item.key, record) for item, record in updates], sobject
        )
        return {
            key: RecordResult.adopt(key, result.destination_id or "")
            if result.outcome is Outcome.OK
            else result
            for key, result in written.items()
        }

    def _write_records(
        self, method: str, entries: Sequence[tuple[str, dict[str, Any]]], what: str
    ) -> dict[str, RecordResult]:
        """``POST`` (create) or ``PATCH`` (update by ``Id``) records through sObject
        Collections, 200 a request, ``allOrNone: false``: one result per key (a
        whole request refused fails its own keys only)."""
        results: dict[str, RecordResult] = {}
        for chunk in _chunks(entries, COLLECTION_SIZE):
            keys = [key for key, _ in chunk]
            ids = {key: record.get("Id") for key, record in chunk}
            try:
                answers = self._restful(
                    "composite/sobjects",
                    method=method,
                    json={"allOrNone": False, "records": [record for _, record in chunk]},
                )
            except RequestFailed as failure:
                results.update((key, failure.result(key)) for key in keys)
                continue
            for result in self._per_record(keys, answers, what, ids):
                results[result.key] = result
        return results

    def _collection_upsert(
        self,
        sobject: str,
        external_id: str,
        entries: Sequence[tuple[BatchItem, dict[str, Any]]],
    ) -> list[RecordResult]:
        body = {"allOrNone": False, "records": [record for _, record in entries]}
        try:
            answers = self._restful(
                f"composite/sobjects/{sobject}/{external_id}", method="PATCH", json=body
            )
        except RequestFailed as failure:
            return [failure.result(item.key) for item, _ in entries]
        return self._per_record([item.key for item, _ in entries], answers, sobject)

    def _per_record(
        self,
        keys: Sequence[str],
        answers: Any,
        what: str,
        known_ids: Mapping[str, str | None] | None = None,
        gone_is_ok: bool = False,
    ) -> list[RecordResult]:
        """One result per key from collection results (same order as the request);
        an ok record's id is the answered one, else the one in ``known_ids``."""
        if not isinstance(answers, list) or len(answers) != len(keys):
            reason = f"Salesforce answered {what} with no result per record"
            return [RecordResult.retryable(key, reason) for key in keys]
        results: list[RecordResult] = []
        for key, answer in zip(keys, answers, strict=True):
            errors = answer.get("errors") or []
            if answer.get("success") or (gone_is_ok and record_codes(errors) <= GONE_CODES):
                answered = answer.get("id") or (known_ids or {}).get(key)
                results.append(RecordResult.ok(key, str(answered) if answered else None))
            else:
                results.append(classify_record(key, errors))
        return results

    def _bulk_upsert(
        self,
        sobject: str,
        external_id: str,
        entries: Sequence[tuple[BatchItem, dict[str, Any]]],
    ) -> list[RecordResult]:
        names = {name for _, record in entries for name in record} - {"attributes", external_id}
        columns = [external_id, *sorted(names)]
        results: dict[str, RecordResult] = {}
        for job_entries, text in self._bulk_files(columns, entries):
            keys = [item.key for item, _ in job_entries]
            try:
                answered = self._bulk_job(sobject, external_id, text)
            except RequestFailed as failure:
                results.update((key, failure.result(key)) for key in keys)
                continue
            for key in keys:
                results[key] = answered.get(key) or RecordResult.retryable(
                    key, f"not processed by the {sobject} ingest job"
                )
        return [results[item.key] for item, _ in entries]

    def _bulk_files(
        self, columns: list[str], entries: Sequence[tuple[BatchItem, dict[str, Any]]]
    ) -> Iterator[tuple[list[tuple[BatchItem, dict[str, Any]]], str]]:
        """CSV documents of at most :data:`BULK_MAX_BYTES`, with their entries."""
        header = io.StringIO()
        csv.writer(header, lineterminator="\n").writerow(columns)
        rows: list[tuple[BatchItem, dict[str, Any]]] = []
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for entry in entries:
            record = entry[1]
            writer.writerow([_csv_cell(record.get(name, None)) for name in columns])
            rows.append(entry)
            if buffer.tell() > BULK_MAX_BYTES:
                yield rows, header.getvalue() + buffer.getvalue()
                rows, buffer = [], io.StringIO()
                writer = csv.writer(buffer, lineterminator="\n")
        if rows:
            yield rows, header.getvalue() + buffer.getvalue()

    def _bulk_job(self, sobject: str, external_id: str, text: str) -> dict[str, RecordResult]:
        """One ingest job for ``text`` (Bulk API 2.0: create, upload, close, poll);
        results by external id. The wait is bounded (``bulk_max_wait_seconds``):
        past it the job is aborted. Whatever the job's end (complete, failed,
        aborted), its successful, failed and unprocessed rows are read, so each
        row gets its own outcome; unprocessed rows stay pending (retryable)."""

        def jobs(sf: Any) -> Any:
            # simple-salesforce's job client: the steps one by one, so that the
            # wait is the hub's (bounded, stoppable), not the SDK's 24 hours.
            return getattr(sf.bulk2, sobject)._client

        created = self._call(
            lambda sf: jobs(sf).create_job(
                "upsert", external_id_field=external_id, column_delimiter="COMMA", line_ending="LF"
            )
        )
        job_id = str(created["id"])
        try:
            self._call(lambda sf: jobs(sf).upload_job_data(job_id, text))
            self._call(lambda sf: jobs(sf).close_job(job_id))
        except RequestFailed:
            self._abort(jobs, job_id)
            raise
        info = self._wait_for(jobs, job_id)
        state = str(info.get("state"))
        if state not in BULK_FINISHED:
            logger.warning(
                "salesforce %s: ingest job %s still %s after %ss: aborted; its unprocessed"
                " rows stay pending",
                self.name,
                job_id,
                state,
                self.settings.bulk_max_wait_seconds,
            )
            info = self._abort(jobs, job_id) or info
            state = str(info.get("state"))
        results: dict[str, RecordResult] = {}
        rows = partial(self._job_rows, sobject, job_id)
        for row in rows("unprocessedrecords"):
            key = row.get(external_id, "")
            message = str(info.get("errorMessage") or f"the job ended {state}")
            if state == "Failed" and message.startswith("InvalidBatch"):
                # The job's data itself is refused (a column Salesforce does not know).
                results[key] = RecordResult.permanent(
                    key, f"the {sobject} ingest job failed: {message}"[:300]
                )
            else:
                results[key] = RecordResult.retryable(
                    key, f"not processed by the {sobject} ingest job ({message})"[:300]
                )
        for row in rows("failedResults"):
            key = row.get(external_id, "")
            results[key] = classify_bulk_error(key, row.get("sf__Error", ""))
        for row in rows("successfulResults"):
            key = row.get(external_id, "")
            results[key] = RecordResult.ok(key, row.get("sf__Id") or None)
        return results

    def _wait_for(self, jobs: Callable[[Any], Any], job_id: str) -> Mapping[str, Any]:
        """Poll the job until it finishes or ``bulk_max_wait_seconds`` pass."""
        deadline = self._monotonic() + self.settings.bulk_max_wait_seconds
        pause = float(self.settings.bulk_poll_seconds)
        while True:
            self._sleep(min(pause, max(0.0, deadline - self._monotonic())))
            info: Mapping[str, Any] = self._call(lambda sf: jobs(sf).get_job(job_id, False))
            if str(info.get("state")) in BULK_FINISHED or self._monotonic() >= deadline:
                return info
            pause = min(pause * 2, BULK_MAX_POLL_SECONDS)

    def _abort(self, jobs: Callable[[Any], Any], job_id: str) -> Mapping[str, Any] | None:
        try:
            answer: Mapping[str, Any] = self._call(lambda sf: jobs(sf).abort_job(job_id, False))
            return answer
        except RequestFailed as failure:
            # Finished meanwhile, most likely: its results say what happened.
            logger.info("salesforce %s: abort of job %s: %s", self.name, job_id, failure)
            return None

    def _job_rows(self, sobject: str, job_id: str, kind: str) -> list[dict[str, str]]:
        """The CSV rows of one of a job's result sets."""
        text = self._call(partial(_job_results, sobject, job_id, kind))
        return list(csv.DictReader(io.StringIO(text)))

    def _delete(self, items: Sequence[BatchItem]) -> list[RecordResult]:
        results = [
            RecordResult.ok(item.key, None) for item in items if not item.destination_id
        ]  # never confirmed in Salesforce: nothing to delete
        known = [item for item in items if item.destination_id]
        for chunk in _chunks(known, COLLECTION_SIZE):
            ids = [str(item.destination_id) for item in chunk]
            try:
                answers = self._restful(
                    "composite/sobjects",
                    method="DELETE",
                    params={"ids": ",".join(ids), "allOrNone": "false"},
                )
            except RequestFailed as failure:
                results.extend(failure.result(item.key) for item in chunk)
                continue
            results.extend(
                self._per_record(
                    [item.key for item in chunk],
                    answers,
                    "the delete",
                    {item.key: item.destination_id for item in chunk},
                    gone_is_ok=True,
                )
            )
        return results

    # -- links: AccountContactRelation -------------------------------------------------

    def _relations(
        self, contact_ids: Sequence[str], extra_fields: Sequence[str] = ()
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The relations of ``contact_ids``, by (contact id, account id)."""
        if not contact_ids:
            return {}
        columns = list(dict.fromkeys([*RELATION_COLUMNS, *extra_fields]))
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for chunk in _chunks(sorted(set(contact_ids)), COLLECTION_SIZE):
            soql = (
                f"SELECT {', '.join(columns)} FROM {RELATION_OBJECT} "
                f"WHERE ContactId IN ({_soql_list(chunk)})"
            )
            for row in self._query(soql):
                found[(str(row["ContactId"]), str(row["AccountId"]))] = row
        return found

    def _link(self, items: Sequence[BatchItem]) -> list[RecordResult]:
        results: dict[str, RecordResult] = {}
        wanted: list[WantedRelation] = []
        for item in items:
            ends = item.link
            if ends is None or not ends.contact_id or not ends.account_id:
                results[item.key] = RecordResult.retryable(
                    item.key, "its contact or account has no Salesforce id yet"
                )
                continue
            properties, primary = link_properties(item)
            try:
                fields = relation_fields(properties, self.settings, self._picklist_setting)
            except RelationRefused as problem:
                results[item.key] = RecordResult.permanent(item.key, str(problem))
                continue
            wanted.append(WantedRelation(item, ends.contact_id, ends.account_id, primary, fields))
        if wanted:
            results.update(self._reconcile(wanted))
        return [results[item.key] for item in items]

    def _reconcile(self, wanted: list[WantedRelation]) -> dict[str, RecordResult]:
        results: dict[str, RecordResult] = {}
        contacts = [link.contact_id for link in wanted]
        extra = sorted({field for link in wanted for field in link.fields})
        current = self._relations(contacts, [*extra, *PRESERVED_FIELDS])
        # 1. The primary account: Contact.AccountId (never a delete of the direct relation).
        moves: dict[str, WantedRelation] = {}
        for link in wanted:
            row = current.get((link.contact_id, link.account_id))
            if link.primary and not (row and row.get("IsDirect")):
                moves.setdefault(link.contact_id, link)
        # The direct relations a move replaces: with the org setting that deletes
        # the previous primary's relation, Salesforce removes them, and the hub's
        # link (unchanged) would never re-create them.
        previous = {
            pair: row
            for pair, row in current.items()
            if pair[0] in moves and row.get("IsDirect") and pair[1] != moves[pair[0]].account_id
        }
        if moves:
            records = [
                {"attributes": {"type": "Contact"}, "Id": contact_id, "AccountId": link.account_id}
                for contact_id, link in moves.items()
            ]
            keys = [link.item.key for link in moves.values()]
            answers = self._restful(
                "composite/sobjects",
                method="PATCH",
                json={"allOrNone": False, "records": records},
            )
            for result in self._per_record(keys, answers, "Contact.AccountId"):
                if result.outcome is not Outcome.OK:
                    results[result.key] = result
            # Salesforce made (or turned) the new account's relation the direct one.
            current = self._relations(contacts, extra)
            self._restore_previous(
                previous, current, {(w.contact_id, w.account_id) for w in wanted}
            )
        # 2. Every relation: create what is missing, update what differs.
        creates: list[tuple[WantedRelation, dict[str, Any]]] = []
        updates: list[tuple[WantedRelation, dict[str, Any]]] = []
        for link in wanted:
            if link.item.key in results:
                continue
            row = current.get((link.contact_id, link.account_id))
            if row is None:
                fields = {k: v for k, v in link.fields.items() if v is not None}
                creates.append(
                    (
                        link,
                        {
                            "attributes": {"type": RELATION_OBJECT},
                            "AccountId": link.account_id,
                            "ContactId": link.contact_id,
                            **fields,
                        },
                    )
                )
                continue
            delta = changes(row, without_direct_only(link.fields, bool(row.get("IsDirect"))))
            if delta:
                updates.append(
                    (link, {"attributes": {"type": RELATION_OBJECT}, "Id": row["Id"], **delta})
                )
            else:
                results[link.item.key] = RecordResult.ok(link.item.key, str(row["Id"]))
        for method, entries in (("POST", creates), ("PATCH", updates)):
            keyed = [(link.item.key, record) for link, record in entries]
            results.update(self._write_records(method, keyed, RELATION_OBJECT))
        return results

    def _restore_previous(
        self,
        previous: Mapping[tuple[str, str], Mapping[str, Any]],
        current: dict[tuple[str, str], dict[str, Any]],
        wanted: set[tuple[str, str]],
    ) -> None:
        """Re-create, as indirect relations with their roles and dates, the previous
        primaries' relations Salesforce deleted on the move (the org's "delete the
        previous relationship" setting); links of this batch are created anyway."""
        gone = [
            (pair, row)
            for pair, row in previous.items()
            if pair not in current and pair not in wanted
        ]
        if not gone:
            return
        records = [
            {
                "attributes": {"type": RELATION_OBJECT},
                "AccountId": pair[1],
                "ContactId": pair[0],
                **{
                    name: row[name]
                    for name in ("Roles", *PRESERVED_FIELDS)
                    if row.get(name) not in (None, "")
                },
            }
            for pair, row in gone
        ]
        for chunk in _chunks(records, COLLECTION_SIZE):
            answers = self._restful(
                "composite/sobjects",
                method="POST",
                json={"allOrNone": False, "records": list(chunk)},
            )
            for record, answer in zip(chunk, answers or [], strict=False):
                pair = (str(record["ContactId"]), str(record["AccountId"]))
                if isinstance(answer, Mapping) and answer.get("success"):
                    current[pair] = {**record, "Id": answer.get("id"), "IsDirect": False}
                    logger.info(
                        "salesforce %s: re-created the relation of contact %s to its previous"
                        " primary account %s (the org deletes it on a primary change)",
                        self.name,
                        *pair,
                    )
                else:
                    logger.warning(
                        "salesforce %s: could not re-create the relation %s -> %s: %s",
                        self.name,
                        *pair,
                        answer,
                    )

    def _unlink(self, items: Sequence[BatchItem]) -> list[RecordResult]:
        results: dict[str, RecordResult] = {}
        pairs: dict[str, tuple[str, str]] = {}
        for item in items:
            ends = item.link
            if ends is None or not ends.contact_id or not ends.account_id:
                # An end Salesforce never held: there is no relation to remove.
                results[item.key] = RecordResult.ok(item.key, item.destination_id)
            else:
                pairs[item.key] = (ends.contact_id, ends.account_id)
        current = self._relations([contact for contact, _ in pairs.values()])
        deletes: list[tuple[str, str]] = []
        for key, pair in pairs.items():
            row = current.get(pair)
            if row is None:
                results[key] = RecordResult.ok(key, None)  # already gone
            elif row.get("IsDirect"):
                # The direct relation follows Contact.AccountId and cannot be deleted:
                # only a primary account change (or deleting the contact) removes it.
                # Said, never reported as done.
                results[key] = RecordResult.permanent(
                    key,
                    f"not unlinked: the relation to account {pair[1]} is contact {pair[0]}'s"
                    " direct one (Contact.AccountId); Salesforce removes it only when the"
                    " primary account changes or the contact is deleted",
                )
            else:
                deletes.append((key, str(row["Id"])))
        for chunk in _chunks(deletes, COLLECTION_SIZE):
            ids = dict(chunk)
            try:
                answers = self._restful(
                    "composite/sobjects",
                    method="DELETE",
                    params={"ids": ",".join(ids.values()), "allOrNone": "false"},
                )
            except RequestFailed as failure:
                results.update((key, failure.result(key)) for key in ids)
                continue
            for result in self._per_record(list(ids), answers, "the unlink", ids, gone_is_ok=True):
                results[result.key] = result
        return [results[item.key] for item in items]
