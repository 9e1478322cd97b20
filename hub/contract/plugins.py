"""Loading plugins: the ``hub`` entry-point group, through pluggy.

Every destination, first-party ones included, is found the same way: a
package declares ``[project.entry-points.hub] name = "module"`` and implements
hooks from :mod:`hub.contract.hookspecs`. A plugin that fails to import is reported and
skipped, unless ``HUB_STRICT_PLUGINS=1`` makes it fatal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from hub.contract import hookspecs
from hub.contract.registry import DestinationRegistry, DestinationType, NoSettings, PluginError

__all__ = [
    "DestinationRegistry",
    "DestinationType",
    "FailedPlugin",
    "NoSettings",
    "PluginError",
    "Plugins",
    "load_plugins",
]


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


def disabled_plugins() -> set[str]:
    """Entry-point names listed in ``HUB_DISABLED_PLUGINS`` (comma-separated): not loaded."""
    return {
        name.strip()
        for name in os.environ.get("HUB_DISABLED_PLUGINS", "").split(",")
        if name.strip()
    }


def load_plugins(extra: list[Any] | None = None) -> Plugins:
    """Load every plugin of the ``hub`` entry-point group and collect its registrations.

    A plugin named in ``HUB_DISABLED_PLUGINS`` is not loaded. One that fails to
    import (a missing extra says which), or whose hook raises, is reported in
    :attr:`Plugins.failed` and skipped, what it registered dropped; the rest
    load (``HUB_STRICT_PLUGINS=1`` makes any failure fatal instead).

    :param extra: plugin objects to register as well (tests use this).
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    failed: list[FailedPlugin] = []
    distributions: dict[str, str] = {}
    disabled = disabled_plugins()
    for entry_point in sorted(entry_points(group=hookspecs.PROJECT_NAME), key=lambda e: e.name):
        if entry_point.name in disabled:
            manager.set_blocked(entry_point.name)
            continue
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
    # Each plugin's hook on its own: one that raises (or registers a name twice)
    # is reported and its registrations dropped, the others keep theirs.
    # In registration order (entry points by name, then ``extra``): on a name
    # registered twice, the later plugin is the one refused.
    for hook in manager.hook.hub_register_destinations.get_hookimpls():
        own = DestinationRegistry()
        added: list[str] = []
        try:
            hook.function(registry=own)
            for destination_type in own.types().values():
                registry.add(destination_type)
                added.append(destination_type.name)
        except Exception as exc:
            if _strict():
                raise PluginError(f"plugin {hook.plugin_name!r} failed to register: {exc}") from exc
            value = getattr(hook.plugin, "__name__", type(hook.plugin).__name__)
            failed.append(FailedPlugin(hook.plugin_name, str(value), f"{exc}"))
            for name in added:
                registry.discard(name)
    return Plugins(manager, registry, failed, distributions)
