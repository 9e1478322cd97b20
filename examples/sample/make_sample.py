"""Write the hand-crafted sample data set: users, accounts, memberships, events.

Run ``python examples/sample/make_sample.py [OUT_DIR]`` (default: this
directory). The output is deterministic: the random draws use a fixed seed and
every date is relative to the fixed ``AS_OF`` (2026-11-01T00:00:00Z), so
regenerating gives byte-identical files.

The key people and accounts are written out below by hand (Elon and the
PQA/PQL playbook material); the rest of the cast gets seeded random roles,
stages and scores. A few bad rows are planted on purpose, one of each kind;
``write_sample`` returns where they are (``examples/README.md`` lists them).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

#: The sample's "now": every date in it is before this, events span the 60 days up to it.
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
SEED = 20261101
EVENT_WINDOW_DAYS = 60

USER_COLUMNS = ("user_id", "email", "first_name", "last_name", "title", "country", "signed_up_at")
ACCOUNT_COLUMNS = (
    "account_id",
    "name",
    "domain",
    "stage",
    "plan",
    "conversion_score",
    "employees",
    "created_at",
)
MEMBERSHIP_COLUMNS = (
    "user_id",
    "account_id",
    "role",
    "stage",
    "joined_at",
    "health_score",
    "projects_created",
    "is_primary",
    "last_seen_at",
)


@dataclass(frozen=True)
class AccountRow:
    account_id: str
    name: str
    domain: str
    stage: str
    plan: str
    conversion_score: float | None
    employees: int
    created_at: date


# account_id, name, domain, stage, plan, conversion score (trials and free accounts only),
# employees, created_at
# fmt: off
ACCOUNTS = [
    AccountRow("acc_twitter", "Twitter", "twitter.example", "Customer", "Enterprise", None,
               7500, date(2024, 3, 14)),
    AccountRow("acc_tesla", "Tesla", "tesla.example", "Trial", "Business", 0.82,
               127000, date(2026, 9, 18)),
    AccountRow("acc_spacex", "SpaceX", "spacex.example", "Customer", "Business", None,
               13000, date(2025, 1, 10)),
    AccountRow("acc_neuralink", "Neuralink", "neuralink.example", "Trial", "Business", 0.91,
               400, date(2026, 9, 25)),
    AccountRow("acc_xai", "xAI", "xai.example", "Trial", "Business", 0.75,
               1200, date(2026, 10, 2)),
    AccountRow("acc_boring", "The Boring Company", "boring.example", "Trial", "Starter", 0.34,
               300, date(2026, 10, 10)),
    AccountRow("acc_acme", "Acme Corp", "acme.example", "Customer", "Enterprise", None,
               5200, date(2023, 6, 1)),
    AccountRow("acc_globex", "Globex", "globex.example", "Customer", "Business", None,
               880, date(2024, 11, 20)),
    AccountRow("acc_initech", "Initech", "initech.example", "Customer", "Starter", None,
               140, date(2025, 5, 5)),
    AccountRow("acc_wayne", "Wayne Enterprises", "wayne.example", "Customer", "Enterprise", None,
               21000, date(2024, 8, 8)),
    AccountRow("acc_stark", "Stark Industries", "stark.example", "Trial", "Enterprise", 0.68,
               9000, date(2026, 10, 5)),
    AccountRow("acc_hooli", "Hooli", "hooli.example", "Free", "Free", 0.12,
               2400, date(2025, 9, 15)),
    AccountRow("acc_umbrella", "Umbrella", "umbrella.example", "Free", "Free", 0.55,
               650, date(2026, 2, 2)),
    AccountRow("acc_piedpiper", "Pied Piper", "piedpiper.example", "Churned", "Starter", None,
               12, date(2024, 4, 1)),
    AccountRow("acc_wonka", "Wonka Industries", "wonka.example", "Churned", "Business", None,
               310, date(2023, 12, 12)),
]
# fmt: on
ACCOUNTS_BY_ID = {a.account_id: a for a in ACCOUNTS}


@dataclass(frozen=True)
class Exact:
    """A membership written out by hand: every relationship property fixed."""

    account: str
    role: str
    stage: str
    health_score: float
    joined_at: date
    projects_created: int
    is_primary: bool | None = None


@dataclass(frozen=True)
class Person:
    """A user, with memberships given either exactly or as ``"account[:Role]"``
    (role, stage and scores then drawn at random)."""

    user_id: str
    first_name: str
    last_name: str
    title: str
    country: str
    accounts: list[Exact | str] = field(default_factory=list)
    email: str | None = None


D = date
# fmt: off
PEOPLE = [
    # Elon (seeds 000 and 001): Owner of Twitter, Admin of Tesla, a plain User of SpaceX,
    # and a different stage in each. His SpaceX membership churned, so his rolled-up stage
    # is CUS (from Twitter), not PRO.
    Person("u_elon", "Elon", "Musk", "CEO", "US", [
        Exact("acc_twitter", "Owner", "CUS", 0.9, D(2024, 3, 14), 42, is_primary=True),
        Exact("acc_tesla", "Admin", "MQL", 0.7, D(2026, 9, 20), 5),
        Exact("acc_spacex", "User", "churn", 0.15, D(2025, 2, 3), 1),
    ], email="elon@x.example"),
    # Tesla: Trial, conversion score 0.82, so a PQA (seed 003). Its PQLs (health > 0.5 and
    # Owner or Admin) are Elon and Lena; everybody else misses one condition.
    Person("u_maya", "Maya", "Okafor", "VP Engineering", "US", [
        Exact("acc_tesla", "Owner", "MQL", 0.4, D(2026, 9, 18), 3),
        Exact("acc_globex", "User", "CUS", 0.66, D(2025, 1, 8), 7),
    ]),
    Person("u_lena", "Lena", "Fischer", "Head of Operations", "DE", [
        Exact("acc_tesla", "Admin", "MQL", 0.9, D(2026, 9, 19), 8),
    ]),
    Person("u_tomas", "Tomás", "Rivera", "IT Manager", "ES", [
        Exact("acc_tesla", "Admin", "MAL", 0.5, D(2026, 9, 22), 0),
    ]),
    # Priya: Owner of Neuralink and plain User of Tesla, both PQAs: a PQL for Neuralink
    # only, although her health score in Tesla is the higher one.
    Person("u_priya", "Priya", "Raman", "CTO", "IN", [
        Exact("acc_neuralink", "Owner", "MQL", 0.8, D(2026, 9, 25), 6, is_primary=True),
        Exact("acc_tesla", "User", "MQL", 0.95, D(2026, 9, 21), 11),
    ]),
    Person("u_sam", "Sam", "Whitfield", "Software Engineer", "US", [
        Exact("acc_tesla", "User", "MQL", 0.85, D(2026, 9, 23), 9),
    ]),
    Person("u_nora", "Nora", "Lindqvist", "Finance Lead", "SE", [
        Exact("acc_tesla", "Billing Admin", "MAL", 0.8, D(2026, 9, 24), 0),
    ]),
    # Neuralink: Trial, 0.91. PQLs: Priya (Owner 0.8) and Kenji (Admin 0.6).
    Person("u_kenji", "Kenji", "Watanabe", "Research Lead", "JP", [
        Exact("acc_neuralink", "Admin", "MQL", 0.6, D(2026, 9, 26), 4),
        Exact("acc_spacex", "User", "PRO", 0.7, D(2025, 6, 30), 15),
    ]),
    Person("u_lin", "Lin", "Zhou", "Data Scientist", "CN", [
        Exact("acc_neuralink", "User", "MQL", 0.9, D(2026, 9, 29), 5),
        "acc_xai",
    ]),
    Person("u_kofi", "Kofi", "Mensah", "Lab Technician", "GH", [
        Exact("acc_neuralink", "Viewer", "MAL", 0.3, D(2026, 10, 3), 0),
    ]),
    # xAI: Trial at exactly 0.75, so *not* a PQA (the rule is "> 0.75").
    Person("u_omar", "Omar", "Haddad", "Founder", "AE", [
        Exact("acc_xai", "Owner", "MQL", 0.9, D(2026, 10, 2), 3),
        Exact("acc_twitter", "Admin", "CUS", 0.8, D(2024, 9, 1), 12),
    ]),
    # Every membership churned: her rolled-up stage is churn.
    Person("u_ines", "Inés", "Moreau", "Product Manager", "FR", [
        Exact("acc_piedpiper", "Admin", "churn", 0.1, D(2024, 4, 20), 4),
        Exact("acc_wonka", "User", "churn", 0.05, D(2024, 1, 15), 2),
    ]),
    # Signed up, never joined an account.
    Person("u_zoe", "Zoe", "Adler", "Designer", "CA", []),
    # The consultant: seven accounts, seven roles and stages.
    Person("u_dana", "Dana", "Kowalski", "Consultant", "PL", [
        Exact("acc_acme", "Admin", "CUS", 0.88, D(2023, 9, 12), 21, is_primary=True),
        Exact("acc_globex", "Admin", "PRO", 0.92, D(2025, 2, 14), 17, is_primary=False),
        Exact("acc_initech", "Admin", "CUS", 0.61, D(2025, 6, 1), 6),
        Exact("acc_wayne", "Viewer", "CUS", 0.35, D(2025, 3, 3), 0),
        Exact("acc_stark", "Admin", "MQL", 0.75, D(2026, 10, 6), 2),
        Exact("acc_hooli", "User", "MAL", 0.4, D(2026, 1, 20), 1),
        Exact("acc_umbrella", "Viewer", "visitor", 0.2, D(2026, 10, 28), 0),
    ]),
    # CUS in Acme, PRO in Globex: rolled up, PRO (seed 001).
    Person("u_felix", "Felix", "Brandt", "Data Analyst", "DE", [
        Exact("acc_acme", "User", "CUS", 0.72, D(2024, 2, 2), 9),
        Exact("acc_globex", "User", "PRO", 0.81, D(2025, 4, 4), 14),
    ]),
    Person("u_ada", "Ada", "Nwosu", "Head of Engineering", "NG", [
        Exact("acc_boring", "Owner", "MQL", 0.9, D(2026, 10, 10), 4),
    ]),
    # Acme, the big account: twenty users, so user-list fields truncate.
    Person("u_grace", "Grace", "Liu", "VP Sales", "US", ["acc_acme:Owner"]),
    Person("u_marco", "Marco", "Bianchi", "Sales Manager", "IT", ["acc_acme:Admin"]),
    Person("u_hana", "Hana", "Kim", "Account Executive", "KR", ["acc_acme"]),
    Person("u_james", "James", "O'Connor", "Sales Engineer", "IE", ["acc_acme"]),
    Person("u_fatima", "Fatima", "Zahra", "Operations Analyst", "MA", ["acc_acme", "acc_wayne"]),
    Person("u_lucas", "Lucas", "Silva", "Support Lead", "BR", ["acc_acme"]),
    Person("u_olga", "Olga", "Petrova", "Controller", "BG", ["acc_acme:Billing Admin"]),
    Person("u_david", "David", "Cohen", "Marketing Manager", "IL", ["acc_acme"]),
    Person("u_amara", "Amara", "Diallo", "Project Manager", "SN", ["acc_acme", "acc_initech"]),
    Person("u_yuki", "Yuki", "Tanaka", "Designer", "JP", ["acc_acme"]),
    Person("u_sofia", "Sofia", "Rossi", "Recruiter", "IT", ["acc_acme"]),
    Person("u_ben", "Ben", "Carter", "Intern", "GB", ["acc_acme:Viewer"]),
    Person("u_chloe", "Chloé", "Martin", "Content Writer", "FR", ["acc_acme"]),
    Person("u_arjun", "Arjun", "Mehta", "Solutions Architect", "IN",
           ["acc_acme", "acc_globex", "acc_spacex"]),
    Person("u_eva", "Eva", "Novak", "QA Engineer", "CZ", ["acc_acme"]),
    Person("u_liam", "Liam", "Murphy", "Customer Success Manager", "IE", ["acc_acme"]),
    Person("u_mei", "Mei", "Chen", "Growth Lead", "SG", ["acc_acme", "acc_twitter"]),
    Person("u_noah", "Noah", "Schmidt", "Developer", "AT", ["acc_acme"]),
    # The rest of the cast.
    Person("u_raj", "Raj", "Patel", "COO", "GB",
           ["acc_globex:Owner", "acc_initech", "acc_wayne", "acc_hooli"]),
    Person("u_isabel", "Isabel", "García", "Community Manager", "MX",
           ["acc_twitter", "acc_spacex"]),
    Person("u_tom", "Tom", "Becker", "Social Media Manager", "DE", ["acc_twitter"]),
    Person("u_aisha", "Aisha", "Bello", "Director of Engineering", "NG",
           ["acc_spacex:Owner", "acc_twitter"]),
    Person("u_pablo", "Pablo", "Ortiz", "Flight Engineer", "AR", ["acc_spacex"]),
    Person("u_jonas", "Jonas", "Berg", "ML Engineer", "NO", ["acc_xai", "acc_boring"]),
    Person("u_emma", "Emma", "Wilson", "Account Manager", "AU", ["acc_globex"]),
    Person("u_ivan", "Ivan", "Horvat", "CEO", "HR", ["acc_initech:Owner", "acc_globex"]),
    Person("u_sara", "Sara", "Nilsson", "Office Manager", "SE", ["acc_initech"]),
    Person("u_diego", "Diego", "Alvarez", "CIO", "CO", ["acc_wayne:Owner"]),
    Person("u_nina", "Nina", "Weber", "Security Engineer", "CH", ["acc_wayne", "acc_stark"]),
    Person("u_tony", "Tony", "Russo", "Chief Engineer", "US", ["acc_stark:Owner"]),
    Person("u_kim", "Kim", "Larsen", "Founder", "DK", ["acc_hooli:Owner", "acc_umbrella"]),
    Person("u_rosa", "Rosa", "Jiménez", "Lab Director", "ES", ["acc_umbrella:Owner"]),
    Person("u_gavin", "Gavin", "Bell", "CEO", "US", ["acc_piedpiper:Owner", "acc_hooli"]),
    Person("u_erin", "Erin", "Walsh", "Head of Product", "IE",
           ["acc_wonka:Owner", "acc_piedpiper"]),
]
# fmt: on

# Seeded draws for the memberships not written out by hand.
RANDOM_ROLES = ("User",) * 13 + ("Admin",) * 3 + ("Viewer",) * 3 + ("Billing Admin",)
STAGES_BY_ACCOUNT_STAGE = {
    "Customer": ("CUS",) * 12 + ("PRO",) * 5 + ("churn",) * 3,
    "Trial": ("MQL",) * 10 + ("MAL",) * 7 + ("visitor",) * 3,
    "Free": ("MAL",) * 10 + ("visitor",) * 7 + ("MQL",) * 3,
    "Churned": ("churn",),
}
TRACK_EVENTS = (
    ("Logged In",) * 10 + ("Task Completed",) * 6 + ("Project Created",) * 3 + ("Invite Sent",)
)

#: What each kind of planted bad row is, for the README and the tests.
BAD_ROW_KINDS = {
    "user_without_id": "a user with no user_id",
    "duplicate_user_id": "a second row for user_id u_sam",
    "malformed_email": "a user whose e-mail has no @",
    "unknown_account": "a membership pointing at account acc_soylent, which does not exist",
    "unknown_user": "a membership of user u_ghost, who does not exist",
    "membership_without_role": "a membership (u_tom in acc_globex) with an empty role",
    "events_not_json": "an events line that is not JSON (cut off mid-object)",
}


@dataclass
class Membership:
    user_id: str
    account_id: str
    role: str
    stage: str
    joined_at: date
    health_score: float
    projects_created: int
    is_primary: bool | None
    last_seen_at: datetime | None = None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cell(value: Any) -> str:
    """A CSV cell: empty for absent, ``true``/``false`` for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isalnum() and c.isascii()).lower()


def _email(person: Person) -> str:
    if person.email:
        return person.email
    first = person.accounts[0] if person.accounts else None
    account_id = first.account if isinstance(first, Exact) else (first or "").split(":")[0]
    domain = ACCOUNTS_BY_ID[account_id].domain if account_id else "mail.example"
    return f"{_ascii(person.first_name)}.{_ascii(person.last_name)}@{domain}"


def _at(day: date, rng: random.Random, earliest_hour: int = 7) -> datetime:
    """A time of day on ``day`` during working hours, never after ``AS_OF``."""
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
        hours=rng.randint(earliest_hour, 18), minutes=rng.randint(0, 59), seconds=rng.randint(0, 59)
    )
    return min(moment, AS_OF - timedelta(minutes=1))


def _memberships(rng: random.Random) -> list[Membership]:
    memberships: list[Membership] = []
    for person in PEOPLE:
        for spec in person.accounts:
            if isinstance(spec, Exact):
                memberships.append(
                    Membership(
                        person.user_id,
                        spec.account,
                        spec.role,
                        spec.stage,
                        spec.joined_at,
                        spec.health_score,
                        spec.projects_created,
                        spec.is_primary,
                    )
                )
                continue
            account_id, _, role = spec.partition(":")
            account = ACCOUNTS_BY_ID[account_id]
            stage = rng.choice(STAGES_BY_ACCOUNT_STAGE[account.stage])
            if role == "Owner":
                joined = account.created_at
            else:
                role = role or rng.choice(RANDOM_ROLES)
                span = (AS_OF.date() - account.created_at).days - 2
                joined = account.created_at + timedelta(days=rng.randint(0, max(span, 0)))
            churned = stage == "churn"
            health = round(rng.uniform(0.02, 0.3) if churned else rng.uniform(0.1, 0.98), 2)
            projects = int(rng.random() ** 2 * (6 if churned else 25))
            memberships.append(
                Membership(person.user_id, account_id, role, stage, joined, health, projects, None)
            )
    # When each was last seen: churned memberships long before the event window, the
    # others within it (and the events below end exactly then).
    for m in memberships:
        if m.stage == "churn":
            latest = AS_OF.date() - timedelta(days=EVENT_WINDOW_DAYS + 5)
            span = max((latest - m.joined_at).days, 1)
            day = m.joined_at + timedelta(days=rng.randint(span // 2, span))
        else:
            day = AS_OF.date() - timedelta(days=rng.randint(1, 20))
            day = max(day, m.joined_at)
        m.last_seen_at = _at(day, rng)
    return memberships


def _signed_up(person: Person, memberships: list[Membership], rng: random.Random) -> datetime:
    joined = [m.joined_at for m in memberships if m.user_id == person.user_id]
    first = min(joined) if joined else AS_OF.date() - timedelta(days=12)
    return _at(first - timedelta(days=rng.randint(0, 3)), rng, earliest_hour=6)


def _account_traits(account: AccountRow) -> dict[str, Any]:
    traits: dict[str, Any] = {
        "name": account.name,
        "domain": account.domain,
        "stage": account.stage,
        "plan": account.plan,
    }
    if account.conversion_score is not None:
        traits["conversion_score"] = account.conversion_score
    traits["employees"] = account.employees
    traits["created_at"] = account.created_at.isoformat()
    return traits


def _relationship(m: Membership) -> dict[str, Any]:
    relationship: dict[str, Any] = {
        "role": m.role,
        "stage": m.stage,
        "joined_at": m.joined_at.isoformat(),
        "health_score": m.health_score,
        "projects_created": m.projects_created,
    }
    if m.is_primary is not None:
        relationship["is_primary"] = m.is_primary
    return relationship


def _events(
    memberships: list[Membership],
    people: dict[str, Person],
    emails: dict[str, str],
    signed_up: dict[str, datetime],
    rng: random.Random,
) -> list[tuple[datetime, dict[str, Any]]]:
    window_start = AS_OF - timedelta(days=EVENT_WINDOW_DAYS)
    calls: list[tuple[datetime, dict[str, Any]]] = []

    # identify: a few users send their traits.
    for user_id in ("u_elon", "u_priya", "u_lena", "u_dana", "u_zoe", "u_kenji"):
        person = people[user_id]
        moment = max(signed_up[user_id], window_start + timedelta(hours=rng.randint(1, 200)))
        traits = {
            "email": emails[user_id],
            "first_name": person.first_name,
            "last_name": person.last_name,
            "title": person.title,
            "country": person.country,
        }
        calls.append((moment, {"type": "identify", "userId": user_id, "traits": traits}))

    # group: relationship properties travel with the group call (context.relationship).
    grouped = {"u_elon"} | {
        m.user_id for m in memberships if m.account_id in ("acc_tesla", "acc_neuralink")
    }
    for m in memberships:
        if m.user_id not in grouped:
            continue
        joined = datetime(m.joined_at.year, m.joined_at.month, m.joined_at.day, tzinfo=UTC)
        moment = max(joined, window_start) + timedelta(hours=rng.randint(7, 200))
        calls.append(
            (
                moment,
                {
                    "type": "group",
                    "userId": m.user_id,
                    "groupId": m.account_id,
                    "traits": _account_traits(ACCOUNTS_BY_ID[m.account_id]),
                    "context": {"relationship": _relationship(m)},
                },
            )
        )

    # track: what users did within each account, ending at the membership's last_seen_at.
    for m in memberships:
        if m.stage == "churn" or m.last_seen_at is None:
            continue
        start = max(
            window_start, datetime(m.joined_at.year, m.joined_at.month, m.joined_at.day, tzinfo=UTC)
        )
        span = max(int((m.last_seen_at - start).total_seconds()), 0)
        count = 1 + int(m.health_score * 6)
        moments = sorted(start + timedelta(seconds=rng.randint(0, span)) for _ in range(count - 1))
        moments.append(m.last_seen_at)
        for moment in moments:
            event = rng.choice(TRACK_EVENTS)
            properties: dict[str, Any] = {}
            if event == "Logged In":
                properties["method"] = rng.choice(("password", "sso", "google"))
            elif event == "Task Completed":
                properties["task_id"] = f"t_{rng.randint(1000, 9999)}"
            elif event == "Project Created":
                properties["project_id"] = f"p_{rng.randint(100, 999)}"
                properties["template"] = rng.choice(("blank", "kanban", "roadmap"))
            else:
                properties["invitee_role"] = rng.choice(("User", "Admin", "Viewer"))
            calls.append(
                (
                    moment,
                    {
                        "type": "track",
                        "userId": m.user_id,
                        "event": event,
                        "properties": properties,
                        "context": {"groupId": m.account_id},
                    },
                )
            )

    # track with no account: signing up, and changing one's own profile.
    calls.append(
        (
            signed_up["u_zoe"],
            {"type": "track", "userId": "u_zoe", "event": "Signed Up", "properties": {}},
        )
    )
    for user_id in ("u_elon", "u_dana", "u_felix"):
        moment = AS_OF - timedelta(days=rng.randint(2, 50), hours=rng.randint(0, 12))
        calls.append(
            (
                moment,
                {
                    "type": "track",
                    "userId": user_id,
                    "event": "Profile Updated",
                    "properties": {"field": "avatar"},
                },
            )
        )

    # Account-level track calls: no userId at all, anonymousId "system".
    def system(event: str, account_id: str, day: date, properties: dict[str, Any]) -> None:
        call = {
            "type": "track",
            "anonymousId": "system",
            "event": event,
            "properties": properties,
            "context": {"groupId": account_id},
        }
        calls.append((_at(day, rng, earliest_hour=0), call))

    for account in ACCOUNTS:
        if account.stage == "Trial":
            system("Trial Started", account.account_id, account.created_at, {"plan": account.plan})
    system(
        "Payment Failed",
        "acc_initech",
        D(2026, 10, 3),
        {"amount": 490, "currency": "USD", "reason": "card_declined"},
    )
    system(
        "Payment Failed",
        "acc_initech",
        D(2026, 10, 10),
        {"amount": 490, "currency": "USD", "reason": "card_declined"},
    )
    system(
        "Payment Failed",
        "acc_globex",
        D(2026, 9, 14),
        {"amount": 2900, "currency": "EUR", "reason": "insufficient_funds"},
    )
    system(
        "Subscription Renewed", "acc_twitter", D(2026, 10, 1), {"plan": "Enterprise", "seats": 250}
    )
    return calls


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)


def write_sample(out_dir: Path) -> dict[str, str]:
    """Write users.csv, accounts.csv, memberships.csv and events.jsonl into ``out_dir``.

    Returns where each planted bad row is, as ``{kind: "file:line"}`` (see ``BAD_ROW_KINDS``).
    """
    rng = random.Random(SEED)
    out_dir.mkdir(parents=True, exist_ok=True)
    memberships = _memberships(rng)
    people = {p.user_id: p for p in PEOPLE}
    emails = {p.user_id: _email(p) for p in PEOPLE}
    signed_up = {p.user_id: _signed_up(p, memberships, rng) for p in PEOPLE}
    bad: dict[str, str] = {}

    # users.csv, with three bad rows among the good ones (line 1 is the header).
    user_rows = [
        [
            _cell(v)
            for v in (
                p.user_id,
                emails[p.user_id],
                p.first_name,
                p.last_name,
                p.title,
                p.country,
                signed_up[p.user_id],
            )
        ]
        for p in PEOPLE
    ]
    planted_users = [
        (
            12,
            "user_without_id",
            [
                "",
                "pat.doe@initech.example",
                "Pat",
                "Doe",
                "Accountant",
                "US",
                "2026-06-02T10:15:00Z",
            ],
        ),
        (
            30,
            "duplicate_user_id",
            [
                "u_sam",
                "sam.w@mail.example",
                "Samuel",
                "Whitfield",
                "Engineer",
                "US",
                "2026-10-01T08:00:00Z",
            ],
        ),
        (
            44,
            "malformed_email",
            [
                "u_victor",
                "victor.hugo.globex.example",
                "Victor",
                "Hugo",
                "Writer",
                "FR",
                "2026-08-19T16:40:00Z",
            ],
        ),
    ]
    for index, kind, row in planted_users:
        user_rows.insert(index, row)
        bad[kind] = f"users.csv:{index + 2}"
    _write_csv(out_dir / "users.csv", USER_COLUMNS, user_rows)

    account_rows = [
        [
            _cell(v)
            for v in (
                a.account_id,
                a.name,
                a.domain,
                a.stage,
                a.plan,
                a.conversion_score,
                a.employees,
                a.created_at,
            )
        ]
        for a in ACCOUNTS
    ]
    _write_csv(out_dir / "accounts.csv", ACCOUNT_COLUMNS, account_rows)

    membership_rows = [
        [
            _cell(v)
            for v in (
                m.user_id,
                m.account_id,
                m.role,
                m.stage,
                m.joined_at,
                m.health_score,
                m.projects_created,
                m.is_primary,
                m.last_seen_at,
            )
        ]
        for m in memberships
    ]
    planted_memberships = [
        (
            20,
            "unknown_account",
            [
                "u_felix",
                "acc_soylent",
                "User",
                "CUS",
                "2025-07-01",
                "0.4",
                "2",
                "",
                "2026-10-20T11:00:00Z",
            ],
        ),
        (
            45,
            "unknown_user",
            [
                "u_ghost",
                "acc_acme",
                "User",
                "CUS",
                "2025-03-03",
                "0.5",
                "1",
                "",
                "2026-10-02T09:30:00Z",
            ],
        ),
        (
            70,
            "membership_without_role",
            [
                "u_tom",
                "acc_globex",
                "",
                "CUS",
                "2026-04-04",
                "0.45",
                "3",
                "",
                "2026-10-25T14:05:00Z",
            ],
        ),
    ]
    for index, kind, row in planted_memberships:
        membership_rows.insert(index, row)
        bad[kind] = f"memberships.csv:{index + 2}"
    _write_csv(out_dir / "memberships.csv", MEMBERSHIP_COLUMNS, membership_rows)

    calls = _events(memberships, people, emails, signed_up, rng)
    calls.sort(key=lambda item: (item[0], json.dumps(item[1], sort_keys=True)))
    lines = []
    for number, (moment, call) in enumerate(calls, start=1):
        call["timestamp"] = _iso(moment)
        call["messageId"] = f"msg_{number:04d}"
        lines.append(json.dumps(call, ensure_ascii=False))
    broken_at = len(lines) // 2
    lines.insert(
        broken_at,
        '{"type": "track", "userId": "u_sam", "event": "Task Completed", "timestamp": "2026-10-1',
    )
    bad["events_not_json"] = f"events.jsonl:{broken_at + 1}"
    (out_dir / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    for kind, location in write_sample(args.out).items():
        print(f"{location}\t{BAD_ROW_KINDS[kind]}")


if __name__ == "__main__":
    main()
