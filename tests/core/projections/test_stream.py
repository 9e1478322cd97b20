"""iter_destination (the chunked stream) and workers: the same output as
project_destination, chunk by chunk, whatever the chunk size or worker count."""

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
from hub.model import Dataset
from hub.projections.destination import ProjectionError, iter_destination, project_destination
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
    workers: int = 1,
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
            workers=workers,
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
    workers: int = 1,
    account_max: int | None = None,
) -> DestinationProjection:
    return project_destination(
        "crm",
        dataset,
        Mapping.model_validate(mapping),
        caps(account_max=account_max),
        AS_OF,
        compile_condition,
        workers=workers,
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
        workers=2,
        chunk_size=1,
    )
    assert isinstance(next(early), AccountsChunk)
    early.close()  # type: ignore[attr-defined]  # stops the workers


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        stream(seeds(), MAPPING, chunk_size=0)


def test_key_collision_is_still_an_error_with_workers() -> None:
    from hub.model import Account, Membership, User

    dataset = Dataset(
        {"u:a": User("u:a"), "u": User("u")},
        {"a": Account("a")},
        {("u", "a"): Membership("u", "a", "User")},
    )
    mapping = {"destination": "x", "membership_contacts": {"enabled": True}}
    with pytest.raises(ProjectionError, match="both a user id"):
        project(dataset, mapping, workers=2)


@pytest.mark.parametrize("mapping", [*DETERMINISM_MAPPINGS, MAPPING])
def test_two_workers_give_byte_identical_output(mapping: dict[str, Any]) -> None:
    dataset = generate(300, seed=7, events_per_user=2)
    graph = Graph(dataset)
    one = dump(project(graph, mapping, account_max=60))
    assert dump(project(graph, mapping, workers=2, account_max=60)) == one
    assert dump(collected(stream(graph, mapping, 50, workers=3, account_max=60))) == one


def test_two_workers_on_the_benchmark_mapping() -> None:
    from hub.config import load_mapping

    mapping = load_mapping(ROOT / "mappings" / "crm.toml")
    graph = Graph(generate(2000, seed=3, events_per_user=1))

    def run(workers: int) -> str:
        return dump(
            project_destination(
                "crm", graph, mapping, caps(), AS_OF, compile_condition, workers=workers
            )
        )

    assert run(2) == run(1)


@settings(max_examples=40, deadline=None)
@given(datasets(), st.sampled_from(range(len(DETERMINISM_MAPPINGS))), st.integers(1, 6))
def test_any_chunk_size_gives_the_projection(dataset: Dataset, which: int, size: int) -> None:
    mapping = DETERMINISM_MAPPINGS[which]
    chunks = stream(dataset, mapping, size, account_max=30)
    assert dump(collected(chunks)) == dump(project(dataset, mapping, account_max=30))


@pytest.mark.parametrize(("events_per_user", "missing_users"), [(0, False), (2, False), (0, True)])
def test_column_wise_accounts_match_the_per_account_path(
    events_per_user: int, missing_users: bool
) -> None:
    """The accounts fast path (column by column over a chunk) gives exactly
    the records and notices of the per-account path, on generated data (also
    with memberships whose user is missing: then the chunk falls back)."""
    from hub.config import load_mapping
    from hub.projections.destination import DestinationProjector

    mapping = load_mapping(ROOT / "mappings" / "crm.toml")
    dataset = generate(600, seed=3, events_per_user=events_per_user)
    if missing_users:
        for user_id in list(dataset.users)[::7]:
            del dataset.users[user_id]
    graph = Graph(dataset)
    fast = DestinationProjector("crm", graph, mapping, caps(), AS_OF, compile_condition)
    slow = DestinationProjector("crm", graph, mapping, caps(), AS_OF, compile_condition)
    assert fast._accounts_plan
    ids = sorted(graph.accounts)
    records = fast._accounts_columnar(ids)
    if missing_users:
        assert records is None
        return
    assert records is not None
    expected = [slow._account_record(a) for a in ids]
    assert records == expected
    assert fast._notices.notices() == slow._notices.notices()
    assert any(n.kind == "list_truncated" for n in fast._notices.notices())
