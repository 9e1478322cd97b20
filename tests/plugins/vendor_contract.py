"""Every request a vendor fake receives is checked against the vendor's contract.

HubSpot and Intercom publish OpenAPI descriptions (``../shared/vendor-specs/``);
their fakes hand each request to :func:`check`, which validates it with
openapi-core (an independent OpenAPI request validator: path, method,
parameters, headers, JSON body against the operation's schema, ``nullable``
and ``additionalProperties`` included). Salesforce publishes no description;
its fake checks request shapes against :data:`SALESFORCE_RULES`, a small JSON
schema per documented REST shape, each citing its Developer Guide page.

A request that violates the contract is answered 400 by the fake (as the real
API would refuse it) and recorded in :data:`REFUSED`; the autouse fixture in
``tests/plugins/conftest.py`` fails the test that sent it, and the session
summary prints how many requests each validator saw and refused.
"""

from __future__ import annotations

import json
import os
import re
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from jsonschema import Draft202012Validator

VENDOR_SPECS = Path(
    os.environ.get("HUB_VENDOR_SPECS")
    or Path(__file__).resolve().parents[3] / "shared" / "vendor-specs"
)

#: Requests checked, per vendor, over the whole session.
SEEN: Counter[str] = Counter()
#: Every refused request: (vendor, "METHOD path", why).
REFUSED: list[tuple[str, str, str]] = []
_lock = threading.Lock()


@dataclass(frozen=True)
class Violation:
    """Why a request does not match the vendor's published contract."""

    vendor: str
    request: str
    reason: str

    def __str__(self) -> str:
        return f"{self.request} violates {self.vendor}'s published contract: {self.reason}"


def _declare_path_parameters(spec: dict[str, Any]) -> None:
    """Declare the path parameters an operation's template names but the published
    description forgot (Intercom 2.14: two ``/…/reporting_data/{job_identifier}``
    operations), so matching any path does not trip over them."""
    for template, operations in spec.get("paths", {}).items():
        names = re.findall(r"\{(\w+)\}", template)
        shared = operations.get("parameters", [])
        for method, operation in operations.items():
            if method == "parameters" or not isinstance(operation, dict):
                continue
            declared = operation.setdefault("parameters", [])
            if any("$ref" in entry for entry in declared + shared):
                continue
            known = {entry.get("name") for entry in declared + shared if entry.get("in") == "path"}
            declared.extend(
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in names
                if name not in known
            )


def _follow_own_examples(node: Any) -> None:
    """Where a schema types map values as strings but its own example holds numbers
    and booleans (Intercom 2.14's company ``custom_attributes``: ``additionalProperties:
    {type: string}``, example ``{paid_subscriber: true, monthly_spend: 155.5}``), accept
    what the example shows, and still never ``null`` (the schema is not nullable)."""
    if isinstance(node, list):
        for entry in node:
            _follow_own_examples(entry)
        return
    if not isinstance(node, dict):
        return
    example = node.get("example")
    if (
        node.get("additionalProperties") == {"type": "string"}
        and isinstance(example, dict)
        and any(isinstance(value, bool | int | float) for value in example.values())
    ):
        node["additionalProperties"] = {
            "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]
        }
    for value in node.values():
        _follow_own_examples(value)


@cache
def _openapi(spec_file: Path) -> Any:
    import yaml
    from openapi_core import OpenAPI

    text = spec_file.read_text(encoding="utf-8")
    spec = json.loads(text) if spec_file.suffix == ".json" else yaml.safe_load(text)
    _declare_path_parameters(spec)
    _follow_own_examples(spec)
    return OpenAPI.from_dict(spec)


def _explain(error: Exception) -> str:
    cause = error.__cause__ or error
    details = [
        f"{'/'.join(map(str, getattr(item, 'path', []))) or 'body'}: {item.message}"
        for item in getattr(cause, "schema_errors", None) or []
    ]
    return "; ".join(details)[:600] if details else str(cause)[:600]


def _openapi_problem(
    specs: list[Path], server: str, method: str, target: str, headers: Mapping[str, str], raw: bytes
) -> str | None:
    from openapi_core.contrib.requests import RequestsOpenAPIRequest
    from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound

    parts = urlsplit(target)
    url = server + parts.path + (f"?{parts.query}" if parts.query else "")
    wanted = {k: v for k, v in headers.items() if k.lower() not in {"host", "content-length"}}
    prepared = requests.Request(method, url, headers=wanted, data=raw or None)
    for spec_file in specs:
        with warnings.catch_warnings():
            # openapi-core cannot check OAuth schemes; the fakes check the token themselves.
            warnings.simplefilter("ignore", UserWarning)
            try:
                _openapi(spec_file).validate_request(RequestsOpenAPIRequest(prepared))
            except (PathNotFound, OperationNotFound):
                continue
            except Exception as error:
                return f"{type(error).__name__}: {_explain(error)}"
        return None
    return "no operation of the published API has this method and path"


def check(
    vendor: str,
    method: str,
    target: str,
    headers: Mapping[str, str],
    raw: bytes,
    *,
    record: bool = True,
) -> Violation | None:
    """Check one request received by ``vendor``'s fake; a violation is recorded
    (unless ``record`` is false: the validator's own tests)."""
    if vendor == "salesforce":
        problem = _salesforce_problem(method, urlsplit(target).path, raw)
    else:
        specs, server = _PUBLISHED[vendor]()
        if not specs or not all(path.is_file() for path in specs):
            # Say so, rather than refuse every request as outside the contract.
            problem = (
                f"{vendor}'s published API description is not under {VENDOR_SPECS}: put"
                " ../shared beside the checkout, or set HUB_VENDOR_SPECS to its vendor-specs"
            )
        else:
            problem = _openapi_problem(specs, server, method, target, headers, raw)
    request = f"{method} {urlsplit(target).path}"
    with _lock:
        SEEN[vendor] += record
        if problem is not None and record:
            REFUSED.append((vendor, request, problem))
    return Violation(vendor, request, problem) if problem is not None else None


def _hubspot() -> tuple[list[Path], str]:
    return sorted((VENDOR_SPECS / "hubspot").glob("*.json")), "https://api.hubapi.com"


def _intercom() -> tuple[list[Path], str]:
    return [VENDOR_SPECS / "intercom" / "api.intercom.io.2.14.yaml"], "https://api.intercom.io"


_PUBLISHED: dict[str, Callable[[], tuple[list[Path], str]]] = {
    "hubspot": _hubspot,
    "intercom": _intercom,
}

# -- Salesforce: the documented REST shapes ------------------------------------------

_GUIDE = "https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/"
_BULK = "https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/"
_RECORD = {
    "type": "object",
    "required": ["attributes"],
    "properties": {
        "attributes": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"type": "string", "minLength": 1}},
        }
    },
}


@dataclass(frozen=True)
class Rule:
    """One documented request shape: method, path pattern, body schema, its page."""

    method: str
    path: re.Pattern[str]
    schema: dict[str, Any] | None
    page: str


def _collection(record: dict[str, Any]) -> dict[str, Any]:
    """An sObject Collections body: ``allOrNone`` and 1 to 200 ``records``."""
    return {
        "type": "object",
        "required": ["records"],
        "additionalProperties": False,
        "properties": {
            "allOrNone": {"type": "boolean"},
            "records": {"type": "array", "minItems": 1, "maxItems": 200, "items": record},
        },
    }


_COLLECTIONS = r"/services/data/v\d+\.\d/composite/sobjects"

SALESFORCE_RULES: tuple[Rule, ...] = (
    Rule(
        "PATCH",
        re.compile(_COLLECTIONS + r"/\w+/\w+"),
        _collection(_RECORD),
        _GUIDE + "resources_composite_sobjects_collections_upsert.htm",
    ),
    Rule(
        "POST",
        re.compile(_COLLECTIONS),
        _collection({**_RECORD, "not": {"required": ["Id"]}}),
        _GUIDE + "resources_composite_sobjects_collections_create.htm",
    ),
    Rule(
        "PATCH",
        re.compile(_COLLECTIONS),
        _collection({**_RECORD, "required": ["attributes", "Id"]}),
        _GUIDE + "resources_composite_sobjects_collections_update.htm",
    ),
    Rule(
        "DELETE",
        re.compile(r"/services/data/v\d+\.\d/composite/sobjects"),
        None,
        _GUIDE + "resources_composite_sobjects_collections_delete.htm",
    ),
    Rule(
        "GET",
        re.compile(r"/services/data/v\d+\.\d/(query|queryAll)/?"),
        None,
        _GUIDE + "resources_query.htm",
    ),
    Rule(
        "GET",
        re.compile(r"/services/data/v\d+\.\d/(sobjects/\w+/describe/?|limits/?|sobjects/?)"),
        None,
        _GUIDE + "resources_sobject_describe.htm",
    ),
    Rule(
        "POST",
        re.compile(r"/services/data/v\d+\.\d/jobs/ingest/?"),
        {
            "type": "object",
            "required": ["object", "operation"],
            "additionalProperties": False,
            "properties": {
                "object": {"type": "string", "minLength": 1},
                "operation": {"enum": ["insert", "delete", "hardDelete", "update", "upsert"]},
                "externalIdFieldName": {"type": "string"},
                "contentType": {"const": "CSV"},
                "columnDelimiter": {
                    "enum": ["BACKQUOTE", "CARET", "COMMA", "PIPE", "SEMICOLON", "TAB"]
                },
                "lineEnding": {"enum": ["LF", "CRLF"]},
                "assignmentRuleId": {"type": "string"},
            },
            "if": {"properties": {"operation": {"const": "upsert"}}},
            "then": {"required": ["externalIdFieldName"]},
        },
        _BULK + "create_job.htm",
    ),
    Rule(
        "PUT",
        re.compile(r"/services/data/v\d+\.\d/jobs/ingest/\w+/batches/?"),
        None,
        _BULK + "upload_job_data.htm",
    ),
    Rule(
        "PATCH",
        re.compile(r"/services/data/v\d+\.\d/jobs/ingest/\w+/?"),
        {
            "type": "object",
            "required": ["state"],
            "additionalProperties": False,
            "properties": {"state": {"enum": ["UploadComplete", "Aborted"]}},
        },
        _BULK + "close_job.htm",
    ),
    Rule(
        "GET",
        re.compile(
            r"/services/data/v\d+\.\d/jobs/ingest/\w+"
            # The guide writes unprocessedrecords; simple-salesforce asks for unprocessedRecords.
            r"(/(successfulResults|failedResults|(?i:unprocessedrecords)))?/?"
        ),
        None,
        _BULK + "get_job_info.htm (and get_job_unprocessed_results.htm)",
    ),
    Rule(
        "DELETE",
        re.compile(r"/services/data/v\d+\.\d/jobs/ingest/\w+/?"),
        None,
        _BULK + "delete_job.htm",
    ),
    Rule(
        "POST",
        re.compile(r"/services/oauth2/token"),
        None,
        "https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm",
    ),
)


def _salesforce_problem(method: str, path: str, raw: bytes) -> str | None:
    candidates = [rule for rule in SALESFORCE_RULES if rule.path.fullmatch(path)]
    if not candidates:
        return "no documented REST resource has this path"
    rules = [rule for rule in candidates if rule.method == method]
    if not rules:
        return f"{method} is not a documented method of this resource ({candidates[0].page})"
    problems = []
    for rule in rules:
        if rule.schema is None:
            return None
        try:
            document = json.loads(raw) if raw else None
        except ValueError as error:
            return f"the body is not JSON ({error}; {rule.page})"
        errors = sorted(
            Draft202012Validator(rule.schema).iter_errors(document), key=lambda e: list(e.path)
        )
        if not errors:
            return None
        first = errors[0]
        where = "/".join(map(str, first.path)) or "body"
        message = first.message
        if len(message) > 200:
            message = f"fails {first.validator} {json.dumps(first.validator_value)[:150]}"
        problems.append(f"{where}: {message} ({rule.page})")
    return "; ".join(problems)


def summary() -> list[str]:
    """One line per vendor: requests checked and refused over the session."""
    refused = Counter(vendor for vendor, _, _ in REFUSED)
    return [
        f"{vendor}: {SEEN[vendor]} request(s) checked against the published contract,"
        f" {refused[vendor]} refused"
        for vendor in sorted(SEEN)
    ]
