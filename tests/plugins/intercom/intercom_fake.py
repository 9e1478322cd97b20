"""A local fake Intercom (API 2.14) on 127.0.0.1, for load and fault tests.

What it enforces, like the real API: a bearer token (401 ``unauthorized``
otherwise), a request limit per window with ``X-RateLimit-Limit/-Remaining/
-Reset`` on every answer and ``429`` past it (the window is configurable so
tests can scale a minute down), ``409`` on creating a user whose external id
or e-mail another user has, custom attributes that must exist as data
attributes, the per-contact company limit, and ``error.list`` bodies. Faults
can be scripted (:meth:`IntercomFake.fail`): a status, or a delay longer than
the client's timeout. Bodies follow the OpenAPI description's schemas (a test
validates recorded traffic against it). Every request is logged.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# The contract validator shared by every vendor fake sits in tests/plugins.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vendor_contract import check as check_contract

TOKEN = "fake-intercom-token-0123456789"
#: Timestamps in bodies: fixed, so recordings are reproducible.
CREATED_AT = 1734537334
APP_ID = "this_is_an_id147_that_should_be_at_least_"


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int | None
    times: int
    delay: float = 0.0
    body: dict[str, Any] | None = None


@dataclass
class Logged:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    version: str | None
    status: int = 0
    #: When it arrived, on the fake's clock.
    at: float = 0.0


def error_list(code: str, message: str) -> dict[str, Any]:
    return {
        "type": "error.list",
        "request_id": "00000000-0000-4000-8000-000000000000",
        "errors": [{"code": code, "message": message}],
    }


@dataclass
class State:
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: contact id -> company ids attached, in order.
    attached: dict[str, list[str]] = field(default_factory=dict)
    #: (model, name) -> data attribute.
    attributes: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: contact id -> tag ids.
    tagged: dict[str, set[str]] = field(default_factory=dict)
    #: contact id -> monotonic time it becomes searchable.
    searchable_at: dict[str, float] = field(default_factory=dict)
    next_id: int = 1

    def new_id(self) -> str:
        value = f"6762f0{self.next_id:018x}"
        self.next_id += 1
        return value


class IntercomFake:
    """The server; use as a context manager. ``base_url`` is where it listens."""

    def __init__(
        self,
        *,
        limit: int = 1_666,
        window: float = 10.0,
        workspace_limit: int = 4_166,
        company_limit: int = 1000,
        search_delay: float = 0.0,
        token: str = TOKEN,
        other_apps: tuple[str, ...] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        #: Wall-clock seconds; a benchmark passes a faster one to scale a minute down.
        self.clock = clock
        #: Per app (token) and per workspace (every app), in ``window`` seconds: Intercom's
        #: 10,000 and 25,000 a minute, "evenly distributed into 10 second windows".
        self.limit = limit
        self.window = window
        self.workspace_limit = workspace_limit
        self.company_limit = company_limit
        self.search_delay = search_delay
        self.token = token
        #: Tokens of the workspace's other apps (each with its own limit).
        self.tokens = (token, *other_apps)
        self.state = State()
        self.log: list[Logged] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self._window_start = clock()
        self._window_counts: dict[str, int] = {}
        self.throttled = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> IntercomFake:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- test helpers ----------------------------------------------------------

    def fail(
        self,
        method: str,
        path: str,
        status: int | None,
        *,
        times: int = 1,
        delay: float = 0.0,
        body: dict[str, Any] | None = None,
    ) -> None:
        """The next ``times`` requests matching ``method`` and the ``path`` regex
        get ``status`` (with an ``error.list`` body), after ``delay`` seconds."""
        with self.lock:
            self.faults.append(Fault(method, re.compile(path), status, times, delay, body))

    def requests(self, method: str | None = None, path: str | None = None) -> list[Logged]:
        """Logged requests (answered ones, 429s included), filtered."""
        with self.lock:
            return [
                r
                for r in self.log
                if (method is None or r.method == method)
                and (path is None or re.fullmatch(path, r.path))
            ]

    def reset_log(self) -> None:
        with self.lock:
            self.log.clear()
            self.throttled = 0

    def contact_by_external_id(self, external_id: str) -> dict[str, Any] | None:
        with self.lock:
            for contact in self.state.contacts.values():
                if contact["external_id"] == external_id:
                    return contact
        return None

    def company_by_company_id(self, company_id: str) -> dict[str, Any] | None:
        with self.lock:
            for company in self.state.companies.values():
                if company["company_id"] == company_id:
                    return company
        return None

    # -- the HTTP side ---------------------------------------------------------

    def _rate(self, token: str) -> tuple[bool, dict[str, str]]:
        now = self.clock()
        with self.lock:
            if now - self._window_start >= self.window:
                elapsed = int((now - self._window_start) // self.window)
                self._window_start += elapsed * self.window
                self._window_counts.clear()
            count = self._window_counts[token] = self._window_counts.get(token, 0) + 1
            workspace = sum(self._window_counts.values())
            allowed = count <= self.limit and workspace <= self.workspace_limit
            if not allowed:
                self.throttled += 1
            remaining = max(0, min(self.limit - count, self.workspace_limit - workspace))
            reset = self._window_start + self.window
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(remaining),
            # Intercom sends the Unix time of the reset, in whole seconds (rounded up).
            "X-RateLimit-Reset": str(int(reset) + (0 if reset == int(reset) else 1)),
        }
        return allowed, headers

    def _fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.path.fullmatch(path):
                    fault.times -= 1
                    return fault
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One write per answer, sent at once (no 40 ms delayed-ACK stalls).
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any, headers: dict[str, str]) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                path = unquote(parts.path)
                query = parse_qs(parts.query)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                entry = Logged(
                    self.command,
                    path,
                    query,
                    body,
                    self.headers.get("Intercom-Version"),
                    at=fake.clock(),
                )
                with fake.lock:
                    fake.log.append(entry)
                violation = check_contract(
                    "intercom", self.command, self.path, dict(self.headers.items()), raw
                )
                if violation is not None:
                    entry.status = 400
                    self._answer(400, error_list("parameter_invalid", str(violation)), {})
                    return
                token = str(self.headers.get("Authorization") or "").removeprefix("Bearer ")
                allowed, headers = fake._rate(token)
                if not allowed:
                    entry.status = 429
                    self._answer(
                        429,
                        error_list(
                            "rate_limit_exceeded",
                            f"Exceeded rate limit of {fake.limit} in 10_seconds",
                        ),
                        headers,
                    )
                    return
                fault = fake._fault(self.command, path)
                if fault is not None:
                    if fault.delay:
                        time.sleep(fault.delay)
                    if fault.status is not None:
                        entry.status = fault.status
                        default = error_list("server_error", "Server error")
                        if fault.status == 401:
                            default = error_list("unauthorized", "Access Token Invalid")
                        self._answer(fault.status, fault.body or default, headers)
                        return
                if token not in fake.tokens:
                    entry.status = 401
                    self._answer(401, error_list("unauthorized", "Access Token Invalid"), headers)
                    return
                status, answer = fake.route(self.command, path, query, body)
                entry.status = status
                self._answer(status, answer, headers)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        return Handler

    # -- the API ---------------------------------------------------------------

    def route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        routes: list[tuple[str, str, Callable[..., tuple[int, Any]]]] = [
            ("POST", r"/companies", self._upsert_company),
            ("GET", r"/companies", self._find_company),
            ("DELETE", r"/companies/([^/]+)", self._delete_company),
            ("POST", r"/contacts", self._create_contact),
            ("POST", r"/contacts/search", self._search),
            ("GET", r"/contacts/find_by_external_id/(.+)", self._find_by_external_id),
            ("GET", r"/contacts/([^/]+)", self._get_contact),
            ("PUT", r"/contacts/([^/]+)", self._update_contact),
            ("DELETE", r"/contacts/([^/]+)", self._delete_contact),
            ("POST", r"/contacts/([^/]+)/companies", self._attach),
            ("DELETE", r"/contacts/([^/]+)/companies/([^/]+)", self._detach),
            ("GET", r"/data_attributes", self._list_attributes),
            ("POST", r"/data_attributes", self._create_attribute),
            ("POST", r"/tags", self._create_tag),
            ("POST", r"/contacts/([^/]+)/tags", self._tag),
            ("DELETE", r"/contacts/([^/]+)/tags/([^/]+)", self._untag),
        ]
        for verb, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                with self.lock:
                    return handler(*match.groups(), query=query, body=body)
        return 404, error_list("not_found", f"No route for {method} {path}")

    # companies

    def _company_json(self, company: dict[str, Any]) -> dict[str, Any]:
        users = sum(1 for ids in self.state.attached.values() if company["id"] in ids)
        return {**company, "user_count": users}

    def _missing_attribute(self, model: str, custom: dict[str, Any]) -> tuple[int, Any] | None:
        for name in custom:
            if (model, name) not in self.state.attributes:
                label = "Custom attribute" if model == "contact" else "Company attribute"
                return 400, error_list("parameter_invalid", f"{label} '{name}' does not exist")
        return None

    def _upsert_company(self, *, query: Any, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not body.get("company_id"):
            return 400, error_list("parameter_not_found", "company_id not specified")
        custom = body.get("custom_attributes") or {}
        problem = self._missing_attribute("company", custom)
        if problem:
            return problem
        company = self.company_by_company_id(body["company_id"])
        if company is None:
            company = {
                "type": "company",
                "company_id": body["company_id"],
                "id": self.state.new_id(),
                "app_id": APP_ID,
                "name": None,
                "remote_created_at": CREATED_AT,
                "created_at": CREATED_AT,
                "updated_at": CREATED_AT,
                "monthly_spend": 0,
                "session_count": 0,
                "user_count": 0,
                "tags": {"type": "tag.list", "tags": []},
                "segments": {"type": "segment.list", "segments": []},
                "plan": {},
                "custom_attributes": {},
            }
            self.state.companies[company["id"]] = company
        for key in ("name", "size", "website", "industry", "remote_created_at", "monthly_spend"):
            if key in body:
                company[key] = body[key]
        if "plan" in body:
            company["plan"] = {"type": "plan", "id": "1", "name": body["plan"]}
        company["custom_attributes"] = {**company["custom_attributes"], **custom}
        return 200, self._company_json(company)

    def _find_company(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        wanted = (query.get("company_id") or [None])[0]
        company = self.company_by_company_id(wanted) if wanted else None
        if company is None:
            return 404, error_list("company_not_found", "Company Not Found")
        return 200, {
            "type": "list",
            "data": [self._company_json(company)],
            "pages": {"type": "pages", "next": None, "page": 1, "per_page": 15, "total_pages": 1},
            "total_count": 1,
        }

    def _delete_company(self, company_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        if self.state.companies.pop(company_id, None) is None:
            return 404, error_list("company_not_found", "Company Not Found")
        for ids in self.state.attached.values():
            if company_id in ids:
                ids.remove(company_id)
        return 200, {"id": company_id, "object": "company", "deleted": True}

    # contacts

    def _contact_json(self, contact: dict[str, Any]) -> dict[str, Any]:
        return dict(contact)

    def _conflict(self, body: dict[str, Any], exclude: str | None = None) -> dict[str, Any] | None:
        for contact in self.state.contacts.values():
            if contact["id"] == exclude or contact["role"] != "user":
                continue
            if body.get("external_id") and contact["external_id"] == body["external_id"]:
                return contact
            email = body.get("email")
            if email and (contact["email"] or "").lower() == str(email).lower():
                return contact
        return None

    def _apply(self, contact: dict[str, Any], body: dict[str, Any]) -> None:
        for key in (
            "role",
            "external_id",
            "email",
            "phone",
            "name",
            "avatar",
            "signed_up_at",
            "last_seen_at",
            "owner_id",
            "unsubscribed_from_emails",
        ):
            if key in body:
                contact[key] = body[key]
        if contact.get("email"):
            contact["email_domain"] = str(contact["email"]).rpartition("@")[2]
        contact["custom_attributes"] = {
            **contact["custom_attributes"],
            **(body.get("custom_attributes") or {}),
        }

    def _create_contact(self, *, query: Any, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not (body.get("external_id") or body.get("email")):
            return 400, error_list("parameter_not_found", "email or external_id not specified")
        problem = self._missing_attribute("contact", body.get("custom_attributes") or {})
        if problem:
            return problem
        existing = self._conflict({**body, "role": body.get("role", "user")})
        if existing is not None and body.get("role", "user") == "user":
            return 409, error_list(
                "conflict",
                f"A contact matching those details already exists with id={existing['id']}",
            )
        contact: dict[str, Any] = {
            "type": "contact",
            "id": self.state.new_id(),
            "workspace_id": "ecahpwf5",
            "external_id": None,
            "role": "user",
            "email": None,
            "email_domain": None,
            "phone": None,
            "name": None,
            "owner_id": None,
            "has_hard_bounced": False,
            "marked_email_as_spam": False,
            "unsubscribed_from_emails": False,
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
            "signed_up_at": None,
            "last_seen_at": None,
            "custom_attributes": {},
        }
        self._apply(contact, body)
        self.state.contacts[contact["id"]] = contact
        self.state.searchable_at[contact["id"]] = time.monotonic() + self.search_delay
        return 200, self._contact_json(contact)

    def _get_contact(self, contact_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        contact = self.state.contacts.get(contact_id)
        if contact is None:
            return 404, error_list("not_found", "User Not Found")
        return 200, self._contact_json(contact)

    def _find_by_external_id(self, external_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        contact = self.contact_by_external_id(external_id)
        if contact is None:
            return 404, error_list("not_found", "User Not Found")
        return 200, self._contact_json(contact)

    def _update_contact(self, contact_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        contact = self.state.contacts.get(contact_id)
        if contact is None:
            return 404, error_list("not_found", "User Not Found")
        if not isinstance(body, dict):
            return 400, error_list("parameter_invalid", "body is not an object")
        problem = self._missing_attribute("contact", body.get("custom_attributes") or {})
        if problem:
            return problem
        existing = self._conflict(body, exclude=contact_id)
        if existing is not None:
            return 409, error_list(
                "conflict",
                f"A contact matching those details already exists with id={existing['id']}",
            )
        self._apply(contact, body)
        return 200, self._contact_json(contact)

    def _delete_contact(self, contact_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        contact = self.state.contacts.pop(contact_id, None)
        if contact is None:
            return 404, error_list("not_found", "User Not Found")
        self.state.attached.pop(contact_id, None)
        return 200, {
            "type": "contact",
            "id": contact_id,
            "external_id": contact["external_id"],
            "deleted": True,
        }

    def _matches(self, contact: dict[str, Any], query: dict[str, Any]) -> bool:
        operator = query.get("operator")
        value = query.get("value")
        if operator in ("AND", "OR"):
            results = [self._matches(contact, part) for part in value or []]
            return all(results) if operator == "AND" else any(results)
        actual = contact.get(query.get("field", ""))
        if query.get("field") == "email" and isinstance(actual, str):
            actual = actual.lower()
            value = [v.lower() for v in value] if isinstance(value, list) else str(value).lower()
        if operator == "=":
            return bool(actual == value)
        if operator == "IN":
            return actual in (value or [])
        raise ValueError(f"the fake does not support operator {operator!r}")

    def _search(self, *, query: Any, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("query"), dict):
            return 400, error_list("parameter_not_found", "query not specified")
        now = time.monotonic()
        try:
            found = [
                c
                for c in self.state.contacts.values()
                if self.state.searchable_at.get(c["id"], 0) <= now
                and self._matches(c, body["query"])
            ]
        except ValueError as error:
            return 400, error_list("parameter_invalid", str(error))
        pagination = body.get("pagination") or {}
        per_page = int(pagination.get("per_page") or 50)
        start = int(pagination.get("starting_after") or 0)
        page = found[start : start + per_page]
        following = start + per_page
        pages: dict[str, Any] = {
            "type": "pages",
            "page": start // per_page + 1,
            "per_page": per_page,
            "total_pages": max(1, -(-len(found) // per_page)),
        }
        if following < len(found):
            pages["next"] = {"per_page": per_page, "starting_after": str(following)}
        return 200, {
            "type": "list",
            "data": [self._contact_json(c) for c in page],
            "total_count": len(found),
            "pages": pages,
        }

    def _attach(self, contact_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        if contact_id not in self.state.contacts:
            return 404, error_list("not_found", "User Not Found")
        company_id = body.get("id") if isinstance(body, dict) else None
        if not company_id:
            return 400, error_list("parameter_not_found", "company not specified")
        company = self.state.companies.get(company_id)
        if company is None:
            return 404, error_list("company_not_found", "Company Not Found")
        attached = self.state.attached.setdefault(contact_id, [])
        if company_id not in attached:
            if len(attached) >= self.company_limit:
                return 400, error_list(
                    "contact_company_limit_exceeded",
                    f"Contact has reached the maximum of {self.company_limit} company associations",
                )
            attached.append(company_id)
        return 200, self._company_json(company)

    def _detach(
        self, contact_id: str, company_id: str, *, query: Any, body: Any
    ) -> tuple[int, Any]:
        if contact_id not in self.state.contacts:
            return 404, error_list("not_found", "User Not Found")
        attached = self.state.attached.get(contact_id, [])
        company = self.state.companies.get(company_id)
        if company is None or company_id not in attached:
            return 404, error_list("company_not_found", "Company Not Found")
        attached.remove(company_id)
        return 200, self._company_json(company)

    # data attributes

    def _list_attributes(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        model = (query.get("model") or [None])[0]
        data = [a for (m, _), a in self.state.attributes.items() if model in (None, m)]
        return 200, {"type": "list", "data": data}

    def _create_attribute(self, *, query: Any, body: Any) -> tuple[int, Any]:
        if (
            not isinstance(body, dict)
            or not body.get("name")
            or body.get("model")
            not in (
                "contact",
                "company",
            )
        ):
            return 400, error_list("parameter_invalid", "name and model are required")
        if body.get("data_type") not in (
            "string",
            "integer",
            "float",
            "boolean",
            "date",
            "datetime",
        ):
            return 400, error_list("parameter_invalid", "Data Type isn't an allowed value")
        key = (body["model"], body["name"])
        if key in self.state.attributes:
            return 400, error_list(
                "parameter_invalid", "You already have 'x' in your company data."
            )
        attribute = {
            "type": "data_attribute",
            "id": self.state.next_id,
            "model": body["model"],
            "name": body["name"],
            "full_name": f"custom_attributes.{body['name']}",
            "label": body["name"],
            "description": body.get("description", ""),
            "data_type": body["data_type"],
            "api_writable": True,
            "ui_writable": True,
            "messenger_writable": False,
            "custom": True,
            "archived": False,
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
            "admin_id": "991267464",
        }
        self.state.next_id += 1
        self.state.attributes[key] = attribute
        return 200, attribute

    # tags

    def _create_tag(self, *, query: Any, body: Any) -> tuple[int, Any]:
        name = body.get("name") if isinstance(body, dict) else None
        if not name:
            return 400, error_list("parameter_invalid", "name is required")
        for tag in self.state.tags.values():
            if tag["name"] == name:
                return 200, tag
        tag = {"type": "tag", "id": str(100 + len(self.state.tags)), "name": name}
        self.state.tags[tag["id"]] = tag
        return 200, tag

    def _tag(self, contact_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        if contact_id not in self.state.contacts:
            return 404, error_list("not_found", "User Not Found")
        tag = self.state.tags.get(body.get("id") if isinstance(body, dict) else "")
        if tag is None:
            return 404, error_list("tag_not_found", "Tag not found")
        self.state.tagged.setdefault(contact_id, set()).add(tag["id"])
        return 200, tag

    def _untag(self, contact_id: str, tag_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        if contact_id not in self.state.contacts:
            return 404, error_list("not_found", "User Not Found")
        tag = self.state.tags.get(tag_id)
        if tag is None:
            return 404, error_list("tag_not_found", "Tag not found")
        self.state.tagged.get(contact_id, set()).discard(tag_id)
        return 200, tag
