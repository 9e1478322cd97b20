"""Benchmark: how fast the web console renders its pages, beside the CLI printing
the same document.

    python tests/bench/console.py [1000000 ...] [--repeat 20] [--screenshots docs/img/console]

1. **The sample**, with the console tests' planted trouble (39 contacts a fake
   HubSpot on 127.0.0.1 refuses, a user and an account whose names hold HTML,
   quarantined rows), after one ``hub sync``; then ``hub console`` on it.
2. **Each N** (e.g. 1000000): ``generate.py`` writes N users as CSV with 1 %
   of them written twice (the second line quarantined: ``duplicate user``),
   ``hub sync`` sends them to an outbox with ``mappings/crm.toml``, and
   ``hub console`` serves that state.

For every page: the first request (``cold``: what the console computes the
first time) and the median of ``--repeat`` more (``warm``), as the client
sees them, in wall milliseconds, with the console process's CPU milliseconds
per warm request (``/proc``); beside it, the CLI command that prints the same
document (``hub runs --json`` for ``/runs``), in a fresh process, as a person
would run it (wall and CPU: the ratio is page CPU to CLI CPU). The plan and an
inspection read every source: their cold figure is a resolution of the whole
data set, kept afterwards until an input changes.

``--screenshots DIR`` saves the sample's main pages as PNG (the docs' images),
taken in the distribution's headless Chromium.

This machine is shared and noisy: read CPU figures and ratios. Figures are
printed, never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "core" / "console"))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

from console_support import (  # noqa: E402
    CONSOLE_TOKEN,
    ConsoleProcess,
    FakeHubSpot,
    chromium,
    environment,
    http,
    hub,
    make_project,
    new_page,
    plant_dropdown,
)
from engine import EVENTS, HUB_TOML  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")

#: (page, the CLI command printing its document) on the sample.
SAMPLE_PAGES: list[tuple[str, list[str]]] = [
    ("/", ["status"]),
    ("/runs", ["runs"]),
    ("/runs/2", ["errors", "--run", "2"]),
    ("/errors", ["errors"]),
    ("/quarantine", ["errors", "--quarantine"]),
    ("/plan", ["plan"]),
    ("/inspect?kind=user&id=u_elon", ["inspect", "user", "u_elon"]),
    ("/inspect?kind=account&id=acc_tesla", ["inspect", "account", "acc_tesla"]),
    ("/playbooks", ["playbooks", "plan"]),
    ("/fleet", ["fleet"]),
]

#: The same at N users (no playbooks there).
LARGE_PAGES: list[tuple[str, list[str]]] = [
    ("/", ["status"]),
    ("/runs", ["runs"]),
    ("/runs/1", ["errors", "--run", "1"]),
    ("/errors", ["errors"]),
    ("/quarantine", ["errors", "--quarantine"]),
    ("/fleet", ["fleet"]),
    ("/inspect?kind=user&id=u_0000001", ["inspect", "user", "u_0000001"]),
    ("/inspect?kind=account&id=acc_0000001", ["inspect", "account", "acc_0000001"]),
    ("/plan", ["plan"]),
]

#: The pages shown in docs/console.md, as (file name, page).
SCREENSHOTS = [
    ("overview.png", "/"),
    ("runs.png", "/runs"),
    ("run.png", "/runs/2"),
    ("quarantine.png", "/quarantine"),
    ("plan.png", "/plan"),
    ("inspect.png", "/inspect?kind=user&id=u_elon"),
    ("playbooks.png", "/playbooks"),
]


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _get(console: ConsoleProcess, page: str) -> float:
    """One GET of ``page``: wall seconds (a failure stops the benchmark)."""
    began = time.perf_counter()
    status, _, body = http(console.url(page), timeout=600)
    wall = time.perf_counter() - began
    if status != 200:
        raise SystemExit(f"GET {page}: {status}\n{body[:2000].decode(errors='replace')}")
    return wall


def _environment(sample: bool) -> dict[str, str]:
    """The sample's environment has the fake HubSpot's token; the large
    projects' has no HUB_ variable at all."""
    env = environment()
    return env if sample else {k: v for k, v in env.items() if not k.startswith("HUB_")}


def _cli(config: Path, command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """``hub COMMAND --json`` in a fresh process: wall and CPU seconds."""
    argv = [sys.executable, "-m", "hub", *command, "--json", "--config", str(config)]
    began = time.perf_counter()
    process = subprocess.Popen(
        argv,
        cwd=config.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stderr is not None
    error = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed: {error[-2000:].decode(errors='replace')}")
    return time.perf_counter() - began, usage.ru_utime + usage.ru_stime


def _measure(
    config: Path,
    console: ConsoleProcess,
    pages: list[tuple[str, list[str]]],
    repeat: int,
    env: dict[str, str],
) -> None:
    assert console.process is not None
    pid = console.process.pid
    print(
        f"  {'page':<34} {'cold ms':>8} {'warm ms':>8} {'CPU ms':>7}"
        f"  {'the CLI (hub … --json)':<30} {'wall ms':>8} {'CPU ms':>7} {'CPU ratio':>9}"
    )
    for page, command in pages:
        cpu_before = _cpu(pid)
        cold = _get(console, page)
        cold_cpu = _cpu(pid) - cpu_before
        cpu_before = _cpu(pid)
        warm = statistics.median(_get(console, page) for _ in range(repeat))
        warm_cpu = (_cpu(pid) - cpu_before) / repeat
        cli_wall, cli_cpu = _cli(config, command, env)
        ratio = f"{cold_cpu / cli_cpu:8.2f}x" if cli_cpu else "-"
        print(
            f"  {page:<34} {cold * 1000:8.0f} {warm * 1000:8.1f} {warm_cpu * 1000:7.1f}"
            f"  {' '.join(command):<30} {cli_wall * 1000:8.0f} {cli_cpu * 1000:7.0f} {ratio:>9}"
        )
    print(f"  the console's memory: peak RSS {_memory(pid, 'VmHWM')}, now {_memory(pid, 'VmRSS')}")


def _memory(pid: int, field: str) -> str:
    """``VmHWM`` (peak) or ``VmRSS`` of process ``pid``, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return f"{int(line.split()[1]) / 1024:,.0f} MiB"
    return "?"


def _settle(console: ConsoleProcess) -> None:
    """Wait for the console's warm-up (its plan and resolution, computed as it
    starts) to end, and say how long it took."""
    warm = console.wait_for("console.warm", timeout=3600)
    print(
        f"  (the console computed its plan and resolution in {warm['seconds']:.2f} s as it started)"
    )


def _screenshots(console: ConsoleProcess, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        page = new_page(browser)
        page.set_viewport_size({"width": 1200, "height": 800})
        # Signed in, as an admin sees it: the actions' buttons are shown.
        page.goto(console.url("/login"))
        page.fill("input[name=token]", CONSOLE_TOKEN)
        with page.expect_navigation():
            page.get_by_role("button", name="sign in").click()
        for name, path in SCREENSHOTS:
            page.goto(console.url(path))
            page.screenshot(path=str(directory / name), full_page=False)
            print(f"  screenshot {directory / name}")


def sample(repeat: int, screenshots: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeHubSpot() as fake:
        plant_dropdown(fake)
        config = make_project(Path(tmp), fake.url)
        began = time.perf_counter()
        result = hub(config, "sync")
        if result.returncode not in (0, 1):
            raise SystemExit(result.stdout + result.stderr)
        print(f"the sample, planted trouble (synced in {time.perf_counter() - began:.1f} s)")
        env = environment({"HUB_CONSOLE__TOKEN": CONSOLE_TOKEN})
        with ConsoleProcess(config, env=env) as console:
            _settle(console)
            _measure(config, console, SAMPLE_PAGES, repeat, _environment(True))
            if screenshots is not None:
                _screenshots(console, screenshots)


def _duplicate_users(path: Path, share: float, seed: int) -> int:
    """Append ``share`` of the users again (another first name): each second
    line is quarantined as a duplicate."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    rng = random.Random(seed)
    chosen = [list(row) for row in rows[1:] if rng.random() < share]
    for row in chosen:
        row[2] = "Twice"
    with path.open("a", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(chosen)
    return len(chosen)


@contextmanager
def _large_project(size: int, seed: int) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        data = project / "data"
        generate = ROOT / "tests" / "bench" / "generate.py"
        subprocess.run(
            [sys.executable, str(generate), str(size), "--seed", str(seed), "--out", str(data)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        duplicates = _duplicate_users(data / "users.csv", 0.01, seed)
        (project / "mappings").mkdir()
        shutil.copy(ROOT / "mappings" / "crm.toml", project / "mappings" / "crm.toml")
        config = project / "hub.toml"
        config.write_text(HUB_TOML.format(kind="csv", ext="csv", name="crm", events=EVENTS))
        began = time.perf_counter()
        result = hub(config, "sync", env=_environment(False))
        if result.returncode != 0:
            raise SystemExit(result.stdout + result.stderr)
        print(
            f"{size:,} users, {duplicates:,} of them written twice"
            f" (synced in {time.perf_counter() - began:.0f} s)"
        )
        yield config


def large(size: int, repeat: int, seed: int) -> None:
    env = _environment(False)
    with _large_project(size, seed) as config, ConsoleProcess(config, env=env) as console:
        _settle(console)
        _measure(config, console, LARGE_PAGES, repeat, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args()
    sample(args.repeat, args.screenshots)
    for size in args.sizes:
        large(size, args.repeat, args.seed)


if __name__ == "__main__":
    main()
