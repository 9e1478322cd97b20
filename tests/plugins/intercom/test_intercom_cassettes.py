"""Replays ``cassettes/intercom/`` with the network blocked, and validates every
recorded request and response body against Intercom's OpenAPI description (2.14)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from intercom_scenarios import CASSETTES, PUBLIC_BASE_URL, SCENARIOS, builder, make_vcr
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serializers import yamlserializer

# The vendors' published specs sit in shared/ beside the repository (as in CI);
# HUB_VENDOR_SPECS points elsewhere.
VENDOR_SPECS = Path(
    os.environ.get("HUB_VENDOR_SPECS")
    or Path(__file__).resolve().parents[4] / "shared" / "vendor-specs"
)
SPEC = VENDOR_SPECS / "intercom" / "api.intercom.io.2.14.yaml"
SPEC_URI = "urn:intercom:2.14"
REPLAY_TOKEN = "replay-token"

A = "6762f0000000000000000001"
B = "6762f0000000000000000002"
C = "6762f0000000000000000003"
D = "6762f0000000000000000004"
E = "6762f0000000000000000005"

EXPECTED: dict[str, dict[str, Any]] = {
    "companies": {
        "first": [("acc_twitter", "ok", D), ("acc_tesla", "ok", E)],
        "again": [("acc_twitter", "ok", D)],
    },
    "contacts": {
        "first": [("u_elon", "ok", D), ("u_maya", "ok", E)],
        "again": [("u_maya", "ok", E)],
    },
    # The 409'd create resolved to the same contact: never a duplicate.
    "contact_conflict": {"first": [("u_elon", "ok", A)], "second": [("u_elon", "ok", A)]},
    "memberships": {
        "linked": [
            ("u_elon\tacc_twitter", "ok", f"{C}/{A}"),
            ("u_elon\tacc_tesla", "ok", f"{C}/{B}"),
        ],
        "unlinked": [("u_elon\tacc_tesla", "ok", f"{C}/{B}")],
        "again": [("u_elon\tacc_tesla", "ok", f"{C}/{B}")],
    },
    "tags": {"tagged": [(A, "ok", A)], "untagged": [(A, "ok", A)]},
    "errors": {
        "flaky": [("acc_a", "retryable", None), ("acc_b", "permanent", None)],
        "fatal": "HUB_DESTINATIONS__INTERCOM__SETTINGS__ACCESS_TOKEN",
    },
}


@pytest.mark.block_network
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_replay(name: str, tmp_path: Path) -> None:
    with make_vcr("none").use_cassette(f"{name}.yaml") as cassette:
        outcome = SCENARIOS[name](builder(PUBLIC_BASE_URL, tmp_path, REPLAY_TOKEN))
        assert cassette.all_played, f"{name}: the plugin skipped recorded requests"
    normalised = {
        key: [tuple(r) for r in value] if isinstance(value, list) else value
        for key, value in outcome.items()
    }
    assert normalised == EXPECTED[name]


def test_every_scenario_has_a_cassette_and_no_secret() -> None:
    names = {path.stem for path in CASSETTES.glob("*.yaml")}
    assert names == set(SCENARIOS)
    for path in CASSETTES.glob("*.yaml"):
        text = path.read_text().lower()
        assert "authorization" not in text and "bearer" not in text and "token-0123" not in text
        assert "127.0.0.1" not in text


# -- the OpenAPI description ----------------------------------------------------


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema (``null`` allowed)."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _nullable(value) for key, value in node.items()}
    if converted.pop("nullable", False) is True:
        if isinstance(converted.get("type"), str):
            converted["type"] = [converted["type"], "null"]
            if "enum" in converted:
                converted["enum"] = [*converted["enum"], None]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


#: Known errors of the published description, each checked below to still be one:
#: the company's ``custom_attributes`` (request and response) declare string
#: values only, while their own examples (and the API) hold numbers and booleans.
_ANY_SCALAR = {"type": ["string", "number", "boolean", "null"]}
ERRATA = {
    ("components", "schemas", schema, "properties", "custom_attributes", "additionalProperties"): (
        _ANY_SCALAR
    )
    for schema in ("create_or_update_company_request", "company")
}


@cache
def spec() -> dict[str, Any]:
    document = yaml.load(SPEC.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    converted: dict[str, Any] = _nullable(document)
    for path, replacement in ERRATA.items():
        node: Any = converted
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = replacement
    return converted


@cache
def registry() -> Registry:
    return Registry().with_resource(SPEC_URI, Resource.from_contents(spec(), DRAFT4))


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def validator(*parts: str) -> Draft4Validator:
    return Draft4Validator({"$ref": f"{SPEC_URI}#/{_pointer(*parts)}"}, registry=registry())


def operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The path template and operation of ``method path`` (literal segments win)."""
    candidates = []
    for template, operations in spec()["paths"].items():
        pattern = re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path) and method.lower() in operations:
            candidates.append((template.count("{"), template))
    assert candidates, f"{method} {path}: no operation in the 2.14 description"
    template = min(candidates)[1]
    return template, spec()["paths"][template][method.lower()]


def interactions() -> Iterator[tuple[str, int, Any, Any]]:
    for path in sorted(CASSETTES.glob("*.yaml")):
        requests, responses = FilesystemPersister.load_cassette(path, yamlserializer)
        for number, (request, response) in enumerate(zip(requests, responses, strict=True)):
            yield path.name, number, request, response


@pytest.mark.parametrize(
    ("cassette", "number", "request_", "response"),
    list(interactions()),
    ids=lambda value: str(value) if isinstance(value, str | int) else "",
)
def test_recorded_bodies_follow_the_2_14_description(
    cassette: str, number: int, request_: Any, response: Any
) -> None:
    import json
    from urllib.parse import urlsplit

    url = urlsplit(request_.uri)
    assert f"{url.scheme}://{url.netloc}" == PUBLIC_BASE_URL
    template, spec_operation = operation(request_.method, url.path)
    where = ("paths", template, request_.method.lower())
    headers = {name.lower(): value for name, value in request_.headers.items()}
    assert headers.get("intercom-version") in ("2.14", ["2.14"])
    if request_.body:
        assert "requestBody" in spec_operation, f"{template}: a body the API takes none of"
        body = json.loads(request_.body)
        errors = list(
            validator(*where, "requestBody", "content", "application/json", "schema").iter_errors(
                body
            )
        )
        assert not errors, f"{cassette}#{number} request: {[e.message for e in errors][:3]}"
    status = str(response["status"]["code"])
    text = response["body"]["string"]
    if not text:
        return
    answer = json.loads(text)
    responses = spec_operation["responses"]
    if status in responses:
        parts = (*where, "responses", status, "content", "application/json", "schema")
    else:
        # Statuses the description leaves out (409, 429, 5xx, some 404s) carry
        # Intercom's documented error object.
        assert int(status) >= 400, f"{template}: undocumented success status {status}"
        parts = ("components", "schemas", "error")
    errors = list(validator(*parts).iter_errors(answer))
    assert not errors, f"{cassette}#{number} {status} response: {[e.message for e in errors][:3]}"


def test_the_errata_are_still_errors_of_the_description() -> None:
    document = yaml.load(SPEC.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for path in ERRATA:
        node = document
        for part in path[:-1]:
            node = node[part]
        declared = node[path[-1]]
        assert declared == {"type": "string"}, f"{path}: fixed upstream, drop the erratum"
        # The description's own example breaks its schema.
        assert list(Draft4Validator(declared).iter_errors(node["example"]["monthly_spend"]))


def test_the_validator_catches_what_breaks_the_description() -> None:
    _, attach = operation("POST", "/contacts/abc/companies")
    assert "requestBody" in attach
    schema = (
        "paths",
        "/contacts/{contact_id}/companies",
        "post",
        "requestBody",
        "content",
        "application/json",
        "schema",
    )
    assert list(validator(*schema).iter_errors({}))  # ``id`` is required
    assert not list(validator(*schema).iter_errors({"id": "6762f0"}))
    assert list(validator("components", "schemas", "error").iter_errors({"type": "error.list"}))
    # A literal segment wins over a template: search is not "contact {contact_id}".
    assert operation("POST", "/contacts/search")[0] == "/contacts/search"
