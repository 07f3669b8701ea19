"""Evaluated argument values: what an expression means once block parameters are substituted."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Span


@dataclass(frozen=True, slots=True)
class Symbol:
    """A bare name that is not a block parameter: an enum value (`relu`) or a label (`skip`)."""

    name: str
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Located:
    """A value with the span of the text that produced it, for error messages."""

    value: object
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class CallValue:
    """A call used as a value: `LSTM(8)` inside `Bidirectional`, `l2(0.01)`, `dataset("iris")`."""

    callee: str
    positional: tuple[Located, ...]
    keyword: tuple[tuple[str, Located, Span], ...]  # name, value, the span of `name=value`
    span: Span = field(compare=False)
    callee_span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Regularizer:
    """`l1(...)`, `l2(...)` or `l1_l2(...)`: penalty = l1 * sum|w| + l2 * sum w^2."""

    l1: float = 0.0
    l2: float = 0.0

    def __str__(self) -> str:
        if self.l1 and self.l2:
            return f"l1_l2(l1={self.l1!r}, l2={self.l2!r})"
        return f"l1({self.l1!r})" if self.l1 else f"l2({self.l2!r})"


def describe(value: object) -> str:
    """How a value is named in an error message."""
    if isinstance(value, Symbol):
        return f"name '{value.name}'"
    if isinstance(value, CallValue):
        return f"call {value.callee}(...)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, tuple):
        return "tuple (" + ", ".join(describe(v) for v in value) + ")"
    if isinstance(value, list):
        return "list [" + ", ".join(describe(v) for v in value) + "]"
    return repr(value)
