"""The Intercom destination against the local fake: requests per change, and
throughput under the declared rate limit. Nothing leaves 127.0.0.1.

    python tests/bench/intercom.py --users 400 --time-scale 6

1. **Requests per change**, through the real engine (:func:`hub.sync.sync`)
   with ``mappings/intercom.toml`` on a generated data set: a first sync, an
   unchanged re-run (must send nothing), then separately N changed companies
   (an account trait), N changed contacts (a user trait) and N new memberships,
   each compared with what the plan counted.
2. **Throughput**: a fresh sync with the time scaled by ``--time-scale`` (the
   fake, the rate budget and the backoff all run on one clock ``k`` times
   faster, so a minute lasts ``60 / k`` seconds): once with the fake at the
   declared 10,000 requests per minute, once (a 429 storm) with the fake
   allowing only ``--storm-limit`` per minute while the plugin declares 10,000.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
# This file's name would shadow the python-intercom package (``intercom``):
# take its folder off the path and load the generator by file instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent / "plugins" / "intercom"))
_spec = importlib.util.spec_from_file_location("bench_generate", HERE / "generate.py")
assert _spec is not None and _spec.loader is not None
_generate_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_generate_module)
generate = _generate_module.generate
from intercom_fake import TOKEN, IntercomFake  # noqa: E402
from intercom_project import TOKEN_VARIABLE, write_project  # noqa: E402

from hub.contract.ratelimit import BudgetRegistry  # noqa: E402
from hub.model import Dataset, Membership  # noqa: E402
from hub.sync import DestinationRun, sync  # noqa: E402


def _kind(method: str, path: str) -> str:
    if path == "/companies" and method == "POST":
        return "company upsert"
    if path == "/contacts/search":
        return "contact search"
    if path == "/contacts" and method == "POST":
        return "contact create"
    if path.startswith("/contacts/") and method == "PUT":
        return "contact update"
    if path.endswith("/companies") and method == "POST":
        return "attach"
    if "/companies/" in path and method == "DELETE":
        return "detach"
    if path == "/data_attributes":
        return "data attribute"
    return f"{method} {path}"


def _requests(fake: IntercomFake) -> Counter[str]:
    return Counter(_kind(entry.method, entry.path) for entry in fake.log)


def _run(
    config: Path, dataset: Dataset, fake: IntercomFake, **kwargs: object
) -> tuple[DestinationRun, Counter[str]]:
    fake.reset_log()
    [run] = sync(config, dataset=dataset, **kwargs)  # type: ignore[arg-type]
    assert run.status.value == "succeeded", run.message
    return run, _requests(fake)


def _planned(run: DestinationRun, *keys: str) -> int:
    return sum(run.planned.get(key, 0) for key in keys)


def requests_per_change(users: int, changed: int, work: Path) -> None:
    dataset = generate(users)
    with IntercomFake() as fake:
        config = write_project(work, fake.base_url)
        run, seen = _run(config, dataset, fake)
        print(
            f"first sync of {len(dataset.users)} users, {len(dataset.accounts)} accounts, "
            f"{len(dataset.memberships)} memberships: {sum(seen.values())} requests {dict(seen)}"
        )
        run, seen = _run(config, dataset, fake)
        print(
            f"unchanged re-run: {sum(seen.values())} requests (plan: "
            f"{run.planned.get('account.unchanged', 0)} accounts, "
            f"{run.planned.get('contact.unchanged', 0)} contacts, "
            f"{run.planned.get('link.unchanged', 0)} links unchanged)"
        )

        accounts = dict(dataset.accounts)
        for key in sorted(accounts)[:changed]:
            account = accounts[key]
            accounts[key] = dataclasses.replace(account, name=f"{account.name} (renamed)")
        dataset = dataclasses.replace(dataset, accounts=accounts)
        run, seen = _run(config, dataset, fake)
        planned = _planned(run, "account.update")
        print(
            f"{planned} changed companies: {seen['company upsert']} company requests "
            f"= {seen['company upsert'] / planned:.2f} per company; all requests {dict(seen)}"
        )

        users_ = dict(dataset.users)
        for key in sorted(users_)[:changed]:
            user = users_[key]
            users_[key] = dataclasses.replace(user, traits={**user.traits, "first_name": "Changed"})
        dataset = dataclasses.replace(dataset, users=users_)
        run, seen = _run(config, dataset, fake)
        planned = _planned(run, "contact.update")
        print(
            f"{planned} changed contacts: {seen['contact update']} contact requests "
            f"= {seen['contact update'] / planned:.2f} per contact; all requests {dict(seen)}"
        )

        memberships = dict(dataset.memberships)
        user_ids, account_ids = sorted(dataset.users), sorted(dataset.accounts)
        added = 0
        for index, user_id in enumerate(user_ids):
            account_id = account_ids[(index * 7) % len(account_ids)]
            if (user_id, account_id) not in memberships and added < changed:
                memberships[(user_id, account_id)] = Membership(user_id, account_id, "User")
                added += 1
        dataset = dataclasses.replace(dataset, memberships=memberships)
        run, seen = _run(config, dataset, fake)
        planned = _planned(run, "link.link")
        print(
            f"{planned} new memberships: {seen['attach']} attach requests "
            f"= {seen['attach'] / planned:.2f} per link; side effects: "
            f"{_planned(run, 'contact.update')} contacts and {_planned(run, 'account.update')} "
            f"companies changed (summaries, user lists) -> all requests {dict(seen)}"
        )


def throughput(users: int, scale: float, fake_limit: int, label: str, work: Path) -> None:
    def clock() -> float:
        return time.time() * scale

    def monotonic() -> float:
        return time.monotonic() * scale

    def sleep(seconds: float) -> None:
        time.sleep(seconds / scale)

    dataset = generate(users)
    # Intercom's windows: a sixth of the per-minute limit in every 10 seconds.
    with IntercomFake(limit=fake_limit // 6, window=10.0, clock=clock) as fake:
        config = write_project(work, fake.base_url)
        budgets = BudgetRegistry(clock=monotonic, sleep=sleep)
        started = time.monotonic()
        run, _ = _run(config, dataset, fake, budgets=budgets, sleep=sleep, extras={"clock": clock})
        elapsed = (time.monotonic() - started) * scale
        total = len(fake.log)
        times = sorted(entry.at for entry in fake.log)
        busiest, start = 0, 0
        for end, moment in enumerate(times):
            while moment - times[start] >= 10.0:
                start += 1
            busiest = max(busiest, end - start + 1)
        print(
            f"{label}: {total} requests ({fake.throttled} answered 429) in {elapsed:.1f} scaled s "
            f"({elapsed / scale:.1f} real s): {total / elapsed * 60:,.0f} requests per scaled "
            "minute; "
            f"busiest 10 scaled s: {busiest:,} requests; "
            f"fake limit {fake_limit // 6:,}/10 s, declared 1,666/10 s (10,000/min); "
            f"budget waits {run.rate_waits} ({run.rate_wait_seconds:.1f} s), "
            f"retried {run.counts.get('retried', 0)}, confirmed "
            f"{run.counts.get('created', 0) + run.counts.get('updated', 0)} records/links"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--changed", type=int, default=25)
    parser.add_argument("--throughput-users", type=int, default=2000)
    parser.add_argument("--time-scale", type=float, default=6.0)
    parser.add_argument("--storm-limit", type=int, default=5000)
    args = parser.parse_args()
    os.environ[TOKEN_VARIABLE] = TOKEN
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1"
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("changes", "declared", "storm"):
            (Path(tmp) / name).mkdir()
        requests_per_change(args.users, args.changed, Path(tmp) / "changes")
        throughput(
            args.throughput_users,
            args.time_scale,
            10_000,
            "at the declared limit",
            Path(tmp) / "declared",
        )
        throughput(
            args.throughput_users,
            args.time_scale,
            args.storm_limit,
            f"429 storm (fake allows {args.storm_limit:,}/min)",
            Path(tmp) / "storm",
        )


if __name__ == "__main__":
    main()
