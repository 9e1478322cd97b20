"""Secrets never stored: an error body that echoes a credential reaches the
state store, ``hub errors``, logs and alerts scrubbed."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Project

from hub.redaction import REDACTED, install_log_redaction, redact, register

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "webhook"))
from test_locks_and_waits import WEBHOOK_TOML
from webhook_receiver import SECRET, Receiver

SLACK = "https://hooks.slack.com/services/T0001/B0002/abcdefghijklmnopqrstuvwx"


@pytest.fixture()
def receiver(monkeypatch: pytest.MonkeyPatch) -> Receiver:
    monkeypatch.setenv("HUB_DESTINATIONS__CRM__SETTINGS__SECRET", SECRET)
    monkeypatch.setenv("HUB_DAEMON__ALERTS__SLACK_WEBHOOK_URL", SLACK)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with Receiver() as running:
        yield running  # type: ignore[misc]


def test_an_echoed_secret_is_stored_and_shown_scrubbed(
    make_project: Callable[..., Project], receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    install_log_redaction()
    project = make_project(hub_toml=WEBHOOK_TOML.replace("{url}", receiver.url))
    echo = (
        f'{{"error": "bad request", "you_sent": {{"secret": "{SECRET}", "notify": "{SLACK}",'
        ' "db": "postgresql://hub:hunter2-pw@db.internal/app",'
        ' "auth": "Bearer abcdef0123456789", "url": "https://api.example/x?token=t0ps3cr3t"}}'
    ).encode()
    for _ in range(20):
        receiver.fail_next(400, body=echo)
    with caplog.at_level(logging.DEBUG):
        result = project.json("sync", code=1)
    assert result["runs"][0]["counts"]["failed"] > 0
    errors = project.hub("errors", "--json")
    assert errors.exit_code == 0
    assert REDACTED in errors.stdout and "bad request" in errors.stdout
    stored = b"".join(
        path.read_bytes() for path in (project.root / ".hub").iterdir() if path.is_file()
    )
    everything = [errors.stdout, result.__repr__(), caplog.text, stored.decode("latin-1")]
    for text in everything:
        for secret in (SECRET, SLACK, "hunter2-pw", "abcdef0123456789", "t0ps3cr3t"):
            assert secret not in text


def test_redact_knows_registered_values_and_credential_shapes() -> None:
    register(["a-registered-secret-value"])
    text = (
        "token a-registered-secret-value; url https://u:p4ss@h/x; hook "
        + SLACK
        + " and ?api_key=zzz9 plus Authorization: Basic dXNlcjpwYXNz and pat-na1-"
        + "0" * 8
        + "-1111-2222-3333-444455556666"
    )
    cleaned = redact(text)
    for secret in ("a-registered-secret-value", "p4ss", "B0002", "zzz9", "dXNlcjpwYXNz", "pat-na1"):
        assert secret not in cleaned
    assert redact("an ordinary message about user u1") == "an ordinary message about user u1"
