"""All projections for one destination, from its mapping and capabilities.

:func:`project_destination` computes what one destination receives:

- **accounts** (``[accounts]`` enabled and the destination holds accounts):
  one record per account, keyed by ``account_id``, with ``fields``, the
  ``user_lists`` (projection 2) and the ``rollups`` (projection 7). A list
  field's ``max_length`` defaults to the destination's account string maximum.
- **contacts**, one per user (``[users]`` enabled and the destination holds
  contacts), keyed by ``user_id``, also for users with no membership: its
  ``fields`` read ``user``, ``primary_account``, ``primary_relationship``
  (projection 4) and ``rollup`` (``stage``: projection 3, ``account_count``:
  every membership), then the ``relationship_fields`` (projection 5, a
  summary's ``max_length`` defaulting to the contact string maximum).
- **membership contacts** (``[membership_contacts]`` enabled, projection 1),
  in the same ``contacts`` list, keyed ``user{separator}account``.
- **links** (``[links]`` enabled, users and accounts both projected, and the
  destination has links; projection 6).

When two mapping entries write the same field name, the later kind wins:
``fields``, then ``user_lists``/``relationship_fields``, then ``rollups``
(validation should refuse that mapping first).

:func:`project_user` and :func:`project_account` compute only what touches
one user or one account (for ``hub inspect``), without projecting the rest.
Everything is deterministic: same input, byte-identical JSON, whatever the
order of the input rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any, overload

from hub.capabilities import Capabilities, FieldType, ObjectKind
from hub.mapping import (
    AccountRollupKind,
    PrimaryAccountPolicy,
    RelationshipFieldKind,
)
from hub.mapping import (
    Mapping as DestinationMapping,
)
from hub.model import Dataset, Membership
from hub.projections.account_rollups import account_rollup
from hub.projections.associations import membership_links
from hub.projections.getters import fast_getter
from hub.projections.membership_contacts import inflation, membership_contact_records
from hub.projections.notices import NoticeCollector
from hub.projections.primary_account import primary_membership
from hub.projections.relationship_fields import (
    relationship_any,
    relationship_count,
    relationship_summary,
)
from hub.projections.stages import StageRanking, user_stage
from hub.projections.templates import compile_template
from hub.projections.user_lists import user_list
from hub.projections.values import utc
from hub.records import DestinationProjection, Link, Notice, Record, make_record
from hub.references import ALLOWED, Getter, Reference, Scope, parse_reference
from hub.resolver import Graph, collection_paused, count_events, window_start

__all__ = [
    "ConditionCompiler",
    "DestinationProjector",
    "ProjectionError",
    "project_account",
    "project_destination",
    "project_user",
]

Predicate = Callable[[Scope], bool]
#: ``compile_condition(text, allowed_namespaces) -> predicate`` (see hub.conditions).
ConditionCompiler = Callable[[str, tuple[str, ...]], Predicate]

_PRIMARY_NAMESPACES = ("primary_account", "primary_relationship")


class ProjectionError(ValueError):
    """A mapping that cannot be projected for this destination."""


@dataclass(frozen=True, slots=True)
class _UserList:
    field: str
    value: Getter
    where: Predicate | None
    order_by: Getter | None
    separator: str
    max_length: int | None


@dataclass(frozen=True, slots=True)
class _RelationshipField:
    field: str
    kind: RelationshipFieldKind
    template: Callable[[Scope], str]
    where: Predicate | None
    order_by: Getter | None
    separator: str
    max_length: int | None


@dataclass(slots=True)
class _UserContext:
    primary: Membership | None
    rollup: dict[str, Any] | None


def _references(mapping: Mapping[str, str], location: str) -> dict[str, Reference]:
    return {name: parse_reference(text, ALLOWED[location]) for name, text in mapping.items()}


def _getters(mapping: Mapping[str, str], location: str) -> dict[str, Getter]:
    return {name: fast_getter(ref) for name, ref in _references(mapping, location).items()}


@overload
def _getter(text: str, location: str) -> Getter: ...
@overload
def _getter(text: None, location: str) -> None: ...
def _getter(text: str | None, location: str) -> Getter | None:
    return None if text is None else fast_getter(parse_reference(text, ALLOWED[location]))


class DestinationProjector:
    """A mapping compiled against one destination's capabilities and a graph.

    Compiles every reference, condition and template once; then
    :meth:`project` computes everything, :meth:`project_user` and
    :meth:`project_account` only what touches one user or account.
    """

    def __init__(
        self,
        name: str,
        graph: Graph,
        mapping: DestinationMapping,
        capabilities: Capabilities,
        as_of: datetime,
        compile_condition: ConditionCompiler,
    ) -> None:
        self.name = name
        self.graph = graph
        self.mapping = mapping
        self.as_of = utc(as_of)
        self.ranking = StageRanking(mapping.stages)

        def condition(text: str | None, location: str) -> Predicate | None:
            return None if text is None else compile_condition(text, ALLOWED[location])

        account_object = capabilities.object(ObjectKind.ACCOUNT)
        contact_object = capabilities.object(ObjectKind.CONTACT)
        self.accounts_on = mapping.accounts.enabled and account_object is not None
        self.users_on = mapping.users.enabled and contact_object is not None
        self.members_on = mapping.membership_contacts.enabled and contact_object is not None
        self.links_on = (
            mapping.links.enabled
            and capabilities.links is not None
            and self.accounts_on
            and self.users_on
        )
        account_max = account_object.max_length(FieldType.STRING) if account_object else None
        contact_max = contact_object.max_length(FieldType.STRING) if contact_object else None

        # accounts
        self.account_fields = _getters(mapping.accounts.fields, "accounts.fields")
        self.user_lists = [
            _UserList(
                item.field,
                _getter(item.value, "accounts.user_lists.value"),
                condition(item.where, "accounts.user_lists.where"),
                _getter(item.order_by, "accounts.user_lists.order_by"),
                item.separator,
                item.max_length if item.max_length is not None else account_max,
            )
            for item in mapping.accounts.user_lists
        ]
        self.rollups = [
            (rollup, condition(rollup.where, "accounts.rollups.where"))
            for rollup in mapping.accounts.rollups
        ]

        # users
        user_refs = _references(mapping.users.fields, "users.fields")
        self.user_fields = {k: fast_getter(r) for k, r in user_refs.items()}
        self.relationship_fields = [
            _RelationshipField(
                item.field,
                item.kind,
                compile_template(item.template, ALLOWED["users.relationship_fields.template"]),
                condition(item.where, "users.relationship_fields.where"),
                _getter(item.order_by, "users.relationship_fields.order_by"),
                item.separator,
                item.max_length if item.max_length is not None else contact_max,
            )
            for item in mapping.users.relationship_fields
        ]

        # membership contacts
        member_refs = _references(mapping.membership_contacts.fields, "membership_contacts.fields")
        self.member_fields = {k: fast_getter(r) for k, r in member_refs.items()}
        self.member_where = condition(
            mapping.membership_contacts.where, "membership_contacts.where"
        )
        self.member_separator = mapping.membership_contacts.separator
        if (
            self.members_on
            and contact_object is not None
            and contact_object.unique_by_email
            and any(r.namespace == "user" and r.attribute == "email" for r in member_refs.values())
        ):
            raise ProjectionError(
                f"destination {name!r} de-duplicates contacts by e-mail, so one contact per "
                "membership would collapse into one per user: give membership_contacts.fields "
                "no user.email, or disable [membership_contacts]"
            )

        # links
        self.link_properties = (
            _getters(mapping.links.properties, "links.properties")
            if capabilities.links is not None and capabilities.links.carries_properties
            else {}
        )
        self.link_where = condition(mapping.links.where, "links.where")

        # what the user context needs
        refs = list(member_refs.values()) if self.members_on else []
        if self.users_on:
            refs.extend(user_refs.values())
        self.need_primary = self.links_on or any(r.namespace in _PRIMARY_NAMESPACES for r in refs)
        self.need_rollup = any(r.namespace == "rollup" for r in refs)
        self.need_stage = any(r.namespace == "rollup" and r.attribute == "stage" for r in refs)
        settings = mapping.primary_account
        self.primary_settings = settings
        uses_activity = settings.policy == PrimaryAccountPolicy.MOST_ACTIVE or (
            settings.policy == PrimaryAccountPolicy.EXPLICIT and settings.fallback == "most_active"
        )
        self.activity_start = (
            window_start(self.as_of, settings.activity_window_days) if uses_activity else None
        )
        # Reused across users and accounts: the loops are sequential, and a
        # Scope per membership would be millions of allocations.
        self._scope = Scope()
        self._user_scope = Scope()
        self._shared_link_properties: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._notices = NoticeCollector()

    # -- per user --------------------------------------------------------------------

    def _activity(self, membership: Membership) -> int:
        events = self.graph.events_of_pair(membership.user_id, membership.account_id)
        return count_events(events, self.as_of, self.activity_start)

    def _unknown_stage(self, membership: Membership, value: Any) -> None:
        self._notices.count(
            "unknown_stage",
            str(value),
            f"{{count}} membership(s) have {self.ranking.property} = {value!r}, which is "
            "neither in stages.order nor stages.churn; ignored when rolling up stages",
            membership.key(),
        )

    def _several_flags(self, flagged: Sequence[Membership]) -> None:
        self._notices.count(
            "several_primary_flags",
            self.primary_settings.flag_property,
            "{count} user(s) have several memberships flagged primary; the fallback "
            f"policy {self.primary_settings.fallback!r} picked among them",
            flagged[0].user_id,
        )

    def _context(self, memberships: Sequence[Membership]) -> _UserContext:
        primary = (
            primary_membership(
                memberships,
                self.primary_settings,
                self.ranking,
                self._activity if self.activity_start is not None else None,
                self._several_flags,
            )
            if self.need_primary
            else None
        )
        rollup: dict[str, Any] | None = None
        if self.need_rollup:
            rollup = {
                "account_count": len(memberships),
                "stage": user_stage(memberships, self.ranking, self._unknown_stage)
                if self.need_stage
                else None,
            }
        return _UserContext(primary, rollup)

    def _user_contact(
        self, user_id: str, memberships: Sequence[Membership], context: _UserContext
    ) -> Record:
        graph = self.graph
        user = graph.users.get(user_id)
        primary = context.primary
        scope = self._user_scope
        scope.user = user
        scope.primary_relationship = primary
        scope.primary_account = None if primary is None else graph.accounts.get(primary.account_id)
        scope.rollup = context.rollup
        fields: dict[str, Any] = {name: get(scope) for name, get in self.user_fields.items()}
        shared = self._scope
        for item in self.relationship_fields:
            if item.kind == RelationshipFieldKind.COUNT:
                fields[item.field] = relationship_count(
                    user, memberships, graph.accounts, item.where, shared
                )
            elif item.kind == RelationshipFieldKind.ANY:
                fields[item.field] = relationship_any(
                    user, memberships, graph.accounts, item.where, shared
                )
            else:
                summary = relationship_summary(
                    user,
                    memberships,
                    graph.accounts,
                    item.template,
                    where=item.where,
                    order_by=item.order_by,
                    separator=item.separator,
                    max_length=item.max_length,
                    scope=shared,
                )
                fields[item.field] = summary.value
                if summary.dropped or summary.rejected:
                    subject = f"users.relationship_fields.{item.field}"
                    if summary.dropped:
                        self._truncated(
                            self._notices,
                            subject,
                            user_id,
                            summary.dropped,
                            summary.marked,
                            item.max_length,
                        )
                    for account_id in summary.rejected:
                        self._rejected(
                            self._notices, subject, f"{user_id}/{account_id}", item.separator
                        )
        return make_record(ObjectKind.CONTACT, user_id, fields)

    def _user_outputs(self, user_id: str) -> tuple[Record | None, list[Record], list[Link]]:
        graph = self.graph
        memberships = graph.memberships_of_user(user_id)
        context = self._context(memberships)
        user = graph.users.get(user_id)
        contact = self._user_contact(user_id, memberships, context) if self.users_on else None
        members = (
            membership_contact_records(
                user,
                memberships,
                graph.accounts,
                self.member_fields,
                separator=self.member_separator,
                where=self.member_where,
                rollup=context.rollup,
                primary=context.primary,
            )
            if self.members_on and memberships
            else []
        )
        links = (
            membership_links(
                user,
                memberships,
                graph.accounts,
                self.link_properties,
                primary=context.primary,
                where=self.link_where,
                scope=self._scope,
                shared=self._shared_link_properties,
            )
            if self.links_on and memberships
            else []
        )
        return contact, members, links

    # -- per account -----------------------------------------------------------------

    def _account_record(self, account_id: str) -> Record:
        notices = self._notices
        graph = self.graph
        account = graph.accounts[account_id]
        scope = Scope(account=account)
        fields: dict[str, Any] = {name: get(scope) for name, get in self.account_fields.items()}
        memberships = graph.memberships_of_account(account_id)
        for item in self.user_lists:
            listed = user_list(
                account,
                memberships,
                graph.users,
                item.value,
                where=item.where,
                order_by=item.order_by,
                separator=item.separator,
                max_length=item.max_length,
                scope=self._scope,
            )
            fields[item.field] = listed.value
            if not (listed.dropped or listed.rejected):
                continue
            subject = f"accounts.user_lists.{item.field}"
            if listed.dropped:
                self._truncated(
                    notices, subject, account_id, listed.dropped, listed.marked, item.max_length
                )
            for user_id in listed.rejected:
                self._rejected(notices, subject, f"{account_id}/{user_id}", item.separator)
        for rollup, where in self.rollups:
            events = (
                ()
                if rollup.kind == AccountRollupKind.USER_COUNT
                else graph.events_of_account(account_id)
            )
            fields[rollup.field] = account_rollup(
                rollup, account, memberships, graph.users, events, self.as_of, where
            )
        return make_record(ObjectKind.ACCOUNT, account_id, fields)

    # -- notices ---------------------------------------------------------------------

    @staticmethod
    def _truncated(
        notices: NoticeCollector,
        subject: str,
        key: str,
        dropped: int,
        marked: bool,
        max_length: int | None,
    ) -> None:
        notices.count(
            "list_truncated",
            subject,
            f"{{count}} value(s) longer than {max_length} characters: whole entries dropped "
            'from the end behind a "(+N more)" marker',
            key,
            dropped_entries=dropped,
            without_marker=0 if marked else 1,
        )

    @staticmethod
    def _rejected(notices: NoticeCollector, subject: str, key: str, separator: str) -> None:
        notices.count(
            "entry_contains_separator",
            subject,
            f"{{count}} entr(y/ies) skipped because they contain the separator {separator!r}, "
            "which would split one entry into two; choose another separator",
            key,
        )

    # -- results ---------------------------------------------------------------------

    def _finish(
        self,
        accounts: list[Record],
        contacts: list[Record],
        members: list[Record],
        links: list[Link],
        notices: NoticeCollector,
    ) -> DestinationProjection:
        stats: dict[str, int | float] = {
            "accounts": len(accounts),
            "user_contacts": len(contacts),
            "links": len(links),
        }
        if self.members_on:
            members.sort(key=_record_key)
            distinct = _distinct_users(self.graph, members, self.member_separator)
            ratio = inflation(len(members), distinct)
            stats["membership_contacts"] = len(members)
            stats["membership_contact_users"] = distinct
            stats["inflation"] = ratio
            notices.add(
                Notice(
                    "inflation",
                    "membership_contacts",
                    f"{len(members)} membership contacts for {distinct} users "
                    f"(inflation {ratio}): tools billing per contact bill each",
                    {"contacts": len(members), "users": distinct, "inflation": ratio},
                )
            )
            if contacts:
                contacts = contacts + members
                contacts.sort(key=_record_key)
                for before, after in pairwise(contacts):
                    if before.key == after.key:
                        raise ProjectionError(
                            f"contact key {before.key!r} is both a user id and a membership "
                            f"contact key; change membership_contacts.separator"
                        )
            else:
                contacts = members
        stats["contacts"] = len(contacts)
        return DestinationProjection(self.name, accounts, contacts, links, notices.notices(), stats)

    def project(self) -> DestinationProjection:
        """Everything the destination receives."""
        notices = self._notices = NoticeCollector()
        graph = self.graph
        accounts = (
            [self._account_record(a) for a in sorted(graph.accounts)] if self.accounts_on else []
        )
        contacts: list[Record] = []
        members: list[Record] = []
        links: list[Link] = []
        if self.users_on or self.members_on:
            for user_id in sorted(graph.users):
                contact, user_members, user_links = self._user_outputs(user_id)
                if contact is not None:
                    contacts.append(contact)
                if user_members:
                    members.extend(user_members)
                if user_links:
                    links.extend(user_links)
        return self._finish(accounts, contacts, members, links, notices)

    def project_user(self, user_id: str) -> DestinationProjection:
        """Only the user's contact, membership contacts and links."""
        notices = self._notices = NoticeCollector()
        if user_id not in self.graph.users or not (self.users_on or self.members_on):
            return self._finish([], [], [], [], notices)
        contact, members, links = self._user_outputs(user_id)
        return self._finish([], [] if contact is None else [contact], members, links, notices)

    def project_account(self, account_id: str) -> DestinationProjection:
        """Only the account's record, its membership contacts and the links to it."""
        notices = self._notices = NoticeCollector()
        graph = self.graph
        if account_id not in graph.accounts:
            return self._finish([], [], [], [], notices)
        accounts = [self._account_record(account_id)] if self.accounts_on else []
        members: list[Record] = []
        links: list[Link] = []
        if self.members_on or self.links_on:
            for membership in graph.memberships_of_account(account_id):
                _, user_members, user_links = self._user_outputs_for(membership)
                members.extend(user_members)
                links.extend(user_links)
        return self._finish(accounts, [], members, links, notices)

    def _user_outputs_for(self, membership: Membership) -> tuple[None, list[Record], list[Link]]:
        """The membership contact and link of one membership (its user's context
        still decides the primary account and the rollup)."""
        graph = self.graph
        user_id = membership.user_id
        context = self._context(graph.memberships_of_user(user_id))
        user = graph.users.get(user_id)
        members = (
            membership_contact_records(
                user,
                (membership,),
                graph.accounts,
                self.member_fields,
                separator=self.member_separator,
                where=self.member_where,
                rollup=context.rollup,
                primary=context.primary,
            )
            if self.members_on
            else []
        )
        links = (
            membership_links(
                user,
                (membership,),
                graph.accounts,
                self.link_properties,
                primary=context.primary,
                where=self.link_where,
                scope=self._scope,
                shared=self._shared_link_properties,
            )
            if self.links_on
            else []
        )
        return None, members, links


def _record_key(record: Record) -> str:
    return record.key


def _distinct_users(graph: Graph, members: list[Record], separator: str) -> int:
    # Keys are "user{sep}account"; a user id may itself contain the separator,
    # so match against the known user ids rather than splitting blindly.
    seen: set[str] = set()
    users = graph.users
    for record in members:
        key = record.key
        start = 0
        while True:
            at = key.find(separator, start)
            if at < 0:
                break
            if key[:at] in users:
                seen.add(key[:at])
                break
            start = at + 1
    return len(seen)


def _graph(dataset_or_graph: Dataset | Graph) -> Graph:
    return dataset_or_graph if isinstance(dataset_or_graph, Graph) else Graph(dataset_or_graph)


def project_destination(
    name: str,
    dataset_or_graph: Dataset | Graph,
    mapping: DestinationMapping,
    capabilities: Capabilities,
    as_of: datetime,
    compile_condition: ConditionCompiler,
) -> DestinationProjection:
    """Everything destination ``name`` receives (see the module doc)."""
    graph = _graph(dataset_or_graph)
    with collection_paused():
        return DestinationProjector(
            name, graph, mapping, capabilities, as_of, compile_condition
        ).project()


def project_user(
    name: str,
    dataset_or_graph: Dataset | Graph,
    mapping: DestinationMapping,
    capabilities: Capabilities,
    as_of: datetime,
    compile_condition: ConditionCompiler,
    user_id: str,
) -> DestinationProjection:
    """Only what touches one user: their contact, membership contacts and links,
    exactly as :func:`project_destination` would give them."""
    graph = _graph(dataset_or_graph)
    return DestinationProjector(
        name, graph, mapping, capabilities, as_of, compile_condition
    ).project_user(user_id)


def project_account(
    name: str,
    dataset_or_graph: Dataset | Graph,
    mapping: DestinationMapping,
    capabilities: Capabilities,
    as_of: datetime,
    compile_condition: ConditionCompiler,
    account_id: str,
) -> DestinationProjection:
    """Only what touches one account: its record, the membership contacts keyed
    with it and the links to it, exactly as :func:`project_destination` would
    give them."""
    graph = _graph(dataset_or_graph)
    return DestinationProjector(
        name, graph, mapping, capabilities, as_of, compile_condition
    ).project_account(account_id)
