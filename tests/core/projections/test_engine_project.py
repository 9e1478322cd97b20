"""The columnar engine's whole projection against the per-record projector.

:func:`hub.engine.project.project` must give, byte for byte, what
:func:`hub.projections.destination.project_destination` gives (records,
links, notices with their counts and examples, stats) for random data sets
under the mappings the projector's own tests use and a few harder ones:
every primary policy, membership contacts reading the rollup and the primary,
links filtered and carrying properties, lists and summaries that truncate,
unknown stages, several primary flags, ``[events]`` rollups feeding a
condition. The shipped mappings on the sample go through
:func:`hub.sync.pipeline.resolve`, as ``hub preview`` does.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from per_record import (
    ProjectionError,
    collect,
    iter_destination,
    project_account,
    project_destination,
    project_user,
)
from test_destination import (
    AS_OF,
    DETERMINISM_MAPPINGS,
    FULL_MAPPING,
    MAPPING,
    caps,
    datasets,
    seeds,
    shuffled,
)

from hub.conditions import compile_condition
from hub.config.mapping import Mapping
from hub.config.settings import EventSettings
from hub.contract.capabilities import Capabilities
from hub.engine.project import project, project_subject, stream
from hub.model import Account, Dataset, Event, Membership, User
from hub.projections.resolver import Graph, enrich
from hub.records import (
    AccountsChunk,
    ContactsChunk,
    DestinationProjection,
    LinksChunk,
    ProjectionChunk,
    ProjectionSummary,
    projection_to_json,
)
from hub.sync.delta import Subjects, neighbourhood, subject_part

ROOT = Path(__file__).resolve().parents[3]

HARD_MAPPINGS: list[dict[str, Any]] = [
    {
        "destination": "crm",
        "primary_account": {"policy": "explicit", "fallback": "last"},
        "stages": {"order": ["visitor", "MAL", "MQL", "CUS", "PRO"], "churn": "churn"},
        "accounts": {
            "fields": {"name": "account.name"},
            "user_lists": [
                {
                    "field": "owners",
                    "value": "user.name",
                    "where": "relationship.role == 'Owner' or user.logins > 0",
                    "order_by": "relationship.joined_at",
                    "max_length": 9,
                },
            ],
            "rollups": [
                {"field": "n", "kind": "user_count", "where": "relationship.role != 'User'"},
                {"field": "events", "kind": "event_count", "event": "login", "window_days": 30},
                {"field": "seen", "kind": "last_active", "where": "exists(user.email)"},
            ],
        },
        "users": {
            "fields": {
                "stage": "rollup.stage",
                "n": "rollup.account_count",
                "home": "primary_account.account_id",
                "role": "primary_relationship.role",
                "logins": "user.logins",
            },
            "relationship_fields": [
                {
                    "field": "where",
                    "template": "{account.name} ({relationship.role})",
                    "order_by": "relationship.stage",
                    "max_length": 16,
                    "separator": " (",
                },
                {"field": "n", "kind": "count", "where": "relationship.logins > 0"},
                {"field": "owner", "kind": "any", "where": "relationship.role == 'Owner'"},
            ],
        },
        "membership_contacts": {
            "enabled": True,
            "separator": "|",
            "where": "relationship.role != 'User'",
            "fields": {
                "email": "user.email",
                "stage": "relationship.stage",
                "rolled": "rollup.stage",
                "home": "primary_account.name",
                "home_role": "primary_relationship.role",
                "count": "rollup.account_count",
            },
        },
        "links": {
            "where": "not relationship.role == 'User'",
            "properties": {"role": "relationship.role", "stage": "relationship.stage"},
        },
    },
    {
        "destination": "crm",
        "primary_account": {"policy": "most_active", "activity_window_days": 10},
        "users": {"fields": {"home": "primary_account.name", "stage": "rollup.stage"}},
        "links": {"properties": {}},
    },
    {
        "destination": "crm",
        "primary_account": {"policy": "highest_stage"},
        "accounts": {"enabled": False},
        # Nothing reads the rolled-up stage: an unknown stage raises no notice.
        "users": {"fields": {"company": "primary_account.name"}},
        "membership_contacts": {"enabled": True, "fields": {"role": "relationship.role"}},
    },
]

EVENTS = EventSettings.model_validate(
    {
        "rollups": [
            {"level": "user", "property": "logins", "event": "login", "window_days": 30},
            {"level": "relationship", "property": "logins", "event": "login"},
            {"level": "account", "property": "last", "kind": "last_seen"},
        ]
    }
)
MAPPINGS = [MAPPING, FULL_MAPPING, *DETERMINISM_MAPPINGS, *HARD_MAPPINGS]


def dump(projection: DestinationProjection) -> str:
    return json.dumps(projection_to_json(projection), sort_keys=True)


def both(dataset: Dataset, mapping: dict[str, Any], capabilities: Capabilities) -> tuple[str, str]:
    validated = Mapping.model_validate(mapping)
    expected = project_destination(
        "crm", enrich(dataset, EVENTS, AS_OF), validated, capabilities, AS_OF, compile_condition
    )
    got = project("crm", dataset, validated, capabilities, AS_OF, EVENTS.rollups)
    return dump(got), dump(expected)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dataset=datasets(),
    which=st.sampled_from(range(len(MAPPINGS))),
    account_max=st.sampled_from([None, 12, 30]),
    links=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_the_engine_projects_what_the_per_record_projector_does(
    dataset: Dataset, which: int, account_max: int | None, links: bool, seed: int
) -> None:
    capabilities = caps(links=links, account_max=account_max)
    got, expected = both(shuffled(dataset, seed), MAPPINGS[which], capabilities)
    assert got == expected


def test_the_seeds_project_the_same_under_every_mapping() -> None:
    for mapping in MAPPINGS:
        got, expected = both(seeds(), mapping, caps())
        assert got == expected
        assert json.loads(got)["contacts"], "a mapping the test means to exercise sends contacts"


def test_the_engine_refuses_what_the_projector_refuses() -> None:
    dataset = seeds()
    dataset.users["elon:sx"] = User("elon:sx")  # also the key of elon's membership of sx
    mapping = Mapping.model_validate({"destination": "x", "membership_contacts": {"enabled": True}})
    with pytest.raises(ProjectionError, match="separator"):
        project_destination("crm", dataset, mapping, caps(), AS_OF, compile_condition)
    with pytest.raises(ProjectionError, match="separator"):
        project("crm", dataset, mapping, caps(), AS_OF)
    unique = Mapping.model_validate(
        {
            "destination": "x",
            "membership_contacts": {"enabled": True, "fields": {"e": "user.email"}},
        }
    )
    with pytest.raises(ProjectionError, match="de-duplicates contacts by e-mail"):
        project("crm", seeds(), unique, caps(unique_by_email=True), AS_OF)


def _bench_outputs() -> ModuleType:
    """tests/bench/outputs.py, which writes a project of every shipped mapping."""
    sys.path.insert(0, str(ROOT / "tests" / "bench"))
    try:
        spec = importlib.util.spec_from_file_location(
            "bench_outputs_for_engine", ROOT / "tests" / "bench" / "outputs.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        # outputs.py puts its own directory on the path too: take every entry
        # off, and its sibling module, so that no bench script (intercom.py,
        # hubspot.py) shadows a package for the tests that run after.
        while str(ROOT / "tests" / "bench") in sys.path:
            sys.path.remove(str(ROOT / "tests" / "bench"))
        sys.modules.pop("engine", None)
    return module


def test_every_shipped_mapping_projects_the_same_on_the_sample(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every mapping in mappings/ with the destination type it is written for,
    on the sample and the repository's [events], through resolve as ``hub
    preview`` runs it."""
    from hub.sync.pipeline import capabilities_of, resolve

    outputs = _bench_outputs()
    for name, value in outputs.CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    outputs._project(tmp_path, "sample", 0)
    monkeypatch.chdir(tmp_path)
    resolution = resolve(tmp_path / "hub.toml")
    assert sorted(resolution.projections) == sorted(outputs.MAPPINGS)
    for name, expected in resolution.projections.items():
        settings_ = resolution.project
        got = project(
            name,
            resolution.loaded.dataset,
            settings_.mappings[name],
            capabilities_of(settings_, resolution.plugins, name),
            resolution.as_of,
            settings_.settings.events.rollups,
        )
        assert dump(got) == dump(expected), name


def test_an_event_rollup_feeds_a_condition() -> None:
    """``user.logins`` exists only through [events]: the owners list reads it."""
    dataset = seeds()
    got, expected = both(dataset, HARD_MAPPINGS[0], caps())
    assert got == expected
    logins = {
        r["key"]: r["fields"]["logins"]
        for r in json.loads(got)["contacts"]
        if "logins" in r["fields"]
    }
    assert logins["gwynne"] == 1 and logins["elon"] == 0


def oracle_stream(
    dataset: Dataset,
    validated: Mapping,
    chunk_size: int,
    only: tuple[frozenset[str], frozenset[str]] | None = None,
) -> Iterator[ProjectionChunk]:
    """The per-record stream of ``dataset`` enriched with the ``[events]`` rollups."""
    return iter_destination(
        "crm",
        enrich(dataset, EVENTS, AS_OF),
        validated,
        caps(),
        AS_OF,
        compile_condition,
        chunk_size=chunk_size,
        only=only,
    )


def _sections(chunks: list[Any]) -> list[tuple[str, list[Any]]]:
    """The chunks as (section, items), the summary last."""
    out: list[tuple[str, list[Any]]] = []
    for chunk in chunks:
        if isinstance(chunk, AccountsChunk):
            out.append(("accounts", chunk.records))
        elif isinstance(chunk, ContactsChunk):
            out.append(("contacts", chunk.records))
        elif isinstance(chunk, LinksChunk):
            out.append(("links", chunk.links))
        else:
            assert isinstance(chunk, ProjectionSummary)
            out.append(("summary", [chunk]))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dataset=datasets(),
    which=st.sampled_from(range(len(MAPPINGS))),
    chunk_size=st.sampled_from([1, 2, 5, 10_000]),
)
def test_the_stream_is_the_per_record_stream_chunk_for_chunk_in_order(
    dataset: Dataset, which: int, chunk_size: int
) -> None:
    """Accounts, then contacts, then links, then one summary; no chunk over
    ``chunk_size`` (membership contacts aside, both collect that section);
    concatenated per section, the per-record stream's items."""
    validated = Mapping.model_validate(MAPPINGS[which])
    got = _sections(
        list(
            stream("crm", dataset, validated, caps(), AS_OF, EVENTS.rollups, chunk_size=chunk_size)
        )
    )
    expected = _sections(list(oracle_stream(dataset, validated, chunk_size)))
    order = ["accounts", "contacts", "links", "summary"]
    kinds = [section for section, _ in got]
    assert kinds == sorted(kinds, key=order.index) and kinds[-1] == "summary"
    assert all(items for _, items in got), "no empty chunk"
    assert all(len(items) <= chunk_size for section, items in got if section != "contacts")
    for section in order:
        mine = [x for s, items in got if s == section for x in items]
        theirs = [x for s, items in expected if s == section for x in items]
        assert mine == theirs, section


#: A delta run's subjects: some of the generated users and accounts, and ids of none.
SOME_USERS = st.sets(st.sampled_from(["u0", "u1", "u3", "u7", "nobody"]))
SOME_ACCOUNTS = st.sets(st.sampled_from(["a0", "a2", "a4", "nowhere"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dataset=datasets(),
    which=st.sampled_from(range(len(MAPPINGS))),
    users=SOME_USERS,
    accounts=SOME_ACCOUNTS,
)
def test_only_some_subjects_gives_what_the_per_record_stream_gives_of_them(
    dataset: Dataset, which: int, users: set[str], accounts: set[str]
) -> None:
    """A delta run's ``only``: those users' and accounts' records as the whole
    data set gives them, with the notices and stats of those alone."""
    validated = Mapping.model_validate(MAPPINGS[which])
    only = (frozenset(users), frozenset(accounts))
    got = collect(
        stream("crm", dataset, validated, caps(), AS_OF, EVENTS.rollups, chunk_size=3, only=only)
    )
    expected = collect(oracle_stream(dataset, validated, 3, only))
    assert dump(got) == dump(expected)


def test_a_refused_mapping_fails_when_the_stream_is_built() -> None:
    """As iter_destination: before the first chunk is asked for."""
    unique = Mapping.model_validate(
        {
            "destination": "x",
            "membership_contacts": {"enabled": True, "fields": {"e": "user.email"}},
        }
    )
    with pytest.raises(ProjectionError, match="de-duplicates contacts by e-mail"):
        stream("crm", seeds(), unique, caps(unique_by_email=True), AS_OF)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dataset=datasets(), which=st.sampled_from(range(len(MAPPINGS))))
def test_one_subject_gives_what_the_per_record_rules_give_of_it(
    dataset: Dataset, which: int
) -> None:
    """``hub inspect``'s projection of one user or one account, notices and
    stats included, for every user and account and one that does not exist."""
    validated = Mapping.model_validate(MAPPINGS[which])
    graph = Graph(enrich(dataset, EVENTS, AS_OF))
    for kind, ids, rule in (
        ("user", [*dataset.users, "nobody"], project_user),
        ("account", [*dataset.accounts, "nowhere"], project_account),
    ):
        for subject in ids:
            got = project_subject(
                kind, subject, "crm", dataset, validated, caps(), AS_OF, EVENTS.rollups
            )
            expected = rule("crm", graph, validated, caps(), AS_OF, compile_condition, subject)
            assert dump(got) == dump(expected), (kind, subject)


def _a_non_members_event() -> Dataset:
    """Hypothesis's find: ``u0`` logs in within ``a1`` without being a member of
    it; ``a1``'s activity counts that login."""
    return Dataset(
        users={name: User(user_id=name, traits={"name": "Ann"}) for name in ("u0", "u1")},
        accounts={name: Account(account_id=name, name="Acme") for name in ("a0", "a1")},
        memberships={
            ("u0", "a0"): Membership(
                user_id="u0", account_id="a0", role="Owner", properties={"stage": "visitor"}
            )
        },
        events=[Event("login", datetime(2024, 6, 1, tzinfo=UTC), user_id="u0", account_id="a1")],
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dataset=datasets(), which=st.sampled_from(range(len(MAPPINGS))))
@example(dataset=_a_non_members_event(), which=0)
def test_one_subject_from_its_part_of_the_data_set_is_what_the_whole_gives(
    dataset: Dataset, which: int
) -> None:
    """``hub inspect`` projects only the part of the data set a subject's records
    read (``subject_part``: an account's members bring their other
    memberships); records, links, notices and stats are the whole's."""
    validated = Mapping.model_validate(MAPPINGS[which])
    for kind, ids in (("user", [*dataset.users, "nobody"]), ("account", [*dataset.accounts])):
        for subject in ids:
            part = subject_part(dataset, kind, subject)
            got = project_subject(
                kind, subject, "crm", part, validated, caps(), AS_OF, EVENTS.rollups
            )
            whole = project_subject(
                kind, subject, "crm", dataset, validated, caps(), AS_OF, EVENTS.rollups
            )
            assert dump(got) == dump(whole), (kind, subject)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dataset=datasets(),
    which=st.sampled_from(range(len(MAPPINGS))),
    users=SOME_USERS,
    accounts=SOME_ACCOUNTS,
)
@example(dataset=_a_non_members_event(), which=0, users=set(), accounts={"a1"})
def test_a_delta_runs_part_of_the_data_set_gives_its_subjects_as_the_whole_does(
    dataset: Dataset, which: int, users: set[str], accounts: set[str]
) -> None:
    """What a delta run projects (``hub.sync``): the reached subjects (as
    ``reach`` closes them: every account of a user, every member of an account)
    from their ``neighbourhood`` alone, record for record the whole's."""
    users |= {user for user, account in dataset.memberships if account in accounts}
    accounts |= {account for user, account in dataset.memberships if user in users}
    subjects = Subjects(frozenset(users), frozenset(accounts))
    part = neighbourhood(dataset, [subjects])
    only = (subjects.users, subjects.accounts)
    validated = Mapping.model_validate(MAPPINGS[which])
    got = collect(stream("crm", part, validated, caps(), AS_OF, EVENTS.rollups, only=only))
    whole = collect(stream("crm", dataset, validated, caps(), AS_OF, EVENTS.rollups, only=only))
    assert dump(got) == dump(whole)
