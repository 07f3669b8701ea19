"""Argument kinds (types, ranges, enums) and binding of a call's arguments to a signature."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import DlArgumentError, DlNameError, Span, did_you_mean
from .values import CallValue, Initializer, Located, Regularizer, Symbol, describe

# Keras 3's activation functions with their defaults: leaky_relu's slope is 0.2 (the LeakyReLU layer's 0.3),
# hard_sigmoid is relu6(x + 3) / 6, hard_silu is x * hard_sigmoid(x); silu is swish (Keras' own alias)
ACTIVATIONS = (
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "gelu",
    "elu",
    "selu",
    "softplus",
    "swish",
    "log_softmax",
    "relu6",
    "leaky_relu",
    "silu",
    "mish",
    "hard_sigmoid",
    "hard_silu",
)
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
    "lecun_uniform",
    # Keras' names for its classes at their defaults
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "variance_scaling",
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
        if self.low is not None and self.high is not None:
            return f"an integer from {self.low:,} to {self.high:,}"
        if self.low == 1:
            return "a positive integer"
        if self.low == 0:
            return "a non-negative integer"
        if self.low is not None:
            return f"an integer of at least {self.low:,}"
        if self.high is not None:
            return f"an integer of at most {self.high:,}"
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


class InitializerKind(Kind):
    """A Keras initializer: a name (`he_normal`, bare or as a string), or one of Keras' initializer classes called
    with its arguments (`RandomNormal(stddev=0.02)`, an `Initializer`); a class name alone is the call with Keras'
    defaults, as Keras reads the string "RandomNormal"."""

    label = "an initializer (a name like he_normal, or a call like RandomNormal(stddev=0.02))"
    # Keras 3's classes: (argument, kind, Keras' default) in Keras' order, the drawing function's order too
    CALLS: dict[str, tuple[tuple[str, Kind, Any], ...]] = {
        "RandomNormal": (("mean", Float(), 0.0), ("stddev", Float(), 0.05)),
        "RandomUniform": (("minval", Float(), -0.05), ("maxval", Float(), 0.05)),
        "TruncatedNormal": (("mean", Float(), 0.0), ("stddev", Float(), 0.05)),
        "Constant": (("value", Float(), 0.0),),
        "VarianceScaling": (
            ("scale", Float(), 1.0),
            ("mode", Enum(("fan_in", "fan_out", "fan_avg")), "fan_in"),
            # Keras reads `normal` as truncated_normal
            ("distribution", Enum(("truncated_normal", "untruncated_normal", "uniform", "normal")), "truncated_normal"),
        ),
        "Orthogonal": (("gain", Float(), 1.0),),
    }

    def convert(self, value, span, where):
        if isinstance(value, CallValue):
            return self.called(value)
        name = value.name if isinstance(value, Symbol) else value
        if not isinstance(name, str):
            self.fail(value, span, where)
        if name in INITIALIZERS:
            return name
        if name in self.CALLS:
            return self.called(CallValue(name, (), (), span, span))
        hint = did_you_mean(name, [*INITIALIZERS, *self.CALLS]) or (
            f"choose one of {', '.join(INITIALIZERS)}, or call one of {', '.join(self.CALLS)}"
        )
        raise DlNameError(f"unknown initializer '{name}' for {where}", span, hint)

    def called(self, call: CallValue) -> Initializer:
        if call.callee not in self.CALLS:
            hint = did_you_mean(call.callee, self.CALLS)
            if call.callee in INITIALIZERS:
                hint = f"{call.callee} takes no arguments: write it without parentheses"
            raise DlNameError(f"unknown initializer '{call.callee}'", call.callee_span, hint or self.label)
        for name, _, name_span in call.keyword:
            if name == "seed":
                raise DlArgumentError(
                    f"{call.callee} takes no seed here",
                    name_span,
                    "every initial weight is drawn from the model's seed (`seed =` in train { })",
                )
        signature = [ArgSpec(name, kind, default) for name, kind, default in self.CALLS[call.callee]]
        bound = bind(signature, call, call.callee)
        if call.callee == "VarianceScaling":
            if bound["scale"] <= 0:
                raise DlArgumentError(f"VarianceScaling's scale must be positive, got {bound['scale']!r}", call.span)
            if bound["distribution"] == "normal":
                bound["distribution"] = "truncated_normal"
        return Initializer(call.callee, tuple((spec.name, bound[spec.name]) for spec in signature))


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


def bind(
    signature: Sequence[ArgSpec], call: CallValue, what: str, keras_arguments: Sequence[str] = ()
) -> dict[str, Any]:
    """Match a call's arguments to a signature as Python would, then convert each; defaults fill the rest.
    `keras_arguments`: what Keras' class of the same name takes, so that one the language lacks is said to be
    Keras' (`return_state`), never offered as a different argument (`return_sequences`)."""
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
            if name in keras_arguments:
                raise DlNameError(f"Keras' {what} argument '{name}' is not in the language yet", name_span)
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
