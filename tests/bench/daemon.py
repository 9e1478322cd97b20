"""The daemon's idle CPU and its memory over many runs, printed (not a test).

    .venv/bin/python tests/bench/daemon.py [--idle-seconds 60] [--runs 100]

1. **Idle CPU**: a daemon whose one sync (the sample into an outbox) runs
   every hour; after its first run, the process's CPU time (user + system,
   from /proc/PID/stat) is read, then again ``--idle-seconds`` later. Idle
   work is the main loop, the configuration poll (every 2 s by default), the
   lock heartbeat and the HTTP server's poll.
2. **Memory**: a daemon syncing the sample into two outboxes every 100 ms
   (each run resolves every source again, plans against the store and finds
   nothing to send, except when the source is edited: every 10th run a user's
   name changes, so records are sent too); its RSS (VmRSS) after 10 runs and
   after ``--runs`` runs.

Linux only (/proc). Each daemon is a subprocess of its own, in a temporary
copy of the sample project, killed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROJECT = """
[sources.users]
kind = "csv"
table = "users"
path = "examples/sample/users.csv"

[sources.accounts]
kind = "csv"
table = "accounts"
path = "examples/sample/accounts.csv"

[sources.memberships]
kind = "csv"
table = "memberships"
path = "examples/sample/memberships.csv"

[sources.tracking]
kind = "segment"
path = "examples/sample/events.jsonl"

[events]
as_of = 2026-11-01T00:00:00Z

[destinations.crm]
type = "outbox"
mapping = "mappings/crm.toml"
settings.directory = "outbox/crm"

[destinations.mailer]
type = "outbox"
mapping = "mappings/mailer.toml"
settings.directory = "outbox/mailer"

[daemon]
listen = "127.0.0.1:0"
"""


def _project(directory: Path, schedules: str) -> Path:
    for name in ("mappings", "examples"):
        shutil.copytree(ROOT / name, directory / name)
    config = directory / "hub.toml"
    config.write_text(PROJECT + schedules)
    return config


def _cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (fields 14 and 15 of /proc/PID/stat)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class _Daemon:
    def __init__(self, config: Path) -> None:
        self.log = config.parent / "daemon.log"
        self._file = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub", "daemon", "-c", str(config), "--log-format", "json"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._file,
            cwd=config.parent,
        )

    def count(self, event: str) -> int:
        total = 0
        for line in self.log.read_bytes().split(b"\n")[:-1]:
            if json.loads(line).get("event") == event:
                total += 1
        return total

    def wait_for(self, event: str, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.count(event) < count:
            if self.process.poll() is not None:
                raise RuntimeError(f"the daemon exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {count} x {event}")
            time.sleep(0.05)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._file.close()


def idle_cpu(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as directory:
        config = _project(
            Path(directory), '[schedules.crm]\ndestinations = ["crm"]\ninterval = "1h"\n'
        )
        daemon = _Daemon(config)
        try:
            daemon.wait_for("sync.finished", 1, 60)
            time.sleep(1)  # let the first run's aftermath settle
            before = _cpu_seconds(daemon.process.pid)
            began = time.monotonic()
            time.sleep(seconds)
            used = _cpu_seconds(daemon.process.pid) - before
            elapsed = time.monotonic() - began
            rss = _rss_kib(daemon.process.pid)
        finally:
            daemon.close()
    print(
        f"idle CPU over {elapsed:.1f} s: {used:.3f} s of CPU time"
        f" ({100 * used / elapsed:.3f} % of one core); RSS {rss / 1024:.1f} MiB"
    )


def memory(runs: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        config = _project(Path(directory), '[schedules.both]\ninterval = "100ms"\n')
        users = Path(directory) / "examples" / "sample" / "users.csv"
        original = users.read_text()
        daemon = _Daemon(config)
        figures: dict[int, int] = {}
        try:
            started = time.monotonic()
            for run in range(1, runs + 1):
                daemon.wait_for("sync.finished", run, 60)
                if run % 10 == 0:
                    # A source edit every 10 runs: the next run sends records.
                    users.write_text(original.replace(",Maya,", f",Maya {run},"))
                if run in (10, runs):
                    figures[run] = _rss_kib(daemon.process.pid)
            elapsed = time.monotonic() - started
            sent = daemon.count("run.finished")
        finally:
            daemon.close()
    first, last = figures[10], figures[runs]
    print(
        f"RSS after 10 runs: {first / 1024:.1f} MiB; after {runs} runs:"
        f" {last / 1024:.1f} MiB (growth {(last - first) / 1024:+.1f} MiB,"
        f" {100 * (last - first) / first:+.1f} %); {sent} destination runs in {elapsed:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--skip-idle", action="store_true")
    arguments = parser.parse_args()
    print(f"python {sys.version.split()[0]}, pid {os.getpid()}, {os.cpu_count()} CPUs")
    memory(arguments.runs)
    if not arguments.skip_idle:
        idle_cpu(arguments.idle_seconds)


if __name__ == "__main__":
    main()
