"""One lowering per IR op to Keras 3: the layer constructor to write into the generated program.

The spec's arguments already carry Keras' names, so most ops lower to their Keras class with those
arguments; what differs is said where it differs. Initializer arguments are left out: every program
loads the seed's canonical weights (compiler/weights.py) over whatever Keras drew.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compiler.codegen import literal
from compiler.ir import Node
from compiler.ops import REGISTRY
from compiler.values import Regularizer

INITIALIZER_ARGS = ("kernel_initializer", "recurrent_initializer", "bias_initializer", "embeddings_initializer")
NOT_KERAS_ARGS = (*INITIALIZER_ARGS, "unit_forget_bias")  # unit_forget_bias shapes only the initial bias

Lowering = Callable[[str, str, dict[str, Any]], str]
TABLE: dict[str, Lowering] = {}


def regularizer(value: Regularizer) -> str:
    if value.l1 and value.l2:
        return f"keras.regularizers.L1L2(l1={literal(value.l1)}, l2={literal(value.l2)})"
    return f"keras.regularizers.L1({literal(value.l1)})" if value.l1 else f"keras.regularizers.L2({literal(value.l2)})"


def argument(value: Any) -> str:
    return regularizer(value) if isinstance(value, Regularizer) else literal(value)


def layer_call(keras_class: str, args: dict[str, Any], name: str | None) -> str:
    # A regularizer left at None is Keras' default; writing it out would only add noise.
    written = [
        f"{key}={argument(value)}"
        for key, value in args.items()
        if key not in NOT_KERAS_ARGS and not (key.endswith("_regularizer") and value is None)
    ]
    if name is not None:
        written.append(f"name={literal(name)}")
    return f"keras.layers.{keras_class}({', '.join(written)})"


def lowering(*ops: str):
    def register(function: Lowering) -> Lowering:
        for op in ops:
            TABLE[op] = function
        return function

    return register


@lowering(
    *(
        op
        for op in (
            "Dense", "Activation", "ReLU", "LeakyReLU", "Softmax", "Dropout", "Flatten", "Reshape", "Rescaling",
            "Conv1D", "Conv2D", "MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D",
            "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D",
            "Add", "Multiply", "Average", "Maximum", "Minimum", "Subtract", "Concatenate",
            "BatchNormalization", "LayerNormalization", "Embedding", "SimpleRNN", "LSTM", "GRU",
        )
    )
)  # fmt: skip
def keras_layer(op: str, name: str, args: dict[str, Any]) -> str:
    """The Keras class of the same name, with the spec's arguments as written."""
    return layer_call(REGISTRY[op].keras_class, args, name)


@lowering("Bidirectional")
def bidirectional(op: str, name: str, args: dict[str, Any]) -> str:
    """The wrapped recurrent layer is a nested constructor; Keras names its two copies forward_/backward_."""
    inner, inner_args = args["layer"]
    wrapped = layer_call(REGISTRY[inner].keras_class, inner_args, None)
    return f"keras.layers.Bidirectional({wrapped}, merge_mode={literal(args['merge_mode'])}, name={literal(name)})"


def lower(node: Node) -> str:
    return TABLE[node.op](node.op, node.name, node.args)
