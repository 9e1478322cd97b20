"""Alerts: a failed run and a high rejected share are POSTed (JSON, and
Slack's {"text"}), not repeated within repeat_after, followed by a recovery;
an endpoint that is down or failing never raises."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from structlog.testing import capture_logs

from hub.alerts import Alerter
from hub.config.settings import AlertSettings


class Sink:
    """Collects POSTed JSON on 127.0.0.1; answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[str, dict[str, Any]]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sink.received.append((self.path, json.loads(body)))
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> Sink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_failed_run_goes_to_the_webhook_and_to_slack_once_then_recovers() -> None:
    clock = Clock()
    results: list[tuple[str, bool]] = []
    with Sink() as sink:
        settings = AlertSettings(
            webhook_url=sink.url("/alerts"), slack_webhook_url=sink.url("/slack/T0/B0/token")
        )
        alerter = Alerter(settings, clock=clock, on_result=lambda c, ok: results.append((c, ok)))
        sent = alerter.run_finished(
            "crm", "crm", "failed", message="bad credentials", run_id=7, failed=True
        )
        assert [a.kind for a in sent] == ["run_failed"]
        (path, document), (slack_path, slack) = sink.received
        assert path == "/alerts" and slack_path == "/slack/T0/B0/token"
        assert document["kind"] == "run_failed"
        assert document["sync"] == "crm" and document["run_id"] == 7
        assert document["status"] == "failed" and document["message"] == "bad credentials"
        assert document["at"] == "2027-01-15T08:00:00+00:00"
        assert set(slack) == {"text"}
        assert slack["text"] == "hub: sync crm, destination crm: run 7 failed: bad credentials"
        assert results == [("webhook", True), ("slack", True)]

        # The same failure again within repeat_after: not repeated.
        clock.now += 600
        assert alerter.run_finished("crm", "crm", "failed", run_id=8, failed=True) == []
        assert len(sink.received) == 2
        # A good run: one recovery alert; a later good run: nothing.
        recovered = alerter.run_finished("crm", "crm", "succeeded", run_id=9, sent=3, failed=False)
        assert [a.kind for a in recovered] == ["recovered"]
        assert sink.received[-1][1] == {
            "text": "hub: sync crm, destination crm: run 9 succeeded again"
        }
        assert alerter.run_finished("crm", "crm", "succeeded", run_id=10, failed=False) == []
        # Failing again after the recovery alerts at once.
        assert alerter.run_finished("crm", "crm", "failed", run_id=11, failed=True)


@pytest.mark.parametrize(("rejected", "alerted"), [(6, True), (5, False), (0, False)])
def test_the_rejected_share_threshold(rejected: int, alerted: bool) -> None:
    with Sink() as sink:
        alerter = Alerter(AlertSettings(webhook_url=sink.url("/a"), rejected_share=0.05))
        alerter.run_finished(
            "crm", "crm", "partial", run_id=3, rejected=rejected, sent=100, failed=False
        )
        assert bool(sink.received) is alerted
        if alerted:
            document = sink.received[0][1]
            assert document["kind"] == "rejected_share"
            assert document["rejected_share"] == 0.06 and document["threshold"] == 0.05
            assert "6 of 100 records refused (6.0%, over the 5.0% threshold)" in document["text"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_endpoint_down_or_failing_never_raises_nor_logs_its_url() -> None:
    results: list[tuple[str, bool]] = []
    secret_path = "/services/T0/B0/SECRETTOKEN"
    with Sink(status=500) as failing:
        settings = AlertSettings(
            webhook_url=failing.url("/a"),
            slack_webhook_url=f"http://127.0.0.1:{_closed_port()}{secret_path}",
            timeout=2,
        )
        alerter = Alerter(settings, on_result=lambda c, ok: results.append((c, ok)))
        with capture_logs() as logs:
            sent = alerter.run_finished("crm", "crm", "failed", run_id=1, failed=True)
    assert [a.kind for a in sent] == ["run_failed"]
    assert results == [("webhook", False), ("slack", False)]
    assert {entry["event"] for entry in logs} == {"alert.refused", "alert.failed"}
    assert "SECRETTOKEN" not in repr(logs)
