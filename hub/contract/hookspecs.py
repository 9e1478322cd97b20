"""The hooks a connector-hub plugin can implement.

This module holds only specifications. A plugin is a module (or object)
registered under the ``hub`` entry-point group whose functions are marked with
:data:`hookimpl` and named like the specs below. First-party destinations are
registered exactly the same way.
"""

from __future__ import annotations

import pluggy

from hub.contract.registry import DestinationRegistry

PROJECT_NAME = "hub"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Decorate a plugin's hook implementations with this.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def hub_register_destinations(registry: DestinationRegistry) -> None:
    """Register the destination types this plugin provides.

    Call ``registry.add(DestinationType(...))`` once per destination type; a
    type declares its name, its :class:`~hub.contract.capabilities.Capabilities` and
    the pydantic model of its settings.

    :param registry: the registry collecting every plugin's destination types.
    """
