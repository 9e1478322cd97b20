"""A fake Salesforce org on 127.0.0.1, for load and fault tests and for recording cassettes.

It follows the request and response shapes of Salesforce's REST API Developer
Guide for what the plugin uses, with an in-memory org behind them:

- ``POST /services/oauth2/token`` (password, client_credentials, JWT bearer);
- ``PATCH composite/sobjects/{SObject}/{ExtIdField}`` (upsert, per-record
  ``UpsertResult``), ``POST``/``PATCH``/``DELETE composite/sobjects``;
- ``GET query/?q=SELECT ... FROM X WHERE F IN (...)`` (that shape only);
- Bulk API 2.0 ingest jobs: create, upload (``PUT .../batches``), close
  (``PATCH state=UploadComplete``), get, ``failedResults/``, ``successfulResults/``;
- ``AccountContactRelation``: ``Contact.AccountId`` keeps the direct relation,
  as Salesforce does (the old direct relation turns indirect), and a direct
  relation cannot be deleted;
- ``Sforce-Limit-Info: api-usage=N/M`` on every data response, 403
  ``REQUEST_LIMIT_EXCEEDED`` past the quota, 401 ``INVALID_SESSION_ID`` for an
  expired session.

Planted faults: a record whose external id is in ``lock_keys`` fails once
with ``UNABLE_TO_LOCK_ROW``; an ``Email`` containing ``duplicate`` gets
``DUPLICATES_DETECTED``; a value ``INVALID`` gets
``FIELD_CUSTOM_VALIDATION_EXCEPTION``; a field named ``Bogus...`` is an
``INVALID_FIELD`` for the whole request (a failed job in bulk).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

# The contract validator shared by every vendor fake sits in tests/plugins.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vendor_contract import check as check_contract

CLIENT_ID = "3MVG9fake.client.id"
CLIENT_SECRET = "fake-client-secret-0123456789"
USERNAME = "integration@acme.example"
PASSWORD = "fake-password"
SECURITY_TOKEN = "fake-security-token"

PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "Lead": "00Q",
    "AccountContactRelation": "07k",
}
REQUIRED = {"Account": ("Name",), "Contact": ("LastName",), "Lead": ("LastName", "Company")}
BULK_NULL = "#N/A"
_QUERY = re.compile(
    r"^SELECT (?P<columns>.+?) FROM (?P<object>\w+) WHERE (?P<field>\w+) IN \((?P<values>.*)\)$"
)


def _error(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": fields or []}


@dataclass
class Job:
    id: str
    object: str
    external_id: str
    state: str = "Open"
    data: str = ""
    failed: list[dict[str, str]] = field(default_factory=list)
    successful: list[dict[str, str]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    error: str | None = None
    polls_in_progress: int = 0
    #: Rows uploaded and not processed yet (a job in progress, or aborted).
    pending: list[dict[str, str]] = field(default_factory=list)
    #: Rows each status poll processes (``None``: all of them at once).
    rows_per_poll: int | None = None


class Org:
    """The in-memory org, shared by the handler threads (one lock)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in PREFIXES}
        self.counter = itertools.count(1)
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.api_used = 0
        self.api_total = 100_000
        self.lock_keys: set[str] = set()
        self.jobs: dict[str, Job] = {}
        #: Requests to the data API: (method, path).
        self.requests: list[tuple[str, str]] = []
        #: The next data requests answer this (status, body) instead.
        self.fail_next: list[tuple[int, Any]] = []
        #: Every session is refused (INVALID_SESSION_ID), even fresh ones.
        self.refuse_sessions = False
        self.bulk_polls_in_progress = 0
        #: Rows a job processes per status poll (``None``: all at once, on close).
        self.bulk_rows_per_poll: int | None = None
        #: The org's Account Settings choice when a contact's primary account changes:
        #: keep the previous relation as an indirect one (True), or delete it (False).
        self.keep_previous_primary = True
        self.indexes: dict[tuple[str, str], dict[Any, str]] = {}

    # -- helpers ---------------------------------------------------------------------

    def new_id(self, sobject: str) -> str:
        return f"{PREFIXES.get(sobject, '0XX')}{next(self.counter):012d}AAA"

    def find(self, sobject: str, field_name: str, value: Any) -> dict[str, Any] | None:
        record_id = self._index(sobject, field_name).get(value)
        return None if record_id is None else self.records[sobject].get(record_id)

    def _index(self, sobject: str, field_name: str) -> dict[Any, str]:
        """value -> record id, for an external-id field (kept up to date on writes)."""
        key = (sobject, field_name.lower())
        index = self.indexes.get(key)
        if index is None:
            index = self.indexes[key] = {
                _get(record, field_name): record_id
                for record_id, record in self.records[sobject].items()
            }
        return index

    def _reindex(self, sobject: str, record: dict[str, Any]) -> None:
        for (indexed, field_lower), index in self.indexes.items():
            if indexed == sobject:
                value = _get(record, field_lower)
                if value is not None:
                    index[value] = record["Id"]

    def relations(self, contact_id: str) -> list[dict[str, Any]]:
        return [
            r
            for r in self.records["AccountContactRelation"].values()
            if r["ContactId"] == contact_id
        ]

    def seed(self, sobject: str, fields: dict[str, Any]) -> str:
        """A record the org had before the hub came (a test's pre-seeded data)."""
        with self.lock:
            record = {"Id": self.new_id(sobject), **fields}
            self.records[sobject][record["Id"]] = record
            self._reindex(sobject, record)
            return str(record["Id"])

    def expire_sessions(self) -> None:
        self.tokens.clear()

    # -- writes ----------------------------------------------------------------------

    def _check(self, sobject: str, record: dict[str, Any], creating: bool) -> dict[str, Any] | None:
        for name in REQUIRED.get(sobject, ()):
            value = _get(record, name)
            if (creating and value in (None, "")) or (
                name_in(record, name) and value in (None, "")
            ):
                return _error(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", [name]
                )
        email = _get(record, "Email")
        if isinstance(email, str) and "duplicate" in email:
            return _error(
                "DUPLICATES_DETECTED",
                "Use one of these records? A duplicate rule blocked this record.",
            )
        for name, value in record.items():
            if value == "INVALID":
                return _error(
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION", f"{name} is rejected by a rule", [name]
                )
        return None

    def upsert(self, sobject: str, external_id: str, record: dict[str, Any]) -> dict[str, Any]:
        fields = {k: v for k, v in record.items() if k != "attributes"}
        key = fields.get(external_id)
        if key in self.lock_keys:
            self.lock_keys.discard(key)
            return _fail(
                _error("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
            )
        existing = self.find(sobject, external_id, key)
        problem = self._check(sobject, fields, creating=existing is None)
        if problem:
            return _fail(problem)
        if existing is None:
            existing = {"Id": self.new_id(sobject)}
            self.records[sobject][existing["Id"]] = existing
            created = True
        else:
            created = False
        self._write(sobject, existing, fields)
        return {"id": existing["Id"], "success": True, "errors": [], "created": created}

    def _write(self, sobject: str, existing: dict[str, Any], fields: dict[str, Any]) -> None:
        account = fields.pop("AccountId", None) if "AccountId" in fields else None
        existing.update(fields)
        self._reindex(sobject, existing)
        if sobject == "Contact" and account is not None:
            self._set_primary(existing["Id"], account)

    def _set_primary(self, contact_id: str, account_id: str) -> None:
        contact = self.records["Contact"][contact_id]
        contact["AccountId"] = account_id
        target = None
        for relation in self.relations(contact_id):
            if relation["AccountId"] == account_id:
                target = relation
            elif relation["IsDirect"] and self.keep_previous_primary:
                relation["IsDirect"] = False  # the old primary stays, indirect
            elif relation["IsDirect"]:
                del self.records["AccountContactRelation"][relation["Id"]]
        if target is None:
            target = {
                "Id": self.new_id("AccountContactRelation"),
                "AccountId": account_id,
                "ContactId": contact_id,
                "Roles": None,
                "IsActive": True,
            }
            self.records["AccountContactRelation"][target["Id"]] = target
        target["IsDirect"] = True
        target["IsActive"] = True

    def create(self, record: dict[str, Any]) -> dict[str, Any]:
        sobject = record["attributes"]["type"]
        fields = {k: v for k, v in record.items() if k != "attributes"}
        if sobject == "AccountContactRelation":
            if (
                fields.get("ContactId") not in self.records["Contact"]
                or fields.get("AccountId") not in self.records["Account"]
            ):
                return _fail(_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"))
            for relation in self.relations(fields["ContactId"]):
                if relation["AccountId"] == fields["AccountId"]:
                    return _fail(
                        _error("DUPLICATE_VALUE", f"duplicate value found: {relation['Id']}")
                    )
            fields.setdefault("IsActive", True)
            fields["IsDirect"] = False
            fields.setdefault("Roles", None)
        problem = self._check(sobject, fields, creating=True)
        if problem:
            return _fail(problem)
        fields["Id"] = self.new_id(sobject)
        self.records[sobject][fields["Id"]] = fields
        self._reindex(sobject, fields)
        return {"id": fields["Id"], "success": True, "errors": []}

    def _by_id(self, record_id: str) -> tuple[str, dict[str, Any]] | None:
        for sobject, records in self.records.items():
            if record_id in records:
                return sobject, records[record_id]
        return None

    def update(self, record: dict[str, Any]) -> dict[str, Any]:
        fields = {k: v for k, v in record.items() if k not in ("attributes", "Id")}
        found = self._by_id(record.get("Id", ""))
        if found is None:
            return _fail(_error("ENTITY_IS_DELETED", "entity is deleted"))
        sobject, existing = found
        if (
            sobject == "AccountContactRelation"
            and existing["IsDirect"]
            and (fields.get("IsActive") is False)
        ):
            return _fail(
                _error("FIELD_INTEGRITY_EXCEPTION", "A direct relationship is always active")
            )
        problem = self._check(sobject, fields, creating=False)
        if problem:
            return _fail(problem)
        self._write(sobject, existing, fields)
        return {"id": existing["Id"], "success": True, "errors": []}

    def delete(self, record_id: str) -> dict[str, Any]:
        found = self._by_id(record_id)
        if found is None:
            return {
                "id": record_id,
                "success": False,
                "errors": [_error("ENTITY_IS_DELETED", "entity is deleted")],
            }
        sobject, existing = found
        if sobject == "AccountContactRelation" and existing["IsDirect"]:
            return {
                "id": record_id,
                "success": False,
                "errors": [_error("INVALID_OPERATION", "You can't delete a direct relationship.")],
            }
        del self.records[sobject][record_id]
        self.indexes = {k: v for k, v in self.indexes.items() if k[0] != sobject}
        if sobject in ("Account", "Contact"):
            side = "AccountId" if sobject == "Account" else "ContactId"
            for relation_id, relation in list(self.records["AccountContactRelation"].items()):
                if relation[side] == record_id:
                    del self.records["AccountContactRelation"][relation_id]
        return {"id": record_id, "success": True, "errors": []}

    # -- bulk ------------------------------------------------------------------------

    def process(self, job: Job) -> None:
        """Start processing the uploaded rows (all of them, or a first share)."""
        rows = list(csv.DictReader(io.StringIO(job.data)))
        job.columns = list(rows[0].keys()) if rows else []
        bogus = [c for c in job.columns if c.startswith("Bogus")]
        if bogus:
            job.state = "Failed"
            job.error = f"InvalidBatch : Field name not found : {bogus[0]}"
            job.pending = rows
            return
        job.pending = rows
        job.state = "InProgress"
        if not job.polls_in_progress:  # a queued job processes nothing before its polls
            self.advance(job)

    def advance(self, job: Job) -> None:
        """Process the next share of a job's rows (all with no ``rows_per_poll``)."""
        if job.state != "InProgress":
            return
        count = len(job.pending) if job.rows_per_poll is None else job.rows_per_poll
        rows, job.pending = job.pending[:count], job.pending[count:]
        for row in rows:
            record: dict[str, Any] = {"attributes": {"type": job.object}}
            for name, value in row.items():
                if value == "":
                    continue
                record[name] = None if value == BULK_NULL else _typed(value)
            result = self.upsert(job.object, job.external_id, record)
            if result["success"]:
                job.successful.append(
                    {"sf__Id": result["id"], "sf__Created": str(result["created"]).lower(), **row}
                )
            else:
                error = result["errors"][0]
                fields = ",".join(error["fields"])
                job.failed.append(
                    {
                        "sf__Id": "",
                        "sf__Error": f"{error['statusCode']}:{error['message']}:{fields} --",
                        **row,
                    }
                )
        if not job.pending:
            job.state = "JobComplete"


def name_in(record: dict[str, Any], name: str) -> bool:
    return any(key.lower() == name.lower() for key in record)


def _get(record: dict[str, Any], name: str) -> Any:
    for key, value in record.items():
        if key.lower() == name.lower():
            return value
    return None


def _fail(error: dict[str, Any]) -> dict[str, Any]:
    return {"success": False, "errors": [error]}


def _typed(value: str) -> Any:
    if value in ("true", "false"):
        return value == "true"
    return value


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing --------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: Any = None, content_type: str = "application/json") -> None:
        org = self.server.org
        if body is None:
            data = b""
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        self.send_response(status)
        if self.path.startswith("/services/data"):
            self.send_header("Sforce-Limit-Info", f"api-usage={org.api_used}/{org.api_total}")
        if data:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        body = self._body()
        org = self.server.org
        parts = urlsplit(self.path)
        violation = check_contract("salesforce", method, self.path, dict(self.headers), body)
        if violation is not None:
            self._send(400, [{"errorCode": "INVALID_REQUEST", "message": str(violation)}])
            return
        with org.lock:
            if parts.path == "/services/oauth2/token":
                self._token(body)
                return
            org.requests.append((method, parts.path))
            auth = self.headers.get("Authorization", "")
            if org.refuse_sessions or auth.removeprefix("Bearer ") not in org.tokens:
                self._send(
                    401,
                    [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
                )
                return
            org.api_used += 1
            if org.api_used > org.api_total:
                self._send(
                    403,
                    [
                        {
                            "message": "TotalRequests Limit exceeded.",
                            "errorCode": "REQUEST_LIMIT_EXCEEDED",
                        }
                    ],
                )
                return
            if org.fail_next:
                status, answer = org.fail_next.pop(0)
                self._send(status, answer)
                return
            path = re.sub(r"^/services/data/v\d+\.\d+/", "", parts.path).rstrip("/")
            query = parse_qs(parts.query)
            self._route(method, path, query, body)

    def _token(self, body: bytes) -> None:
        org = self.server.org
        org.token_requests += 1
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        grant = form.get("grant_type")
        ok = False
        if grant == "password":
            ok = (
                form.get("client_id") == CLIENT_ID
                and form.get("client_secret") == CLIENT_SECRET
                and form.get("username") == USERNAME
                and form.get("password") == PASSWORD + SECURITY_TOKEN
            )
        elif grant == "client_credentials":
            ok = form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            import jwt

            try:
                claims = jwt.decode(form.get("assertion", ""), options={"verify_signature": False})
            except jwt.PyJWTError:
                claims = {}
            ok = claims.get("iss") == CLIENT_ID and claims.get("sub") == USERNAME
        if not ok:
            self._send(
                400, {"error": "invalid_grant", "error_description": "authentication failure"}
            )
            return
        token = f"00Dfake!session-{next(org.counter)}"
        org.tokens.add(token)
        self._send(
            200,
            {
                "access_token": token,
                "instance_url": self.server.url,
                "id": f"{self.server.url}/id/00Dfake/005fake",
                "token_type": "Bearer",
                "issued_at": "1718000000000",
                "signature": "fake-signature",
            },
        )

    # -- the API -----------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> None:
        org = self.server.org
        segments = path.split("/")
        if segments[:2] == ["composite", "sobjects"]:
            document = json.loads(body) if body else {}
            records = document.get("records", [])
            if any(name.startswith("Bogus") for record in records for name in record):
                name = next(n for r in records for n in r if n.startswith("Bogus"))
                sobject = records[0]["attributes"]["type"]
                self._send(
                    400,
                    [
                        {
                            "message": f"No such column '{name}' on sobject of type {sobject}",
                            "errorCode": "INVALID_FIELD",
                        }
                    ],
                )
                return
            if len(segments) == 4 and method == "PATCH":
                self._send(200, [org.upsert(segments[2], segments[3], r) for r in records])
            elif len(segments) == 2 and method == "POST":
                self._send(200, [org.create(r) for r in records])
            elif len(segments) == 2 and method == "PATCH":
                self._send(200, [org.update(r) for r in records])
            elif len(segments) == 2 and method == "DELETE":
                ids = query.get("ids", [""])[0].split(",")
                self._send(200, [org.delete(i) for i in ids if i])
            else:
                self._send(404, [{"errorCode": "NOT_FOUND", "message": "no such resource"}])
            return
        if path == "query":
            self._query(query.get("q", [""])[0])
            return
        if segments[:2] == ["jobs", "ingest"]:
            self._bulk(method, segments[2:], body)
            return
        self._send(
            404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
        )

    def _query(self, soql: str) -> None:
        org = self.server.org
        match = _QUERY.match(soql.strip())
        if match is None:
            self._send(400, [{"errorCode": "MALFORMED_QUERY", "message": "unsupported query"}])
            return
        columns = [c.strip() for c in match["columns"].split(",")]
        # SOQL compares text case-insensitively.
        values = {v.strip().strip("'").lower() for v in match["values"].split(",")}
        sobject = match["object"]
        rows = []
        for record in org.records[sobject].values():
            if str(_get(record, match["field"])).lower() in values:
                row: dict[str, Any] = {
                    "attributes": {
                        "type": sobject,
                        "url": f"/services/data/v60.0/sobjects/{sobject}/{record['Id']}",
                    }
                }
                row.update({c: _get(record, c) for c in columns})
                rows.append(row)
        self._send(200, {"totalSize": len(rows), "done": True, "records": rows})

    def _job_info(self, job: Job) -> dict[str, Any]:
        return {
            "id": job.id,
            "operation": "upsert",
            "object": job.object,
            "createdById": "005fake",
            "createdDate": "2026-11-01T00:00:00.000+0000",
            "systemModstamp": "2026-11-01T00:00:00.000+0000",
            "state": job.state,
            "externalIdFieldName": job.external_id,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": 60.0,
            "jobType": "V2Ingest",
            "contentUrl": f"services/data/v60.0/jobs/ingest/{job.id}/batches",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
            "numberRecordsProcessed": len(job.successful) + len(job.failed),
            "numberRecordsFailed": len(job.failed),
            **({"errorMessage": job.error} if job.error else {}),
        }

    def _bulk(self, method: str, rest: list[str], body: bytes) -> None:
        org = self.server.org
        if not rest and method == "POST":
            document = json.loads(body)
            job = Job(
                id=f"750{next(org.counter):012d}AAA",
                object=document["object"],
                external_id=document.get("externalIdFieldName", "Id"),
                polls_in_progress=org.bulk_polls_in_progress,
                rows_per_poll=org.bulk_rows_per_poll,
            )
            org.jobs[job.id] = job
            self._send(200, self._job_info(job))
            return
        job = org.jobs.get(rest[0]) if rest else None
        if job is None:
            self._send(404, [{"errorCode": "NOT_FOUND", "message": "no such job"}])
            return
        tail = rest[1] if len(rest) > 1 else ""
        if tail == "batches" and method == "PUT":
            job.data += body.decode()
            self._send(201)
        elif not tail and method == "PATCH":
            state = json.loads(body).get("state")
            if state == "UploadComplete":
                job.state = "UploadComplete"
                org.process(job)
            elif state == "Aborted":
                job.state = "Aborted"
            self._send(200, self._job_info(job))
        elif not tail and method == "GET":
            if job.state == "InProgress":
                info = self._job_info(job)
                if job.polls_in_progress > 0:
                    job.polls_in_progress -= 1
                else:
                    org.advance(job)
                self._send(200, info)
                return
            self._send(200, self._job_info(job))
        elif tail.lower() == "unprocessedrecords" and method == "GET":
            if job.state not in ("JobComplete", "Failed", "Aborted"):
                self._send(400, [_error("INVALIDJOBSTATE", "the job is not finished")])
                return
            out = io.StringIO()
            names = job.columns or (list(job.pending[0]) if job.pending else [])
            writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
            writer.writeheader()
            writer.writerows(job.pending)
            self._send(200, out.getvalue(), "text/csv")
        elif tail in ("failedResults", "successfulResults") and method == "GET":
            if job.state not in ("JobComplete", "Failed", "Aborted"):
                self._send(400, [_error("INVALIDJOBSTATE", "the job is not finished")])
                return
            rows = job.failed if tail == "failedResults" else job.successful
            lead = ["sf__Id", "sf__Error"] if tail == "failedResults" else ["sf__Id", "sf__Created"]
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=lead + job.columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            self._send(200, out.getvalue(), "text/csv")
        else:
            self._send(404, [{"errorCode": "NOT_FOUND", "message": "no such resource"}])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    org: Org
    url: str


class FakeSalesforce:
    """``with FakeSalesforce() as fake:`` an org at ``fake.url`` (http://127.0.0.1:PORT)."""

    def __init__(self) -> None:
        self.org = Org()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.org = self.org
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._server.url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSalesforce:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def data_requests(self) -> list[tuple[str, str]]:
        with self.org.lock:
            return list(self.org.requests)


def running() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as fake:
        yield fake
