"""The engine's tables made from a columnar load (:mod:`hub.sources.frame`)
give what the tables made from its data set give: every shipped mapping's
projection, events and their rollups included, and a delta run's part.

The project is the generated benchmark set (users, accounts, memberships as
CSV) with its events written as a CSV file too, so that every table loads
column-wise.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
from pathlib import Path

import pytest

from hub.reports import inspect_subject, missing_subject
from hub.sources.frame import Frame
from hub.sync.delta import Subjects, neighbourhood, shifted
from hub.sync.pipeline import resolve

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "bench"))
from engine import EVENTS  # noqa: E402
from generate import generate, write_tables  # noqa: E402
from outputs import CREDENTIALS, MAPPINGS  # noqa: E402


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("frame")
    dataset = generate(1500, seed=7, events_per_user=4)
    write_tables(dataset, directory / "data")
    with (directory / "data" / "events.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["event", "timestamp", "user_id", "account_id", "source"])
        for number, event in enumerate(dataset.events):
            writer.writerow(
                [
                    event.event,
                    event.timestamp.isoformat(),
                    event.user_id or "",
                    event.account_id or "",
                    "web" if number % 3 else "",
                ]
            )
    shutil.copytree(ROOT / "mappings", directory / "mappings")
    sources = "".join(
        f'[sources.{table}]\nkind = "csv"\ntable = "{table}"\npath = "data/{table}.csv"\n\n'
        for table in ("users", "accounts", "memberships", "events")
    )
    destinations = "".join(
        f'[destinations.{name}]\ntype = "{kind}"\nmapping = "mappings/{name}.toml"\n\n'
        for name, kind in MAPPINGS.items()
    )
    (directory / "hub.toml").write_text(sources + EVENTS + "\n" + destinations)
    return directory


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


def test_every_shipped_mapping_projects_the_same_from_the_frame(project: Path) -> None:
    columnar = resolve(project / "hub.toml")
    frame = columnar.loaded.frame
    assert isinstance(frame, Frame)
    assert columnar.loaded.counts["events"] > 5000
    rows = resolve(project / "hub.toml", dataset=columnar.loaded.dataset)
    assert rows.loaded.frame is None
    for name in MAPPINGS:
        assert columnar.projections[name] == rows.projections[name], name
    # Something to compare: the events reached accounts and contacts.
    crm = columnar.projections["crm"]
    assert sum(1 for record in crm.accounts if record.fields.get("last_active_at")) > 100
    assert sum(1 for record in crm.contacts if record.fields.get("last_seen_at")) > 100


def test_a_delta_runs_part_of_the_frame_is_the_part_of_its_data_set(project: Path) -> None:
    resolution = resolve(project / "hub.toml", project_destinations=False)
    frame = resolution.loaded.frame
    assert frame is not None
    dataset = frame.dataset()
    users = set(list(dataset.users)[::97])
    accounts = set(list(dataset.accounts)[::41])
    reached = [Subjects(frozenset(users), frozenset(accounts))]
    part = neighbourhood(frame, reached).dataset()
    expected = neighbourhood(dataset, reached)
    assert list(part.users) == list(expected.users)
    assert part.users == expected.users
    assert list(part.accounts) == list(expected.accounts)
    assert part.accounts == expected.accounts
    assert list(part.memberships) == list(expected.memberships)
    assert part.events == expected.events
    assert 0 < len(part.events) < len(dataset.events)
    as_of = resolution.as_of
    for days in ([], [1, 30, 90]):
        for before in (as_of.replace(day=1), as_of.replace(month=9)):
            assert shifted(frame, before, as_of, days) == shifted(
                dataset.events, before, as_of, days
            )
    assert os.environ["HUB_DESTINATIONS__HUBSPOT__SETTINGS__TOKEN"]


def test_an_inspection_from_the_frame_is_the_whole_data_sets(project: Path) -> None:
    """``hub inspect`` on an all-CSV project projects the subject's part of the
    frame (never a data set of everyone): the records, links and notices the
    whole data set gives that user or account."""
    columnar = resolve(project / "hub.toml", project_destinations=False)
    frame = columnar.loaded.frame
    assert isinstance(frame, Frame)
    rows = resolve(project / "hub.toml", dataset=frame.dataset(), project_destinations=False)
    assert rows.loaded.frame is None
    columnar.loaded.frame = Frame(
        frame.values, frame.users, frame.accounts, frame.memberships, frame.events
    )  # the same frame without the data set built above: inspect must not need it
    subjects = [
        *(("user", user) for user in list(rows.loaded.dataset.users)[::150]),
        *(("account", account) for account in list(rows.loaded.dataset.accounts)[::60]),
    ]
    assert len(subjects) > 12
    for kind, subject in subjects:
        got = inspect_subject(columnar, kind, subject)
        assert got == inspect_subject(rows, kind, subject), (kind, subject)
        assert any(d["records"] for d in got["destinations"].values())
    assert columnar.loaded.frame._dataset is None
    assert missing_subject(columnar, "user", "nobody") is not None
    assert missing_subject(columnar, "account", subjects[-1][1]) is None
