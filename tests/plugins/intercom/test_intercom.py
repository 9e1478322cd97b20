"""The Intercom destination against the local fake: requests, matching, errors, actions."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from hub_intercom import CAPABILITIES, IntercomDestination, IntercomSettings, Region, make_intercom
from hub_intercom.attributes import compose_name, contact_body, data_type, json_value
from intercom_fake import TOKEN, IntercomFake, error_list

from hub.contract.actions import ActionRequest, perform
from hub.contract.capabilities import Action, IdentityKey, Operation
from hub.contract.destination import (
    BatchItem,
    BatchObject,
    FatalDestinationError,
    LinkEnds,
    Outcome,
    RecordResult,
    link_key,
)
from hub.contract.testing import RecordingBudget, make_batch, make_context

#: The chain hub.sync sends contacts with by default (users.match).
CHAIN = (IdentityKey.EXTERNAL_ID, IdentityKey.EMAIL)


def destination(
    fake: IntercomFake,
    tmp_path: Path,
    budget: RecordingBudget | None = None,
    *,
    token: str = TOKEN,
    timeout: float = 5.0,
    name: str = "support",
) -> IntercomDestination:
    settings = IntercomSettings(access_token=token, base_url=fake.base_url, timeout=timeout)
    return make_intercom(settings, make_context(tmp_path, name=name, budget=budget))


def upsert(dest: IntercomDestination, kind: BatchObject, *items: BatchItem) -> list[RecordResult]:
    return list(dest.send(make_batch(kind, Operation.UPSERT, items, match=CHAIN)))


def by_key(results: list[RecordResult]) -> dict[str, RecordResult]:
    return {result.key: result for result in results}


# -- settings and declaration ---------------------------------------------------


def test_region_picks_the_base_url_and_a_base_url_overrides_it() -> None:
    assert IntercomSettings(access_token="t").api_base_url() == "https://api.intercom.io"
    eu = IntercomSettings(access_token="t", region=Region.EU)
    assert eu.api_base_url() == "https://api.eu.intercom.io"
    au = IntercomSettings(access_token="t", region="au")  # type: ignore[arg-type]
    assert au.api_base_url() == "https://api.au.intercom.io"
    local = IntercomSettings(access_token="t", base_url="http://127.0.0.1:9/")  # type: ignore[arg-type]
    assert local.api_base_url() == "http://127.0.0.1:9"


def test_the_token_never_shows_in_reprs_or_errors(fake: IntercomFake, tmp_path: Path) -> None:
    settings = IntercomSettings(access_token=TOKEN, base_url=fake.base_url)
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
    dest = make_intercom(settings, make_context(tmp_path))
    assert TOKEN not in repr(dest) and TOKEN not in repr(dest.client)
    assert TOKEN not in dest.credential_id
    with pytest.raises(Exception) as raised:
        IntercomSettings(access_token="", base_url="nope")  # type: ignore[arg-type]
    assert TOKEN not in str(raised.value)


def test_capabilities_declare_intercom_limits() -> None:
    assert CAPABILITIES.rate_limit is not None
    # 10,000 a minute, as Intercom enforces it: a sixth in every 10-second window.
    assert (CAPABILITIES.rate_limit.requests, CAPABILITIES.rate_limit.per_seconds) == (1_666, 10.0)
    assert CAPABILITIES.links is not None
    assert CAPABILITIES.links.carries_properties is False
    assert CAPABILITIES.links.max_per_contact == 1000
    assert {a.value for a in CAPABILITIES.actions} == {"tag", "untag"}


# -- requests per record --------------------------------------------------------


def test_every_request_asks_for_api_version_2_14(fake: IntercomFake, tmp_path: Path) -> None:
    dest = destination(fake, tmp_path)
    upsert(dest, BatchObject.ACCOUNT, BatchItem("acc1", {"name": "Acme"}))
    upsert(dest, BatchObject.CONTACT, BatchItem("u1", {"email": "u1@x.example"}))
    assert fake.log and {entry.version for entry in fake.log} == {"2.14"}


def test_one_request_per_company_and_per_known_contact(fake: IntercomFake, tmp_path: Path) -> None:
    budget = RecordingBudget()
    dest = destination(fake, tmp_path, budget)
    companies = by_key(
        upsert(
            dest, BatchObject.ACCOUNT, *(BatchItem(f"a{i}", {"name": f"A{i}"}) for i in range(5))
        )
    )
    contacts = by_key(
        upsert(
            dest, BatchObject.CONTACT, *(BatchItem(f"u{i}", {"name": f"U{i}"}) for i in range(5))
        )
    )
    fake.reset_log()
    acquired = budget.acquired
    upsert(
        dest,
        BatchObject.ACCOUNT,
        *(
            BatchItem(f"a{i}", {"name": f"B{i}"}, companies[f"a{i}"].destination_id)
            for i in range(5)
        ),
    )
    known = [
        BatchItem(f"u{i}", {"name": f"V{i}"}, contacts[f"u{i}"].destination_id) for i in range(5)
    ]
    results = upsert(dest, BatchObject.CONTACT, *known)
    assert [r.outcome for r in results] == [Outcome.OK] * 5
    assert len(fake.requests("POST", "/companies")) == 5
    assert len(fake.requests("PUT", r"/contacts/.+")) == 5
    assert fake.requests("POST", "/contacts/search") == []  # remembered ids: no search
    assert len(fake.log) == 10
    # The engine acquires one request per batch; the plugin acquires the rest.
    assert budget.acquired - acquired == 10 - 2  # two batches: one request each prepaid
    assert fake.contact_by_external_id("u3")["name"] == "V3"  # type: ignore[index]


def test_new_contacts_cost_one_search_per_batch_and_one_create_each(
    fake: IntercomFake, tmp_path: Path
) -> None:
    dest = destination(fake, tmp_path)
    results = upsert(
        dest,
        BatchObject.CONTACT,
        *(BatchItem(f"u{i}", {"email": f"u{i}@x.example"}) for i in range(20)),
    )
    assert all(r.outcome is Outcome.OK for r in results)
    assert len(fake.requests("POST", "/contacts/search")) == 1
    assert len(fake.requests("POST", "/contacts")) == 20
    assert len({r.destination_id for r in results}) == 20


def test_a_contact_is_matched_by_external_id_then_email(fake: IntercomFake, tmp_path: Path) -> None:
    dest = destination(fake, tmp_path)
    with fake.lock:
        fake.route("POST", "/contacts", {}, {"role": "user", "email": "Ann@X.example"})
        fake.route(
            "POST", "/contacts", {}, {"role": "user", "external_id": "u2", "email": "b@x.example"}
        )
    by_email = fake.requests()  # nothing logged: created behind the plugin's back
    assert by_email == []
    results = by_key(
        upsert(
            dest,
            BatchObject.CONTACT,
            BatchItem("u1", {"email": "ann@x.example", "name": "Ann"}),
            BatchItem("u2", {"email": "other@x.example", "name": "Bob"}),
        )
    )
    assert fake.requests("POST", "/contacts") == []  # both matched, none created
    assert len(fake.requests("PUT", r"/contacts/.+")) == 2
    ann = fake.contact_by_external_id("u1")
    assert ann is not None and ann["name"] == "Ann" and results["u1"].destination_id == ann["id"]
    assert len(fake.state.contacts) == 2


def test_a_409_on_a_racing_create_resolves_to_the_existing_contact(tmp_path: Path) -> None:
    # Intercom's search lags behind creates: the search misses, the create says 409.
    with IntercomFake(search_delay=60) as fake:
        first = destination(fake, tmp_path)
        [made] = upsert(first, BatchObject.CONTACT, BatchItem("u1", {"email": "u1@x.example"}))
        second = destination(fake, tmp_path)
        [again] = upsert(
            second, BatchObject.CONTACT, BatchItem("u1", {"email": "u1@x.example", "name": "New"})
        )
    assert again.outcome is Outcome.OK and again.destination_id == made.destination_id
    assert len(fake.state.contacts) == 1
    assert fake.contact_by_external_id("u1")["name"] == "New"  # type: ignore[index]
    assert [e.status for e in fake.requests("POST", "/contacts")] == [200, 409]


def test_an_email_taken_by_another_user_is_permanent(fake: IntercomFake, tmp_path: Path) -> None:
    dest = destination(fake, tmp_path)
    upsert(dest, BatchObject.CONTACT, BatchItem("u1", {"email": "same@x.example"}))
    fake.state.searchable_at.clear()
    [result] = upsert(dest, BatchObject.CONTACT, BatchItem("u2", {"email": "same@x.example"}))
    assert result.outcome is Outcome.PERMANENT
    assert "another external_id (u1)" in (result.reason or "")
    assert len(fake.state.contacts) == 1


def test_a_contact_deleted_in_intercom_is_created_again(fake: IntercomFake, tmp_path: Path) -> None:
    dest = destination(fake, tmp_path)
    [result] = upsert(dest, BatchObject.CONTACT, BatchItem("u1", {"email": "u1@x.example"}))
    fake.state.contacts.clear()
    [again] = upsert(
        dest, BatchObject.CONTACT, BatchItem("u1", {"email": "u1@x.example"}, result.destination_id)
    )
    assert again.outcome is Outcome.OK and again.destination_id != result.destination_id
    assert fake.contact_by_external_id("u1") is not None


# -- custom attributes ----------------------------------------------------------


def test_custom_attributes_are_created_once_with_their_type(
    fake: IntercomFake, tmp_path: Path
) -> None:
    dest = destination(fake, tmp_path)
    payload = {
        "name": "Acme",
        "user_emails": "a@x;b@x",
        "user_count": 3,
        "conversion_score": 0.82,
        "activated": True,
        "last_active_at": dt.datetime(2026, 10, 22, 8, 37, tzinfo=dt.UTC),
    }
    results = upsert(
        dest,
        BatchObject.ACCOUNT,
        BatchItem("a1", payload),
        BatchItem("a2", {**payload, "name": "Beta"}),
    )
    assert [r.outcome for r in results] == [Outcome.OK, Outcome.OK]
    types = {name: a["data_type"] for (model, name), a in fake.state.attributes.items()}
    assert types == {
        "user_emails": "string",
        "user_count": "integer",
        "conversion_score": "float",
        "activated": "boolean",
        "last_active_at": "date",
    }
    assert len(fake.requests("GET", "/data_attributes")) == 1
    assert len(fake.requests("POST", "/data_attributes")) == 5
    # The second company needed no attribute work: one request.
    assert len(fake.requests("POST", "/companies")) == 3
    stored = fake.company_by_company_id("a2")
    assert stored is not None and stored["custom_attributes"]["last_active_at"] == 1792658220


def test_payload_values_are_made_intercom_ready() -> None:
    assert json_value(dt.date(2024, 3, 14)) == 1710374400
    assert json_value("2024-03-12T14:53:55Z") == 1710255235
    assert json_value("Acme (Owner); Tesla (Admin)") == "Acme (Owner); Tesla (Admin)"
    assert data_type("2024-03-12T14:53:55Z") == "date"
    assert data_type(False) == "boolean" and data_type(2) == "integer"
    assert compose_name({"first_name": "Elon", "last_name": "Musk"}) == "Elon Musk"
    assert compose_name({"name": "E", "first_name": "Elon"}) is None
    body = contact_body("u1", {"email": "e@x", "role": "lead", "stage": "CUS"}, with_name=True)
    assert body == {
        "role": "user",
        "external_id": "u1",
        "email": "e@x",
        "custom_attributes": {"stage": "CUS"},
    }


# -- links ----------------------------------------------------------------------


def _linked(fake: IntercomFake, dest: IntercomDestination, accounts: int = 2) -> dict[str, str]:
    ids = {
        r.key: r.destination_id or ""
        for r in upsert(
            dest,
            BatchObject.ACCOUNT,
            *(BatchItem(f"a{i}", {"name": f"A{i}"}) for i in range(accounts)),
        )
    }
    [contact] = upsert(dest, BatchObject.CONTACT, BatchItem("u1", {"email": "u1@x.example"}))
    ids["u1"] = contact.destination_id or ""
    return ids


def _link(ids: dict[str, str], account: str, *, with_company_id: bool = True) -> BatchItem:
    ends = LinkEnds("u1", account, ids["u1"], ids[account] if with_company_id else None)
    return BatchItem(link_key("u1", account), {"properties": {}, "primary": False}, None, ends)


def test_links_attach_by_intercom_company_id_one_request_each(
    fake: IntercomFake, tmp_path: Path
) -> None:
    dest = destination(fake, tmp_path)
    ids = _linked(fake, dest)
    fake.reset_log()
    results = dest.send(
        make_batch(
            BatchObject.LINK, Operation.LINK, [_link(ids, "a0"), _link(ids, "a1")], match=CHAIN
        )
    )
    assert [r.outcome for r in results] == [Outcome.OK, Outcome.OK]
    assert len(fake.log) == 2
    assert fake.state.attached[ids["u1"]] == [ids["a0"], ids["a1"]]
    assert results[0].destination_id == f"{ids['u1']}/{ids['a0']}"


def test_a_link_without_the_company_id_resolves_it_once(fake: IntercomFake, tmp_path: Path) -> None:
    ids = _linked(fake, destination(fake, tmp_path))
    fresh = destination(fake, tmp_path)  # knows no company ids
    link = _link(ids, "a0", with_company_id=False)
    fresh.send(make_batch(BatchObject.LINK, Operation.LINK, [link], match=CHAIN))
    fresh.send(make_batch(BatchObject.LINK, Operation.UNLINK, [link], match=CHAIN))
    assert len(fake.requests("GET", "/companies")) == 1
    assert fake.state.attached[ids["u1"]] == []


def test_unlinking_twice_and_deleting_twice_are_fine(fake: IntercomFake, tmp_path: Path) -> None:
    dest = destination(fake, tmp_path)
    ids = _linked(fake, dest)
    link = _link(ids, "a0")
    dest.send(make_batch(BatchObject.LINK, Operation.LINK, [link], match=CHAIN))
    for _ in range(2):
        [result] = dest.send(make_batch(BatchObject.LINK, Operation.UNLINK, [link], match=CHAIN))
        assert result.outcome is Outcome.OK
    gone = BatchItem("a0", {}, ids["a0"])
    for _ in range(2):
        [result] = dest.send(make_batch(BatchObject.ACCOUNT, Operation.DELETE, [gone], match=CHAIN))
        assert result.outcome is Outcome.OK
    assert fake.company_by_company_id("a0") is None


def test_the_per_contact_company_limit_is_permanent_with_a_reason(tmp_path: Path) -> None:
    with IntercomFake(company_limit=1) as fake:
        dest = destination(fake, tmp_path)
        ids = _linked(fake, dest)
        results = by_key(
            list(
                dest.send(
                    make_batch(
                        BatchObject.LINK,
                        Operation.LINK,
                        [_link(ids, "a0"), _link(ids, "a1")],
                        match=CHAIN,
                    )
                )
            )
        )
    assert results[link_key("u1", "a0")].outcome is Outcome.OK
    overflow = results[link_key("u1", "a1")]
    assert overflow.outcome is Outcome.PERMANENT
    assert "maximum of 1000 companies" in (overflow.reason or "")
    assert "contact_company_limit_exceeded" in (overflow.reason or "")


# -- errors and limits ----------------------------------------------------------


def test_rate_limit_headers_feed_the_budget(fake: IntercomFake, tmp_path: Path) -> None:
    budget = RecordingBudget()
    dest = destination(fake, tmp_path, budget)
    upsert(dest, BatchObject.ACCOUNT, BatchItem("a1", {"name": "A"}))
    [seen] = budget.observed
    assert seen["limit"] == 1_666  # the 10-second window's, the budget's own window
    assert seen["remaining"] == 1_665
    assert 0 < seen["reset_after"] <= 11


def test_apps_of_one_workspace_share_its_cap_in_10_second_windows(tmp_path: Path) -> None:
    """Two apps (two tokens) of one workspace: each within its own limit, together
    over the workspace's. Naming the workspace makes them share its budget, so
    the fake (Intercom's per-app and per-workspace windows) never answers 429."""
    now = [1_000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    with IntercomFake(
        limit=10, workspace_limit=4, other_apps=("second-app-token",), clock=lambda: now[0]
    ) as fake:
        apps = []
        for token in (TOKEN, "second-app-token"):
            settings = IntercomSettings(
                access_token=token,
                base_url=fake.base_url,
                workspace="acme",
                workspace_requests_per_minute=24,  # 4 per 10 s
            )
            context = make_context(
                tmp_path, name=f"app-{len(apps)}", monotonic=lambda: now[0], sleep=sleep
            )
            apps.append(make_intercom(settings, context))
        results = []
        for round_ in range(3):
            for number, app in enumerate(apps):
                items = [BatchItem(f"a{round_}{number}{i}", {"name": "A"}) for i in range(2)]
                results += upsert(app, BatchObject.ACCOUNT, *items)
    assert [r.outcome for r in results] == [Outcome.OK] * 12
    assert fake.throttled == 0
    # 12 requests at 4 per 10 s: the hub waited out two windows, at least.
    assert sum(slept) >= 20


def test_a_429_waits_until_the_reset_and_sends_no_more_of_the_batch(tmp_path: Path) -> None:
    with IntercomFake(limit=2, window=30) as fake:
        budget = RecordingBudget()
        dest = destination(fake, tmp_path, budget)
        items = [BatchItem(f"a{i}", {"name": f"A{i}"}) for i in range(5)]
        results = upsert(dest, BatchObject.ACCOUNT, *items)
    assert [r.outcome for r in results] == [Outcome.OK] * 2 + [Outcome.RETRYABLE] * 3
    assert len(fake.log) == 3  # the 429'd one, and nothing after it
    retry_after = results[2].retry_after
    assert retry_after is not None and 0 < retry_after <= 31
    assert budget.pauses == [retry_after]
    assert all(r.retry_after == retry_after for r in results[2:])
    assert "rate limited" in (results[2].reason or "")


def test_5xx_is_retryable_and_the_batch_goes_on(fake: IntercomFake, tmp_path: Path) -> None:
    fake.fail("POST", "/companies", 503)
    dest = destination(fake, tmp_path)
    results = upsert(
        dest, BatchObject.ACCOUNT, BatchItem("a1", {"name": "A"}), BatchItem("a2", {"name": "B"})
    )
    assert [r.outcome for r in results] == [Outcome.RETRYABLE, Outcome.OK]
    assert "HTTP 503 server_error" in (results[0].reason or "")


def test_a_timeout_is_retryable_and_stops_the_batch(fake: IntercomFake, tmp_path: Path) -> None:
    fake.fail("POST", "/companies", 200, delay=1.0)
    dest = destination(fake, tmp_path, timeout=0.2)
    results = upsert(
        dest, BatchObject.ACCOUNT, BatchItem("a1", {"name": "A"}), BatchItem("a2", {"name": "B"})
    )
    assert [r.outcome for r in results] == [Outcome.RETRYABLE, Outcome.RETRYABLE]
    assert "no answer within 0.2s" in (results[0].reason or "")
    assert results[1].reason is not None and results[1].reason.startswith("not sent")


def test_validation_and_not_found_are_permanent(fake: IntercomFake, tmp_path: Path) -> None:
    fake.fail("POST", "/companies", 400, body=error_list("parameter_invalid", "website is invalid"))
    dest = destination(fake, tmp_path)
    [bad] = upsert(dest, BatchObject.ACCOUNT, BatchItem("a1", {"name": "A", "website": "?"}))
    assert bad.outcome is Outcome.PERMANENT
    assert bad.reason == "Intercom refused it: HTTP 400 parameter_invalid: website is invalid"
    # A value the SDK's request model refuses is never sent, and permanent too.
    [local] = upsert(dest, BatchObject.ACCOUNT, BatchItem("a2", {"name": "A", "size": "lots"}))
    assert local.outcome is Outcome.PERMANENT and "size" in (local.reason or "")
    ends = LinkEnds("u9", "a9", "nope", "missing")
    [link] = destination(fake, tmp_path).send(
        make_batch(
            BatchObject.LINK,
            Operation.LINK,
            [BatchItem(link_key("u9", "a9"), {}, None, ends)],
            match=CHAIN,
        )
    )
    assert link.outcome is Outcome.PERMANENT and "not_found" in (link.reason or "")


def test_a_refused_token_is_fatal_and_never_logged(
    fake: IntercomFake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dest = destination(fake, tmp_path, token="wrong-secret-token-value", name="help")
    with pytest.raises(FatalDestinationError) as raised:
        upsert(dest, BatchObject.CONTACT, BatchItem("u1", {"email": "u1@x.example"}))
    assert raised.value.setting == "HUB_DESTINATIONS__HELP__SETTINGS__ACCESS_TOKEN"
    assert "unauthorized" in str(raised.value)
    assert "wrong-secret-token-value" not in str(raised.value)
    assert "wrong-secret-token-value" not in caplog.text


# -- actions --------------------------------------------------------------------


def test_tag_and_untag_through_the_action_contract(fake: IntercomFake, tmp_path: Path) -> None:
    dest = destination(fake, tmp_path)
    contacts = upsert(
        dest,
        BatchObject.CONTACT,
        BatchItem("u1", {"email": "a@x.example"}),
        BatchItem("u2", {"email": "b@x.example"}),
    )
    ids = [r.destination_id or "" for r in contacts]

    def request(action: Action, key: str, contact_id: str | None) -> ActionRequest:
        subject = {"user_id": key, **({"contact_id": contact_id} if contact_id else {})}
        return ActionRequest(action, "intercom", key, subject, {"tag": "PQL"})

    tagged = perform(dest, [request(Action.TAG, f"t{i}", cid) for i, cid in enumerate(ids)])
    assert {r.outcome for r in tagged.values()} == {Outcome.OK}
    [tag] = fake.state.tags.values()
    assert tag["name"] == "PQL" and all(fake.state.tagged[i] == {tag["id"]} for i in ids)
    untagged = perform(
        dest, [request(Action.UNTAG, f"u{i}", cid) for i, cid in enumerate(ids + ids)]
    )
    assert {r.outcome for r in untagged.values()} == {Outcome.OK}  # absent tag: success
    assert all(fake.state.tagged[i] == set() for i in ids)
    assert len(fake.requests("POST", "/tags")) == 1  # the tag id is cached
    odd = perform(
        dest,
        [
            request(Action.TAG, "gone", "nobody"),
            request(Action.TAG, "unsynced", None),
            ActionRequest(Action.TAG, "intercom", "no-tag", {"contact_id": ids[0]}, {}),
        ],
    )
    assert odd["gone"].outcome is Outcome.PERMANENT
    assert odd["unsynced"].outcome is Outcome.RETRYABLE
    assert "sync destination" in (odd["unsynced"].reason or "")
    assert odd["no-tag"].outcome is Outcome.PERMANENT
