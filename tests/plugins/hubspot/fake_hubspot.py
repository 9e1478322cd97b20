"""A fake HubSpot on 127.0.0.1 for the HubSpot plugin's tests and benchmark.

It answers the endpoints the plugin uses with bodies shaped like the published
OpenAPI descriptions (``../shared/vendor-specs/hubspot/``), and enforces what
matters to a client:

- the private app token (401 otherwise);
- at most 100 inputs per object batch and 2,000 per v4 association batch (400);
- a rolling window of ``window_requests`` per ``window_seconds`` (default 100
  per 10 s) and a daily quota: beyond them, 429 with ``policyName``
  ``TEN_SECONDLY_ROLLING`` or ``DAILY``; ``X-HubSpot-RateLimit-*`` on every answer;
- properties must exist before a batch writes them (400 for the whole batch),
  ``idProperty`` must be a unique property;
- per-input validation (an e-mail without "@") answered 207, each error naming
  its input's ``objectWriteTraceId``;
- ``lifecyclestage`` never moves backwards unless cleared first (the backwards
  value is silently ignored, as HubSpot does);
- v4 associations with labels (USER_DEFINED label definitions), static lists, tasks.

``fail_next(status, ...)`` scripts misbehaviour (5xx, 423, 477, a slow answer).
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# The contract validator shared by every vendor fake sits in tests/plugins.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vendor_contract import check as check_contract

TOKEN = "pat-na1-fake-0000-token"
LIFECYCLE = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
OBJECT_BATCH_MAX = 100
ASSOCIATION_BATCH_MAX = 2000
STAMP = "2025-01-01T00:00:00.000Z"
TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "tasks": "0-27"}


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Scripted:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Logged:
    at: float
    method: str
    path: str
    status: int
    inputs: int


def _property(
    name: str, type_: str = "string", field_type: str = "text", **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "label": name,
        "type": type_,
        "fieldType": field_type,
        "groupName": extra.pop("groupName", "contactinformation"),
        "description": "",
        "options": extra.pop("options", []),
        "hasUniqueValue": extra.pop("hasUniqueValue", False),
        "hubspotDefined": extra.pop("hubspotDefined", True),
        **extra,
    }


def _error(status: int, message: str, category: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    return status, {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }


class FakeHubSpot:
    """The fake server; use as a context manager."""

    def __init__(
        self,
        *,
        token: str = TOKEN,
        window_requests: int = 100,
        window_seconds: float = 10.0,
        daily_quota: int = 250_000,
        check_requests: bool = True,
    ) -> None:
        #: Validate every request against the published contract (18 ms for a batch
        #: of 100): a pacing benchmark turns it off, its latency is not HubSpot's.
        self.check_requests = check_requests
        self.token = token
        self.window_requests = window_requests
        self.window_seconds = window_seconds
        self.daily_quota = daily_quota
        self.lock = threading.RLock()
        self.log: list[Logged] = []
        #: (method, path, response body) and (method, path, request body), in order.
        self.bodies: list[tuple[str, str, Any]] = []
        self.requests: list[tuple[str, str, Any]] = []
        self._window: deque[float] = deque()
        self._daily_used = 0
        self._script: deque[Scripted] = deque()
        self._next_id = 1000
        self.objects: dict[str, dict[str, dict[str, str]]] = {
            "contacts": {},
            "companies": {},
            "tasks": {},
        }
        self.properties: dict[str, dict[str, dict[str, Any]]] = {
            "contacts": {
                n: _property(n) for n in ("email", "firstname", "lastname", "phone", "company")
            },
            "companies": {
                n: _property(n, groupName="companyinformation") for n in ("name", "domain")
            },
        }
        self.properties["contacts"]["email"]["hasUniqueValue"] = True
        self.properties["contacts"]["lifecyclestage"] = _property(
            "lifecyclestage",
            "enumeration",
            "radio",
            options=[
                {"label": s, "value": s, "displayOrder": i, "hidden": False}
                for i, s in enumerate(LIFECYCLE)
            ],
        )
        #: (object type, property, lower-cased value) -> record id, for the unique lookups.
        self._index: dict[tuple[str, str, str], str] = {}
        self.groups: dict[str, set[str]] = {"contacts": set(), "companies": set()}
        self.labels: list[dict[str, Any]] = [
            {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"},
            {"category": "HUBSPOT_DEFINED", "typeId": 279},
        ]
        self.associations: dict[tuple[str, str], set[tuple[str, int]]] = {}
        self.lists: dict[str, set[str]] = {"501": set(), "502": set()}
        self.tasks: dict[str, dict[str, Any]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- control -------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        assert host == "127.0.0.1"
        return f"http://127.0.0.1:{port}"

    def __enter__(self) -> FakeHubSpot:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(
        self,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """The next ``times`` requests get ``status`` (after ``delay`` seconds)."""
        for _ in range(times):
            self._script.append(Scripted(status, body, headers or {}, delay))

    def find(self, object_type: str, prop: str, value: str) -> tuple[str, dict[str, str]] | None:
        """The record of ``object_type`` whose ``prop`` is ``value``."""
        with self.lock:
            record_id = self._index.get((object_type, prop, value.lower()))
            record = self.objects[object_type].get(record_id) if record_id else None
            if record_id is None or record is None or record.get(prop, "").lower() != value.lower():
                return None
            return record_id, record

    def statuses(self) -> list[int]:
        return [entry.status for entry in self.log]

    # -- the HTTP side -------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # Headers and body go in separate writes: without this, Nagle's
                # algorithm and delayed ACKs add 40 ms to every answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body, headers, delay = fake.answer(
                    method, self.path, dict(self.headers.items()), raw
                )
                if delay:
                    time.sleep(delay)
                data = b"" if body is None else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    if data:
                        self.send_header("Content-Type", "application/json;charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PUT(self) -> None:
                self._serve("PUT")

        return Handler

    def _rate_headers(self, now: float) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Max": str(self.window_requests),
            "X-HubSpot-RateLimit-Remaining": str(max(0, self.window_requests - len(self._window))),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.window_seconds * 1000)),
            "X-HubSpot-RateLimit-Daily": str(self.daily_quota),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily_quota - self._daily_used)),
        }

    def answer(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, str], float]:
        violation = (
            check_contract("hubspot", method, path, headers, raw) if self.check_requests else None
        )
        path = path.split("?", 1)[0]
        if violation is not None:
            with self.lock:
                self.log.append(Logged(time.monotonic(), method, path, 400, 0))
            return (*_error(400, str(violation), "VALIDATION_ERROR"), {}, 0.0)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self.lock:
            self.requests.append((method, path, body))
            now = time.monotonic()
            delay = 0.0
            inputs = len(body.get("inputs") or []) if isinstance(body, dict) else 0
            auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
            if auth != f"Bearer {self.token}":
                status, document = _error(
                    401,
                    "Authentication credentials not found. This API supports OAuth 2.0 "
                    "authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "INVALID_AUTHENTICATION",
                )
                rate: dict[str, str] = {}
            else:
                while self._window and self._window[0] <= now - self.window_seconds:
                    self._window.popleft()
                if self._daily_used >= self.daily_quota:
                    status, document = _error(
                        429,
                        "You have reached your daily limit.",
                        "RATE_LIMITS",
                        errorType="RATE_LIMIT",
                        policyName="DAILY",
                    )
                elif len(self._window) >= self.window_requests:
                    status, document = _error(
                        429,
                        "You have reached your ten_secondly_rolling limit.",
                        "RATE_LIMITS",
                        errorType="RATE_LIMIT",
                        policyName="TEN_SECONDLY_ROLLING",
                    )
                else:
                    self._window.append(now)
                    self._daily_used += 1
                    if self._script:
                        scripted = self._script.popleft()
                        status, document, delay = scripted.status, scripted.body, scripted.delay
                        if document is None and status >= 400:
                            document = _error(status, f"scripted {status}", "SCRIPTED")[1]
                    else:
                        status, document = self._route(method, path, body)
                rate = self._rate_headers(now)
                # Like HubSpot, a 429 carries no Retry-After: the headers say the window.
            self.log.append(Logged(now, method, path, status, inputs))
            self.bodies.append((method, path, document))
            return status, document, rate, delay

    # -- the API -----------------------------------------------------------------

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        m = re.fullmatch(r"/crm/v3/properties/(\w+)", path)
        if m and method == "GET":
            return 200, {"results": list(self.properties.get(m[1], {}).values())}
        m = re.fullmatch(r"/crm/v3/properties/(\w+)/groups", path)
        if m and method == "POST":
            return self._create_group(m[1], body)
        m = re.fullmatch(r"/crm/v3/properties/(\w+)/batch/create", path)
        if m and method == "POST":
            return self._create_properties(m[1], body)
        m = re.fullmatch(
            r"/crm/v3/objects/(contacts|companies)/batch/(upsert|update|archive|read)", path
        )
        if m and method == "POST":
            return getattr(self, f"_{m[2]}")(m[1], body)
        m = re.fullmatch(r"/crm/v3/objects/(contacts|companies)/search", path)
        if m and method == "POST":
            return self._search(m[1], body)
        if path == "/crm/v3/objects/tasks/batch/create" and method == "POST":
            return self._tasks(body)
        if path == "/crm/associations/v4/contacts/companies/labels":
            if method == "GET":
                return 200, {"results": self.labels}
            return self._create_label(body)
        m = re.fullmatch(
            r"/crm/v4/associations/contacts/companies/batch/(create|labels/archive)", path
        )
        if m and method == "POST":
            return self._associate(body) if m[1] == "create" else self._disassociate(body)
        m = re.fullmatch(r"/crm/v3/lists/(\w+)/memberships/(add|remove)", path)
        if m and method == "PUT":
            return self._list(m[1], m[2], body)
        if path == "/crm/v3/objects/tasks" and method == "POST":
            return self._task(body)
        return _error(404, f"no route for {method} {path}", "OBJECT_NOT_FOUND")

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _batch_response(
        self, results: list[Any], errors: list[Any], ok: int = 200
    ) -> tuple[int, Any]:
        document: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "requestedAt": STAMP,
            "startedAt": STAMP,
            "completedAt": STAMP,
        }
        if errors:
            document["errors"] = errors
            document["numErrors"] = len(errors)
            return 207, document
        return ok, document

    def _too_many(self, body: Any, limit: int) -> tuple[int, Any] | None:
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            return _error(400, "Invalid input JSON: inputs is required", "VALIDATION_ERROR")
        if len(inputs) > limit:
            return _error(
                400,
                f"Batch input size {len(inputs)} exceeds the limit of {limit}",
                "VALIDATION_ERROR",
            )
        return None

    def _create_group(self, object_type: str, body: dict[str, Any]) -> tuple[int, Any]:
        if body["name"] in self.groups[object_type]:
            return _error(409, f"A property group named {body['name']} already exists.", "CONFLICT")
        self.groups[object_type].add(body["name"])
        return 201, {
            "name": body["name"],
            "label": body["label"],
            "displayOrder": body.get("displayOrder", -1),
            "archived": False,
        }

    def _create_properties(self, object_type: str, body: dict[str, Any]) -> tuple[int, Any]:
        results, errors = [], []
        for spec in body["inputs"]:
            if spec["groupName"] not in self.groups[object_type]:
                errors.append(
                    self._standard_error(
                        f"Group {spec['groupName']} does not exist", {"name": [spec["name"]]}
                    )
                )
                continue
            if spec["name"] in self.properties[object_type]:
                errors.append(
                    self._standard_error(
                        f"Property {spec['name']} already exists",
                        {"name": [spec["name"]]},
                        status="409",
                    )
                )
                continue
            created = _property(
                spec["name"],
                spec["type"],
                spec["fieldType"],
                groupName=spec["groupName"],
                options=spec.get("options", []),
                hasUniqueValue=spec.get("hasUniqueValue", False),
                hubspotDefined=False,
                label=spec["label"],
                description=spec.get("description", ""),
                createdAt=STAMP,
                updatedAt=STAMP,
            )
            self.properties[object_type][spec["name"]] = created
            results.append(created)
        return self._batch_response(results, errors, ok=201)

    @staticmethod
    def _standard_error(
        message: str,
        context: dict[str, list[str]],
        status: str = "400",
        category: str = "VALIDATION_ERROR",
    ) -> dict[str, Any]:
        return {
            "status": status,
            "category": category,
            "message": message,
            "context": context,
            "errors": [{"message": message, "code": "INVALID"}],
            "links": {},
        }

    def _check_properties(
        self, object_type: str, inputs: list[dict[str, Any]]
    ) -> tuple[int, Any] | None:
        for entry in inputs:
            for name in entry.get("properties", {}):
                if name not in self.properties[object_type]:
                    return _error(
                        400,
                        f'Property "{name}" does not exist',
                        "VALIDATION_ERROR",
                        context={"propertyName": [name]},
                    )
        return None

    def _record(
        self, object_type: str, record_id: str, trace: str | None = None, new: bool | None = None
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": record_id,
            "properties": {**self.objects[object_type][record_id], "hs_object_id": record_id},
            "createdAt": STAMP,
            "updatedAt": STAMP,
            "archived": False,
        }
        if new is not None:
            record["new"] = new
        if trace:
            record["objectWriteTraceId"] = trace
        return record

    def _write(self, object_type: str, record_id: str, properties: dict[str, str]) -> None:
        current = self.objects[object_type].setdefault(record_id, {})
        for name, value in properties.items():
            if (
                name == "lifecyclestage"
                and value
                and current.get(name) in LIFECYCLE
                and value in LIFECYCLE
                and LIFECYCLE.index(value) < LIFECYCLE.index(current[name])
            ):
                continue  # HubSpot ignores a backwards move unless cleared first.
            current[name] = value
            if value:
                self._index[(object_type, name, value.lower())] = record_id

    def _invalid(self, object_type: str, properties: dict[str, str]) -> str | None:
        email = properties.get("email")
        if object_type == "contacts" and email is not None and email and "@" not in email:
            return (
                'Property values were not valid: [{"isValid":false,"message":"Email address '
                f'{email} is invalid","error":"INVALID_EMAIL","name":"email"}}]'
            )
        for name, value in properties.items():
            spec = self.properties[object_type].get(name) or {}
            options = {option["value"] for option in spec.get("options") or []}
            bad = (
                spec.get("type") == "enumeration" and options and value and value not in options
            ) or (spec.get("type") == "number" and value and not _is_number(value))
            if bad:
                return (
                    'Property values were not valid: [{"isValid":false,"message":"'
                    f'{value} was not a valid {spec.get("type")}.","error":"INVALID_OPTION",'
                    f'"name":"{name}"}}]'
                )
        return None

    def _email_taken(self, object_type: str, id_property: str, entry: dict[str, Any]) -> str | None:
        """The contact holding the e-mail ``entry`` would give another contact."""
        email = str(entry["properties"].get("email") or "")
        if object_type != "contacts" or not email or id_property == "email":
            return None
        holder = self.find("contacts", "email", email)
        if holder is None:
            return None
        target = self.find("contacts", id_property, entry["id"])
        return None if target is not None and target[0] == holder[0] else holder[0]

    def seed(self, object_type: str, properties: dict[str, str]) -> str:
        """A record the portal had before the hub came (a test's pre-seeded data)."""
        with self.lock:
            record_id = self._new_id()
            self._write(object_type, record_id, dict(properties))
            return record_id

    def _read(self, object_type: str, body: Any) -> tuple[int, Any]:
        refused = self._too_many(body, OBJECT_BATCH_MAX)
        if refused:
            return refused
        id_property = body.get("idProperty") or "hs_object_id"
        if id_property != "hs_object_id" and not self.properties[object_type].get(
            id_property, {}
        ).get("hasUniqueValue"):
            return _error(
                400,
                f"Unable to perform update/upsert by non-unique property {id_property}",
                "VALIDATION_ERROR",
            )
        results, missing = [], []
        for entry in body["inputs"]:
            value = str(entry["id"])
            if id_property == "hs_object_id":
                found = (
                    (value, self.objects[object_type][value])
                    if value in self.objects[object_type]
                    else None
                )
            else:
                found = self.find(object_type, id_property, value)
            if found is None:
                missing.append(value)
                continue
            record = self._record(object_type, found[0])
            wanted = set(body.get("properties") or []) | {"hs_object_id"}
            record["properties"] = {k: v for k, v in record["properties"].items() if k in wanted}
            results.append(record)
        errors = (
            [
                self._standard_error(
                    "Could not get some objects, they may be deleted or not exist.",
                    {"ids": missing},
                    status="404",
                    category="OBJECT_NOT_FOUND",
                )
            ]
            if missing
            else []
        )
        return self._batch_response(results, errors)

    def _search(self, object_type: str, body: Any) -> tuple[int, Any]:
        limit = int(body.get("limit") or 10)
        if limit > 200:
            return _error(400, "limit must be at most 200", "VALIDATION_ERROR")
        matched: list[str] = []
        for record_id, record in sorted(self.objects[object_type].items()):
            for group in body.get("filterGroups") or []:
                ok = True
                for condition in group.get("filters") or []:
                    held = record.get(condition["propertyName"], "").lower()
                    if condition["operator"] == "IN":
                        ok &= held in {str(v).lower() for v in condition.get("values") or []}
                    elif condition["operator"] == "EQ":
                        ok &= held == str(condition.get("value", "")).lower()
                    else:
                        return _error(400, "unsupported operator in the fake", "VALIDATION_ERROR")
                if ok:
                    matched.append(record_id)
                    break
        start = int(body.get("after") or 0)
        page = matched[start : start + limit]
        wanted = set(body.get("properties") or []) | {"hs_object_id"}
        results = []
        for record_id in page:
            record = self._record(object_type, record_id)
            record["properties"] = {k: v for k, v in record["properties"].items() if k in wanted}
            results.append(record)
        document: dict[str, Any] = {"total": len(matched), "results": results}
        if start + limit < len(matched):
            document["paging"] = {"next": {"after": str(start + limit)}}
        return 200, document

    def _upsert(self, object_type: str, body: Any) -> tuple[int, Any]:
        refused = self._too_many(body, OBJECT_BATCH_MAX) or self._check_properties(
            object_type, body["inputs"]
        )
        if refused:
            return refused
        results: list[Any] = []
        errors: list[Any] = []
        seen: set[str] = set()
        # Like HubSpot, the batch is refused whole (nothing written) when one input
        # holds an invalid value, or would create a contact whose e-mail another has.
        for entry in body["inputs"]:
            id_property = entry.get("idProperty") or "hs_object_id"
            if id_property != "hs_object_id" and not self.properties[object_type].get(
                id_property, {}
            ).get("hasUniqueValue"):
                return _error(400, f"{id_property} is not a unique property", "VALIDATION_ERROR")
            key = str(entry["id"]).lower()
            if key in seen:
                return _error(
                    400, f"Duplicate IDs found in batch input: [{key}]", "VALIDATION_ERROR"
                )
            seen.add(key)
            problem = self._invalid(object_type, entry["properties"])
            if problem:
                return _error(400, problem, "VALIDATION_ERROR")
            conflict = self._email_taken(object_type, id_property, entry)
            if conflict:
                return _error(409, f"Contact already exists. Existing ID: {conflict}", "CONFLICT")
        for entry in body["inputs"]:
            id_property = entry.get("idProperty") or "hs_object_id"
            trace = entry.get("objectWriteTraceId")
            found = self.find(object_type, id_property, entry["id"])
            record_id = found[0] if found else self._new_id()
            props = dict(entry["properties"])
            props.setdefault(id_property, entry["id"])
            self._write(object_type, record_id, props)
            results.append(self._record(object_type, record_id, trace, new=found is None))
        return self._batch_response(results, errors)

    def _update(self, object_type: str, body: Any) -> tuple[int, Any]:
        refused = self._too_many(body, OBJECT_BATCH_MAX) or self._check_properties(
            object_type, body["inputs"]
        )
        if refused:
            return refused
        results, errors = [], []
        for entry in body["inputs"]:
            if entry["id"] not in self.objects[object_type]:
                errors.append(
                    self._standard_error(
                        f"Object {entry['id']} not found",
                        {"ids": [entry["id"]]},
                        status="404",
                        category="OBJECT_NOT_FOUND",
                    )
                )
                continue
            self._write(object_type, entry["id"], entry["properties"])
            results.append(self._record(object_type, entry["id"], entry.get("objectWriteTraceId")))
        return self._batch_response(results, errors)

    def _archive(self, object_type: str, body: Any) -> tuple[int, Any]:
        refused = self._too_many(body, OBJECT_BATCH_MAX)
        if refused:
            return refused
        for entry in body["inputs"]:
            self.objects[object_type].pop(entry["id"], None)
        return 204, None

    def _create_label(self, body: dict[str, Any]) -> tuple[int, Any]:
        if any(label.get("label") == body["label"] for label in self.labels):
            return _error(400, f"label {body['label']} already exists", "VALIDATION_ERROR")
        type_id = 30 + sum(1 for label in self.labels if label["category"] == "USER_DEFINED")
        created = {"category": "USER_DEFINED", "typeId": type_id, "label": body["label"]}
        self.labels.append(created)
        return 200, {"results": [created]}

    def _pairs(
        self, body: Any
    ) -> tuple[int, Any] | list[tuple[tuple[str, str], set[tuple[str, int]]]]:
        refused = self._too_many(body, ASSOCIATION_BATCH_MAX)
        if refused:
            return refused
        pairs = []
        seen = set()
        for entry in body["inputs"]:
            pair = (entry["from"]["id"], entry["to"]["id"])
            if pair in seen:
                return _error(
                    400, f"Duplicate association pair {pair} in one batch", "VALIDATION_ERROR"
                )
            seen.add(pair)
            pairs.append(
                (pair, {(t["associationCategory"], t["associationTypeId"]) for t in entry["types"]})
            )
        return pairs

    def _labels_of(self, types: set[tuple[str, int]]) -> list[str]:
        names = {(lb["category"], lb["typeId"]): lb.get("label") for lb in self.labels}
        return sorted(str(names[t]) for t in types if names.get(t))

    def _associate(self, body: Any) -> tuple[int, Any]:
        pairs = self._pairs(body)
        if isinstance(pairs, tuple):
            return pairs
        known = {(lb["category"], lb["typeId"]) for lb in self.labels}
        results, errors = [], []
        for (contact_id, company_id), types in pairs:
            if (
                contact_id not in self.objects["contacts"]
                or company_id not in self.objects["companies"]
            ):
                errors.append(
                    self._standard_error(
                        "Object not found",
                        {"fromObjectId": [contact_id], "toObjectId": [company_id]},
                        status="404",
                        category="OBJECT_NOT_FOUND",
                    )
                )
                continue
            unknown = types - known
            if unknown:
                errors.append(
                    self._standard_error(
                        f"Unknown association types {sorted(unknown)}",
                        {"fromObjectId": [contact_id], "toObjectId": [company_id]},
                    )
                )
                continue
            held = self.associations.setdefault((contact_id, company_id), set())
            held.update(types | {("HUBSPOT_DEFINED", 279)})
            results.append(
                {
                    "fromObjectTypeId": "0-1",
                    "fromObjectId": contact_id,
                    "toObjectTypeId": "0-2",
                    "toObjectId": company_id,
                    "labels": self._labels_of(held),
                }
            )
        return self._batch_response(results, errors, ok=201)

    def _disassociate(self, body: Any) -> tuple[int, Any]:
        pairs = self._pairs(body)
        if isinstance(pairs, tuple):
            return pairs
        for pair, types in pairs:
            held = self.associations.get(pair)
            if held is None:
                continue
            if ("HUBSPOT_DEFINED", 279) in types:
                del self.associations[pair]  # removing the plain association removes all
            else:
                held.difference_update(types)
        return 204, None

    def _list(self, list_id: str, change: str, body: Any) -> tuple[int, Any]:
        if list_id not in self.lists:
            return _error(404, f"List {list_id} does not exist", "OBJECT_NOT_FOUND")
        members = self.lists[list_id]
        known = set(self.objects["contacts"]) | set(self.objects["companies"])
        ids = [str(i) for i in body]
        missing = [i for i in ids if i not in known]
        present = [i for i in ids if i in known]
        if change == "add":
            added = [i for i in present if i not in members]
            members.update(present)
            return 200, {
                "recordsIdsAdded": added,
                "recordIdsRemoved": [],
                "recordIdsMissing": missing,
            }
        removed = [i for i in present if i in members]
        members.difference_update(present)
        return 200, {
            "recordsIdsAdded": [],
            "recordIdsRemoved": removed,
            "recordIdsMissing": missing,
        }

    def _tasks(self, body: Any) -> tuple[int, Any]:
        refused = self._too_many(body, OBJECT_BATCH_MAX)
        if refused:
            return refused
        results = []
        for entry in body["inputs"]:
            status, created = self._task(entry)
            if status != 201:
                return status, created
            if entry.get("objectWriteTraceId"):
                created["objectWriteTraceId"] = entry["objectWriteTraceId"]
            results.append(created)
        return self._batch_response(results, [], ok=201)

    def _task(self, body: Any) -> tuple[int, Any]:
        properties = body.get("properties") or {}
        if not properties.get("hs_timestamp"):
            return _error(
                400, "Property values were not valid: hs_timestamp is required", "VALIDATION_ERROR"
            )
        task_id = self._new_id()
        self.objects["tasks"][task_id] = dict(properties)
        self.tasks[task_id] = {
            "properties": dict(properties),
            "associations": body.get("associations") or [],
        }
        return 201, self._record("tasks", task_id)
