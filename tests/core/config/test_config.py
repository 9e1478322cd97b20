"""Loading hub.toml (env overrides, secret files, refused secrets), mappings, and the locator."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from hub.config import is_secret_key, load_mapping, load_settings
from hub.config.locations import (
    Position,
    TomlLocator,
    decode_error_problem,
    format_key,
    parse_key,
)
from hub.config.mapping import PrimaryAccountPolicy
from hub.contract import env_var_name
from hub.errors import ConfigError

HUB_TOML = """\
[sources.users]
kind = "csv"
table = "users"
path = "data/users.csv"

[destinations.local]
type = "outbox"
mapping = "mappings/local.toml"
settings = { directory = "out" }
"""


def write(tmp_path: Path, text: str, name: str = "hub.toml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUB_SECRETS_DIR", raising=False)


# -- settings ------------------------------------------------------------------


def test_load_settings_reads_the_toml(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, HUB_TOML))
    assert settings.sources["users"].path == Path("data/users.csv")
    assert settings.destinations["local"].mapping == Path("mappings/local.toml")
    assert settings.destinations["local"].settings == {"directory": "out"}


def test_environment_overrides_the_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DESTINATIONS__LOCAL__MAPPING", "mappings/other.toml")
    monkeypatch.setenv("HUB_DESTINATIONS__LOCAL__ENABLED", "false")
    settings = load_settings(write(tmp_path, HUB_TOML))
    local = settings.destinations["local"]
    assert local.mapping == Path("mappings/other.toml")
    assert local.enabled is False
    assert local.type == "outbox"  # the rest still comes from the TOML


def test_secret_from_environment_is_merged_into_plugin_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_DESTINATIONS__LOCAL__SETTINGS__TOKEN", "from-env")
    settings = load_settings(write(tmp_path, HUB_TOML))
    assert settings.destinations["local"].settings == {"directory": "out", "token": "from-env"}


def test_secret_files_via_argument_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "HUB_DESTINATIONS__LOCAL__SETTINGS__TOKEN").write_text("from-file\n")
    config = write(tmp_path, HUB_TOML)
    by_argument = load_settings(config, secrets_dir=secrets)
    assert by_argument.destinations["local"].settings["token"] == "from-file"
    monkeypatch.setenv("HUB_SECRETS_DIR", str(secrets))
    assert load_settings(config).destinations["local"].settings["token"] == "from-file"
    # The environment beats the secret file.
    monkeypatch.setenv("HUB_DESTINATIONS__LOCAL__SETTINGS__TOKEN", "from-env")
    assert load_settings(config).destinations["local"].settings["token"] == "from-env"


def test_missing_secrets_directory_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, HUB_TOML), secrets_dir=tmp_path / "nope")
    assert "secrets directory" in info.value.problems[0].message


def test_secrets_in_the_toml_are_refused_with_their_variable_names(tmp_path: Path) -> None:
    text = HUB_TOML.replace(
        'settings = { directory = "out" }',
        'settings = { directory = "out", api_key = "abc" }\n'
        "\n[destinations.hubspot]\n"
        'type = "hubspot"\n'
        'mapping = "m.toml"\n'
        "[destinations.hubspot.settings]\n"
        'private_app_token = "pat-123"\n'
        'client_secret = "xyz"\n'
        "\n[sources.db]\n"
        'kind = "sql"\n'
        'url = "postgresql://hub:hunter2@db.example.com/app"\n'
        'queries = { users = "select 1" }\n'
        "\n[sources.ok]\n"
        'kind = "sql"\n'
        'url = "postgresql://hub@db.example.com/app"\n'
        'queries = { users = "select 1" }\n',
    )
    config = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    problems = info.value.problems
    by_key = {p.key: p for p in problems}
    assert set(by_key) == {
        "destinations.local.settings.api_key",
        "destinations.hubspot.settings.private_app_token",
        "destinations.hubspot.settings.client_secret",
        "sources.db.url",
    }
    api_key = by_key["destinations.local.settings.api_key"]
    assert (api_key.file, api_key.line, api_key.column) == (str(config), 9, 33)
    assert api_key.hint is not None
    assert "HUB_DESTINATIONS__LOCAL__SETTINGS__API_KEY" in api_key.hint
    token = by_key["destinations.hubspot.settings.private_app_token"]
    assert token.line == 15
    assert "HUB_DESTINATIONS__HUBSPOT__SETTINGS__PRIVATE_APP_TOKEN" in str(token)
    url = by_key["sources.db.url"]
    assert url.line == 20
    assert "password" in url.message
    assert "HUB_SOURCES__DB__URL" in str(url)
    # The secret values themselves are never repeated in the report.
    for secret in ("abc", "pat-123", "xyz", "hunter2"):
        assert secret not in str(info.value)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("token", True),
        ("api_key", True),
        ("Client_Secret", True),
        ("webhook_secret", True),
        ("db_password", True),
        ("signing_key", True),
        ("directory", False),
        ("tokens_per_minute", False),
        ("mapping", False),
    ],
)
def test_secret_key_names(name: str, secret: bool) -> None:
    assert is_secret_key(name) is secret


def test_env_var_name() -> None:
    assert env_var_name(("destinations", "local", "mapping")) == "HUB_DESTINATIONS__LOCAL__MAPPING"


def test_invalid_value_from_environment_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_DESTINATIONS__LOCAL__ENABLED", "maybe")
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, HUB_TOML))
    (problem,) = info.value.problems
    assert problem.key == "destinations.local.enabled"
    assert problem.hint is not None
    assert "HUB_DESTINATIONS__LOCAL__ENABLED" in problem.hint


def test_unknown_key_in_settings_is_located(tmp_path: Path) -> None:
    config = write(tmp_path, HUB_TOML.replace('type = "outbox"', 'type = "outbox"\nmaping = "x"'))
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    keys = {p.key: p for p in info.value.problems}
    assert keys["destinations.local.maping"].line == 8
    assert keys["destinations.local.maping"].hint == "did you mean 'mapping'?"
    # the required 'mapping' is still there, so no "missing" problem for it
    assert len(info.value.problems) == 1


def test_bad_toml_reports_line_and_column(tmp_path: Path) -> None:
    config = write(tmp_path, '[sources.users]\nkind = "csv\n')
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    (problem,) = info.value.problems
    assert (problem.line, problem.column) == (2, 12)
    assert problem.message.startswith("not valid TOML")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "hub.toml")
    assert info.value.problems[0].message == "file not found"


# -- mappings ------------------------------------------------------------------


def test_load_mapping(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'destination = "local"\n[primary_account]\npolicy = "explicit"\n',
        "mappings/local.toml",
    )
    mapping = load_mapping(path)
    assert mapping.destination == "local"
    assert mapping.primary_account.policy is PrimaryAccountPolicy.EXPLICIT


def test_load_mapping_refuses_a_bad_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, '[links]\nenabled = "yes please"\n', "m.toml")
    with pytest.raises(ConfigError) as info:
        load_mapping(path)
    assert {p.key for p in info.value.problems} == {"destination", "links.enabled"}
    assert next(p for p in info.value.problems if p.key == "links.enabled").line == 2


# -- the locator ---------------------------------------------------------------

TRICKY = """\
# [not.a.header] = 1
title = "x # not a comment"   # trailing [comment]
[accounts]   # comment [x]
fields = { name = "account.name", "dotted.key" = 'account.domain', n = { deep = 1 } }
user_lists = [
  { field = "a", separator = ";" },  # first
  # a comment between items
  { field = "b", seperator = "," },
]
[[accounts.rollups]]
field = "n"
[[accounts.rollups]]
field = "m"
where = \"\"\"
[fake.header]
relationship.role == 'Owner'\"\"\"
[ "quoted.table" . inner ]
a.b.c = 1
'lit key' = "v\\"q"
[[x]]
[[x.y]]
z = 1
[[x.y]]
z = 2
[[x]]
[[x.y]]
z = 3
"""


def test_tricky_toml_is_valid_toml() -> None:
    data = tomllib.loads(TRICKY)
    assert data["x"][1]["y"][0]["z"] == 3


@pytest.mark.parametrize(
    ("key", "line", "column"),
    [
        ("title", 2, 1),
        ("accounts", 3, 1),
        ("accounts.fields.name", 4, 12),
        ('accounts.fields."dotted.key"', 4, 35),
        ("accounts.fields.n.deep", 4, 74),
        ("accounts.user_lists[0]", 6, 3),
        ("accounts.user_lists[1].seperator", 8, 18),
        ("accounts.rollups[0].field", 11, 1),
        ("accounts.rollups[1]", 12, 1),
        ("accounts.rollups[1].where", 14, 1),
        ('"quoted.table".inner', 17, 1),
        ('"quoted.table".inner.a.b.c', 18, 1),
        ('"quoted.table".inner."lit key"', 19, 1),
        ("x[0].y[1].z", 24, 1),
        ("x[1].y[0].z", 27, 1),
    ],
)
def test_locator_finds_keys(key: str, line: int, column: int) -> None:
    assert TomlLocator(TRICKY).key_position(parse_key(key)) == Position(line, column)


def test_locator_falls_back_to_the_enclosing_key() -> None:
    locator = TomlLocator(TRICKY)
    assert locator.key_position(parse_key("accounts.rollups[1].nope")) is None
    assert locator.locate(parse_key("accounts.rollups[1].nope")) == Position(12, 1)
    assert locator.locate(parse_key("accounts.user_lists[1].max_length")) == Position(8, 3)
    assert locator.locate(parse_key("nothing.here")) is None


def test_locator_positions_inside_string_values() -> None:
    locator = TomlLocator(TRICKY)
    assert locator.value_position(parse_key("accounts.fields.name")) == Position(4, 19)
    # offset 0 of a multi-line string is after the trimmed first newline
    where = parse_key("accounts.rollups[1].where")
    assert locator.string_position(where, 0) == Position(15, 1)
    assert locator.string_position(where, 14) == Position(16, 1)
    # escapes count as one decoded character
    lit = parse_key('"quoted.table".inner."lit key"')
    assert locator.string_position(lit, 1) == Position(19, 15)
    assert locator.string_position(lit, 2) == Position(19, 17)


def test_locator_survives_broken_toml() -> None:
    locator = TomlLocator('a = 1\nb = [1, 2\nc = "')
    assert locator.key_position(("a",)) == Position(1, 1)


def test_key_round_trip() -> None:
    for key in ("accounts.user_lists[1].separator", 'a."b.c"[0].d', "destinations.local.mapping"):
        assert format_key(parse_key(key)) == key


def test_decode_error_problem() -> None:
    text = "a = 1\nb = = 2\n"
    with pytest.raises(tomllib.TOMLDecodeError) as info:
        tomllib.loads(text)
    problem = decode_error_problem(info.value, "hub.toml", text)
    assert (problem.file, problem.line, problem.column) == ("hub.toml", 2, 5)
    assert "(at line" not in problem.message
