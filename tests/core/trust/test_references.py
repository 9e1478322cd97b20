"""References checked against the data: an attribute no source holds is a
mistake (it would sync null into every record), refused by ``hub validate``
and by ``hub sync`` before anything is sent."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from conftest import CRM_TOML, HUB_TOML, Project

TYPOS = """
destination = "crm"

[accounts.fields]
name = "account.nmae"

[[accounts.user_lists]]
field = "owners"
value = "user.email"
where = "relationship.rol == 'Owner'"

[users.fields]
email = "user.email"

[[users.relationship_fields]]
field = "summary"
template = "{account.name} ({relationship.roel})"

[links.properties]
role = "relationship.role"
"""


def test_validate_refuses_attributes_no_source_has_with_locations_and_suggestions(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(crm=TYPOS)
    result = project.hub("validate")
    assert result.exit_code == 2, result.output
    text = result.stderr.replace(f"{project.root}/", "")
    lines = [line for line in text.splitlines() if line.startswith("crm.toml")]
    assert len(lines) == 3
    name, where, template = lines
    assert name.startswith("crm.toml:5:9: accounts.fields.name: no source has account.nmae")
    assert "did you mean 'name'?" in name
    assert where.startswith("crm.toml:10:10: accounts.user_lists[0].where:")
    assert "relationship.rol" in where and "did you mean 'role'?" in where
    assert template.startswith("crm.toml:17:30: users.relationship_fields[0].template:")
    assert "did you mean 'role'?" in template
    # The real columns are listed as what was expected.
    assert "expected an attribute of accounts: account_id, domain, name, stage" in name


def test_sync_and_plan_refuse_the_same_before_anything_is_sent(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(crm=TYPOS)
    for command in ("sync", "plan"):
        result = project.hub(command)
        assert result.exit_code == 2, result.output
        assert "no source has account.nmae" in result.stderr
    assert not (project.root / "outbox").exists()
    assert not (project.root / ".hub").exists()  # no run was even recorded


def test_offline_keeps_the_config_only_check(make_project: Callable[..., Project]) -> None:
    project = make_project(crm=TYPOS)
    result = project.hub("validate", "--offline")
    assert result.exit_code == 0, result.output


def test_a_column_that_exists_but_is_empty_is_a_null_not_an_error(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(crm=CRM_TOML.replace('"user.name"', '"user.nickname"'))
    project.write("users.csv", "user_id,email,nickname\nu1,u1@x.io,\nu2,u2@x.io,\n")
    project.write("memberships.csv", "user_id,account_id,role\nu1,a1,Owner\n")
    assert project.hub("validate").exit_code == 0
    project.json("sync", code=0)
    payloads = {line["key"]: line["payload"] for line in project.sent("contact")}
    assert payloads["u1"]["name"] is None


def test_json_lines_keys_and_sql_result_columns_count_as_attributes(
    make_project: Callable[..., Project],
) -> None:
    hub_toml = HUB_TOML.replace(
        '[sources.accounts]\nkind = "csv"\ntable = "accounts"\npath = "accounts.csv"',
        '[sources.accounts]\nkind = "sql"\nurl = "sqlite:///accounts.db"\n'
        'queries.accounts = "SELECT id AS account_id, title AS name, tier FROM orgs"',
    ).replace(
        '[sources.users]\nkind = "csv"\ntable = "users"\npath = "users.csv"',
        '[sources.users]\nkind = "jsonl"\ntable = "users"\npath = "users.jsonl"',
    )
    mapping = CRM_TOML.replace(
        'name = "account.name"', 'name = "account.name"\ntier = "account.tier"'
    )
    mapping = mapping.replace('name = "user.name"', 'name = "user.name"\nplan = "user.traits_plan"')
    project = make_project(crm=mapping, hub_toml=hub_toml)
    database = sqlite3.connect(project.root / "accounts.db")
    database.executescript(
        "CREATE TABLE orgs (id TEXT, title TEXT, tier TEXT);"
        "INSERT INTO orgs VALUES ('a1', 'Acme', NULL), ('a2', 'Beta', 'gold');"
    )
    database.commit()
    database.close()
    # "name" only on the second row, "traits_plan" only nested: both are keys the rows carry.
    project.write(
        "users.jsonl",
        '{"user_id": "u1", "email": "u1@x.io"}\n'
        '{"user_id": "u2", "name": "Bo", "traits": {"traits_plan": "pro"}}\n',
    )
    project.write("memberships.csv", "user_id,account_id,role\nu1,a1,Owner\nu2,a2,User\n")
    result = project.hub("validate")
    assert result.exit_code == 0, result.output
    project.write("crm.toml", mapping.replace('"account.tier"', '"account.tire"'))
    result = project.hub("validate")
    assert result.exit_code == 2
    assert "no source has account.tire" in result.stderr
    assert "did you mean 'tier'?" in result.stderr


def test_validate_is_the_preflight_and_hides_no_problem_behind_another(
    make_project: Callable[..., Project],
) -> None:
    hub_toml = (
        HUB_TOML.replace('path = "accounts.csv"', 'path = "acounts.csv"')
        .replace("max_delete_share = 0.5", "max_delete_shar = 0.5")
        .replace(
            "[destinations.crm.settings]",
            '[state]\nurl = "redis://cache/0"\n\n[destinations.crm.settings]',
        )
    )
    project = make_project(crm=TYPOS, hub_toml=hub_toml)
    result = project.hub("validate")
    assert result.exit_code == 2
    text = result.stderr.replace(f"{project.root}/", "")
    assert "hub.toml:10:8: sources.accounts.path: file not found: acounts.csv" in text
    assert "state.url: the 'redis' scheme is not supported" in text
    assert "unknown key 'max_delete_shar'" in text and "did you mean 'max_delete_share'?" in text
    # The mapping is still checked against what the readable sources hold.
    assert "no source has relationship.rol" in text


TWO_ROLLUPS = """
[events]
as_of = 2026-11-01T00:00:00Z

[[events.rollups]]
property = "seen"
level = "user"

[[events.rollups]]
property = "seen"
level = "user"
kind = "last_seen"

[[events.rollups]]
property = "seen"
level = "account"
"""


def test_two_event_rollups_filling_one_property_are_refused_before_anything_is_sent(
    make_project: Callable[..., Project],
) -> None:
    # A count and a time in one property crashed the sync; two counts added up
    # silently. The second rollup is refused, at its line; another level is fine.
    project = make_project(hub_toml=HUB_TOML + TWO_ROLLUPS)
    for command in ("validate", "sync"):
        result = project.hub(command)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        text = result.stderr.replace(f"{project.root}/", "")
        lines = [line for line in text.splitlines() if "events.rollups" in line]
        assert len(lines) == 1, text
        assert lines[0].startswith("hub.toml:34:12: events.rollups[1].property:"), lines[0]
        assert "user.seen is already written by events.rollups[0]" in lines[0]
        assert 'property = "seen_last_seen"' in text
    assert not (project.root / "outbox").exists()
    project.write(
        "hub.toml",
        HUB_TOML.replace("{mode}", "upsert")
        + TWO_ROLLUPS.replace(
            'property = "seen"\nlevel = "user"\nkind', 'property = "last"\nlevel = "user"\nkind'
        ),
    )
    assert project.hub("validate").exit_code == 0
