"""Benchmark: the HubSpot plugin against the fake HubSpot (127.0.0.1 only).

    python tests/bench/hubspot.py [--records 10000] [--window-requests 100] [--window-seconds 1]

1. **Requests per 1,000 changed objects** (contacts, companies, associations),
   at HubSpot's batch maxima (100 objects, 2,000 associations), the floor
   being 10 per 1,000 objects; once from cold (property, group and label
   set-up included) and once warm (what every later sync costs).
2. **Share of the rate window used** during a sync of ``--records`` records
   (a fifth companies, the rest contacts, one association per contact), sent
   the way the engine sends them: one batch at a time, one request acquired
   from a shared :class:`~hub.contract.ratelimit.CredentialBudget` before each batch,
   the records a 429 turned back re-sent after it. The fake's window is
   *shortened* (default 20 requests per 1 s instead of 100 per 10 s: a
   10,000-record sync is only ~114 requests, so a smaller allowance spreads it
   over several windows, and the run takes seconds); the budget is the
   instance's declared limit with its window scaled the same way. Printed:
   requests, the share of each complete window's allowance used (mean and
   lowest), the overall pace, the most requests seen in any sliding window, and
   the share of requests answered 429. Target: >= 90% used, < 1% 429s.

Figures are printed, never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from bisect import bisect_left, bisect_right
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "plugins" / "hubspot"))

from fake_hubspot import FakeHubSpot  # noqa: E402
from hub_hubspot import HubSpotDestination  # noqa: E402
from hubspot_helpers import make_destination  # noqa: E402

from hub.contract.capabilities import Operation, RateLimit  # noqa: E402
from hub.contract.destination import (  # noqa: E402
    BatchItem,
    BatchObject,
    LinkEnds,
    Outcome,
    RateBudget,
    link_key,
    link_payload,
)
from hub.contract.ratelimit import CredentialBudget  # noqa: E402
from hub.contract.testing import RecordingBudget, make_batch  # noqa: E402


def _company(i: int) -> BatchItem:
    return BatchItem(
        f"acct-{i:05d}",
        {"name": f"Account {i}", "domain": f"a{i}.example", "hub_user_count": 4 + i % 7},
    )


def _contact(i: int) -> BatchItem:
    stage = ("MAL", "MQL", "CUS", "PRO")[i % 4]
    return BatchItem(
        f"user-{i:06d}",
        {"email": f"user{i}@example.com", "firstname": f"User {i}", "lifecyclestage": stage},
    )


def _sync(
    destination: HubSpotDestination,
    budget: RateBudget,
    companies: list[BatchItem],
    contacts: list[BatchItem],
    links_per_contact: int = 1,
) -> tuple[int, int]:
    """Send like the engine; return (batches, records re-sent after a retryable answer)."""
    ids: dict[str, str] = {}
    batches = resent = 0
    size = destination.capabilities.batch_size(Operation.UPSERT)

    def send(object: BatchObject, operation: Operation, items: list[BatchItem]) -> None:
        nonlocal batches, resent
        pending = items
        while pending:
            budget.acquire(1)  # the engine acquires one request per batch
            batches += 1
            results = destination.send(make_batch(object, operation, pending))
            retry = {r.key for r in results if r.outcome is Outcome.RETRYABLE}
            for result in results:
                if result.outcome is Outcome.OK and result.destination_id:
                    ids[result.key] = result.destination_id
            resent += len(retry)
            pending = [item for item in pending if item.key in retry]

    for start in range(0, len(companies), size):
        send(BatchObject.ACCOUNT, Operation.UPSERT, companies[start : start + size])
    for start in range(0, len(contacts), size):
        send(BatchObject.CONTACT, Operation.UPSERT, contacts[start : start + size])
    links: list[BatchItem] = []
    for i, contact in enumerate(contacts):
        for j in range(links_per_contact):
            company = companies[(i + j * 7) % len(companies)]
            ends = LinkEnds(
                contact.key, company.key, ids.get(contact.key), ids.get(company.key), j == 0
            )
            role = ("Owner", "Admin", "User")[i % 3]
            links.append(
                BatchItem(
                    link_key(contact.key, company.key),
                    link_payload({"role": role}, ends.primary),
                    None,
                    ends,
                )
            )
    link_size = destination.capabilities.batch_size(Operation.LINK)
    for start in range(0, len(links), link_size):
        send(BatchObject.LINK, Operation.LINK, links[start : start + link_size])
    return batches, resent


def requests_per_thousand(tmp: Path) -> None:
    print("1. requests per 1,000 changed objects (batch maxima: 100 objects, 2,000 associations)")
    with FakeHubSpot(window_requests=1_000_000) as fake:
        destination = make_destination(fake.url, tmp, budget=RecordingBudget())
        companies = [_company(i) for i in range(1000)]
        contacts = [_contact(i) for i in range(1000)]
        for label in ("cold", "warm"):
            counts = []
            for object, items in (
                (BatchObject.ACCOUNT, companies),
                (BatchObject.CONTACT, contacts),
            ):
                before = len(fake.log)
                for start in range(0, len(items), 100):
                    destination.send(
                        make_batch(object, Operation.UPSERT, items[start : start + 100])
                    )
                counts.append(len(fake.log) - before)
            before = len(fake.log)
            _sync_links_only(destination, fake, contacts)
            counts.append(len(fake.log) - before)
            print(
                f"   {label:4}: companies {counts[0]:3d}, contacts {counts[1]:3d}, "
                f"associations {counts[2]:3d} requests per 1,000"
            )
            # Warm: what changed is the stage (moving forward), so no regression fix-ups.
            contacts = [BatchItem(c.key, {**c.payload, "lifecyclestage": "PRO"}) for c in contacts]
        print("   floor: 10 per 1,000 objects (100 per request); 1 per 1,000 associations (2,000)")


def _sync_links_only(
    destination: HubSpotDestination, fake: FakeHubSpot, contacts: list[BatchItem]
) -> None:
    items = []
    for i, contact in enumerate(contacts):
        contact_id = fake.find("contacts", "hub_user_id", contact.key)
        company_id = fake.find("companies", "hub_account_id", f"acct-{i % 1000:05d}")
        assert contact_id and company_id
        ends = LinkEnds(contact.key, f"acct-{i % 1000:05d}", contact_id[0], company_id[0], True)
        role = ("Owner", "Admin", "User")[i % 3]
        items.append(
            BatchItem(
                link_key(ends.contact_key, ends.account_key),
                link_payload({"role": role}, ends.primary),
                None,
                ends,
            )
        )
    destination.send(make_batch(BatchObject.LINK, Operation.LINK, items))


def window_share(tmp: Path, records: int, window_requests: int, window_seconds: float) -> None:
    companies = [_company(i) for i in range(records // 5)]
    contacts = [_contact(i) for i in range(records - len(companies))]
    print(
        f"2. a {records:,}-record sync ({len(companies):,} companies, {len(contacts):,} contacts, "
        f"{len(contacts):,} associations); fake window shortened to {window_requests} requests "
        f"per {window_seconds:g} s (HubSpot: 100 per 10 s on starter)"
    )
    # No contract check here: its 18 ms a batch would slow the fake, not the client.
    with FakeHubSpot(
        window_requests=window_requests, window_seconds=window_seconds, check_requests=False
    ) as fake:
        # What the engine does: a budget from the instance's declared limit, here
        # with the window scaled down like the fake's (the plugin's margin kept).
        declared = make_destination(fake.url, tmp).capabilities.rate_limit
        assert declared is not None
        scale = window_seconds / 10.0
        budget = CredentialBudget(
            RateLimit(requests=window_requests, per_seconds=declared.per_seconds * scale)
        )
        destination = make_destination(fake.url, tmp, budget=budget)
        started = time.perf_counter()
        batches, resent = _sync(destination, budget, companies, contacts)
        elapsed = time.perf_counter() - started
        times = [entry.at for entry in fake.log]
        statuses = fake.statuses()
        accepted = [t for t, s in zip(times, statuses, strict=True) if s != 429]
        first = times[0]
        complete = int((times[-1] - first) // window_seconds)
        shares = [
            (
                bisect_left(accepted, first + (w + 1) * window_seconds)
                - bisect_left(accepted, first + w * window_seconds)
            )
            / window_requests
            for w in range(complete)
        ]
        peak = max(
            bisect_right(accepted, t) - bisect_left(accepted, t - window_seconds + 1e-9)
            for t in accepted
        )
        limited = statuses.count(429)
        print(
            f"   {len(times)} requests ({batches} batches) in {elapsed:.2f} s, "
            f"{resent} records re-sent"
        )
        if shares:
            print(
                f"   share of the window's allowance used: mean {sum(shares) / len(shares):.1%} "
                f"over {len(shares)} complete windows, lowest {min(shares):.1%}"
            )
        steady = (len(accepted) - 1) / (accepted[-1] - accepted[0]) * window_seconds
        print(
            f"   overall pace: {steady:.1f} requests per window of {window_seconds:g} s "
            f"= {steady / window_requests:.1%} of the allowance (first to last request)"
        )
        print(f"   most requests in any sliding window: {peak} of {window_requests}")
        print(f"   answered 429: {limited} of {len(times)} ({limited / len(times):.2%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--window-requests", type=int, default=20)
    parser.add_argument("--window-seconds", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        requests_per_thousand(Path(tmp))
        window_share(Path(tmp), args.records, args.window_requests, args.window_seconds)


if __name__ == "__main__":
    main()
