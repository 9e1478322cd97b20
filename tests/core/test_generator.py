"""The synthetic data generator of tests/bench/generate.py: reproducible, the right
size and shape, and referentially sound."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from hub.model import Dataset

GENERATE = Path(__file__).resolve().parents[2] / "tests" / "bench" / "generate.py"
N = 4000


def _load_generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_generate", GENERATE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bench = _load_generate()


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    result: Dataset = bench.generate(N, seed=7, events_per_user=0.5)
    return result


def _snapshot(data: Dataset) -> tuple[object, ...]:
    """Everything in a data set, as plain comparable values."""
    return (
        [(u.user_id, u.email, dict(u.traits)) for u in data.users.values()],
        [(a.account_id, a.name, a.domain, a.stage, dict(a.traits)) for a in data.accounts.values()],
        [(k, m.role, dict(m.properties)) for k, m in data.memberships.items()],
        [(e.event, e.timestamp, e.user_id, e.account_id) for e in data.events],
    )


def test_same_seed_same_data(dataset: Dataset) -> None:
    again = bench.generate(N, seed=7, events_per_user=0.5)
    assert _snapshot(again) == _snapshot(dataset)


def test_different_seed_different_data(dataset: Dataset) -> None:
    other = bench.generate(N, seed=8, events_per_user=0.5)
    assert set(other.memberships) != set(dataset.memberships)
    assert _snapshot(other) != _snapshot(dataset)


def test_sizes(dataset: Dataset) -> None:
    assert len(dataset.users) == N
    assert len(dataset.accounts) == N // 4
    assert 2.7 * N <= len(dataset.memberships) <= 3.3 * N
    assert 0.45 * N <= len(dataset.events) <= 0.55 * N


def test_accounts_per_user_are_skewed(dataset: Dataset) -> None:
    per_user = Counter(user_id for user_id, _ in dataset.memberships)
    counts = [per_user.get(user_id, 0) for user_id in dataset.users]
    assert sum(c <= 2 for c in counts) > 0.6 * N
    assert sum(c >= 8 for c in counts) > 0.02 * N
    assert 0 in counts  # a few users are in no account
    sizes = Counter(account_id for _, account_id in dataset.memberships)
    assert max(sizes.values()) > 20 * len(dataset.memberships) / len(dataset.accounts)


def test_memberships_reference_existing_records(dataset: Dataset) -> None:
    for (user_id, account_id), m in dataset.memberships.items():
        assert (m.user_id, m.account_id) == (user_id, account_id)
        assert user_id in dataset.users
        assert account_id in dataset.accounts
    # Keyed by (user, account): no pair can repeat; check the keys say so.
    assert len({m.key() for m in dataset.memberships.values()}) == len(dataset.memberships)
    for e in dataset.events:
        assert e.user_id is None or e.user_id in dataset.users
        assert e.account_id is None or e.account_id in dataset.accounts
        assert e.user_id is not None or e.account_id is not None


def test_relationship_properties(dataset: Dataset) -> None:
    stages = {"visitor", "MAL", "MQL", "CUS", "PRO", "churn"}
    roles = {"Owner", "Admin", "User", "Billing Admin", "Viewer"}
    primaries: Counter[str] = Counter()
    for (user_id, _), m in dataset.memberships.items():
        assert m.role in roles
        assert m.get("stage") in stages
        assert 0.0 <= m.get("health_score") <= 1.0
        assert m.get("joined_at") <= m.get("last_seen_at")[:10] < "2026-11-01"
        if m.get("is_primary"):
            primaries[user_id] += 1
        else:
            assert "is_primary" not in m.properties  # absent, not False
    assert primaries and max(primaries.values()) == 1
    account_stages = {a.stage for a in dataset.accounts.values()}
    assert account_stages == {"Trial", "Customer", "Free", "Churned"}


def test_traits_behave_as_mappings(dataset: Dataset) -> None:
    user = next(iter(dataset.users.values()))
    assert set(user.traits) == {"first_name", "last_name", "title", "country", "signed_up_at"}
    assert user.get("first_name") == user.traits["first_name"]
    assert user.get("nope") is None
    with pytest.raises(KeyError):
        user.traits["nope"]
    membership = next(iter(dataset.memberships.values()))
    assert dict(membership.properties) == {k: membership.get(k) for k in membership.properties}


def test_cli_writes_the_sample_format(tmp_path: Path) -> None:
    bench.main(["300", "--seed", "3", "--out", str(tmp_path), "--events-per-user", "2"])
    sample = GENERATE.parents[2] / "examples" / "sample"
    for name in ("users.csv", "accounts.csv", "memberships.csv"):
        with (tmp_path / name).open(encoding="utf-8") as generated:
            header = next(csv.reader(generated))
        with (sample / name).open(encoding="utf-8") as handcrafted:
            assert header == next(csv.reader(handcrafted)), name
    with (tmp_path / "memberships.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    data = bench.generate(300, seed=3)
    assert len(rows) == len(data.memberships)
    assert {r["is_primary"] for r in rows} <= {"", "true"}
    calls = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert len(calls) == 600
    assert all(c["type"] == "track" for c in calls)
    system = [c for c in calls if "userId" not in c]
    assert system and all(c["anonymousId"] == "system" and c["context"]["groupId"] for c in system)
    timestamps = [c["timestamp"] for c in calls]
    assert timestamps == sorted(timestamps)


def test_traits_are_plain_dicts_like_the_loaders(dataset: Dataset) -> None:
    # hub.sources.loading builds plain dicts and omits empty cells: the benchmark reads alike.
    for traits in (
        *(u.traits for u in dataset.users.values()),
        *(a.traits for a in dataset.accounts.values()),
        *(m.properties for m in dataset.memberships.values()),
    ):
        assert type(traits) is dict
        assert None not in traits.values()
