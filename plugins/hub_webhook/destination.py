"""The live webhook destination: one signed JSON POST per batch.

Classification of the receiver's answer:

- ``2xx``: every item ``ok``; an optional JSON body
  ``{"results": [{"key": ..., "id": ..., "error": ...}]}`` gives items their
  destination id, or a per-item ``error`` (``permanent`` for that item,
  ``retryable`` when the entry also says ``"retryable": true``);
- ``408``, ``425``, ``429`` and ``5xx``: every item ``retryable``, with
  ``Retry-After`` (seconds or an HTTP date) honoured and passed to the rate
  budget;
- ``401`` and ``403``: :class:`~hub.contract.destination.FatalDestinationError`, naming
  the secret's environment variable (a wrong secret fails every request);
- any other status: every item ``permanent``, with the status and the start
  of the body;
- connection errors and timeouts: every item ``retryable``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from hub.contract import (
    ActionRequest,
    Batch,
    BatchItem,
    Capabilities,
    DestinationContext,
    FatalDestinationError,
    Operation,
    RateLimit,
    RecordResult,
    env_var_name,
)
from hub_webhook.settings import WebhookSettings
from hub_webhook.signing import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    idempotency_key,
    sign,
)

logger = logging.getLogger(__name__)

#: Statuses that mean "try again later" besides 5xx.
RETRYABLE_STATUSES = frozenset({408, 425, 429})
#: Statuses that mean the receiver refused our credentials.
FATAL_STATUSES = frozenset({401, 403})
#: How much of an error body a result's reason quotes.
EXCERPT_LENGTH = 200
# A Retry-After / reset beyond this many seconds is a Unix time, not a delay.
_EPOCH_THRESHOLD = 1_000_000_000


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _item_json(item: BatchItem) -> dict[str, Any]:
    link = item.link
    return {
        "key": item.key,
        "destination_id": item.destination_id,
        "payload": dict(item.payload),
        "link": None
        if link is None
        else {
            "contact_key": link.contact_key,
            "account_key": link.account_key,
            "contact_id": link.contact_id,
            "account_id": link.account_id,
            "primary": link.primary,
        },
    }


def _canonical(document: Mapping[str, Any]) -> bytes:
    """Canonical, strict JSON: sorted keys, no spaces, no NaN or Infinity, UTF-8
    (a lone surrogate raises :class:`UnicodeEncodeError`, a :class:`ValueError`)."""
    return json.dumps(
        document,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    ).encode("utf-8")


def encode_body(destination: str, batch: Batch, items: Sequence[BatchItem]) -> bytes:
    """The request body of ``batch``: canonical JSON (see :func:`_canonical`)."""
    document = {
        "destination": destination,
        "run_id": batch.run_id,
        "object": batch.object.value,
        "operation": batch.operation.value,
        "items": [_item_json(item) for item in items],
    }
    return _canonical(document)


def content_key(destination: str, batch: Batch, items: Sequence[BatchItem]) -> str:
    """The ``Idempotency-Key`` of a batch: the SHA-256 of its canonical body
    *without* the run id, so the same records with the same content have the
    same key whichever run sends them (a batch re-sent after a crash, a
    ``hub retry``), and a receiver can de-duplicate at-least-once delivery."""
    document = {
        "destination": destination,
        "object": batch.object.value,
        "operation": batch.operation.value,
        "items": [_item_json(item) for item in items],
    }
    return idempotency_key(_canonical(document))


def _display_url(url: str) -> str:
    # The URL without user:password@ and query, fit for logs and reasons.
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - now)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


def instance_capabilities(base: Capabilities, settings: WebhookSettings) -> Capabilities:
    """The type's declaration narrowed to one instance's settings."""
    rate = settings.requests_per_second
    limit = (
        RateLimit(requests=int(rate), per_seconds=1.0)
        if rate >= 1 and rate.is_integer()
        else RateLimit(requests=1, per_seconds=1.0 / rate)
    )
    return base.model_copy(
        update={
            "batch_sizes": {
                operation: min(settings.batch_size, base.batch_size(operation))
                for operation in Operation
            },
            "rate_limit": limit,
        }
    )


class WebhookDestination:
    """POSTs each batch, signed, to the configured URL."""

    def __init__(
        self,
        settings: WebhookSettings,
        context: DestinationContext,
        capabilities: Capabilities,
    ) -> None:
        self.capabilities = instance_capabilities(capabilities, settings)
        self.name = context.name
        self.url = str(settings.url)
        self._display_url = _display_url(self.url)
        # Receivers rate-limit per endpoint: that is the budget's identity.
        self.credential_id = f"webhook:{self._display_url}"
        self._secret = settings.secret
        self._timeout = settings.timeout if settings.timeout is not None else context.timeout
        self._budget = context.budget
        clock = context.extras.get("clock")
        self._clock: Callable[[], float] = clock if callable(clock) else time.time
        self._secret_setting = env_var_name(("destinations", context.name, "settings", "secret"))
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"WebhookDestination({self.name!r}, url={self._display_url!r})"

    def send(self, batch: Batch) -> Sequence[RecordResult]:
        """POST ``batch``; one result per item (see the module's classification)."""
        items, results = self._encodable(batch)
        if not items:
            return results
        body = encode_body(self.name, batch, items)
        key = content_key(self.name, batch, items)
        return results + self._post(body, key, items, batch.operation.value)

    def perform(self, requests_: Sequence[ActionRequest]) -> Sequence[RecordResult]:
        """POST playbook actions as one signed document, like a batch with
        ``"object": "action"`` and ``"operation": "perform"``; each item carries
        its ``action``, ``subject`` and ``payload`` (the action's parameters).
        Answers are classified like a batch's; the same actions have the same
        ``Idempotency-Key``."""
        document = {
            "destination": self.name,
            "object": "action",
            "operation": "perform",
            "items": [
                {
                    "key": request.key,
                    "action": request.action.value,
                    "subject": dict(request.subject),
                    "payload": dict(request.params),
                }
                for request in requests_
            ],
        }
        items = [BatchItem(request.key, {}) for request in requests_]
        try:
            body = _canonical(document)
        except (TypeError, ValueError) as exc:
            return [RecordResult.permanent(i.key, f"action is not JSON: {exc}") for i in items]
        return self._post(body, idempotency_key(body), items, "perform")

    def _post(
        self, body: bytes, key: str, items: list[BatchItem], operation: str
    ) -> list[RecordResult]:
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret.get_secret_value(), timestamp, body),
            IDEMPOTENCY_HEADER: key,
        }
        try:
            response = self._session.post(
                self.url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            )
        except requests.Timeout:
            reason = f"no answer from {self._display_url} within {self._timeout:g}s"
            return [RecordResult.retryable(item.key, reason) for item in items]
        except requests.RequestException as exc:
            reason = f"could not reach {self._display_url}: {type(exc).__name__}"
            return [RecordResult.retryable(item.key, reason) for item in items]
        with response:
            logger.debug(
                "webhook %s: %s %s items -> HTTP %s",
                self.name,
                operation,
                len(items),
                response.status_code,
            )
            self._observe(response.headers)
            return self._classify(response, items)

    def _encodable(self, batch: Batch) -> tuple[list[BatchItem], list[RecordResult]]:
        # One unencodable payload is that record's problem, not its batch's.
        items: list[BatchItem] = []
        results: list[RecordResult] = []
        for item in batch.items:
            try:
                _canonical(_item_json(item))
            except (TypeError, ValueError) as exc:
                results.append(RecordResult.permanent(item.key, f"payload is not JSON: {exc}"))
            else:
                items.append(item)
        return items, results

    def _observe(self, headers: Mapping[str, str]) -> None:
        limit = _int_header(headers, "X-RateLimit-Limit")
        remaining = _int_header(headers, "X-RateLimit-Remaining")
        reset = _int_header(headers, "X-RateLimit-Reset")
        if limit is None and remaining is None and reset is None:
            return
        reset_after: float | None = None
        if reset is not None:
            # Some receivers send seconds until the reset, others its Unix time.
            reset_after = float(reset)
            if reset > _EPOCH_THRESHOLD:
                reset_after = max(0.0, reset - self._clock())
        self._budget.observe(limit=limit, remaining=remaining, reset_after=reset_after)

    def _classify(
        self, response: requests.Response, items: Sequence[BatchItem]
    ) -> list[RecordResult]:
        status = response.status_code
        if 200 <= status < 300:
            return self._accepted(response, items)
        if status in FATAL_STATUSES:
            raise FatalDestinationError(
                f"webhook receiver {self._display_url} refused the request with HTTP {status}: "
                "its signing secret differs from this destination's",
                setting=self._secret_setting,
            )
        if status in RETRYABLE_STATUSES or 500 <= status < 600:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
            if retry_after is not None:
                self._budget.pause(retry_after)
            reason = f"HTTP {status}{self._excerpt(response)}"
            return [RecordResult.retryable(item.key, reason, retry_after) for item in items]
        reason = f"HTTP {status}{self._excerpt(response)}"
        return [RecordResult.permanent(item.key, reason) for item in items]

    def _accepted(
        self, response: requests.Response, items: Sequence[BatchItem]
    ) -> list[RecordResult]:
        answers = _answers(response)
        results: list[RecordResult] = []
        for item in items:
            answer = answers.get(item.key, {})
            error = answer.get("error")
            if error:
                reason = f"receiver: {str(error)[:EXCERPT_LENGTH]}"
                if answer.get("retryable") is True:
                    results.append(RecordResult.retryable(item.key, reason))
                else:
                    results.append(RecordResult.permanent(item.key, reason))
                continue
            answered_id = answer.get("id")
            destination_id = str(answered_id) if answered_id is not None else item.destination_id
            results.append(RecordResult.ok(item.key, destination_id))
        return results

    @staticmethod
    def _excerpt(response: requests.Response) -> str:
        text = " ".join(response.text.split())
        if not text:
            return ""
        if len(text) > EXCERPT_LENGTH:
            text = text[:EXCERPT_LENGTH] + "…"
        return f": {text}"

    def close(self) -> None:
        """Close the HTTP session's connections."""
        self._session.close()


def _answers(response: requests.Response) -> dict[str, dict[str, Any]]:
    # The body is optional: a receiver may answer 2xx with nothing at all.
    if not response.content:
        return {}
    try:
        document = response.json()
    except ValueError:
        return {}
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list):
        return {}
    return {
        str(entry["key"]): entry
        for entry in results
        if isinstance(entry, dict) and entry.get("key") is not None
    }
