"""Argument values and their evaluation: what an expression means once block parameters are substituted."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field

from . import syntax as s
from .errors import DlArgumentError, DlSyntaxError, Span, did_you_mean

MAX_INT = 2**63 - 1


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


class Initializer(str):
    """An initializer called with arguments: `RandomNormal(mean=0.0, stddev=0.02)`.

    It is its own text, every argument written in Keras' order (two spellings of one call are one initializer),
    so it goes wherever an initializer's name goes: a parameter's `initializer`, the IR printout, and the weight
    tables and SAMPLERS of generated programs as a plain string literal. `keras_class` and `arguments` say what
    to draw (compiler/weights.py).
    """

    keras_class: str
    arguments: tuple[tuple[str, float | str], ...]

    def __new__(cls, keras_class: str, arguments: tuple[tuple[str, float | str], ...]):
        written = ", ".join(
            f"{name}={value!r}" if isinstance(value, float) else f"{name}={value}" for name, value in arguments
        )
        self = super().__new__(cls, f"{keras_class}({written})")
        self.keras_class, self.arguments = keras_class, tuple(arguments)
        return self

    def __getnewargs__(self):  # pickling and copying rebuild it from its parts
        return self.keras_class, self.arguments

    @property
    def settings(self) -> tuple[float | str, ...]:
        """The arguments' values in order: what the drawing function takes after the shape and the generator."""
        return tuple(value for _, value in self.arguments)


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


def evaluate(expr: s.Expr, env: dict[str, object]) -> object:
    """An expression's value; bare names are block parameters when bound, otherwise Symbols."""
    match expr:
        case s.Number(value) | s.String(value) | s.Bool(value):
            return value
        case s.Name(id, span):
            return env[id] if id in env else Symbol(id, span)
        case s.TupleExpr(items):
            return tuple(evaluate(i, env) for i in items)
        case s.ListExpr(items):
            return [evaluate(i, env) for i in items]
        case s.Neg(operand, span):
            return -_number(evaluate(operand, env), operand.span, env)
        case s.BinOp(op, left, right, span):
            a = _number(evaluate(left, env), left.span, env)
            b = _number(evaluate(right, env), right.span, env)
            return arithmetic(op, a, b, span, right.span)
        case s.Call():
            return call_value(expr, env)
    raise AssertionError(f"unknown expression {expr!r}")


def arithmetic(op: str, a: int | float, b: int | float, span: Span, right: Span) -> int | float:
    if op in ("/", "//") and b == 0:
        raise DlArgumentError("division by zero", right)
    try:
        result = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}.get(
            op, operator.floordiv
        )(a, b)
    except OverflowError:
        result = math.inf
    if isinstance(result, float) and not math.isfinite(result) or isinstance(result, int) and abs(result) > MAX_INT:
        raise DlArgumentError("number out of range", span, f"numbers stay within ±{MAX_INT}")
    return result


def _number(value: object, span: Span, env: dict[str, object]) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = None
        if isinstance(value, Symbol):
            hint = did_you_mean(value.name, env) or (
                f"block parameters here: {', '.join(env)}"
                if env
                else "arithmetic works on numbers and block parameters"
            )
        raise DlArgumentError(f"arithmetic needs numbers, got {describe(value)}", span, hint)
    return value


def call_value(call: s.Call, env: dict[str, object]) -> CallValue:
    positional, keyword = [], []
    for arg in call.args:
        located = Located(evaluate(arg.value, env), arg.value.span)
        if arg.name is None:
            if keyword:
                raise DlSyntaxError("a positional argument cannot follow a keyword argument", arg.span)
            positional.append(located)
        else:
            keyword.append((arg.name, located, arg.span))
    return CallValue(call.callee, tuple(positional), tuple(keyword), call.span, call.callee_span)
