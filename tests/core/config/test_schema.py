"""The JSON Schemas accept real configurations and refuse misspelled keys."""

from __future__ import annotations

import json
import tomllib
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hub.config.schema import DRAFT, hub_schema, mapping_schema, write_schemas

REPO = Path(__file__).resolve().parents[3]

HUB_TOML = """\
[sources.users]
kind = "csv"
table = "users"
path = "data/users.csv"

[sources.warehouse]
kind = "sql"
queries = { accounts = "select * from accounts" }

[events]
[[events.rollups]]
property = "projects_created"
level = "relationship"
event = "Project Created"
window_days = 30

[destinations.local]
type = "outbox"
mapping = "mappings/local.toml"
settings = { directory = "out" }
"""

MAPPING_TOML = """\
destination = "local"

[stages]
order = ["visitor", "MAL", "MQL", "CUS", "PRO"]

[primary_account]
policy = "highest_stage"

[accounts.fields]
name = "account.name"

[[accounts.user_lists]]
field = "admins"
where = "relationship.role in ['Owner', 'Admin']"
separator = ";"
max_length = 255

[[accounts.rollups]]
field = "active_users"
kind = "active_users"
window_days = 30

[users.fields]
email = "user.email"

[[users.relationship_fields]]
field = "accounts"
kind = "summary"

[membership_contacts]
enabled = true
separator = ":"

[links.properties]
role = "relationship.role"
"""


def as_json(value: Any) -> Any:
    """TOML dates and times as the strings JSON would hold."""
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_json(item) for item in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_written_schemas_are_draft_2020_12_with_titles_and_descriptions(tmp_path: Path) -> None:
    paths = write_schemas(tmp_path / "schemas")
    assert [p.name for p in paths] == ["hub.config.schema.json", "mapping.schema.json"]
    for path in paths:
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert schema["$schema"] == DRAFT
        assert schema["title"].startswith("connector-hub")
        validator(schema)
    mapping = json.loads(paths[1].read_text(encoding="utf-8"))
    separator = mapping["$defs"]["UserListField"]["properties"]["separator"]
    assert "contains" in separator["description"]  # from the field's docstring
    hub = json.loads(paths[0].read_text(encoding="utf-8"))
    assert hub["$defs"]["DestinationSettings"]["properties"]["mapping"]["description"]


def test_schemas_accept_sample_configurations() -> None:
    validator(hub_schema()).validate(as_json(tomllib.loads(HUB_TOML)))
    validator(mapping_schema()).validate(as_json(tomllib.loads(MAPPING_TOML)))


@pytest.mark.parametrize(
    ("text", "schema_name", "bad"),
    [
        (MAPPING_TOML.replace('separator = ";"', 'seperator = ";"'), "mapping", "seperator"),
        (MAPPING_TOML.replace('"highest_stage"', '"hightest_stage"'), "mapping", "hightest_stage"),
        (MAPPING_TOML.replace("max_length = 255", 'max_length = "long"'), "mapping", "long"),
        (HUB_TOML.replace("mapping = ", "maping = "), "hub", "maping"),
        (HUB_TOML.replace('kind = "csv"', 'kind = "xls"'), "hub", "xls"),
    ],
)
def test_schemas_reject_mistakes(text: str, schema_name: str, bad: str) -> None:
    schema = hub_schema() if schema_name == "hub" else mapping_schema()
    errors = list(validator(schema).iter_errors(as_json(tomllib.loads(text))))
    assert errors
    assert any(bad in error.message for error in errors), [e.message for e in errors]


def _example_files() -> list[Path]:
    found = [
        path
        for path in REPO.rglob("*.toml")
        if not {".venv", "tests", "node_modules", ".git"} & set(path.relative_to(REPO).parts)
        and path.name != "pyproject.toml"
        and not path.name.startswith(".")
    ]
    return sorted(found)


def test_repository_example_configurations_match_the_schemas() -> None:
    files = _example_files()
    if not files:
        pytest.skip("no example configurations in the repository yet")
    hub_validator = validator(hub_schema())
    mapping_validator = validator(mapping_schema())
    for path in files:
        data = as_json(tomllib.loads(path.read_text(encoding="utf-8")))
        if "destination" in data:
            mapping_validator.validate(data)
        elif {"sources", "destinations", "events"} & set(data):
            hub_validator.validate(data)
