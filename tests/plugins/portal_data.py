"""A synthetic B2B dataset, and the share of it a vendor's portal already holds,
for the "first sync into a portal that already has data" tests of every vendor."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

ROLES = ("Owner", "Admin", "User", "User", "Viewer")
STAGES = ("visitor", "MAL", "MQL", "CUS", "PRO")


@dataclass(frozen=True)
class Portal:
    """The dataset written as CSV, and what the portal had before the first sync."""

    users: list[dict[str, str]]
    accounts: list[dict[str, str]]
    memberships: list[dict[str, str]]
    #: Users whose e-mail the portal already has a contact for.
    seeded_users: list[dict[str, str]]
    #: Accounts whose domain the portal already has a company for.
    seeded_accounts: list[dict[str, str]]


def make_portal(
    directory: Path,
    *,
    users: int = 200,
    accounts: int = 40,
    seeded_share: float = 0.3,
    seeded_accounts: int = 10,
    seed: int = 7,
) -> Portal:
    """Write ``users.csv``, ``accounts.csv`` and ``memberships.csv`` in ``directory``."""
    rng = random.Random(seed)
    account_rows = [
        {
            "account_id": f"acc_{i:03d}",
            "name": f"Company {i}",
            "domain": f"company{i}.example",
            "stage": rng.choice(("Trial", "Customer")),
        }
        for i in range(accounts)
    ]
    user_rows = [
        {
            "user_id": f"u_{i:04d}",
            "email": f"person{i}@company{i % accounts}.example",
            "first_name": f"First{i}",
            "last_name": f"Last{i}",
        }
        for i in range(users)
    ]
    memberships = []
    for i, user in enumerate(user_rows):
        homes = {i % accounts, *rng.sample(range(accounts), rng.choice((0, 0, 1, 2)))}
        for j in sorted(homes):
            memberships.append(
                {
                    "user_id": user["user_id"],
                    "account_id": account_rows[j]["account_id"],
                    "role": rng.choice(ROLES),
                    "stage": rng.choice(STAGES),
                }
            )
    for name, rows in (
        ("users", user_rows),
        ("accounts", account_rows),
        ("memberships", memberships),
    ):
        with (directory / f"{name}.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return Portal(
        user_rows,
        account_rows,
        memberships,
        rng.sample(user_rows, round(users * seeded_share)),
        rng.sample(account_rows, seeded_accounts),
    )


def sources_toml(directory: Path) -> str:
    """The ``[sources]`` of hub.toml reading the portal's CSV files."""
    return "".join(
        f'[sources.{t}]\nkind = "csv"\ntable = "{t}"\npath = "{directory / (t + ".csv")}"\n\n'
        for t in ("users", "accounts", "memberships")
    )


def mapping_toml(
    destination: str,
    *,
    accounts: dict[str, str],
    users: dict[str, str],
    accounts_match: str = '["external_id", "domain"]',
    users_match: str = '["external_id", "email"]',
) -> str:
    """A mapping for the portal's data: ``accounts`` and ``users`` are the fields
    (destination field -> reference), the matches TOML arrays."""

    def fields(table: dict[str, str]) -> str:
        return "".join(f'{name} = "{reference}"\n' for name, reference in table.items())

    return f"""
destination = "{destination}"

[stages]
order = ["visitor", "MAL", "MQL", "CUS", "PRO"]
property = "stage"

[accounts]
match = {accounts_match}

[accounts.fields]
{fields(accounts)}
[users]
match = {users_match}

[users.fields]
{fields(users)}"""
