"""HTTP to HubSpot: one request at a time, every answer classified the same way.

The batch endpoints are called with ``requests`` rather than through
hubspot-api-client's generated batch APIs: the SDK turns a 207 into a model
whose errors lose their ``context`` lists (where HubSpot names the
``objectWriteTraceId`` of a failed input) unless every model is read back
with ``to_dict()``, and its rate-limit headers only reach the caller through
``*_with_http_info``. The playbook actions (:mod:`hub_hubspot.actions`), one
call each, go through the SDK.

How an answer is classified (:func:`raise_for_status`):

============================  =================================================
HubSpot answers               the hub makes of it
============================  =================================================
2xx (207 included)            handed back; 207's per-input errors are read by
                              the caller
401                           fatal, naming ``HUB_DESTINATIONS__<NAME>__SETTINGS__TOKEN``
403                           fatal (the token lacks a scope), naming the token too
429 ``TEN_SECONDLY_ROLLING``  retryable after ``Retry-After`` or the window
429 ``DAILY``                 fatal: the daily quota is spent until midnight
423 (locked), 477             retryable (HubSpot says: retry after a short wait)
(migration), 408, 5xx, a
timeout, no connection
other 4xx                     permanent, in HubSpot's words
============================  =================================================
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from hub.contract import DestinationContext, FatalDestinationError, RateBudget, env_var_name
from hub_hubspot.settings import HubSpotSettings

logger = logging.getLogger(__name__)

#: Statuses HubSpot documents as "try again shortly".
RETRYABLE_STATUSES = frozenset({408, 423, 477})
#: How much of an error message a reason quotes.
EXCERPT_LENGTH = 300
#: The rolling window HubSpot counts requests over, when its headers do not say.
DEFAULT_INTERVAL = 10.0
#: How a 409 CONFLICT names the record that already has the unique value.
_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")


class RetryableBatchError(Exception):
    """The whole request failed in a way worth retrying (429, 423, 477, 5xx, timeouts)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentBatchError(Exception):
    """HubSpot refused the whole request as invalid (a 4xx other than the above).

    ``status`` is the HTTP status (0 when the refusal is the hub's own) and
    ``existing_id`` the record a 409 CONFLICT names ("Contact already exists.
    Existing ID: N")."""

    def __init__(
        self,
        reason: str,
        status: int = 0,
        existing_id: str | None = None,
        invalid: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.existing_id = existing_id
        #: What a 400 "Property values were not valid: [...]" lists: (property, message).
        self.invalid = invalid


@dataclass(frozen=True, slots=True)
class Answer:
    """A 2xx answer."""

    status: int
    document: Any


def credential_id(token: str) -> str:
    """A non-secret identity of a token: destinations sharing it share a budget."""
    return "hubspot:" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:12]


def error_message(text: str | bytes | None) -> str:
    """HubSpot's own words from an error body (``message`` and the details' messages)."""
    if not text:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        flat = " ".join(text.split())
        return flat[:EXCERPT_LENGTH]
    parts = [str(document.get("message") or "")]
    for detail in document.get("errors") or []:
        if isinstance(detail, dict) and detail.get("message"):
            parts.append(str(detail["message"]))
    message = "; ".join(part for part in parts if part)
    return message[:EXCERPT_LENGTH]


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def observe_headers(budget: RateBudget, headers: Mapping[str, str]) -> None:
    """Report ``X-HubSpot-RateLimit-*`` to the budget.

    ``-Max`` narrows the window's allowance and ``-Daily-Remaining`` replaces the
    local count of the daily quota. ``-Remaining`` is not passed on: the budget's
    own sliding window mirrors HubSpot's rolling one request for request, and
    "0 left, reset in a whole interval" would hold it back up to a window longer
    than HubSpot does; a 429 from someone else's use of the token still pauses it.
    """
    limit = _number(headers, "X-HubSpot-RateLimit-Max")
    daily_remaining = _number(headers, "X-HubSpot-RateLimit-Daily-Remaining")
    if limit is None and daily_remaining is None:
        return
    budget.observe(
        limit=int(limit) if limit is not None else None,
        daily_remaining=int(daily_remaining) if daily_remaining is not None else None,
    )


def raise_for_status(
    status: int,
    headers: Mapping[str, str],
    body: str | bytes | None,
    *,
    budget: RateBudget,
    token_setting: str,
) -> None:
    """Raise what a non-2xx answer means (see the module's table); return on 2xx."""
    if 200 <= status < 300:
        return
    message = error_message(body)
    if status == 401:
        raise FatalDestinationError(
            f"HubSpot refused the private app token (HTTP 401: {message or 'unauthorized'})",
            setting=token_setting,
        )
    if status == 403:
        raise FatalDestinationError(
            f"HubSpot refused the request with HTTP 403, the private app lacks a scope: {message}",
            setting=token_setting,
        )
    if status == 429:
        policy = _policy(body)
        if policy == "DAILY":
            raise FatalDestinationError(
                "the HubSpot account's daily API quota is spent (429 DAILY); "
                "it resets at midnight in the account's time zone"
            )
        retry_after = _number(headers, "Retry-After")
        if retry_after is None:
            # HubSpot sends no Retry-After here. The budget's sliding window already
            # paces requests like HubSpot's rolling one, so a ten-secondly 429 means
            # a request arrived a little early (latency) or another client shares
            # the token: a tenth of the window frees slots without idling a whole one.
            interval = _number(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
            retry_after = (interval / 1000.0 if interval else DEFAULT_INTERVAL) / 10
        budget.pause(retry_after)
        raise RetryableBatchError(
            f"HTTP 429 {policy or 'rate limit'}: {message or 'too many requests'}", retry_after
        )
    if status in RETRYABLE_STATUSES or 500 <= status < 600:
        retry_after = _number(headers, "Retry-After")
        if retry_after is not None:
            budget.pause(retry_after)
        what = {423: "locked", 477: "migration in progress"}.get(status, "")
        label = f"HTTP {status}{' ' + what if what else ''}"
        raise RetryableBatchError(f"{label}: {message}" if message else label, retry_after)
    existing = _EXISTING_ID.search(message) if status == 409 else None
    raise PermanentBatchError(
        f"HTTP {status}: {message}" if message else f"HTTP {status}",
        status,
        existing[1] if existing else None,
        invalid_properties(body) if status == 400 else (),
    )


def invalid_properties(body: str | bytes | None) -> tuple[tuple[str, str], ...]:
    """``(property, message)`` of each value a 400 "Property values were not valid:
    [{...}]" names (HubSpot puts the list, as JSON, in the error's message)."""
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        return ()
    text = str(document.get("message") or "") if isinstance(document, dict) else ""
    start = text.find("[")
    if not text.startswith("Property values were not valid") or start < 0:
        return ()
    try:
        listed = json.loads(text[start:])
    except ValueError:
        return ()
    return tuple(
        (str(entry["name"]), str(entry.get("message") or ""))
        for entry in listed
        if isinstance(entry, dict) and entry.get("name")
    )


def _policy(body: str | bytes | None) -> str:
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        return ""
    return str(document.get("policyName") or "") if isinstance(document, dict) else ""


class HubSpotClient:
    """JSON requests to HubSpot's API with the token, classified on the way back."""

    def __init__(self, settings: HubSpotSettings, context: DestinationContext) -> None:
        self._base_url = settings.base_url.rstrip("/")
        self._token = settings.token
        self._timeout = settings.timeout if settings.timeout is not None else context.timeout
        self.budget = context.budget
        self.token_setting = env_var_name(("destinations", context.name, "settings", "token"))
        self.credential_id = credential_id(settings.token.get_secret_value())
        self._session = requests.Session()
        #: Requests the engine already acquired for the batch in hand.
        self._prepaid = 0
        #: Requests sent (for the benchmark and tests).
        self.sent = 0

    def __repr__(self) -> str:
        return f"HubSpotClient({self._base_url!r})"

    @property
    def base_url(self) -> str:
        return self._base_url

    def prepaid(self, requests_: int = 1) -> None:
        """The engine acquired ``requests_`` for the batch about to be sent."""
        self._prepaid = requests_

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Answer:
        """Send one request; a 2xx is returned, anything else raised (see the module)."""
        if self._prepaid > 0:
            self._prepaid -= 1
        else:
            self.budget.acquire(1)
        headers = {
            "Authorization": f"Bearer {self._token.get_secret_value()}",
            "Accept": "application/json",
        }
        data: bytes | None = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        self.sent += 1
        try:
            response = self._session.request(
                method,
                self._base_url + path,
                data=data,
                params=params,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise RetryableBatchError(
                f"no answer from HubSpot within {self._timeout:g}s ({method} {path})"
            ) from exc
        except requests.RequestException as exc:
            raise RetryableBatchError(
                f"could not reach HubSpot: {type(exc).__name__} ({method} {path})"
            ) from exc
        with response:
            logger.debug("hubspot %s %s -> HTTP %s", method, path, response.status_code)
            observe_headers(self.budget, response.headers)
            raise_for_status(
                response.status_code,
                response.headers,
                response.content,
                budget=self.budget,
                token_setting=self.token_setting,
            )
            document = response.json() if response.content else None
            return Answer(response.status_code, document)

    def close(self) -> None:
        self._session.close()
