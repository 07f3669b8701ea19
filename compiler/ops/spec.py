"""What an op is: its types, its spec, the registry it joins, and the checks shape rules share."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..argkinds import ArgSpec
from ..values import Regularizer

Shape = tuple[int | None, ...]  # one sample's shape; None is a `?` dimension
FLOAT_DTYPES = ("f16", "f32", "f64")
INT_DTYPES = ("i32", "i64")


@dataclass(frozen=True, slots=True)
class TensorType:
    dtype: str
    shape: Shape


class ShapeProblem(Exception):
    """Raised by a shape rule; the elaborator adds the layer, its input shape and the span."""


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One weight tensor under its canonical name (`kernel`, `forward.bias`, ...)."""

    name: str
    shape: tuple[int, ...]
    trainable: bool = True
    initializer: str = "zeros"  # a name, or a call (compiler.values.Initializer, itself a str)
    regularizer: Regularizer | None = None
    unit_forget_bias: bool = False  # LSTM: the forget gate's bias block starts at one

    @property
    def size(self) -> int:
        return math.prod(self.shape)


InferRule = Callable[[Sequence[TensorType], dict[str, Any]], TensorType]
ParamRule = Callable[[Sequence[TensorType], dict[str, Any]], list[ParamSpec]]


def no_params(inputs: Sequence[TensorType], args: dict[str, Any]) -> list[ParamSpec]:
    return []


@dataclass(frozen=True)
class OpSpec:
    """A layer type. `arity` is (min, max) inputs; max None means any number."""

    name: str
    family: str
    args: tuple[ArgSpec, ...]
    infer: InferRule
    params: ParamRule = no_params
    keras_class: str = ""
    arity: tuple[int, int | None] = (1, 1)
    doc: str = ""
    # keyword arguments that name other tensors by label (MultiHeadAttention's value= and key=): each becomes
    # one more input after the current stream, in this order, standing in for the one before it when absent
    label_args: tuple[str, ...] = ()
    # automatic names of the layers Keras creates inside this one when it is built, in that order: they use up
    # Keras' name counters (after a MultiHeadAttention, Keras' next Dropout is `dropout_1`)
    inner_layers: tuple[str, ...] = ()
    arg_names: tuple[str, ...] = field(init=False)
    default_name: str = field(init=False)  # Keras' automatic layer name: `conv2d`, `max_pooling2d`, `re_lu`

    def __post_init__(self):
        object.__setattr__(self, "arg_names", tuple(a.name for a in self.args))
        if not self.keras_class:
            object.__setattr__(self, "keras_class", self.name)
        object.__setattr__(self, "default_name", keras_snake_case(self.keras_class))

    @property
    def is_merge(self) -> bool:
        return self.arity != (1, 1)

    def output_activation(self, args: dict[str, Any]) -> str | None:
        """The activation applied to the layer's output, as `activation=` means on Dense and Conv.

        A recurrent layer's `activation` works inside its cell and is not applied again to what it returns;
        Softmax is its own activation.
        """
        if self.name == "Softmax":
            return "softmax"
        if self.family == "recurrent" or self.name == "Activation":
            return args.get("activation") if self.name == "Activation" else None
        activation = args.get("activation")
        return activation if activation and activation != "linear" else None


def keras_snake_case(name: str) -> str:
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


REGISTRY: dict[str, OpSpec] = {}
# Keras' class name -> the op, where they differ (`MaxPooling2D` -> `MaxPool2D`): both name the op in a spec
ALIASES: dict[str, str] = {}


def register(*specs: OpSpec) -> None:
    for spec in specs:
        if spec.name in REGISTRY or spec.name in ALIASES:
            raise ValueError(f"op {spec.name} registered twice")
        REGISTRY[spec.name] = spec
        if spec.keras_class != spec.name:
            if spec.keras_class in REGISTRY or spec.keras_class in ALIASES:
                raise ValueError(f"Keras class {spec.keras_class} of op {spec.name} names another op")
            ALIASES[spec.keras_class] = spec.name


def lookup(name: str) -> OpSpec | None:
    """The op a spec names, by the language's name or by Keras' class name; None for neither."""
    return REGISTRY.get(ALIASES.get(name, name))


def require_float(inputs: Sequence[TensorType], layer: str) -> str:
    dtype = inputs[0].dtype
    if dtype not in FLOAT_DTYPES:
        raise ShapeProblem(f"{layer} needs a float input, got {dtype} (token ids go through an Embedding first)")
    return dtype


def require_rank(shape: Shape, ranks: Sequence[int], what: str) -> None:
    if len(shape) not in ranks:
        wanted = " or ".join(str(r) for r in ranks)
        raise ShapeProblem(f"needs {what} (rank {wanted} per sample), got rank {len(shape)}")


def require_known(shape: Shape, what: str) -> None:
    if any(d is None for d in shape):
        raise ShapeProblem(f"needs every dimension known to {what}; '?' is not allowed here")


def sample_axis(axis: int, rank: int) -> int:
    """A Keras axis (batch is axis 0, -1 the last) as an index into one sample's shape."""
    index = axis - 1 if axis > 0 else rank + axis
    if not 0 <= index < rank:
        raise ShapeProblem(f"axis {axis} is out of range for rank {rank} per sample (axis 0 is the batch)")
    return index
