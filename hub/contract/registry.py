"""The registry plugins add their destination types to (``hub_register_destinations``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from hub.contract.capabilities import Capabilities
from hub.contract.destination import DestinationFactory


class NoSettings(BaseModel):
    """Settings model of a destination that takes none."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True, slots=True)
class DestinationType:
    """A kind of destination a plugin provides."""

    #: The name used as ``type = "..."`` in hub.toml.
    name: str
    capabilities: Capabilities
    #: Pydantic model validating ``[destinations.NAME.settings]``.
    settings_model: type[BaseModel] = NoSettings
    description: str = ""
    #: Builds a live :class:`~hub.contract.destination.Destination` from validated settings;
    #: ``None`` for a type that can be previewed but not synced.
    factory: DestinationFactory[Any] | None = None


class PluginError(Exception):
    """A plugin could not be loaded or registered something invalid."""


class MissingExtraError(ImportError):
    """A plugin's third-party packages are not installed: the message names the
    extra that brings them (``pip install 'connector-hub[salesforce]'``)."""


def require_extra(plugin: str, extra: str, *modules: str) -> None:
    """Raise :class:`MissingExtraError` unless every one of ``modules`` can be
    imported; call it at the top of a plugin's ``__init__``."""
    import importlib.util

    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        raise MissingExtraError(
            f"the {plugin} plugin needs {', '.join(missing)}, which is not installed:"
            f" pip install 'connector-hub[{extra}]'"
        )


class DestinationRegistry:
    """Collects destination types from every plugin."""

    def __init__(self) -> None:
        self._types: dict[str, DestinationType] = {}

    def add(self, destination_type: DestinationType) -> None:
        """Register a destination type; a name registered twice is an error."""
        if destination_type.name in self._types:
            raise PluginError(f"destination type {destination_type.name!r} is registered twice")
        self._types[destination_type.name] = destination_type

    def discard(self, name: str) -> None:
        """Forget a registered type (its plugin failed); no error when absent."""
        self._types.pop(name, None)

    def __getitem__(self, name: str) -> DestinationType:
        return self._types[name]

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def types(self) -> dict[str, DestinationType]:
        """Every registered type, by name, in name order."""
        return dict(sorted(self._types.items()))
