"""One lowering per IR op to Keras 3: the layer constructor to write into the generated program.

The spec's arguments already carry Keras' names, so most ops lower to their Keras class with those
arguments; what differs is said where it differs. Initializer arguments are left out: every program
loads the seed's canonical weights (compiler/weights.py) over whatever Keras drew.
"""

from __future__ import annotations

from typing import Any

from compiler.codegen import literal
from compiler.ops import REGISTRY
from compiler.values import Regularizer

from ..spine import Context, LoweringTable

INITIALIZER_ARGS = ("kernel_initializer", "recurrent_initializer", "bias_initializer", "embeddings_initializer")
NOT_KERAS_ARGS = (*INITIALIZER_ARGS, "unit_forget_bias")  # unit_forget_bias shapes only the initial bias

OPS = LoweringTable("keras")  # op -> the Keras layer constructor it becomes; Keras is channels-last throughout


def regularizer(value: Regularizer) -> str:
    if value.l1 and value.l2:
        return f"keras.regularizers.L1L2(l1={literal(value.l1)}, l2={literal(value.l2)})"
    return f"keras.regularizers.L1({literal(value.l1)})" if value.l1 else f"keras.regularizers.L2({literal(value.l2)})"


# the language's activations by their Keras 3 names (the language took Keras' names)
ACTIVATIONS = {
    name: name for name in ("linear", "relu", "sigmoid", "tanh", "softmax", "gelu", "elu", "selu", "softplus", "swish")
}
ACTIVATION_ARGS = ("activation", "recurrent_activation")


def argument(key: str, value: Any) -> str:
    if isinstance(value, Regularizer):
        return regularizer(value)
    return literal(ACTIVATIONS[value] if key in ACTIVATION_ARGS else value)


def layer_call(op: str, args: dict[str, Any], name: str | None) -> str:
    """`keras.layers.<class>(...)` with the spec's arguments, those at their (Keras') defaults left out."""
    defaults = {spec.name: spec.default for spec in REGISTRY[op].args}
    written = [
        f"{key}={argument(key, value)}"
        for key, value in args.items()
        if key not in NOT_KERAS_ARGS and not (key in defaults and same(value, defaults[key]))
    ]
    if name is not None:
        written.append(f"name={literal(name)}")
    return f"keras.layers.{REGISTRY[op].keras_class}({', '.join(written)})"


def same(value: Any, default: Any) -> bool:
    return type(value) is type(default) and value == default


@OPS.lowering(
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
def keras_layer(ctx: Context) -> str:
    """The Keras class of the same name, with the spec's arguments as written."""
    return layer_call(ctx.node.op, ctx.args, ctx.node.name)


@OPS.lowering("Bidirectional")
def bidirectional(ctx: Context) -> str:
    """The wrapped recurrent layer is a nested constructor; Keras names its two copies forward_/backward_."""
    inner, inner_args = ctx.args["layer"]
    wrapped = layer_call(inner, inner_args, None)
    merge_mode = "" if ctx.args["merge_mode"] == "concat" else f", merge_mode={literal(ctx.args['merge_mode'])}"
    return f"keras.layers.Bidirectional({wrapped}{merge_mode}, name={literal(ctx.node.name)})"
