"""Benchmark: the first sync into a portal that already has data, per vendor, and
what one bad record costs (fakes on 127.0.0.1 only, through ``hub.sync``).

    python tests/bench/first_sync.py [--users 1000] [--accounts 100]

For HubSpot, Salesforce and Intercom: a portal pre-seeded with 30% of the
users' contacts (by e-mail) and a tenth of the accounts (HubSpot and Salesforce
by domain, Intercom by company_id: its API cannot look companies up by
website). Printed per vendor: requests of the first sync and per 1,000 objects
(contacts + accounts + links), records adopted, created and failed, duplicate
contacts by e-mail, and the requests of a second, unchanged run.

Then, for HubSpot, requests per 1,000 contacts of a warm sync (every contact's
stage changed) with no bad record and with 1% bad records (a ``lifecyclestage``
that is no option: HubSpot refuses the whole batch of 100 with a 400, and the
hub isolates the bad input by halving).

Figures are printed, never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# This folder holds intercom.py (a benchmark): it must not shadow the intercom SDK.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
for folder in ("plugins", "plugins/hubspot", "plugins/salesforce", "plugins/intercom"):
    sys.path.insert(0, str(ROOT / "tests" / folder))

import test_hubspot_live_portal as hubspot_portal  # noqa: E402
import test_intercom_live_workspace as intercom_workspace  # noqa: E402
import test_salesforce_live_org as salesforce_org  # noqa: E402
from fake_hubspot import TOKEN as HUBSPOT_TOKEN  # noqa: E402
from fake_hubspot import FakeHubSpot  # noqa: E402
from intercom_fake import TOKEN as INTERCOM_TOKEN  # noqa: E402
from intercom_fake import IntercomFake  # noqa: E402
from portal_data import Portal, make_portal  # noqa: E402
from salesforce_fake import CLIENT_SECRET, FakeSalesforce  # noqa: E402

from hub.sync import DestinationRun, sync  # noqa: E402


def _run(config: Path) -> DestinationRun:
    (run,) = sync(config, sleep=lambda seconds: None)
    return run


def _report(
    vendor: str,
    portal: Portal,
    first: DestinationRun,
    requests: int,
    again: int,
    duplicates: int,
) -> None:
    objects = len(portal.users) + len(portal.accounts) + len(portal.memberships)
    counts = first.counts
    print(
        f"{vendor}: first sync {requests} requests ({requests / objects * 1000:.0f} per 1,000"
        f" objects); adopted {counts['adopted']} (seeded {len(portal.seeded_users)} contacts"
        f" + accounts), created {counts['created'] - counts['adopted']}, failed"
        f" {counts['failed']}, duplicate e-mails {duplicates}; second run {again} requests"
    )


def hubspot(work: Path, users: int, accounts: int) -> None:
    portal = make_portal(work, users=users, accounts=accounts, seeded_accounts=accounts // 10)
    with FakeHubSpot(window_requests=10_000) as fake:
        hubspot_portal._seed(fake, portal)
        config = hubspot_portal._project(work, fake.url)
        first = _run(config)
        requests = len(fake.log)
        _run(config)
        emails = Counter(r.get("email", "").lower() for r in fake.objects["contacts"].values())
        _report("hubspot", portal, first, requests, len(fake.log) - requests, _extra(emails))
        warm_with_bad_records(work, fake, portal)


def warm_with_bad_records(work: Path, fake: FakeHubSpot, portal: Portal) -> None:
    mapping = work / "hubspot.toml"
    mapping.write_text(
        mapping.read_text().replace(
            'lifecyclestage = "rollup.stage"', 'lifecyclestage = "user.lifecycle"'
        )
    )
    config = work / "hub.toml"
    for label, bad_every in (("no bad record", 0), ("1% bad records", 100)):
        # Every contact changes (its name), its stage only forwards: no regression
        # requests (clear, then set) mix into the figure.
        _users_with_lifecycle(work, portal, label, bad_every)
        before = len(fake.log)
        run = _run(config)
        contacts = [e for e in fake.log[before:] if "/objects/contacts/" in e.path]
        print(
            f"hubspot warm sync, {label}: {len(contacts)} contact requests for"
            f" {run.counts['updated'] + run.counts['failed']} changed contacts"
            f" ({len(contacts) / len(portal.users) * 1000:.0f} per 1,000), failed"
            f" {run.counts['failed']}"
        )


def _users_with_lifecycle(work: Path, portal: Portal, label: str, bad_every: int) -> None:
    rows = ["user_id,email,first_name,last_name,lifecycle"]
    for i, user in enumerate(portal.users):
        value = "zombie" if bad_every and i % bad_every == 0 else "other"
        name = f"{user['first_name']} ({label})"
        rows.append(f"{user['user_id']},{user['email']},{name},{user['last_name']},{value}")
    (work / "users.csv").write_text("\n".join(rows) + "\n")


def _extra(counter: Counter[str]) -> int:
    return sum(count - 1 for count in counter.values() if count > 1)


def salesforce(work: Path, users: int, accounts: int) -> None:
    portal = make_portal(work, users=users, accounts=accounts, seeded_accounts=accounts // 10)
    with FakeSalesforce() as fake:
        org = fake.org
        for user in portal.seeded_users:
            org.seed("Contact", {"LastName": "Seeded", "Email": user["email"]})
        for account in portal.seeded_accounts:
            org.seed("Account", {"Name": "Seeded", "Website": f"https://{account['domain']}/"})
        config = salesforce_org._project(work, fake.url)
        first = _run(config)
        requests = len(fake.data_requests())
        _run(config)
        emails = Counter(str(r.get("Email")).lower() for r in org.records["Contact"].values())
        again = len(fake.data_requests()) - requests
        _report("salesforce", portal, first, requests, again, _extra(emails))


def intercom(work: Path, users: int, accounts: int) -> None:
    portal = make_portal(work, users=users, accounts=accounts, seeded_accounts=accounts // 10)
    with IntercomFake() as fake:
        for user in portal.seeded_users:
            fake.route("POST", "/contacts", {}, {"role": "user", "email": user["email"]})
        for account in portal.seeded_accounts:
            fake.route("POST", "/companies", {}, {"company_id": account["account_id"]})
        seeded = len(fake.log)
        config = intercom_workspace._project(work, fake.base_url)
        first = _run(config)
        requests = len(fake.log) - seeded
        _run(config)
        emails = Counter(str(c.get("email")).lower() for c in fake.state.contacts.values())
        again = len(fake.log) - seeded - requests
        _report("intercom", portal, first, requests, again, _extra(emails))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--accounts", type=int, default=100)
    args = parser.parse_args()
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1"
    # One credential at a time: a variable naming a destination hub.toml lacks is refused.
    credentials = {
        hubspot: ("HUB_DESTINATIONS__HUBSPOT__SETTINGS__TOKEN", HUBSPOT_TOKEN),
        salesforce: ("HUB_DESTINATIONS__SALESFORCE__SETTINGS__CLIENT_SECRET", CLIENT_SECRET),
        intercom: ("HUB_DESTINATIONS__INTERCOM__SETTINGS__ACCESS_TOKEN", INTERCOM_TOKEN),
    }
    for vendor, (variable, secret) in credentials.items():
        os.environ[variable] = secret
        with tempfile.TemporaryDirectory() as tmp:
            vendor(Path(tmp), args.users, args.accounts)
        del os.environ[variable]


if __name__ == "__main__":
    main()
