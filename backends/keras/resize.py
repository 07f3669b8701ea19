"""Resizing and rearranging layers: up-sampling, zero-padding, cropping, Permute, RepeatVector, Identity.

Each is the Keras class of the same name with the spec's arguments (`data_format` is always Keras' default,
channels_last, and so never written).
"""

from __future__ import annotations

from ..spine import Context
from .table import OPS, layer_call


@OPS.lowering(
    "UpSampling1D",
    "UpSampling2D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "Cropping1D",
    "Cropping2D",
    "Permute",
    "RepeatVector",
    "Identity",
)
def keras_layer(ctx: Context) -> str:
    return layer_call(ctx.node.op, ctx.args, ctx.node.name)
