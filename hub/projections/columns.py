"""Column-wise reads for the projections' hot loops.

A projection reads the same reference off millions of objects; a closure per
read (:mod:`hub.getters`) costs a Python call each time. Here a
reference is read off a whole list of objects at once, with C-level
iterators (``map`` over ``attrgetter`` / ``methodcaller``), and a condition
reading one namespace only is evaluated once per distinct value it reads
(:class:`BatchCondition`), the result remembered across passes.

The values are exactly those of :func:`hub.getters.fast_getter`
for objects that are present; a list holding ``None`` (a membership whose user
or account is missing) raises ``AttributeError``, and callers fall back to the
scope-based path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import attrgetter, methodcaller
from typing import Any

from hub.references import Reference, Scope

__all__ = ["BUILTINS", "BatchCondition", "column", "column_reader", "reader"]

#: Built-in attributes per namespace; anything else is a trait / relationship property.
BUILTINS: dict[str, tuple[str, ...]] = {
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

#: How many distinct values a condition remembers its result for.
MEMO_LIMIT = 4096

Predicate = Callable[[Scope], bool]


def reader(namespace: str, attribute: str) -> Callable[[Iterable[Any]], Iterator[Any]]:
    """A function reading ``namespace.attribute`` off each of some objects of
    that namespace (users, accounts or memberships), lazily."""
    if attribute in BUILTINS[namespace]:
        read = attrgetter(attribute)

        def builtin(objects: Iterable[Any]) -> Iterator[Any]:
            return map(read, objects)

        return builtin
    mapping = attrgetter(_PROPERTY_MAPPINGS[namespace])
    get = methodcaller("get", attribute)

    def prop(objects: Iterable[Any]) -> Iterator[Any]:
        return map(get, map(mapping, objects))

    return prop


def column_reader(reference: Reference) -> Callable[[Any], Any]:
    """A function reading ``reference`` off one object of its namespace (not ``None``)."""
    if reference.attribute in BUILTINS[reference.namespace]:
        return attrgetter(reference.attribute)
    mapping = attrgetter(_PROPERTY_MAPPINGS[reference.namespace])
    attribute = reference.attribute

    def prop(obj: Any) -> Any:
        return mapping(obj).get(attribute)

    return prop


def column(objects: Iterable[Any], reference: Reference) -> Iterator[Any]:
    """``reference`` read off each of ``objects`` (of its namespace)."""
    return reader(reference.namespace, reference.attribute)(objects)


def _plain(value: Any) -> bool:
    return value is None or value.__class__ is str


class BatchCondition:
    """A condition whose references all read one namespace (``user``,
    ``account`` or ``relationship``), evaluated over a list of objects of that
    namespace.

    The result depends only on the values read, so it is remembered per
    value (or tuple of values) and computed once per distinct one. Only
    strings and ``None`` are remembered: ``1``, ``1.0`` and ``True`` are equal
    as keys but not to a condition.
    """

    __slots__ = ("_memo", "_readers", "_scope", "namespace", "predicate")

    def __init__(self, predicate: Predicate, namespace: str, references: Sequence[Reference]):
        self.predicate = predicate
        self.namespace = namespace
        self._readers = tuple(reader(r.namespace, r.attribute) for r in references)
        self._memo: dict[Any, bool] = {}
        self._scope = Scope()

    def mask(self, objects: Sequence[Any]) -> list[bool]:
        """The condition for each of ``objects`` (none ``None``): raises
        ``AttributeError`` on a missing object, ``TypeError`` on an
        unhashable value."""
        readers = self._readers
        keys: Iterable[Any]
        if len(readers) == 1:
            keys = list(readers[0](objects))
        else:
            keys = list(zip(*(read(objects) for read in readers), strict=True))
        memo = self._memo
        results: list[Any] = list(map(memo.get, keys))
        if None in results:
            self._fill(objects, keys, results)
        return results

    def _fill(self, objects: Sequence[Any], keys: list[Any], results: list[Any]) -> None:
        memo = self._memo
        scope = self._scope
        namespace = self.namespace
        single = len(self._readers) == 1
        for i, result in enumerate(results):
            if result is not None:
                continue
            key = keys[i]
            cached = memo.get(key)
            if cached is None:
                setattr(scope, namespace, objects[i])
                cached = bool(self.predicate(scope))
                if len(memo) < MEMO_LIMIT and (_plain(key) if single else all(map(_plain, key))):
                    memo[key] = cached
            results[i] = cached
