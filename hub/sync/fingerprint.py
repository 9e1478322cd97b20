"""Fingerprints of mapped payloads: how the hub knows a record changed.

A fingerprint is a short stable hash (BLAKE2b, 16 bytes, hex) of the canonical
JSON of a payload: keys sorted at every level, no whitespace, datetimes and
dates as ISO 8601 (naive datetimes taken as UTC), sets as sorted lists,
decimals as strings, enums as their value (:func:`hub.records.jsonable`).
Equal payloads give equal fingerprints whatever the key order; any change of
a value, a key or a type (``1`` vs ``"1"``) gives another one.

The state store keeps the fingerprint of the payload each destination
*accepted*; the planner sends a record again only when its fingerprint
changed. It runs on millions of records, so the common case (plain JSON data
in dicts) goes straight through :func:`json.dumps` in C, with a ``default``
hook only for values JSON does not know.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from hub.records import jsonable

__all__ = ["fingerprint"]

_encoder = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=True,
    allow_nan=True,
    default=jsonable,
)


def _make_encode() -> Callable[[Any], str]:
    # The C encoder, built once (JSONEncoder.encode rebuilds it on every call,
    # half the cost of a fingerprint). Same output as _encoder.encode.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - pure-Python json
        return _encoder.encode
    try:
        iterencode = make(
            None, jsonable, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, True
        )
    except TypeError:  # pragma: no cover - another signature
        return _encoder.encode

    def encode(value: Any) -> str:
        if isinstance(value, str):  # the C encoder wants a container
            return _encoder.encode(value)
        return "".join(iterencode(value, 0))

    return encode


_encode = _make_encode()


def _canonical(payload: Mapping[str, Any]) -> str:
    try:
        return _encode(payload)
    except TypeError:
        # Keys JSON cannot sort among themselves (an int beside a str), or a
        # mapping that is not a dict inside a dict with such keys: normalise
        # the whole payload first (keys become strings, sorted).
        return _encode(jsonable(payload))


def fingerprint(payload: Mapping[str, Any]) -> str:
    """The fingerprint of a mapped payload (32 hex characters)."""
    if not isinstance(payload, dict):
        payload = jsonable(payload)
    return hashlib.blake2b(_canonical(payload).encode("ascii"), digest_size=16).hexdigest()
