"""Bad rows are visible where people look: ``hub sync`` (table and JSON),
``hub runs``, ``hub errors --quarantine``; the progress total is known
before the first batch."""

from __future__ import annotations

from collections.abc import Callable

from conftest import USERS, Project

from hub.sync import sync

BROKEN_USERS = USERS.replace("u4,u4@x.io,User 4", "u4,not-an-email,User 4") + ",nobody@x.io,No id\n"


def test_sync_runs_and_errors_report_quarantined_rows(
    make_project: Callable[..., Project],
) -> None:
    project = make_project()
    project.write("users.csv", BROKEN_USERS)
    result = project.json("sync", code=0)
    # u4's membership is quarantined too: its user is not in the data set.
    assert result["quarantine"] == {"total": 3, "by_source": {"memberships": 1, "users": 2}}
    assert all(run["counts"]["quarantined"] == 3 for run in result["runs"])

    # The same files again: skipped (nothing read), the quarantine still reported.
    table = project.hub("sync")
    assert "3 source row(s) quarantined (memberships: 1, users: 2)" in table.stdout
    assert "hub errors --quarantine" in table.stdout
    assert "inputs unchanged since run 1" in table.stderr
    assert "3 row(s) quarantined (memberships: 1, users: 2)" in table.stderr
    full = project.hub("sync", "--full")
    assert "3 source row(s) quarantined (memberships: 1, users: 2)" in full.stdout
    assert "hub: reading the sources" in full.stderr  # said before anything is counted

    runs = project.json("runs", code=0)["runs"]
    assert all(run["counts"]["quarantined"] == 3 for run in runs)

    listed = project.json("errors", "--quarantine", code=0)
    assert listed["total"] == 3
    assert [(row["location"], row["reason"]) for row in listed["rows"]] == [
        ("users.csv:5", "malformed email 'not-an-email'"),
        ("users.csv:12", "missing user_id"),
        ("memberships.csv:5", "unknown user u4"),
    ]
    only = project.json("errors", "--quarantine", "--source", "memberships", code=0)
    assert [row["record_id"] for row in only["rows"]] == ["u4:a1"]
    shown = project.hub("errors", "--quarantine")
    assert "users.csv:12" in shown.stdout and "missing user_id" in shown.stdout

    # The next clean load replaces the list: it is the latest load's.
    project.write("users.csv", USERS)
    project.json("sync", code=0)
    assert project.json("errors", "--quarantine", code=0)["total"] == 0


def test_the_progress_total_is_known_before_the_first_batch(
    make_project: Callable[..., Project],
) -> None:
    project = make_project()
    seen: list[tuple[str, int, int]] = []
    [run] = sync(
        project.config, progress=lambda name, done, total: seen.append((name, done, total))
    )
    assert run.ok
    assert seen[0] == ("crm", 0, 22)  # 2 accounts + 10 contacts + 10 links, before any send
    assert {total for _, _, total in seen} == {22}
    assert seen[-1] == ("crm", 22, 22)
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen)
