"""The local outbox destination: JSON Lines files on disk, no account anywhere.

It is the embedded default the README's main job uses: everything the hub
would send to a CRM lands in readable files instead, one file per object kind
and run::

    {directory}/{object}/run-{run_id:06d}.jsonl

each line one item of a batch, compact JSON with its keys sorted::

    {"destination_id":"outbox-3a7bd3e2360a3d29","key":"u1","link":null,"operation":"upsert",
     "payload":{...}}

(``link`` holds the two ends for links). Every batch is flushed and fsynced
before :meth:`OutboxDestination.send` returns, so a record the hub confirms is
on disk. Destination ids are deterministic (``"outbox-"`` and a short hash of
the key), so sending an item again gives it the same id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import orjson
from pydantic import BaseModel, ConfigDict

from hub.contract import (
    Batch,
    BatchItem,
    Capabilities,
    DestinationContext,
    DestinationRegistry,
    DestinationType,
    LinkCapability,
    LinkEnds,
    ObjectCapability,
    ObjectKind,
    Operation,
    RecordResult,
    SyncMode,
    hookimpl,
)

__version__ = "0.1.0"

#: Prefix of the destination ids the outbox makes up.
ID_PREFIX = "outbox-"


class OutboxSettings(BaseModel):
    """Settings of an outbox destination."""

    model_config = ConfigDict(extra="forbid")

    #: Directory the JSON Lines files are written to (relative to hub.toml).
    directory: Path = Path("outbox")


CAPABILITIES = Capabilities(
    objects={
        ObjectKind.ACCOUNT: ObjectCapability(name="accounts"),
        ObjectKind.CONTACT: ObjectCapability(name="contacts"),
    },
    links=LinkCapability(many_to_many=True, carries_properties=True, primary=True),
    batch_sizes={
        Operation.UPSERT: 500,
        Operation.DELETE: 500,
        Operation.LINK: 1000,
        Operation.UNLINK: 1000,
    },
    rate_limit=None,
    sync_modes=frozenset(SyncMode),
)


def outbox_id(key: str) -> str:
    """The deterministic destination id the outbox gives the record ``key``."""
    return ID_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _json_default(value: Any) -> Any:
    # Payloads hold mapped values: dates and decimals are common, anything
    # else unknown is a mapping problem reported for that one record.
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _make_encode() -> Callable[[dict[str, Any]], str]:
    """``json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False,
    separators=(",", ":"), default=_json_default)``, the same text, with the
    C encoder built once instead of on every line (four in ten of a line's
    cost). Payloads are the hub's mapped values, never circular: a structure
    nested past Python's recursion limit fails as one record's
    ``RecursionError``."""
    encoder = json.JSONEncoder(
        ensure_ascii=False,
        sort_keys=True,
        allow_nan=False,
        separators=(",", ":"),
        default=_json_default,
    )
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - pure-Python json
        return encoder.encode
    try:
        iterencode = make(
            None,
            _json_default,
            json.encoder.encode_basestring,
            None,
            ":",
            ",",
            True,
            False,
            False,
        )
    except TypeError:  # pragma: no cover - another signature
        return encoder.encode

    def encode(value: dict[str, Any]) -> str:
        return "".join(iterencode(value, 0))

    return encode


_encode = _make_encode()

#: orjson, with dates, times and dataclasses handed to ``_json_default`` as
#: the standard library's encoder hands them.
_OPTIONS: Final = (
    orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _finite(value: Any) -> bool:
    """False when ``value`` holds a NaN or an infinite float at any depth
    (orjson writes those as ``null``; JSON has no such number)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(map(_finite, value.values()))
    if isinstance(value, list | tuple | set | frozenset):
        return all(map(_finite, value))
    return True


def _json_line(envelope: dict[str, Any], payload: dict[str, Any]) -> bytes:
    """``envelope`` with ``"payload": payload`` as one line of compact JSON,
    keys sorted, in UTF-8.

    orjson writes it (twice as fast as the standard library's encoder): the
    envelope's keys sort before ``payload``, so the payload's text closes the
    line. A line orjson cannot write (an integer beyond 64 bits, a string that
    is not valid Unicode, nesting past 254 levels, a value JSON does not know)
    goes to the standard library's encoder, which writes the same compact text
    or raises as it always did; a payload holding a NaN or an infinite float
    raises :class:`ValueError` (orjson would write ``null``, a value the
    source did not hold)."""
    try:
        body = orjson.dumps(payload, default=_json_default, option=_OPTIONS)
        head = orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return (_encode({**envelope, "payload": payload}) + "\n").encode("utf-8")
    if b"null" in body and not _finite(payload):
        raise ValueError("Out of range float values are not JSON compliant")
    return b"".join((head[:-1], b',"payload":', body, b"}\n"))


def _link_dict(link: LinkEnds) -> dict[str, Any]:
    return {
        "contact_key": link.contact_key,
        "account_key": link.account_key,
        "contact_id": link.contact_id,
        "account_id": link.account_id,
        "primary": link.primary,
    }


class OutboxDestination:
    """A live outbox: appends each batch to its run's JSON Lines file."""

    capabilities: Capabilities = CAPABILITIES

    def __init__(self, settings: OutboxSettings, context: DestinationContext) -> None:
        directory = settings.directory
        if not directory.is_absolute():
            directory = context.base_dir / directory
        #: The resolved directory the files are written to.
        self.directory = directory.resolve()
        self.credential_id = f"outbox:{self.directory}"
        self.name = context.name

    def __repr__(self) -> str:
        return f"OutboxDestination({self.name!r}, directory={str(self.directory)!r})"

    def path(self, batch: Batch) -> Path:
        """The file a batch is appended to."""
        return self.directory / batch.object.value / f"run-{batch.run_id:06d}.jsonl"

    def send(self, batch: Batch) -> Sequence[RecordResult]:
        """Append one line per item, flush and fsync; every item is ``ok``
        unless its payload cannot be written as JSON (``permanent``)."""
        lines: list[bytes] = []
        results: list[RecordResult] = []
        for item in batch.items:
            destination_id = item.destination_id or outbox_id(item.key)
            try:
                lines.append(self._line(batch, item, destination_id))
            except (TypeError, ValueError, RecursionError) as exc:
                results.append(RecordResult.permanent(item.key, f"payload is not JSON: {exc}"))
                continue
            results.append(RecordResult.ok(item.key, destination_id))
        if lines:
            self._append(self.path(batch), b"".join(lines))
        return results

    def _line(self, batch: Batch, item: BatchItem, destination_id: str) -> bytes:
        """One strict JSON line (RFC 8259: no NaN or Infinity, valid UTF-8), or
        :class:`ValueError` / :class:`TypeError` for a payload JSON cannot carry."""
        envelope = {
            "destination_id": destination_id,
            "key": item.key,
            "link": _link_dict(item.link) if item.link is not None else None,
            "operation": batch.operation.value,
        }
        return _json_line(envelope, dict(item.payload))

    def _append(self, path: Path, text: bytes) -> None:
        created = not path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if created:
            # A new file's directory entry must be durable too.
            _fsync_directory(path.parent)

    def close(self) -> None:
        """Nothing to release: every batch is written and synced by :meth:`send`."""


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def read_records(path: Path) -> list[dict[str, Any]]:
    """The lines of one outbox file, parsed (for tests and tools)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def make_outbox(settings: OutboxSettings, context: DestinationContext) -> OutboxDestination:
    """The outbox's :data:`~hub.contract.destination.DestinationFactory`."""
    return OutboxDestination(settings, context)


@hookimpl
def hub_register_destinations(registry: DestinationRegistry) -> None:
    registry.add(
        DestinationType(
            name="outbox",
            capabilities=CAPABILITIES,
            settings_model=OutboxSettings,
            description="JSON Lines files per destination and object, on local disk.",
            factory=make_outbox,
        )
    )
