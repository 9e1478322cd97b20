"""Benchmark: resolve every projection for one destination over synthetic data.

    python tests/bench/resolve.py 100000 1000000 [--events-per-user 2] [--mapping mappings/crm.toml]

For each N it generates N users (about N/4 accounts, 3N memberships, seeded),
builds the graph, enriches events, and computes every projection of the
mapping for one destination, printing wall time per phase and the process's
peak RSS. Each N and mode runs in a fresh subprocess, so peak RSS is its own.

Modes (``--modes``, default all three):

- ``engine``: the columnar engine's :func:`hub.engine.project.stream` (what
  ``hub sync`` runs), from the data set before enrichment (it computes the
  ``[events]`` rollups and needs no graph), each chunk counted then dropped;
- ``stream``: the per-record rules' ``iter_destination``, the same way;
- ``project``: the per-record ``project_destination``, every record held at once.

The target on a 2-core machine: N = 1M in at most 30 s and 3 GiB peak RSS.
Figures are printed, never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _count(chunks: Iterator[Any]) -> tuple[int, int, int]:
    """Accounts, contacts and links of a projection stream, each chunk dropped."""
    from hub.records import AccountsChunk, ContactsChunk, LinksChunk

    accounts = contacts = links = 0
    for chunk in chunks:
        if isinstance(chunk, AccountsChunk):
            accounts += len(chunk.records)
        elif isinstance(chunk, ContactsChunk):
            contacts += len(chunk.records)
        elif isinstance(chunk, LinksChunk):
            links += len(chunk.links)
        del chunk
    return accounts, contacts, links


def run_one(
    n_users: int, mapping_path: Path, events_per_user: float, seed: int, mode: str
) -> dict[str, float]:
    """Time one N in this process; returns the figures."""
    sys.path.insert(0, str(Path(__file__).parent))
    from generate import AS_OF, generate  # type: ignore[import-not-found]

    from hub.conditions import compile_condition
    from hub.config import load_mapping
    from hub.config.settings import EventRollup, EventRollupLevel, EventSettings
    from hub.contract.plugins import load_plugins

    sys.path.insert(0, str(ROOT / "tests" / "oracle"))
    from per_record import iter_destination, project_destination  # type: ignore[import-not-found]

    from hub.projections.resolver import Graph, enrich

    mapping = load_mapping(mapping_path)
    capabilities = load_plugins().destinations["outbox"].capabilities
    figures: dict[str, float] = {}

    started = time.perf_counter()
    dataset = generate(n_users, seed=seed, events_per_user=events_per_user)
    figures["generate_s"] = time.perf_counter() - started
    figures["users"] = len(dataset.users)
    figures["accounts"] = len(dataset.accounts)
    figures["memberships"] = len(dataset.memberships)
    figures["events"] = len(dataset.events)
    figures["rss_after_generate_mib"] = _peak_rss_mib()
    gc.freeze()  # the generated data set is long-lived: keep the collector off it

    started = time.perf_counter()
    events = EventSettings(
        rollups=[
            EventRollup(property="events_30d", level=EventRollupLevel.RELATIONSHIP, window_days=30),
            EventRollup(property="last_seen_at", level=EventRollupLevel.USER, kind="last_seen"),
        ]
        if events_per_user
        else []
    )
    if mode == "engine":
        from hub.engine.project import stream

        figures["graph_s"] = 0.0
        started = time.perf_counter()
        out_accounts, out_contacts, out_links = _count(
            stream(mapping.destination, dataset, mapping, capabilities, AS_OF, events.rollups)
        )
        figures["project_s"] = time.perf_counter() - started
        figures["resolve_total_s"] = figures["project_s"]
        figures["out_accounts"] = out_accounts
        figures["out_contacts"] = out_contacts
        figures["out_links"] = out_links
        figures["peak_rss_mib"] = _peak_rss_mib()
        return figures
    dataset = enrich(dataset, events, AS_OF)
    graph = Graph(dataset)
    figures["graph_s"] = time.perf_counter() - started
    gc.freeze()  # so is the graph: collections during the stream would rescan it

    started = time.perf_counter()
    if mode == "project":
        projection = project_destination(
            mapping.destination, graph, mapping, capabilities, AS_OF, compile_condition
        )
        out_accounts, out_contacts = len(projection.accounts), len(projection.contacts)
        out_links = len(projection.links)
    else:
        out_accounts, out_contacts, out_links = _count(
            iter_destination(
                mapping.destination, graph, mapping, capabilities, AS_OF, compile_condition
            )
        )
    figures["project_s"] = time.perf_counter() - started
    figures["resolve_total_s"] = figures["graph_s"] + figures["project_s"]
    figures["out_accounts"] = out_accounts
    figures["out_contacts"] = out_contacts
    figures["out_links"] = out_links
    figures["peak_rss_mib"] = _peak_rss_mib()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--mapping", type=Path, default=ROOT / "mappings" / "crm.toml")
    parser.add_argument("--events-per-user", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--modes", default="engine,stream,project")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        figures = run_one(args.sizes[0], args.mapping, args.events_per_user, args.seed, args.modes)
        print(json.dumps(figures))
        return
    for size in args.sizes:
        for mode in args.modes.split(","):
            command = [
                sys.executable,
                __file__,
                str(size),
                "--child",
                "--mapping",
                str(args.mapping),
                "--events-per-user",
                str(args.events_per_user),
                "--seed",
                str(args.seed),
                "--modes",
                mode,
            ]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            figures = json.loads(output.strip().splitlines()[-1])
            label = mode
            print(
                f"N={size:>9,} [{label}]: {figures['memberships']:,.0f} memberships, "
                f"{figures['events']:,.0f} events | generate {figures['generate_s']:.1f} s | "
                f"resolve {figures['resolve_total_s']:.1f} s "
                f"(graph+enrich {figures['graph_s']:.1f} s, "
                f"projections {figures['project_s']:.1f} s) | "
                f"peak RSS {figures['peak_rss_mib'] / 1024:.2f} GiB "
                f"(data set alone {figures['rss_after_generate_mib'] / 1024:.2f} GiB) | "
                f"out: {figures['out_accounts']:,.0f} accounts, "
                f"{figures['out_contacts']:,.0f} contacts, "
                f"{figures['out_links']:,.0f} links",
                flush=True,
            )


if __name__ == "__main__":
    main()
