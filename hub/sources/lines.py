"""Reading files line by line, so that one bad line costs one row, never the file.

Files are read as bytes and each physical line is decoded on its own: a byte
that is not UTF-8 quarantines the row holding it (with its line), where a
decoder reading blocks would refuse the whole file at an unknown line.

JSON lines are parsed strictly (:func:`parse_json_line`): what the hub could
not send on as strict JSON (RFC 8259) is refused here, with the reason, rather
than accepted and failing every later run of a destination:

- ``NaN``, ``Infinity``, ``-Infinity`` and numbers too large for a float
  (``1e999``), which Python's decoder accepts but JSON does not have;
- integers of more than :data:`MAX_INT_DIGITS` digits;
- strings holding a lone UTF-16 surrogate (``"\\ud800"``), which no UTF-8
  encoder can write;
- values nested deeper than :data:`MAX_DEPTH` (arrays and objects), including
  nesting deep enough to exhaust the decoder's recursion.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

__all__ = [
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "MAX_LINE_BYTES",
    "BadRow",
    "decode_line",
    "parse_json_line",
    "read_lines",
]

#: The deepest nesting of arrays and objects a JSON row may hold.
MAX_DEPTH: Final = 32
#: The most digits an integer may have (a 64-bit integer has 19 or 20).
MAX_INT_DIGITS: Final = 100
#: The longest line a JSON Lines or Segment file may hold (16 MiB).
MAX_LINE_BYTES: Final = 16 * 1024 * 1024

_BOM: Final = b"\xef\xbb\xbf"
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class BadRow(ValueError):
    """A row that cannot be read; ``reason`` says why, as the quarantine shows it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def read_lines(path: Path, start: int = 0, first: int = 1) -> Iterator[tuple[int, bytes]]:
    """``(line number, raw line)`` for each physical line of ``path``, the first
    line's UTF-8 byte order mark removed. Raises :class:`OSError` when the file
    cannot be opened or read.

    ``start``: the byte offset of a line to begin at, ``first`` its number (the
    byte order mark is only looked for at offset 0)."""
    with path.open("rb") as handle:
        if start:
            handle.seek(start)
        for n, raw in enumerate(handle, first):
            if n == 1 and not start and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            yield n, raw


def decode_line(raw: bytes) -> str:
    """``raw`` as text; :class:`BadRow` naming the first byte that is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        byte = raw[error.start : error.start + 1].hex()
        raise BadRow(f"invalid UTF-8: byte 0x{byte} at column {error.start + 1}") from None


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadRow(f"number {text[:40]} is out of range (JSON has no Infinity)")
    return value


def _bounded_int(text: str) -> int:
    digits = len(text) - (text[0] == "-")
    if digits > MAX_INT_DIGITS:
        raise BadRow(f"an integer of {digits} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _no_constant(name: str) -> Any:
    raise BadRow(f"{name} is not JSON (a number must be finite)")


def _check(value: Any, depth: int, surrogates: bool) -> None:
    """Depth and lone surrogates, for the containers and strings of a decoded value."""
    if depth > MAX_DEPTH:
        raise BadRow(f"nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        for key, item in value.items():
            if surrogates and _SURROGATE.search(key):
                raise BadRow("a key holds a lone UTF-16 surrogate (not valid Unicode)")
            if isinstance(item, dict | list | str):
                _check(item, depth + 1, surrogates)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list | str):
                _check(item, depth + 1, surrogates)
    elif surrogates and isinstance(value, str) and _SURROGATE.search(value):
        raise BadRow("a string holds a lone UTF-16 surrogate (not valid Unicode)")


def parse_json_line(text: str) -> Any:
    """The strictly parsed JSON value of one line (see the module docstring);
    :class:`BadRow` with the reason otherwise."""
    if len(text) > MAX_LINE_BYTES:
        raise BadRow(f"line longer than {MAX_LINE_BYTES} characters")
    try:
        value = json.loads(
            text,
            parse_float=_finite_float,
            parse_int=_bounded_int,
            parse_constant=_no_constant,
        )
    except json.JSONDecodeError as error:
        raise BadRow(f"invalid JSON: {error.msg} (column {error.colno})") from None
    except RecursionError:
        raise BadRow(f"nested more than {MAX_DEPTH} levels deep") from None
    # Only an escape can make a surrogate: the text itself was decoded from UTF-8.
    _check(value, 0, "\\u" in text or "\\U" in text)
    return value
