"""``hub.sources.arange``: the line numbers and positions of the column-wise
load, the same with Arrow's ``pa.arange`` and without it (older Arrow)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from hub.sources import arange

_CASES = [(0, 0), (5, 5), (3, 10), (0, 1), (7, 3), (-2, 2), (1 << 40, (1 << 40) + 3)]


@pytest.mark.parametrize("older_arrow", [False, True])
def test_arange_is_pythons_range_as_int64(
    older_arrow: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if older_arrow:
        monkeypatch.delattr(pa, "arange", raising=False)
    for start, stop in _CASES:
        found = arange(start, stop)
        assert found.type == pa.int64()
        assert found.to_pylist() == list(range(start, stop)), (start, stop)
