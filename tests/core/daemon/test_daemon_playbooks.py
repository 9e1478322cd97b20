"""The daemon runs the playbooks after each successful scheduled sync, and
each action goes out once however many runs follow."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from daemon_support import make_project, wait_until

from hub.daemon import Daemon

PLAYBOOK = """
entry = "account.stage == 'Trial' and account.conversion_score > 0.75"
goal = "account.stage == 'Customer'"
timeout = "21d"

[[actions]]
destination = "slack"
action = "send_message"
text = "New PQA: {{ account.name }}"
"""


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """A local stand-in for a Slack incoming webhook, collecting what it gets."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv(
        "HUB_DESTINATIONS__SLACK__SETTINGS__WEBHOOK_URL",
        f"http://127.0.0.1:{server.server_address[1]}/services/T/B/secret",
    )
    yield received
    server.shutdown()
    server.server_close()


def test_the_daemon_runs_playbooks_after_its_syncs_and_acts_once(
    tmp_path: Path, slack: list[dict[str, Any]]
) -> None:
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "pqa.toml").write_text(PLAYBOOK)
    config = make_project(
        tmp_path,
        '[destinations.slack]\ntype = "slack"\n'
        '[playbooks]\npaths = ["playbooks/*.toml"]\n'
        '[schedules.crm]\ndestinations = ["crm"]\ninterval = "100ms"\n'
        '[daemon]\nlisten = ""\nstop_timeout = "10s"\n',
    )
    daemon = Daemon(config, install_signals=False)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: daemon.syncs["crm"].runs >= 4, 30, "four scheduled runs")
    finally:
        daemon.request_stop()
        thread.join(timeout=15)
    assert not thread.is_alive()
    texts = sorted(body["text"] for body in slack)
    # Tesla (0.82) and Neuralink (0.91) qualify, xAI (exactly 0.75) does not;
    # each message once, although the playbooks ran after every sync.
    assert texts == ["New PQA: Neuralink", "New PQA: Tesla"]
