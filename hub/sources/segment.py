"""Segment-spec calls: a JSON Lines file of ``identify``, ``group`` and ``track`` calls.

- ``identify`` ``{userId, traits, timestamp}`` -> a user; ``traits.email`` is
  the e-mail, the other traits are traits.
- ``group`` ``{userId?, groupId, traits, context.relationship, timestamp}`` ->
  an account (``traits.name`` / ``domain`` / ``stage`` and other traits) and,
  when ``userId`` is there, the membership of that user in that account, whose
  relationship properties are ``context.relationship`` (which must hold
  ``role``).
- ``track`` ``{userId?, event, properties, timestamp, context.groupId?}`` -> an
  event within account ``context.groupId``; with no ``userId`` it is an
  account-level event.

Repeated calls merge instead of being duplicates: all identify calls of one
user, all group calls of one account (its traits) and all group calls of one
(user, account) pair (its relationship properties) are merged in timestamp order
(ties in file order), the later value winning; a ``null`` value removes the
trait. A merged record's location is the line of its first call in the file;
the merged membership needs a ``role`` from any of its calls. Every call needs
a valid ISO 8601 ``timestamp``. Merging happens within one Segment file only: a
user also found in another source is a duplicate like any other.

Quarantined (with the line): a line that is not valid JSON or not an object
(table ``events``), ``identify`` with no ``userId`` ("no userId", also when
only ``anonymousId`` is given), ``group`` with no ``groupId``, ``track`` with
neither ``userId`` nor ``context.groupId`` ("no userId"), ``page``,
``screen``, ``alias`` and other types ("unsupported call type page"), and calls
whose timestamp is missing or bad.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.config.settings import Table
from hub.errors import Problem
from hub.sources import Origin, RowSink, SourceError, parse_timestamp
from hub.sources.lines import BadRow, decode_line, parse_json_line, read_lines
from hub.sources.tables import file_problems

__all__ = ["SegmentSource"]

_SUPPORTED = {"identify": Table.USERS, "group": Table.ACCOUNTS, "track": Table.EVENTS}


@dataclass(slots=True)
class _Merged:
    """The calls of one user, account or membership, merged at the end."""

    first_line: int
    calls: list[tuple[datetime, Mapping[str, Any]]] = field(default_factory=list)

    def merge(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        self.calls.sort(key=lambda call: call[0])  # stable: ties stay in file order
        for _, values in self.calls:
            for key, value in values.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[sys.intern(key)] = value
        return merged


@dataclass(slots=True)
class _Parsed:
    users: dict[str, _Merged] = field(default_factory=dict)
    accounts: dict[str, _Merged] = field(default_factory=dict)
    memberships: dict[tuple[str, str], _Merged] = field(default_factory=dict)
    #: (line, event, timestamp, user_id, account_id, properties)
    events: list[tuple[int, object, object, str | None, str | None, dict[str, Any]]] = field(
        default_factory=list
    )
    #: The attribute names the calls carry, per table (a null value counts: it exists).
    columns: dict[Table, set[str]] = field(
        default_factory=lambda: {table: set() for table in Table}
    )


def _id(value: object) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


class SegmentSource:
    """A file of Segment-spec calls, read once and handed out table by table.

    Its identify and group calls update the users, accounts and memberships
    that table sources hold (traits and relationship properties merged, the
    call's values winning) rather than counting as duplicates.
    """

    updates = True

    def __init__(self, name: str, path: Path, label: str, key: str) -> None:
        self.name = name
        self.path = path
        self.label = label
        self.key = key
        self.origin = Origin(name, label, updates=True)
        self._parsed: _Parsed | None = None

    def check(self) -> list[Problem]:
        return file_problems(self.path, self.label, self.key)

    def close(self) -> None:
        self._parsed = None

    def feed(self, table: Table, sink: RowSink) -> None:
        if self._parsed is None:
            self._parsed = self._parse(sink)
        parsed = self._parsed
        origin = self.origin
        sink.columns(table, parsed.columns[table])
        if table is Table.USERS:
            for user_id, merged in parsed.users.items():
                traits = merged.merge()
                email = traits.pop("email", None)
                sink.user(origin, merged.first_line, user_id, email, traits)
        elif table is Table.ACCOUNTS:
            for account_id, merged in parsed.accounts.items():
                traits = merged.merge()
                name, domain = traits.pop("name", None), traits.pop("domain", None)
                stage = traits.pop("stage", None)
                sink.account(origin, merged.first_line, account_id, name, domain, stage, traits)
        elif table is Table.MEMBERSHIPS:
            for (user_id, account_id), merged in parsed.memberships.items():
                properties = merged.merge()
                role = properties.pop("role", None)
                sink.membership(origin, merged.first_line, user_id, account_id, role, properties)
        else:
            for line, event, timestamp, actor, group, properties in parsed.events:
                sink.event(origin, line, event, timestamp, actor, group, properties)

    def _parse(self, sink: RowSink) -> _Parsed:
        parsed = _Parsed()
        n = 0
        try:
            for n, raw in read_lines(self.path):
                self._call(parsed, sink, n, raw)
        except OSError as error:
            message = f"cannot read the file: {error}"
            problem = Problem(message, file=self.label, line=n + 1, key=self.key)
            raise SourceError(problem) from None
        return parsed

    def _call(self, parsed: _Parsed, sink: RowSink, n: int, raw: bytes) -> None:
        origin = self.origin
        try:
            line = decode_line(raw)
            if line.isspace():
                return
            call = parse_json_line(line)
        except BadRow as bad:
            sink.reject(origin, n, Table.EVENTS, bad.reason)
            return
        if not isinstance(call, dict):
            sink.reject(origin, n, Table.EVENTS, "not a JSON object")
            return
        kind = call.get("type")
        table = _SUPPORTED.get(kind) if isinstance(kind, str) else None
        if table is None:
            sink.reject(origin, n, Table.EVENTS, f"unsupported call type {kind}")
            return
        user_id = _id(call.get("userId"))
        context = call.get("context")
        if not isinstance(context, dict):
            context = {}

        if kind == "track":
            account_id = _id(context.get("groupId"))
            event = call.get("event")
            if user_id is None and account_id is None:
                sink.reject(
                    origin, n, table, "no userId", event if isinstance(event, str) else None
                )
                return
            properties = call.get("properties")
            if properties is None:
                properties = {}
            elif not isinstance(properties, dict):
                sink.reject(origin, n, table, "properties must be an object", user_id)
                return
            values = {sys.intern(k): v for k, v in properties.items() if v is not None}
            parsed.columns[Table.EVENTS].update(properties)
            parsed.events.append((n, event, call.get("timestamp"), user_id, account_id, values))
            return

        if kind == "identify":
            record_id = user_id
            if record_id is None:
                sink.reject(origin, n, table, "no userId")
                return
        else:
            record_id = _id(call.get("groupId"))
            if record_id is None:
                sink.reject(origin, n, table, "missing groupId", user_id)
                return
        traits = call.get("traits")
        if traits is None:
            traits = {}
        elif not isinstance(traits, dict):
            sink.reject(origin, n, table, "traits must be an object", record_id)
            return
        raw_timestamp = call.get("timestamp")
        timestamp = parse_timestamp(raw_timestamp)
        if timestamp is None:
            if raw_timestamp is None or raw_timestamp == "":
                reason = "missing timestamp"
            else:
                reason = f"bad timestamp {raw_timestamp!r}"
            sink.reject(origin, n, table, reason, record_id)
            return

        records = parsed.users if kind == "identify" else parsed.accounts
        merged = records.get(record_id)
        if merged is None:
            merged = records[record_id] = _Merged(n)
        merged.calls.append((timestamp, traits))
        parsed.columns[table].update(traits)

        if kind == "group" and user_id is not None:
            relationship = context.get("relationship")
            if relationship is None:
                relationship = {}
            elif not isinstance(relationship, dict):
                reason = "context.relationship must be an object"
                sink.reject(origin, n, Table.MEMBERSHIPS, reason, f"{user_id}:{record_id}")
                return
            pair = (user_id, record_id)
            membership = parsed.memberships.get(pair)
            if membership is None:
                membership = parsed.memberships[pair] = _Merged(n)
            membership.calls.append((timestamp, relationship))
            parsed.columns[Table.MEMBERSHIPS].update(relationship)
