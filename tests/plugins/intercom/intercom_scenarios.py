"""Conversations with Intercom, recorded as cassettes (``cassettes/intercom/``).

Each scenario drives an :class:`~hub_intercom.IntercomDestination` and returns
what it got back; ``record_cassettes.py`` records them against the local fake
(rewriting its address to ``https://api.intercom.io`` and dropping the token),
and ``test_intercom_cassettes.py`` replays them with the network blocked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import vcr
from hub_intercom import IntercomDestination, IntercomSettings, make_intercom
from vcr.request import Request

from hub.contract.capabilities import IdentityKey, Operation
from hub.contract.destination import (
    BatchItem,
    BatchObject,
    FatalDestinationError,
    LinkEnds,
    link_key,
)
from hub.contract.testing import RecordingBudget, make_batch, make_context

#: The chain hub.sync sends contacts with by default (users.match).
CHAIN = (IdentityKey.EXTERNAL_ID, IdentityKey.EMAIL)

CASSETTES = Path(__file__).resolve().parents[3] / "cassettes" / "intercom"
PUBLIC_BASE_URL = "https://api.intercom.io"

Scenario = Callable[[Callable[..., IntercomDestination]], dict[str, Any]]


def make_vcr(record_mode: str, local_base_url: str | None = None) -> vcr.VCR:
    def scrub_request(request: Request) -> Request:
        if local_base_url is not None:
            request.uri = request.uri.replace(local_base_url, PUBLIC_BASE_URL)
            for name in list(request.headers):
                if name.lower() == "host":
                    request.headers[name] = PUBLIC_BASE_URL.partition("://")[2]
        return request

    def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
        for name in list(response["headers"]):
            if name.lower() in ("date", "server"):
                del response["headers"][name]
        return response

    return vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode=record_mode,
        match_on=["method", "scheme", "host", "port", "path", "query", "body"],
        filter_headers=["authorization"],
        before_record_request=scrub_request,
        before_record_response=scrub_response,
        decode_compressed_response=True,
    )


def _results(results: Any) -> list[tuple[str, str, str | None]]:
    return [(r.key, r.outcome.value, r.destination_id) for r in results]


def companies(build: Callable[..., IntercomDestination]) -> dict[str, Any]:
    """Two companies with custom attributes (created on demand), then one updated."""
    dest = build()
    payload = {
        "name": "Twitter",
        "website": "twitter.example",
        "plan": "Enterprise",
        "admin_emails": "elon@x.example",
        "user_count": 2,
        "conversion_score": 0.82,
    }
    first = dest.send(
        make_batch(
            BatchObject.ACCOUNT,
            Operation.UPSERT,
            [
                BatchItem("acc_twitter", payload),
                BatchItem("acc_tesla", {**payload, "name": "Tesla", "website": "tesla.example"}),
            ],
            match=CHAIN,
        )
    )
    again = dest.send(
        make_batch(
            BatchObject.ACCOUNT,
            Operation.UPSERT,
            [
                BatchItem("acc_twitter", {**payload, "user_count": 3}, first[0].destination_id),
            ],
            match=CHAIN,
        )
    )
    return {"first": _results(first), "again": _results(again)}


def contacts(build: Callable[..., IntercomDestination]) -> dict[str, Any]:
    """New users: one search for the batch, creates; then an update by remembered id."""
    dest = build()
    first = dest.send(
        make_batch(
            BatchObject.CONTACT,
            Operation.UPSERT,
            [
                BatchItem(
                    "u_elon",
                    {
                        "email": "elon@x.example",
                        "first_name": "Elon",
                        "last_name": "Musk",
                        "accounts_summary": "Tesla (Admin); Twitter (Owner)",
                        "signed_up_at": "2024-03-12T14:53:55Z",
                    },
                ),
                BatchItem("u_maya", {"email": "maya@tesla.example", "name": "Maya Okafor"}),
            ],
            match=CHAIN,
        )
    )
    again = dest.send(
        make_batch(
            BatchObject.CONTACT,
            Operation.UPSERT,
            [
                BatchItem(
                    "u_maya",
                    {"email": "maya@tesla.example", "name": "Maya O."},
                    first[1].destination_id,
                ),
            ],
            match=CHAIN,
        )
    )
    return {"first": _results(first), "again": _results(again)}


def contact_conflict(build: Callable[..., IntercomDestination]) -> dict[str, Any]:
    """A racing create: the search misses a fresh contact, the create gets a 409."""
    item = BatchItem("u_elon", {"email": "elon@x.example", "name": "Elon Musk"})
    first = build().send(make_batch(BatchObject.CONTACT, Operation.UPSERT, [item], match=CHAIN))
    second = build().send(make_batch(BatchObject.CONTACT, Operation.UPSERT, [item], match=CHAIN))
    return {"first": _results(first), "second": _results(second)}


def memberships(build: Callable[..., IntercomDestination]) -> dict[str, Any]:
    """Attach a user to two companies, detach one (twice: already gone is fine)."""
    dest = build()
    companies = dest.send(
        make_batch(
            BatchObject.ACCOUNT,
            Operation.UPSERT,
            [
                BatchItem("acc_twitter", {"name": "Twitter"}),
                BatchItem("acc_tesla", {"name": "Tesla"}),
            ],
            match=CHAIN,
        )
    )
    [contact] = dest.send(
        make_batch(
            BatchObject.CONTACT,
            Operation.UPSERT,
            [
                BatchItem("u_elon", {"email": "elon@x.example", "name": "Elon Musk"}),
            ],
            match=CHAIN,
        )
    )
    links = [
        BatchItem(
            link_key("u_elon", c.key),
            {"properties": {}, "primary": False},
            None,
            LinkEnds("u_elon", c.key, contact.destination_id, c.destination_id),
        )
        for c in companies
    ]
    linked = dest.send(make_batch(BatchObject.LINK, Operation.LINK, links, match=CHAIN))
    unlinks = [BatchItem(links[1].key, {}, linked[1].destination_id, links[1].link)]
    unlinked = dest.send(make_batch(BatchObject.LINK, Operation.UNLINK, unlinks, match=CHAIN))
    again = dest.send(make_batch(BatchObject.LINK, Operation.UNLINK, unlinks, match=CHAIN))
    return {"linked": _results(linked), "unlinked": _results(unlinked), "again": _results(again)}


def tags(build: Callable[..., IntercomDestination]) -> dict[str, Any]:
    """The tag and untag actions."""
    dest = build()
    [contact] = dest.send(
        make_batch(
            BatchObject.CONTACT,
            Operation.UPSERT,
            [
                BatchItem("u_elon", {"email": "elon@x.example"}),
            ],
            match=CHAIN,
        )
    )
    ids = [contact.destination_id or ""]
    return {
        "tagged": _results(dest.tag_contacts("PQL", ids)),
        "untagged": _results(dest.untag_contacts("PQL", ids)),
    }


def errors(build: Callable[..., IntercomDestination]) -> dict[str, Any]:
    """A 5xx (retryable), a validation error (permanent), a refused token (fatal)."""
    dest = build()
    batch = make_batch(
        BatchObject.ACCOUNT,
        Operation.UPSERT,
        [
            BatchItem("acc_a", {"name": "A"}),
            BatchItem("acc_b", {"name": "B"}),
        ],
        match=CHAIN,
    )
    flaky = _results(dest.send(batch))
    fatal = None
    try:
        build(token="revoked-token").send(batch)
    except FatalDestinationError as error:
        fatal = error.setting
    return {"flaky": flaky, "fatal": fatal}


SCENARIOS: dict[str, Scenario] = {
    "companies": companies,
    "contacts": contacts,
    "contact_conflict": contact_conflict,
    "memberships": memberships,
    "tags": tags,
    "errors": errors,
}


def builder(base_url: str, tmp_path: Path, token: str) -> Callable[..., IntercomDestination]:
    def build(*, token: str = token) -> IntercomDestination:
        settings = IntercomSettings(access_token=token, base_url=base_url)
        return make_intercom(
            settings, make_context(tmp_path, name="intercom", budget=RecordingBudget())
        )

    return build
