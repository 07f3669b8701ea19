"""Argument kinds (types, ranges, enums) and binding of a call's arguments to a signature."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import DlArgumentError, DlNameError, Span, did_you_mean
from .values import CallValue, Located, Regularizer, Symbol, describe

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax", "gelu", "elu", "selu", "softplus", "swish")
INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_normal",
    "orthogonal",
    "zeros",
    "ones",
    "uniform",  # Keras' RandomUniform(-0.05, 0.05), the Embedding default
)
REQUIRED = object()


class Kind:
    """What an argument accepts; `convert` returns the normalised value or raises DlArgumentError."""

    label = "a value"

    def convert(self, value: Any, span: Span, where: str) -> Any:
        raise NotImplementedError

    def fail(self, value: Any, span: Span, where: str, hint: str | None = None):
        raise DlArgumentError(f"{where} must be {self.label}, got {describe(value)}", span, hint)


@dataclass(frozen=True)
class Int(Kind):
    low: int | None = None
    high: int | None = None

    @property
    def label(self) -> str:
        if self.low == 1 and self.high is None:
            return "a positive integer"
        if self.low == 0 and self.high is None:
            return "a non-negative integer"
        return "an integer"

    def convert(self, value, span, where):
        if isinstance(value, float) and value.is_integer():
            self.fail(value, span, where, "use // for integer division")
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(value, span, where)
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            self.fail(value, span, where)
        return value


@dataclass(frozen=True)
class Float(Kind):
    low: float | None = None
    high: float | None = None
    high_open: bool = False

    @property
    def label(self) -> str:
        if self.low is not None and self.high is not None:
            close = ")" if self.high_open else "]"
            return f"a number in [{self.low}, {self.high}{close}"
        if self.low is not None:
            return f"a number >= {self.low}"
        return "a number"

    def convert(self, value, span, where):
        if not isinstance(value, int | float) or isinstance(value, bool):
            self.fail(value, span, where)
        too_high = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if (self.low is not None and value < self.low) or too_high:
            self.fail(value, span, where)
        try:
            return float(value)
        except OverflowError:
            self.fail(value, span, where, "the number is too large for a float")


class Bool(Kind):
    label = "true or false"

    def convert(self, value, span, where):
        if not isinstance(value, bool):
            self.fail(value, span, where)
        return value


@dataclass(frozen=True)
class Enum(Kind):
    """A bare name or a string from a fixed set: `activation=relu` equals `activation="relu"`."""

    choices: tuple[str, ...]
    allow_none: bool = False

    @property
    def label(self) -> str:
        return "one of " + ", ".join(self.choices)

    def convert(self, value, span, where):
        name = value.name if isinstance(value, Symbol) else value
        if not isinstance(name, str):
            self.fail(value, span, where)
        if name not in self.choices:
            hint = did_you_mean(name, self.choices) or f"choose one of {', '.join(self.choices)}"
            raise DlNameError(f"unknown value '{name}' for {where}", span, hint)
        return name


@dataclass(frozen=True)
class Text(Kind):
    label = "a string"

    def convert(self, value, span, where):
        if not isinstance(value, str):
            self.fail(value, span, where)
        return value


@dataclass(frozen=True)
class IntTuple(Kind):
    """One positive integer for every spatial dimension, or a tuple of `rank` of them."""

    rank: int
    allow_none: bool = False

    @property
    def label(self) -> str:
        return "a positive integer" if self.rank == 1 else f"a positive integer or a tuple of {self.rank}"

    def convert(self, value, span, where):
        if value is None and self.allow_none:
            return None
        items = value if isinstance(value, tuple) else (value,) * self.rank
        if len(items) != self.rank:
            self.fail(value, span, where)
        for item in items:
            if not isinstance(item, int) or isinstance(item, bool) or item < 1:
                self.fail(value, span, where)
        return tuple(items)


class TargetShape(Kind):
    label = "a tuple of positive integers (one may be -1)"

    def convert(self, value, span, where):
        items = value if isinstance(value, tuple) else (value,)
        ok = all(isinstance(i, int) and not isinstance(i, bool) and (i >= 1 or i == -1) for i in items)
        if not ok or list(items).count(-1) > 1:
            self.fail(value, span, where)
        return tuple(items)


class RegularizerKind(Kind):
    label = "l1(x), l2(x) or l1_l2(l1=x, l2=y)"
    SIGNATURES = {
        "l1": (("l1", 0.01),),
        "l2": (("l2", 0.01),),
        "l1_l2": (("l1", 0.0), ("l2", 0.0)),
    }

    def convert(self, value, span, where):
        if value is None:
            return None
        if not isinstance(value, CallValue):
            self.fail(value, span, where)
        if value.callee not in self.SIGNATURES:
            hint = did_you_mean(value.callee, self.SIGNATURES)
            raise DlNameError(f"unknown regularizer '{value.callee}'", value.callee_span, hint)
        signature = [ArgSpec(name, Float(low=0.0), default) for name, default in self.SIGNATURES[value.callee]]
        bound = bind(signature, value, value.callee)
        return Regularizer(l1=bound.get("l1", 0.0), l2=bound.get("l2", 0.0))


class Anything(Kind):
    label = "a value"

    def convert(self, value, span, where):
        return value


@dataclass(frozen=True)
class ArgSpec:
    """One argument of a layer, loss, optimizer or setting, with Keras' name and default."""

    name: str
    kind: Kind
    default: Any = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def bind(signature: Sequence[ArgSpec], call: CallValue, what: str) -> dict[str, Any]:
    """Match a call's arguments to a signature as Python would, then convert each; defaults fill the rest."""
    names = [a.name for a in signature]
    given: dict[str, Located] = {}
    if len(call.positional) > len(signature):
        extra = call.positional[len(signature)]
        listing = ", ".join(names) if names else "no arguments"
        raise DlArgumentError(f"{what} takes at most {len(signature)} positional argument(s) ({listing})", extra.span)
    for spec, located in zip(signature, call.positional, strict=False):
        given[spec.name] = located
    for name, located, name_span in call.keyword:
        if name not in names:
            hint = did_you_mean(name, names) or (f"{what} takes: {', '.join(names)}" if names else None)
            raise DlNameError(f"{what} has no argument '{name}'", name_span, hint)
        if name in given:
            raise DlArgumentError(f"{what} got argument '{name}' twice", name_span)
        given[name] = located
    bound: dict[str, Any] = {}
    for spec in signature:
        if spec.name in given:
            located = given[spec.name]
            bound[spec.name] = spec.kind.convert(located.value, located.span, f"{what} argument '{spec.name}'")
        elif spec.required:
            raise DlArgumentError(f"{what} needs argument '{spec.name}'", call.span, f"write {what}({spec.name}=...)")
        else:
            bound[spec.name] = spec.default
    return bound
