"""The settings of an Intercom destination (``[destinations.NAME.settings]``)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr

#: The Intercom REST API version every request asks for (``Intercom-Version``).
API_VERSION = "2.14"
#: Intercom's documented limits: requests per minute per app, and per workspace
#: (all of its apps together), each "evenly distributed into 10 second windows"
#: (https://developers.intercom.com/docs/references/rest-api/errors/rate-limiting).
REQUESTS_PER_MINUTE = 10_000
WORKSPACE_REQUESTS_PER_MINUTE = 25_000
#: The window Intercom counts requests in, in seconds.
WINDOW_SECONDS = 10.0


def per_window(requests_per_minute: int) -> int:
    """A per-minute limit as Intercom enforces it: its share of one 10-second window."""
    return max(1, int(requests_per_minute * WINDOW_SECONDS // 60))


#: The most records one batch holds: Intercom has no batch write endpoints, so
#: a batch is one request per record; the size only bounds what one ``send`` does.
MAX_BATCH_SIZE = 50


class Region(StrEnum):
    """Where the Intercom workspace is hosted."""

    US = "us"
    EU = "eu"
    AU = "au"


#: The API base URL of each region.
BASE_URLS: dict[Region, str] = {
    Region.US: "https://api.intercom.io",
    Region.EU: "https://api.eu.intercom.io",
    Region.AU: "https://api.au.intercom.io",
}


class IntercomSettings(BaseModel):
    """Settings of an Intercom destination.

    ``access_token`` is a credential: it is refused in hub.toml and comes from
    the environment (``HUB_DESTINATIONS__<NAME>__SETTINGS__ACCESS_TOKEN``) or a
    secret file of that name.
    """

    # hide_input_in_errors: a validation error must not echo the token.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    access_token: SecretStr = Field(min_length=1)
    """The app's access token; set it with ``HUB_DESTINATIONS__<NAME>__SETTINGS__ACCESS_TOKEN``."""
    region: Region = Region.US
    """Where the workspace is hosted: ``us``, ``eu`` or ``au`` (picks the API base URL)."""
    base_url: HttpUrl | None = None
    """Overrides the region's base URL (a local fake Intercom in tests)."""
    batch_size: int = Field(default=MAX_BATCH_SIZE, ge=1, le=MAX_BATCH_SIZE)
    """Records per ``send`` (one request each; at most 50)."""
    requests_per_minute: int = Field(default=REQUESTS_PER_MINUTE, ge=6, le=REQUESTS_PER_MINUTE)
    """The app's request budget (at most Intercom's 10,000 per minute per app). Intercom
    spreads it over 10-second windows, so the hub never sends more than a sixth of it
    (1,666) in any 10 seconds."""
    workspace: str | None = Field(default=None, min_length=1)
    """A name for the Intercom workspace this app belongs to. Destinations naming the
    same workspace (other apps, other tokens) share its cap in this process."""
    workspace_requests_per_minute: int = Field(
        default=WORKSPACE_REQUESTS_PER_MINUTE, ge=6, le=WORKSPACE_REQUESTS_PER_MINUTE
    )
    """The workspace's cap across its apps (Intercom: 25,000 per minute, in 10-second
    windows); with ``workspace`` unset, this app's own traffic is all it counts."""
    timeout: float | None = Field(default=None, gt=0)
    """Seconds to wait for one answer (default: the hub's ``request_timeout``)."""
    compose_name: bool = True
    """When a contact's payload has no ``name`` but ``first_name``/``last_name``,
    send Intercom's ``name`` as the two joined (they are kept as custom attributes too)."""

    def api_base_url(self) -> str:
        """The base URL requests go to: ``base_url`` if set, else the region's."""
        if self.base_url is not None:
            return str(self.base_url).rstrip("/")
        return BASE_URLS[self.region]
