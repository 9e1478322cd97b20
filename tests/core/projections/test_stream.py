"""iter_destination (the chunked stream): the same output as
project_destination, chunk by chunk, whatever the chunk size; and the columnar
engine's stream the same on generated data sets."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from per_record import iter_destination, project_destination
from test_destination import (
    AS_OF,
    DETERMINISM_MAPPINGS,
    FULL_MAPPING,
    MAPPING,
    caps,
    datasets,
    seeds,
)

from hub.conditions import compile_condition
from hub.config.mapping import Mapping
from hub.engine.project import project as engine_project
from hub.engine.project import stream as engine_stream
from hub.model import Dataset
from hub.projections.resolver import Graph
from hub.records import (
    AccountsChunk,
    ContactsChunk,
    DestinationProjection,
    LinksChunk,
    ProjectionChunk,
    ProjectionSummary,
    projection_to_json,
)


def _load_generate() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "generate.py"
    spec = importlib.util.spec_from_file_location("bench_generate_for_stream", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


generate = _load_generate().generate

ROOT = Path(__file__).resolve().parents[3]


def dump(projection: DestinationProjection) -> str:
    return json.dumps(projection_to_json(projection), sort_keys=True)


def stream(
    dataset: Dataset | Graph,
    mapping: dict[str, Any],
    chunk_size: int = 1,
    account_max: int | None = None,
) -> list[ProjectionChunk]:
    return list(
        iter_destination(
            "crm",
            dataset,
            Mapping.model_validate(mapping),
            caps(account_max=account_max),
            AS_OF,
            compile_condition,
            chunk_size=chunk_size,
        )
    )


def collected(chunks: list[ProjectionChunk]) -> DestinationProjection:
    """The chunks as a projection, checking the section order on the way."""
    sections = []
    accounts, contacts, links = [], [], []
    for chunk in chunks[:-1]:
        if isinstance(chunk, AccountsChunk):
            sections.append(0)
            accounts.extend(chunk.records)
        elif isinstance(chunk, ContactsChunk):
            sections.append(1)
            contacts.extend(chunk.records)
        else:
            assert isinstance(chunk, LinksChunk)
            sections.append(2)
            links.extend(chunk.links)
    assert sections == sorted(sections)
    summary = chunks[-1]
    assert isinstance(summary, ProjectionSummary)
    return DestinationProjection(
        summary.destination, accounts, contacts, links, summary.notices, summary.stats
    )


def project(
    dataset: Dataset | Graph,
    mapping: dict[str, Any],
    account_max: int | None = None,
) -> DestinationProjection:
    return project_destination(
        "crm",
        dataset,
        Mapping.model_validate(mapping),
        caps(account_max=account_max),
        AS_OF,
        compile_condition,
    )


@pytest.mark.parametrize("mapping", [MAPPING, FULL_MAPPING])
@pytest.mark.parametrize("chunk_size", [1, 2, 5, 1000])
def test_the_stream_is_the_projection_in_chunks(mapping: dict[str, Any], chunk_size: int) -> None:
    chunks = stream(seeds(), mapping, chunk_size)
    assert dump(collected(chunks)) == dump(project(seeds(), mapping))
    if chunk_size == 1 and mapping is MAPPING:  # one account or user (and memberships) per chunk
        kinds = [type(c).__name__ for c in chunks]
        assert kinds.count("AccountsChunk") == 3 and kinds.count("ContactsChunk") == 3


def test_the_stream_ends_with_one_summary_and_can_be_closed_early() -> None:
    chunks = stream(seeds(), MAPPING)
    assert [isinstance(c, ProjectionSummary) for c in chunks].count(True) == 1
    assert chunks[-1].stats == project(seeds(), MAPPING).stats  # type: ignore[union-attr]
    early = iter_destination(
        "crm",
        seeds(),
        Mapping.model_validate(MAPPING),
        caps(),
        AS_OF,
        compile_condition,
        chunk_size=1,
    )
    assert isinstance(next(early), AccountsChunk)
    early.close()  # type: ignore[attr-defined]


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        stream(seeds(), MAPPING, chunk_size=0)


@pytest.mark.parametrize("mapping", [*DETERMINISM_MAPPINGS, MAPPING])
def test_the_engine_streams_the_same_on_a_generated_data_set(mapping: dict[str, Any]) -> None:
    """300 generated users with events (hundreds of memberships, ties, long
    lists): the engine's stream, collected, is the per-record projection."""
    dataset = generate(300, seed=7, events_per_user=2)
    one = dump(project(dataset, mapping, account_max=60))
    chunks = list(
        engine_stream(
            "crm",
            dataset,
            Mapping.model_validate(mapping),
            caps(account_max=60),
            AS_OF,
            chunk_size=50,
        )
    )
    assert dump(collected(chunks)) == one


def test_the_engine_on_the_benchmark_mapping() -> None:
    from hub.config import load_mapping

    mapping = load_mapping(ROOT / "mappings" / "crm.toml")
    dataset = generate(2000, seed=3, events_per_user=1)
    expected = project_destination("crm", dataset, mapping, caps(), AS_OF, compile_condition)
    assert dump(engine_project("crm", dataset, mapping, caps(), AS_OF)) == dump(expected)


@settings(max_examples=40, deadline=None)
@given(datasets(), st.sampled_from(range(len(DETERMINISM_MAPPINGS))), st.integers(1, 6))
def test_any_chunk_size_gives_the_projection(dataset: Dataset, which: int, size: int) -> None:
    mapping = DETERMINISM_MAPPINGS[which]
    chunks = stream(dataset, mapping, size, account_max=30)
    assert dump(collected(chunks)) == dump(project(dataset, mapping, account_max=30))


@pytest.mark.parametrize(
    ("events_per_user", "missing"), [(2, "users"), (0, "accounts"), (2, "both")]
)
def test_memberships_naming_a_missing_user_or_account_project_as_the_rules_say(
    events_per_user: int, missing: str
) -> None:
    """A data set handed in through the API may hold memberships whose user
    or account it lacks (sources quarantine those): the engine keeps them as
    the per-record rules do (counted, listed as missing values, no record of
    their own), on generated data with the benchmark mapping."""
    from hub.config import load_mapping
    from hub.config.settings import EventSettings
    from hub.projections.resolver import enrich

    mapping = load_mapping(ROOT / "mappings" / "crm.toml")
    dataset = generate(600, seed=3, events_per_user=events_per_user)
    if missing in ("users", "both"):
        for user_id in list(dataset.users)[::7]:
            del dataset.users[user_id]
    if missing in ("accounts", "both"):
        for account_id in list(dataset.accounts)[::5]:
            del dataset.accounts[account_id]
    events = EventSettings.model_validate(
        {
            "rollups": [
                {"level": "user", "property": "logins", "event": "login"},
                {"level": "account", "property": "seen", "kind": "last_seen"},
                {"level": "relationship", "property": "events_30d", "window_days": 30},
            ]
        }
    )
    expected = project_destination(
        "crm", enrich(dataset, events, AS_OF), mapping, caps(), AS_OF, compile_condition
    )
    got = engine_project("crm", dataset, mapping, caps(), AS_OF, events.rollups)
    assert dump(got) == dump(expected)
    assert any(n.kind == "list_truncated" for n in got.notices)
    # The rollups of a phantom are missing too, as its other attributes.
    rollups = Mapping.model_validate(
        {
            "destination": "crm",
            "accounts": {"user_lists": [{"field": "logins", "value": "user.logins"}]},
            "users": {"relationship_fields": [{"field": "seen", "template": "{account.seen}"}]},
        }
    )
    expected = project_destination(
        "crm", enrich(dataset, events, AS_OF), rollups, caps(), AS_OF, compile_condition
    )
    got = engine_project("crm", dataset, rollups, caps(), AS_OF, events.rollups)
    assert dump(got) == dump(expected)


def test_the_engine_removes_its_spill_directory_when_a_stream_is_closed_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A consumer that stops early (a sync refused mid-way, ``next`` then
    ``close``) leaves no connection open and no spill directory behind."""
    import hub.engine.project as engine_module
    from hub.engine.tables import Tables

    opened: list[Tables] = []

    class Recorded(Tables):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            opened.append(self)  # keeps it alive: only close() removes the directory

    monkeypatch.setattr(engine_module, "Tables", Recorded)
    early = engine_stream(
        "crm", seeds(), Mapping.model_validate(MAPPING), caps(), AS_OF, chunk_size=1
    )
    assert isinstance(next(early), AccountsChunk)
    [tables] = opened
    spill = Path(tables._spill.name)
    assert spill.is_dir()
    early.close()  # type: ignore[attr-defined]
    assert not spill.exists()
