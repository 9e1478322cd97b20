"""Running playbooks: entries, goals and timeouts at ``clock()``, each action
performed exactly once per entry (see :mod:`hub.state.playbooks`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from hub.config.settings import HubSettings
from hub.config.validate import known_attributes
from hub.contract.actions import ActionRequest, perform
from hub.contract.capabilities import Action
from hub.contract.destination import FatalDestinationError, Outcome, RecordResult
from hub.errors import ConfigError
from hub.model import Account, Membership, User
from hub.playbooks.spec import (
    LoadedPlaybook,
    _Step,
    attribute_problems,
    load_playbooks,
    template_problems,
)
from hub.projections.resolver import Graph
from hub.references import Scope
from hub.state.playbooks import NewAction, PlaybookStore

__all__ = [
    "ActionOutcome",
    "PlaybookReport",
    "open_playbook_store",
    "run_playbooks",
    "run_resolution",
]

Clock = Callable[[], datetime]


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
    """:func:`run_playbooks` for a :class:`hub.sync.pipeline.Resolution`: the
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
    """The playbook tables in the state store's SQLite file or PostgreSQL
    database (``[state] url``). ``read_only`` (dry runs): a file that does not
    exist is not created."""
    from hub.state import state_database

    path = state_database(settings.state.url, base_dir)
    if isinstance(path, str):  # PostgreSQL
        from hub.state.postgres import existing_tables

        if read_only and not existing_tables(path, ["playbook_entries"]):
            return PlaybookStore(None)
        return PlaybookStore(path)
    if path is None or (read_only and not path.exists()):
        return PlaybookStore(None)
    path.parent.mkdir(parents=True, exist_ok=True)
    return PlaybookStore(path)
