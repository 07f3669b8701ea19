"""One lowering per IR op to Keras 3: the layer constructor to write into the generated program (the table
and the constructor writer are in table.py); what differs from the Keras class of the same name is said where
it differs. The families added since version 1 have their own modules, imported here so that importing this
module fills the table.
"""

from __future__ import annotations

from compiler.codegen import literal

from ..spine import Context
from . import attention, conv_variants, resize  # noqa: F401  (each registers its family's lowerings)
from .table import ACTIVATIONS, OPS, layer_call, same

__all__ = ["ACTIVATIONS", "OPS", "same"]


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
