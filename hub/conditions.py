"""Conditions: the small, safe filter language of mappings and playbooks.

A condition reads like ``relationship.role in ['Owner', 'Admin'] and
account.stage != 'churn'``. It is tokenized and parsed here by hand (never
``eval``) into a small tree, then compiled into nested closures, since a
``where`` runs once per membership and there may be millions of them.

Grammar, loosest binding first::

    condition  := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := operand [ ("==" | "!=" | "<" | "<=" | ">" | ">=") operand
                          | "in" list | "not" "in" list ]
    operand    := reference | literal | "exists" "(" reference ")" | "(" condition ")"
    list       := "[" [literal ("," literal)* [","]] "]"  |  "(" ... ")"
    reference  := namespace "." attribute            (see hub.references)
    literal    := 'string' | "string" | int | float | true | false | null

Evaluation never raises: a missing value (``None``) is equal only to ``null``
and is never ``<``, ``>``, ``<=`` or ``>=`` anything; values of different kinds
(a string and a number, a boolean and a number) are never equal and never
ordered. A bare operand is a truth test (``user.is_admin``, ``not
account.domain``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from hub.getters import fast_getter
from hub.references import NAMESPACES, Reference, ReferenceError_, Scope, parse_reference

Predicate = Callable[[Scope], bool]
ValueGetter = Callable[[Scope], Any]
LiteralValue = str | int | float | bool | None

__all__ = [
    "And",
    "Compare",
    "ConditionSyntaxError",
    "Exists",
    "InList",
    "Literal",
    "Node",
    "Not",
    "Or",
    "Predicate",
    "Ref",
    "compile_condition",
    "condition_references",
    "iter_refs",
    "parse_condition",
]


class ConditionSyntaxError(ValueError):
    """A condition that does not parse, or names a reference not allowed there.

    ``position`` is the 0-based character offset in the condition text where the
    problem was found; ``expected`` says what would have been valid there.
    """

    def __init__(self, message: str, position: int, expected: str | None = None) -> None:
        self.message = message
        self.position = position
        self.expected = expected
        text = f"{message} (at position {position})"
        if expected:
            text += f"; expected {expected}"
        super().__init__(text)


# -- syntax tree -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference ``namespace.attribute`` as written, not yet checked."""

    name: str
    position: int


@dataclass(frozen=True, slots=True)
class Literal:
    value: LiteralValue
    position: int


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Node
    right: Node
    position: int


@dataclass(frozen=True, slots=True)
class InList:
    operand: Node
    values: tuple[LiteralValue, ...]
    negated: bool
    position: int


@dataclass(frozen=True, slots=True)
class Exists:
    ref: Ref
    position: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    position: int


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]
    position: int


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]
    position: int


Node = Ref | Literal | Compare | InList | Exists | Not | And | Or


# -- tokenizer -----------------------------------------------------------------

_KEYWORDS: Final = frozenset({"and", "or", "not", "in", "true", "false", "null", "exists"})
_COMPARISONS: Final = ("==", "!=", "<=", ">=", "<", ">")
_PUNCTUATION: Final = "()[],"
_DIGITS: Final = frozenset("0123456789")
_ESCAPES: Final = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "0": "\0",
}


@dataclass(frozen=True, slots=True)
class _Token:
    #: ``name``, ``keyword``, ``string``, ``number``, ``op``, ``punct`` or ``end``.
    kind: str
    text: str
    value: Any
    position: int

    def describe(self) -> str:
        if self.kind == "end":
            return "end of the condition"
        return repr(self.text)


def _is_name_start(char: str) -> bool:
    return char.isascii() and (char.isalpha() or char == "_")


def _is_name_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
            continue
        start = i
        if _is_name_start(char):
            i += 1
            while i < n and (
                _is_name_char(text[i])
                or (text[i] == "." and i + 1 < n and _is_name_char(text[i + 1]))
            ):
                i += 1
            word = text[start:i]
            kind = "keyword" if word in _KEYWORDS else "name"
            tokens.append(_Token(kind, word, word, start))
            continue
        if char in _DIGITS or (char == "-" and i + 1 < n and text[i + 1] in _DIGITS):
            i = _scan_number(text, i)
            literal = text[start:i]
            value: int | float
            try:
                value = int(literal) if literal.lstrip("-").isdigit() else float(literal)
            except ValueError:  # more digits than int() accepts
                raise ConditionSyntaxError("number too long", start, "a shorter number") from None
            tokens.append(_Token("number", literal, value, start))
            continue
        if char in "'\"":
            value_text, i = _scan_string(text, i)
            tokens.append(_Token("string", text[start:i], value_text, start))
            continue
        two = text[i : i + 2]
        if two in _COMPARISONS:
            tokens.append(_Token("op", two, two, start))
            i += 2
            continue
        if char in "<>":
            tokens.append(_Token("op", char, char, start))
            i += 1
            continue
        if char in _PUNCTUATION:
            tokens.append(_Token("punct", char, char, start))
            i += 1
            continue
        if char == "=":
            raise ConditionSyntaxError("'=' is not a comparison", start, "'==' to compare")
        if char == "!":
            raise ConditionSyntaxError("'!' is not an operator", start, "'!=' or 'not'")
        if two in ("&&", "||"):
            raise ConditionSyntaxError(
                f"{two!r} is not an operator", start, "'and'" if two == "&&" else "'or'"
            )
        raise ConditionSyntaxError(
            f"unexpected character {char!r}",
            start,
            "a reference, a literal, an operator or a parenthesis",
        )
    tokens.append(_Token("end", "", None, n))
    return tokens


def _scan_number(text: str, i: int) -> int:
    n = len(text)
    if text[i] == "-":
        i += 1
    while i < n and text[i] in _DIGITS:
        i += 1
    if i + 1 < n and text[i] == "." and text[i + 1] in _DIGITS:
        i += 1
        while i < n and text[i] in _DIGITS:
            i += 1
    if i < n and text[i] in "eE":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        if j < n and text[j] in _DIGITS:
            i = j
            while i < n and text[i] in _DIGITS:
                i += 1
    if i < n and (_is_name_char(text[i]) or text[i] == "."):
        raise ConditionSyntaxError(f"malformed number {text[: i + 1]!r}", i, "a number")
    return i


def _scan_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    parts: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        char = text[i]
        if char == quote:
            return "".join(parts), i + 1
        if char == "\\":
            if i + 1 >= n:
                break
            escaped = text[i + 1]
            if escaped == "u":
                digits = text[i + 2 : i + 6]
                if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                    raise ConditionSyntaxError(
                        "malformed \\u escape", i, "four hexadecimal digits after \\u"
                    )
                parts.append(chr(int(digits, 16)))
                i += 6
                continue
            if escaped not in _ESCAPES:
                raise ConditionSyntaxError(
                    f"unknown escape \\{escaped}", i, "one of \\\\ \\' \\\" \\n \\t \\r \\0 \\uXXXX"
                )
            parts.append(_ESCAPES[escaped])
            i += 2
            continue
        parts.append(char)
        i += 1
    raise ConditionSyntaxError("unterminated string", start, f"a closing {quote}")


# -- parser --------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> _Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def at(self, kind: str, text: str | None = None) -> bool:
        token = self.token
        return token.kind == kind and (text is None or token.text == text)

    def fail(self, expected: str, message: str | None = None) -> ConditionSyntaxError:
        token = self.token
        return ConditionSyntaxError(
            message or f"unexpected {token.describe()}", token.position, expected
        )

    def expect(self, kind: str, text: str, expected: str) -> _Token:
        if not self.at(kind, text):
            raise self.fail(expected)
        return self.advance()

    def parse(self) -> Node:
        if self.at("end"):
            raise self.fail("a condition", "empty condition")
        node = self.parse_or()
        if not self.at("end"):
            raise self.fail("'and', 'or' or the end of the condition")
        return node

    def parse_or(self) -> Node:
        first = self.parse_and()
        operands = [first]
        while self.at("keyword", "or"):
            self.advance()
            operands.append(self.parse_and())
        return first if len(operands) == 1 else Or(tuple(operands), _position(first))

    def parse_and(self) -> Node:
        first = self.parse_not()
        operands = [first]
        while self.at("keyword", "and"):
            self.advance()
            operands.append(self.parse_not())
        return first if len(operands) == 1 else And(tuple(operands), _position(first))

    def parse_not(self) -> Node:
        if self.at("keyword", "not"):
            start = self.advance().position
            return Not(self.parse_not(), start)
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        left = self.parse_operand()
        token = self.token
        if token.kind == "op":
            self.advance()
            right = self.parse_operand()
            return Compare(token.text, left, right, token.position)
        if self.at("keyword", "in"):
            self.advance()
            return InList(left, self.parse_list(), False, token.position)
        if self.at("keyword", "not") and self.peek().kind == "keyword" and self.peek().text == "in":
            self.advance()
            self.advance()
            return InList(left, self.parse_list(), True, token.position)
        return left

    def parse_operand(self) -> Node:
        token = self.token
        if token.kind == "punct" and token.text == "(":
            self.advance()
            node = self.parse_or()
            self.expect("punct", ")", f"')' to close the '(' at position {token.position}")
            return node
        if token.kind == "name":
            self.advance()
            if "." not in token.text:
                hint = token.text.lower()
                if hint in ("true", "false", "null", "none"):
                    literal = "null" if hint == "none" else hint
                    raise ConditionSyntaxError(
                        f"unknown name {token.text!r}", token.position, f"{literal!r} (lowercase)"
                    )
                raise ConditionSyntaxError(
                    f"{token.text!r} is not a reference",
                    token.position,
                    "a reference namespace.attribute (e.g. user.email) or a quoted string",
                )
            return Ref(token.text, token.position)
        if token.kind in ("string", "number"):
            self.advance()
            return Literal(token.value, token.position)
        if token.kind == "keyword":
            if token.text in ("true", "false", "null"):
                self.advance()
                value = {"true": True, "false": False, "null": None}[token.text]
                return Literal(value, token.position)
            if token.text == "exists":
                self.advance()
                self.expect("punct", "(", "'(' after exists")
                ref = self.parse_operand()
                if not isinstance(ref, Ref):
                    raise ConditionSyntaxError(
                        "exists() takes a reference", _position(ref), "a reference"
                    )
                self.expect("punct", ")", "')' to close exists(")
                return Exists(ref, token.position)
        if token.kind == "punct" and token.text == "[":
            raise self.fail("a reference or a literal", "a list is only allowed after 'in'")
        raise self.fail("a reference, a literal, 'not' or '('")

    def parse_list(self) -> tuple[LiteralValue, ...]:
        opening = self.token
        if not (opening.kind == "punct" and opening.text in "(["):
            raise self.fail("a list such as ['Owner', 'Admin']")
        closing = ")" if opening.text == "(" else "]"
        self.advance()
        values: list[LiteralValue] = []
        while not self.at("punct", closing):
            item = self.parse_list_item(closing, opening.position)
            values.append(item)
            if self.at("punct", ","):
                self.advance()
            elif not self.at("punct", closing):
                raise self.fail(
                    f"',' or {closing!r} to close the list at position {opening.position}"
                )
        self.advance()
        return tuple(values)

    def parse_list_item(self, closing: str, opened_at: int) -> LiteralValue:
        token = self.token
        if token.kind in ("string", "number"):
            self.advance()
            value: LiteralValue = token.value
            return value
        if token.kind == "keyword" and token.text in ("true", "false", "null"):
            self.advance()
            return {"true": True, "false": False, "null": None}[token.text]
        if token.kind == "end":
            raise self.fail(f"{closing!r} to close the list at position {opened_at}")
        raise self.fail("a literal (a quoted string, a number, true, false or null)")


def _position(node: Node) -> int:
    return node.ref.position if isinstance(node, Exists) else node.position


def parse_condition(text: str) -> Node:
    """Parse ``text`` into a syntax tree; raise :class:`ConditionSyntaxError`.

    References are not checked against namespaces here; see
    :func:`compile_condition` and :func:`condition_references`.
    """
    return _Parser(text).parse()


def iter_refs(node: Node) -> Iterator[Ref]:
    """Every reference in ``node``, in source order."""
    if isinstance(node, Ref):
        yield node
    elif isinstance(node, Compare):
        yield from iter_refs(node.left)
        yield from iter_refs(node.right)
    elif isinstance(node, InList):
        yield from iter_refs(node.operand)
    elif isinstance(node, Exists):
        yield node.ref
    elif isinstance(node, Not):
        yield from iter_refs(node.operand)
    elif isinstance(node, And | Or):
        for operand in node.operands:
            yield from iter_refs(operand)


def _check_ref(ref: Ref, allowed: tuple[str, ...]) -> Reference:
    try:
        return parse_reference(ref.name, allowed)
    except ReferenceError_ as error:
        raise ConditionSyntaxError(
            str(error), ref.position, "one of the namespaces " + ", ".join(allowed)
        ) from None


def condition_references(text: str, allowed: tuple[str, ...] = NAMESPACES) -> list[Reference]:
    """The references ``text`` reads, in source order, duplicates removed."""
    seen: dict[Reference, None] = {}
    for ref in iter_refs(parse_condition(text)):
        seen.setdefault(_check_ref(ref, allowed), None)
    return list(seen)


# -- compiler ------------------------------------------------------------------

_NUMBER_TYPES: Final = (int, float, Decimal)


def _kind(value: Any) -> str:
    """The comparison family of a value: only values of one family compare."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, _NUMBER_TYPES):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    return type(value).__qualname__


_FAST_ORDER_TYPES: Final[dict[type, frozenset[type]]] = {
    int: frozenset({int, float}),
    float: frozenset({int, float}),
    str: frozenset({str}),
}

_ORDER_OPS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _equal(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return left is right
    if _kind(left) != _kind(right):
        return False
    try:
        return bool(left == right)
    except Exception:  # a value with a hostile __eq__ must not stop a run
        return False


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(left: Any, right: Any) -> bool:
        if left is None or right is None:
            return False
        kind = _kind(left)
        if kind == "bool" or kind != _kind(right):
            return False
        try:
            return bool(op(left, right))
        except Exception:  # naive vs aware datetimes, NaN-like oddities
            return False

    return compare


def _value_getter(node: Node, allowed: tuple[str, ...]) -> ValueGetter:
    if isinstance(node, Ref):
        return fast_getter(_check_ref(node, allowed))
    if isinstance(node, Literal):
        constant = node.value
        return lambda scope: constant
    predicate = _compile(node, allowed)
    return predicate


def _compile_compare(node: Compare, allowed: tuple[str, ...]) -> Predicate:
    left = _value_getter(node.left, allowed)
    right_node = node.right
    if node.op in ("==", "!="):
        negate = node.op == "!="
        if isinstance(right_node, Literal):
            # The common case, ``ref == 'literal'``: the literal's family is known now.
            constant = right_node.value
            kind = _kind(constant)
            if constant is None:
                if negate:
                    return lambda scope: left(scope) is not None
                return lambda scope: left(scope) is None

            constant_type = type(constant)

            def equal_constant(scope: Scope) -> bool:
                value = left(scope)
                if type(value) is constant_type:  # fast path: same exact type
                    return bool(value == constant)
                return value is not None and _kind(value) == kind and _equal(value, constant)

            if negate:
                return lambda scope: not equal_constant(scope)
            return equal_constant
        right = _value_getter(right_node, allowed)
        if negate:
            return lambda scope: not _equal(left(scope), right(scope))
        return lambda scope: _equal(left(scope), right(scope))

    compare = _ordered(_ORDER_OPS[node.op])
    if isinstance(right_node, Literal) and type(right_node.value) in _FAST_ORDER_TYPES:
        # The common case, ``ref > 0.5``: values of the literal's plain types compare
        # directly; anything else takes the careful path.
        constant = right_node.value
        fast_types = _FAST_ORDER_TYPES[type(constant)]
        op = _ORDER_OPS[node.op]

        def compare_constant(scope: Scope) -> bool:
            value = left(scope)
            if type(value) in fast_types:
                return op(value, constant)
            return compare(value, constant)

        return compare_constant
    right = _value_getter(right_node, allowed)
    return lambda scope: compare(left(scope), right(scope))


def _compile_in(node: InList, allowed: tuple[str, ...]) -> Predicate:
    get = _value_getter(node.operand, allowed)
    values = node.values
    negated = node.negated
    if values and all(isinstance(v, str) for v in values):
        # Fast path for the usual ``relationship.role in ['Owner', 'Admin']``.
        strings = frozenset(values)

        def in_strings(scope: Scope) -> bool:
            value = get(scope)
            return isinstance(value, str) and value in strings

        if negated:
            return lambda scope: not in_strings(scope)
        return in_strings

    def in_values(scope: Scope) -> bool:
        value = get(scope)
        return any(_equal(value, candidate) for candidate in values)

    if negated:
        return lambda scope: not in_values(scope)
    return in_values


def _compile(node: Node, allowed: tuple[str, ...]) -> Predicate:
    if isinstance(node, Or | And):
        predicates = [_compile(operand, allowed) for operand in node.operands]
        # Fold into nested pairs: cheaper per call than looping over a list.
        result = predicates[-1]
        for predicate in reversed(predicates[:-1]):
            result = _pair(predicate, result, isinstance(node, Or))
        return result
    if isinstance(node, Not):
        inner = _compile(node.operand, allowed)
        return lambda scope: not inner(scope)
    if isinstance(node, Compare):
        return _compile_compare(node, allowed)
    if isinstance(node, InList):
        return _compile_in(node, allowed)
    if isinstance(node, Exists):
        get = fast_getter(_check_ref(node.ref, allowed))
        return lambda scope: get(scope) is not None
    if isinstance(node, Ref):
        get = fast_getter(_check_ref(node, allowed))
    else:
        constant = node.value
        return lambda scope: bool(constant)

    def truthy(scope: Scope) -> bool:
        try:
            return bool(get(scope))
        except Exception:
            return False

    return truthy


def _pair(first: Predicate, second: Predicate, either: bool) -> Predicate:
    if either:
        return lambda scope: first(scope) or second(scope)
    return lambda scope: first(scope) and second(scope)


def compile_condition(text: str, allowed: tuple[str, ...] = NAMESPACES) -> Predicate:
    """Compile ``text`` into a fast predicate over a :class:`~hub.references.Scope`.

    Raises :class:`ConditionSyntaxError` for a syntax error and for a reference
    whose namespace is not in ``allowed`` (its position points at the reference).
    """
    return _compile(parse_condition(text), allowed)
