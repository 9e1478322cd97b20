"""Entry templates such as ``"{account.name} ({relationship.role})"``.

Placeholders are ``{namespace.attribute}`` references (see
:mod:`hub.references`); ``{{`` and ``}}`` stand for literal braces. Templates
are parsed here, once, and never handed to ``str.format``: user data is only
ever inserted, never interpreted. A missing value renders as ``""``.
"""

from __future__ import annotations

from collections.abc import Callable

from hub.getters import fast_getter
from hub.references import (
    NAMESPACES,
    Getter,
    Reference,
    ReferenceError_,
    Scope,
    parse_reference,
)
from hub.values import render

__all__ = ["TemplateError", "compile_template", "template_pattern", "template_references"]


class TemplateError(ValueError):
    """A template that does not parse; ``position`` is the 0-based offset."""

    def __init__(self, message: str, position: int) -> None:
        self.message = message
        self.position = position
        super().__init__(f"{message} (at position {position})")


def _parse(text: str, allowed: tuple[str, ...]) -> list[str | Reference]:
    parts: list[str | Reference] = []
    literal: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char == "{":
            if text.startswith("{{", i):
                literal.append("{")
                i += 2
                continue
            end = text.find("}", i + 1)
            if end < 0:
                raise TemplateError("unclosed '{' (write '{{' for a literal brace)", i)
            inner = text[i + 1 : end]
            if "{" in inner:
                raise TemplateError("'{' inside a placeholder", i + 1 + inner.index("{"))
            try:
                reference = parse_reference(inner, allowed)
            except ReferenceError_ as error:
                raise TemplateError(str(error), i + 1) from None
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(reference)
            i = end + 1
        elif char == "}":
            if text.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            raise TemplateError("single '}' (write '}}' for a literal brace)", i)
        else:
            literal.append(char)
            i += 1
    if literal:
        parts.append("".join(literal))
    return parts


def template_references(text: str, allowed: tuple[str, ...] = NAMESPACES) -> list[Reference]:
    """The references a template uses, in order (raises :class:`TemplateError`)."""
    return [part for part in _parse(text, allowed) if isinstance(part, Reference)]


def template_pattern(
    text: str, allowed: tuple[str, ...] = NAMESPACES
) -> tuple[str, tuple[Reference, ...]]:
    """``text`` as a %-format and its references: an entry is ``pattern %
    values``, each value a ``str`` or else :func:`~hub.values.render`-ed.
    Literal parts have every "%" escaped; values are only ever *arguments* to
    it, so user data is inserted and never interpreted."""
    literals: list[str] = [""]
    references: list[Reference] = []
    for part in _parse(text, allowed):
        if isinstance(part, str):
            literals[-1] += part
        else:
            references.append(part)
            literals.append("")
    return "%s".join(literal.replace("%", "%%") for literal in literals), tuple(references)


def compile_template(text: str, allowed: tuple[str, ...] = NAMESPACES) -> Callable[[Scope], str]:
    """Compile ``text`` into a function rendering it against a :class:`Scope`."""
    pattern, references = template_pattern(text, allowed)
    getters: list[Getter] = [fast_getter(reference) for reference in references]
    if not getters:
        constant = pattern % ()
        return lambda scope: constant
    frozen = tuple(getters)

    def run(scope: Scope) -> str:
        values = []
        for get in frozen:
            value = get(scope)
            values.append(value if value.__class__ is str else render(value))
        return pattern % tuple(values)

    return run
