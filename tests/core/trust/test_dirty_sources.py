"""Dirty files through ``hub sync`` and ``hub plan``: nothing the source did not
say is sent, and nothing is deleted on the evidence of an unreadable row."""

from __future__ import annotations

from collections.abc import Callable

from conftest import USERS, Project


def test_a_stray_quote_in_mirror_mode_deletes_nothing_and_says_why(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(mode="mirror")
    first = project.json("sync", code=0)
    assert first["ok"]
    contacts = [line["key"] for line in project.sent("contact")]
    assert len(contacts) == 10
    # One stray quote on u3's line: before, it swallowed u4..u10 into one cell.
    project.write("users.csv", USERS.replace("u3,u3@x.io,User 3", 'u3,u3@x.io,"User 3'))

    plan = project.json("plan", code=0)
    crm = plan["destinations"]["crm"]
    assert crm["totals"]["delete"] == 0
    assert "quarantined 2 row(s)" in crm["delete_guard"]  # u3, and its membership

    result = project.json("sync", code=1)
    [run] = result["runs"]
    assert run["status"] == "failed"
    assert "quarantined 2 row(s) this run (memberships: 1, users: 1)" in run["message"]
    assert "--force-delete" in run["message"]
    assert run["counts"]["skipped.delete_guard"] == 2  # u3's contact and its link
    operations = [line["operation"] for line in project.sent("contact")]
    assert "delete" not in operations
    # Nobody's e-mail went out inside another user's field.
    for line in project.sent("contact"):
        assert "@" not in str(line["payload"].get("name", ""))

    forced = project.json("sync", "--force-delete", code=0)
    assert forced["runs"][0]["counts"]["deleted"] == 1
    assert [line["key"] for line in project.sent("contact") if line["operation"] == "delete"] == [
        "u3"
    ]


def test_ids_holding_the_separator_never_share_a_membership_contact_key(
    make_project: Callable[..., Project],
) -> None:
    mapping = """
destination = "crm"
[accounts]
enabled = false
[users]
enabled = false
[links]
enabled = false
[membership_contacts]
enabled = true
separator = ":"
[membership_contacts.fields]
user = "user.user_id"
account = "account.account_id"
"""
    project = make_project(crm=mapping)
    project.write("users.csv", "user_id\na:b\na\n")
    project.write("accounts.csv", "account_id\nc\nb:c\n")
    project.write("memberships.csv", "user_id,account_id,role\na:b,c,User\na,b:c,User\n")
    project.json("sync", code=0)
    sent = {line["key"]: line["payload"] for line in project.sent("contact")}
    assert sent == {
        "a\\:b:c": {"user": "a:b", "account": "c"},
        "a:b\\:c": {"user": "a", "account": "b:c"},
    }
    again = project.json("sync", code=0)
    assert again["runs"][0]["counts"]["sent"] == 0  # nothing rewritten on every run
    subject = project.json("plan", "--user", "a", code=0)
    assert subject["destinations"]["crm"]["items"] == []  # nothing planned; no crash
