"""``perform`` of the first-party plugins: HubSpot against its fake, the webhook
against its receiver (both on 127.0.0.1)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(TESTS / "plugins" / "hubspot"), str(TESTS / "plugins" / "webhook")]

from fake_hubspot import FakeHubSpot  # noqa: E402
from hub_webhook import WebhookSettings, make_webhook  # noqa: E402
from hubspot_helpers import make_destination, upsert  # noqa: E402
from webhook_receiver import SECRET, Receiver  # noqa: E402

from hub.contract.actions import ActionRequest, perform  # noqa: E402
from hub.contract.capabilities import Action  # noqa: E402
from hub.contract.destination import BatchObject, Outcome  # noqa: E402
from hub.contract.testing import make_context  # noqa: E402


@pytest.fixture(autouse=True)
def _loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    yield


def test_hubspot_adds_removes_and_creates_a_task(tmp_path: Path) -> None:
    with FakeHubSpot() as fake:
        hubspot = make_destination(fake.url, tmp_path, name="hubspot")
        accounts = upsert(hubspot, BatchObject.ACCOUNT, {"acc_neuralink": {"name": "Neuralink"}})
        contacts = upsert(hubspot, BatchObject.CONTACT, {"u_priya": {"email": "p@x.example"}})
        company = str(accounts["acc_neuralink"].destination_id)
        contact = str(contacts["u_priya"].destination_id)
        subject = {
            "user_id": "u_priya",
            "account_id": "acc_neuralink",
            "contact_id": contact,
            "company_id": company,
        }
        add = ActionRequest(Action.ADD_TO_LIST, "hubspot", "a", subject, {"list_id": "501"})
        results = perform(hubspot, [add])
        assert results["a"].outcome is Outcome.OK and fake.lists["501"] == {contact}
        remove = ActionRequest(Action.REMOVE_FROM_LIST, "hubspot", "r", subject, {"list_id": "501"})
        task = ActionRequest(
            Action.CREATE_TASK,
            "hubspot",
            "t",
            subject,
            {"subject": "Follow up", "body": "Priya is Owner of Neuralink"},
        )
        unknown = ActionRequest(Action.SEND_MESSAGE, "hubspot", "m", subject, {"text": "x"})
        no_contact = ActionRequest(
            Action.ADD_TO_LIST, "hubspot", "n", {"user_id": "u_new"}, {"list_id": "501"}
        )
        results = perform(hubspot, [remove, task, unknown, no_contact])
        assert fake.lists["501"] == set()
        created = fake.tasks[str(results["t"].destination_id)]
        assert created["properties"]["hs_task_body"] == "Priya is Owner of Neuralink"
        assert {a["to"]["id"] for a in created["associations"]} == {contact, company}
        assert results["m"].outcome is Outcome.PERMANENT  # not a HubSpot capability
        assert "actions.send_message" in (results["m"].reason or "")
        assert results["n"].outcome is Outcome.RETRYABLE  # not synced yet
        hubspot.close()


def test_webhook_posts_actions_like_a_batch(tmp_path: Path) -> None:
    with Receiver() as receiver:
        validated = WebhookSettings.model_validate({"url": receiver.url, "secret": SECRET})
        webhook = make_webhook(validated, make_context(tmp_path, "events"))
        request = ActionRequest(Action.TAG, "events", "k1", {"user_id": "u_priya"}, {"tag": "pql"})
        results = perform(webhook, [request])
        assert results["k1"].outcome is Outcome.OK
        [sent] = receiver.requests
        assert sent.document["object"] == "action"
        assert sent.document["items"] == [
            {
                "key": "k1",
                "action": "tag",
                "subject": {"user_id": "u_priya"},
                "payload": {"tag": "pql"},
            }
        ]
        webhook.close()
