"""Signing webhook requests, and verifying them on the receiving side.

Every request carries::

    X-Hub-Timestamp: 1718000000
    X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
    Idempotency-Key: <hex SHA-256 of the body without its run id>

A receiver recomputes the HMAC over the *raw* body bytes (before any JSON
parsing), compares it in constant time, and refuses a timestamp too far from
its own clock (a replayed request). :func:`verify_signature` does exactly
that, and is what a Python receiver can import.
"""

from __future__ import annotations

import hashlib
import hmac
import time

#: Header carrying ``sha256=<hex digest>``.
SIGNATURE_HEADER = "X-Hub-Signature-256"
#: Header carrying the Unix time (whole seconds) the request was signed at.
TIMESTAMP_HEADER = "X-Hub-Timestamp"
#: Header carrying the SHA-256 of the batch's content (its body without the run
#: id): the same records with the same content have the same key in any run.
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: How far (seconds) a receiver should accept a timestamp from its own clock.
DEFAULT_TOLERANCE = 300.0


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value for ``body`` signed at ``timestamp``."""
    message = timestamp.encode("ascii") + b"." + body
    return "sha256=" + hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def idempotency_key(body: bytes) -> str:
    """The ``Idempotency-Key`` value of ``body``."""
    return hashlib.sha256(body).hexdigest()


def verify_signature(
    secret: str | bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when ``signature`` signs ``body`` at ``timestamp`` with ``secret``
    and ``timestamp`` is within ``tolerance`` seconds of ``now``.

    Never raises on what a sender controls: a malformed header (non-ASCII,
    not a decimal number, empty, not a string) is simply False."""
    if not isinstance(timestamp, str) or not isinstance(signature, str):
        return False
    if not (timestamp.isascii() and timestamp.isdigit() and signature.isascii()):
        return False
    if not isinstance(body, bytes | bytearray):
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, bytes(body)), signature)
