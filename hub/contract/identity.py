"""Identity chains: how a record new to the hub finds the object a destination
already has (``users.match``, ``accounts.match`` in a mapping).

A plugin gets the chain as :attr:`hub.contract.destination.Batch.match`. For the
records of a batch without a destination id, it looks the chain's next key up
(an e-mail, a domain) and *adopts* a match that holds no other hub record's
key: it writes the hub's key onto the object and answers
:meth:`hub.contract.destination.RecordResult.adopt`, so the object's id is remembered and
it is never created twice. The helpers here keep every plugin's matching alike.
"""

from __future__ import annotations

import re
from typing import Any

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


def normal_email(value: Any) -> str:
    """An e-mail as matched: trimmed, lower case."""
    return str(value or "").strip().lower()


def normal_domain(value: Any) -> str:
    """A domain as matched: lower case, no scheme, ``www.``, port or path
    (``https://www.Acme.com/about`` is ``acme.com``)."""
    text = _SCHEME.sub("", str(value or "").strip().lower())
    text = re.split(r"[/?#:]", text, maxsplit=1)[0]
    return text.removeprefix("www.").strip(".")


def website_variants(domain: str) -> list[str]:
    """The ways a website field commonly holds ``domain`` (for exact-match lookups)."""
    hosts = (domain, f"www.{domain}")
    return [
        *hosts,
        *(
            f"{scheme}://{host}{tail}"
            for scheme in ("http", "https")
            for host in hosts
            for tail in ("", "/")
        ),
    ]
