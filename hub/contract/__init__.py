"""Everything a destination plugin touches, from one import point.

    from hub.contract import (
        Capabilities, ObjectCapability, ObjectKind, Operation, DestinationType,
        DestinationRegistry, hookimpl, Batch, BatchItem, RecordResult, ...
    )

- the hook a plugin implements (:func:`hub_register_destinations`, marked with
  :data:`hookimpl`) and the registry it adds its :class:`DestinationType` to;
- what a destination declares (:class:`Capabilities` and its parts);
- what it receives and answers (:class:`Batch`, :class:`BatchItem`,
  :class:`RecordResult`, :class:`Outcome`), its context and rate budget, and
  the errors it raises (:class:`FatalDestinationError`,
  :class:`TransientTransportError`);
- playbook actions (:class:`ActionRequest`, :func:`perform`);
- :func:`env_var_name`, the environment variable of a setting (for messages);
- the identity-chain helpers (:func:`normal_email`, :func:`normal_domain`,
  :func:`website_variants`) and :class:`CredentialBudget`, a request budget a
  plugin may add for a limit the engine does not know (a workspace cap);
- the conformance kit is :mod:`hub.contract.testing` (imported on its own: it
  needs pytest).

The modules behind it (``capabilities``, ``destination``, ``actions``,
``hookspecs``, ``registry``) import nothing from the rest of the hub but
:mod:`hub.errors`-level helpers, so a plugin never depends on the engine.
"""

from hub.contract.actions import ActionDestination, ActionRequest, perform, supports_actions
from hub.contract.capabilities import (
    Action,
    Capabilities,
    FieldCapability,
    FieldType,
    IdentityKey,
    LinkCapability,
    ObjectCapability,
    ObjectKind,
    Operation,
    RateLimit,
    SyncMode,
)
from hub.contract.destination import (
    Batch,
    BatchItem,
    BatchObject,
    Destination,
    DestinationContext,
    DestinationFactory,
    FatalDestinationError,
    LinkEnds,
    Outcome,
    RateBudget,
    RecordResult,
    TransientTransportError,
    link_key,
    link_payload,
    split_link_key,
)
from hub.contract.envvars import env_var_name
from hub.contract.hookspecs import hookimpl, hub_register_destinations
from hub.contract.identity import normal_domain, normal_email, website_variants
from hub.contract.ratelimit import CredentialBudget
from hub.contract.registry import (
    DestinationRegistry,
    DestinationType,
    MissingExtraError,
    NoSettings,
    PluginError,
    require_extra,
)

__all__ = [
    "Action",
    "ActionDestination",
    "ActionRequest",
    "Batch",
    "BatchItem",
    "BatchObject",
    "Capabilities",
    "CredentialBudget",
    "Destination",
    "DestinationContext",
    "DestinationFactory",
    "DestinationRegistry",
    "DestinationType",
    "FatalDestinationError",
    "FieldCapability",
    "FieldType",
    "IdentityKey",
    "LinkCapability",
    "LinkEnds",
    "MissingExtraError",
    "NoSettings",
    "ObjectCapability",
    "ObjectKind",
    "Operation",
    "Outcome",
    "PluginError",
    "RateBudget",
    "RateLimit",
    "RecordResult",
    "SyncMode",
    "TransientTransportError",
    "env_var_name",
    "hookimpl",
    "hub_register_destinations",
    "link_key",
    "link_payload",
    "normal_domain",
    "normal_email",
    "perform",
    "require_extra",
    "split_link_key",
    "supports_actions",
    "website_variants",
]
