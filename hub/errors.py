"""Errors, one type per audience.

Admins get :class:`ConfigError`: every problem of a configuration or mapping at
once, each with its file, line, column, the key to change, what was expected
and, for a misspelled name, a suggestion. The CLI prints them without a
traceback and exits with :data:`EXIT_CONFIG`.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Exit code for a configuration or mapping mistake.
EXIT_CONFIG = 2
#: Exit code for a state store that cannot be used as it is (empty, corrupt,
#: read-only, full, from a newer hub): nothing was sent.
EXIT_STATE = 3


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a configuration or mapping file."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    #: The dotted key to change, e.g. ``accounts.user_lists[0].separator``.
    key: str | None = None
    #: What was expected there.
    expected: str | None = None
    #: A did-you-mean or another hint.
    hint: str | None = None

    @property
    def where(self) -> str:
        """``file:line:col``, as much of it as is known."""
        parts = [self.file or "<config>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        text = f"{self.where}: "
        if self.key:
            text += f"{self.key}: "
        text += self.message
        if self.expected:
            text += f" (expected {self.expected})"
        if self.hint:
            text += f"; {self.hint}"
        return text


class ConfigError(Exception):
    """One or more problems in hub.toml or a mapping file."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StateStoreError(Exception):
    """The state store cannot be used as it is: the hub refuses to start over
    by itself (which would send everything again and forget which links it
    created). ``problem`` names ``state.url`` and says what to do."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))
