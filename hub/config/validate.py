"""Checking a whole project at once: ``hub.toml`` and every mapping it names.

:func:`validate_project` never stops at the first mistake: it returns every
problem it finds, each with its file, line, column, the key to change, what
was expected there and, for a misspelled name, a did-you-mean. ``hub
validate`` prints them with :func:`format_problems`; :func:`load_project` is
the same check for commands that go on to run.

What is checked:

- TOML syntax; unknown keys, wrong types and unknown enum values (pydantic's
  errors, located in the file); secrets written in ``hub.toml``.
- Each source has what its kind needs (a path, a table, a url, queries).
- Each destination's type is known (when the plugin registry is given) and its
  mapping file exists; the mapping's ``destination`` names that destination.
- Every reference, condition and template in a mapping: syntax, namespaces
  known and allowed at that place (:data:`hub.references.ALLOWED`).
- The destination's capabilities (when the registry is given): object kinds,
  e-mail uniqueness of contacts, link properties, string field lengths.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Sequence
from collections.abc import Mapping as AbcMapping
from collections.abc import Set as AbcSet
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from hub.conditions import ConditionSyntaxError, iter_refs, parse_condition
from hub.config import (
    Project,
    TomlDocument,
    did_you_mean,
    mapping_from_document,
    read_toml,
    settings_from_document,
)
from hub.config.locations import KeyPath
from hub.config.mapping import Mapping
from hub.config.settings import EventRollupLevel, EventSettings, HubSettings, SourceKind, Table
from hub.contract import env_var_name
from hub.contract.capabilities import Capabilities, FieldType, IdentityKey, ObjectKind
from hub.errors import ConfigError, Problem
from hub.references import ALLOWED, NAMESPACES, ROLLUP_ATTRIBUTES

__all__ = [
    "CheckedProject",
    "DestinationTypeInfo",
    "Project",
    "ProjectCheck",
    "TemplateSyntaxError",
    "check_project",
    "format_problems",
    "load_project",
    "template_references",
    "validate_project",
]


class ProjectCheck(Protocol):
    """A check of a layer above validation (playbooks), handed in by the caller:
    called with ``known = None`` for the files alone, and again with the
    attributes the loaded data holds (``validate_project(offline=False)``)."""

    def __call__(
        self,
        settings: HubSettings,
        base_dir: Path,
        destination_types: AbcMapping[str, DestinationTypeInfo] | None,
        known: KnownAttributes | None,
        /,
    ) -> list[Problem]: ...


class DestinationTypeInfo(Protocol):
    """What validation needs to know about a destination type (a registered plugin)."""

    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...


# -- templates -----------------------------------------------------------------


class TemplateSyntaxError(ConditionSyntaxError):
    """A template with an unclosed ``{`` or an empty placeholder."""


def template_references(template: str) -> list[tuple[int, str]]:
    """The ``{namespace.attribute}`` placeholders of ``template``: (offset of the
    reference text, reference text). ``{{`` and ``}}`` stand for literal braces."""
    found: list[tuple[int, str]] = []
    i = 0
    n = len(template)
    while i < n:
        char = template[i]
        if template.startswith("{{", i) or template.startswith("}}", i):
            i += 2
        elif char == "{":
            end = template.find("}", i + 1)
            if end < 0:
                raise TemplateSyntaxError("unclosed '{'", i, "'}' after the reference")
            content = template[i + 1 : end]
            if not content.strip() or "{" in content:
                raise TemplateSyntaxError("empty or nested placeholder", i, "{namespace.attribute}")
            found.append((i + 1 + len(content) - len(content.lstrip()), content.strip()))
            i = end + 1
        elif char == "}":
            raise TemplateSyntaxError("unmatched '}'", i, "'}}' for a literal brace")
        else:
            i += 1
    return found


# -- expressions in a mapping --------------------------------------------------

#: Where a mapping holds references, conditions and templates. ``refs`` is a
#: table whose values are references; the location is also the key of ALLOWED.
_EXPRESSIONS: tuple[tuple[str, str], ...] = (
    ("accounts.fields", "refs"),
    ("accounts.user_lists.value", "ref"),
    ("accounts.user_lists.order_by", "ref"),
    ("accounts.user_lists.where", "condition"),
    ("accounts.rollups.where", "condition"),
    ("users.fields", "refs"),
    ("users.relationship_fields.template", "template"),
    ("users.relationship_fields.where", "condition"),
    ("users.relationship_fields.order_by", "ref"),
    ("membership_contacts.fields", "refs"),
    ("membership_contacts.where", "condition"),
    ("links.properties", "refs"),
    ("links.where", "condition"),
)


def _values_at(data: Any, parts: list[str], path: KeyPath) -> Iterator[tuple[KeyPath, Any]]:
    """Values at a dotted location, fanning out over arrays (with their indices)."""
    if isinstance(data, list):
        for index, item in enumerate(data):
            yield from _values_at(item, parts, (*path, index))
        return
    if not parts:
        yield path, data
        return
    if isinstance(data, dict) and parts[0] in data:
        yield from _values_at(data[parts[0]], parts[1:], (*path, parts[0]))


def _reference_problem(
    document: TomlDocument,
    path: KeyPath,
    text: str,
    location: str,
    offset: int | None,
    context: str = "reference",
) -> Problem | None:
    allowed = ALLOWED[location]
    namespace, dot, attribute = text.strip().partition(".")

    def problem(message: str, expected: str, hint: str | None = None) -> Problem:
        # A whole-value reference points just inside its opening quote.
        at = 0 if offset is None else offset
        return document.problem(path, message, expected=expected, hint=hint, offset=at)

    if not dot or not namespace or not attribute or not _is_reference_text(text.strip()):
        return problem(
            f"{text!r} is not a {context}",
            "namespace.attribute, e.g. " + ", ".join(f"{ns}.…" for ns in allowed),
        )
    if namespace not in NAMESPACES:
        suggestion = did_you_mean(namespace, list(allowed)) or did_you_mean(
            namespace, list(NAMESPACES)
        )
        hint = None
        if suggestion:
            guess = suggestion.split("'")[1]
            hint = f"did you mean {guess + '.' + attribute!r}?"
        return problem(
            f"unknown namespace {namespace!r} in {text.strip()!r}",
            "a namespace among: " + ", ".join(allowed),
            hint,
        )
    if namespace not in allowed:
        return problem(
            f"namespace {namespace!r} is not available at {location}",
            "a namespace among: " + ", ".join(allowed),
        )
    if namespace == "rollup" and attribute not in ROLLUP_ATTRIBUTES:
        return problem(
            f"rollup has no attribute {attribute!r}",
            "one of: " + ", ".join(f"rollup.{a}" for a in ROLLUP_ATTRIBUTES),
            did_you_mean(f"rollup.{attribute}", [f"rollup.{a}" for a in ROLLUP_ATTRIBUTES]),
        )
    return None


#: The namespaces whose attributes come from the sources, and the table each reads.
_SOURCE_NAMESPACES: dict[str, Table] = {
    "user": Table.USERS,
    "account": Table.ACCOUNTS,
    "relationship": Table.MEMBERSHIPS,
    "primary_account": Table.ACCOUNTS,
    "primary_relationship": Table.MEMBERSHIPS,
}
#: Built-in attributes of each table, present whatever the sources hold.
_BUILT_IN: dict[Table, tuple[str, ...]] = {
    Table.USERS: ("user_id", "email"),
    Table.ACCOUNTS: ("account_id", "name", "domain", "stage"),
    Table.MEMBERSHIPS: ("user_id", "account_id", "role"),
}
_ROLLUP_TABLES: dict[EventRollupLevel, Table] = {
    EventRollupLevel.USER: Table.USERS,
    EventRollupLevel.ACCOUNT: Table.ACCOUNTS,
    EventRollupLevel.RELATIONSHIP: Table.MEMBERSHIPS,
}

#: Attribute names per namespace (``user``, ``account``, ...), as the data holds them.
KnownAttributes = AbcMapping[str, AbcSet[str]]


def known_attributes(
    columns: AbcMapping[Table, AbcSet[str]],
    events: EventSettings,
    complete: AbcSet[Table] | None = None,
) -> dict[str, set[str]]:
    """What each namespace can read: the built-in attributes, the sources'
    columns (:attr:`hub.sources.loading.LoadResult.columns`) and the ``[events]``
    rollups. ``complete``: the tables whose every source could be read (the
    others are left out: their attributes are unknown, not missing)."""
    per_table: dict[Table, set[str]] = {}
    for table, built_in in _BUILT_IN.items():
        if complete is not None and table not in complete:
            continue
        per_table[table] = {*built_in, *columns.get(table, ())}
    for rollup in events.rollups:
        table = _ROLLUP_TABLES[rollup.level]
        if table in per_table:
            per_table[table].add(rollup.property)
    return {
        namespace: per_table[table]
        for namespace, table in _SOURCE_NAMESPACES.items()
        if table in per_table
    }


def _attribute_problem(
    document: TomlDocument,
    path: KeyPath,
    text: str,
    offset: int | None,
    known: KnownAttributes,
) -> Problem | None:
    """A reference to an attribute that no source holds (it would read null for
    every record, and blank the destination's field)."""
    namespace, _, attribute = text.strip().partition(".")
    names = known.get(namespace)
    if names is None or attribute in names:
        return None
    table = _SOURCE_NAMESPACES[namespace]
    return document.problem(
        path,
        f"no source has {namespace}.{attribute}: the {table} sources hold no"
        f" {attribute!r} column or key, so every record would get null",
        expected=f"an attribute of {table}: " + ", ".join(sorted(names)),
        hint=did_you_mean(attribute, sorted(names))
        or f"add the column to the {table} source, or fix the reference",
        offset=0 if offset is None else offset,
    )


def _is_reference_text(text: str) -> bool:
    return all(part and all(c.isalnum() or c == "_" for c in part) for part in text.split("."))


def _expression_problems(
    document: TomlDocument, known: KnownAttributes | None = None, *, syntax: bool = True
) -> list[Problem]:
    """Every reference, condition and template of a mapping document: their
    syntax and namespaces (``syntax``), and with ``known`` whether the data
    holds each attribute they read."""
    problems: list[Problem] = []
    for location, kind in _EXPRESSIONS:
        for path, value in _values_at(document.data, location.split("."), ()):
            if kind == "refs":
                if isinstance(value, dict):
                    for name, item in value.items():
                        if isinstance(item, str):
                            problems.extend(
                                _checked(
                                    document, (*path, name), item, location, None, known, syntax
                                )
                            )
            elif isinstance(value, str):
                problems.extend(
                    _string_expression_problems(
                        document, path, value, location, kind, known, syntax
                    )
                )
    return problems


def _checked(
    document: TomlDocument,
    path: KeyPath,
    text: str,
    location: str,
    offset: int | None,
    known: KnownAttributes | None,
    syntax: bool,
) -> list[Problem]:
    found = _reference_problem(document, path, text, location, offset)
    if found is not None:
        return [found] if syntax else []
    if known is not None:
        missing = _attribute_problem(document, path, text, offset, known)
        if missing is not None:
            return [missing]
    return []


def _string_expression_problems(
    document: TomlDocument,
    path: KeyPath,
    value: str,
    location: str,
    kind: str,
    known: KnownAttributes | None = None,
    syntax: bool = True,
) -> list[Problem]:
    problems: list[Problem] = []
    if kind == "ref":
        return _checked(document, path, value, location, None, known, syntax)
    try:
        if kind == "condition":
            references = [(ref.position, ref.name) for ref in iter_refs(parse_condition(value))]
        else:
            references = template_references(value)
    except ConditionSyntaxError as error:
        if not syntax:
            return []
        what = "template" if kind == "template" else "condition"
        return [
            document.problem(
                path,
                f"invalid {what}: {error.message}",
                expected=error.expected,
                offset=error.position,
            )
        ]
    for offset, text in references:
        problems.extend(_checked(document, path, text, location, offset, known, syntax))
    return problems


# -- hub.toml ------------------------------------------------------------------

_SOURCE_NEEDS: dict[SourceKind, tuple[str, ...]] = {
    SourceKind.CSV: ("path", "table"),
    SourceKind.JSONL: ("path", "table"),
    SourceKind.PARQUET: ("path", "table"),
    SourceKind.SEGMENT: ("path",),
    SourceKind.SQL: ("url", "queries"),
}
_SOURCE_DESCRIPTIONS = {
    "path": "the file to read (path = ...)",
    "table": "the canonical table it holds: users, accounts, memberships or events",
    "url": "a SQLAlchemy database URL (from the environment when it has a password)",
    "queries": "one query per table, e.g. queries.users = 'select ...'",
}


def _source_problems(document: TomlDocument, sources: Any) -> list[Problem]:
    problems: list[Problem] = []
    if not isinstance(sources, dict):
        return problems
    for name, source in sources.items():
        if not isinstance(source, dict):
            continue
        try:
            kind = SourceKind(str(source.get("kind")))
        except ValueError:
            continue  # reported by the model
        for needed in _SOURCE_NEEDS[kind]:
            if source.get(needed):
                continue
            path: KeyPath = ("sources", name, needed)
            problems.append(
                document.problem(
                    path,
                    f"a {kind.value} source needs {needed!r}",
                    expected=_SOURCE_DESCRIPTIONS[needed],
                    hint=f"add {needed} = ... to [sources.{name}] or set {env_var_name(path)}",
                )
            )
    return problems


#: Daemon settings that are credentials though their names do not say so
#: (a Slack webhook URL carries its token): refused in the TOML.
_DAEMON_SECRETS: tuple[tuple[KeyPath, str], ...] = (
    (("daemon", "alerts", "webhook_url"), "the URL carries a token"),
    (("daemon", "alerts", "slack_webhook_url"), "the URL carries a token"),
    (("console", "token"), "it signs admins in to the console"),
)


def _daemon_problems(document: TomlDocument, settings: HubSettings | None) -> list[Problem]:
    """``[schedules]`` naming unknown destinations, and alert URLs written in the TOML."""
    problems: list[Problem] = []
    for path, why in _DAEMON_SECRETS:
        current: Any = document.data
        for part in path:
            current = current.get(part) if isinstance(current, dict) else None
        if isinstance(current, str):
            variable = env_var_name(path)
            problems.append(
                document.problem(
                    path,
                    f"{path[-1]!r} is a secret ({why}) and must not be"
                    f" written in {Path(document.file).name}",
                    expected="the value from the environment or a secret file",
                    hint=f"remove it here and set the environment variable {variable}",
                )
            )
    if settings is None:
        return problems
    names = list(settings.destinations)
    for schedule_name, schedule in settings.schedules.items():
        for index, destination in enumerate(schedule.destinations or []):
            if destination not in settings.destinations:
                problems.append(
                    document.problem(
                        ("schedules", schedule_name, "destinations", index),
                        f"destination {destination!r} is not configured in"
                        f" {Path(document.file).name}",
                        expected="one of: " + ", ".join(names) if names else None,
                        hint=did_you_mean(destination, names),
                        at_value=True,
                    )
                )
    return problems


def _event_problems(document: TomlDocument, settings: HubSettings | None) -> list[Problem]:
    """Two ``[[events.rollups]]`` writing one property at one level: one would
    silently add to or overwrite the other (and a count beside a time is no
    value at all), so the second is refused."""
    if settings is None:
        return []
    problems: list[Problem] = []
    first: dict[tuple[str, str], int] = {}
    for index, rollup in enumerate(settings.events.rollups):
        key = (rollup.level.value, rollup.property)
        seen = first.setdefault(key, index)
        if seen == index:
            continue
        taken = sorted({r.property for r in settings.events.rollups if r.level is rollup.level})
        problems.append(
            document.problem(
                ("events", "rollups", index, "property"),
                f"{rollup.level.value}.{rollup.property} is already written by"
                f" events.rollups[{seen}]: two rollups cannot fill one property",
                expected=f"a {rollup.level.value} property no other rollup writes"
                f" (taken: {', '.join(taken)})",
                hint=f'rename this one, e.g. property = "{rollup.property}_{rollup.kind}"',
                at_value=True,
            )
        )
    return problems


@dataclass(slots=True)
class _Destination:
    name: str
    type: str | None
    mapping: str | None
    enabled: bool
    #: The mapping was read from a misspelt key (``mappin``): it is checked, and
    #: ``mapping`` is still reported missing.
    guessed: bool = False
    #: The key the mapping was read from (``mapping``, or the misspelt one).
    mapping_key: str = "mapping"


def _destinations(settings: HubSettings | None, data: dict[str, Any]) -> list[_Destination]:
    if settings is not None:
        return [
            _Destination(name, d.type, None if d.mapping is None else str(d.mapping), d.enabled)
            for name, d in settings.destinations.items()
        ]
    found: list[_Destination] = []
    raw = data.get("destinations")
    if isinstance(raw, dict):
        for name, d in raw.items():
            if isinstance(d, dict):
                type_ = d.get("type")
                mapping = d.get("mapping")
                guessed, mapping_key = False, "mapping"
                if mapping is None:
                    # A misspelt key ("mappin") still names the mapping to check:
                    # its problems are reported beside the typo, not hidden by it.
                    for key, value in d.items():
                        if isinstance(value, str) and did_you_mean(key, ["mapping"]):
                            mapping, guessed, mapping_key = value, True, key
                found.append(
                    _Destination(
                        name,
                        type_ if isinstance(type_, str) else None,
                        mapping if isinstance(mapping, str) else None,
                        d.get("enabled", True) is not False,
                        guessed,
                        mapping_key,
                    )
                )
    return found


# -- capabilities --------------------------------------------------------------


def _plugin_settings_problems(
    document: TomlDocument, name: str, settings: HubSettings, info: DestinationTypeInfo
) -> list[Problem]:
    """The destination's mode against its capabilities, and its plugin settings
    against the plugin's model. Values are never echoed: they may be secrets."""
    problems: list[Problem] = []
    configured = settings.destinations[name]
    if configured.mode not in info.capabilities.sync_modes:
        supported = sorted(mode.value for mode in info.capabilities.sync_modes)
        problems.append(
            document.problem(
                ("destinations", name, "mode"),
                f"capability sync_modes: destination type {configured.type!r} does not"
                f" support mode {configured.mode.value!r}",
                expected="one of: " + ", ".join(supported),
                at_value=True,
            )
        )
    model = getattr(info, "settings_model", None)
    if model is None:
        return problems
    try:
        model.model_validate(configured.settings)
    except ValidationError as error:
        for detail in error.errors(include_input=False, include_url=False):
            path: KeyPath = ("destinations", name, "settings", *map(str, detail["loc"]))
            hint = None
            if detail["type"] == "missing":
                variable = env_var_name(path)
                hint = f"set {variable} in the environment (or a secret file of that name)"
            problems.append(document.problem(path, detail["msg"], hint=hint))
    return problems


def _capability_problems(
    document: TomlDocument,
    mapping: Mapping,
    destination: _Destination,
    capabilities: Capabilities,
) -> list[Problem]:
    problems: list[Problem] = []
    who = f"destination {destination.name!r} (type {destination.type!r})"
    contact = capabilities.object(ObjectKind.CONTACT)
    account = capabilities.object(ObjectKind.ACCOUNT)

    def refuse(path: KeyPath, capability: str, message: str, hint: str) -> None:
        problems.append(document.problem(path, f"capability {capability}: {message}", hint=hint))

    if mapping.users.enabled and contact is None:
        refuse(
            ("users", "enabled"),
            "objects.contact",
            f"{who} holds no contacts, so users cannot be synced to it",
            "set users.enabled = false",
        )
    if mapping.membership_contacts.enabled:
        if contact is None:
            refuse(
                ("membership_contacts", "enabled"),
                "objects.contact",
                f"{who} holds no contacts, so memberships cannot become contacts",
                "set membership_contacts.enabled = false",
            )
        elif contact.unique_by_email:
            for name, reference in mapping.membership_contacts.fields.items():
                if reference.strip() == "user.email" or name.lower() == "email":
                    refuse(
                        ("membership_contacts", "fields", name),
                        "contact.unique_by_email",
                        f"{who} de-duplicates contacts by e-mail, so one contact per "
                        "membership would collapse into one contact per user",
                        "give membership contacts no e-mail (remove this field) "
                        "or set membership_contacts.enabled = false",
                    )
    for section_name, section, declared in (
        ("accounts", mapping.accounts, account),
        ("users", mapping.users, contact),
        ("membership_contacts", mapping.membership_contacts, contact),
    ):
        if declared is None or not section.enabled or "match" not in section.model_fields_set:
            continue
        for index, key in enumerate(section.match):
            if key is not IdentityKey.EXTERNAL_ID and key not in declared.identity_keys:
                offered = [
                    k.value for k in declared.identity_keys if k is not IdentityKey.RECORD_ID
                ]
                refuse(
                    (section_name, "match", index),
                    f"{declared.name}.identity_keys",
                    f"{who} cannot match {declared.name} by {key.value!r}",
                    f"use only keys it declares: {offered}",
                )
    if mapping.accounts.enabled and account is None:
        refuse(
            ("accounts", "enabled"),
            "objects.account",
            f"{who} holds no accounts",
            "set accounts.enabled = false",
        )
    if mapping.links.enabled:
        extra = [
            name
            for name, reference in mapping.links.properties.items()
            if reference.strip() != "relationship.role"
        ]
        if extra and capabilities.links is None:
            for name in extra:
                refuse(
                    ("links", "properties", name),
                    "links",
                    f"{who} cannot link contacts to accounts, so links carry no properties",
                    "remove the property or set links.enabled = false",
                )
        elif extra and capabilities.links is not None and not capabilities.links.carries_properties:
            for name in extra:
                refuse(
                    ("links", "properties", name),
                    "links.carries_properties",
                    f"{who} links contacts to accounts but the links hold no properties "
                    "(only the role is kept, in user relationship fields)",
                    "remove the property, or summarise it in users.relationship_fields",
                )
    if account is not None and mapping.accounts.enabled:
        limit = account.max_length(FieldType.STRING)
        for index, user_list in enumerate(mapping.accounts.user_lists):
            if (
                limit is not None
                and user_list.max_length is not None
                and user_list.max_length > limit
            ):
                refuse(
                    ("accounts", "user_lists", index, "max_length"),
                    "account.field_types.string.max_length",
                    f"{who} holds at most {limit} characters in a string field, "
                    f"not {user_list.max_length}",
                    f"set max_length to {limit} or less, or leave it out to use {limit}",
                )
    return problems


# -- the whole project ---------------------------------------------------------


@dataclass(slots=True)
class CheckedProject:
    """What :func:`check_project` found: the settings and mappings that are valid,
    and every problem."""

    settings: HubSettings | None
    mappings: dict[str, Mapping]
    problems: list[Problem]


def check_project(
    config_path: Path,
    destination_types: AbcMapping[str, DestinationTypeInfo] | None,
    secrets_dir: Path | None,
    known: KnownAttributes | None = None,
    checks: Sequence[ProjectCheck] = (),
) -> CheckedProject:
    """Check everything once; what :func:`validate_project` and :func:`load_project` share.

    ``known``: the attributes the data holds (:func:`known_attributes`); every
    reference to another one is a problem too."""
    document, problems = read_toml(config_path)
    if document is None:
        return CheckedProject(None, {}, problems)
    settings, problems = settings_from_document(document, secrets_dir)
    problems.extend(_source_problems(document, _sources_data(settings, document)))
    problems.extend(_daemon_problems(document, settings))
    problems.extend(_event_problems(document, settings))
    base_dir = config_path.parent
    destinations = _destinations(settings, document.data)
    names = [d.name for d in destinations]
    mappings: dict[str, Mapping] = {}
    parsed: dict[Path, tuple[TomlDocument | None, Mapping | None]] = {}

    for destination in destinations:
        info = None
        if destination_types is not None and destination.type is not None:
            info = destination_types.get(destination.type)
            if info is None:
                types = sorted(destination_types)
                problems.append(
                    document.problem(
                        ("destinations", destination.name, "type"),
                        f"unknown destination type {destination.type!r}",
                        expected="one of: " + ", ".join(types),
                        hint=did_you_mean(destination.type, types)
                        or "is its plugin installed? (pip install ...)",
                        at_value=True,
                    )
                )
        if info is not None and settings is not None and destination.enabled:
            problems.extend(_plugin_settings_problems(document, destination.name, settings, info))
        if destination.guessed:
            problems.append(
                document.problem(
                    ("destinations", destination.name, "mapping"),
                    "missing required key 'mapping'",
                )
            )
        if destination.mapping is None:
            # Only an action-only type (no objects to sync) may go without a mapping.
            if info is None or info.capabilities.objects:
                problems.append(
                    document.problem(
                        ("destinations", destination.name, "mapping"),
                        "missing required key 'mapping'",
                    )
                )
            continue
        mapping_path = Path(destination.mapping)
        if not mapping_path.is_absolute():
            mapping_path = base_dir / mapping_path
        if mapping_path not in parsed:
            if not mapping_path.is_file():
                problems.append(
                    document.problem(
                        ("destinations", destination.name, destination.mapping_key),
                        f"mapping file {destination.mapping!r} not found",
                        expected="a mapping file, relative to the directory of hub.toml",
                        hint=f"looked for {mapping_path}",
                        at_value=True,
                    )
                )
                parsed[mapping_path] = (None, None)
                continue
            mapping_document, mapping_problems = read_toml(mapping_path)
            mapping = None
            if mapping_document is not None:
                mapping, model_problems = mapping_from_document(mapping_document)
                mapping_problems += model_problems
                mapping_problems += _expression_problems(mapping_document, known)
            problems.extend(mapping_problems)
            parsed[mapping_path] = (mapping_document, mapping)
        mapping_document, mapping = parsed[mapping_path]
        if mapping_document is None:
            continue
        problems.extend(_destination_name_problems(mapping_document, destination.name, names))
        if mapping is None:
            continue
        if info is not None and destination.enabled:
            problems.extend(
                _capability_problems(mapping_document, mapping, destination, info.capabilities)
            )
        if destination.enabled:
            mappings[destination.name] = mapping
    if settings is not None:
        for check in checks:
            problems.extend(check(settings, base_dir, destination_types, None))
    return CheckedProject(settings, mappings, _in_file_order(problems))


def _sources_data(settings: HubSettings | None, document: TomlDocument) -> Any:
    if settings is not None:
        return settings.model_dump(mode="json", include={"sources"}).get("sources", {})
    sources = document.data.get("sources")
    if not isinstance(sources, dict):
        return {}
    # Values the environment provides count as present (pydantic would have merged them).
    merged: dict[str, Any] = {}
    for name, source in sources.items():
        if isinstance(source, dict):
            source = dict(source)
            for key in ("path", "table", "url", "queries"):
                variable = env_var_name(("sources", name, key))
                if key not in source and any(v.upper() == variable for v in os.environ):
                    source[key] = "<environment>"
        merged[name] = source
    return merged


def _destination_name_problems(
    document: TomlDocument, destination: str, names: list[str]
) -> list[Problem]:
    value = document.data.get("destination")
    if not isinstance(value, str):
        return []  # missing or not a string: reported by the model
    if value not in names:
        return [
            document.problem(
                ("destination",),
                f"destination {value!r} is not configured in hub.toml",
                expected="one of: " + ", ".join(names),
                hint=did_you_mean(value, names),
                at_value=True,
            )
        ]
    if value != destination:
        return [
            document.problem(
                ("destination",),
                f"this mapping is used by destination {destination!r} but names {value!r}",
                expected=repr(destination),
                at_value=True,
            )
        ]
    return []


def _in_file_order(problems: list[Problem]) -> list[Problem]:
    files: dict[str | None, int] = {}
    for problem in problems:
        files.setdefault(problem.file, len(files))
    return sorted(problems, key=lambda p: (files[p.file], p.line or 0, p.column or 0))


def validate_project(
    config_path: Path,
    destination_types: AbcMapping[str, DestinationTypeInfo] | None = None,
    *,
    secrets_dir: Path | None = None,
    offline: bool = True,
    checks: Sequence[ProjectCheck] = (),
) -> list[Problem]:
    """Every problem in ``hub.toml`` and the mapping files it names, in file order.

    ``destination_types`` (type name -> plugin info) enables the destination
    type and capability checks; without it only the files themselves are checked.

    ``offline=False`` makes it the pre-flight of a sync (``hub validate``): the
    sources are read too (each exists and is readable, SQL connects, CSV
    headers, the keys JSON rows carry, each query's result columns) and every
    reference is checked against the attributes they hold; the state store's
    URL must be supported and its file usable (see :func:`state_problems`).

    ``checks``: those of the layers above (``hub.playbooks.PLAYBOOK_CHECKS``).
    """
    checked = check_project(config_path, destination_types, secrets_dir, checks=checks)
    if offline:
        return checked.problems
    from hub.sources.loading import discover_columns, source_tables  # reads files: an edge

    settings = checked.settings or _partial_settings(config_path, secrets_dir)
    if settings is None:
        return checked.problems
    base_dir = config_path.parent
    columns, source_problems = discover_columns(settings, base_dir)
    complete = source_tables(settings, failed=source_problems)
    known = known_attributes(columns, settings.events, complete)
    rechecked = check_project(config_path, destination_types, secrets_dir, known, checks)
    for check in checks:
        rechecked.problems.extend(check(settings, base_dir, destination_types, known))
    # Problems found outside hub.toml are located at their key in it (parsed once).
    document, _ = read_toml(config_path)
    problems = [*rechecked.problems, *_located(document, source_problems)]
    problems.extend(_located(document, state_problems(settings, base_dir)))
    return _in_file_order(problems)


def _partial_settings(config_path: Path, secrets_dir: Path | None) -> HubSettings | None:
    """hub.toml's settings with the keys pydantic refuses left out (each
    refused key, then its parent if still refused), so that one typo does not
    hide the problems of the sources and the state store; ``None`` when not
    even that validates."""
    document, _ = read_toml(config_path)
    if document is None:
        return None
    data = copy.deepcopy(document.data)
    for _ in range(50):
        pruned = replace(document, data=data)
        try:
            settings, _ = settings_from_document(pruned, secrets_dir)
        except Exception:  # a broken override: give up, the first pass reported it
            return None
        if settings is not None:
            return settings
        locations = _refused_locations(pruned)
        if not locations or not any(_drop(data, loc) for loc in locations):
            return None
    return None


def _refused_locations(document: TomlDocument) -> list[KeyPath]:
    """Where pydantic refuses hub.toml's data (unknown keys, wrong types)."""
    try:
        HubSettings.model_validate(document.data)
    except ValidationError as error:
        return [tuple(detail["loc"]) for detail in error.errors()]
    return []


def _drop(data: dict[str, Any], location: KeyPath) -> bool:
    """Remove the value at ``location`` (or its nearest present ancestor)."""
    path = list(location)
    while path:
        current: Any = data
        for part in path[:-1]:
            current = current.get(part) if isinstance(current, dict) else None
        if isinstance(current, dict) and path[-1] in current:
            del current[path[-1]]
            return True
        path.pop()
    return False


def _located(document: TomlDocument | None, problems: list[Problem]) -> list[Problem]:
    """``problems`` with a key but no line (a source file not found, a database
    that does not connect, the state URL): located at that key in hub.toml."""
    if document is None:
        return problems
    located: list[Problem] = []
    for problem in problems:
        if problem.line is None and problem.key:
            path = tuple(problem.key.split("."))
            where = document.problem(path, problem.message, at_value=True)
            problem = replace(problem, file=where.file, line=where.line, column=where.column)
        located.append(problem)
    return located


def state_problems(settings: HubSettings, base_dir: Path) -> list[Problem]:
    """The state store's URL is supported and its file can be opened and
    written (``[state] url``, relative to ``base_dir``); nothing is created."""
    from hub.state import state_file_problems

    return state_file_problems(settings.state.url, base_dir)


def data_problems(project: Project, known: KnownAttributes) -> list[Problem]:
    """References of the project's mappings to attributes the data does not
    hold (see :func:`known_attributes`); what ``sync``, ``plan`` and the
    daemon check after loading the sources, before anything is sent."""
    problems: list[Problem] = []
    seen: set[Path] = set()
    for name in project.mappings:
        mapping = project.settings.destinations[name].mapping
        if mapping is None:
            continue
        path = mapping if mapping.is_absolute() else project.base_dir / mapping
        if path in seen:
            continue
        seen.add(path)
        document, _ = read_toml(path)
        if document is not None:
            problems.extend(_expression_problems(document, known, syntax=False))
    return _in_file_order(problems)


def load_project(
    config_path: Path,
    destination_types: AbcMapping[str, DestinationTypeInfo] | None = None,
    *,
    secrets_dir: Path | None = None,
    checks: Sequence[ProjectCheck] = (),
) -> Project:
    """The validated project; raise :class:`~hub.errors.ConfigError` listing every
    problem (``checks``: those of the layers above, see :class:`ProjectCheck`)."""
    checked = check_project(config_path, destination_types, secrets_dir, checks=checks)
    if checked.problems or checked.settings is None:
        raise ConfigError(checked.problems)
    return Project(checked.settings, config_path.parent, checked.mappings)


def format_problems(problems: list[Problem]) -> str:
    """One line per problem: ``file:line:col: key: message (expected ...); hint``."""
    return "\n".join(str(problem) for problem in problems)
