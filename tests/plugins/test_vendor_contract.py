"""The contract validators the vendor fakes use refuse what the vendors would."""

from __future__ import annotations

import json

import pytest
from vendor_contract import check

JSON = {"Content-Type": "application/json", "Authorization": "Bearer t"}


def _body(document: object) -> bytes:
    return json.dumps(document).encode()


def test_hubspot_refuses_a_null_property_and_an_unknown_path() -> None:
    upsert = {"inputs": [{"idProperty": "email", "id": "a@b.co", "properties": {"phone": None}}]}
    violation = check(
        "hubspot",
        "POST",
        "/crm/v3/objects/contacts/batch/upsert",
        JSON,
        _body(upsert),
        record=False,
    )
    assert violation is not None and "None" in violation.reason
    upsert["inputs"][0]["properties"] = {"phone": "+1 555"}
    assert (
        check(
            "hubspot",
            "POST",
            "/crm/v3/objects/contacts/batch/upsert",
            JSON,
            _body(upsert),
            record=False,
        )
        is None
    )
    unknown = check(
        "hubspot", "POST", "/crm/v3/objects/contacts/batch/merge", JSON, b"{}", record=False
    )
    assert unknown is not None and "no operation" in unknown.reason


def test_intercom_refuses_a_null_company_attribute_but_takes_its_examples_types() -> None:
    company = {"company_id": "acc-1", "custom_attributes": {"score": 0.5, "paid": True}}
    assert check("intercom", "POST", "/companies", JSON, _body(company), record=False) is None
    company["custom_attributes"]["score"] = None
    violation = check("intercom", "POST", "/companies", JSON, _body(company), record=False)
    assert violation is not None and "custom_attributes/score" in violation.reason


@pytest.mark.parametrize(
    ("method", "path", "body", "refused"),
    [
        (
            "PATCH",
            "/services/data/v60.0/composite/sobjects/Contact/Hub_Id__c",
            {"allOrNone": False, "records": [{"attributes": {"type": "Contact"}, "Email": "a@b"}]},
            None,
        ),
        (
            "PATCH",
            "/services/data/v60.0/composite/sobjects/Contact/Hub_Id__c",
            {"records": [{"Email": "a@b"}]},
            "attributes",
        ),
        (
            "PATCH",
            "/services/data/v60.0/composite/sobjects/Contact/Hub_Id__c",
            {"records": [{"attributes": {"type": "Contact"}}] * 201},
            "maxItems 200",
        ),
        (
            "POST",
            "/services/data/v60.0/jobs/ingest",
            {"object": "Contact", "operation": "upsert"},
            "externalIdFieldName",
        ),
        ("POST", "/services/data/v60.0/composite/tree/Contact", {}, "no documented"),
    ],
)
def test_salesforce_shapes_follow_the_developer_guide(
    method: str, path: str, body: object, refused: str | None
) -> None:
    violation = check("salesforce", method, path, JSON, _body(body), record=False)
    if refused is None:
        assert violation is None
    else:
        assert violation is not None and refused in str(violation), violation
        assert "developer.salesforce.com" in violation.reason or "no documented" in refused
