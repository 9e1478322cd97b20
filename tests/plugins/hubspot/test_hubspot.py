"""The HubSpot destination against the fake HubSpot: properties, 207s, stages,
associations, actions, limits and faults."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_hubspot import FakeHubSpot
from hub_hubspot import CAPABILITIES, HubSpotSettings, rate_limit
from hub_hubspot.destination import link_destination_id, parse_link_destination_id
from hubspot_helpers import link_item, links, make_destination, upsert

from hub.contract.actions import ActionRequest, perform
from hub.contract.capabilities import Action, FieldType, ObjectKind, Operation
from hub.contract.destination import BatchItem, BatchObject, FatalDestinationError, Outcome
from hub.contract.ratelimit import CredentialBudget
from hub.contract.testing import RecordingBudget, make_batch


def _paths(fake: FakeHubSpot) -> list[str]:
    return [f"{entry.method} {entry.path}" for entry in fake.log]


# -- declaration ---------------------------------------------------------------


def test_capabilities_declare_hubspot_limits(fake: FakeHubSpot, tmp_path: Path) -> None:
    assert CAPABILITIES.batch_size(Operation.UPSERT) == 100
    assert CAPABILITIES.batch_size(Operation.LINK) == 2000
    contact = CAPABILITIES.object(ObjectKind.CONTACT)
    assert contact is not None and contact.unique_by_email
    assert contact.max_length(FieldType.STRING) == 65_536
    assert CAPABILITIES.actions == {
        Action.ADD_TO_LIST,
        Action.REMOVE_FROM_LIST,
        Action.CREATE_TASK,
    }
    starter = make_destination(fake.url, tmp_path).capabilities.rate_limit
    professional = make_destination(fake.url, tmp_path, tier="professional").capabilities.rate_limit
    assert starter is not None and (starter.requests, starter.per_seconds) == (100, 10.2)
    assert rate_limit("starter").per_seconds == 10.0  # the declared tier, before the margin
    assert professional is not None and professional.requests == 190
    assert rate_limit("enterprise").daily_quota == 1_000_000


def test_the_token_never_shows(fake: FakeHubSpot, tmp_path: Path) -> None:
    destination = make_destination(fake.url, tmp_path, token="pat-na1-secret-value")
    settings = HubSpotSettings.model_validate({"token": "pat-na1-secret-value"})
    for text in (repr(destination), repr(destination.client), repr(settings), str(settings)):
        assert "secret-value" not in text
    assert "secret-value" not in destination.credential_id
    with pytest.raises(FatalDestinationError) as raised:
        upsert(destination, BatchObject.ACCOUNT, {"a1": {"name": "Acme"}})
    assert "HUB_DESTINATIONS__CRM__SETTINGS__TOKEN" in str(raised.value)
    assert "secret-value" not in str(raised.value)


# -- records and properties ----------------------------------------------------


def test_missing_properties_are_created_once_with_their_types(
    fake: FakeHubSpot, tmp_path: Path
) -> None:
    destination = make_destination(fake.url, tmp_path)
    payload = {
        "name": "Acme",
        "user_count": 3,
        "activated": True,
        "last_active_at": "2026-10-30T12:00:00Z",
        "admin_emails": "a@acme.io;b@acme.io",
    }
    first = upsert(destination, BatchObject.ACCOUNT, {"a1": payload})
    second = upsert(destination, BatchObject.ACCOUNT, {"a2": {**payload, "name": "Beta"}})
    assert first["a1"].outcome is Outcome.OK and second["a2"].outcome is Outcome.OK
    created = fake.properties["companies"]
    assert (created["user_count"]["type"], created["user_count"]["fieldType"]) == (
        "number",
        "number",
    )
    assert created["activated"]["type"] == "bool"
    assert created["last_active_at"]["type"] == "datetime"
    assert created["admin_emails"]["groupName"] == "connector_hub"
    assert created["hub_account_id"]["hasUniqueValue"] is True
    assert fake.groups["companies"] == {"connector_hub"}
    # Read once, created once: the second batch is a single upsert.
    assert _paths(fake).count("GET /crm/v3/properties/companies") == 1
    assert _paths(fake).count("POST /crm/v3/properties/companies/batch/create") == 1
    assert _paths(fake)[-1] == "POST /crm/v3/objects/companies/batch/upsert"
    assert fake.find("companies", "hub_account_id", "a1") == (
        first["a1"].destination_id,
        {**{k: str(v) for k, v in payload.items()}, "activated": "true", "hub_account_id": "a1"},
    )


def test_207_errors_land_on_their_own_records(fake: FakeHubSpot, tmp_path: Path) -> None:
    destination = make_destination(fake.url, tmp_path, contact_match="email")
    answers = upsert(
        destination,
        BatchObject.CONTACT,
        {"u1": {"email": "one@x.io"}, "u2": {"email": "not-an-email"}, "u3": {"email": "3@x.io"}},
    )
    assert answers["u1"].outcome is Outcome.OK and answers["u3"].outcome is Outcome.OK
    assert answers["u2"].outcome is Outcome.PERMANENT
    assert "not-an-email" in (answers["u2"].reason or "")
    assert answers["u1"].destination_id != answers["u3"].destination_id


def test_contacts_matched_by_email_share_one_hubspot_contact(
    fake: FakeHubSpot, tmp_path: Path
) -> None:
    destination = make_destination(fake.url, tmp_path, contact_match="email")
    answers = upsert(
        destination,
        BatchObject.CONTACT,
        {"u1": {"email": "Same@x.io"}, "u2": {"email": "same@x.io"}, "u3": {}},
    )
    assert answers["u1"].destination_id == answers["u2"].destination_id is not None
    assert answers["u3"].outcome is Outcome.PERMANENT
    assert "e-mail" in (answers["u3"].reason or "")
    assert "hub_user_id" not in fake.properties["contacts"]


def test_a_lifecycle_stage_regression_is_cleared_then_set(
    fake: FakeHubSpot, tmp_path: Path
) -> None:
    destination = make_destination(fake.url, tmp_path)
    upsert(destination, BatchObject.CONTACT, {"u1": {"email": "u1@x.io", "lifecyclestage": "PRO"}})
    assert fake.find("contacts", "hub_user_id", "u1")[1]["lifecyclestage"] == "evangelist"  # type: ignore[index]
    before = len(fake.log)
    answers = upsert(
        destination,
        BatchObject.CONTACT,
        {
            "u1": {"email": "u1@x.io", "lifecyclestage": "CUS"},
            "u2": {"email": "u2@x.io", "lifecyclestage": "MQL"},
        },
    )
    assert {r.outcome for r in answers.values()} == {Outcome.OK}
    assert fake.find("contacts", "hub_user_id", "u1")[1]["lifecyclestage"] == "customer"  # type: ignore[index]
    sequence = fake.bodies[before:]
    assert [path for _, path, _ in sequence] == [
        "/crm/v3/objects/contacts/batch/upsert",
        "/crm/v3/objects/contacts/batch/update",
        "/crm/v3/objects/contacts/batch/update",
    ]
    # Only the regressed contact is cleared and set again.
    assert [r["properties"]["lifecyclestage"] for r in sequence[1][2]["results"]] == [""]
    assert [r["properties"]["lifecyclestage"] for r in sequence[2][2]["results"]] == ["customer"]
    # Moving forward needs no extra request.
    before = len(fake.log)
    upsert(destination, BatchObject.CONTACT, {"u1": {"email": "u1@x.io", "lifecyclestage": "PRO"}})
    assert len(fake.log) - before == 1


def test_delete_archives_by_hubspot_id(fake: FakeHubSpot, tmp_path: Path) -> None:
    destination = make_destination(fake.url, tmp_path)
    made = upsert(destination, BatchObject.ACCOUNT, {"a1": {"name": "Acme"}})
    batch = make_batch(
        BatchObject.ACCOUNT,
        Operation.DELETE,
        [BatchItem("a1", {}, made["a1"].destination_id), BatchItem("never", {}, None)],
    )
    assert {r.outcome for r in destination.send(batch)} == {Outcome.OK}
    assert fake.objects["companies"] == {}


# -- associations --------------------------------------------------------------


def _people(fake: FakeHubSpot, tmp_path: Path, **settings: object) -> tuple[object, dict[str, str]]:
    destination = make_destination(fake.url, tmp_path, **settings)
    accounts = upsert(destination, BatchObject.ACCOUNT, {"a1": {"name": "A"}, "a2": {"name": "B"}})
    contacts = upsert(
        destination,
        BatchObject.CONTACT,
        {"u1": {"email": "u1@x.io"}, "u2": {"email": "u2@x.io"}},
    )
    ids = {key: str(r.destination_id) for key, r in {**accounts, **contacts}.items()}
    return destination, ids


def test_links_carry_a_label_per_role_and_the_primary_type(
    fake: FakeHubSpot, tmp_path: Path
) -> None:
    destination, ids = _people(fake, tmp_path)
    u1, a1, a2 = ("u1", ids["u1"]), ("a1", ids["a1"]), ("a2", ids["a2"])
    answers = links(
        destination,  # type: ignore[arg-type]
        [
            link_item(u1, a1, "Account Owner", primary=True),
            link_item(u1, a2, "Admin"),
            link_item(("u2", ids["u2"]), a2, None),
        ],
    )
    assert {r.outcome for r in answers.values()} == {Outcome.OK}
    labels = {label.get("label"): label["typeId"] for label in fake.labels}
    owner, admin = labels["Account Owner"], labels["Admin"]
    assert fake.associations[(ids["u1"], ids["a1"])] == {
        ("USER_DEFINED", owner),
        ("HUBSPOT_DEFINED", 1),
        ("HUBSPOT_DEFINED", 279),
    }
    assert fake.associations[(ids["u1"], ids["a2"])] == {
        ("USER_DEFINED", admin),
        ("HUBSPOT_DEFINED", 279),
    }
    assert fake.associations[(ids["u2"], ids["a2"])] == {("HUBSPOT_DEFINED", 279)}
    created = [
        body for method, path, body in fake.bodies if path.endswith("/labels") and method == "POST"
    ]
    assert len(created) == 2
    # A role change drops the hub's old label; the primary moves away.
    key = next(k for k in answers if k.endswith("a1"))
    again = links(
        destination,  # type: ignore[arg-type]
        [link_item(u1, a1, "Admin", primary=False, destination_id=answers[key].destination_id)],
    )
    assert fake.associations[(ids["u1"], ids["a1"])] == {
        ("USER_DEFINED", admin),
        ("HUBSPOT_DEFINED", 279),
    }
    assert again[key].destination_id == link_destination_id(
        ids["u1"], ids["a1"], [("USER_DEFINED", admin)]
    )
    assert len([b for m, p, b in fake.bodies if p.endswith("/labels") and m == "POST"]) == 2


def test_links_reaching_one_pair_are_sent_once(fake: FakeHubSpot, tmp_path: Path) -> None:
    destination, ids = _people(fake, tmp_path)
    # Two hub contacts that HubSpot merged into one (a shared e-mail).
    same = ids["u1"]
    answers = links(
        destination,  # type: ignore[arg-type]
        [
            link_item(("u1", same), ("a1", ids["a1"]), "Admin"),
            link_item(("u9", same), ("a1", ids["a1"]), "User"),
        ],
    )
    assert {r.outcome for r in answers.values()} == {Outcome.OK}
    (create,) = [
        body for method, path, body in fake.requests if path.startswith("/crm/v4/associations/")
    ]
    assert len(create["inputs"]) == 1 and len(create["inputs"][0]["types"]) == 2
    assert len(fake.associations[(same, ids["a1"])]) == 3  # both labels and the plain one


def test_unlink_removes_what_the_hub_applied(fake: FakeHubSpot, tmp_path: Path) -> None:
    destination, ids = _people(fake, tmp_path, unlink_keeps_association=True)
    item = link_item(("u1", ids["u1"]), ("a1", ids["a1"]), "Admin", primary=True)
    linked = links(destination, [item])  # type: ignore[arg-type]
    # Someone adds a label of their own in HubSpot.
    fake.associations[(ids["u1"], ids["a1"])].add(("USER_DEFINED", 99))
    unlink = link_item(
        ("u1", ids["u1"]), ("a1", ids["a1"]), None, destination_id=linked[item.key].destination_id
    )
    answers = links(destination, [unlink], Operation.UNLINK)  # type: ignore[arg-type]
    assert answers[item.key].outcome is Outcome.OK
    assert fake.associations[(ids["u1"], ids["a1"])] == {
        ("HUBSPOT_DEFINED", 279),
        ("USER_DEFINED", 99),
    }
    # A repeated unlink is not an error.
    assert links(destination, [unlink], Operation.UNLINK)[item.key].outcome is Outcome.OK  # type: ignore[arg-type]


def test_link_destination_ids_round_trip() -> None:
    value = link_destination_id("11", "22", [("USER_DEFINED", 37), ("HUBSPOT_DEFINED", 1)])
    assert value == "11:22:H1,U37"
    assert parse_link_destination_id(value) == (
        "11",
        "22",
        {("USER_DEFINED", 37), ("HUBSPOT_DEFINED", 1)},
    )
    assert parse_link_destination_id("garbage") is None


# -- actions -------------------------------------------------------------------


def _request(action: Action, key: str, contact_id: str, **params: str) -> ActionRequest:
    subject = {"user_id": key, "contact_id": contact_id}
    return ActionRequest(action, "crm", key, subject, params)


def test_list_actions_go_one_request_per_list(fake: FakeHubSpot, tmp_path: Path) -> None:
    destination, ids = _people(fake, tmp_path)
    before = len(fake.log)
    results = perform(
        destination,
        [
            _request(Action.ADD_TO_LIST, "k1", ids["u1"], list_id="501"),
            _request(Action.ADD_TO_LIST, "k2", ids["u2"], list_id="501"),
            _request(Action.ADD_TO_LIST, "k3", "404404", list_id="501"),
            _request(Action.ADD_TO_LIST, "k4", ids["u1"], list_id="502"),
        ],
    )
    assert {r.outcome for r in results.values()} == {Outcome.OK}
    memberships = [(e.method, e.path) for e in fake.log[before:]]
    assert memberships == [
        ("PUT", "/crm/v3/lists/501/memberships/add"),
        ("PUT", "/crm/v3/lists/502/memberships/add"),
    ]
    assert fake.lists["501"] == {ids["u1"], ids["u2"]} and fake.lists["502"] == {ids["u1"]}
    removed = perform(
        destination, [_request(Action.REMOVE_FROM_LIST, "k5", ids["u1"], list_id="501")]
    )
    assert removed["k5"].outcome is Outcome.OK
    assert fake.lists["501"] == {ids["u2"]}
    unknown = perform(destination, [_request(Action.ADD_TO_LIST, "k6", ids["u1"], list_id="999")])
    assert unknown["k6"].outcome is Outcome.PERMANENT and "999" in (unknown["k6"].reason or "")


def test_tasks_are_created_in_one_batch_associated_with_contact_and_company(
    fake: FakeHubSpot, tmp_path: Path
) -> None:
    destination, ids = _people(fake, tmp_path)
    tasks = [
        ActionRequest(
            Action.CREATE_TASK,
            "crm",
            f"t{i}",
            {"user_id": "u1", "contact_id": ids["u1"], "company_id": ids["a1"]},
            {"subject": f"Call the new admin {i}", "body": "They became Admin of A."},
        )
        for i in range(3)
    ]
    before = len(fake.log)
    results = perform(destination, tasks)
    assert [(e.path, e.inputs) for e in fake.log[before:]] == [
        ("/crm/v3/objects/tasks/batch/create", 3)
    ]
    for i in range(3):
        task = fake.tasks[results[f"t{i}"].destination_id or ""]
        assert task["properties"]["hs_task_subject"] == f"Call the new admin {i}"
        assert {
            (a["to"]["id"], a["types"][0]["associationTypeId"]) for a in task["associations"]
        } == {(ids["u1"], 204), (ids["a1"], 192)}
    fake.fail_next(423)
    again = perform(destination, [tasks[0]])
    assert again["t0"].outcome is Outcome.RETRYABLE


def test_actions_share_the_destinations_client_timeout_and_budget(
    fake: FakeHubSpot, tmp_path: Path
) -> None:
    budget = RecordingBudget()
    destination = make_destination(fake.url, tmp_path, budget=budget, timeout=0.5)
    contact = upsert(destination, BatchObject.CONTACT, {"u1": {"email": "u1@x.example"}})["u1"]
    acquired = budget.acquired
    fake.fail_next(200, delay=1.5)
    results = perform(
        destination,
        [_request(Action.ADD_TO_LIST, "k", contact.destination_id or "", list_id="501")],
    )
    # The hub's request timeout (0.5 s) applies, and the request was paid from the budget.
    assert results["k"].outcome is Outcome.RETRYABLE
    assert "within 0.5s" in (results["k"].reason or "")
    assert budget.acquired == acquired + 1


# -- limits and faults ---------------------------------------------------------


def test_rate_limit_headers_reach_the_budget(fake: FakeHubSpot, tmp_path: Path) -> None:
    budget = RecordingBudget()
    destination = make_destination(fake.url, tmp_path, budget=budget)
    upsert(destination, BatchObject.ACCOUNT, {"a1": {"name": "A"}})
    assert budget.observed and budget.observed[-1]["limit"] == 100
    assert budget.observed[-1]["daily_remaining"] == 250_000 - len(fake.log)
    # The engine paid for the batch; the plugin acquires its extra requests.
    assert budget.acquired == len(fake.log) - 1


def test_a_429_storm_is_retryable_and_pauses_the_budget(tmp_path: Path) -> None:
    with FakeHubSpot(window_requests=3, window_seconds=1.0) as fake:
        budget = RecordingBudget()  # never waits: the fake's window fills up
        destination = make_destination(fake.url, tmp_path, budget=budget)
        outcomes = []
        for i in range(6):
            answers = upsert(destination, BatchObject.ACCOUNT, {f"a{i}": {"name": f"A{i}"}})
            outcomes.extend(answers.values())
        limited = [r for r in outcomes if r.outcome is Outcome.RETRYABLE]
        # HubSpot sends no Retry-After: a tenth of the 1-second window it announced.
        assert limited and all(r.retry_after == 0.1 for r in limited)
        assert "TEN_SECONDLY_ROLLING" in (limited[0].reason or "")
        assert budget.pauses and set(budget.pauses) == {0.1}
        assert 429 in fake.statuses()


def test_the_shared_budget_keeps_a_storm_away(tmp_path: Path) -> None:
    # The budget counts when requests leave, the fake when they arrive: a
    # window a little longer than the fake's absorbs the difference in latency.
    with FakeHubSpot(window_requests=5, window_seconds=0.5) as fake:
        budget = CredentialBudget(
            rate_limit("starter").model_copy(update={"requests": 5, "per_seconds": 0.6})
        )
        destination = make_destination(fake.url, tmp_path, budget=budget)
        for i in range(12):
            budget.acquire(1)  # what the engine does before each batch
            answers = upsert(destination, BatchObject.ACCOUNT, {f"a{i}": {"name": f"A{i}"}})
            assert answers[f"a{i}"].outcome is Outcome.OK
        assert 429 not in fake.statuses()


def test_a_daily_429_stops_the_run(fake: FakeHubSpot, tmp_path: Path) -> None:
    fake.daily_quota = 0
    destination = make_destination(fake.url, tmp_path)
    with pytest.raises(FatalDestinationError, match="daily"):
        upsert(destination, BatchObject.ACCOUNT, {"a1": {"name": "A"}})


@pytest.mark.parametrize("status", [500, 502, 503, 423, 477])
def test_transient_statuses_are_retryable(fake: FakeHubSpot, tmp_path: Path, status: int) -> None:
    destination = make_destination(fake.url, tmp_path)
    fake.fail_next(status, headers={"Retry-After": "2"})
    answers = upsert(destination, BatchObject.ACCOUNT, {"a1": {"name": "A"}})
    assert answers["a1"].outcome is Outcome.RETRYABLE
    assert str(status) in (answers["a1"].reason or "")
    # And the next try goes through.
    assert (
        upsert(destination, BatchObject.ACCOUNT, {"a1": {"name": "A"}})["a1"].outcome is Outcome.OK
    )


def test_a_timeout_is_retryable(fake: FakeHubSpot, tmp_path: Path) -> None:
    destination = make_destination(fake.url, tmp_path, timeout=0.2)
    fake.fail_next(200, {"results": []}, delay=0.6)
    answers = upsert(destination, BatchObject.ACCOUNT, {"a1": {"name": "A"}})
    assert answers["a1"].outcome is Outcome.RETRYABLE
    assert "within 0.2s" in (answers["a1"].reason or "")


def test_a_400_for_the_batch_is_permanent_in_hubspots_words(
    fake: FakeHubSpot, tmp_path: Path
) -> None:
    destination = make_destination(fake.url, tmp_path)
    upsert(destination, BatchObject.ACCOUNT, {"a0": {"name": "A"}})
    fake.fail_next(
        400,
        {
            "status": "error",
            "message": "Property values were not valid",
            "correlationId": "3f2a1b7c-0000-4000-8000-000000000001",
            "category": "VALIDATION_ERROR",
            "errors": [{"message": "domain is too long"}],
        },
    )
    answers = upsert(destination, BatchObject.ACCOUNT, {"a1": {"name": "A"}})
    assert answers["a1"].outcome is Outcome.PERMANENT
    assert answers["a1"].reason == "HTTP 400: Property values were not valid; domain is too long"


def test_batches_beyond_the_maximum_are_refused_by_the_fake(
    fake: FakeHubSpot, tmp_path: Path
) -> None:
    destination = make_destination(fake.url, tmp_path)
    items = {f"a{i}": {"name": f"A{i}"} for i in range(101)}
    answers = upsert(destination, BatchObject.ACCOUNT, items)
    upserts = [e for e in fake.log if e.path.endswith("/batch/upsert")]
    # The fake refuses 101 inputs whole; the refusal is isolated by halving.
    assert [(e.inputs, e.status) for e in upserts] == [(101, 400), (51, 200), (50, 200)]
    assert "exceeds the limit of 100" in str(fake.bodies[-3][2])
    assert {r.outcome for r in answers.values()} == {Outcome.OK}
