"""The web console on ``hub daemon``'s port, under ``/console``: beside
``/healthz`` and ``/metrics``, reading the runs the daemon itself made, and off
(with the reason logged) when the port is beyond loopback with no token."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

from daemon_support import DaemonProcess, http_get, make_project, wait_until

SCHEDULE = """
[schedules.crm]
destinations = ["crm"]
interval = "1h"

[daemon]
listen = "{listen}"
"""


def _loopback(daemon: DaemonProcess, path: str) -> str:
    """``path`` on the daemon's port, asked for on 127.0.0.1 whatever it listens on."""
    port = daemon.wait_for("daemon.started")["listen"].rpartition(":")[2]
    return f"http://127.0.0.1:{port}{path}"


def test_the_console_is_served_beside_health_and_metrics(tmp_path: Path) -> None:
    config = make_project(tmp_path, SCHEDULE.format(listen="127.0.0.1:0"))
    with DaemonProcess(config, tmp_path / "daemon.log") as daemon:
        finished = daemon.wait_for("run.finished", timeout=60)
        run_id = finished["run_id"]
        wait_until(lambda: http_get(_loopback(daemon, "/healthz"))[0] == 200, 10, "healthy")
        status, body = http_get(_loopback(daemon, "/metrics"))
        assert status == 200 and b"hub_" in body

        status, body = http_get(_loopback(daemon, "/console/"))
        page = body.decode()
        assert status == 200, page
        assert "crm" in page and "every 1h" in page
        # Every link is a path under /console (or this page's own JSON), never
        # an absolute URL a proxy in front would break.
        links = re.findall(r'href="([^"]+)"', page)
        assert "/console/runs" in links
        assert [link for link in links if not link.startswith(("/console/", "?"))] == []

        status, body = http_get(_loopback(daemon, "/console/runs?format=json"))
        runs = json.loads(body)["runs"]
        assert status == 200 and [run["run_id"] for run in runs] == [run_id]
        assert runs[0]["status"] == "succeeded" and runs[0]["destination"] == "crm"
        status, body = http_get(_loopback(daemon, f"/console/runs/{run_id}"))
        assert status == 200 and f"Run #{run_id}: crm" in body.decode()

        status, body = http_get(_loopback(daemon, "/nowhere"))
        assert status == 404 and b"/console/" in body
        code, _ = daemon.stop(signal.SIGTERM)
        assert code == 0


def test_beyond_loopback_without_a_token_the_console_is_off(tmp_path: Path) -> None:
    config = make_project(tmp_path, SCHEDULE.format(listen="0.0.0.0:0"))
    env = {key: "" for key in ("HUB_CONSOLE__TOKEN",)}
    with DaemonProcess(config, tmp_path / "daemon.log", env=env) as daemon:
        off = daemon.wait_for("console.off")
        assert "beyond this machine, with no token" in off["reason"]
        assert "HUB_CONSOLE__TOKEN" in off["hint"]
        status, _ = http_get(_loopback(daemon, "/console/"))
        assert status == 404
        status, _ = http_get(_loopback(daemon, "/healthz"))
        assert status in (200, 503)
        code, _ = daemon.stop(signal.SIGTERM)
        assert code == 0


def test_beyond_loopback_with_a_token_reading_needs_signing_in(tmp_path: Path) -> None:
    config = make_project(tmp_path, SCHEDULE.format(listen="0.0.0.0:0"))
    token = "daemon-console-token-5d1c9e7a"
    with DaemonProcess(
        config, tmp_path / "daemon.log", env={"HUB_CONSOLE__TOKEN": token}
    ) as daemon:
        daemon.wait_for("daemon.started")
        status, _ = http_get(_loopback(daemon, "/console/runs?format=json"))
        assert status == 401
        status, body = http_get(_loopback(daemon, "/console/login"))
        assert status == 200 and b"token" in body and token.encode() not in body
        assert daemon.find("console.off") == []
        assert token not in (tmp_path / "daemon.log").read_text()
        code, _ = daemon.stop(signal.SIGTERM)
        assert code == 0
