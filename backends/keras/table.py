"""The Keras lowering table and the layer-constructor writer every family's lowerings module shares.

The spec's arguments already carry Keras' names, so most ops lower to their Keras class with those arguments.
Initializer arguments are left out: every program loads the seed's canonical weights (compiler/weights.py) over
whatever Keras drew.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compiler.argkinds import ACTIVATIONS as LANGUAGE_ACTIVATIONS
from compiler.codegen import literal
from compiler.keras_names import REQUIRED as KERAS_REQUIRED
from compiler.ops import REGISTRY
from compiler.values import Regularizer

from ..spine import LoweringTable

INITIALIZER_ARGS = (
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "embeddings_initializer",
    "gamma_initializer",
    "beta_initializer",
    "moving_mean_initializer",
    "moving_variance_initializer",
)
NOT_KERAS_ARGS = (*INITIALIZER_ARGS, "unit_forget_bias")  # unit_forget_bias shapes only the initial bias

OPS = LoweringTable("keras")  # op -> the Keras layer constructor it becomes; Keras is channels-last throughout


@dataclass(frozen=True)
class Lowered:
    """What a lowering returns when a constructor alone does not say it: the arguments the layer is called on
    (None: its input, or the list of a merge's inputs) and the classes of layers.py the program must define."""

    constructor: str
    arguments: str | None = None
    classes: tuple[str, ...] = ()


def regularizer(value: Regularizer) -> str:
    if value.l1 and value.l2:
        return f"keras.regularizers.L1L2(l1={literal(value.l1)}, l2={literal(value.l2)})"
    return f"keras.regularizers.L1({literal(value.l1)})" if value.l1 else f"keras.regularizers.L2({literal(value.l2)})"


# the language's activations by their Keras 3 names (the language took Keras' names)
ACTIVATIONS = {name: name for name in LANGUAGE_ACTIVATIONS}
ACTIVATION_ARGS = ("activation", "recurrent_activation")


def argument(key: str, value: Any) -> str:
    if isinstance(value, Regularizer):
        return regularizer(value)
    return literal(ACTIVATIONS[value] if key in ACTIVATION_ARGS else value)


def layer_call(op: str, args: dict[str, Any], name: str | None) -> str:
    """`keras.layers.<class>(...)` with the spec's arguments, those at their defaults left out unless Keras requires
    them (the language defaults AvgPool2D's pool_size, as MaxPool2D's; Keras' AveragePooling2D requires it)."""
    defaults = {spec.name: spec.default for spec in REGISTRY[op].args}
    required = KERAS_REQUIRED.get(REGISTRY[op].keras_class, ())
    written = [
        f"{key}={argument(key, value)}"
        for key, value in args.items()
        if key not in NOT_KERAS_ARGS and (key in required or not (key in defaults and same(value, defaults[key])))
    ]
    if name is not None:
        written.append(f"name={literal(name)}")
    return f"keras.layers.{REGISTRY[op].keras_class}({', '.join(written)})"


def same(value: Any, default: Any) -> bool:
    return type(value) is type(default) and value == default
