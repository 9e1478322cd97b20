"""Benchmark: the real path, files through ``hub sync``, beside the DuckDB reference.

    python tests/bench/engine.py 100000 [1000000] [--format csv|parquet] [--mutate 0.01]
                                 [--state sqlite|postgresql]

For each N: ``generate.py`` writes users, accounts and memberships as CSV (and,
with ``--format parquet``, the same tables as Parquet through DuckDB), a
project syncs them with ``mappings/crm.toml`` into an outbox, and each phase
runs ``hub sync`` as a user would, in a fresh process (``python -m hub sync``):

1. ``full``: the first sync;
2. ``unchanged``: the same files again (it must send 0: the line says ``OK``
   or ``WRONG``); the inputs are those of the last complete run, so the sync
   skips the destination (:mod:`hub.sync.inputs`);
3. ``unchanged --full``: the same, projected and diffed all the same (what
   an unchanged run cost before the skip, and what one costs whenever the
   skip does not apply: a SQL source, events with a moving as-of time);
4. ``changed``: ``--mutate`` of the users get another first name in the file.

In the same run, ``../shared/bench/duckdb_crm.py`` projects the same CSV files
(the crm mapping's rules in plain DuckDB SQL). Each line gives wall and CPU
seconds and peak RSS of its own process (``os.wait4``), and the hub's resolve
line the ratio of CPU seconds to the reference's. This machine is shared and
noisy: read the ratios and CPU seconds, not the wall times alone.

``--state postgresql`` keeps the state in a PostgreSQL server of its own
(the distribution's binaries, ``tests/pgcluster.py``, with its durable
defaults) instead of the SQLite file; the URL, password included, reaches the
hub as ``HUB_STATE__URL``, as a deployment's would. The full sync's line also
gives the records confirmed per second of its wall time (projection
included), to set the two backends side by side.

This is the baseline the columnar engine (issue 13) is measured against.
Figures are printed, never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "bench" / "duckdb_crm.py"

#: The sample's as-of time and the rollups mappings/crm.toml reads (the
#: generated set has no events: they are 0). tests/bench/outputs.py uses it too.
EVENTS = """\
[events]
as_of = 2026-11-01T00:00:00Z

[[events.rollups]]
property = "events_30d"
level = "relationship"
window_days = 30

[[events.rollups]]
property = "last_seen_at"
level = "user"
kind = "last_seen"

[[events.rollups]]
property = "invoices_paid_90d"
level = "account"
event = "Invoice Paid"
window_days = 90

[[events.rollups]]
property = "tasks_completed_30d"
level = "account"
event = "Task Completed"
window_days = 30
"""

HUB_TOML = """\
[sources.users]
kind = "{kind}"
table = "users"
path = "data/users.{ext}"

[sources.accounts]
kind = "{kind}"
table = "accounts"
path = "data/accounts.{ext}"

[sources.memberships]
kind = "{kind}"
table = "memberships"
path = "data/memberships.{ext}"

{events}
[state]
url = "sqlite:///.hub/state.db"

[destinations.{name}]
type = "outbox"
mapping = "mappings/crm.toml"

[destinations.{name}.settings]
directory = "outbox/{name}"
"""


def _run(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None
) -> tuple[float, float, float, str]:
    """Run ``argv`` in its own process: wall s, CPU s, peak RSS MiB, its output."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({process.returncode}):\n{output[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output


def _to_parquet(data: Path) -> None:
    import duckdb

    with duckdb.connect() as connection:
        for table in ("users", "accounts", "memberships"):
            source = data / f"{table}.csv"
            connection.execute(
                f"COPY (SELECT * FROM read_csv('{source}')) TO '{data / table}.parquet'"
                " (FORMAT parquet)"
            )


def _mutate_users(data: Path, share: float, seed: int, parquet: bool) -> int:
    """Give ``share`` of the users another first name, in the files the hub reads."""
    path = data / "users.csv"
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    first = header.index("first_name")
    rng = random.Random(seed + 1000)
    changed = 0
    for row in body:
        if rng.random() < share:
            row[first] = "Benchmark"
            changed += 1
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *body])
    if parquet:
        _to_parquet(data)
    return changed


def _sent(output: str) -> int:
    """Records sent, from ``hub sync --json`` (its document is the output's JSON)."""
    document = json.loads(output[output.index("{") :])
    return sum(int(run["counts"]["sent"]) for run in document["runs"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000])
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--mutate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--state", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    python = sys.executable
    with contextlib.ExitStack() as stack:
        env: dict[str, str] | None = None
        cluster = None
        if args.state == "postgresql":
            sys.path.insert(0, str(ROOT / "tests"))
            from pgcluster import Cluster

            cluster = stack.enter_context(Cluster(durable=True))
        for size in args.sizes:
            if cluster is not None:
                url = cluster.url(cluster.create_database(f"bench_{size}"))
                env = {**os.environ, "HUB_STATE__URL": url}
            _bench(size, args, python, env)


def _bench(size: int, args: argparse.Namespace, python: str, env: dict[str, str] | None) -> None:
    """The phases at ``size`` users (the module doc)."""
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        data = project / "data"
        _, generate_cpu, _, _ = _run(
            [
                python,
                str(ROOT / "tests" / "bench" / "generate.py"),
                str(size),
                "--seed",
                str(args.seed),
                "--out",
                str(data),
            ],
            ROOT,
        )
        if args.format == "parquet":
            _to_parquet(data)
        (project / "mappings").mkdir()
        shutil.copy(ROOT / "mappings" / "crm.toml", project / "mappings" / "crm.toml")
        ext = "parquet" if args.format == "parquet" else "csv"
        config = HUB_TOML.format(kind=args.format, ext=ext, name="crm", events=EVENTS)
        (project / "hub.toml").write_text(config)
        print(
            f"{size:,} users ({args.format}, state in {args.state};"
            f" generated in {generate_cpu:.1f} CPU s)"
        )
        ref_wall, ref_cpu, ref_rss, _ = _run([python, str(REFERENCE), str(data), "2"], ROOT)
        print(
            f"  reference duckdb_crm.py: {ref_wall:7.1f} s wall {ref_cpu:7.1f} s CPU"
            f" {ref_rss:7.0f} MiB"
        )
        for phase in ("full", "unchanged", "unchanged --full", "changed"):
            argv = [python, "-m", "hub", "sync", "--json"]
            if phase == "changed":
                changed = _mutate_users(data, args.mutate, args.seed, args.format == "parquet")
                phase = f"changed ({changed:,} users)"
            elif phase.endswith("--full"):
                argv.append("--full")
            wall, cpu, rss, output = _run(argv, project, env)
            sent = _sent(output)
            check = ""
            if phase.startswith("unchanged"):
                check = "  OK" if sent == 0 else "  WRONG (it must send 0)"
            elif phase == "full":
                check = f"; {sent / wall:,.0f} confirmed/s"
            print(
                f"  hub sync {phase:<22} {wall:7.1f} s wall {cpu:7.1f} s CPU"
                f" ({cpu / ref_cpu:4.1f}x the reference) {rss:7.0f} MiB;"
                f" sent {sent:,}{check}"
            )


if __name__ == "__main__":
    main()
