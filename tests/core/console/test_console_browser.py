"""The console as a person sees it, in headless Chromium: the run list, a
failed record's reason, a quarantined row's location, Elon's payload per
destination, the plan, the playbooks, markup in customer data shown as text,
and reading with JavaScript off."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from console_support import IMG_NAME, SCRIPT_NAME, SECRETS, ConsoleProcess, hub_json, new_page


def follow(page: Any, target: Any) -> None:
    """Click ``target`` and wait for the page it leads to."""
    with page.expect_navigation():
        target.click()


def _rows(page: Any, selector: str = "table tbody tr") -> list[str]:
    return [row.inner_text() for row in page.locator(selector).all()]


def test_the_run_list_and_a_failed_records_reason(page: Any, console: ConsoleProcess) -> None:
    page.goto(console.url("/"))
    assert page.title() == "Destinations · connector-hub"
    destinations = _rows(page)
    assert [row.split()[0] for row in destinations] == ["crm", "hubspot", "mailer", "slack"]
    hubspot = next(row for row in destinations if row.startswith("hubspot"))
    assert "partial" in hubspot and "failed 39" in hubspot
    assert "every 15m, jitter 30s" in hubspot
    assert "playbook actions only" in destinations[3]

    follow(page, page.get_by_role("link", name="Runs", exact=True))
    runs = _rows(page)
    assert [row.split()[0] for row in runs] == ["#3", "#2", "#1"]
    assert "hubspot" in runs[1] and "partial" in runs[1]

    follow(page, page.get_by_role("link", name="#2", exact=True))
    assert page.locator("h1").inner_text() == "Run #2: hubspot"
    errors = _rows(page, "table.errors tbody tr")
    assert len(errors) == 39
    # The vendor's own words, whole (the CLI's table cuts them at 80 columns).
    tom = next(row for row in errors if "u_tom\t" in row + "\t")
    assert "permanent" in tom
    assert re.search(r'"error":"INVALID_OPTION","name":"hub_primary_role"', tom), tom
    assert "was not a valid enumeration" in tom


def test_a_quarantined_rows_location(page: Any, console: ConsoleProcess) -> None:
    page.goto(console.url("/"))
    follow(page, page.get_by_role("link", name="Quarantine"))
    assert "7 rows." in page.locator("main").inner_text()
    headings = [h.inner_text() for h in page.locator("main h2").all()]
    assert headings == ["users", "tracking", "memberships"]
    rows = _rows(page, "table.quarantine tbody tr")
    assert any(
        "examples/sample/users.csv:46" in row and "malformed email" in row for row in rows
    ), rows
    assert any(
        "examples/sample/memberships.csv:47" in row and "unknown user u_ghost" in row
        for row in rows
    )

    page.select_option("select[name=source]", "memberships")
    follow(page, page.get_by_role("button", name="show"))
    only = _rows(page, "table.quarantine tbody tr")
    assert len(only) == 3 and all("memberships.csv:" in row for row in only)


def test_elons_payload_in_each_destination(
    page: Any, console: ConsoleProcess, synced: Path
) -> None:
    page.goto(console.url("/"))
    follow(page, page.get_by_role("link", name="Inspect"))
    page.fill("input[name=id]", "u_elon")
    follow(page, page.get_by_role("button", name="inspect"))
    sections = {
        section.locator("h2").inner_text().split()[0]: section
        for section in page.locator("section.destination").all()
    }
    assert sorted(sections) == ["crm", "hubspot", "mailer"]

    crm = [json.loads(pre.inner_text()) for pre in sections["crm"].locator("pre.payload").all()]
    assert crm[0]["email"] == "elon@x.example"
    assert crm[0]["primary_account_name"] == "Twitter" and crm[0]["account_count"] == 3
    links = sections["crm"].locator("table tbody tr").all()
    assert len(links) == 3

    hubspot = sections["hubspot"].locator("pre.payload").first
    assert json.loads(hubspot.inner_text())["lifecyclestage"] == "CUS"

    # One mailer contact per membership it keeps (churned ones are left out),
    # exactly the records `hub inspect` prints.
    keys = [code.inner_text() for code in sections["mailer"].locator(".record > div code").all()]
    assert keys == ["u_elon:acc_tesla", "u_elon:acc_twitter"]
    cli = hub_json(synced, "inspect", "user", "u_elon")["destinations"]
    assert keys == [record["key"] for record in cli["mailer"]["records"]]
    shown = [
        json.loads(pre.inner_text()) for pre in sections["mailer"].locator("pre.payload").all()
    ]
    assert shown == [record["fields"] for record in cli["mailer"]["records"]]


def test_an_unknown_id_says_so_and_where_a_quarantined_row_of_it_went(
    page: Any, console: ConsoleProcess
) -> None:
    page.goto(console.url("/inspect?kind=user&id=nobody"))
    assert "no user with id 'nobody' in the sources." in page.locator("main").inner_text()
    page.goto(console.url("/inspect?kind=user&id=u_victor"))
    text = page.locator("main").inner_text()
    assert "quarantined at examples/sample/users.csv:46" in text, text


def test_the_plan_and_the_playbooks(page: Any, console: ConsoleProcess, synced: Path) -> None:
    page.goto(console.url("/plan"))
    sections = page.locator("section.destination").all()
    names = [section.locator("h2").inner_text().split()[0] for section in sections]
    assert names == ["crm", "hubspot", "mailer"]
    expected = hub_json(synced, "plan")["destinations"]
    hubspot = sections[1].inner_text()
    assert f"failed {expected['hubspot']['totals']['failed']}" in hubspot
    assert expected["hubspot"]["totals"]["failed"] == 39

    follow(page, page.get_by_role("link", name="Playbooks"))
    text = page.locator("main").inner_text()
    assert "Would enter" in text and "pqa_pql" in text
    assert "hubspot.add_to_list" in text and "slack.send_message" in text


def test_markup_in_customer_data_is_shown_as_text(page: Any, console: ConsoleProcess) -> None:
    page.goto(console.url("/inspect?kind=user&id=u_mallory"))
    payloads = [json.loads(pre.inner_text()) for pre in page.locator("pre.payload").all()]
    assert any(p.get("first_name") == SCRIPT_NAME for p in payloads), payloads
    assert any(IMG_NAME in str(value) for p in payloads for value in p.values()), payloads
    # Nothing ran and nothing was built from the data: no script, no image.
    assert page.title() == "Inspect · connector-hub"
    assert page.locator("script").count() == 0
    assert page.locator("img").count() == 0
    assert "<script>document.title=" in page.locator("main").inner_text()

    page.goto(console.url("/inspect?kind=account&id=acc_evil"))
    assert page.title() == "Inspect · connector-hub"
    assert page.locator("img").count() == 0
    # In the JSON of the payloads, as JSON writes it (quotes escaped).
    assert json.dumps(IMG_NAME)[1:-1] in page.locator("main").inner_text()
    # A search for markup is echoed as text too.
    page.goto(console.url("/inspect?kind=user&id=%3Cscript%3Ealert(1)%3C/script%3E"))
    assert page.locator("script").count() == 0
    assert "no user with id '<script>alert(1)</script>'" in page.locator("main").inner_text()


def test_no_secret_is_ever_rendered(page: Any, console: ConsoleProcess) -> None:
    for path in (
        "/",
        "/runs",
        "/runs/2",
        "/errors",
        "/quarantine",
        "/plan",
        "/inspect?kind=user&id=u_elon",
        "/playbooks",
        "/fleet",
        "/login",
    ):
        page.goto(console.url(path))
        html = page.content()
        for secret in SECRETS:
            assert secret not in html, (path, secret)
    assert all(secret not in console.log.read_text() for secret in SECRETS)


def test_reading_works_with_javascript_off(browser: Any, console: ConsoleProcess) -> None:
    page = new_page(browser, javascript=False)
    if True:
        page.goto(console.url("/"))
        follow(page, page.get_by_role("link", name="Inspect"))
        page.fill("input[name=id]", "u_elon")
        follow(page, page.get_by_role("button", name="inspect"))
        assert page.locator("section.destination").count() == 3
        follow(page, page.get_by_role("link", name="Errors"))
        assert page.locator("table.errors tbody tr").count() == 39
        follow(page, page.get_by_role("link", name="Plan"))
        page.locator("summary").first.click()  # <details> opens without script
        assert page.locator("details[open] pre").first.is_visible()
