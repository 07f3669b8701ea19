"""Transposed, separable and depthwise convolutions (LANGUAGE.md, "Version 2 additions"): each is the Keras class
of the same name with the spec's arguments. Like every initializer argument, `depthwise_initializer` and
`pointwise_initializer` are left out: the program loads the seed's canonical weights over whatever Keras drew."""

from __future__ import annotations

from ..spine import Context
from .table import OPS, layer_call


@OPS.lowering(
    "Conv1DTranspose", "Conv2DTranspose", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D"
)
def keras_layer(ctx: Context) -> str:
    args = {key: value for key, value in ctx.args.items() if not key.endswith("_initializer")}
    return layer_call(ctx.node.op, args, ctx.node.name)
