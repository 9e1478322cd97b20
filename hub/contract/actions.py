"""The action contract: what playbooks ask destinations to do.

A destination that offers actions declares them in
:attr:`~hub.contract.capabilities.Capabilities.actions` and implements, besides
``send``, the optional method::

    def perform(self, requests: Sequence[ActionRequest]) -> Sequence[RecordResult]

returning one :class:`~hub.contract.destination.RecordResult` per request, keyed by the
request's ``key``. The key is the idempotency key of one action of one playbook
entry for one subject: the engine sends the same key again only when it never
saw the result confirmed (a crash between sending and recording), so a plugin
that can pass it on (a header, a property) makes the retry harmless.

The core calls :func:`perform` below, which refuses (``permanent``) a request
for an action the destination does not declare, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from hub.contract.capabilities import Action, Capabilities
from hub.contract.destination import RecordResult

__all__ = ["ActionDestination", "ActionRequest", "perform", "supports_actions"]


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """One action for one subject.

    ``subject`` holds the hub ids (``user_id``, ``account_id``) and, where the
    hub knows them from earlier syncs, the destination's ids
    (``contact_id``, ``company_id``). ``params`` are the action's rendered
    parameters (``list_id``, ``subject``/``body`` of a task, ``text`` of a
    message, ``tag``...).
    """

    action: Action
    destination: str
    key: str
    subject: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class ActionDestination(Protocol):
    """A destination that performs playbook actions."""

    capabilities: Capabilities

    def perform(self, requests: Sequence[ActionRequest]) -> Sequence[RecordResult]:
        """Perform ``requests``; exactly one result per request key."""
        ...


def supports_actions(destination: object) -> bool:
    """True when ``destination`` implements :meth:`ActionDestination.perform`."""
    return callable(getattr(destination, "perform", None))


def perform(destination: object, requests: Sequence[ActionRequest]) -> dict[str, RecordResult]:
    """Perform ``requests`` on ``destination``: the result of each, by key.

    A request for an action missing from the destination's capabilities is
    refused (``permanent``) without calling the plugin; a request the plugin
    did not answer is ``retryable``.
    """
    results: dict[str, RecordResult] = {}
    capabilities: Capabilities | None = getattr(destination, "capabilities", None)
    offered = capabilities.actions if capabilities is not None else frozenset()
    allowed: list[ActionRequest] = []
    for request in requests:
        if request.action not in offered or not supports_actions(destination):
            results[request.key] = RecordResult.permanent(
                request.key,
                f"destination {request.destination!r} lacks the capability "
                f"actions.{request.action.value}",
            )
        else:
            allowed.append(request)
    if allowed:
        assert isinstance(destination, ActionDestination)
        for result in destination.perform(allowed):
            results[result.key] = result
        for request in allowed:
            if request.key not in results:
                results[request.key] = RecordResult.retryable(
                    request.key, "the destination gave no result for this action"
                )
    return results
