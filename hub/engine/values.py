"""Interned values: each distinct Python value of an attribute gets an integer.

The engine's tables hold these integers, never the values. ``0`` is ``None``
(absent). Two values share an id only when they are of the same type and
equal, so ``1``, ``1.0`` and ``True`` (equal to Python, different to every
rule) stay three values; a value that cannot be hashed (a list from a JSON
source) gets an id of its own each time it is seen.

What a rule needs to know of a value is a *facet*: a function of the value
alone, computed in Python once per distinct value (:meth:`Values.facet`) and
joined into a query as a two-column table. The function is the one the
per-record rules call, so the two agree by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["NULL", "Values"]

#: The id of ``None``, the absent value.
NULL = 0
#: The types Arrow's string encoding takes exactly as they are.
_TEXT = frozenset({str, type(None)})


class Values:
    """The distinct values of a data set's attributes, by id."""

    __slots__ = ("_ids", "values")

    def __init__(self) -> None:
        #: ``values[i]`` is the value of id ``i``.
        self.values: list[Any] = [None]
        self._ids: dict[tuple[type, Hashable], int] = {}

    def __len__(self) -> int:
        return len(self.values)

    def id(self, value: Any) -> int:
        """The id of ``value``, interned on first sight."""
        if value is None:
            return NULL
        try:
            key = (type(value), value)
            found = self._ids.get(key)
        except TypeError:  # unhashable: its own id
            self.values.append(value)
            return len(self.values) - 1
        if found is None:
            found = len(self.values)
            self.values.append(value)
            self._ids[key] = found
        return found

    def ids(self, values: Sequence[Any]) -> pa.Array:
        """:meth:`id` of each of ``values``, as an ``int64`` array.

        A column of strings (and ``None``), the common case, is interned by
        Arrow's dictionary encoding: each distinct string goes through
        :meth:`id` once. Any other column, value by value."""
        if set(map(type, values)) <= _TEXT:
            encoded = pa.array(values, pa.string()).dictionary_encode()
            interned, values_ = self._ids, self.values
            known_ids: list[int] = []
            for text in encoded.dictionary.to_pylist():
                key = (str, text)
                found = interned.get(key)
                if found is None:
                    found = interned[key] = len(values_)
                    values_.append(text)
                known_ids.append(found)
            known = pa.array(known_ids, pa.int64())
            return pc.fill_null(pc.take(known, encoded.indices), NULL)
        one = self.id
        return pa.array([one(value) for value in values], pa.int64())

    def facet(
        self,
        ids: Iterable[int],
        function: Callable[[Any], Any],
        type_: pa.DataType,
    ) -> pa.Table:
        """A table ``(id, facet)``: ``function(value)`` of each distinct one of
        ``ids`` (``None`` included, as id 0)."""
        distinct = sorted(set(ids))
        values = self.values
        return pa.table(
            {
                "id": pa.array(distinct, pa.int64()),
                "facet": pa.array([function(values[i]) for i in distinct], type_),
            }
        )
