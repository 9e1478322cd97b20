"""Slack: playbook messages through an incoming webhook.

An action-only destination: it holds no objects (no mapping, nothing to sync)
and offers one action, ``send_message``. Configure it with::

    [destinations.slack]
    type = "slack"

and the incoming-webhook URL, a credential, in the environment:
``HUB_DESTINATIONS__SLACK__SETTINGS__WEBHOOK_URL``. Each message is one
``POST {"text": ...}`` to that URL; Slack answers ``200 ok``.
"""

from __future__ import annotations

from collections.abc import Sequence

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from hub.contract import (
    Action,
    ActionRequest,
    Capabilities,
    DestinationContext,
    DestinationRegistry,
    DestinationType,
    FatalDestinationError,
    RateLimit,
    RecordResult,
    env_var_name,
    hookimpl,
)

__version__ = "0.1.0"

__all__ = ["CAPABILITIES", "SlackDestination", "SlackSettings", "make_slack"]

#: No objects: nothing to sync, no mapping. One message per second, as Slack documents.
CAPABILITIES = Capabilities(
    objects={},
    rate_limit=RateLimit(requests=1, per_seconds=1.0),
    actions=frozenset({Action.SEND_MESSAGE}),
)


class SlackSettings(BaseModel):
    """Settings of a Slack destination.

    ``webhook_url`` is a credential (the URL is the secret): it comes from
    ``HUB_DESTINATIONS__<NAME>__SETTINGS__WEBHOOK_URL`` or a secret file.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    webhook_url: SecretStr = Field(min_length=8)
    """The incoming-webhook URL Slack gave the app."""
    timeout: float | None = Field(default=None, gt=0)
    """Seconds to wait for Slack's answer (default: the hub's ``request_timeout``)."""


class SlackDestination:
    """Posts playbook messages to one Slack incoming webhook."""

    def __init__(self, settings: SlackSettings, context: DestinationContext) -> None:
        self.capabilities = CAPABILITIES
        self.name = context.name
        self._url = settings.webhook_url
        self._timeout = settings.timeout if settings.timeout is not None else context.timeout
        self._budget = context.budget
        self._setting = env_var_name(("destinations", context.name, "settings", "webhook_url"))
        # The webhook's path is its secret: the identity is the destination's name.
        self.credential_id = f"slack:{context.name}"
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"SlackDestination({self.name!r})"

    def send(self, batch: object) -> Sequence[RecordResult]:
        """Slack holds no objects: every item is refused."""
        items = getattr(batch, "items", ())
        return [RecordResult.permanent(i.key, "slack holds no records") for i in items]

    def perform(self, requests_: Sequence[ActionRequest]) -> Sequence[RecordResult]:
        """POST each message; one result per request."""
        return [self._message(request) for request in requests_]

    def _message(self, request: ActionRequest) -> RecordResult:
        if request.action is not Action.SEND_MESSAGE:
            return RecordResult.permanent(request.key, f"slack cannot {request.action.value}")
        body: dict[str, object] = {"text": str(request.params.get("text", ""))}
        if request.params.get("channel"):
            body["channel"] = str(request.params["channel"])
        self._budget.acquire(1)
        try:
            response = self._session.post(
                self._url.get_secret_value(),
                json=body,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            return RecordResult.retryable(
                request.key, f"could not reach Slack: {type(exc).__name__}"
            )
        with response:
            status = response.status_code
            if 200 <= status < 300:
                return RecordResult.ok(request.key)
            if status in (401, 403, 404, 410):
                raise FatalDestinationError(
                    f"Slack refused the incoming webhook with HTTP {status}", setting=self._setting
                )
            reason = f"HTTP {status}: {' '.join(response.text.split())[:200]}"
            if status == 429 or status >= 500:
                retry_after = response.headers.get("Retry-After")
                seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
                if seconds is not None:
                    self._budget.pause(seconds)
                return RecordResult.retryable(request.key, reason, seconds)
            return RecordResult.permanent(request.key, reason)

    def close(self) -> None:
        self._session.close()


def make_slack(settings: SlackSettings, context: DestinationContext) -> SlackDestination:
    """The Slack :data:`~hub.contract.destination.DestinationFactory`."""
    return SlackDestination(settings, context)


@hookimpl
def hub_register_destinations(registry: DestinationRegistry) -> None:
    registry.add(
        DestinationType(
            name="slack",
            capabilities=CAPABILITIES,
            settings_model=SlackSettings,
            description="Playbook messages through a Slack incoming webhook (actions only).",
            factory=make_slack,
        )
    )
