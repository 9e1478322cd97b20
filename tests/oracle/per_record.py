"""The oracle: the per-record rules of every projection for one destination.

``hub`` projects with the columnar engine (:mod:`hub.engine.project`); the
tests hold it to these plain per-record rules, byte for byte, records, links,
notices and stats. What a destination receives and refuses is decided for
both by :mod:`hub.projections.destination`.

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

:func:`iter_destination` gives the same thing as a stream of chunks, so that
a consumer (the sync engine) never holds every record at once: account
chunks, then contact chunks, then link chunks, each in the deterministic order
of :class:`~hub.records.DestinationProjection`, then one
:class:`~hub.records.ProjectionSummary` with the notices and stats.
:func:`project_destination` is that stream, collected.

:func:`project_user` and :func:`project_account` compute only what touches
one user or one account (what ``hub inspect`` shows), without projecting the rest.
Everything is deterministic: same input, byte-identical JSON, whatever the
order of the input rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import compress
from operator import attrgetter, itemgetter
from typing import Any, overload

from hub import conditions
from hub.config.mapping import (
    AccountRollup,
    AccountRollupKind,
    PrimaryAccountPolicy,
    RelationshipFieldKind,
)
from hub.config.mapping import (
    Mapping as DestinationMapping,
)
from hub.contract.capabilities import Capabilities, ObjectKind
from hub.getters import fast_getter
from hub.model import Account, Dataset, Membership, User
from hub.projections.account_rollups import rollup_value
from hub.projections.associations import membership_links
from hub.projections.columns import BatchCondition
from hub.projections.destination import (
    DEFAULT_CHUNK_SIZE,
    ProjectionError,
    Sections,
    collect,
    field_references,
    merged_contacts,
    sections,
)
from hub.projections.membership_contacts import membership_contact_records
from hub.projections.notices import (
    NoticeCollector,
    list_notices,
    several_primary_flags,
    unknown_stage,
)
from hub.projections.primary_account import primary_membership
from hub.projections.relationship_fields import (
    RelationshipValue,
    relationship_summary,
)
from hub.projections.resolver import Graph, collection_paused, count_events, window_start
from hub.projections.stages import CHURNED, UNSTAGED, StageRanking
from hub.projections.templates import compile_template
from hub.projections.user_lists import UserList, join_entries, user_list
from hub.records import (
    AccountsChunk,
    ContactsChunk,
    DestinationProjection,
    Link,
    LinksChunk,
    ProjectionChunk,
    ProjectionSummary,
    Record,
    make_link,
    make_record,
)
from hub.references import ALLOWED, Getter, Scope, parse_reference
from hub.values import render, utc

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ConditionCompiler",
    "DestinationProjector",
    "ProjectionError",
    "Sections",
    "collect",
    "iter_destination",
    "merged_contacts",
    "project_account",
    "project_destination",
    "project_user",
    "sections",
]

Predicate = Callable[[Scope], bool]
#: ``compile_condition(text, allowed_namespaces) -> predicate`` (see hub.conditions).
ConditionCompiler = Callable[[str, tuple[str, ...]], Predicate]

#: Work per chunk of :func:`iter_destination`: a chunk of accounts (of users)
#: closes once its accounts (users) plus their memberships reach this.

_PRIMARY_NAMESPACES = ("primary_account", "primary_relationship")
_BUILTINS = {
    "user": ("user_id", "email"),
    "relationship": ("role", "user_id", "account_id"),
}
_user_id_of = attrgetter("user_id")
_account_id_of = attrgetter("account_id")
_first = itemgetter(0)
_NO_LINKS: list[Link] = []
_BATCH_NAMESPACES = frozenset({"user", "account", "relationship"})


@dataclass(frozen=True, slots=True)
class _UserList:
    field: str
    value: Getter
    where: Predicate | None
    order_by: Getter | None
    separator: str
    max_length: int | None
    #: The value reference, as written: lists reading the same one share entries.
    value_text: str
    #: For a built-in ``user.*`` / ``relationship.*`` value: its namespace and
    #: a reader of that object (no scope in between).
    direct: tuple[str, Callable[[Any], Any]] | None


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


@dataclass(frozen=True, slots=True)
class _Task:
    """One chunk of work: a section, its index in the section, and the ids."""

    section: str  # "accounts", "contacts" or "links"
    index: int
    ids: list[str]


def _getters(mapping: Mapping[str, str], location: str) -> dict[str, Getter]:
    return {name: fast_getter(ref) for name, ref in field_references(mapping, location).items()}


@overload
def _getter(text: str, location: str) -> Getter: ...
@overload
def _getter(text: None, location: str) -> None: ...
def _getter(text: str | None, location: str) -> Getter | None:
    return None if text is None else fast_getter(parse_reference(text, ALLOWED[location]))


def _direct(text: str, location: str) -> tuple[str, Callable[[Any], Any]] | None:
    reference = parse_reference(text, ALLOWED[location])
    if reference.attribute in _BUILTINS.get(reference.namespace, ()):
        return reference.namespace, attrgetter(reference.attribute)
    return None


def _chunks(ids: list[str], weight: Callable[[str], int], chunk_size: int) -> list[list[str]]:
    """``ids`` cut into consecutive runs whose weights add up to ``chunk_size``."""
    chunks: list[list[str]] = []
    start = 0
    total = 0
    for i, key in enumerate(ids):
        total += weight(key)
        if total >= chunk_size:
            chunks.append(ids[start : i + 1])
            start = i + 1
            total = 0
    if start < len(ids):
        chunks.append(ids[start:])
    return chunks


def _stage_of(ranking: StageRanking, ranks: list[int]) -> str | None:
    # hub.projections.stages.user_stage, from ranks computed once.
    best = max(ranks) if ranks else UNSTAGED
    if best >= 0:
        return ranking.order[best]
    if best == CHURNED:
        return ranking.churn
    return None


def _highest_stage(memberships: Sequence[Membership], ranks: list[int]) -> Membership:
    # hub.projections.primary_account's ``highest_stage``: non-churned staged
    # (highest first) > unstaged > churned, ties to the first (lowest account id).
    best = max(ranks)
    if best < 0 and UNSTAGED in ranks:
        best = UNSTAGED
    return memberships[ranks.index(best)]


class DestinationProjector:
    """A mapping compiled against one destination's capabilities and a graph.

    Compiles every reference, condition and template once (a condition written
    several times is compiled once, and evaluated once per membership and
    pass); then :meth:`stream` / :meth:`project` compute everything,
    :meth:`project_user` and :meth:`project_account` only what touches one
    user or account.
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
        compiled: dict[tuple[str, tuple[str, ...]], Predicate] = {}
        #: predicate -> its column-wise evaluation, for conditions reading one namespace.
        self._batches: dict[Predicate, BatchCondition] = {}

        def condition(text: str | None, location: str) -> Predicate | None:
            if text is None:
                return None
            key = (text, ALLOWED[location])
            predicate = compiled.get(key)
            if predicate is None:
                predicate = compiled[key] = compile_condition(text, ALLOWED[location])
                if compile_condition is conditions.compile_condition:
                    references = conditions.condition_references(text, ALLOWED[location])
                    namespaces = {r.namespace for r in references}
                    if len(namespaces) == 1 and namespaces <= _BATCH_NAMESPACES:
                        self._batches[predicate] = BatchCondition(
                            predicate, namespaces.pop(), references
                        )
            return predicate

        switches = sections(name, mapping, capabilities)
        self.accounts_on = switches.accounts
        self.users_on = switches.users
        self.members_on = switches.members
        self.links_on = switches.links
        account_max = switches.account_max
        contact_max = switches.contact_max

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
                item.value.strip(),
                _direct(item.value, "accounts.user_lists.value"),
            )
            for item in mapping.accounts.user_lists
        ]
        self.rollups: list[tuple[AccountRollup, Predicate | None]] = [
            (rollup, condition(rollup.where, "accounts.rollups.where"))
            for rollup in mapping.accounts.rollups
        ]

        # users
        user_refs = field_references(mapping.users.fields, "users.fields")
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
        member_refs = field_references(
            mapping.membership_contacts.fields, "membership_contacts.fields"
        )
        self.member_fields = {k: fast_getter(r) for k, r in member_refs.items()}
        self.member_where = condition(
            mapping.membership_contacts.where, "membership_contacts.where"
        )
        self.member_separator = mapping.membership_contacts.separator

        # links
        link_refs = switches.link_properties
        self.link_properties = {k: fast_getter(r) for k, r in link_refs.items()}
        self.link_where = condition(mapping.links.where, "links.where")
        # Link properties that only read the membership are read straight off it:
        # built-ins with one attrgetter, properties from its mapping.
        self.link_direct = all(r.namespace == "relationship" for r in link_refs.values())
        builtins = sorted(
            (name, r.attribute)
            for name, r in link_refs.items()
            if r.attribute in _BUILTINS["relationship"]
        )
        self.link_builtin_names = tuple(name for name, _ in builtins)
        self.link_builtins: Callable[[Membership], Any] | None = (
            attrgetter(*(attribute for _, attribute in builtins)) if builtins else None
        )
        props = sorted(
            (name, r.attribute)
            for name, r in link_refs.items()
            if r.attribute not in _BUILTINS["relationship"]
        )
        self.link_property_names = tuple(name for name, _ in props)
        self.link_property_attributes = tuple(attribute for _, attribute in props)

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
        self.primary_by_rank = (
            self.need_primary and settings.policy == PrimaryAccountPolicy.HIGHEST_STAGE
        )
        self.need_ranks = self.need_stage or self.primary_by_rank
        # value -> rank for the values seen most; anything else takes StageRanking.rank.
        self._rank_table: dict[Any, int] = dict(self.ranking.ranks)
        self._rank_table[None] = UNSTAGED
        self._rank_table[""] = UNSTAGED
        #: a user's best rank -> the rolled-up stage (None for no stage).
        self._stage_names: dict[int | None, str | None] = dict(enumerate(self.ranking.order))
        self._stage_names[CHURNED] = self.ranking.churn
        self.need_accounts_per_user = any(
            item.kind == RelationshipFieldKind.SUMMARY or item.where is not None
            for item in self.relationship_fields
        )
        # Reused across users and accounts: the loops are sequential, and a
        # Scope per membership would be millions of allocations.
        self._scope = Scope()
        self._user_scope = Scope()
        self._account_scope = Scope()
        self._shared_link_properties: dict[tuple[Any, ...], dict[str, Any]] = {}
        #: (rollup index, members) -> the value of a rollup of an account without events.
        self._quiet_rollups: dict[tuple[int, int], Any] = {}
        self._notices = NoticeCollector()
        #: contacts chunk index -> each user's primary membership, for its links chunk.
        self._primaries: dict[int, list[Membership | None]] = {}

    # -- per user --------------------------------------------------------------------

    def _activity(self, membership: Membership) -> int:
        events = self.graph.events_of_pair(membership.user_id, membership.account_id)
        return count_events(events, self.as_of, self.activity_start)

    def _unknown_stage(self, membership: Membership, value: Any) -> None:
        unknown_stage(self._notices, self.ranking.property, value, 1, [membership.key()])

    def _several_flags(self, flagged: Sequence[Membership]) -> None:
        settings = self.primary_settings
        several_primary_flags(
            self._notices, settings.flag_property, settings.fallback, 1, [flagged[0].user_id]
        )

    def _ranks(self, memberships: Sequence[Membership]) -> list[int]:
        """Each membership's stage rank (:meth:`StageRanking.rank`), reporting
        unknown stages when the rolled-up stage is projected."""
        table = self._rank_table
        prop = self.ranking.property
        ranks: list[int] = []
        append = ranks.append
        for membership in memberships:
            try:
                append(table[membership.properties.get(prop)])
            except (KeyError, TypeError):
                append(
                    self.ranking.rank(membership, self._unknown_stage if self.need_stage else None)
                )
        return ranks

    def _context(self, memberships: Sequence[Membership]) -> _UserContext:
        ranks = self._ranks(memberships) if self.need_ranks else None
        primary: Membership | None = None
        if not self.need_primary or not memberships:
            pass
        elif self.primary_by_rank:
            assert ranks is not None
            primary = _highest_stage(memberships, ranks)
        else:
            primary = primary_membership(
                memberships,
                self.primary_settings,
                self.ranking,
                self._activity if self.activity_start is not None else None,
                self._several_flags,
            )
        rollup: dict[str, Any] | None = None
        if self.need_rollup:
            rollup = {
                "account_count": len(memberships),
                "stage": _stage_of(self.ranking, ranks)
                if self.need_stage and ranks is not None
                else None,
            }
        return _UserContext(primary, rollup)

    def _mask(
        self,
        where: Predicate,
        memberships: Sequence[Membership],
        users: Sequence[User | None],
        accounts: Sequence[Account | None],
    ) -> list[bool]:
        """``where`` for each membership, with its user and account (one of
        them the same for all: a user's memberships, or an account's)."""
        batch = self._batches.get(where)
        if batch is not None:
            namespace = batch.namespace
            try:
                return batch.mask(
                    memberships
                    if namespace == "relationship"
                    else accounts
                    if namespace == "account"
                    else users
                )
            except (AttributeError, TypeError):  # a missing object, an unhashable value
                pass
        scope = self._scope
        mask: list[bool] = []
        append = mask.append
        for membership, user, account in zip(memberships, users, accounts, strict=True):
            scope.user = user
            scope.account = account
            scope.relationship = membership
            append(where(scope))
        return mask

    def _any(
        self,
        where: Predicate,
        user: User | None,
        memberships: Sequence[Membership],
        accounts: list[Account | None],
    ) -> bool:
        if where in self._batches:
            return any(self._mask(where, memberships, [user] * len(memberships), accounts))
        scope = self._scope
        scope.user = user
        for membership, account in zip(memberships, accounts, strict=True):
            scope.account = account
            scope.relationship = membership
            if where(scope):
                return True
        return False

    def _summary(
        self,
        item: _RelationshipField,
        user: User | None,
        memberships: Sequence[Membership],
        accounts: list[Account | None],
        mask: list[bool] | None,
    ) -> RelationshipValue:
        separator = item.separator
        if item.order_by is not None or not separator:
            return relationship_summary(
                user,
                memberships,
                self.graph.accounts,
                item.template,
                where=item.where,
                order_by=item.order_by,
                separator=separator,
                max_length=item.max_length,
                scope=self._scope,
            )
        scope = self._scope
        scope.user = user
        template = item.template
        entries: list[str] = []
        append = entries.append
        pairs = zip(memberships, accounts, strict=True)
        for membership, account in pairs if mask is None else compress(pairs, mask):
            scope.account = account
            scope.relationship = membership
            entry = template(scope)
            if entry:
                append(entry)
        return self._joined_summary(item, user, memberships, entries)

    def _joined_summary(
        self,
        item: _RelationshipField,
        user: User | None,
        memberships: Sequence[Membership],
        entries: list[str],
    ) -> RelationshipValue:
        if not entries:
            return RelationshipValue(None, 0, 0, False, ())
        entries.sort()
        separator = item.separator
        text = separator.join(entries)
        if text.count(separator) != len(entries) - 1:
            # Some entry contains the separator: the careful path reports it.
            return relationship_summary(
                user,
                memberships,
                self.graph.accounts,
                item.template,
                where=item.where,
                separator=separator,
                max_length=item.max_length,
                scope=self._scope,
            )
        if item.max_length is None or len(text) <= item.max_length:
            return RelationshipValue(text, len(entries), 0, False, ())
        joined = join_entries(entries, separator, item.max_length)
        return RelationshipValue(joined.value, joined.kept, joined.dropped, joined.marked, ())

    def _user_contact(
        self,
        user_id: str,
        user: User | None,
        memberships: Sequence[Membership],
        context: _UserContext,
    ) -> Record:
        graph = self.graph
        primary = context.primary
        scope = self._user_scope
        scope.user = user
        scope.primary_relationship = primary
        scope.primary_account = None if primary is None else graph.accounts.get(primary.account_id)
        scope.rollup = context.rollup
        fields: dict[str, Any] = {name: get(scope) for name, get in self.user_fields.items()}
        if not self.relationship_fields:
            return make_record(ObjectKind.CONTACT, user_id, fields)
        accounts: list[Account | None] = (
            list(map(graph.accounts.get, map(_account_id_of, memberships)))
            if self.need_accounts_per_user and memberships
            else []
        )
        masks: dict[Predicate, list[bool]] = {}
        for item in self.relationship_fields:
            where = item.where
            kind = item.kind
            if kind == RelationshipFieldKind.COUNT:
                if where is None:
                    fields[item.field] = len(memberships)
                    continue
                mask = masks.get(where)
                if mask is None:
                    mask = masks[where] = self._mask(
                        where, memberships, [user] * len(memberships), accounts
                    )
                fields[item.field] = sum(map(bool, mask))
            elif kind == RelationshipFieldKind.ANY:
                if where is None:
                    fields[item.field] = bool(memberships)
                    continue
                mask = masks.get(where)
                fields[item.field] = (
                    any(mask) if mask is not None else self._any(where, user, memberships, accounts)
                )
            else:
                mask = None
                if where is not None:
                    mask = masks.get(where)
                    if mask is None:
                        mask = masks[where] = self._mask(
                            where, memberships, [user] * len(memberships), accounts
                        )
                summary = self._summary(item, user, memberships, accounts, mask)
                fields[item.field] = summary.value
                if summary.dropped or summary.rejected:
                    self._summary_notices(self._notices, item, user_id, summary)
        return make_record(ObjectKind.CONTACT, user_id, fields)

    def _summary_notices(
        self,
        notices: NoticeCollector,
        item: _RelationshipField,
        user_id: str,
        summary: RelationshipValue,
    ) -> None:
        list_notices(
            notices,
            f"users.relationship_fields.{item.field}",
            user_id,
            summary,
            item.separator,
            item.max_length,
        )

    def _user_members(
        self, user: User | None, memberships: Sequence[Membership], context: _UserContext
    ) -> list[Record]:
        if not (self.members_on and memberships):
            return []
        return membership_contact_records(
            user,
            memberships,
            self.graph.accounts,
            self.member_fields,
            separator=self.member_separator,
            where=self.member_where,
            rollup=context.rollup,
            primary=context.primary,
        )

    def _user_links(
        self, user: User | None, memberships: Sequence[Membership], primary: Membership | None
    ) -> list[Link]:
        if not (self.links_on and memberships):
            return _NO_LINKS
        graph = self.graph
        where = self.link_where
        if not self.link_direct:
            return membership_links(
                user,
                memberships,
                graph.accounts,
                self.link_properties,
                primary=primary,
                where=where,
                scope=self._scope,
                shared=self._shared_link_properties,
            )
        if where is not None:
            accounts = list(map(graph.accounts.get, map(_account_id_of, memberships)))
            memberships = list(
                compress(
                    memberships, self._mask(where, memberships, [user] * len(memberships), accounts)
                )
            )
        shared = self._shared_link_properties
        builtins = self.link_builtins
        attributes = self.link_property_attributes
        links: list[Link] = []
        append = links.append
        for membership in memberships:
            key: tuple[Any, ...] = (
                None if builtins is None else builtins(membership),
                tuple(map(membership.properties.get, attributes)) if attributes else (),
            )
            try:
                # By type and value: 1, 1.0 and True are equal, but not one value.
                typed = _typed(key)
                values = shared.get(typed)
                if values is None:
                    values = shared[typed] = self._link_values(key)
            except TypeError:  # an unhashable value: not shared
                values = self._link_values(key)
            append(
                make_link(membership.user_id, membership.account_id, membership is primary, values)
            )
        return links

    def _link_values(self, key: tuple[Any, ...]) -> dict[str, Any]:
        """The properties of a link from its key: built-ins, then properties."""
        pairs: list[tuple[str, Any]] = []
        names = self.link_builtin_names
        if len(names) == 1:
            pairs.append((names[0], key[0]))
        elif names:
            pairs.extend(zip(names, key[0], strict=True))
        pairs.extend(zip(self.link_property_names, key[1], strict=True))
        pairs.sort(key=_first)
        return dict(pairs)

    def _user_outputs(self, user_id: str) -> tuple[Record | None, list[Record], list[Link]]:
        graph = self.graph
        memberships = graph.memberships_of_user(user_id)
        context = self._context(memberships)
        user = graph.users.get(user_id)
        contact = self._user_contact(user_id, user, memberships, context) if self.users_on else None
        members = self._user_members(user, memberships, context)
        links = self._user_links(user, memberships, context.primary)
        return contact, members, list(links)

    def _account_record(self, account_id: str) -> Record:
        graph = self.graph
        account = graph.accounts[account_id]
        scope = self._account_scope
        scope.account = account
        fields: dict[str, Any] = {name: get(scope) for name, get in self.account_fields.items()}
        if not (self.user_lists or self.rollups):
            return make_record(ObjectKind.ACCOUNT, account_id, fields)
        memberships = graph.memberships_of_account(account_id)
        users: list[User | None] = (
            list(map(graph.users.get, map(_user_id_of, memberships))) if memberships else []
        )
        masks: dict[Predicate, list[bool]] = {}
        entries: dict[str, list[str]] = {}
        for item in self.user_lists:
            where = item.where
            mask = None
            if where is not None:
                mask = masks.get(where)
                if mask is None:
                    mask = masks[where] = self._mask(
                        where, memberships, users, [account] * len(memberships)
                    )
            listed = self._user_list(item, account, memberships, users, entries, mask)
            fields[item.field] = listed.value
            if listed.dropped or listed.rejected:
                self._list_notices(item, account_id, listed)
        quiet = self._quiet_rollups
        for index, (rollup, where) in enumerate(self.rollups):
            members: Sequence[Membership] = memberships
            if where is not None:
                mask = masks.get(where)
                if mask is None:
                    mask = masks[where] = self._mask(
                        where, memberships, users, [account] * len(memberships)
                    )
                members = list(compress(memberships, mask))
            if rollup.kind == AccountRollupKind.USER_COUNT:
                fields[rollup.field] = len(members)
                continue
            events = graph.events_of_account(account_id)
            if not events:
                # Without events a rollup depends on the number of members only.
                key = (index, len(members))
                value = quiet.get(key, quiet)
                if value is quiet:
                    value = quiet[key] = rollup_value(
                        rollup, members, events, self.as_of, filtered=where is not None
                    )
                fields[rollup.field] = value
                continue
            fields[rollup.field] = rollup_value(
                rollup, members, events, self.as_of, filtered=where is not None
            )
        return make_record(ObjectKind.ACCOUNT, account_id, fields)

    def _entries(
        self,
        item: _UserList,
        account: Account,
        memberships: Sequence[Membership],
        users: list[User | None],
    ) -> list[str]:
        """Each membership's rendered list entry (``""`` for none)."""
        raws: list[Any] | None = None
        if item.direct is not None:
            namespace, read = item.direct
            try:
                raws = list(map(read, users if namespace == "user" else memberships))
            except AttributeError:  # a membership whose user is missing
                raws = None
        if raws is None:
            scope = self._scope
            scope.account = account
            value = item.value
            raws = []
            append = raws.append
            for membership, user in zip(memberships, users, strict=True):
                scope.user = user
                scope.relationship = membership
                append(value(scope))
        return [raw if raw.__class__ is str else render(raw) for raw in raws]

    def _user_list(
        self,
        item: _UserList,
        account: Account,
        memberships: Sequence[Membership],
        users: list[User | None],
        cache: dict[str, list[str]],
        mask: list[bool] | None,
    ) -> UserList:
        separator = item.separator
        if item.order_by is not None or not separator:
            return self._careful_list(item, account, memberships)
        entries = cache.get(item.value_text)
        if entries is None:
            entries = cache[item.value_text] = self._entries(item, account, memberships, users)
        selected = list(filter(None, entries if mask is None else compress(entries, mask)))
        if not selected:
            return UserList(None, 0, 0, False, ())
        selected.sort()
        text = separator.join(selected)
        if text.count(separator) != len(selected) - 1:
            # Some entry contains the separator: the careful path reports it.
            return self._careful_list(item, account, memberships)
        if item.max_length is None or len(text) <= item.max_length:
            return UserList(text, len(selected), 0, False, ())
        joined = join_entries(selected, separator, item.max_length)
        return UserList(joined.value, joined.kept, joined.dropped, joined.marked, ())

    def _careful_list(
        self, item: _UserList, account: Account, memberships: Sequence[Membership]
    ) -> UserList:
        return user_list(
            account,
            memberships,
            self.graph.users,
            item.value,
            where=item.where,
            order_by=item.order_by,
            separator=item.separator,
            max_length=item.max_length,
            scope=self._scope,
        )

    def _list_notices(self, item: _UserList, account_id: str, listed: UserList) -> None:
        list_notices(
            self._notices,
            f"accounts.user_lists.{item.field}",
            account_id,
            listed,
            item.separator,
            item.max_length,
        )

    # -- chunks ----------------------------------------------------------------------

    def _tasks(
        self, chunk_size: int, only: tuple[frozenset[str], frozenset[str]] | None = None
    ) -> list[_Task]:
        """Every chunk of work, in output order (with ``only``: of those users'
        and those accounts' records alone)."""
        graph = self.graph
        tasks: list[_Task] = []
        account_ids: Iterable[str] = graph.accounts
        user_ids: Iterable[str] = graph.users
        if only is not None:
            user_ids = [user_id for user_id in only[0] if user_id in graph.users]
            account_ids = [account_id for account_id in only[1] if account_id in graph.accounts]
        if self.accounts_on:
            by_account = graph.memberships_by_account

            def account_weight(account_id: str) -> int:
                return 1 + len(by_account.get(account_id, ()))

            for i, ids in enumerate(_chunks(sorted(account_ids), account_weight, chunk_size)):
                tasks.append(_Task("accounts", i, ids))
        if self.users_on or self.members_on:
            by_user = graph.memberships_by_user

            def user_weight(user_id: str) -> int:
                return 1 + len(by_user.get(user_id, ()))

            user_chunks = _chunks(sorted(user_ids), user_weight, chunk_size)
            tasks.extend(_Task("contacts", i, ids) for i, ids in enumerate(user_chunks))
            if self.links_on:
                tasks.extend(_Task("links", i, ids) for i, ids in enumerate(user_chunks))
        return tasks

    def _run(self, task: _Task) -> tuple[Any, ...]:
        """One chunk's output, and the notices it raised."""
        notices = self._notices = NoticeCollector()
        graph = self.graph
        if task.section == "accounts":
            return [self._account_record(a) for a in task.ids], notices
        if task.section == "links":
            primaries = self._primaries.pop(task.index)
            links: list[Link] = []
            for user_id, primary in zip(task.ids, primaries, strict=True):
                links.extend(
                    self._user_links(
                        graph.users.get(user_id), graph.memberships_of_user(user_id), primary
                    )
                )
            return links, notices
        contacts: list[Record] = []
        members: list[Record] = []
        primaries = []
        for user_id in task.ids:
            memberships = graph.memberships_of_user(user_id)
            context = self._context(memberships)
            user = graph.users.get(user_id)
            if self.users_on:
                contacts.append(self._user_contact(user_id, user, memberships, context))
            if self.members_on and memberships:
                members.extend(self._user_members(user, memberships, context))
            primaries.append(context.primary)
        if self.links_on:
            self._primaries[task.index] = primaries
        return contacts, members, notices

    def _results(self, tasks: list[_Task]) -> Iterator[tuple[Any, ...]]:
        for task in tasks:
            with collection_paused():
                result = self._run(task)
            yield result

    def stream(
        self,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        only: tuple[frozenset[str], frozenset[str]] | None = None,
    ) -> Iterator[ProjectionChunk]:
        """Everything the destination receives, as chunks (see :func:`iter_destination`)."""
        notices = NoticeCollector()
        counts = {"accounts": 0, "user_contacts": 0, "links": 0}
        # Membership contacts sort among user contacts by key: collected, then merged.
        held_contacts: list[Record] = []
        held_members: list[Record] = []
        stats: dict[str, int | float] = {}
        flushed = not self.members_on
        tasks = self._tasks(chunk_size, only)
        for task, result in zip(tasks, self._results(tasks), strict=True):
            notices.merge(result[-1])
            if task.section == "accounts":
                counts["accounts"] += len(result[0])
                yield AccountsChunk(result[0])
            elif task.section == "contacts":
                counts["user_contacts"] += len(result[0])
                if flushed:
                    yield ContactsChunk(result[0])
                else:
                    held_contacts.extend(result[0])
                    held_members.extend(result[1])
            else:
                if not flushed:
                    flushed = True
                    yield from merged_contacts(
                        held_contacts,
                        held_members,
                        self.member_separator,
                        notices,
                        stats,
                        chunk_size,
                    )
                    held_contacts = held_members = []
                counts["links"] += len(result[0])
                yield LinksChunk(result[0])
        if not flushed:
            yield from merged_contacts(
                held_contacts, held_members, self.member_separator, notices, stats, chunk_size
            )
        summary: dict[str, int | float] = dict(counts)
        summary.update(stats)
        summary["contacts"] = counts["user_contacts"] + int(stats.get("membership_contacts", 0))
        yield ProjectionSummary(self.name, notices.notices(), summary)

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
            chunks = list(
                merged_contacts(contacts, members, self.member_separator, notices, stats, 1 << 62)
            )
            contacts = chunks[0].records if chunks else []
        stats["contacts"] = len(contacts)
        return DestinationProjection(self.name, accounts, contacts, links, notices.notices(), stats)

    def project(self) -> DestinationProjection:
        """Everything the destination receives."""
        return collect(self.stream())

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
        members = self._user_members(user, (membership,), context)
        links = self._user_links(user, (membership,), context.primary)
        return None, members, list(links)


def _graph(dataset_or_graph: Dataset | Graph) -> Graph:
    return dataset_or_graph if isinstance(dataset_or_graph, Graph) else Graph(dataset_or_graph)


def iter_destination(
    name: str,
    dataset_or_graph: Dataset | Graph,
    mapping: DestinationMapping,
    capabilities: Capabilities,
    as_of: datetime,
    compile_condition: ConditionCompiler,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    only: tuple[frozenset[str], frozenset[str]] | None = None,
) -> Iterator[ProjectionChunk]:
    """Everything destination ``name`` receives, as a stream of chunks.

    Yields :class:`~hub.records.AccountsChunk` items (every account record,
    sorted by key), then :class:`~hub.records.ContactsChunk` items (every
    contact, sorted by key), then :class:`~hub.records.LinksChunk` items (every
    link, sorted by ``(contact_key, account_key)``), then exactly one
    :class:`~hub.records.ProjectionSummary` (notices and stats, known only at
    the end). Concatenated, the chunks are exactly the lists of
    :func:`project_destination`; a section with nothing to send yields no
    chunk. Chunks are consumed one by one: only the current ones are held
    (membership contacts are the exception: they sort among the user contacts,
    so that section is collected before its first chunk). A chunk of accounts
    (users) holds accounts (users) and their memberships adding up to about
    ``chunk_size``; it is the unit of work, not a destination's batch size.

    ``only = (user_ids, account_ids)`` gives those users' records (contacts,
    membership contacts, links) and those accounts' alone, computed on the
    whole graph, so each is the record the full stream holds (a delta run,
    :mod:`hub.sync.delta`); the summary's stats and notices are of those alone.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    graph = _graph(dataset_or_graph)
    projector = DestinationProjector(name, graph, mapping, capabilities, as_of, compile_condition)
    return projector.stream(chunk_size, only)


def project_destination(
    name: str,
    dataset_or_graph: Dataset | Graph,
    mapping: DestinationMapping,
    capabilities: Capabilities,
    as_of: datetime,
    compile_condition: ConditionCompiler,
) -> DestinationProjection:
    """Everything destination ``name`` receives (see the module doc): the
    stream of :func:`iter_destination`, collected."""
    return collect(
        iter_destination(name, dataset_or_graph, mapping, capabilities, as_of, compile_condition)
    )


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


def _typed(value: Any) -> Any:
    """``value`` with each of its leaves paired with its type (tuples walked)."""
    if type(value) is tuple:
        return tuple(map(_typed, value))
    return (type(value), value)
