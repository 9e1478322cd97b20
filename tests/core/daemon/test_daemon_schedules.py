"""Schedules: intervals, cron, one catch-up run after downtime, jitter bounds,
and the validation of [schedules] and [daemon] in hub.toml."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from daemon_support import make_project

from hub.config.validate import validate_project
from hub.schedules import DurationError, Schedule, format_duration, parse_duration


def _t(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _runs_during(schedule: Schedule, last: float | None, start: float, end: float) -> list[float]:
    """Simulate the daemon's loop with a fake clock ticking every second."""
    rng = random.Random(7)
    runs = []
    due = schedule.next_due(last, start, rng)
    now = start
    while now <= end:
        if now >= due:
            runs.append(now)
            due = schedule.next_due(now, now, rng)
        now += 1.0
    return runs


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("1h30m", 5400),
        ("2d", 172800),
        ("500ms", 0.5),
        ("2.5", 2.5),
        (30, 30),
        ("1w", 604800),
        (" 1h 5m ", 3900),
    ],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5 minutes", "-1", "1x", "m5"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (900, 5400, 0.25, 0, 86461)] == [
        "15m",
        "1h30m",
        "0.25s",
        "0s",
        "1d1m1s",
    ]


def test_an_interval_runs_first_at_once_then_every_interval() -> None:
    schedule = Schedule(interval=60)
    rng = random.Random(0)
    now = _t("2026-11-01T10:00:00")
    assert schedule.next_due(None, now, rng) == now
    assert schedule.next_due(now, now + 5, rng) == now + 60
    assert _runs_during(schedule, None, now, now + 300) == [now + i * 60 for i in range(6)]


def test_after_downtime_an_interval_catches_up_with_one_run_not_one_per_missed_slot() -> None:
    schedule = Schedule(interval=60)
    last = _t("2026-11-01T10:00:00")
    back = last + 10.5 * 3600  # down for 10.5 hours: 630 missed slots
    runs = _runs_during(schedule, last, back, back + 150)
    assert runs == [back, back + 60, back + 120]


def test_cron_runs_on_its_slots_and_catches_up_once() -> None:
    schedule = Schedule(cron="*/5 * * * *")
    rng = random.Random(0)
    assert schedule.next_due(None, _t("2026-11-01T10:02:30"), rng) == _t("2026-11-01T10:05:00")
    assert schedule.next_due(_t("2026-11-01T10:05:00"), 0, rng) == _t("2026-11-01T10:10:00")
    assert schedule.period(_t("2026-11-01T10:02:30")) == 300
    # Last run at 09:00, back at 12:03: overdue, one run now, then 12:05, 12:10.
    runs = _runs_during(
        schedule, _t("2026-11-01T09:00:00"), _t("2026-11-01T12:03:00"), _t("2026-11-01T12:10:00")
    )
    assert runs == [_t("2026-11-01T12:03:00"), _t("2026-11-01T12:05:00"), _t("2026-11-01T12:10:00")]


def test_cron_in_a_time_zone() -> None:
    schedule = Schedule(cron="0 9 * * *", timezone="Europe/Paris")
    # 09:00 in Paris is 08:00 UTC in winter.
    due = schedule.next_due(None, _t("2026-12-01T00:00:00"), random.Random(0))
    assert due == _t("2026-12-01T08:00:00")


def test_jitter_stays_within_its_bounds_and_spreads() -> None:
    schedule = Schedule(interval=60, jitter=30)
    rng = random.Random(42)
    last = _t("2026-11-01T10:00:00")
    delays = [schedule.next_due(last, last, rng) - (last + 60) for _ in range(2000)]
    assert all(0 <= delay <= 30 for delay in delays)
    assert max(delays) - min(delays) > 27  # spread over (nearly) the whole window
    cron = Schedule(cron="*/5 * * * *", jitter=10)
    slot = _t("2026-11-01T10:05:00")
    for _ in range(500):
        assert slot <= cron.next_due(_t("2026-11-01T10:00:00"), 0, rng) <= slot + 10
    # No jitter: exact.
    assert Schedule(interval=60).next_due(last, last, rng) == last + 60


def test_a_schedule_needs_exactly_one_of_interval_and_cron() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Schedule()
    with pytest.raises(ValueError, match="exactly one"):
        Schedule(interval=5, cron="* * * * *")


# -- hub.toml ---------------------------------------------------------------------


def _problems(tmp_path: Path, extra: str) -> list[str]:
    config = make_project(tmp_path, extra)
    return [str(p) for p in validate_project(config)]


def test_schedules_validate_with_located_messages(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        """
[schedules.both]
destinations = ["crm"]
interval = "5m"
cron = "*/5 * * * *"

[schedules.neither]
jitter = "30s"

[schedules.badcron]
cron = "*/5 * *"

[schedules.badrange]
cron = "61 * * * *"

[schedules.badzone]
cron = "0 9 * * *"
timezone = "Mars/Olympus"

[schedules.soon]
interval = "soon"
""",
    )
    text = "\n".join(problems)
    assert len(problems) == 6, text
    assert (
        "schedules.both: a schedule needs exactly one of 'interval' and 'cron', and has both"
        in text
    )
    assert "schedules.neither: a schedule needs exactly one of 'interval'" in text
    assert "schedules.badcron.cron: a cron expression has 5 fields" in text
    assert "schedules.badrange.cron: not a valid cron expression" in text
    assert "schedules.badzone.timezone: unknown time zone 'Mars/Olympus'" in text
    assert "schedules.soon.interval: not a duration" in text
    assert all(p.startswith(str(tmp_path / "hub.toml") + ":") for p in problems)


def test_schedules_name_configured_destinations(tmp_path: Path) -> None:
    problems = _problems(tmp_path, '[schedules.crm]\ndestinations = ["cmr"]\ninterval = "1m"\n')
    assert len(problems) == 1
    assert "schedules.crm.destinations[0]: destination 'cmr' is not configured" in problems[0]
    assert "did you mean 'crm'?" in problems[0]


def test_alert_urls_come_from_the_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problems = _problems(
        tmp_path,
        '[daemon.alerts]\nslack_webhook_url = "https://hooks.example/services/T0/B0/SECRETTOKEN"\n',
    )
    assert len(problems) == 1
    assert "HUB_DAEMON__ALERTS__SLACK_WEBHOOK_URL" in problems[0]
    assert "SECRETTOKEN" not in problems[0]
    config = tmp_path / "hub.toml"
    config.write_text(config.read_text().split("[daemon.alerts]")[0])
    monkeypatch.setenv("HUB_DAEMON__ALERTS__SLACK_WEBHOOK_URL", "http://127.0.0.1:9/x")
    monkeypatch.setenv("HUB_SCHEDULES__CRM__INTERVAL", "10m")
    assert validate_project(config) == []


def test_daemon_settings_validate(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        '[daemon]\nlisten = "9464"\nstop_timeout = "forever"\nlock_ttl = "10ms"\n'
        "[daemon.alerts]\nrejected_share = 2\n",
    )
    text = "\n".join(problems)
    assert len(problems) == 4, text
    assert "daemon.listen: expected host:port" in text
    assert "daemon.stop_timeout: not a duration" in text
    assert "daemon.lock_ttl: the lock time-to-live must be at least 1s" in text
    assert "daemon.alerts.rejected_share" in text
