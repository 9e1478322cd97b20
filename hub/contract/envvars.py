"""Where settings come from in the environment: ``HUB_`` and ``__`` between keys."""

from __future__ import annotations

from collections.abc import Sequence

ENV_PREFIX = "HUB_"
ENV_NESTED_DELIMITER = "__"


def env_var_name(path: Sequence[str | int]) -> str:
    """The environment variable (and secret file) that sets ``path``
    (``("destinations", "crm", "settings", "token")`` ->
    ``HUB_DESTINATIONS__CRM__SETTINGS__TOKEN``)."""
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(part).upper() for part in path)
