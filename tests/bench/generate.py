"""Generate a synthetic multi-account data set, for benchmarks.

``generate(n_users)`` builds a ``hub.model.Dataset`` directly in memory: about
``n_users / 4`` accounts and ``3 * n_users`` memberships, with a skewed number
of accounts per user (most users in one or two, a long tail in dozens) and a
skewed account size (a few very large accounts). Same seed, same data.

From the command line it writes the tables in the format of
``examples/sample`` (users.csv, accounts.csv, memberships.csv and, with
``--events-per-user``, a Segment events.jsonl)::

    python tests/bench/generate.py 100000 --seed 42 --out /tmp/bench

It is built for a million users: every string that repeats (roles, stages,
dates, names, keys) is one shared, interned object. Traits and relationship
properties are plain dicts without ``None`` values, exactly what the loader
(hub.sources.loading) builds from a CSV row whose empty cells it omits, so the
benchmark reads them at the same cost as real data.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

from hub.model import EMPTY, Account, Dataset, Event, Membership, User

#: The generated data's "now", the same as the sample's.
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
#: Accounts were created up to this many days before ``AS_OF``.
HISTORY_DAYS = 1500
EVENT_WINDOW_DAYS = 60

#: Accounts per user: P(k) ~ k ** -ZIPF_EXPONENT for 1 <= k <= MAX_ACCOUNTS_PER_USER, mean ~3.
ZIPF_EXPONENT = 1.92
MAX_ACCOUNTS_PER_USER = 50
#: Share of users in no account at all.
NO_ACCOUNT_SHARE = 0.02


def _table(weights: dict[str, int]) -> tuple[str, ...]:
    """A 100-slot lookup table: ``table[int(random() * 100)]`` draws by weight (in percent)."""
    if sum(weights.values()) != 100:
        raise ValueError(f"weights must add up to 100: {weights}")
    return tuple(sys.intern(value) for value, weight in weights.items() for _ in range(weight))


ROLES = _table({"Owner": 8, "Admin": 15, "User": 60, "Billing Admin": 4, "Viewer": 13})
ACCOUNT_STAGES = _table({"Trial": 25, "Customer": 40, "Free": 25, "Churned": 10})
MEMBERSHIP_STAGES = {
    "Trial": _table({"visitor": 15, "MAL": 35, "MQL": 50}),
    "Customer": _table({"CUS": 60, "PRO": 25, "churn": 15}),
    "Free": _table({"visitor": 35, "MAL": 50, "MQL": 15}),
    "Churned": _table({"churn": 100}),
}
PLANS = {
    "Trial": _table({"Starter": 30, "Business": 50, "Enterprise": 20}),
    "Customer": _table({"Starter": 30, "Business": 50, "Enterprise": 20}),
    "Free": _table({"Free": 100}),
    "Churned": _table({"Starter": 50, "Business": 50}),
}
TRACK_EVENTS = _table(
    {"Logged In": 50, "Task Completed": 30, "Project Created": 15, "Invite Sent": 5}
)
ACCOUNT_EVENTS = _table({"Payment Failed": 40, "Subscription Renewed": 60})


def _words(text: str) -> tuple[str, ...]:
    return tuple(sys.intern(word) for word in text.split())


FIRST_NAMES = _words(
    "Ada Alan Amara Ana Arjun Ben Carla Chen David Elena Emma Eva Farah Felix Grace Hana Ines "
    "Ivan Jonas Kenji Kofi Lena Liam Lin Lucas Maya Mei Nina Noah Nora Olga Omar Pablo Priya "
    "Raj Rosa Sam Sara Sofia Tom Yuki Zoe"
)
LAST_NAMES = _words(
    "Adler Becker Bell Berg Bianchi Brandt Carter Chen Cohen Diallo Fischer Garcia Haddad "
    "Horvat Kim Larsen Liu Martin Mehta Mensah Moreau Murphy Nilsson Novak Nwosu Okafor "
    "Ortiz Patel Petrova Raman Rivera Rossi Russo Schmidt Silva Tanaka Walsh Weber Wilson "
    "Zhou"
)
TITLES = tuple(
    sys.intern(t)
    for t in (
        "CEO",
        "CTO",
        "Founder",
        "Engineer",
        "Product Manager",
        "Designer",
        "Data Analyst",
        "Sales Manager",
        "Marketing Manager",
        "Support Lead",
        "Consultant",
        "Finance Lead",
    )
)
COUNTRIES = _words("US US US GB DE FR IN BR JP CA ES NL SE AU")
WORDS = _words(
    "Acme Apex Blue Bright Cloud Delta Echo Forge Globe Harbor Iron Jade Kite Lumen Maple Nova "
    "Orbit Pixel Quartz River Summit Terra Ultra Vertex Wave Zen"
)
SUFFIXES = ("Labs", "Systems", "Corp", "Works", "Studio", "Group", "Analytics", "Digital")

_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)


#: Trait and relationship property names, in column order.
USER_TRAITS = ("first_name", "last_name", "title", "country", "signed_up_at")
ACCOUNT_TRAITS = ("plan", "conversion_score", "employees", "created_at")
RELATIONSHIP_PROPERTIES = (
    "stage",
    "joined_at",
    "health_score",
    "projects_created",
    "is_primary",
    "last_seen_at",
)
USER_COLUMNS = ("user_id", "email", *USER_TRAITS)
ACCOUNT_COLUMNS = ("account_id", "name", "domain", "stage", *ACCOUNT_TRAITS)
MEMBERSHIP_COLUMNS = ("user_id", "account_id", "role", *RELATIONSHIP_PROPERTIES)


def _accounts_per_user_weights() -> list[float]:
    """Cumulative weights for 0..MAX_ACCOUNTS_PER_USER accounts per user."""
    zipf = [k**-ZIPF_EXPONENT for k in range(1, MAX_ACCOUNTS_PER_USER + 1)]
    total = sum(zipf)
    weights = [NO_ACCOUNT_SHARE] + [(1 - NO_ACCOUNT_SHARE) * w / total for w in zipf]
    return list(accumulate(weights))


def generate(n_users: int, seed: int = 42, events_per_user: float = 0.0) -> Dataset:
    """A synthetic data set of ``n_users`` users, ~``n_users / 4`` accounts and
    ~``3 * n_users`` memberships (and ~``events_per_user * n_users`` events),
    the same for the same arguments."""
    # Millions of new objects, none of them in a reference cycle: the cyclic collector
    # would only rescan them again and again.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        dataset = _generate(n_users, random.Random(seed))
        if events_per_user > 0:
            dataset.events = _events(random.Random(seed + 1), dataset, n_users, events_per_user)
        return dataset
    finally:
        if gc_was_enabled:
            gc.enable()


def _generate(n_users: int, rng: random.Random) -> Dataset:
    rand = rng.random
    n_accounts = max(1, n_users // 4)

    # Shared value tables: one object per day, per hour, per health score, ...
    days = [sys.intern((AS_OF - d * _DAY).date().isoformat()) for d in range(HISTORY_DAYS + 1)]
    # hours[d * 24 + k]: an hour of the day d + 1 days before AS_OF (so always before it).
    hours = [f"{days[h // 24 + 1]}T{23 - h % 24:02d}:00:00Z" for h in range(HISTORY_DAYS * 24)]
    healths = [i / 100 for i in range(101)]
    # 100-slot table of projects created: mostly a few, now and then dozens.
    projects_table = [int((i / 100) ** 3 * 60) for i in range(100)]

    # Dates are counted in days before AS_OF: an account was created ``created`` days before
    # (1 or more), a membership joined ``joined`` days before (1..created) and was last seen
    # on one of the days 1..joined before, ``hours[seen]``.
    accounts: dict[str, Account] = {}
    account_ids: list[str] = []
    stage_tables: list[tuple[str, ...]] = []
    created_days: list[int] = []
    for i in range(n_accounts):
        account_id = f"acc_{i:07d}"
        stage = ACCOUNT_STAGES[int(rand() * 100)]
        created = 1 + int(rand() * (45 if stage == "Trial" else HISTORY_DAYS))
        word = WORDS[int(rand() * len(WORDS))]
        score = healths[int(rand() * 101)] if stage in ("Trial", "Free") else None
        plan = PLANS[stage][int(rand() * 100)]
        employees = int(10 ** (1 + rand() * 4))
        # A plain dict without the empty cells, as the loader builds it from a CSV row.
        traits: dict[str, Any] = (
            {"plan": plan, "employees": employees, "created_at": days[created]}
            if score is None
            else {
                "plan": plan,
                "conversion_score": score,
                "employees": employees,
                "created_at": days[created],
            }
        )
        name = f"{word} {SUFFIXES[i % len(SUFFIXES)]} {i}"
        domain = f"{word.lower()}{i}.example"
        accounts[account_id] = Account(account_id, name, domain, stage, traits)
        account_ids.append(account_id)
        stage_tables.append(MEMBERSHIP_STAGES[stage])
        created_days.append(created)

    # Users and their memberships. Accounts are drawn with a skew toward low indexes
    # (``r * r``): the first accounts are the big ones.
    counts = rng.choices(
        range(MAX_ACCOUNTS_PER_USER + 1), cum_weights=_accounts_per_user_weights(), k=n_users
    )
    users: dict[str, User] = {}
    memberships: dict[tuple[str, str], Membership] = {}
    names = [
        (first, last, f"{first}.{last}".lower()) for first in FIRST_NAMES for last in LAST_NAMES
    ]
    n_names, n_titles, n_countries = len(names), len(TITLES), len(COUNTRIES)
    for u in range(n_users):
        user_id = f"u_{u:07d}"
        first, last, email_name = names[int(rand() * n_names)]
        wanted = counts[u] if counts[u] < n_accounts else n_accounts
        chosen: set[int] = set()
        while len(chosen) < wanted:
            r = rand()
            chosen.add(int(r * r * n_accounts))
        signed_up = 1 + int(rand() * 30)  # days before AS_OF, up to 30 before the first join
        primary = wanted > 1 and rand() < 0.1
        for a in sorted(chosen):
            # One draw, two independent digits: the stage and the role.
            r = rand()
            stage = stage_tables[a][int(r * 100)]
            role = ROLES[int(r * 10000) % 100]
            joined = 1 + int(rand() * created_days[a])
            if joined + 30 > signed_up:
                signed_up = joined + int(rand() * 30)
            if stage == "churn":
                health = healths[int(rand() * 31)]
                seen = int(rand() * joined * 24)
                projects = projects_table[int(rand() * 30)]
            else:
                health = healths[int(rand() * 101)]
                seen = int(rand() * (joined if joined < 30 else 30) * 24)
                projects = projects_table[int(rand() * 100)]
            props: dict[str, Any] = (
                {
                    "stage": stage,
                    "joined_at": days[joined],
                    "health_score": health,
                    "projects_created": projects,
                    "is_primary": True,
                    "last_seen_at": hours[seen],
                }
                if primary
                else {
                    "stage": stage,
                    "joined_at": days[joined],
                    "health_score": health,
                    "projects_created": projects,
                    "last_seen_at": hours[seen],
                }
            )
            primary = False
            account_id = account_ids[a]
            memberships[user_id, account_id] = Membership(user_id, account_id, role, props)
        user_traits = {
            "first_name": first,
            "last_name": last,
            "title": TITLES[int(rand() * n_titles)],
            "country": COUNTRIES[int(rand() * n_countries)],
            "signed_up_at": hours[(min(signed_up, HISTORY_DAYS) - 1) * 24 + int(rand() * 24)],
        }
        users[user_id] = User(user_id, f"{email_name}.{u}@mail.example", user_traits)
    return Dataset(users=users, accounts=accounts, memberships=memberships)


def _events(
    rng: random.Random, dataset: Dataset, n_users: int, events_per_user: float
) -> list[Event]:
    """Events in the last EVENT_WINDOW_DAYS, in time order: 90% by a user within an account,
    5% by a user outside any account, 5% to an account with no user."""
    rand = rng.random
    active = [m for m in dataset.memberships.values() if m.properties.get("stage") != "churn"]
    user_ids = list(dataset.users)
    account_ids = list(dataset.accounts)
    if not active:
        return []
    window = EVENT_WINDOW_DAYS * 86400
    n_events = round(n_users * events_per_user)
    # Seconds before AS_OF, oldest first.
    offsets = sorted((int(rand() * window) + 1 for _ in range(n_events)), reverse=True)
    events: list[Event] = []
    append = events.append
    for offset in offsets:
        moment = AS_OF - timedelta(seconds=offset)
        kind = rand()
        if kind < 0.90:
            m = active[int(rand() * len(active))]
            append(Event(TRACK_EVENTS[int(rand() * 100)], moment, m.user_id, m.account_id, EMPTY))
        elif kind < 0.95:
            user_id = user_ids[int(rand() * len(user_ids))]
            append(Event("Profile Updated", moment, user_id, None, EMPTY))
        else:
            account_id = account_ids[int(rand() * len(account_ids))]
            append(Event(ACCOUNT_EVENTS[int(rand() * 100)], moment, None, account_id, EMPTY))
    return events


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def write_tables(dataset: Dataset, out: Path) -> None:
    """Write ``dataset`` as users.csv, accounts.csv, memberships.csv (and events.jsonl when
    it has events) into ``out``, in the format of ``examples/sample``."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "users.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(USER_COLUMNS)
        writer.writerows(
            (u.user_id, u.email or "", *(_cell(u.traits.get(k)) for k in USER_TRAITS))
            for u in dataset.users.values()
        )
    with (out / "accounts.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(ACCOUNT_COLUMNS)
        writer.writerows(
            (
                a.account_id,
                _cell(a.name),
                _cell(a.domain),
                _cell(a.stage),
                *(_cell(a.traits.get(k)) for k in ACCOUNT_TRAITS),
            )
            for a in dataset.accounts.values()
        )
    with (out / "memberships.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(MEMBERSHIP_COLUMNS)
        writer.writerows(
            (
                m.user_id,
                m.account_id,
                m.role,
                *(_cell(m.properties.get(k)) for k in RELATIONSHIP_PROPERTIES),
            )
            for m in dataset.memberships.values()
        )
    if dataset.events:
        with (out / "events.jsonl").open("w", encoding="utf-8") as handle:
            for number, e in enumerate(dataset.events, start=1):
                call: dict[str, Any] = {"type": "track"}
                if e.user_id is None:
                    call["anonymousId"] = "system"
                else:
                    call["userId"] = e.user_id
                call["event"] = e.event
                call["properties"] = dict(e.properties)
                if e.account_id is not None:
                    call["context"] = {"groupId": e.account_id}
                call["timestamp"] = e.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
                call["messageId"] = f"msg_{number:09d}"
                handle.write(json.dumps(call) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate a synthetic multi-account data set.")
    parser.add_argument("n_users", type=int, help="number of users")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, required=True, help="directory to write into")
    parser.add_argument("--events-per-user", type=float, default=0.0)
    args = parser.parse_args(argv)
    dataset = generate(args.n_users, args.seed, args.events_per_user)
    write_tables(dataset, args.out)
    print(
        f"{len(dataset.users)} users, {len(dataset.accounts)} accounts, "
        f"{len(dataset.memberships)} memberships, {len(dataset.events)} events -> {args.out}"
    )


if __name__ == "__main__":
    main()
