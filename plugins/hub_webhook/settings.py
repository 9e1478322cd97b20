"""The settings of a webhook destination (``[destinations.NAME.settings]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr

#: The largest batch a webhook destination sends in one request.
MAX_BATCH_SIZE = 1000


class WebhookSettings(BaseModel):
    """Settings of a webhook destination.

    ``secret`` is a credential: it is refused in hub.toml and comes from the
    environment (``HUB_DESTINATIONS__<NAME>__SETTINGS__SECRET``) or a secret
    file.
    """

    # hide_input_in_errors: a validation error must not echo the secret.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    url: HttpUrl
    """The receiver's URL (``http`` or ``https``); every batch is POSTed to it."""
    secret: SecretStr = Field(min_length=16)
    """The HMAC-SHA256 signing secret shared with the receiver (at least 16 characters);
    set it with ``HUB_DESTINATIONS__<NAME>__SETTINGS__SECRET``."""
    batch_size: int = Field(default=100, ge=1, le=MAX_BATCH_SIZE)
    """Items per request, for every operation (at most 1000)."""
    requests_per_second: float = Field(default=10.0, gt=0)
    """The request budget the receiver can take."""
    timeout: float | None = Field(default=None, gt=0)
    """Seconds to wait for the receiver's answer (default: the hub's ``request_timeout``)."""
