"""Fast getters for references, for the projections' hot loops.

:meth:`hub.references.Reference.getter` is generic (a ``getattr`` by name, then
the model's ``get`` method walking its built-ins); a projection calls a
getter once per membership, millions of times, so here each reference is
compiled into a closure reading exactly one attribute or one property. The
values are the same as :meth:`~hub.references.Reference.getter` gives
(a test holds them equal for every namespace and built-in).
"""

from __future__ import annotations

from operator import attrgetter

from hub.references import Getter, Reference, Scope

__all__ = ["BUILT_IN", "fast_getter"]

#: Built-in attributes per namespace; anything else is a trait / relationship property.
BUILT_IN: dict[str, tuple[str, ...]] = {
    "user": ("user_id", "email"),
    "account": ("account_id", "name", "domain", "stage"),
    "primary_account": ("account_id", "name", "domain", "stage"),
    "relationship": ("role", "user_id", "account_id"),
    "primary_relationship": ("role", "user_id", "account_id"),
}
_PROPERTY_MAPPINGS = {
    "user": "traits",
    "account": "traits",
    "primary_account": "traits",
    "relationship": "properties",
    "primary_relationship": "properties",
}


def fast_getter(reference: Reference) -> Getter:
    """A getter equivalent to ``reference.getter()``, faster."""
    namespace = reference.namespace
    attribute = reference.attribute
    if namespace not in BUILT_IN:
        return reference.getter()
    target = attrgetter(namespace)
    if attribute in BUILT_IN[namespace]:
        read = attrgetter(attribute)

        def get_builtin(scope: Scope) -> object:
            obj = target(scope)
            return None if obj is None else read(obj)

        return get_builtin
    mapping = attrgetter(_PROPERTY_MAPPINGS[namespace])

    def get_property(scope: Scope) -> object:
        obj = target(scope)
        return None if obj is None else mapping(obj).get(attribute)

    return get_property
