"""Keeping secrets out of everything the hub writes down.

Error text comes from outside: a destination's HTTP error body may echo the
request (a token, a webhook URL with its key), a database driver may print
its URL. Before such text reaches the state store, a log line or an alert,
:func:`redact` replaces:

- every secret value the process knows (:func:`register`): the plugin
  settings' secret fields, passwords in source and state URLs, alert URLs;
- credentials in any URL (``scheme://user:password@``), Slack webhook paths,
  and URL query parameters named like a credential (``token``, ``key``,
  ``signature``, ...);
- ``Bearer`` / ``Basic`` authorization values and HubSpot private-app tokens.

Registered values are kept in this process only, never written anywhere.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Final

from pydantic import BaseModel, SecretBytes, SecretStr

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "install_log_redaction",
    "redact",
    "register",
    "register_settings",
]

#: What a secret is replaced with.
REDACTED: Final = "[redacted]"

#: Shorter values are not treated as secrets (they would match ordinary words).
_MIN_LENGTH: Final = 6

#: Setting names that hold credentials whatever their type says.
_SECRET_NAMES: Final = re.compile(
    r"(token|secret|password|passwd|api_?key|private_?key|client_?secret|webhook_url|credential)",
    re.IGNORECASE,
)

_PATTERNS: Final = (
    # user:password@ in any URL
    (re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s:@'\"]+:[^/\s@'\"]+@"), rf"\1{REDACTED}@"),
    # Slack incoming webhooks carry their key in the path
    (re.compile(r"(https://hooks\.slack\.com/)[^\s'\"<>]+"), rf"\1{REDACTED}"),
    # credentials in query strings
    (
        re.compile(
            r"([?&](?:access_token|token|api_key|apikey|hapikey|key|secret|client_secret|"
            r"signature|sig|password|code)=)[^&\s'\"<>]+",
            re.IGNORECASE,
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}"), rf"\1 {REDACTED}"),
    (re.compile(r"\bpat-[a-z0-9]{2,4}-[0-9a-f-]{20,}", re.IGNORECASE), REDACTED),
)

_lock = threading.Lock()
_secrets: set[str] = set()
_ordered: tuple[str, ...] = ()


def register(values: Iterable[object]) -> None:
    """Remember secret values to scrub from now on (``SecretStr`` unwrapped)."""
    global _ordered
    added = False
    with _lock:
        for value in values:
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, SecretBytes):
                value = value.get_secret_value().decode("utf-8", "replace")
            if isinstance(value, str) and len(value) >= _MIN_LENGTH and value not in _secrets:
                _secrets.add(value)
                added = True
        if added:
            _ordered = tuple(sorted(_secrets, key=len, reverse=True))


def _secret_values(value: Any, name: str = "") -> Iterable[object]:
    """The secret values inside settings: ``SecretStr`` fields, and strings under
    a credential-like name or holding a URL with a password."""
    if isinstance(value, SecretStr | SecretBytes):
        yield value
    elif isinstance(value, BaseModel):
        for field_name in type(value).model_fields:
            yield from _secret_values(getattr(value, field_name), field_name)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _secret_values(item, str(key))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secret_values(item, name)
    elif isinstance(value, str):
        if _SECRET_NAMES.search(name):
            yield value
        match = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:([^/\s@]+)@", value)
        if match:
            yield match.group(1)


def register_settings(*settings: object) -> None:
    """Register every secret inside ``settings`` (hub settings, a plugin's
    validated settings model, a raw settings mapping)."""
    for item in settings:
        register(_secret_values(item))


def redact(text: str) -> str:
    """``text`` with every known secret and credential-looking value replaced."""
    if not text:
        return text
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER: Final = RedactingFilter()


def install_log_redaction() -> None:
    """Scrub every log record, whichever logger made it (the hub's, a plugin's,
    a vendor SDK's) and whichever handler writes it: records are scrubbed as
    they are made (the log record factory)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "_hub_redacting", False):
        return

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        _FILTER.filter(record)
        return record

    make._hub_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make)
