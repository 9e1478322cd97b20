"""Everything one destination receives, assembled from the engine's queries.

:func:`project` gives what the per-record rules' ``project_destination``
(``tests/oracle/per_record.py``) gives (the same records, links, notices and
stats, in the same order), from the data set *before* the ``[events]``
rollups, which it computes itself (:func:`hub.engine.events.enrich`):

- accounts, sorted by id: ``fields`` read off the account's columns, then the
  user lists (:func:`hub.engine.user_lists.account_lists`), then the rollups
  (:func:`hub.engine.account_rollups.account_rollup_values`);
- contacts, one per user (those without memberships too), then the membership
  contacts, all sorted by key (:func:`hub.projections.destination.merged_contacts`):
  a user's ``fields`` read the user, the primary membership and account and
  the rollup (:func:`hub.engine.users.user_contexts`), then the relationship
  fields (:func:`hub.engine.summaries.user_summaries` and
  :func:`hub.engine.summaries.membership_counts`);
- links, sorted by contact and account (:mod:`hub.engine.memberships`);
- notices: unknown stages and several primary flags (when a rule reads
  them), truncated lists and summaries, entries holding their separator, and
  the inflation.

Where two entries of a mapping write one field, the later kind wins, as in
the per-record projector. Every section is one query over the whole data set;
:func:`stream` builds the records from its columns a chunk at a time, in the
chunks of the per-record ``iter_destination``, and
:func:`project` collects them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from datetime import datetime
from itertools import repeat
from operator import setitem
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from hub.config.mapping import (
    AccountRollupKind,
    PrimaryAccountPolicy,
    RelationshipFieldKind,
)
from hub.config.mapping import (
    Mapping as DestinationMapping,
)
from hub.config.settings import EventRollup
from hub.contract.capabilities import Capabilities, ObjectKind
from hub.engine.account_rollups import account_rollup_values
from hub.engine.combos import Registered, condition_attributes
from hub.engine.events import enrich
from hub.engine.memberships import (
    MembershipRows,
    attributes,
    contact_records,
    context_joins,
    field_expression,
    field_values,
    link_records,
    membership_contact_rows,
    membership_link_rows,
)
from hub.engine.summaries import membership_counts
from hub.engine.tables import Tables
from hub.engine.user_lists import ListRule, account_lists, user_summaries
from hub.engine.users import UserContexts, relationship_attributes, user_contexts
from hub.model import Dataset
from hub.projections.destination import (
    DEFAULT_CHUNK_SIZE,
    Sections,
    collect,
    field_references,
    merged_contacts,
    sections,
)
from hub.projections.notices import (
    NoticeCollector,
    list_notices,
    several_primary_flags,
    unknown_stage,
)
from hub.projections.stages import StageRanking
from hub.records import (
    AccountsChunk,
    ContactsChunk,
    DestinationProjection,
    LinksChunk,
    ProjectionChunk,
    ProjectionSummary,
    Record,
    make_records,
)
from hub.references import Reference
from hub.sources.frame import Frame

__all__ = ["project", "project_subject", "stream"]

_PRIMARY = frozenset({"primary_account", "primary_relationship"})


def _rule(
    item: Any, default_max: int | None, *, value: str = "user.email", template: str | None = None
) -> ListRule:
    """A list field's or a summary's rule, its ``max_length`` defaulting to the
    destination's string maximum."""
    return ListRule(
        value=value,
        where=item.where,
        order_by=item.order_by,
        separator=item.separator,
        max_length=item.max_length if item.max_length is not None else default_max,
        template=template,
    )


def project(
    name: str,
    dataset: Dataset | Frame,
    mapping: DestinationMapping,
    capabilities: Capabilities,
    as_of: datetime,
    event_rollups: Sequence[EventRollup] = (),
) -> DestinationProjection:
    """Everything destination ``name`` receives (see the module doc): the
    stream of :func:`stream`, collected."""
    return collect(stream(name, dataset, mapping, capabilities, as_of, event_rollups))


def project_subject(
    kind: str,
    subject_id: str,
    name: str,
    dataset: Dataset | Frame,
    mapping: DestinationMapping,
    capabilities: Capabilities,
    as_of: datetime,
    event_rollups: Sequence[EventRollup] = (),
) -> DestinationProjection:
    """Only what touches one ``user`` (their contact, membership contacts and
    links) or one ``account`` (its record, the membership contacts keyed with
    it, the links to it), each exactly as :func:`project` gives it: what
    ``hub inspect`` shows (the per-record ``project_user`` and
    ``project_account`` are the rules it is held to)."""
    if kind not in ("user", "account"):
        raise ValueError(f"a subject is a user or an account, not {kind!r}")
    return collect(
        _stream(
            name,
            dataset,
            mapping,
            sections(name, mapping, capabilities),
            as_of,
            event_rollups,
            chunk_size=DEFAULT_CHUNK_SIZE,
            only=(frozenset({subject_id}), frozenset()) if kind == "user" else None,
            of_account=subject_id if kind == "account" else None,
        )
    )


def stream(
    name: str,
    dataset: Dataset | Frame,
    mapping: DestinationMapping,
    capabilities: Capabilities,
    as_of: datetime,
    event_rollups: Sequence[EventRollup] = (),
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    only: tuple[frozenset[str], frozenset[str]] | None = None,
) -> Iterator[ProjectionChunk]:
    """Everything destination ``name`` receives as the chunks of
    the per-record ``iter_destination``: accounts, contacts,
    links (each at most ``chunk_size`` records, concatenated the same lists),
    then the summary. Records are built a chunk at a time from the queries'
    columns (membership contacts, which sort among the user contacts, are the
    exception: that section is built whole).

    ``only = (user_ids, account_ids)`` gives those users' records (contacts,
    membership contacts, links) and those accounts' alone, each as the whole
    data set gives it, with the stats and notices of those alone (a delta
    run, :mod:`hub.sync.delta`, hands in the part of the data set they reach).
    A mapping the projection refuses raises here, before the first chunk."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    on = sections(name, mapping, capabilities)
    return _stream(
        name, dataset, mapping, on, as_of, event_rollups, chunk_size=chunk_size, only=only
    )


def _stream(
    name: str,
    dataset: Dataset | Frame,
    mapping: DestinationMapping,
    on: Sections,
    as_of: datetime,
    event_rollups: Sequence[EventRollup],
    *,
    chunk_size: int,
    only: tuple[frozenset[str], frozenset[str]] | None,
    of_account: str | None = None,
) -> Iterator[ProjectionChunk]:
    """:func:`stream`; ``of_account``: only that account's record, the
    membership contacts keyed with it and the links to it (each user's context
    still decides their primary and rollup, and raises the notices)."""
    ranking = StageRanking(mapping.stages)
    notices = NoticeCollector()

    account_refs = field_references(mapping.accounts.fields, "accounts.fields")
    user_refs = field_references(mapping.users.fields, "users.fields")
    member_refs = field_references(mapping.membership_contacts.fields, "membership_contacts.fields")
    link_refs = on.link_properties
    account_rules = [
        (item.field, _rule(item, on.account_max, value=item.value))
        for item in mapping.accounts.user_lists
    ]
    summary_rules = [
        (item, _rule(item, on.contact_max, template=item.template))
        for item in mapping.users.relationship_fields
    ]

    # What the user contexts must compute, as the per-record projector decides it.
    read = (list(member_refs.values()) if on.members else []) + (
        list(user_refs.values()) if on.users else []
    )
    need_primary = on.links or any(r.namespace in _PRIMARY for r in read)
    need_stage = any(r.namespace == "rollup" and r.attribute == "stage" for r in read)
    contexts_needed = on.users or on.members

    # The attributes the rules read, for the tables.
    reads: list[Reference] = []
    if on.accounts:
        reads.extend(account_refs.values())
        for _, rule in account_rules:
            reads.extend(rule.references())
        for rollup in mapping.accounts.rollups:
            reads.extend(condition_attributes(rollup.where))
    if on.users:
        reads.extend(user_refs.values())
        for _, rule in summary_rules:
            reads.extend(rule.references())
    if on.members:
        reads.extend(member_refs.values())
        reads.extend(condition_attributes(mapping.membership_contacts.where))
    if on.links:
        reads.extend(link_refs.values())
        reads.extend(condition_attributes(mapping.links.where))
    wanted = attributes(reads)
    relationship = wanted["relationship"]
    if contexts_needed:
        relationship.extend(relationship_attributes(mapping.stages, mapping.primary_account))
    policies = {mapping.primary_account.policy, mapping.primary_account.fallback}
    events_needed = bool(event_rollups) or (
        on.accounts
        and any(r.kind != AccountRollupKind.USER_COUNT for r in mapping.accounts.rollups)
    )
    events_needed = events_needed or (need_primary and PrimaryAccountPolicy.MOST_ACTIVE in policies)
    tables = Tables(
        dataset,
        relationship,
        user=wanted["user"],
        account=wanted["account"],
        events=events_needed,
    )
    # The spill directory goes however the stream ends: consumed, closed
    # early by its consumer, or by an error.
    try:
        if event_rollups:
            enrich(tables, event_rollups, as_of)
        users_of: frozenset[int] | None = None
        # Phantoms (users and accounts only a membership names) get no record.
        real = tables.real_accounts
        accounts_of: list[int] = [a for a in range(len(tables.account_ids)) if real[a]]
        if only is not None:
            users_of = frozenset(
                u for u, x in enumerate(tables.user_ids[: tables.real_users]) if x in only[0]
            )
            accounts_of = [a for a in accounts_of if tables.account_ids[a] in only[1]]
        account_rank: int | None = None
        if of_account is not None:
            accounts_of = [a for a in accounts_of if tables.account_ids[a] == of_account]
            account_rank = accounts_of[0] if accounts_of else -1
            users_of = frozenset(
                row[0]
                for row in tables.connection.execute(
                    "SELECT DISTINCT u FROM m WHERE a = ?", [account_rank]
                ).fetchall()
            )

        contexts: UserContexts | None = None
        if contexts_needed:
            contexts = user_contexts(
                tables, mapping.stages, mapping.primary_account, as_of, noticed=users_of
            )
            if need_stage:
                for unknown in contexts.unknown_stages:
                    unknown_stage(
                        notices, ranking.property, unknown.value, unknown.count, unknown.examples
                    )
            settings = mapping.primary_account
            if need_primary and settings.policy == PrimaryAccountPolicy.EXPLICIT:
                count, examples = contexts.several_flags
                several_primary_flags(
                    notices, settings.flag_property, settings.fallback, count, examples
                )

        if on.accounts:
            columns = _accounts(
                tables, mapping, account_refs, account_rules, as_of, notices, accounts_of
            )
            ids = [tables.account_ids[a] for a in accounts_of]
            for start in range(0, len(ids), chunk_size):
                yield AccountsChunk(
                    _records(ObjectKind.ACCOUNT, ids, columns, start, start + chunk_size)
                )
            del columns
        stats: dict[str, int | float] = {
            "accounts": len(accounts_of) if on.accounts else 0,
            "user_contacts": 0,
            "links": 0,
        }
        user_ids: list[str] = []
        user_columns: dict[str, list[Any]] = {}
        if on.users and of_account is None:
            assert contexts is not None
            user_ids, user_columns = _user_contacts(
                tables, contexts, ranking, user_refs, summary_rules, notices, users_of
            )
            stats["user_contacts"] = len(user_ids)
        if on.members:
            rows = _of_users(
                membership_contact_rows(
                    tables, contexts, member_refs, mapping.membership_contacts.where
                ),
                users_of,
                account_rank,
            )
            members = contact_records(
                tables, rows, separator=mapping.membership_contacts.separator, ranking=ranking
            )
            del rows
            # Membership contacts sort among the user contacts by key: all at once.
            contacts = _records(ObjectKind.CONTACT, user_ids, user_columns, 0, len(user_ids))
            yield from merged_contacts(
                contacts, members, mapping.membership_contacts.separator, notices, stats, chunk_size
            )
        else:
            for start in range(0, len(user_ids), chunk_size):
                yield ContactsChunk(
                    _records(ObjectKind.CONTACT, user_ids, user_columns, start, start + chunk_size)
                )
        del user_columns
        if on.links:
            assert contexts is not None
            rows = _of_users(
                membership_link_rows(tables, contexts, link_refs, mapping.links.where),
                users_of,
                account_rank,
            )
            stats["links"] = rows.table.num_rows
            for start in range(0, rows.table.num_rows, chunk_size):
                yield LinksChunk(link_records(tables, rows.slice(start, chunk_size)))
            del rows
        stats["contacts"] = stats["user_contacts"] + int(stats.get("membership_contacts", 0))
    finally:
        tables.close()
    yield ProjectionSummary(name, notices.notices(), stats)


def _of_users(
    rows: MembershipRows, users_of: frozenset[int] | None, account: int | None = None
) -> MembershipRows:
    """The rows of ``users_of`` (all without), of ``account`` alone when given."""
    table = rows.table
    if users_of is not None:
        table = table.filter(
            pc.is_in(table.column("u"), value_set=pa.array(sorted(users_of), pa.int64()))
        )
    if account is not None:
        table = table.filter(pc.equal(table.column("a"), account))
    return MembershipRows(table, rows.names, rows.references)


def _records(
    kind: ObjectKind, keys: list[str], columns: dict[str, list[Any]], start: int, end: int
) -> list[Record]:
    """The records of ``keys[start:end]``, their fields read off ``columns``
    (in the columns' order: a later kind writing a name keeps its place)."""
    end = min(end, len(keys))
    if any(len(column) != len(keys) for column in columns.values()):
        raise ValueError("a record column does not hold one value per key")
    fields: list[dict[str, Any]] = [{} for _ in range(start, end)]
    # A column at a time, by C-level loops: a third faster than a dict per row.
    for name, column in columns.items():
        deque(map(setitem, fields, repeat(name), column[start:end]), 0)
    return make_records(kind, keys[start:end], fields)


def _accounts(
    tables: Tables,
    mapping: DestinationMapping,
    references: dict[str, Reference],
    rules: list[tuple[str, ListRule]],
    as_of: datetime,
    notices: NoticeCollector,
    positions: list[int],
) -> dict[str, list[Any]]:
    """The fields of the accounts at ``positions`` (in account id order) as columns."""
    ids = [tables.account_ids[a] for a in positions]
    values = tables.values.values
    columns: dict[str, list[Any]] = {}
    if references:
        selected = ", ".join(tables.qualified("account", r.attribute) for r in references.values())
        found = tables.connection.execute(f"SELECT {selected} FROM accounts ORDER BY a").fetchall()
        for i, name in enumerate(references):
            columns[name] = [values[found[a][i]] for a in positions]
    for field, rule in rules:
        listed = account_lists(tables, rule)
        subject = f"accounts.user_lists.{field}"
        column: list[Any] = []
        for account_id in ids:
            found_list = listed.get(account_id)
            column.append(None if found_list is None else found_list.value)
            if found_list is not None:
                list_notices(
                    notices, subject, account_id, found_list, rule.separator, rule.max_length
                )
        columns[field] = column
    for rollup in mapping.accounts.rollups:
        found_values = account_rollup_values(tables, rollup, as_of)
        columns[rollup.field] = [found_values[a] for a in positions]
    return columns


def _user_contacts(
    tables: Tables,
    contexts: UserContexts,
    ranking: StageRanking,
    references: dict[str, Reference],
    rules: list[tuple[Any, ListRule]],
    notices: NoticeCollector,
    users_of: frozenset[int] | None,
) -> tuple[list[str], dict[str, list[Any]]]:
    """The ids and contact fields (as columns) of every user, or of
    ``users_of``, in user id order."""
    names = tuple(references)
    refs = tuple(references.values())
    namespaces = {r.namespace for r in refs}
    connection = tables.connection
    with Registered(connection) as registered:
        registered.add("ctx", contexts.table)
        joins = context_joins(namespaces, "users.u")
        selected = "".join(
            f", {field_expression(tables, reference)} AS f{i}" for i, reference in enumerate(refs)
        )
        table = connection.sql(
            f"SELECT users.u, false AS is_primary{selected} FROM users {' '.join(joins)}"
            " WHERE users.real ORDER BY users.urank"
        ).to_arrow_table()
    rows = _of_users(MembershipRows(table, names, refs), users_of)
    order = rows.table.column("u").to_pylist()
    user_ids = [tables.user_ids[u] for u in order]
    columns = dict(zip(names, field_values(tables, rows, ranking), strict=True))
    for item, rule in rules:
        kind = item.kind
        if kind in (RelationshipFieldKind.COUNT, RelationshipFieldKind.ANY):
            counts = membership_counts(tables, rule.where)
            if kind == RelationshipFieldKind.COUNT:
                columns[item.field] = [counts[u] for u in order]
            else:
                columns[item.field] = [counts[u] > 0 for u in order]
            continue
        summaries = user_summaries(tables, rule, users_of)
        subject = f"users.relationship_fields.{item.field}"
        column: list[Any] = []
        for user_id in user_ids:
            summary = summaries.get(user_id)
            column.append(None if summary is None else summary.value)
            if summary is not None:
                list_notices(notices, subject, user_id, summary, rule.separator, rule.max_length)
        columns[item.field] = column
    return user_ids, columns
