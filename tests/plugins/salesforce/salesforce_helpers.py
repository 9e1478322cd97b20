"""Helpers for the Salesforce tests: settings and destinations against a URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub_salesforce import SalesforceDestination, SalesforceSettings, make_salesforce
from salesforce_fake import CLIENT_ID, CLIENT_SECRET

from hub.contract.testing import RecordingBudget, make_context

ROLE_PICKLIST = {
    "Owner": "Decision Maker",
    "Admin": "Technical Buyer",
    "Billing Admin": "Economic Buyer",
    "User": "Business User",
    "Viewer": "Evaluator",
}


def salesforce_settings(url: str, **overrides: Any) -> SalesforceSettings:
    """Client-credentials settings against ``url`` (the fake, or the cassettes' host)."""
    return SalesforceSettings.model_validate(
        {
            "auth": "client_credentials",
            "login_url": url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "role_picklist": ROLE_PICKLIST,
            "bulk_poll_seconds": 0,
            **overrides,
        }
    )


def salesforce(
    tmp_path: Path,
    url: str,
    *,
    budget: RecordingBudget | None = None,
    name: str = "crm",
    extras: dict[str, Any] | None = None,
    **overrides: Any,
) -> SalesforceDestination:
    context = make_context(tmp_path, name, budget=budget, **(extras or {}))
    return make_salesforce(salesforce_settings(url, **overrides), context)
