"""Benchmark: what loading the sources costs, column-wise and row by row,
beside the floor of loading them straight into DuckDB.

    python tests/bench/load_floor.py 100000 [1000000] [--memory-limit 500MB]

For each N, ``generate.py`` writes users, accounts and memberships as CSV
(seed 42) into the project ``engine.py`` syncs (its hub.toml, [events] and
``mappings/crm.toml``), and three fresh processes read them:

1. ``hub: columns``: :func:`hub.sources.loading.load` as ``hub sync`` runs it
   on CSV files (read into Arrow columns, the rules as queries, the
   quarantine, the entity digests: :mod:`hub.sources.frame`), then the
   engine's tables made from the frame (:class:`hub.engine.tables.Tables`,
   with the columns ``mappings/crm.toml`` reads);
2. ``hub: rows``: the same load row by row (``columnar=False``: every row
   validated into Python objects, what every other kind of source takes),
   then the tables made from those objects;
3. ``floor``: DuckDB alone, under ``--memory-limit`` (spilling to a temporary
   directory past it): the three files read as text, row numbers kept as
   line numbers, duplicate memberships dropped (the first line wins), the
   memberships joined to their users and accounts (an unknown one is dropped)
   and a role required, e-mails checked against the hub's pattern.

The floor does less than the hub (no typed cells, no reasons, no digests, no
phantom rows): it is the cost of the data's size in DuckDB, what a loader that
never makes a Python object per row can approach, not a finished loader.
Each line gives CPU seconds, wall seconds and the process's peak RSS
(``os.wait4``). Figures are printed, never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from engine import EVENTS, HUB_TOML, ROOT, _run  # a sibling script: the project it syncs

HUB = """
import sys
from pathlib import Path
from hub.engine.tables import Tables
from hub.sources.loading import load
from hub.sync.pipeline import open_project

project, _ = open_project(Path(sys.argv[1]) / "hub.toml")
loaded = load(project.settings, Path(sys.argv[1]), columnar=sys.argv[2] == "columns")
tables = Tables(
    loaded.data,
    ["role", "stage", "joined_at", "health_score", "is_primary"],
    user=["email", "first_name", "last_name"],
    account=["name", "domain", "stage", "plan"],
)
print(loaded.counts["memberships"], "memberships")
"""

FLOOR = r"""
import sys, tempfile
import duckdb

data, limit = sys.argv[1], sys.argv[2]
with tempfile.TemporaryDirectory(prefix="hub-floor-") as spill:
    c = duckdb.connect(config={"memory_limit": limit, "temp_directory": spill})
    c.execute("SET enable_progress_bar = false")
    text = "all_varchar = true, header = true"
    c.execute(f'''
        CREATE TABLE users AS SELECT row_number() OVER () - 1 AS u, *
            FROM read_csv('{data}/users.csv', {text});
        CREATE TABLE accounts AS SELECT row_number() OVER () - 1 AS a, *
            FROM read_csv('{data}/accounts.csv', {text});
        CREATE TABLE raw AS SELECT row_number() OVER () + 1 AS line, *
            FROM read_csv('{data}/memberships.csv', {text});
        CREATE TABLE m AS
            SELECT r.line, us.u, ac.a, r.* EXCLUDE (line, user_id, account_id)
            FROM (SELECT *, row_number() OVER (PARTITION BY user_id, account_id
                                               ORDER BY line) AS k FROM raw) r
            JOIN users us ON us.user_id = r.user_id
            JOIN accounts ac ON ac.account_id = r.account_id
            WHERE r.k = 1 AND r.role IS NOT NULL;
    ''')
    bad = c.execute(
        "SELECT count(*) FROM users WHERE NOT regexp_matches(email, ?)",
        [r"^[^@\s]+@[^@\s]+\.[^@\s]+$"],
    ).fetchone()[0]
    print(c.execute("SELECT count(*) FROM m").fetchone()[0], "memberships,", bad, "bad e-mails")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="+", type=int)
    parser.add_argument("--memory-limit", default="500MB", help="DuckDB's, for the floor")
    args = parser.parse_args()
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="hub-load-") as tmp:
            project = Path(tmp)
            generate = ROOT / "tests" / "bench" / "generate.py"
            _run([sys.executable, str(generate), str(n), "--seed", "42", "--out", "data"], project)
            (project / "mappings").mkdir()
            shutil.copy(ROOT / "mappings" / "crm.toml", project / "mappings" / "crm.toml")
            config = HUB_TOML.format(kind="csv", ext="csv", name="crm", events=EVENTS)
            (project / "hub.toml").write_text(config)
            print(f"{n:,} users")
            runs = {
                "hub: columns + tables": [sys.executable, "-c", HUB, str(project), "columns"],
                "hub: rows + tables": [sys.executable, "-c", HUB, str(project), "rows"],
                f"floor: DuckDB ({args.memory_limit})": [
                    sys.executable,
                    "-c",
                    FLOOR,
                    str(project / "data"),
                    args.memory_limit,
                ],
            }
            figures = {}
            for name, command in runs.items():
                wall, cpu, rss, output = _run(command, project)
                figures[name] = cpu
                print(
                    f"  {name:<28} {cpu:7.1f} s CPU {wall:7.1f} s wall {rss:7,.0f} MiB"
                    f"  {output.strip()}"
                )
            hub_cpu, rows_cpu, floor_cpu = figures.values()
            print(
                f"  the columnar load takes {hub_cpu / floor_cpu:.1f}x the floor's CPU seconds"
                f" (row by row: {rows_cpu / floor_cpu:.1f}x)"
            )


if __name__ == "__main__":
    main()
