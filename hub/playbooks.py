"""Playbooks: engagement actions on top of the sync.

A playbook file (TOML, e.g. ``mappings/playbooks/pqa_pql.toml``, listed by
``[playbooks] paths`` in hub.toml) says when an account *enters* (``entry``, a
condition on ``account.*``), what happens then (``[[actions]]`` for the
account, ``[[user_actions]]`` for each of its users meeting ``where``, a
condition on ``user.*``, ``account.*`` and ``relationship.*`` -- the
relationship *to this account*), and how it ends: the ``goal`` condition
becomes true (``[[goal_reached]]``) or ``timeout`` passes first
(``[[goal_not_reached]]``). Goal actions are per account unless ``per =
"user"``.

``scope = "membership"`` (default) runs a user action once per user and
account; ``scope = "user"`` once per user across every account of the playbook.
``reentry = "never"`` (default): an account enters once; ``"after_exit"``: it
may enter again once its previous entry ended.

String parameters are Jinja2 templates (sandboxed, strict): ``{{ user.first_name
}} is {{ relationship.role }} of {{ account.name }}``. A variable that does not
exist is a validation error (namespaces at ``hub validate``, attributes against
the loaded data before any run); a value missing at render time fails that
action with a reason and nothing is sent.

:func:`run_playbooks` evaluates entries, goals and timeouts at ``clock()`` and
performs actions exactly once per entry (see :mod:`hub.state.playbooks`).
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
from hub.contract.actions import ActionRequest, perform
from hub.contract.capabilities import Action
from hub.contract.destination import FatalDestinationError, Outcome, RecordResult
from hub.errors import ConfigError, Problem
from hub.model import Account, Membership, User
from hub.references import Scope
from hub.resolver import Graph
from hub.settings import HubSettings
from hub.state.playbooks import NewAction, PlaybookStore

__all__ = [
    "ActionSpec",
    "LoadedPlaybook",
    "PlaybookFile",
    "PlaybookReport",
    "load_playbooks",
    "playbook_problems",
    "run_playbooks",
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
    (attribute names per namespace, e.g. :func:`hub.validate.known_attributes`
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


# -- running -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    playbook: str
    account_id: str
    phase: str
    index: int
    destination: str
    action: str
    subject: str
    key: str
    #: planned (dry run), ok, failed, pending (to retry)
    status: str
    params: Mapping[str, Any]
    reason: str | None = None


@dataclass(slots=True)
class PlaybookReport:
    """What one evaluation did (or, for a dry run, would do)."""

    at: datetime
    dry_run: bool
    entered: list[tuple[str, str]] = field(default_factory=list)
    goal_reached: list[tuple[str, str]] = field(default_factory=list)
    timed_out: list[tuple[str, str]] = field(default_factory=list)
    actions: list[ActionOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {
            "entered": len(self.entered),
            "goal_reached": len(self.goal_reached),
            "timed_out": len(self.timed_out),
        }
        for outcome in self.actions:
            counts[f"actions_{outcome.status}"] = counts.get(f"actions_{outcome.status}", 0) + 1
        return counts

    @property
    def ok(self) -> bool:
        return not self.errors and all(a.status != "failed" for a in self.actions)


def _values(record: User | Account | Membership) -> dict[str, Any]:
    if isinstance(record, User):
        base: dict[str, Any] = {"user_id": record.user_id, "email": record.email}
    elif isinstance(record, Account):
        base = {
            "account_id": record.account_id,
            "name": record.name,
            "domain": record.domain,
            "stage": record.stage,
        }
    else:
        base = {"role": record.role, "user_id": record.user_id, "account_id": record.account_id}
        base.update(record.properties)
        return {k: v for k, v in base.items() if v is not None}
    base.update(record.traits)
    # Absent values are missing, never rendered as "None" or "".
    return {k: v for k, v in base.items() if v is not None}


def _render(step: _Step, context: dict[str, Any]) -> tuple[dict[str, str], str | None]:
    rendered: dict[str, str] = {}
    for name, template in step.templates.items():
        try:
            text = template.render(context)
        except jinja2.UndefinedError as error:
            return {}, f"template {name!r}: {error.message}"
        except jinja2.TemplateError as error:  # pragma: no cover - sandbox refusals
            return {}, f"template {name!r}: {error}"
        if not text.strip():
            return {}, f"template {name!r} rendered empty"
        rendered[name] = text
    return rendered, None


#: Resolves a hub key to a destination id: (destination, "contact"|"account", key).
IdLookup = Callable[[str, str, str], str | None]
#: Builds (or returns) the live destination named.
Connect = Callable[[str], object]


class _Runner:
    def __init__(
        self,
        graph: Graph,
        store: PlaybookStore,
        now: datetime,
        connect: Connect | None,
        ids: IdLookup | None,
        dry_run: bool,
    ) -> None:
        self.graph = graph
        self.store = store
        self.now = now
        self.connect = connect
        self.ids = ids
        self.dry_run = dry_run
        self.report = PlaybookReport(now, dry_run)
        self.planned_subjects: set[tuple[str, str, int, str]] = set()
        self.fatal: dict[str, str] = {}

    def run(self, playbook: LoadedPlaybook) -> None:
        name = playbook.name
        model = playbook.model
        for entry in self.store.entries(name):
            if entry.status != "active":
                # Exited by a run that died before planning the exit's actions.
                phase = "goal_reached" if entry.status == "goal_reached" else "goal_not_reached"
                if not self.store.phase_planned(entry.id, phase):
                    self._plan(playbook, entry.id, phase, entry.account_id)
                continue
            # Entered by a run that died before planning the entry's actions.
            account = self.graph.accounts.get(entry.account_id)
            if not self.store.phase_planned(entry.id, "entry"):
                self._plan(playbook, entry.id, "entry", entry.account_id)
            scope = Scope(account=account)
            if account is not None and playbook.goal is not None and playbook.goal(scope):
                self.report.goal_reached.append((name, entry.account_id))
                self._exit(playbook, entry.id, entry.account_id, "goal_reached")
            elif model.timeout is not None and self.now >= entry.entered_at + model.timeout:
                self.report.timed_out.append((name, entry.account_id))
                self._exit(playbook, entry.id, entry.account_id, "timed_out")
        latest = self.store.latest_entries(name)
        for account_id in sorted(self.graph.accounts):
            previous = latest.get(account_id)
            if previous is not None and (model.reentry == "never" or previous.status == "active"):
                continue
            account = self.graph.accounts[account_id]
            if not playbook.entry(Scope(account=account)):
                continue
            self.report.entered.append((name, account_id))
            entry_id = -1 if self.dry_run else self.store.enter(name, account_id, self.now)
            self._plan(playbook, entry_id, "entry", account_id)
        self._perform(name)

    def _exit(self, playbook: LoadedPlaybook, entry_id: int, account_id: str, status: str) -> None:
        phase = "goal_reached" if status == "goal_reached" else "goal_not_reached"
        if not self.dry_run:
            self.store.exit(entry_id, status, self.now)
        if not self.store.phase_planned(entry_id, phase):
            self._plan(playbook, entry_id, phase, account_id)

    def _subjects(
        self, playbook: LoadedPlaybook, step: _Step, account_id: str
    ) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(subject key, subject ids, template context) of each subject of ``step``."""
        account = self.graph.accounts.get(account_id)
        if account is None:
            return
        account_values = _values(account)
        if not step.per_user:
            if step.where is None or step.where(Scope(account=account)):
                yield (
                    f"account:{account_id}",
                    {"account_id": account_id},
                    {"account": account_values},
                )
            return
        for membership in self.graph.memberships_of_account(account_id):
            user = self.graph.users.get(membership.user_id)
            if user is None:
                continue
            scope = Scope(user=user, account=account, relationship=membership)
            if step.where is not None and not step.where(scope):
                continue
            subject = f"user:{user.user_id}" if playbook.model.scope == "user" else membership.key()
            yield (
                subject,
                {"user_id": user.user_id, "account_id": account_id},
                {
                    "user": _values(user),
                    "account": account_values,
                    "relationship": _values(membership),
                },
            )

    def _plan(self, playbook: LoadedPlaybook, entry_id: int, phase: str, account_id: str) -> None:
        name = playbook.name
        intents: list[NewAction] = []
        for step in playbook.phases[phase]:
            for subject, ids, context in self._subjects(playbook, step, account_id):
                marker = (name, phase, step.index, subject)
                once = playbook.model.scope == "user" and step.per_user
                if once and (marker in self.planned_subjects or self.store.subject_done(*marker)):
                    continue
                self.planned_subjects.add(marker)
                params, failure = _render(step, context)
                key = f"{name}:{entry_id}:{phase}:{step.index}:{subject}"
                intents.append(
                    NewAction(
                        phase,
                        step.index,
                        subject,
                        key,
                        step.spec.destination,
                        step.spec.action.value,
                        ids,
                        params,
                        failure,
                    )
                )
                self.report.actions.append(
                    ActionOutcome(
                        name,
                        account_id,
                        phase,
                        step.index,
                        step.spec.destination,
                        step.spec.action.value,
                        subject,
                        key,
                        "failed" if failure else "planned",
                        params,
                        failure,
                    )
                )
        if not self.dry_run:
            self.store.plan_phase(name, entry_id, phase, intents, self.now)

    def _perform(self, playbook: str) -> None:
        """Send every pending action of ``playbook`` (new ones and those a
        crashed or failed run left), and record each result."""
        if self.dry_run:
            return
        pending = self.store.actions(playbook, "pending")
        by_destination: dict[str, list[ActionRequest]] = {}
        rows = {row.key: row for row in pending}
        for row in pending:
            subject = dict(row.subject_data)
            if self.ids is not None:
                if "user_id" in subject:
                    contact = self.ids(row.destination, "contact", subject["user_id"])
                    if contact is None and "account_id" in subject:
                        membership_key = f"{subject['user_id']}:{subject['account_id']}"
                        contact = self.ids(row.destination, "contact", membership_key)
                    if contact is not None:
                        subject["contact_id"] = contact
                if "account_id" in subject:
                    company = self.ids(row.destination, "account", subject["account_id"])
                    if company is not None:
                        subject["company_id"] = company
            by_destination.setdefault(row.destination, []).append(
                ActionRequest(Action(row.action), row.destination, row.key, subject, row.params)
            )
        outcomes = {outcome.key: i for i, outcome in enumerate(self.report.actions)}
        for destination_name, requests in by_destination.items():
            if destination_name in self.fatal or self.connect is None:
                continue
            try:
                destination = self.connect(destination_name)
                results = perform(destination, requests)
            except FatalDestinationError as error:
                self.fatal[destination_name] = str(error)
                self.report.errors.append(f"{destination_name}: {error}")
                continue
            for request in requests:
                result = results[request.key]
                status = _status(result)
                self.store.record(
                    request.key,
                    status,
                    self.now,
                    error=result.reason,
                    destination_id=result.destination_id,
                )
                row = rows[request.key]
                outcome = ActionOutcome(
                    playbook,
                    row.subject_data.get("account_id", ""),
                    row.phase,
                    row.action_index,
                    row.destination,
                    row.action,
                    row.subject,
                    row.key,
                    status,
                    row.params,
                    result.reason,
                )
                if request.key in outcomes:
                    self.report.actions[outcomes[request.key]] = outcome
                else:
                    self.report.actions.append(outcome)


def _status(result: RecordResult) -> str:
    if result.outcome is Outcome.OK:
        return "ok"
    if result.outcome is Outcome.PERMANENT:
        return "failed"
    return "pending"


def run_playbooks(
    playbooks: Sequence[LoadedPlaybook],
    graph: Graph,
    store: PlaybookStore,
    clock: Clock,
    *,
    connect: Connect | None = None,
    ids: IdLookup | None = None,
    dry_run: bool = False,
    known: Mapping[str, AbstractSet[str]] | None = None,
) -> PlaybookReport:
    """Evaluate every enabled playbook at ``clock()``: goals and timeouts of
    active entries, then new entries; plan each phase's actions once and
    perform what is pending. ``dry_run`` writes nothing and sends nothing.

    Raises :class:`ConfigError` when a template names an attribute that no
    record has (before anything is written).
    """
    problems = (
        template_problems(playbooks, graph)
        if known is None
        else attribute_problems(playbooks, known)
    )
    if problems:
        raise ConfigError(problems)
    runner = _Runner(graph, store, clock(), connect, ids, dry_run)
    for playbook in playbooks:
        if playbook.model.enabled:
            runner.run(playbook)
    return runner.report


def run_resolution(
    resolution: Any,
    store: PlaybookStore,
    clock: Clock,
    *,
    dry_run: bool = False,
    sync_store: Any = None,
    extras: Mapping[str, Any] | None = None,
) -> PlaybookReport:
    """:func:`run_playbooks` for a :class:`hub.pipeline.Resolution`: the
    project's playbooks, its destinations built by their plugins' factories,
    destination ids from the sync state store ``sync_store`` (if given)."""
    from hub.contract.destination import BatchObject, DestinationContext
    from hub.contract.ratelimit import BudgetRegistry

    project = resolution.project
    plugins = resolution.plugins
    playbooks = load_playbooks(project.settings, project.base_dir, plugins.destinations.types())
    budgets = BudgetRegistry()
    built: dict[str, Any] = {}

    def connect(name: str) -> object:
        if name not in built:
            settings = project.settings.destinations[name]
            kind = plugins.destinations[settings.type]
            if kind.factory is None:
                raise FatalDestinationError(f"destination type {settings.type!r} has no factory")
            validated = kind.settings_model.model_validate(settings.settings)
            handle = budgets.handle(kind.name, kind.capabilities.rate_limit)
            context = DestinationContext(
                name=name,
                base_dir=project.base_dir,
                budget=handle,
                timeout=project.settings.sync.request_timeout,
                extras=dict(extras or {}),
            )
            destination = kind.factory(validated, context)
            handle.bind(destination.credential_id, destination.capabilities.rate_limit)
            built[name] = destination
        return built[name]

    def ids(destination: str, kind: str, key: str) -> str | None:
        if sync_store is None:
            return None
        object_ = BatchObject.CONTACT if kind == "contact" else BatchObject.ACCOUNT
        state = sync_store.get_many(destination, object_, [key]).get(key)
        return None if state is None else state.destination_id

    known = None
    if resolution.loaded.columns is not None:
        from hub.validate import known_attributes

        known = known_attributes(resolution.loaded.columns, project.settings.events)
    try:
        return run_playbooks(
            playbooks,
            resolution.graph,
            store,
            clock,
            connect=connect,
            ids=ids,
            dry_run=dry_run,
            known=known,
        )
    finally:
        for destination in built.values():
            destination.close()


def open_playbook_store(settings: HubSettings, base_dir: Path, *, read_only: bool) -> PlaybookStore:
    """The playbook tables in the state store's SQLite file (``[state] url``).
    ``read_only`` (dry runs): a file that does not exist is not created."""
    from hub.state import sqlite_path

    path = sqlite_path(settings.state.url, base_dir)
    if path is None or (read_only and not path.exists()):
        return PlaybookStore(None)
    path.parent.mkdir(parents=True, exist_ok=True)
    return PlaybookStore(path)
