"""Benchmark: sync the synthetic data set into an outbox, three times.

    python tests/bench/sync.py 100000 1000000 [--mutate 0.01] [--seed 42]

For each N it makes a temporary project (a copy of ``mappings/crm.toml``, a
hub.toml with one ``outbox`` destination named as the mapping's
``destination``, the state store in the project) and runs, each in a fresh
subprocess so that peak RSS is its own:

1. ``full``: the first sync, everything created and linked;
2. ``unchanged``: the same data again, which must send 0 records (checked:
   the line says ``OK`` or ``WRONG``);
3. ``changed``: the same data with ``--mutate`` of the users changed (default
   1%, chosen by the seed): half of them get another first name (their
   contact changes), the other half another role in their first account
   (their link, their contact and that account change).

The data set is generated in memory (``tests/bench/generate.py``) and handed
to the real engine through :func:`hub.sync.sync`'s ``dataset=`` seam (enrich,
graph, projection stream, planner, executor, SQLite state store, outbox
plugin: everything but reading CSV files), so ``generate`` is reported apart
from the sync. Within the sync, ``graph`` is enrich + graph, the rest
(projecting, planning, sending, writing the state) is one interleaved stream,
of which the outbox's own time (JSON lines, writes, fsyncs) is shown apart.

Figures are printed, never asserted: this is not a test. ``--profile``
prints the top functions of each run (cProfile, much slower).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PHASES = ("full", "unchanged", "changed")

HUB_TOML = """\
[state]
url = "sqlite:///.hub/state.db"

[destinations.{name}]
type = "outbox"
mapping = "mappings/crm.toml"

[destinations.{name}.settings]
directory = "outbox/{name}"
"""

NEW_FIRST_NAME = sys.intern("Benchmark")


def _peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def make_project(directory: Path, mapping: Path) -> Path:
    """A project in ``directory`` syncing ``mapping`` into an outbox; its hub.toml."""
    import tomllib

    name = tomllib.loads(mapping.read_text())["destination"]
    (directory / "mappings").mkdir(parents=True, exist_ok=True)
    shutil.copy(mapping, directory / "mappings" / "crm.toml")
    config = directory / "hub.toml"
    config.write_text(HUB_TOML.format(name=name))
    return config


def mutate(dataset: Any, share: float, seed: int) -> dict[str, int]:
    """Change ``share`` of the users, deterministically: every other one gets
    another first name, the rest another role in their first account."""
    from hub.model import Membership, User

    rng = random.Random(seed + 1000)
    chosen = sorted(user_id for user_id in dataset.users if rng.random() < share)
    renamed = chosen[0::2]
    reroled = set(chosen[1::2])
    for user_id in renamed:
        user: User = dataset.users[user_id]
        traits = dict(user.traits)
        traits["first_name"] = NEW_FIRST_NAME
        dataset.users[user_id] = dataclasses.replace(user, traits=traits)
    changed_roles = 0
    done: set[str] = set()
    for key, membership in dataset.memberships.items():
        user_id = membership.user_id
        if user_id in reroled and user_id not in done:
            done.add(user_id)
            role = "Viewer" if membership.role in ("Owner", "Admin") else "Admin"
            replaced: Membership = dataclasses.replace(membership, role=role)
            dataset.memberships[key] = replaced
            changed_roles += 1
    return {"renamed": len(renamed), "reroled": changed_roles}


def run_phase(config: Path, n_users: int, phase: str, seed: int, share: float) -> dict[str, Any]:
    """One sync in this process; the figures."""
    sys.path.insert(0, str(Path(__file__).parent))
    import hub_outbox
    from generate import AS_OF, generate

    import hub.sync

    figures: dict[str, Any] = {"phase": phase}
    started = time.perf_counter()
    dataset = generate(n_users, seed=seed)
    figures["generate_s"] = time.perf_counter() - started
    figures["users"] = len(dataset.users)
    figures["accounts"] = len(dataset.accounts)
    figures["memberships"] = len(dataset.memberships)
    if phase == "changed":
        started = time.perf_counter()
        figures["mutated"] = mutate(dataset, share, seed)
        figures["mutate_s"] = time.perf_counter() - started
    figures["rss_after_generate_mib"] = _peak_rss_mib()
    gc.freeze()  # the data set lives as long as the process: keep the collector off it

    # Instrumentation: enrich + graph, and the outbox's own share of the stream.
    timings = {"graph_s": 0.0, "outbox_s": 0.0, "fsync_s": 0.0}
    resolve, streams = hub.sync.resolve, hub.sync._streams

    def timed(function: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timings["graph_s"] += time.perf_counter() - began

        return run

    # The load, then the enrichment and the graph (built when the streams are).
    hub.sync.resolve = timed(resolve)
    hub.sync._streams = timed(streams)
    send = hub_outbox.OutboxDestination.send
    append = hub_outbox.OutboxDestination._append

    def timed_send(self: Any, batch: Any) -> Any:
        began = time.perf_counter()
        try:
            return send(self, batch)
        finally:
            timings["outbox_s"] += time.perf_counter() - began

    def timed_append(self: Any, path: Path, text: str) -> None:
        began = time.perf_counter()
        try:
            append(self, path, text)
        finally:
            timings["fsync_s"] += time.perf_counter() - began

    hub_outbox.OutboxDestination.send = timed_send  # type: ignore[method-assign]
    hub_outbox.OutboxDestination._append = timed_append  # type: ignore[method-assign]

    started, cpu = time.perf_counter(), _cpu_s()
    (run,) = hub.sync.sync(config, dataset=dataset, as_of=AS_OF)
    figures["sync_s"] = time.perf_counter() - started
    figures["sync_cpu_s"] = _cpu_s() - cpu
    figures.update(timings)
    figures["status"] = run.status.value
    figures["message"] = run.message
    figures["counts"] = run.counts
    figures["planned"] = run.planned
    figures["peak_rss_mib"] = _peak_rss_mib()
    return figures


def _line(size: int, figures: dict[str, Any]) -> str:
    counts = figures["counts"]
    phase = figures["phase"]
    sent = counts.get("sent", 0)
    verdict = ""
    if phase == "unchanged":
        verdict = " OK" if sent == 0 else " WRONG: an unchanged re-sync must send nothing"
    mutated = ""
    if "mutated" in figures:
        m = figures["mutated"]
        mutated = (
            f" | mutated {m['renamed']:,} first names + {m['reroled']:,} roles"
            f" in {figures['mutate_s']:.1f} s"
        )
    stream_s = figures["sync_s"] - figures["graph_s"]
    return (
        f"N={size:>9,} [{phase:>9}]: sync {figures['sync_s']:.1f} s"
        f" (CPU {figures['sync_cpu_s']:.1f} s; graph {figures['graph_s']:.1f} s,"
        f" project+plan+send {stream_s:.1f} s,"
        f" of which outbox {figures['outbox_s']:.1f} s, writes+fsync {figures['fsync_s']:.1f} s)"
        f" | sent {sent:,}{verdict}"
        f" (created {counts.get('created', 0):,}, updated {counts.get('updated', 0):,},"
        f" linked {counts.get('linked', 0):,}, unchanged {counts.get('unchanged', 0):,},"
        f" batches {counts.get('batches', 0):,}) | status {figures['status']}"
        f" | peak RSS {figures['peak_rss_mib'] / 1024:.2f} GiB"
        f" (data set alone {figures['rss_after_generate_mib'] / 1024:.2f} GiB)"
        f" | generate {figures['generate_s']:.1f} s{mutated}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--mapping", type=Path, default=ROOT / "mappings" / "crm.toml")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--mutate", type=float, default=0.01, help="share of users changed")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--keep", type=Path, help="make the projects here and keep them")
    parser.add_argument("--profile", action="store_true", help="cProfile each run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        config = Path(args.child)
        if args.profile:
            import cProfile
            import io
            import pstats

            profiler = cProfile.Profile()
            figures = profiler.runcall(
                run_phase, config, args.sizes[0], args.phases, args.seed, args.mutate
            )
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
            print(out.getvalue(), file=sys.stderr)
        else:
            figures = run_phase(config, args.sizes[0], args.phases, args.seed, args.mutate)
        print(json.dumps(figures))
        return
    for size in args.sizes:
        base = args.keep or Path(tempfile.mkdtemp(prefix="hub-bench-sync-"))
        directory = base / f"n{size}"
        if directory.exists():
            shutil.rmtree(directory)
        config = make_project(directory, args.mapping)
        try:
            for phase in args.phases.split(","):
                command = [
                    sys.executable,
                    __file__,
                    str(size),
                    "--child",
                    str(config),
                    "--phases",
                    phase,
                    "--seed",
                    str(args.seed),
                    "--mutate",
                    str(args.mutate),
                ]
                if args.profile:
                    command.append("--profile")
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
                    raise SystemExit(f"N={size} {phase}: exit code {done.returncode}")
                if args.profile:
                    print(done.stderr, file=sys.stderr)
                figures = json.loads(done.stdout.strip().splitlines()[-1])
                print(_line(size, figures), flush=True)
        finally:
            if args.keep is None:
                shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
