"""Reloading: a broken configuration is reported (every problem) and the
running one goes on; a good one is applied; SIGHUP reloads too."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from daemon_support import DaemonProcess, edit_csv, http_get, make_project, wait_until

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")

SCHEDULE = """
[schedules.crm]
destinations = ["crm"]
interval = "300ms"

[daemon]
listen = "127.0.0.1:0"
reload_interval = "100ms"
stop_timeout = "10s"
"""


def test_a_broken_config_is_reported_and_the_old_one_keeps_running(tmp_path: Path) -> None:
    config = make_project(tmp_path, SCHEDULE)
    good = config.read_text()
    with DaemonProcess(config, tmp_path / "daemon.log") as daemon:
        daemon.wait_for("run.finished", where=lambda e: e["status"] == "succeeded")

        # Break hub.toml twice over: a bad interval and a misspelled key.
        config.write_text(
            good.replace('interval = "300ms"', 'interval = "soon"').replace(
                'type = "outbox"', 'type = "outbox"\nmaping = "mappings/crm.toml"'
            )
        )
        failed = daemon.wait_for("config.reload_failed")
        assert failed["problem_count"] == 2
        problems = "\n".join(failed["problems"])
        assert "schedules.crm.interval: not a duration" in problems
        assert "unknown key 'maping'" in problems and "did you mean 'mapping'?" in problems
        assert "hub.toml:" in problems  # located: file:line:col

        # The old configuration keeps running: a change in the source still
        # reaches the destination, on the old schedule.
        before = len(daemon.find("run.finished"))
        edit_csv(
            tmp_path / "examples" / "sample" / "users.csv",
            lambda lines: [line.replace(",Maya,Okafor,", ",Maya B.,Okafor,") for line in lines],
        )
        daemon.wait_for(
            "run.finished",
            where=lambda e: e["status"] == "succeeded" and e["counts"].get("updated", 0) > 0,
        )
        assert len(daemon.find("run.finished")) > before
        status, body = http_get(daemon.url("/healthz"))
        health = json.loads(body)
        assert status == 200
        assert len(health["config"]["problems"]) == 2
        assert health["syncs"]["crm"]["last_status"] == "succeeded"

        # A broken mapping file is caught the same way, once hub.toml is fixed.
        config.write_text(good.replace('interval = "300ms"', 'interval = "250ms"'))
        reloaded = daemon.wait_for("config.reloaded")
        assert reloaded["syncs"] == {"crm": "every 0.25s"}
        mapping = tmp_path / "mappings" / "crm.toml"
        mapping.write_text(mapping.read_text().replace('policy = "', 'policy = "hightest_'))
        mapping_failed = daemon.wait_for(
            "config.reload_failed", where=lambda e: "crm.toml" in "".join(e["problems"])
        )
        assert "primary_account.policy" in "".join(mapping_failed["problems"])

        # SIGHUP asks for a reload at once (still broken: reported again).
        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGHUP)
        wait_until(
            lambda: daemon.find("config.reload_failed", reason="SIGHUP"), 10, "a SIGHUP reload"
        )
        runs = len(daemon.find("run.finished"))
        wait_until(lambda: len(daemon.find("run.finished")) > runs, 10, "runs to go on")

        code, _ = daemon.stop()
        assert code == 0
