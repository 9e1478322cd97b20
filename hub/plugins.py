"""Loading plugins: the ``hub`` entry-point group, through pluggy.

Every destination, first-party ones included, is found the same way: a
package declares ``[project.entry-points.hub] name = "module"`` and implements
hooks from :mod:`hub.hookspecs`. A plugin that fails to import is reported and
skipped, unless ``HUB_STRICT_PLUGINS=1`` makes it fatal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy
from pydantic import BaseModel, ConfigDict

from hub import hookspecs
from hub.capabilities import Capabilities
from hub.destination import DestinationFactory


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
    #: Builds a live :class:`~hub.destination.Destination` from validated settings;
    #: ``None`` for a type that can be previewed but not synced.
    factory: DestinationFactory | None = None


class PluginError(Exception):
    """A plugin could not be loaded or registered something invalid."""


class DestinationRegistry:
    """Collects destination types from every plugin."""

    def __init__(self) -> None:
        self._types: dict[str, DestinationType] = {}

    def add(self, destination_type: DestinationType) -> None:
        """Register a destination type; a name registered twice is an error."""
        if destination_type.name in self._types:
            raise PluginError(f"destination type {destination_type.name!r} is registered twice")
        self._types[destination_type.name] = destination_type

    def __getitem__(self, name: str) -> DestinationType:
        return self._types[name]

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def types(self) -> dict[str, DestinationType]:
        """Every registered type, by name, in name order."""
        return dict(sorted(self._types.items()))


@dataclass(frozen=True, slots=True)
class FailedPlugin:
    """An entry point that could not be loaded, and why."""

    name: str
    value: str
    error: str


@dataclass(slots=True)
class Plugins:
    """The loaded plugin manager and what it found."""

    manager: pluggy.PluginManager
    destinations: DestinationRegistry
    failed: list[FailedPlugin] = field(default_factory=list)
    #: Plugin name -> ``distribution version``, for entry-point plugins.
    distributions: dict[str, str] = field(default_factory=dict)


def _strict() -> bool:
    return os.environ.get("HUB_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


def load_plugins(extra: list[Any] | None = None) -> Plugins:
    """Load every plugin of the ``hub`` entry-point group and collect its registrations.

    :param extra: plugin objects to register as well (tests use this).
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    failed: list[FailedPlugin] = []
    distributions: dict[str, str] = {}
    for entry_point in sorted(entry_points(group=hookspecs.PROJECT_NAME), key=lambda e: e.name):
        if manager.has_plugin(entry_point.name) or manager.is_blocked(entry_point.name):
            continue
        try:
            plugin = entry_point.load()
            manager.register(plugin, name=entry_point.name)
        except Exception as exc:
            if _strict():
                raise PluginError(
                    f"plugin {entry_point.name!r} ({entry_point.value}) failed to load: {exc}"
                ) from exc
            failed.append(FailedPlugin(entry_point.name, entry_point.value, f"{exc}"))
            continue
        if entry_point.dist is not None:
            distributions[entry_point.name] = f"{entry_point.dist.name} {entry_point.dist.version}"
    for plugin in extra or []:
        manager.register(plugin)
    manager.check_pending()
    registry = DestinationRegistry()
    manager.hook.hub_register_destinations(registry=registry)
    return Plugins(manager, registry, failed, distributions)
