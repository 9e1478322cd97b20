"""Requests the Salesforce destination makes, against the local fake org.

    .venv/bin/python tests/bench/salesforce.py [N ...]

prints, for 1,000 changed contacts, the requests sObject Collections need
(the floor is 1000 / 200 = 5), and for each N (default 10,000 and 100,000)
the requests one Bulk API 2.0 ingest job needs (a constant: create, upload,
close, poll, job info, failedResults, successfulResults), with wall time.
Requests are counted at the fake's data API (the one OAuth token request is
shown apart). Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "plugins" / "salesforce"))
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")

from hub_salesforce import SalesforceSettings, make_salesforce  # noqa: E402
from salesforce_fake import CLIENT_ID, CLIENT_SECRET, FakeSalesforce  # noqa: E402

from hub.contract.capabilities import Operation  # noqa: E402
from hub.contract.destination import BatchItem, BatchObject, Outcome  # noqa: E402
from hub.contract.testing import RecordingBudget, make_batch, make_context  # noqa: E402


def _destination(url: str, base: Path, **settings: object):  # type: ignore[no-untyped-def]
    validated = SalesforceSettings.model_validate(
        {
            "auth": "client_credentials",
            "login_url": url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "bulk_poll_seconds": 0,
            **settings,
        }
    )
    budget = RecordingBudget()
    return make_salesforce(validated, make_context(base, "bench", budget=budget)), budget


def _contacts(count: int) -> list[BatchItem]:
    return [
        BatchItem(
            f"u{i:07d}",
            {"FirstName": f"User{i}", "LastName": "Bench", "Email": f"u{i}@bench.example"},
        )
        for i in range(count)
    ]


def run(count: int, **settings: object) -> tuple[int, Counter[str], float, int]:
    """Upsert ``count`` contacts in batches of the instance's size; requests made."""
    with FakeSalesforce() as fake, tempfile.TemporaryDirectory() as base:
        destination, budget = _destination(fake.url, Path(base), **settings)
        items = _contacts(count)
        size = destination.capabilities.batch_size(Operation.UPSERT)
        started = time.perf_counter()
        ok = 0
        batches = 0
        for start in range(0, count, size):
            batch = make_batch(BatchObject.CONTACT, Operation.UPSERT, items[start : start + size])
            batches += 1
            ok += sum(r.outcome is Outcome.OK for r in destination.send(batch))
        elapsed = time.perf_counter() - started
        destination.close()
        assert ok == count, f"{count - ok} records not ok"
        kinds = Counter(
            f"{method} {path.rsplit('/', 1)[-1] if 'jobs' in path else path.split('/v60.0/')[-1]}"
            for method, path in fake.data_requests()
        )
        # The engine acquires one request per batch; the plugin the rest.
        assert budget.acquired + batches >= fake.org.token_requests + len(fake.data_requests())
        return len(fake.data_requests()), kinds, elapsed, fake.org.token_requests


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [10_000, 100_000]
    requests, kinds, elapsed, tokens = run(1000, bulk_threshold=100_000)
    print("sObject Collections, 1,000 changed contacts (floor 1000/200 = 5):")
    print(f"  {requests} requests ({dict(kinds)}), +{tokens} token request, {elapsed:.2f}s")
    print("Bulk API 2.0, one ingest job per batch of up to 100,000 records:")
    for count in sizes:
        requests, kinds, elapsed, tokens = run(count, bulk_threshold=2000)
        print(
            f"  {count:>7,} records: {requests} requests, +{tokens} token request, {elapsed:.2f}s"
        )
        print(f"           {dict(sorted(kinds.items()))}")


if __name__ == "__main__":
    main(sys.argv[1:])
