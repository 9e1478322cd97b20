"""Playbook files: the model, the compiler and the checks (``hub validate``).

See :mod:`hub.playbooks` for what a playbook says; :mod:`hub.playbooks.engine`
runs the compiled ones.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from hub.conditions import (
    ConditionSyntaxError,
    Predicate,
    compile_condition,
    iter_refs,
    parse_condition,
)
from hub.config import TomlDocument, did_you_mean, read_toml, validation_problems
from hub.config.settings import HubSettings
from hub.config.validate import ProjectCheck
from hub.contract.capabilities import Action
from hub.errors import ConfigError, Problem
from hub.projections.resolver import Graph

__all__ = [
    "PLAYBOOK_CHECKS",
    "ActionSpec",
    "LoadedPlaybook",
    "PlaybookFile",
    "attribute_problems",
    "check_playbooks",
    "load_playbooks",
    "parse_duration",
    "playbook_attribute_problems",
    "playbook_problems",
    "template_problems",
]

PHASES = ("entry", "goal_reached", "goal_not_reached")
#: The parameters each action needs.
REQUIRED_PARAMS: dict[Action, tuple[str, ...]] = {
    Action.ADD_TO_LIST: ("list_id",),
    Action.REMOVE_FROM_LIST: ("list_id",),
    Action.CREATE_TASK: ("subject",),
    Action.SEND_MESSAGE: ("text",),
    Action.TAG: ("tag",),
    Action.UNTAG: ("tag",),
}
PARAMS = ("list_id", "subject", "body", "text", "channel", "tag", "priority")
USER_NAMESPACES = ("user", "account", "relationship")
ACCOUNT_NAMESPACES = ("account",)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Clock = Callable[[], datetime]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ActionSpec(_Strict):
    """One action of a playbook."""

    destination: str
    action: Action
    #: ``account``: once for the account; ``user``: once per qualifying user.
    per: Literal["account", "user"] | None = None
    #: For user actions: which users (user.*, account.*, relationship.*).
    where: str | None = None
    list_id: str | None = None
    subject: str | None = None
    body: str | None = None
    text: str | None = None
    channel: str | None = None
    tag: str | None = None
    priority: str | None = None

    def params(self) -> dict[str, str]:
        return {name: value for name in PARAMS if (value := getattr(self, name)) is not None}


def parse_duration(value: Any) -> timedelta:
    """``"21d"``, ``"12h"``, ``"30m"``, ``"45s"``, ``"2w"`` or seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return timedelta(seconds=float(value))
    if isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
        if seconds > 0:
            return timedelta(seconds=seconds)
    raise ValueError("expected a duration like '21d', '12h', '30m' or a number of seconds")


class PlaybookFile(_Strict):
    """The whole of one playbook file."""

    name: str | None = None
    description: str = ""
    enabled: bool = True
    entry: str
    scope: Literal["membership", "user"] = "membership"
    reentry: Literal["never", "after_exit"] = "never"
    goal: str | None = None
    timeout: timedelta | None = None
    actions: list[ActionSpec] = []
    user_actions: list[ActionSpec] = []
    goal_reached: list[ActionSpec] = []
    goal_not_reached: list[ActionSpec] = []

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)


@dataclass(frozen=True, slots=True)
class _Step:
    """One action of one phase, compiled."""

    index: int
    spec: ActionSpec
    per_user: bool
    where: Predicate | None
    templates: dict[str, jinja2.Template]
    #: The TOML path of the action (for problems).
    path: tuple[str | int, ...]


@dataclass(slots=True)
class LoadedPlaybook:
    """A validated playbook, compiled."""

    name: str
    file: str
    model: PlaybookFile
    document: TomlDocument
    entry: Predicate
    goal: Predicate | None
    phases: dict[str, list[_Step]]
    #: (path, text) of every condition (entry, goal, each action's where).
    conditions: list[tuple[tuple[str | int, ...], str]] = field(default_factory=list)


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


_ENV = _environment()


def _template_refs(source: str) -> Iterator[tuple[str, str | None]]:
    """(namespace, attribute) of each variable a template reads."""
    tree = _ENV.parse(source)
    attribute_nodes: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = getattr(node, "node", None)
        if isinstance(target, nodes.Name):
            attribute_nodes.add(id(target))
            arg = getattr(node, "arg", None)
            if isinstance(node, nodes.Getattr):
                yield target.name, str(node.attr)
            elif isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                yield target.name, arg.value
            else:
                yield target.name, None
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and id(name) not in attribute_nodes:
            yield name.name, None


def _phase_lists(model: PlaybookFile) -> dict[str, list[tuple[str, bool, list[ActionSpec]]]]:
    return {
        "entry": [("actions", False, model.actions), ("user_actions", True, model.user_actions)],
        "goal_reached": [("goal_reached", False, model.goal_reached)],
        "goal_not_reached": [("goal_not_reached", False, model.goal_not_reached)],
    }


def _compile_file(
    document: TomlDocument,
    settings: HubSettings,
    destination_types: Mapping[str, Any] | None,
) -> tuple[LoadedPlaybook | None, list[Problem]]:
    problems: list[Problem] = []
    try:
        model = PlaybookFile.model_validate(document.data)
    except ValidationError as error:
        return None, validation_problems(error, PlaybookFile, document)

    conditions: list[tuple[tuple[str | int, ...], str]] = []

    def condition(path: tuple[str | int, ...], text: str, allowed: tuple[str, ...]) -> Predicate:
        conditions.append((path, text))
        try:
            return compile_condition(text, allowed)
        except ConditionSyntaxError as error:
            problems.append(
                document.problem(
                    path,
                    f"invalid condition: {error.message}",
                    expected=error.expected,
                    offset=error.position,
                    at_value=True,
                )
            )
            return lambda scope: False

    entry = condition(("entry",), model.entry, ACCOUNT_NAMESPACES)
    goal = None if model.goal is None else condition(("goal",), model.goal, ACCOUNT_NAMESPACES)
    if model.goal_reached and model.goal is None:
        problems.append(
            document.problem(("goal_reached",), "goal_reached actions need a goal condition")
        )
    if model.goal_not_reached and model.goal is None and model.timeout is None:
        problems.append(
            document.problem(("goal_not_reached",), "goal_not_reached actions need a timeout")
        )
    configured = settings.destinations
    phases: dict[str, list[_Step]] = {}
    for phase, lists in _phase_lists(model).items():
        steps: list[_Step] = []
        for key, users_only, specs in lists:
            for position, spec in enumerate(specs):
                path: tuple[str | int, ...] = (key, position)
                per_user = users_only or spec.per == "user"
                if users_only and spec.per == "account":
                    problems.append(
                        document.problem(
                            (*path, "per"),
                            "user_actions run per user",
                            hint="move it to [[actions]]",
                            at_value=True,
                        )
                    )
                namespaces = USER_NAMESPACES if per_user else ACCOUNT_NAMESPACES
                where = None
                if spec.where is not None:
                    where = condition((*path, "where"), spec.where, namespaces)
                destination = configured.get(spec.destination)
                if destination is None or not destination.enabled:
                    names = sorted(n for n, d in configured.items() if d.enabled)
                    problems.append(
                        document.problem(
                            (*path, "destination"),
                            f"destination {spec.destination!r} is not configured (or not"
                            " enabled) in hub.toml",
                            expected="one of: " + ", ".join(names) if names else None,
                            hint=did_you_mean(spec.destination, names),
                            at_value=True,
                        )
                    )
                elif destination_types is not None:
                    info = destination_types.get(destination.type)
                    if info is not None and spec.action not in info.capabilities.actions:
                        offered = sorted(a.value for a in info.capabilities.actions)
                        problems.append(
                            document.problem(
                                (*path, "action"),
                                f"capability actions.{spec.action.value}: destination"
                                f" {spec.destination!r} (type {destination.type!r}) does not"
                                f" offer {spec.action.value!r}",
                                expected="one of: " + ", ".join(offered) if offered else None,
                                at_value=True,
                            )
                        )
                for required in REQUIRED_PARAMS[spec.action]:
                    if getattr(spec, required) is None:
                        problems.append(
                            document.problem(
                                path, f"action {spec.action.value!r} needs {required!r}"
                            )
                        )
                templates: dict[str, jinja2.Template] = {}
                for name, source in spec.params().items():
                    try:
                        refs = list(_template_refs(source))
                        templates[name] = _ENV.from_string(source)
                    except jinja2.TemplateSyntaxError as error:
                        problems.append(
                            document.problem(
                                (*path, name),
                                f"invalid template: {error.message}",
                                at_value=True,
                            )
                        )
                        continue
                    for namespace, _attribute in refs:
                        if namespace not in namespaces:
                            problems.append(
                                document.problem(
                                    (*path, name),
                                    f"template variable {namespace!r} does not exist here",
                                    expected="variables of " + ", ".join(namespaces),
                                    hint=did_you_mean(namespace, list(namespaces)),
                                    at_value=True,
                                )
                            )
                steps.append(_Step(len(steps), spec, per_user, where, templates, path))
        phases[phase] = steps
    name = model.name or Path(document.file).stem
    loaded = LoadedPlaybook(name, document.file, model, document, entry, goal, phases, conditions)
    return loaded, problems


def _paths(settings: HubSettings, base_dir: Path) -> list[Path]:
    found: list[Path] = []
    for pattern in settings.playbooks.paths:
        full = pattern if Path(pattern).is_absolute() else str(base_dir / pattern)
        found.extend(Path(p) for p in sorted(glob.glob(full)))
    return found


def _load(
    settings: HubSettings, base_dir: Path, destination_types: Mapping[str, Any] | None
) -> tuple[list[LoadedPlaybook], list[Problem]]:
    playbooks: list[LoadedPlaybook] = []
    problems: list[Problem] = []
    names: dict[str, str] = {}
    for path in _paths(settings, base_dir):
        document, read_problems = read_toml(path)
        problems.extend(read_problems)
        if document is None:
            continue
        playbook, file_problems = _compile_file(document, settings, destination_types)
        problems.extend(file_problems)
        if playbook is None:
            continue
        if playbook.name in names:
            problems.append(
                document.problem(
                    ("name",),
                    f"playbook name {playbook.name!r} is also used by {names[playbook.name]}",
                )
            )
            continue
        names[playbook.name] = playbook.file
        playbooks.append(playbook)
    return playbooks, problems


def playbook_problems(
    settings: HubSettings, base_dir: Path, destination_types: Mapping[str, Any] | None
) -> list[Problem]:
    """Every problem of the configured playbook files (for ``hub validate``)."""
    return _load(settings, base_dir, destination_types)[1]


def playbook_attribute_problems(
    settings: HubSettings,
    base_dir: Path,
    destination_types: Mapping[str, Any] | None,
    known: Mapping[str, AbstractSet[str]],
) -> list[Problem]:
    """:func:`attribute_problems` of the configured playbooks that compile
    (``hub validate``; the others' problems are reported by :func:`playbook_problems`)."""
    return attribute_problems(_load(settings, base_dir, destination_types)[0], known)


def load_playbooks(
    settings: HubSettings, base_dir: Path, destination_types: Mapping[str, Any] | None = None
) -> list[LoadedPlaybook]:
    """The configured playbooks; :class:`ConfigError` listing every problem."""
    playbooks, problems = _load(settings, base_dir, destination_types)
    if problems:
        raise ConfigError(problems)
    return playbooks


# -- data-aware template checks ------------------------------------------------------


def _known_attributes(graph: Graph) -> dict[str, set[str]]:
    users = {"user_id", "email"}
    for user in graph.users.values():
        users.update(user.traits)
    accounts = {"account_id", "name", "domain", "stage"}
    for account in graph.accounts.values():
        accounts.update(account.traits)
    relationships = {"role", "user_id", "account_id"}
    for membership in graph.dataset.memberships.values():
        relationships.update(membership.properties)
    return {"user": users, "account": accounts, "relationship": relationships}


def template_problems(playbooks: Sequence[LoadedPlaybook], graph: Graph) -> list[Problem]:
    """Template variables and condition attributes that exist in no record of the data."""
    return attribute_problems(playbooks, _known_attributes(graph))


def attribute_problems(
    playbooks: Sequence[LoadedPlaybook], known: Mapping[str, AbstractSet[str]]
) -> list[Problem]:
    """Attributes the playbooks' templates and conditions read that ``known``
    (attribute names per namespace, e.g. :func:`hub.config.validate.known_attributes`
    of the sources' columns) does not hold: each would read null for every
    user or account."""
    problems: list[Problem] = []
    for playbook in playbooks:
        document = playbook.document
        for path, text in playbook.conditions:
            try:
                references = list(iter_refs(parse_condition(text)))
            except ConditionSyntaxError:
                continue  # reported when the playbook was compiled
            for reference in references:
                scope, _, read = reference.name.partition(".")
                names = known.get(scope)
                if names is not None and read not in names:
                    problems.append(
                        document.problem(
                            path,
                            f"no source has {reference.name}: the condition would read"
                            " null for every record",
                            hint=did_you_mean(read, sorted(names)),
                            offset=reference.position,
                        )
                    )
        for steps in playbook.phases.values():
            for step in steps:
                for name, source in step.spec.params().items():
                    for namespace, attribute in _template_refs(source):
                        if attribute is None or namespace not in known:
                            continue
                        if attribute not in known[namespace]:
                            problems.append(
                                document.problem(
                                    (*step.path, name),
                                    f"template variable {namespace}.{attribute} does not exist"
                                    " in the data",
                                    hint=did_you_mean(attribute, sorted(known[namespace])),
                                    at_value=True,
                                )
                            )
    return problems


def check_playbooks(
    settings: HubSettings,
    base_dir: Path,
    destination_types: Mapping[str, Any] | None,
    known: Mapping[str, AbstractSet[str]] | None,
) -> list[Problem]:
    """The project check validation is handed (:data:`hub.config.validate.ProjectCheck`):
    the playbook files' problems, and with ``known`` (the attributes the loaded
    data has) the templates' references to attributes the data lacks."""
    if not settings.playbooks.paths:
        return []
    if known is None:
        return playbook_problems(settings, base_dir, destination_types)
    return playbook_attribute_problems(settings, base_dir, destination_types, known)


#: The checks validation is handed for playbooks (``checks=`` of
#: :func:`hub.config.validate.validate_project` and :func:`hub.config.validate.load_project`).
PLAYBOOK_CHECKS: tuple[ProjectCheck, ...] = (check_playbooks,)
