"""/healthz and /metrics of an in-process daemon, with an injected clock."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from daemon_support import http_get, make_project, wait_until

from hub.daemon import Daemon

SCHEDULE = """
[schedules.crm]
destinations = ["crm"]
interval = "10s"

[daemon]
listen = "127.0.0.1:0"
unhealthy_after = 3
"""


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_health_and_metrics(tmp_path: Path) -> None:
    clock = Clock()
    config = make_project(tmp_path, SCHEDULE)
    daemon = Daemon(config, clock=clock, install_signals=False)
    # Not started yet: healthy for 3 x 10 s from the daemon's start.
    healthy, document = daemon.health()
    assert healthy and document["syncs"]["crm"]["last_success"] is None
    clock.now += 31
    healthy, document = daemon.health()
    assert not healthy and document["status"] == "unhealthy"
    assert document["syncs"]["crm"]["unhealthy_after_seconds"] == 30

    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: daemon.server is not None, 10, "the HTTP server")
        assert daemon.server is not None
        host, port = daemon.server.address
        assert host == "127.0.0.1"
        base = f"http://127.0.0.1:{port}"
        # The overdue sync runs at once, and succeeds: healthy again.
        wait_until(lambda: daemon.syncs["crm"].last_success, 20, "a successful run")
        status, body = http_get(base + "/healthz")
        health = json.loads(body)
        assert status == 200 and health["status"] == "ok"
        crm = health["syncs"]["crm"]
        assert crm["last_status"] == "succeeded" and crm["seconds_since_last_success"] == 0
        assert crm["schedule"] == "every 10s" and crm["runs"] == 1

        status, body = http_get(base + "/metrics")
        text = body.decode()
        assert status == 200
        for line in (
            'hub_runs_total{destination="crm",status="succeeded",sync="crm"} 1.0',
            'hub_records_total{destination="crm",outcome="created",sync="crm"} 65.0',
            'hub_records_total{destination="crm",outcome="linked",sync="crm"} 80.0',
            'hub_records_total{destination="crm",outcome="failed",sync="crm"} 0.0',
            'hub_rate_limit_wait_seconds_total{destination="crm",sync="crm"} 0.0',
            'hub_seconds_since_last_success{sync="crm"} 0.0',
            'hub_sync_running{sync="crm"} 0.0',
            # The sample's planted bad rows, by source, once per sync run.
            'hub_quarantined_rows_total{source="users",sync="crm"} 3.0',
            'hub_quarantined_rows_total{source="memberships",sync="crm"} 3.0',
        ):
            assert line in text, line

        # No success for more than 3 x 10 s: 503, and the gauge says how long.
        clock.now += 31
        status, body = http_get(base + "/healthz")
        assert status == 503
        assert json.loads(body)["syncs"]["crm"]["healthy"] is False
        _, body = http_get(base + "/metrics")
        assert 'hub_seconds_since_last_success{sync="crm"} 31.0' in body.decode()
        assert http_get(base + "/nope")[0] == 404
    finally:
        daemon.request_stop()
        thread.join(timeout=15)
    assert not thread.is_alive()
