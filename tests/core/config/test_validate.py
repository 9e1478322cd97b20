"""validate_project: every problem at once, located, with hints; capability checks."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.conditions import ConditionSyntaxError
from hub.config.validate import (
    DestinationTypeInfo,
    TemplateSyntaxError,
    format_problems,
    load_project,
    template_references,
    validate_project,
)
from hub.contract.capabilities import (
    Capabilities,
    FieldCapability,
    FieldType,
    LinkCapability,
    ObjectCapability,
    ObjectKind,
)
from hub.errors import ConfigError, Problem

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class FakeType:
    name: str
    capabilities: Capabilities


def contact(*, unique_by_email: bool = False) -> ObjectCapability:
    return ObjectCapability(name="contacts", unique_by_email=unique_by_email)


def account(max_length: int | None = None) -> ObjectCapability:
    return ObjectCapability(
        name="companies",
        field_types={
            FieldType.STRING: FieldCapability(type=FieldType.STRING, max_length=max_length)
        },
    )


TYPES: dict[str, DestinationTypeInfo] = {
    "outbox": FakeType(
        "outbox",
        Capabilities(
            objects={ObjectKind.CONTACT: contact(), ObjectKind.ACCOUNT: account()},
            links=LinkCapability(carries_properties=True),
        ),
    ),
    "crm": FakeType(
        "crm",
        Capabilities(
            objects={
                ObjectKind.CONTACT: contact(unique_by_email=True),
                ObjectKind.ACCOUNT: account(max_length=100),
            },
            links=LinkCapability(carries_properties=False),
        ),
    ),
    "mailer": FakeType("mailer", Capabilities(objects={ObjectKind.CONTACT: contact()})),
}


def project(tmp_path: Path, hub_toml: str, **mappings: str) -> Path:
    config = tmp_path / "hub.toml"
    config.write_text(hub_toml, encoding="utf-8")
    for name, text in mappings.items():
        path = tmp_path / "mappings" / f"{name}.toml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return config


def destination(name: str, type_: str = "outbox") -> str:
    return f'[destinations.{name}]\ntype = "{type_}"\nmapping = "mappings/{name}.toml"\n'


def only(problems: list[Problem], key: str) -> Problem:
    matching = [p for p in problems if p.key == key]
    assert len(matching) == 1, format_problems(problems)
    return matching[0]


# -- the planted mapping -------------------------------------------------------


def test_five_planted_mistakes_are_all_reported_with_lines_and_hints(tmp_path: Path) -> None:
    shutil.copytree(DATA / "planted", tmp_path / "planted")
    problems = validate_project(tmp_path / "planted" / "hub.toml", TYPES)
    mapping_file = str(tmp_path / "planted" / "mappings" / "crm.toml")
    assert [(p.file, p.line, p.key) for p in problems] == [
        (mapping_file, 4, "primary_account.policy"),
        (mapping_file, 11, "accounts.user_lists[0].where"),
        (mapping_file, 12, "accounts.user_lists[0].seperator"),
        (mapping_file, 17, "accounts.user_lists[1].max_length"),
        (mapping_file, 20, "users.fields.email"),
    ], format_problems(problems)
    policy, where, separator, max_length, email = problems
    assert policy.hint == "did you mean 'highest_stage'?"
    assert policy.column == 10
    assert where.message.startswith("invalid condition")
    assert where.column == 48  # the end of the string: the list is never closed
    assert where.expected is not None and "']'" in where.expected
    assert separator.hint == "did you mean 'separator'?"
    assert max_length.expected == "an integer"
    assert "'long'" in max_length.message
    assert email.hint == "did you mean 'user.email'?"
    assert email.column == 10


def test_format_problems() -> None:
    problems = [
        Problem(
            "unknown key 'x'", file="m.toml", line=3, column=1, key="a.x", hint="did you mean 'y'?"
        )
    ]
    two = [*problems, Problem("file not found", file="hub.toml")]
    assert format_problems(two) == (
        "m.toml:3:1: a.x: unknown key 'x'; did you mean 'y'?\nhub.toml: file not found"
    )


# -- a valid project -----------------------------------------------------------

GOOD_MAPPING = """\
destination = "local"

[primary_account]
policy = "explicit"

[stages]
order = ["trial", "paying"]   # a stage referenced nowhere is fine
churn = "gone"

[accounts.fields]
name = "account.name"

[[accounts.user_lists]]
field = "admins"
where = "relationship.role in ['Owner', 'Admin'] and not exists(relationship.left_at)"
order_by = "user.email"

[users.fields]
email = "user.email"
company = "primary_account.name"
stage = "rollup.stage"

[[users.relationship_fields]]
field = "accounts"
template = "{account.name} ({relationship.role}) {{literal}}"

[links.properties]
role = "relationship.role"
projects = "relationship.projects"
"""


def test_a_valid_project_loads(tmp_path: Path) -> None:
    config = project(
        tmp_path,
        destination("local") + '\n[destinations.off]\ntype = "outbox"\n'
        'mapping = "mappings/off.toml"\nenabled = false\n',
        local=GOOD_MAPPING,
        off=GOOD_MAPPING.replace('"local"', '"off"'),
    )
    assert validate_project(config, TYPES) == []
    loaded = load_project(config, TYPES)
    assert loaded.base_dir == tmp_path
    assert set(loaded.mappings) == {"local"}
    assert loaded.mappings["local"].links.properties["projects"] == "relationship.projects"
    assert loaded.resolve(Path("data/x.csv")) == tmp_path / "data" / "x.csv"


def test_load_project_raises_every_problem(tmp_path: Path) -> None:
    config = project(
        tmp_path,
        destination("local") + '[sources.a]\nkind = "csv"\n',
        local='destination = "local"\n[links]\nwhere = "user.x =="\n',
    )
    with pytest.raises(ConfigError) as info:
        load_project(config)
    assert {p.key for p in info.value.problems} == {
        "sources.a.path",
        "sources.a.table",
        "links.where",
    }


# -- hub.toml level ------------------------------------------------------------


def test_hub_toml_problems_and_mapping_problems_together(tmp_path: Path) -> None:
    config = project(
        tmp_path,
        '[sources.db]\nkind = "sql"\n\n'
        '[sources.events]\nkind = "segment"\npath = "events.jsonl"\n\n'
        + destination("local", "outbx")
        + destination("missing")
        + '[destinations.other]\ntype = "mailer"\nmaping = "x.toml"\n',
        local='destination = "locl"\n',
    )
    problems = validate_project(config, TYPES)
    text = format_problems(problems)
    assert only(problems, "sources.db.url").line == 1
    assert "HUB_SOURCES__DB__URL" in (only(problems, "sources.db.url").hint or "")
    only(problems, "sources.db.queries")
    kind = only(problems, "destinations.local.type")
    assert kind.hint == "did you mean 'outbox'?"
    assert (kind.line, kind.column) == (9, 8)
    missing = only(problems, "destinations.missing.mapping")
    assert missing.message == "mapping file 'mappings/missing.toml' not found"
    assert missing.line == 13
    misspelt = [p for p in problems if p.key == "destinations.other.maping"]
    assert "did you mean 'mapping'?" in [p.hint for p in misspelt]
    # The misspelt key's file is still checked: a typo hides nothing behind it.
    assert "mapping file 'x.toml' not found" in [p.message for p in misspelt]
    assert only(problems, "destinations.other.mapping").message == "missing required key 'mapping'"
    name = only(problems, "destination")
    assert name.hint == "did you mean 'local'?"
    assert name.file == str(tmp_path / "mappings" / "local.toml")
    assert "sources.events" not in text  # a segment source with a path is complete


def test_source_value_from_environment_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_SOURCES__DB__URL", "postgresql://u:p@h/db")
    config = project(tmp_path, '[sources.db]\nkind = "sql"\nqueries = { users = "select 1" }\n')
    assert validate_project(config) == []


def test_secrets_are_refused_by_validate(tmp_path: Path) -> None:
    config = project(
        tmp_path,
        destination("local") + 'settings.token = "abc"\n',
        local='destination = "local"\n',
    )
    problem = only(validate_project(config), "destinations.local.settings.token")
    assert "HUB_DESTINATIONS__LOCAL__SETTINGS__TOKEN" in str(problem)


def test_bad_toml_in_a_mapping(tmp_path: Path) -> None:
    config = project(tmp_path, destination("local"), local='destination = "local"\n[users\n')
    (problem,) = validate_project(config)
    assert problem.line == 2
    assert problem.message.startswith("not valid TOML")


# -- references, conditions, templates -----------------------------------------


def test_namespaces_not_allowed_where_they_are_used(tmp_path: Path) -> None:
    mapping = """\
destination = "local"
[accounts.fields]
owner = "primary_account.name"
[[accounts.user_lists]]
field = "x"
where = "user.email != null and rollup.stage == 'PRO'"
value = "account.name"
[[users.relationship_fields]]
field = "summary"
template = "{account.name} is {primary_relationship.role} {acount.stage}"
[[users.relationship_fields]]
field = "broken"
template = "{account.name"
[users.fields]
n = "rollup.accounts"
x = "justtext"
"""
    config = project(tmp_path, destination("local"), local=mapping)
    problems = validate_project(config)
    owner = only(problems, "accounts.fields.owner")
    assert "not available at accounts.fields" in owner.message
    assert owner.expected == "a namespace among: account"
    where = only(problems, "accounts.user_lists[0].where")
    assert "'rollup'" in where.message
    assert where.column == 9 + 1 + 23  # the value's column, its quote, the offset of rollup
    only(problems, "accounts.user_lists[0].value")
    template_problems = [p for p in problems if p.key == "users.relationship_fields[0].template"]
    assert len(template_problems) == 2
    assert template_problems[0].column == 12 + 1 + 19  # primary_relationship
    assert template_problems[1].hint == "did you mean 'account.stage'?"
    broken = only(problems, "users.relationship_fields[1].template")
    assert "unclosed" in broken.message
    assert only(problems, "users.fields.n").hint == "did you mean 'rollup.account_count'?"
    assert "not a reference" in only(problems, "users.fields.x").message
    assert len(problems) == 8, format_problems(problems)


def test_template_references() -> None:
    assert template_references("{account.name} ({ relationship.role }) {{x}}") == [
        (1, "account.name"),
        (18, "relationship.role"),
    ]
    with pytest.raises(TemplateSyntaxError) as info:
        template_references("a } b")
    assert info.value.position == 2
    assert isinstance(info.value, ConditionSyntaxError)


# -- capabilities --------------------------------------------------------------


def test_capability_refusals(tmp_path: Path) -> None:
    crm_mapping = """\
destination = "crm"
[membership_contacts]
enabled = true
fields = { email = "user.email", work_email = "user.email", name = "user.name" }
[[accounts.user_lists]]
field = "emails"
max_length = 500
[links.properties]
role = "relationship.role"
projects = "relationship.projects"
"""
    mailer_mapping = """\
destination = "mailer"
[accounts.fields]
name = "account.name"
[links.properties]
joined = "relationship.joined_at"
"""
    config = project(
        tmp_path,
        destination("crm", "crm") + destination("mailer", "mailer"),
        crm=crm_mapping,
        mailer=mailer_mapping,
    )
    problems = validate_project(config, TYPES)
    messages = {p.key: p.message for p in problems}
    assert messages["membership_contacts.fields.email"].startswith(
        "capability contact.unique_by_email:"
    )
    assert messages["membership_contacts.fields.work_email"].startswith(
        "capability contact.unique_by_email:"
    )
    assert "membership_contacts.fields.name" not in messages
    assert messages["accounts.user_lists[0].max_length"].startswith(
        "capability account.field_types.string.max_length:"
    )
    assert only(problems, "accounts.user_lists[0].max_length").line == 7
    assert messages["links.properties.projects"].startswith("capability links.carries_properties:")
    assert messages["accounts.enabled"].startswith("capability objects.account:")
    assert messages["links.properties.joined"].startswith("capability links:")
    assert len(problems) == 6, format_problems(problems)


def test_contacts_needed_for_users(tmp_path: Path) -> None:
    types: dict[str, DestinationTypeInfo] = {
        "ledger": FakeType("ledger", Capabilities(objects={ObjectKind.ACCOUNT: account()}))
    }
    config = project(
        tmp_path,
        destination("books", "ledger"),
        books='destination = "books"\n[membership_contacts]\nenabled = true\n',
    )
    problems = validate_project(config, types)
    assert {p.key for p in problems} == {"users.enabled", "membership_contacts.enabled"}
    assert all("capability objects.contact" in p.message for p in problems)
    disabled = project(
        tmp_path,
        destination("books", "ledger"),
        books='destination = "books"\n[users]\nenabled = false\n',
    )
    assert validate_project(disabled, types) == []


def test_no_e_mail_no_refusal(tmp_path: Path) -> None:
    config = project(
        tmp_path,
        destination("crm", "crm"),
        crm='destination = "crm"\n[membership_contacts]\nenabled = true\n'
        'fields = { name = "user.name", role = "relationship.role" }\n',
    )
    assert validate_project(config, TYPES) == []
