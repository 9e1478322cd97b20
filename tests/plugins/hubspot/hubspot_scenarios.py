"""What the cassettes hold: the same calls run against the fake HubSpot when
recording (``record_cassettes.py``) and against the cassettes when replaying
(``test_cassettes.py``)."""

from __future__ import annotations

from typing import Any

from hub_hubspot import HubSpotDestination
from hubspot_helpers import link_item, links, upsert

from hub.contract.actions import ActionRequest, perform
from hub.contract.capabilities import Action, Operation
from hub.contract.destination import BatchObject, RecordResult

#: The static list the actions scenario uses (the fake has lists 501 and 502).
LIST_ID = "501"


def sync(destination: HubSpotDestination) -> dict[str, Any]:
    """Companies with list and rollup fields, contacts (one invalid) with a stage
    that regresses, labelled links with a primary, a role change and an unlink."""
    accounts = upsert(
        destination,
        BatchObject.ACCOUNT,
        {
            "acme": {
                "name": "Acme",
                "domain": "acme.example",
                "admin_emails": "elon@acme.example;grace@acme.example",
                "user_count": 3,
                "activated": True,
            },
            "globex": {"name": "Globex", "domain": "globex.example", "user_count": 1},
        },
    )
    contacts = upsert(
        destination,
        BatchObject.CONTACT,
        {
            "elon": {"email": "elon@acme.example", "lifecyclestage": "PRO", "account_count": 2},
            "grace": {"email": "grace@acme.example", "lifecyclestage": "MQL"},
            "bad": {"email": "not-an-address"},
        },
    )
    regressed = upsert(
        destination,
        BatchObject.CONTACT,
        {"elon": {"email": "elon@acme.example", "lifecyclestage": "CUS", "account_count": 1}},
    )
    elon = ("elon", contacts["elon"].destination_id)
    grace = ("grace", contacts["grace"].destination_id)
    acme = ("acme", accounts["acme"].destination_id)
    globex = ("globex", accounts["globex"].destination_id)
    linked = links(
        destination,
        [
            link_item(elon, acme, "Owner", primary=True),
            link_item(elon, globex, "Admin"),
            link_item(grace, acme, "User", primary=True),
        ],
    )
    elon_acme = next(key for key in linked if key.startswith("elon") and key.endswith("acme"))
    changed = links(
        destination,
        [link_item(elon, acme, "Admin", destination_id=linked[elon_acme].destination_id)],
    )
    elon_globex = next(key for key in linked if key.endswith("globex"))
    unlinked = links(
        destination,
        [link_item(elon, globex, None, destination_id=linked[elon_globex].destination_id)],
        Operation.UNLINK,
    )
    return {
        "accounts": accounts,
        "contacts": contacts,
        "regressed": regressed,
        "linked": linked,
        "changed": changed,
        "unlinked": unlinked,
    }


def actions(destination: HubSpotDestination) -> dict[str, Any]:
    """A contact and a company, then the three playbook actions."""
    account = upsert(destination, BatchObject.ACCOUNT, {"acme": {"name": "Acme"}})["acme"]
    contact = upsert(destination, BatchObject.CONTACT, {"elon": {"email": "elon@acme.example"}})[
        "elon"
    ]
    assert account.destination_id and contact.destination_id
    subject = {
        "user_id": "elon",
        "contact_id": contact.destination_id,
        "company_id": account.destination_id,
    }
    answers = perform(
        destination,
        [
            ActionRequest(Action.ADD_TO_LIST, "crm", "added", subject, {"list_id": LIST_ID}),
            ActionRequest(Action.CREATE_TASK, "crm", "task", subject, {"subject": "Welcome"}),
        ],
    )
    removed = perform(
        destination,
        [ActionRequest(Action.REMOVE_FROM_LIST, "crm", "removed", subject, {"list_id": LIST_ID})],
    )["removed"]
    added, task = answers["added"], answers["task"]
    return {
        "contact": contact,
        "account": account,
        "added": added,
        "removed": removed,
        "task": task,
    }


def faults(destination: HubSpotDestination) -> dict[str, RecordResult]:
    """Answers the fake was told to give: 429 (ten-secondly), 503, 423 and 477."""
    answers: dict[str, RecordResult] = {}
    for key in ("rate", "unavailable", "locked", "migrating"):
        answers.update(upsert(destination, BatchObject.ACCOUNT, {key: {"name": key}}))
    return answers
