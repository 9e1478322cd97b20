"""Loading ``hub.toml`` and mapping files into their models.

``hub.toml`` goes through pydantic-settings: the TOML file is the lowest layer,
secret files (``HUB_SECRETS_DIR`` or the ``secrets_dir`` argument) override it
and environment variables override both. Names nest with ``__`` under the
``HUB_`` prefix: ``HUB_DESTINATIONS__HUBSPOT__SETTINGS__TOKEN``, or a secret
file of that name.

A secret written into the TOML itself is refused: see :func:`secret_problems`.
Every problem becomes a :class:`~hub.errors.Problem` with its file, line and
column; :func:`load_settings` and :func:`load_mapping` raise them together as a
:class:`~hub.errors.ConfigError`. :mod:`hub.config.validate` builds on the same pieces
to check a whole project.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from hub.config.locations import KeyPath, TomlLocator, decode_error_problem, format_key
from hub.config.mapping import Mapping
from hub.config.settings import HubSettings
from hub.contract.envvars import ENV_NESTED_DELIMITER, ENV_PREFIX, env_var_name
from hub.errors import ConfigError, Problem
from hub.redaction import register_settings

#: Environment variable prefix, and nesting delimiter, for ``hub.toml`` settings.
#: Environment variable naming the directory of secret files.
SECRETS_DIR_ENV = "HUB_SECRETS_DIR"

_SECRET_NAMES = frozenset(
    {"token", "secret", "password", "passwd", "api_key", "apikey", "private_key", "client_secret"}
)
_SECRET_SUFFIXES = ("_token", "_secret", "_password", "_key")
#: ``scheme://user:password@host``: a URL carrying a password.
_URL_WITH_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/@:\s]*:[^/@\s]+@")


def is_secret_key(name: str) -> bool:
    """True for a key whose value is a credential (``token``, ``client_secret``, ``*_key``...)."""
    lowered = name.lower()
    return lowered in _SECRET_NAMES or lowered.endswith(_SECRET_SUFFIXES)


# -- reading TOML --------------------------------------------------------------


@dataclass(slots=True)
class TomlDocument:
    """A TOML file's text, parsed data and key positions."""

    file: str
    text: str
    data: dict[str, Any]
    locator: TomlLocator

    def problem(
        self,
        path: KeyPath,
        message: str,
        *,
        expected: str | None = None,
        hint: str | None = None,
        at_value: bool = False,
        offset: int | None = None,
    ) -> Problem:
        """A problem at ``path``: its key, or its value (``at_value``), or a
        character ``offset`` inside its string value."""
        position = None
        if offset is not None:
            position = self.locator.string_position(path, offset)
        if position is None and at_value:
            position = self.locator.value_position(path)
        if position is None:
            position = self.locator.locate(path)
        return Problem(
            message=message,
            file=self.file,
            line=position.line if position else None,
            column=position.column if position else None,
            key=format_key(path) or None,
            expected=expected,
            hint=hint,
        )


def read_toml(path: Path) -> tuple[TomlDocument | None, list[Problem]]:
    """Read and parse ``path``; a missing file or bad TOML becomes a problem."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem(message="file not found", file=file)]
    except (OSError, UnicodeDecodeError) as error:
        return None, [Problem(message=f"cannot read the file: {error}", file=file)]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return None, [decode_error_problem(error, file, text)]
    return TomlDocument(file, text, data, TomlLocator(text)), []


# -- secrets -------------------------------------------------------------------


def _walk(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))


def secret_problems(document: TomlDocument) -> list[Problem]:
    """Every credential written into the TOML file, each one refused.

    A key named like a secret (``token``, ``password``, ``client_secret``,
    ``*_token``, ``*_key``...) anywhere, and a ``url`` carrying a password.
    """
    problems: list[Problem] = []
    for path, value in _walk(document.data, ()):
        if not path or isinstance(path[-1], int):
            continue
        name = str(path[-1])
        if is_secret_key(name) and not isinstance(value, dict | list):
            problems.append(_secret_problem(document, path, f"{name!r} is a secret"))
        elif (
            (name.lower() == "url" or name.lower().endswith("_url"))
            and isinstance(value, str)
            and _URL_WITH_PASSWORD.match(value)
        ):
            problems.append(
                _secret_problem(document, path, f"{name!r} contains a password (user:password@)")
            )
    return problems


def _secret_problem(document: TomlDocument, path: KeyPath, what: str) -> Problem:
    variable = env_var_name(path)
    return document.problem(
        path,
        f"{what} and must not be written in {Path(document.file).name}",
        expected="the value from the environment or a secret file",
        hint=(
            f"remove it here and set the environment variable {variable}, "
            f"or put it in a file named {variable} in the secrets directory "
            f"({SECRETS_DIR_ENV})"
        ),
    )


# -- pydantic errors -----------------------------------------------------------


def _strip_union_tags(loc: tuple[int | str, ...]) -> KeyPath:
    """Drop the parts of a pydantic ``loc`` that are not keys (``[key]``, union tags)."""
    return tuple(
        part
        for part in loc
        if isinstance(part, int) or not ("[" in part or "(" in part or part == "[key]")
    )


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types inside ``X | None`` / ``Annotated`` / ``Union``."""
    origin = get_origin(annotation)
    if origin is Union or origin is UnionType:
        types: list[Any] = []
        for arg in get_args(annotation):
            types.extend(_unwrap(arg))
        return types
    if origin is not None and hasattr(annotation, "__metadata__"):
        return _unwrap(get_args(annotation)[0])
    return [annotation]


def _type_at(model: type[BaseModel], path: KeyPath) -> Any:
    """The type expected at ``path`` inside ``model``, ``None`` when unknown."""
    current: Any = model
    for part in path:
        found = None
        for candidate in _unwrap(current):
            origin = get_origin(candidate)
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                field: FieldInfo | None = candidate.model_fields.get(str(part))
                if field is not None:
                    found = field.annotation
            elif origin is dict and not isinstance(part, int):
                found = get_args(candidate)[1]
            elif origin in (list, tuple) and isinstance(part, int):
                found = get_args(candidate)[0]
            if found is not None:
                break
        if found is None:
            return None
        current = found
    return current


def _known_keys(model: type[BaseModel], path: KeyPath) -> list[str]:
    for candidate in _unwrap(_type_at(model, path)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return list(candidate.model_fields)
    return []


def _enum_values(model: type[BaseModel], path: KeyPath, error: Any) -> list[str]:
    for candidate in _unwrap(_type_at(model, path)):
        if isinstance(candidate, type) and issubclass(candidate, Enum):
            return [str(member.value) for member in candidate]
    expected = (error.get("ctx") or {}).get("expected", "")
    return re.findall(r"'([^']*)'", str(expected))


def did_you_mean(word: str, candidates: list[str]) -> str | None:
    """``"did you mean 'separator'?"`` for a close candidate, else ``None``."""
    import difflib

    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in candidates}
        if word.lower() in lowered:
            matches = [lowered[word.lower()]]
    return f"did you mean {matches[0]!r}?" if matches else None


_EXPECTED_BY_TYPE = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "list_type": "an array",
    "greater_than": "a positive number",
    "path_type": "a file path (a string)",
    "datetime_parsing": "a date and time (2024-01-31T00:00:00Z)",
    "datetime_type": "a date and time (2024-01-31T00:00:00Z)",
}


def validation_problems(
    error: ValidationError,
    model: type[BaseModel],
    document: TomlDocument,
    *,
    from_environment: bool = False,
) -> list[Problem]:
    """Turn each pydantic error into a located :class:`Problem` with a hint."""
    problems: list[Problem] = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        path = _strip_union_tags(loc)
        kind = item["type"]
        name = str(path[-1]) if path else ""
        expected: str | None = None
        hint: str | None = None
        at_value = True
        if kind == "extra_forbidden":
            known = _known_keys(model, path[:-1])
            message = f"unknown key {name!r}"
            expected = "one of: " + ", ".join(known) if known else None
            hint = did_you_mean(name, known)
            at_value = False
        elif kind == "missing":
            message = f"missing required key {name!r}"
            at_value = False
        elif kind in ("enum", "literal_error"):
            values = _enum_values(model, path, item)
            message = f"{item['input']!r} is not a valid value"
            expected = "one of: " + ", ".join(repr(v) for v in values)
            hint = did_you_mean(str(item["input"]), values)
            if "[key]" in loc:
                message = f"{item['input']!r} is not a valid key"
                at_value = False
        else:
            message = item["msg"]
            if not any(is_secret_key(str(p)) for p in path if not isinstance(p, int)):
                shown = repr(item["input"])
                if len(shown) <= 60 and not isinstance(item["input"], dict | list):
                    message += f", got {shown}"
            expected = _EXPECTED_BY_TYPE.get(kind)
        if from_environment or (path and not _in_data(document.data, path)):
            variable = env_var_name(path)
            if variable in _environment_names():
                hint = f"set by the environment variable {variable}" + (f"; {hint}" if hint else "")
        problems.append(
            document.problem(path, message, expected=expected, hint=hint, at_value=at_value)
        )
    return problems


def _environment_names() -> set[str]:
    return {name.upper() for name in os.environ}


def _in_data(data: Any, path: KeyPath) -> bool:
    current = data
    for part in path:
        if isinstance(part, int):
            if not isinstance(current, list) or part >= len(current):
                return False
        elif not isinstance(current, dict) or part not in current:
            return False
        current = current[part]
    return True


# -- hub.toml through pydantic-settings -----------------------------------------

#: The TOML data of the file being loaded, handed to the settings source below.
_TOML_DATA: ContextVar[dict[str, Any]] = ContextVar("hub_toml_data")


class _TomlDataSource(PydanticBaseSettingsSource):
    """The already-parsed hub.toml, as the lowest settings layer."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns everything at once

    def __call__(self) -> dict[str, Any]:
        return _TOML_DATA.get()


class _LayeredHubSettings(HubSettings, BaseSettings):
    """:class:`HubSettings` read from TOML, secret files and the environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        secrets_nested_delimiter=ENV_NESTED_DELIMITER,
        secrets_dir_missing="ok",
        extra="forbid",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Highest first: environment, then secret files, then hub.toml.
        return (
            env_settings,
            NestedSecretsSettingsSource(file_secret_settings),
            _TomlDataSource(settings_cls),
        )


def _secrets_dir(secrets_dir: Path | None) -> Path | None:
    if secrets_dir is not None:
        return secrets_dir
    from_env = os.environ.get(SECRETS_DIR_ENV)
    return Path(from_env) if from_env else None


def settings_from_document(
    document: TomlDocument, secrets_dir: Path | None = None
) -> tuple[HubSettings | None, list[Problem]]:
    """Layer hub.toml, secret files and the environment; refuse secrets in the TOML."""
    problems = secret_problems(document)
    directory = _secrets_dir(secrets_dir)
    if directory is not None and not directory.is_dir():
        problems.append(
            Problem(
                message=f"the secrets directory {str(directory)!r} does not exist",
                key=SECRETS_DIR_ENV,
                expected="a directory of secret files",
            )
        )
        directory = None
    token = _TOML_DATA.set(document.data)
    try:
        layered = _LayeredHubSettings(_secrets_dir=directory)
    except ValidationError as error:
        problems.extend(validation_problems(error, HubSettings, document))
        return None, problems
    finally:
        _TOML_DATA.reset(token)
    # A plain HubSettings, so equality and copies behave like any other instance.
    settings = HubSettings.model_validate(layered.model_dump())
    # Whatever secret the settings hold is scrubbed from every error text,
    # log line and alert from now on.
    register_settings(settings)
    return settings, problems


def load_settings(path: Path, secrets_dir: Path | None = None) -> HubSettings:
    """Read ``hub.toml`` with environment and secret-file overrides.

    Raises :class:`~hub.errors.ConfigError` listing every problem: bad TOML,
    unknown keys, wrong types, and secrets written into the file.
    """
    document, problems = read_toml(path)
    if document is None:
        raise ConfigError(problems)
    settings, problems = settings_from_document(document, secrets_dir)
    if problems or settings is None:
        raise ConfigError(problems)
    return settings


# -- the project -------------------------------------------------------------


@dataclass
class Project:
    """A validated project, ready to run."""

    settings: HubSettings
    #: The directory holding ``hub.toml``; relative paths are relative to it.
    base_dir: Path
    #: Destination name -> its mapping, for enabled destinations only.
    mappings: dict[str, Mapping] = field(default_factory=dict)

    def resolve(self, path: Path) -> Path:
        """``path`` made relative to :attr:`base_dir` when it is not absolute."""
        return path if path.is_absolute() else self.base_dir / path


# -- mapping files -------------------------------------------------------------


def mapping_from_document(document: TomlDocument) -> tuple[Mapping | None, list[Problem]]:
    """Validate a parsed mapping file; its problems are located in the file."""
    try:
        return Mapping.model_validate(document.data), []
    except ValidationError as error:
        return None, validation_problems(error, Mapping, document)


def load_mapping(path: Path) -> Mapping:
    """Read one mapping file; raise :class:`~hub.errors.ConfigError` on any problem.

    This checks the file's shape only; :func:`hub.config.validate.validate_project` also
    checks conditions, references and the destination's capabilities.
    """
    document, problems = read_toml(path)
    if document is None:
        raise ConfigError(problems)
    mapping, problems = mapping_from_document(document)
    if mapping is None:
        raise ConfigError(problems)
    return mapping
