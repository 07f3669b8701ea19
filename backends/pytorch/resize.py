"""Resizing and rearranging layers: up-sampling, zero-padding, cropping, Permute, RepeatVector, Identity.

None has weights. Padding, cropping, UpSampling1D and Identity work in whichever layout their input is in, so a
conv stack stays channels-first through them; UpSampling2D works channels-first, beside the convolutions it
sits between; Permute reorders a channels-first input straight into Keras' axis order.
"""

from __future__ import annotations

from compiler.codegen import literal

from ..spine import FIRST, LAST, permutation
from .table import OPS, Context, Lowered, pad_call


def _steps_dim(layout: str) -> int:
    """The first spatial dim of a tensor in `layout` (batch is dim 0)."""
    return 2 if layout == FIRST else 1


def _repeat(x: str, factors, first_dim: int) -> str:
    for dim, factor in enumerate(factors, start=first_dim):
        if factor != 1:
            x = f"{x}.repeat_interleave({factor}, dim={dim})"
    return x


def _power_of_two(n: int) -> bool:
    return n & (n - 1) == 0


@OPS.lowering("UpSampling1D", wants=None)
def up_sampling1d(ctx: Context) -> Lowered:
    return Lowered(_repeat(ctx.x, (ctx.args["size"],), _steps_dim(ctx.layout)), ctx.layout)


@OPS.lowering("UpSampling2D", wants=FIRST)
def up_sampling2d(ctx: Context) -> Lowered:
    """nearest: each pixel repeated, as Keras' `ops.repeat`. bilinear: TensorFlow's half-pixel resize, which
    F.interpolate(align_corners=False) computes alike when every factor is a power of two (the source positions
    are then exact in float32); other factors go through `resize_bilinear`, TensorFlow's own rounding."""
    x, factors = ctx.x, ctx.args["size"]
    if ctx.args["interpolation"] == "nearest" or factors == (1, 1):
        return Lowered(_repeat(x, factors, 2), FIRST)
    if all(_power_of_two(f) for f in factors):
        expr = f'F.interpolate({x}, scale_factor={literal(factors)}, mode="bilinear", align_corners=False)'
        return Lowered(expr, FIRST)
    return Lowered(f"resize_bilinear({x}, {literal(factors)})", FIRST, pieces=("resize_bilinear",))


def _spatial_pairs(ctx: Context, pairs) -> list[tuple[int, int]]:
    """(before, after) for each dim after the batch, in the input's layout."""
    return [*pairs, (0, 0)] if ctx.layout == LAST else [(0, 0), *pairs]


@OPS.lowering("ZeroPadding1D", "ZeroPadding2D", wants=None)
def zero_padding(ctx: Context) -> Lowered:
    padding = ctx.args["padding"]
    pairs = [padding] if ctx.node.op == "ZeroPadding1D" else list(padding)
    if not any(before or after for before, after in pairs):
        return Lowered(ctx.x, ctx.layout)
    pads = _spatial_pairs(ctx, pairs)
    while pads[0] == (0, 0):  # F.pad pads the last dims; only those from the first padded one are listed
        pads.pop(0)
    return Lowered(pad_call(ctx.x, pads), ctx.layout)


def _slice(before: int, after: int) -> str:
    return f"{before or ''}:{f'-{after}' if after else ''}"


@OPS.lowering("Cropping1D", "Cropping2D", wants=None)
def cropping(ctx: Context) -> Lowered:
    cropping = ctx.args["cropping"]
    pairs = [cropping] if ctx.node.op == "Cropping1D" else list(cropping)
    slices = [":", *(_slice(*pair) for pair in _spatial_pairs(ctx, pairs))]
    while slices[-1] == ":" and len(slices) > 1:
        slices.pop()
    if len(slices) == 1:
        return Lowered(ctx.x, ctx.layout)
    return Lowered(f"{ctx.x}[{', '.join(slices)}]", ctx.layout)


@OPS.lowering("Permute", wants=None)
def permute(ctx: Context) -> Lowered:
    """Keras' axis order straight from the input's layout: a channels-first input is reordered once."""
    rank = len(ctx.in_shape) + 1
    held = permutation(rank, FIRST) if ctx.layout == FIRST else tuple(range(rank))  # dim k holds Keras' axis held[k]
    order = (0, *(held.index(axis) for axis in ctx.args["dims"]))
    if order == tuple(range(rank)):
        return Lowered(ctx.x, LAST)
    return Lowered(f"{ctx.x}.permute{literal(order)}", LAST)


@OPS.lowering("RepeatVector")
def repeat_vector(ctx: Context) -> Lowered:
    return Lowered(f"{ctx.x}.unsqueeze(1).repeat(1, {ctx.args['n']}, 1)", LAST)


@OPS.lowering("Identity", wants=None)
def identity(ctx: Context) -> Lowered:
    return Lowered(ctx.x, ctx.layout)
