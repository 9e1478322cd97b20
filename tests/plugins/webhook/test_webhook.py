"""The webhook destination against a receiver on 127.0.0.1: wire format,
signatures, classification, rate-limit headers, secrecy."""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest
from hub_webhook import CAPABILITIES, WebhookDestination, WebhookSettings, make_webhook
from hub_webhook.signing import sign, verify_signature
from pydantic import ValidationError
from webhook_receiver import SECRET, Receiver, receiver_id

from hub.contract.capabilities import Operation, RateLimit
from hub.contract.destination import (
    BatchItem,
    BatchObject,
    FatalDestinationError,
    LinkEnds,
    Outcome,
    RecordResult,
    link_key,
)
from hub.contract.plugins import load_plugins
from hub.contract.testing import RecordingBudget, make_batch, make_context

NOW = 1_718_000_000.0


def _webhook(
    tmp_path: Path,
    url: str,
    *,
    budget: RecordingBudget | None = None,
    secret: str = SECRET,
    **settings: Any,
) -> WebhookDestination:
    validated = WebhookSettings.model_validate({"url": url, "secret": secret, **settings})
    context = make_context(tmp_path, "events", budget=budget, clock=lambda: NOW)
    return make_webhook(validated, context)


def _contacts(count: int = 2) -> list[BatchItem]:
    return [BatchItem(f"u{i}", {"email": f"u{i}@example.com"}) for i in range(count)]


def _send(destination: WebhookDestination, items: list[BatchItem]) -> dict[str, RecordResult]:
    batch = make_batch(BatchObject.CONTACT, Operation.UPSERT, items, run_id=12)
    return {r.key: r for r in destination.send(batch)}


# -- the wire format -----------------------------------------------------------


def test_a_batch_is_one_signed_json_post(tmp_path: Path, receiver: Receiver) -> None:
    webhook = _webhook(tmp_path, receiver.url)
    ends = LinkEnds("u1", "a1", "c-1", "a-1", primary=True)
    items = [BatchItem(link_key("u1", "a1"), {"role": "Owner"}, None, ends)]
    webhook.send(make_batch(BatchObject.LINK, Operation.LINK, items, run_id=12))
    [request] = receiver.requests
    assert request.document == {
        "destination": "events",
        "run_id": 12,
        "object": "link",
        "operation": "link",
        "items": [
            {
                "key": "u1\ta1",
                "destination_id": None,
                "payload": {"role": "Owner"},
                "link": {
                    "contact_key": "u1",
                    "account_key": "a1",
                    "contact_id": "c-1",
                    "account_id": "a-1",
                    "primary": True,
                },
            }
        ],
    }
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Hub-Timestamp"] == "1718000000"
    # Computed here from the documented recipe, independently of the plugin.
    expected = hmac.new(SECRET.encode(), b"1718000000." + request.body, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature-256"] == f"sha256={expected}"
    # The key is the SHA-256 of the canonical body without its run id.
    content = {k: v for k, v in request.document.items() if k != "run_id"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert headers["Idempotency-Key"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert request.signature_ok


def test_the_same_batch_has_the_same_body_and_idempotency_key(
    tmp_path: Path, receiver: Receiver
) -> None:
    webhook = _webhook(tmp_path, receiver.url)
    _send(webhook, _contacts())
    _send(webhook, _contacts())
    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]


def test_the_same_records_resent_by_another_run_keep_their_idempotency_key(
    tmp_path: Path, receiver: Receiver
) -> None:
    webhook = _webhook(tmp_path, receiver.url)
    for run_id in (12, 13):  # a batch re-sent after a crash comes from a new run
        webhook.send(make_batch(BatchObject.CONTACT, Operation.UPSERT, _contacts(), run_id=run_id))
    changed = [BatchItem("u0", {"email": "changed@example.com"}), *_contacts()[1:]]
    webhook.send(make_batch(BatchObject.CONTACT, Operation.UPSERT, changed, run_id=14))
    first, second, third = receiver.requests
    assert first.document["run_id"] != second.document["run_id"]
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert third.headers["Idempotency-Key"] != first.headers["Idempotency-Key"]


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), "\ud800"], ids=["nan", "inf", "surrogate"]
)
def test_bodies_are_strict_json_and_a_value_json_lacks_fails_alone(
    tmp_path: Path, receiver: Receiver, value: object
) -> None:
    webhook = _webhook(tmp_path, receiver.url)
    results = _send(webhook, [*_contacts(1), BatchItem("bad", {"n": value})])
    assert results["bad"].outcome is Outcome.PERMANENT
    assert results["u0"].outcome is Outcome.OK
    [request] = receiver.requests
    assert b"NaN" not in request.body and b"Infinity" not in request.body
    request.body.decode("utf-8")


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        ("١٧١٨٠٠٠٠٠٠", None),  # Arabic-Indic digits: int() takes them, ASCII does not
        ("1718000000", "sha256=é"),
        ("", None),
        (" 1718000000", None),
        ("-1", None),
    ],
)
def test_verify_signature_is_false_on_any_malformed_header(
    timestamp: str, signature: str | None
) -> None:
    body = b'{"items":[]}'
    good = sign(SECRET, "1718000000", body)
    assert verify_signature(SECRET, timestamp, body, signature or good, now=NOW) is False


def test_verify_signature_refuses_tampering_and_stale_timestamps() -> None:
    body = b'{"items":[]}'
    signature = sign(SECRET, "1718000000", body)
    assert verify_signature(SECRET, "1718000000", body, signature, now=NOW + 10)
    assert not verify_signature(SECRET, "1718000000", body + b" ", signature, now=NOW)
    assert not verify_signature("another-secret-0123456789", "1718000000", body, signature, now=NOW)
    assert not verify_signature(SECRET, "1718000000", body, signature, now=NOW + 301)
    assert not verify_signature(SECRET, "not-a-time", body, signature, now=NOW)


# -- results --------------------------------------------------------------------


def test_ids_and_per_item_errors_come_from_the_response(tmp_path: Path, receiver: Receiver) -> None:
    webhook = _webhook(tmp_path, receiver.url)
    items = [*_contacts(2), BatchItem("u9", {"reject": "email is invalid"})]
    results = _send(webhook, items)
    assert results["u0"] == RecordResult.ok("u0", receiver_id("contact", "u0"))
    assert results["u1"].destination_id == receiver_id("contact", "u1")
    assert results["u9"].outcome is Outcome.PERMANENT
    assert results["u9"].reason == "receiver: email is invalid"


def test_a_per_item_error_marked_retryable_is_retryable(tmp_path: Path, receiver: Receiver) -> None:
    answer = {"results": [{"key": "u0", "error": "row locked", "retryable": True}]}
    receiver.fail_next(200, body=json.dumps(answer).encode())
    results = _send(_webhook(tmp_path, receiver.url), _contacts(2))
    assert results["u0"].outcome is Outcome.RETRYABLE
    assert results["u1"].outcome is Outcome.OK


def test_a_2xx_without_a_body_is_ok_for_every_item_keeping_known_ids(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.fail_next(204)
    items = [BatchItem("u0", {}), BatchItem("u1", {}, destination_id="known-1")]
    results = _send(_webhook(tmp_path, receiver.url), items)
    assert results == {"u0": RecordResult.ok("u0", None), "u1": RecordResult.ok("u1", "known-1")}


def test_a_scheduled_429_is_retryable_with_its_retry_after(
    tmp_path: Path, receiver: Receiver
) -> None:
    budget = RecordingBudget()
    webhook = _webhook(tmp_path, receiver.url, budget=budget)
    receiver.fail_next(429, headers={"Retry-After": "7"}, body=b"slow down")
    first = _send(webhook, _contacts())
    assert {r.outcome for r in first.values()} == {Outcome.RETRYABLE}
    assert {r.retry_after for r in first.values()} == {7.0}
    assert first["u0"].reason == "HTTP 429: slow down"
    assert budget.pauses == [7.0]
    # The schedule is over: the retry goes through.
    second = _send(webhook, _contacts())
    assert {r.outcome for r in second.values()} == {Outcome.OK}


def test_retry_after_as_an_http_date(tmp_path: Path, receiver: Receiver) -> None:
    budget = RecordingBudget()
    when = email.utils.formatdate(NOW + 30, usegmt=True)
    receiver.fail_next(503, headers={"Retry-After": when})
    results = _send(_webhook(tmp_path, receiver.url, budget=budget), _contacts(1))
    assert results["u0"].outcome is Outcome.RETRYABLE
    assert results["u0"].retry_after == pytest.approx(30.0)
    assert budget.pauses == [pytest.approx(30.0)]


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_server_errors_are_retryable(tmp_path: Path, receiver: Receiver, status: int) -> None:
    budget = RecordingBudget()
    receiver.fail_next(status)
    results = _send(_webhook(tmp_path, receiver.url, budget=budget), _contacts())
    assert {(r.outcome, r.retry_after) for r in results.values()} == {(Outcome.RETRYABLE, None)}
    assert budget.pauses == []


def test_other_4xx_are_permanent_with_a_short_excerpt(tmp_path: Path, receiver: Receiver) -> None:
    receiver.fail_next(422, body=b'{"error": "unknown field"}' + b" x" * 500)
    results = _send(_webhook(tmp_path, receiver.url), _contacts())
    reason = results["u0"].reason or ""
    assert {r.outcome for r in results.values()} == {Outcome.PERMANENT}
    assert reason.startswith('HTTP 422: {"error": "unknown field"}')
    assert len(reason) < 220


def test_a_redirect_is_not_followed_and_is_permanent(tmp_path: Path, receiver: Receiver) -> None:
    receiver.fail_next(302, headers={"Location": "http://127.0.0.1:9/elsewhere"})
    results = _send(_webhook(tmp_path, receiver.url), _contacts(1))
    assert results["u0"].outcome is Outcome.PERMANENT
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_fatal_and_name_the_secret_setting(
    tmp_path: Path, receiver: Receiver, status: int
) -> None:
    receiver.fail_next(status)
    with pytest.raises(FatalDestinationError) as raised:
        _send(_webhook(tmp_path, receiver.url), _contacts())
    assert raised.value.setting == "HUB_DESTINATIONS__EVENTS__SETTINGS__SECRET"
    assert "HUB_DESTINATIONS__EVENTS__SETTINGS__SECRET" in str(raised.value)


def test_a_wrong_secret_is_refused_by_the_receiver_and_fatal(
    tmp_path: Path, receiver: Receiver
) -> None:
    webhook = _webhook(tmp_path, receiver.url, secret="not-the-receivers-secret")
    with pytest.raises(FatalDestinationError, match="SETTINGS__SECRET"):
        _send(webhook, _contacts())
    assert receiver.requests[0].signature_ok is False


def test_a_refused_connection_is_retryable(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more.
    results = _send(_webhook(tmp_path, f"http://127.0.0.1:{port}/hook"), _contacts())
    assert {r.outcome for r in results.values()} == {Outcome.RETRYABLE}
    assert "could not reach http://127.0.0.1" in (results["u0"].reason or "")


def test_a_timeout_is_retryable(tmp_path: Path, receiver: Receiver) -> None:
    receiver.fail_next(200, delay=1.0)
    results = _send(_webhook(tmp_path, receiver.url, timeout=0.2), _contacts())
    assert {r.outcome for r in results.values()} == {Outcome.RETRYABLE}
    assert "within 0.2s" in (results["u0"].reason or "")


def test_a_payload_that_is_not_json_fails_alone(tmp_path: Path, receiver: Receiver) -> None:
    items = [BatchItem("u0", {"blob": object()}), *_contacts(2)[1:]]
    results = _send(_webhook(tmp_path, receiver.url), items)
    assert results["u0"].outcome is Outcome.PERMANENT
    assert results["u1"].outcome is Outcome.OK
    assert [i["key"] for i in receiver.requests[0].document["items"]] == ["u1"]


# -- rate limits ---------------------------------------------------------------


def test_rate_limit_headers_are_reported_to_the_budget(tmp_path: Path, receiver: Receiver) -> None:
    budget = RecordingBudget()
    webhook = _webhook(tmp_path, receiver.url, budget=budget)
    receiver.rate_limit_headers = {
        "X-RateLimit-Limit": "100",
        "X-RateLimit-Remaining": "42",
        "X-RateLimit-Reset": "30",
    }
    _send(webhook, _contacts())
    # A reset given as a Unix time becomes seconds from now.
    receiver.rate_limit_headers = {"X-RateLimit-Reset": str(int(NOW) + 12)}
    _send(webhook, _contacts())
    assert budget.observed == [
        {"limit": 100, "remaining": 42, "reset_after": 30.0, "daily_remaining": None},
        {"limit": None, "remaining": None, "reset_after": 12.0, "daily_remaining": None},
    ]


def test_no_rate_limit_headers_means_no_observation(tmp_path: Path, receiver: Receiver) -> None:
    budget = RecordingBudget()
    _send(_webhook(tmp_path, receiver.url, budget=budget), _contacts())
    assert budget.observed == []


# -- settings and capabilities -------------------------------------------------


def test_batch_size_narrows_the_instance_never_the_type(tmp_path: Path) -> None:
    webhook = _webhook(tmp_path, "http://127.0.0.1:9/hook", batch_size=25, requests_per_second=4)
    assert {webhook.capabilities.batch_size(op) for op in Operation} == {25}
    assert webhook.capabilities.rate_limit == RateLimit(requests=4, per_seconds=1.0)
    assert {CAPABILITIES.batch_size(op) for op in Operation} == {1000}
    slow = _webhook(tmp_path, "http://127.0.0.1:9/hook", requests_per_second=0.5)
    assert slow.capabilities.rate_limit == RateLimit(requests=1, per_seconds=2.0)
    assert slow.capabilities.batch_size(Operation.UPSERT) == 100


def test_a_narrowed_batch_is_sent_whole(tmp_path: Path, receiver: Receiver) -> None:
    webhook = _webhook(tmp_path, receiver.url, batch_size=3)
    size = webhook.capabilities.batch_size(Operation.UPSERT)
    results = _send(webhook, _contacts(size))
    assert len(results) == 3 and len(receiver.requests) == 1
    assert len(receiver.requests[0].document["items"]) == 3


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"url": "ftp://127.0.0.1/x", "secret": SECRET}, "url"),
        ({"url": "http://127.0.0.1/x"}, "secret"),
        ({"url": "http://127.0.0.1/x", "secret": "short"}, "secret"),
        ({"url": "http://127.0.0.1/x", "secret": SECRET, "batch_size": 1001}, "batch_size"),
        (
            {"url": "http://127.0.0.1/x", "secret": SECRET, "requests_per_second": 0},
            "requests_per_second",
        ),
    ],
)
def test_invalid_settings_are_refused(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        WebhookSettings.model_validate(settings)
    assert [error["loc"] for error in raised.value.errors()] == [(field,)]


def test_the_type_is_registered_with_its_factory() -> None:
    webhook_type = load_plugins().destinations["webhook"]
    assert webhook_type.settings_model is WebhookSettings
    assert webhook_type.factory is make_webhook
    assert webhook_type.capabilities is CAPABILITIES


# -- the secret stays secret ---------------------------------------------------


def test_the_secret_never_shows(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = WebhookSettings.model_validate({"url": receiver.url, "secret": SECRET})
    webhook = _webhook(tmp_path, receiver.url)
    seen = [repr(settings), str(settings), repr(webhook), str(settings.model_dump())]
    seen += [repr(r) for r in _send(webhook, _contacts()).values()]
    receiver.fail_next(500, body=b"boom")
    seen += [repr(r) for r in _send(webhook, _contacts()).values()]
    receiver.fail_next(401)
    with pytest.raises(FatalDestinationError) as fatal:
        _send(webhook, _contacts())
    seen += [str(fatal.value), repr(fatal.value)]
    with pytest.raises(ValidationError) as invalid:
        WebhookSettings.model_validate({"url": receiver.url, "secret": SECRET[:10]})
    seen.append(str(invalid.value))
    seen.append(caplog.text)
    seen += [json.dumps(r.headers) + r.body.decode() for r in receiver.requests]
    assert "webhook events" in caplog.text  # the logs did say something
    for text in seen:
        assert SECRET not in text and SECRET[:10] not in text
