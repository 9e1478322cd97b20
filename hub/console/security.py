"""Who may read and act in the console, and proof that a form came from it.

- **Reading** is open on a loopback address (127.0.0.1, ::1) and needs a
  signed-in session (or ``Authorization: Bearer TOKEN``) anywhere else.
- **Acting** (retry, run now) always needs one, and a console token set in the
  environment (``HUB_CONSOLE__TOKEN``): with none, the console only reads.
- **Forms** carry a CSRF token, checked against the ``hub_csrf`` cookie
  (double submit) and the request's ``Origin``; cookies are ``HttpOnly`` and
  ``SameSite=Strict``.
- **Host**: on a loopback address, a request whose ``Host`` is not a loopback
  name is refused (a DNS-rebinding page cannot read the console).

A session cookie holds its issue time and a random id, signed with a key
derived from the token (HMAC-SHA256): it never holds the token, and changing
the token signs every session out.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "Signer",
    "host_allowed",
    "is_loopback",
    "new_csrf",
    "same_token",
]

SESSION_COOKIE = "hub_session"
CSRF_COOKIE = "hub_csrf"
#: A session lasts this long after signing in.
SESSION_SECONDS = 12 * 3600

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """True for a loopback address or name (``127.0.0.1``, ``::1``, ``localhost``)."""
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_allowed(header: str | None, bound_loopback: bool) -> bool:
    """Whether a request's ``Host`` header may be served: any host when the
    console listens beyond loopback (the token guards it), else only loopback
    names."""
    if not bound_loopback:
        return True
    if not header:
        return False
    host = header.strip()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return is_loopback(host)


def same_token(given: str | None, expected: str | None) -> bool:
    """``given`` equals ``expected`` (both set), in constant time."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def new_csrf() -> str:
    """A fresh random CSRF token for the ``hub_csrf`` cookie."""
    return secrets.token_urlsafe(32)


class Signer:
    """Signs and checks session cookies with a key derived from the console token."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._key = hmac.new(token.encode(), b"hub-console-session", hashlib.sha256).digest()

    def bearer(self, header: str | None) -> bool:
        """``Authorization: Bearer TOKEN`` holds the console token."""
        if not header or not header.lower().startswith("bearer "):
            return False
        return same_token(header[7:].strip(), self._token)

    def token_matches(self, given: str | None) -> bool:
        return same_token(given, self._token)

    def _mac(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()

    def session(self, now: float | None = None) -> str:
        """A new session cookie value: ``ISSUED.NONCE.MAC``."""
        issued = int(time.time() if now is None else now)
        body = f"{issued}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._mac(body)}"

    def valid(self, cookie: str | None, now: float | None = None) -> bool:
        """``cookie`` is a session this token signed, and not expired."""
        if not cookie or cookie.count(".") != 2:
            return False
        body, _, mac = cookie.rpartition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            return False
        issued = body.partition(".")[0]
        if not issued.isdigit():
            return False
        age = (time.time() if now is None else now) - int(issued)
        return 0 <= age <= SESSION_SECONDS
