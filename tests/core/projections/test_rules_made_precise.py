"""The rules the docs once left open ("Rules made precise" in docs/mappings.md),
each pinned through ``hub inspect --json`` on a small project: events after
``as_of`` never count, windows include both ends, churned memberships count in
``account_count`` and only what a ``where`` keeps counts in a filtered field,
an unknown stage value makes its membership unstaged, and ``not`` binds
looser than ``in`` and comparisons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.cli import app

AS_OF = "2026-11-01T00:00:00Z"

HUB_TOML = f"""
[sources.users]
kind = "csv"
table = "users"
path = "users.csv"

[sources.accounts]
kind = "csv"
table = "accounts"
path = "accounts.csv"

[sources.memberships]
kind = "csv"
table = "memberships"
path = "memberships.csv"

[sources.events]
kind = "csv"
table = "events"
path = "events.csv"

[events]
as_of = {AS_OF}

[[events.rollups]]
property = "events_30d"
level = "user"
window_days = 30

[[events.rollups]]
property = "last_seen_at"
level = "user"
kind = "last_seen"

[destinations.crm]
type = "outbox"
mapping = "crm.toml"

[destinations.crm.settings]
directory = "outbox"
"""

CRM_TOML = """
destination = "crm"

[stages]
order = ["MQL", "CUS", "PRO"]
churn = "churn"
property = "stage"

[primary_account]
policy = "most_active"
activity_window_days = 30

[accounts.fields]
name = "account.name"

[[accounts.rollups]]
field = "user_count"
kind = "user_count"

[[accounts.rollups]]
field = "last_active"
kind = "last_active"

[[accounts.rollups]]
field = "events_30d"
kind = "event_count"
window_days = 30

[[accounts.rollups]]
field = "active_users_30d"
kind = "active_users"
window_days = 30

[users.fields]
account_count = "rollup.account_count"
lifecycle_stage = "rollup.stage"
events_30d = "user.events_30d"
last_seen_at = "user.last_seen_at"
primary_account_id = "primary_account.account_id"

[[users.relationship_fields]]
field = "all_accounts"
kind = "count"

[[users.relationship_fields]]
field = "live_accounts"
kind = "count"
where = "relationship.stage != 'churn'"

[[users.relationship_fields]]
field = "not_owner_of"
kind = "summary"
template = "{account.account_id}"
separator = ","
where = "not relationship.role in ['Owner']"

[[users.relationship_fields]]
field = "not_mql"
kind = "summary"
template = "{account.account_id}"
separator = ","
where = "not relationship.stage == 'MQL' and relationship.role != 'Viewer'"
"""

USERS = "user_id,email\n" + "".join(f"u{i},u{i}@x.io\n" for i in range(1, 5))
ACCOUNTS = "account_id,name\na1,Acme\na2,Beta\na3,Gamma\n"
# u1: Owner of a1 (CUS), User of a2 (MQL), churned from a3.
MEMBERSHIPS = (
    "user_id,account_id,role,stage\n"
    "u1,a1,Owner,CUS\nu1,a2,User,MQL\nu1,a3,Viewer,churn\nu2,a1,User,PRO\n"
    # u3: only a stage no order holds; u4: churned from a2, unknown in a3.
    "u3,a1,User,Customer\nu4,a2,User,churn\nu4,a3,User,Customer\n"
)
# The window of 30 days ending at as_of is [2026-10-02T00:00:00Z, AS_OF].
EVENTS = (
    "event,timestamp,user_id,account_id\n"
    # a2: two events on the window's ends (both count) ...
    f"Logged In,2026-10-02T00:00:00Z,u1,a2\nLogged In,{AS_OF},u1,a2\n"
    # ... a1: one just before it (counts in last_active only), one after as_of
    # (never counts: not in the window, not in last_seen, not in last_active,
    # not in most_active), however many there are.
    "Logged In,2026-10-01T23:59:59Z,u1,a1\n"
    + "Logged In,2026-11-01T00:00:01Z,u1,a1\n" * 3
    + "Logged In,2026-12-25T00:00:00Z,u2,a1\n"
)


def _inspect(tmp_path: Path, kind: str, key: str, crm: str = CRM_TOML) -> dict[str, Any]:
    for name, text in {
        "hub.toml": HUB_TOML,
        "crm.toml": crm,
        "users.csv": USERS,
        "accounts.csv": ACCOUNTS,
        "memberships.csv": MEMBERSHIPS,
        "events.csv": EVENTS,
    }.items():
        (tmp_path / name).write_text(text)
    result = CliRunner().invoke(
        app, ["inspect", kind, key, "--json", "--config", str(tmp_path / "hub.toml")]
    )
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)["destinations"]["crm"]["records"]
    return {r["key"]: r["fields"] for r in records}


@pytest.fixture()
def elon(tmp_path: Path) -> dict[str, Any]:
    return _inspect(tmp_path, "user", "u1")["u1"]


def test_events_after_as_of_never_count_and_windows_include_both_ends(
    tmp_path: Path, elon: dict[str, Any]
) -> None:
    # The user's: the two a2 events on the window's ends; not the one a second
    # before it, not the three a second after as_of.
    assert elon["events_30d"] == 2
    assert elon["last_seen_at"] == "2026-11-01T00:00:00+00:00"  # not 00:00:01
    # most_active: a1 has 4 events of u1 in all, but none in the window
    # ending at as_of; a2 has 2 inside it.
    assert elon["primary_account_id"] == "a2"
    accounts = _inspect(tmp_path, "account", "a1")
    acme = accounts["a1"]
    assert acme["last_active"] == "2026-10-01T23:59:59+00:00"  # any time, but never after as_of
    assert acme["events_30d"] == 0
    assert acme["active_users_30d"] == 0


def test_account_count_counts_churned_memberships_a_filtered_count_does_not(
    tmp_path: Path, elon: dict[str, Any]
) -> None:
    assert elon["account_count"] == 3  # a1, a2 and the churned a3
    assert elon["all_accounts"] == 3  # a count without where: the same
    assert elon["live_accounts"] == 2  # where relationship.stage != 'churn'
    gamma = _inspect(tmp_path, "account", "a3")["a3"]
    assert gamma["user_count"] == 2  # u1 churned from it; u4 in an unknown stage


def test_an_unknown_stage_makes_its_membership_unstaged(tmp_path: Path) -> None:
    assert _inspect(tmp_path, "user", "u1")["u1"]["lifecycle_stage"] == "CUS"
    assert _inspect(tmp_path, "user", "u3")["u3"]["lifecycle_stage"] is None  # Customer alone
    assert _inspect(tmp_path, "user", "u4")["u4"]["lifecycle_stage"] == "churn"  # churn, Customer
    # highest_stage alike: u4's unstaged a3 beats the churned a2.
    highest = CRM_TOML.replace('policy = "most_active"', 'policy = "highest_stage"')
    assert _inspect(tmp_path, "user", "u4", highest)["u4"]["primary_account_id"] == "a3"


def test_not_binds_looser_than_in_and_comparisons(elon: dict[str, Any]) -> None:
    # not relationship.role in ['Owner']  ==  not (relationship.role in ['Owner'])
    assert elon["not_owner_of"] == "a2,a3"
    # not stage == 'MQL' and role != 'Viewer'  ==  (not (stage == 'MQL')) and (role != 'Viewer')
    assert elon["not_mql"] == "a1"
