"""Every recorded request and response body follows HubSpot's published OpenAPI
descriptions (``../shared/vendor-specs/hubspot/*.json``).

Each interaction's operation is found by method and path template across the
spec files; its JSON request body is validated against the operation's
``requestBody`` schema and its response body against the schema of its status
code (or ``default``), ``$ref``\\ s resolved within the spec document.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from hubspot_helpers import CASSETTES
from jsonschema import Draft202012Validator

# The vendors' published specs sit in shared/ beside the repository (as in CI);
# HUB_VENDOR_SPECS points elsewhere.
VENDOR_SPECS = Path(
    os.environ.get("HUB_VENDOR_SPECS")
    or Path(__file__).resolve().parents[4] / "shared" / "vendor-specs"
)
SPECS = VENDOR_SPECS / "hubspot"


@cache
def _operations() -> list[tuple[str, re.Pattern[str], dict[str, Any], dict[str, Any]]]:
    found = []
    for spec_file in sorted(SPECS.glob("*.json")):
        spec = json.loads(spec_file.read_text())
        for template, operations in spec["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            for method, operation in operations.items():
                if isinstance(operation, dict) and "responses" in operation:
                    found.append((method.upper(), pattern, operation, spec))
    # A literal segment beats a parameter: /objects/contacts/... before /objects/{objectType}/...
    found.sort(key=lambda entry: entry[1].pattern.count("[^/]+"))
    return found


def _operation(method: str, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for candidate, pattern, operation, spec in _operations():
        if candidate == method and pattern.match(path):
            return operation, spec
    raise AssertionError(f"{method} {path} is no operation of HubSpot's published API")


def _schema(content: dict[str, Any] | None) -> dict[str, Any] | None:
    if not content:
        return None
    for media in content.values():
        if "schema" in media:
            return dict(media["schema"])
    return None


def _validate(document: Any, schema: dict[str, Any], spec: dict[str, Any], what: str) -> None:
    # The whole spec is the root document, so "#/components/..." refs resolve.
    validator = Draft202012Validator({**schema, "components": spec["components"]})
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, f"{what}: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]
    )


def _interactions() -> list[tuple[str, int, dict[str, Any]]]:
    found = []
    for cassette in sorted(CASSETTES.glob("*.yaml")):
        recorded = yaml.safe_load(cassette.read_text())
        for number, interaction in enumerate(recorded["interactions"]):
            found.append((cassette.name, number, interaction))
    return found


INTERACTIONS = _interactions()


def test_there_is_something_to_validate() -> None:
    assert len(INTERACTIONS) > 20


@pytest.mark.parametrize(
    "interaction", [i[2] for i in INTERACTIONS], ids=[f"{i[0]}#{i[1]}" for i in INTERACTIONS]
)
def test_recorded_bodies_follow_the_published_schemas(interaction: dict[str, Any]) -> None:
    request, response = interaction["request"], interaction["response"]
    url = urlsplit(request["uri"])
    assert f"{url.scheme}://{url.netloc}" == "https://api.hubapi.com"
    operation, spec = _operation(request["method"], url.path)
    what = f"{request['method']} {url.path}"
    if request.get("body"):
        schema = _schema(operation.get("requestBody", {}).get("content"))
        assert schema is not None, f"{what}: the operation takes no body"
        _validate(json.loads(request["body"]), schema, spec, f"{what} request")
    status = str(response["status"]["code"])
    answer = operation["responses"].get(status) or operation["responses"]["default"]
    if "$ref" in answer:
        answer = spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
    body = response["body"]["string"]
    schema = _schema(answer.get("content"))
    if schema is None:
        assert not body, f"{what}: HTTP {status} has no body in the spec"
        return
    _validate(json.loads(body), schema, spec, f"{what} response {status}")


def test_the_validation_catches_a_body_off_the_schema() -> None:
    operation, spec = _operation("POST", "/crm/v3/objects/contacts/batch/upsert")
    schema = _schema(operation["requestBody"]["content"])
    assert schema is not None
    _validate({"inputs": [{"id": "a@b.io", "properties": {"x": "1"}}]}, schema, spec, "ok")
    with pytest.raises(AssertionError, match="properties"):
        # HubSpot property values are strings; and "id" is required.
        _validate({"inputs": [{"properties": {"x": 1}}]}, schema, spec, "off")
