"""The console's two actions, retry and run now, as an admin uses them in
Chromium; and what keeps anyone else from using them: the token, the session,
the CSRF token and the Origin check."""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

from console_support import (
    CONSOLE_TOKEN,
    ConsoleProcess,
    FakeHubSpot,
    environment,
    http,
    hub,
    hub_json,
    new_page,
)


def follow(page: Any, target: Any) -> None:
    with page.expect_navigation():
        target.click()


def _sign_in(page: Any, console: ConsoleProcess, token: str = CONSOLE_TOKEN) -> None:
    page.goto(console.url("/login"))
    page.fill("input[name=token]", token)
    follow(page, page.get_by_role("button", name="sign in"))


def _wait_for_job(page: Any) -> str:
    """The job page reloads itself (a meta refresh, no script) until the job ends."""
    page.wait_for_selector("dl.facts .status:not(.status-running)", timeout=120_000)
    return str(page.locator("dl.facts .status").first.inner_text())


def _started_jobs(console: ConsoleProcess) -> list[dict[str, Any]]:
    return [e for e in console.events() if e.get("event") == "console.job.started"]


def test_an_admin_signs_in_and_runs_a_sync_now(
    browser: Any, console: ConsoleProcess, synced: Path
) -> None:
    page = new_page(browser)
    page.goto(console.url("/"))
    assert page.get_by_role("button", name="Run now").count() == 0
    assert page.get_by_role("link", name="sign in to run now").count() == 3

    _sign_in(page, console, token="not-the-token")
    assert "That is not the console token." in page.locator("main").inner_text()

    _sign_in(page, console)
    assert page.title() == "Destinations · connector-hub"
    assert page.get_by_role("button", name="sign out").count() == 1
    crm = page.locator("table tbody tr", has_text="crm").first
    before = hub_json(synced, "runs", "-d", "crm")["runs"][0]["run_id"]
    follow(page, crm.get_by_role("button", name="Run now"))
    assert page.locator("h1").inner_text() == "Sync of crm"
    assert _wait_for_job(page) == "succeeded"
    link = page.locator("main p a").first
    run_id = int(link.inner_text().lstrip("#"))
    assert run_id > before
    # The run went through hub.sync like any other: the CLI lists it.
    assert hub_json(synced, "runs", "-d", "crm")["runs"][0]["run_id"] == run_id
    follow(page, link)
    assert page.locator("h1").inner_text() == f"Run #{run_id}: crm"
    # The overview lists the job.
    page.goto(console.url("/"))
    assert "Started from this console" in page.locator("main").inner_text()


def test_retry_sends_the_failed_records_again_once_the_portal_is_fixed(
    browser: Any, console: ConsoleProcess, synced: Path, fake: FakeHubSpot
) -> None:
    page = new_page(browser)
    _sign_in(page, console)
    first = next(r for r in hub_json(synced, "runs", "-d", "hubspot")["runs"])
    page.goto(console.url(f"/runs/{first['run_id']}"))
    assert page.locator("table.errors tbody tr").count() == 39

    # Still refused: the records are sent again and refused again, with the reason.
    follow(page, page.get_by_role("button", name="Retry failed"))
    assert _wait_for_job(page) == "failed"
    facts = page.locator("dl.facts").inner_text()
    assert "39 failed record(s)" in facts

    # The portal's admin adds the missing options; a retry now lands them.
    options = fake.properties["contacts"]["hub_primary_role"]["options"]
    for role in ("User", "Member", "Billing Admin", "Viewer", "Guest"):
        options.append(
            {"label": role, "value": role, "displayOrder": len(options), "hidden": False}
        )
    page.goto(console.url("/"))
    row = page.locator("table tbody tr", has_text="hubspot").first
    follow(page, row.get_by_role("button", name="Retry failed"))
    assert _wait_for_job(page) == "succeeded"
    latest = hub_json(synced, "runs", "-d", "hubspot")["runs"][0]
    assert latest["status"] == "succeeded" and latest["counts"]["failed"] == 0
    assert latest["counts"]["created"] > 0
    assert (
        hub_json(synced, "errors", "-d", "hubspot", "--run", str(latest["run_id"]))["errors"] == []
    )
    # Every contact refused the first time is in the portal now, and nothing is left to send.
    refused = hub_json(synced, "errors", "-d", "hubspot", "--run", str(first["run_id"]))["errors"]
    assert len(refused) == 39
    missing = [e["key"] for e in refused if fake.find("contacts", "hub_user_id", e["key"]) is None]
    assert missing == []
    totals = hub_json(synced, "plan", "-d", "hubspot")["destinations"]["hubspot"]["totals"]
    assert totals["failed"] == 0 and totals["create"] == 0 and totals["update"] == 0


def test_a_form_from_another_site_is_refused(browser: Any, console: ConsoleProcess) -> None:
    page = new_page(browser)
    _sign_in(page, console)  # even a signed-in admin's browser
    jobs = len(_started_jobs(console))
    target = console.url("/destinations/crm/sync")
    other = new_page(browser)  # the same browser, another site's page
    other.context.add_cookies(page.context.cookies())
    other.set_content(
        f'<form method="post" action="{target}"><input name="csrf" value="guess">'
        '<button type="submit">win a prize</button></form>'
    )
    with other.expect_navigation():
        other.get_by_role("button", name="win a prize").click()
    assert "refused" in other.locator("body").inner_text()
    assert len(_started_jobs(console)) == jobs


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    jar = {}
    for key, value in headers.items():
        if key.lower() == "set-cookie":
            name, _, rest = value.partition("=")
            jar[name] = rest.partition(";")[0]
    return jar


def _csrf(console: ConsoleProcess) -> str:
    status, headers, _ = http(console.url("/login"))
    assert status == 200
    return _cookies(headers)["hub_csrf"]


def test_actions_need_the_csrf_token_a_session_and_the_right_origin(
    console: ConsoleProcess,
) -> None:
    jobs = len(_started_jobs(console))
    url = console.url("/destinations/crm/sync")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    # No CSRF cookie and field.
    status, _, body = http(url, method="POST", data=b"", headers=form)
    assert status == 403 and b"CSRF" in body
    csrf = _csrf(console)
    with_csrf = urllib.parse.urlencode({"csrf": csrf}).encode()
    cookie = f"hub_csrf={csrf}"
    # CSRF right, not signed in.
    status, _, body = http(url, method="POST", data=with_csrf, headers={**form, "Cookie": cookie})
    assert status == 401 and b"sign in" in body
    # Signed in through the form (the session cookie), from another origin.
    login = urllib.parse.urlencode({"csrf": csrf, "token": CONSOLE_TOKEN, "next": "/"}).encode()
    status, headers, _ = http(
        console.url("/login"), method="POST", data=login, headers={**form, "Cookie": cookie}
    )
    assert status == 303
    session = _cookies(headers)["hub_session"]
    assert CONSOLE_TOKEN not in session
    assert re.search(r"hub_session=[^;]+;.*HttpOnly", headers["set-cookie"], re.I)
    assert "samesite=strict" in headers["set-cookie"].lower()
    signed = {**form, "Cookie": f"{cookie}; hub_session={session}"}
    status, _, body = http(
        url, method="POST", data=with_csrf, headers={**signed, "Origin": "http://evil.example"}
    )
    assert status == 403 and b"not sent from this console" in body
    # A tampered session is no session.
    tampered = {**form, "Cookie": f"{cookie}; hub_session={session[:-2]}00"}
    status, _, _ = http(url, method="POST", data=with_csrf, headers=tampered)
    assert status == 401
    assert len(_started_jobs(console)) == jobs
    # GET never acts.
    status, _, _ = http(url)
    assert status == 405
    # Scripts use the bearer token (no browser sends it on its own).
    status, _, body = http(
        url + "?format=json",
        method="POST",
        data=b"",
        headers={**form, "Authorization": f"Bearer {CONSOLE_TOKEN}"},
    )
    assert status == 202, body
    assert json.loads(body)["destination"] == "crm"
    assert len(_started_jobs(console)) == jobs + 1


def test_without_a_token_the_console_only_reads(synced: Path) -> None:
    with ConsoleProcess(synced) as console:
        status, _, body = http(console.url("/"))
        assert status == 200 and b"read only" in body and b"Run now" not in body
        status, _, body = http(console.url("/login"))
        assert b"No console token is set" in body
        csrf = _csrf(console)
        status, _, body = http(
            console.url("/destinations/crm/sync"),
            method="POST",
            data=urllib.parse.urlencode({"csrf": csrf}).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"hub_csrf={csrf}",
            },
        )
        assert status == 403 and b"actions are off" in body
        assert _started_jobs(console) == []


def test_beyond_loopback_a_token_is_required(synced: Path) -> None:
    refused = hub(synced, "console", "--listen", "0.0.0.0:0")
    assert refused.returncode == 2
    assert "console.listen" in refused.stderr and "HUB_CONSOLE__TOKEN" in refused.stderr
    env = environment({"HUB_CONSOLE__TOKEN": CONSOLE_TOKEN})
    with ConsoleProcess(synced, listen="0.0.0.0:0", env=env) as console:
        status, headers, _ = http(console.url("/runs"))
        assert status == 303 and "/login?next=%2Fruns" in headers["location"]
        status, _, _ = http(console.url("/runs?format=json"))
        assert status == 401
        status, _, body = http(
            console.url("/runs?format=json"), headers={"Authorization": f"Bearer {CONSOLE_TOKEN}"}
        )
        assert status == 200 and json.loads(body)["runs"]
        status, _, _ = http(console.url("/runs"), headers={"Authorization": "Bearer wrong"})
        assert status == 303
        # The sign-in page and the style sheet are open.
        assert http(console.url("/login"))[0] == 200
        assert http(console.url("/static/console.css"))[0] == 200


def test_a_foreign_host_name_is_refused_on_loopback(console: ConsoleProcess) -> None:
    port = console.base.rpartition(":")[2]
    # A DNS-rebinding page: the browser sends its own host name.
    status, _, body = http(console.url("/runs"), headers={"Host": f"evil.example:{port}"})
    assert status == 421 and b"loopback" in body
    assert http(console.url("/runs"), headers={"Host": f"localhost:{port}"})[0] == 200
    status, headers, _ = http(console.url("/runs"))
    assert status == 200
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
