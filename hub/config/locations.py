"""Where a key sits in a TOML file, so a problem can name its line and column.

:mod:`tomllib` returns plain dicts with no positions. :class:`TomlLocator`
scans the same text once and records, for every key path it meets, where the
key and its value start: table headers ``[a.b]``, arrays of tables
``[[a.b]]`` (counting their indices), dotted keys ``a.b = 1``, quoted keys,
inline tables ``{ k = v }`` and arrays, including arrays of inline tables
spread over several lines. Lines and columns are 1-based, as in tomllib's own
error messages.

Key paths are tuples of keys and list indices, ``("accounts", "user_lists", 1,
"separator")``, written ``accounts.user_lists[1].separator`` by :func:`format_key`.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass

from hub.errors import Problem

KeyPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_DECODE_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_DECODE_END = re.compile(r"\s*\(at end of document\)\s*$")


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column."""

    line: int
    column: int


class _ScanError(Exception):
    """The text is not TOML here; tomllib will say why, the locator just stops."""


class TomlLocator:
    """Positions of keys and values in one TOML document."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._line_starts = [0] + [m.end() for m in re.finditer(r"\r\n|\n", text)]
        self._keys: dict[KeyPath, int] = {}
        self._values: dict[KeyPath, int] = {}
        self._array_tables: dict[KeyPath, int] = {}
        # On malformed text, keep whatever was found before the malformed part.
        with contextlib.suppress(_ScanError, IndexError):
            self._scan()

    # -- queries ---------------------------------------------------------------

    def position(self, offset: int) -> Position:
        """The line and column of a character offset."""
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return Position(line + 1, offset - self._line_starts[line] + 1)

    def key_position(self, path: KeyPath) -> Position | None:
        """Where the key (or table header) for ``path`` is written, if it is."""
        offset = self._keys.get(tuple(path))
        return None if offset is None else self.position(offset)

    def value_position(self, path: KeyPath) -> Position | None:
        """Where the value for ``path`` starts (its opening quote for a string)."""
        offset = self._values.get(tuple(path))
        return None if offset is None else self.position(offset)

    def locate(self, path: KeyPath) -> Position | None:
        """The key's position, or that of the nearest enclosing key written in the file."""
        path = tuple(path)
        while path:
            offset = self._keys.get(path)
            if offset is not None:
                return self.position(offset)
            path = path[:-1]
        return None

    def __contains__(self, path: object) -> bool:
        return path in self._keys

    def string_position(self, path: KeyPath, offset: int) -> Position | None:
        """The position of character ``offset`` of the string value at ``path``.

        ``offset`` counts decoded characters (after escapes), as a parser of the
        string's content would report; the result points into the raw text.
        """
        start = self._values.get(tuple(path))
        if start is None:
            return None
        return self.position(self._raw_string_offset(start, offset))

    def _raw_string_offset(self, start: int, offset: int) -> int:
        text = self.text
        for delimiter in ('"""', "'''", '"', "'"):
            if text.startswith(delimiter, start):
                break
        else:
            return start
        basic = delimiter[0] == '"'
        i = start + len(delimiter)
        if len(delimiter) == 3 and text.startswith("\n", i):
            i += 1  # a newline right after the opening delimiter is trimmed
        elif len(delimiter) == 3 and text.startswith("\r\n", i):
            i += 2
        decoded = 0
        while decoded < offset and i < len(text):
            if basic and text[i] == "\\":
                escape = text[i + 1 : i + 2]
                if escape == "u":
                    i += 6
                elif escape == "U":
                    i += 10
                elif escape in ("\n", "\r", " ", "\t"):
                    # line-ending backslash: the escape and the following whitespace vanish
                    i += 1
                    while i < len(text) and text[i] in " \t\r\n":
                        i += 1
                    continue
                else:
                    i += 2
            else:
                i += 1
            decoded += 1
        return i

    # -- scanner ---------------------------------------------------------------

    def _scan(self) -> None:
        text = self.text
        table: KeyPath = ()
        i = 0
        n = len(text)
        while i < n:
            i = self._skip_space(i, newlines=True)
            if i >= n:
                break
            char = text[i]
            if char == "[":
                table, i = self._header(i)
            else:
                i = self._key_value(i, table)
            i = self._skip_space(i, newlines=False)
            if i < n and text[i] not in "\r\n":
                raise _ScanError(i)

    def _skip_space(self, i: int, *, newlines: bool) -> int:
        text = self.text
        n = len(text)
        while i < n:
            char = text[i]
            if char in " \t" or (newlines and char in "\r\n"):
                i += 1
            elif char == "#":
                while i < n and text[i] != "\n":
                    i += 1
            else:
                break
        return i

    def _header(self, start: int) -> tuple[KeyPath, int]:
        text = self.text
        array = text.startswith("[[", start)
        i = start + (2 if array else 1)
        keys, i = self._dotted_key(i)
        i = self._skip_space(i, newlines=False)
        closing = "]]" if array else "]"
        if not text.startswith(closing, i):
            raise _ScanError(i)
        i += len(closing)
        path: KeyPath = ()
        for index, key in enumerate(keys):
            path = (*path, key)
            last = index == len(keys) - 1
            if last and array:
                self._keys.setdefault(path, start)
                count = self._array_tables.get(path, 0)
                self._array_tables[path] = count + 1
                path = (*path, count)
            elif path in self._array_tables:
                path = (*path, self._array_tables[path] - 1)
            self._keys.setdefault(path, start)
        return path, i

    def _dotted_key(self, i: int) -> tuple[list[str], int]:
        keys: list[str] = []
        while True:
            i = self._skip_space(i, newlines=False)
            key, i = self._simple_key(i)
            keys.append(key)
            i = self._skip_space(i, newlines=False)
            if i < len(self.text) and self.text[i] == ".":
                i += 1
                continue
            return keys, i

    def _simple_key(self, i: int) -> tuple[str, int]:
        text = self.text
        if i < len(text) and text[i] in "\"'":
            return self._string(i)
        match = _BARE_KEY.match(text, i)
        if not match:
            raise _ScanError(i)
        return match.group(), match.end()

    def _key_value(self, start: int, table: KeyPath) -> int:
        keys, i = self._dotted_key(start)
        path = table
        for key in keys:
            path = (*path, key)
            self._keys.setdefault(path, start)
        i = self._skip_space(i, newlines=False)
        if not self.text.startswith("=", i):
            raise _ScanError(i)
        return self._value(i + 1, path)

    def _value(self, i: int, path: KeyPath) -> int:
        text = self.text
        i = self._skip_space(i, newlines=False)
        self._values[path] = i
        char = text[i]
        if char in "\"'":
            _, i = self._string(i)
            return i
        if char == "[":
            return self._array(i + 1, path)
        if char == "{":
            return self._inline_table(i + 1, path)
        n = len(text)
        while i < n and text[i] not in ",]}#\r\n":
            i += 1
        return i

    def _array(self, i: int, path: KeyPath) -> int:
        text = self.text
        index = 0
        while True:
            i = self._skip_space(i, newlines=True)
            if text[i] == "]":
                return i + 1
            item = (*path, index)
            value_start = self._skip_space(i, newlines=False)
            self._keys.setdefault(item, value_start)
            i = self._value(i, item)
            index += 1
            i = self._skip_space(i, newlines=True)
            if text[i] == ",":
                i += 1
            elif text[i] != "]":
                raise _ScanError(i)

    def _inline_table(self, i: int, path: KeyPath) -> int:
        text = self.text
        while True:
            i = self._skip_space(i, newlines=True)
            if text[i] == "}":
                return i + 1
            start = i
            keys, i = self._dotted_key(i)
            key_path = path
            for key in keys:
                key_path = (*key_path, key)
                self._keys.setdefault(key_path, start)
            i = self._skip_space(i, newlines=False)
            if text[i] != "=":
                raise _ScanError(i)
            i = self._value(i + 1, key_path)
            i = self._skip_space(i, newlines=True)
            if text[i] == ",":
                i += 1
            elif text[i] != "}":
                raise _ScanError(i)

    def _string(self, start: int) -> tuple[str, int]:
        """Scan a string; return its (roughly decoded) content and the end offset."""
        text = self.text
        for delimiter in ('"""', "'''", '"', "'"):
            if text.startswith(delimiter, start):
                break
        basic = delimiter[0] == '"'
        i = start + len(delimiter)
        parts: list[str] = []
        n = len(text)
        while i < n:
            if text.startswith(delimiter, i):
                end = i + len(delimiter)
                # """a""""" may end with up to two extra quotes belonging to the content
                while len(delimiter) == 3 and text.startswith(delimiter[0], end) and end - i < 5:
                    parts.append(delimiter[0])
                    end += 1
                return "".join(parts), end
            char = text[i]
            if len(delimiter) == 1 and char in "\r\n":
                break
            if basic and char == "\\":
                escape = text[i + 1 : i + 2]
                simple = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
                if escape in ("u", "U"):
                    width = 4 if escape == "u" else 8
                    try:
                        parts.append(chr(int(text[i + 2 : i + 2 + width], 16)))
                    except ValueError:
                        raise _ScanError(i) from None
                    i += 2 + width
                    continue
                parts.append(simple.get(escape, escape))
                i += 2
                continue
            parts.append(char)
            i += 1
        raise _ScanError(start)


def parse_key(dotted: str) -> KeyPath:
    """``'accounts.user_lists[1]."a.b"'`` -> ``("accounts", "user_lists", 1, "a.b")``."""
    path: list[str | int] = []
    i = 0
    n = len(dotted)
    while i < n:
        char = dotted[i]
        if char == ".":
            i += 1
        elif char == "[":
            end = dotted.index("]", i)
            path.append(int(dotted[i + 1 : end]))
            i = end + 1
        elif char in "\"'":
            end = dotted.index(char, i + 1)
            path.append(dotted[i + 1 : end])
            i = end + 1
        else:
            match = re.compile(r"[^.\[]+").match(dotted, i)
            assert match is not None
            path.append(match.group())
            i = match.end()
    return tuple(path)


def format_key(path: Sequence[str | int]) -> str:
    """``("accounts", "user_lists", 1, "a.b")`` -> ``'accounts.user_lists[1]."a.b"'``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        piece = part if _BARE_KEY.fullmatch(part) else '"' + part.replace('"', '\\"') + '"'
        text += f".{piece}" if text else piece
    return text


def decode_error_problem(error: tomllib.TOMLDecodeError, file: str, text: str) -> Problem:
    """Turn tomllib's "Invalid value (at line 3, column 9)" into a :class:`Problem`."""
    message = str(error)
    line: int | None = None
    column: int | None = None
    match = _DECODE_POSITION.search(message)
    if match:
        line, column = int(match.group(1)), int(match.group(2))
        message = message[: match.start()]
    else:
        end = _DECODE_END.search(message)
        if end:
            message = message[: end.start()] + " at the end of the file"
            lines = text.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
    return Problem(
        message=f"not valid TOML: {message}",
        file=file,
        line=line,
        column=column,
        expected="valid TOML (https://toml.io)",
    )
