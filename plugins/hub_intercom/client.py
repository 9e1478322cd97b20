"""Talking to Intercom: one client for the SDK and direct calls, and one error type.

Every request, whether made through python-intercom or directly, goes through
one ``httpx.Client`` that the plugin owns:

- its default headers carry ``Intercom-Version: 2.14`` (python-intercom 5
  sends none unless told, and the workspace's default version would apply)
  and the bearer token;
- its response hook reads ``X-RateLimit-Limit/-Remaining/-Reset`` of *every*
  response, successes included, into the rate budget (the SDK returns parsed
  models, not headers);
- its base URL is the region's (or a test server's).

The SDK (:mod:`intercom`, imported lazily) is used for the typed calls that fit
it: company create-or-update, contact create / update / delete, attaching and
detaching companies, tagging. Three calls go direct, and why:

- **contact search**: the SDK's pager hides each page's response, and its
  filter models do not type an ``IN`` list of strings;
- **data attributes**: the SDK's create model lacks the ``name`` and ``model``
  fields the API requires;
- **company lookup by ``company_id``**: the SDK's answer is an untyped union of
  a company and a list.

Failures become :class:`IntercomError` (status, the ``error.list`` codes and
messages, the headers) or :class:`IntercomUnreachable` (timeouts, connection
errors), whichever path raised them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import SecretStr

from hub_intercom.settings import API_VERSION

if TYPE_CHECKING:
    from intercom import Intercom

T = TypeVar("T")

#: How much of an error message a result's reason quotes.
EXCERPT_LENGTH = 300
# A reset value above this is a Unix time (Intercom's), not a delay.
_EPOCH_THRESHOLD = 1_000_000_000


@dataclass
class IntercomError(Exception):
    """Intercom answered with an error status."""

    status: int
    #: ``errors[].code`` of the ``error.list`` body, in order.
    codes: list[str] = field(default_factory=list)
    #: ``errors[].message``, in order.
    messages: list[str] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        """``HTTP 400 parameter_invalid: message; ...``, without secrets."""
        details = "; ".join(
            f"{code}: {message}" if message else code
            for code, message in zip(self.codes, self.messages, strict=False)
        )
        text = f"HTTP {self.status}" + (f" {details}" if details else "")
        return text if len(text) <= EXCERPT_LENGTH else text[:EXCERPT_LENGTH] + "…"

    def has_code(self, *codes: str) -> bool:
        """True when the body carries one of ``codes``."""
        return any(code in self.codes for code in codes)

    @classmethod
    def from_body(cls, status: int, body: Any, headers: Mapping[str, str]) -> IntercomError:
        """From an ``error.list`` body (a dict, a pydantic model or text)."""
        if hasattr(body, "model_dump"):
            body = body.model_dump()
        codes: list[str] = []
        messages: list[str] = []
        errors = body.get("errors") if isinstance(body, dict) else None
        if isinstance(errors, list):
            for entry in errors:
                if isinstance(entry, Mapping):
                    codes.append(str(entry.get("code") or "error"))
                    messages.append(str(entry.get("message") or ""))
        elif isinstance(body, str) and body.strip():
            codes.append("error")
            messages.append(" ".join(body.split())[:EXCERPT_LENGTH])
        # Case-insensitive: the SDK hands headers over as a plain, lower-cased dict.
        return cls(status, codes, messages, httpx.Headers(dict(headers)))


class IntercomUnreachable(Exception):
    """No answer: a timeout or a connection error (retryable)."""


def token_fingerprint(token: SecretStr) -> str:
    """A short, non-secret identity of a token (keys the shared rate budget)."""
    return hashlib.sha256(token.get_secret_value().encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class RateHeaders:
    """What ``X-RateLimit-*`` said."""

    limit: int | None
    remaining: int | None
    #: Seconds until the window resets.
    reset_after: float | None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


def rate_headers(headers: Mapping[str, str], now: float) -> RateHeaders | None:
    """The rate-limit headers of a response, ``None`` when it has none.
    Intercom's ``X-RateLimit-Reset`` is a Unix time; small values are read as delays."""
    limit = _int_header(headers, "X-RateLimit-Limit")
    remaining = _int_header(headers, "X-RateLimit-Remaining")
    reset = _int_header(headers, "X-RateLimit-Reset")
    if limit is None and remaining is None and reset is None:
        return None
    reset_after: float | None = None
    if reset is not None:
        reset_after = max(0.0, reset - now) if reset > _EPOCH_THRESHOLD else float(reset)
    return RateHeaders(limit, remaining, reset_after)


class IntercomClient:
    """The plugin's connection: the SDK client and direct JSON calls over one ``httpx.Client``.

    :param on_response: called with every response's headers (rate limits).
    """

    def __init__(
        self,
        token: SecretStr,
        base_url: str,
        timeout: float,
        on_response: Callable[[Mapping[str, str]], None],
    ) -> None:
        self.base_url = base_url
        self._on_response = on_response
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            headers={
                "Authorization": f"Bearer {token.get_secret_value()}",
                "Intercom-Version": API_VERSION,
                "Accept": "application/json",
            },
            event_hooks={"response": [self._observe]},
            follow_redirects=False,
        )
        self._token = token
        self._timeout = timeout
        self._sdk: Intercom | None = None

    def __repr__(self) -> str:
        return f"IntercomClient({self.base_url!r})"

    def _observe(self, response: httpx.Response) -> None:
        self._on_response(response.headers)

    @property
    def sdk(self) -> Intercom:
        """The python-intercom client, built on first use (the SDK is imported lazily)."""
        if self._sdk is None:
            from intercom import Intercom

            self._sdk = Intercom(
                token=self._token.get_secret_value(),
                base_url=self.base_url,
                headers={"Intercom-Version": API_VERSION},
                timeout=self._timeout,
                httpx_client=self._http,
            )
        return self._sdk

    def call(self, operation: Callable[[Intercom], T]) -> T:
        """Run one SDK call, raising :class:`IntercomError` or :class:`IntercomUnreachable`."""
        from intercom.core.api_error import ApiError

        try:
            return operation(self.sdk)
        except ApiError as error:
            status = error.status_code if error.status_code is not None else 0
            raise IntercomError.from_body(status, error.body, error.headers or {}) from None
        except httpx.TimeoutException as error:
            raise IntercomUnreachable(f"no answer within {self._timeout:g}s") from error
        except httpx.TransportError as error:
            raise IntercomUnreachable(
                f"could not reach {self.base_url}: {type(error).__name__}"
            ) from error

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """One direct call; the decoded JSON answer (``None`` when empty)."""
        try:
            response = self._http.request(method, path, json=json, params=params)
        except httpx.TimeoutException as error:
            raise IntercomUnreachable(f"no answer within {self._timeout:g}s") from error
        except httpx.TransportError as error:
            raise IntercomUnreachable(
                f"could not reach {self.base_url}: {type(error).__name__}"
            ) from error
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text
        if response.status_code >= 400:
            raise IntercomError.from_body(response.status_code, body, response.headers)
        return body

    def close(self) -> None:
        self._http.close()


def now() -> float:
    """Wall-clock time (``X-RateLimit-Reset`` is a Unix time)."""
    return time.time()
