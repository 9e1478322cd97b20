"""Salesforce's error codes, and what each means for a record.

Salesforce answers errors as ``[{"errorCode", "message"}]`` for a whole
request, and as ``{"success": false, "errors": [{"statusCode", "message",
"fields"}]}`` per record in collection results; Bulk API 2.0 puts
``CODE:message`` in a failed row's ``sf__Error``. The classification:

- **retryable**: ``UNABLE_TO_LOCK_ROW`` (another transaction holds the row)
  and the server-side transients below, HTTP 5xx, timeouts;
- **fatal** (the run stops): ``REQUEST_LIMIT_EXCEEDED`` (the org's daily API
  quota is spent), and ``INVALID_SESSION_ID`` after one session refresh;
- **permanent** (kept with the reason): everything else, notably
  ``DUPLICATES_DETECTED`` (a duplicate rule blocked the record) and the
  validation errors ``REQUIRED_FIELD_MISSING``,
  ``FIELD_CUSTOM_VALIDATION_EXCEPTION``, ``INVALID_FIELD``,
  ``STRING_TOO_LONG``, ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hub.contract import RecordResult

#: Per-record codes worth another attempt.
RETRYABLE_CODES = frozenset(
    {
        "UNABLE_TO_LOCK_ROW",
        "SERVER_UNAVAILABLE",
        "REQUEST_RUNNING_TOO_LONG",
        "QUERY_TIMEOUT",
        "TXN_SECURITY_METERING_ERROR",
    }
)
#: Deleting (or unlinking) what is already gone is success.
GONE_CODES = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"})
QUOTA_CODE = "REQUEST_LIMIT_EXCEEDED"
SESSION_CODE = "INVALID_SESSION_ID"
#: How much of a message a reason quotes.
MESSAGE_LENGTH = 300


def error_code(content: Any) -> str | None:
    """The ``errorCode`` of a whole-request error body ``[{"errorCode", "message"}]``."""
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        code = content[0].get("errorCode")
        return str(code) if code is not None else None
    if isinstance(content, Mapping) and content.get("errorCode") is not None:
        return str(content["errorCode"])
    return None


def request_error_text(content: Any) -> str:
    """``CODE: message`` for a whole-request error body (or its start, when not JSON)."""
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        first = content[0]
        fields = first.get("fields")
        where = f" (fields: {', '.join(map(str, fields))})" if fields else ""
        return f"{first.get('errorCode', 'ERROR')}: {first.get('message', '')}{where}"[
            :MESSAGE_LENGTH
        ]
    text = " ".join(str(content).split())
    return text[:MESSAGE_LENGTH]


def record_errors_text(errors: Sequence[Mapping[str, Any]]) -> str:
    """``CODE: message (fields: A, B)`` for each error of one record, joined."""
    parts: list[str] = []
    for error in errors:
        fields = error.get("fields") or []
        where = f" (fields: {', '.join(map(str, fields))})" if fields else ""
        parts.append(f"{error.get('statusCode', 'ERROR')}: {error.get('message', '')}{where}")
    return "; ".join(parts)[:MESSAGE_LENGTH] or "Salesforce refused the record"


def record_codes(errors: Sequence[Mapping[str, Any]]) -> set[str]:
    return {str(error.get("statusCode", "")) for error in errors}


def classify_record(key: str, errors: Sequence[Mapping[str, Any]]) -> RecordResult:
    """The result of a record Salesforce refused, from its ``errors``."""
    reason = record_errors_text(errors)
    codes = record_codes(errors)
    if codes and codes <= RETRYABLE_CODES:
        return RecordResult.retryable(key, reason)
    return RecordResult.permanent(key, reason)


def classify_bulk_error(key: str, sf_error: str) -> RecordResult:
    """The result of a Bulk API 2.0 failed row from its ``sf__Error`` (``CODE:message``)."""
    code, _, message = sf_error.partition(":")
    code = code.strip()
    reason = f"{code}: {message.strip()}"[:MESSAGE_LENGTH] if message else sf_error[:MESSAGE_LENGTH]
    if code in RETRYABLE_CODES:
        return RecordResult.retryable(key, reason)
    return RecordResult.permanent(key, reason or "Salesforce refused the record")
