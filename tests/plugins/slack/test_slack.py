"""The Slack plugin against a local incoming-webhook server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hub_slack import CAPABILITIES, SlackSettings, make_slack

from hub.contract.actions import ActionRequest, perform
from hub.contract.capabilities import Action
from hub.contract.destination import DestinationContext, FatalDestinationError, Outcome
from hub.contract.plugins import load_plugins
from hub.contract.testing import RecordingBudget


class Hook:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = hook.statuses.pop(0) if hook.statuses else 200
                if status == 200:
                    hook.bodies.append(body)
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"invalid_payload")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T/B/secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hook]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    running = Hook()
    yield running
    running.close()


def _slack(url: str, tmp_path: Path) -> Any:
    context = DestinationContext("slack", tmp_path, RecordingBudget(), timeout=5.0)
    return make_slack(SlackSettings.model_validate({"webhook_url": url}), context)


def test_slack_is_registered_as_an_action_only_type() -> None:
    slack = load_plugins().destinations["slack"]
    assert slack.capabilities.objects == {}
    assert slack.capabilities.actions == {Action.SEND_MESSAGE}
    assert CAPABILITIES.actions == {Action.SEND_MESSAGE}


def test_messages_are_posted_and_classified(hook: Hook, tmp_path: Path) -> None:
    slack = _slack(hook.url, tmp_path)
    requests = [
        ActionRequest(Action.SEND_MESSAGE, "slack", "k1", {}, {"text": "Tesla is a PQA"}),
        ActionRequest(Action.SEND_MESSAGE, "slack", "k2", {}, {"text": "again"}),
        ActionRequest(Action.ADD_TO_LIST, "slack", "k3", {}, {"list_id": "1"}),
    ]
    hook.statuses = [200, 500]
    results = perform(slack, requests)
    assert hook.bodies == [{"text": "Tesla is a PQA"}]
    assert results["k1"].outcome is Outcome.OK
    assert results["k2"].outcome is Outcome.RETRYABLE
    # Refused by the core before the plugin is called, naming the capability.
    assert results["k3"].outcome is Outcome.PERMANENT
    assert "actions.add_to_list" in (results["k3"].reason or "")
    assert "secret" not in repr(slack)
    hook.statuses = [404]
    with pytest.raises(FatalDestinationError) as raised:
        slack.perform(requests[:1])
    assert raised.value.setting == "HUB_DESTINATIONS__SLACK__SETTINGS__WEBHOOK_URL"
    slack.close()
