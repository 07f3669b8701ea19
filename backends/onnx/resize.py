"""Resizing and rearranging layers: up-sampling, zero-padding, cropping, Permute, RepeatVector, Identity.

None has weights. As in the PyTorch backend: padding, cropping, UpSampling1D and Identity work in whichever
layout their input is in, UpSampling2D works channels-first, and Permute reorders a channels-first input straight
into Keras' axis order. Every lowering here works on `?` sizes.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ..spine import FIRST, LAST, permutation
from .builder import OPS, Context

Lowered = tuple[str, str]  # (ONNX name of the output, its layout)
END = np.iinfo(np.int64).max  # a Slice end past the last cell, whatever the size


def _steps_axis(layout: str) -> int:
    return 2 if layout == FIRST else 1


def _resize(ctx: Context, x: str, scales: list[float], mode: str) -> str:
    """Resize with half-pixel coordinates. For `nearest` at an integer factor `s` these are Keras' repeat:
    output cell `k * s + j` reads position `k + (j + 0.5) / s - 0.5`, within 0.5 of `k`, which rounds to `k`."""
    scales_name = ctx.g.initializer(f"{ctx.node.name}/scales", np.asarray(scales, dtype=np.float32))
    attrs = {"nearest_mode": "round_prefer_floor"} if mode == "nearest" else {}
    return ctx.add("Resize", [x, "", scales_name], mode=mode, coordinate_transformation_mode="half_pixel", **attrs)


@OPS.lowering("UpSampling1D", wants=None)
def up_sampling1d(ctx: Context) -> Lowered:
    size = ctx.args["size"]
    if size == 1:
        return ctx.add("Identity", [ctx.x]), ctx.layout
    scales = [1.0, 1.0, 1.0]
    scales[_steps_axis(ctx.layout)] = float(size)
    return _resize(ctx, ctx.x, scales, "nearest"), ctx.layout


def _power_of_two(n: int) -> bool:
    return n & (n - 1) == 0


@OPS.lowering("UpSampling2D", wants=FIRST)
def up_sampling2d(ctx: Context) -> Lowered:
    """nearest: Resize (exact, see `_resize`). bilinear: TensorFlow's half-pixel resize; ONNX Runtime's linear
    Resize computes it alike when every factor is a power of two (the source positions are then exact), other
    factors are written out with TensorFlow's float32 positions (Resize was 1.2e-4 off on 100 rows scaled by 3)."""
    rows, cols = ctx.args["size"]
    if (rows, cols) == (1, 1):
        return ctx.add("Identity", [ctx.x]), FIRST
    if ctx.args["interpolation"] == "nearest":
        return _resize(ctx, ctx.x, [1.0, 1.0, float(rows), float(cols)], "nearest"), FIRST
    if _power_of_two(rows) and _power_of_two(cols):
        return _resize(ctx, ctx.x, [1.0, 1.0, float(rows), float(cols)], "linear"), FIRST
    y = ctx.x
    for axis, factor in ((3, cols), (2, rows)):  # columns first, then rows, as TensorFlow
        if factor != 1:
            y = _bilinear_axis(ctx, y, axis, factor)
    return y, FIRST


def _bilinear_axis(ctx: Context, x: str, axis: int, factor: int) -> str:
    """One axis of TensorFlow's bilinear resize: output cell `o` of `n * factor` reads source position
    `(o + 0.5) * (n / (n * factor)) - 0.5` (float32), between its neighbours `max(floor, 0)` and `min(ceil, n - 1)`."""
    g, FLOAT, INT64 = ctx.g, TensorProto.FLOAT, TensorProto.INT64
    size = ctx.add("Shape", [x], start=axis, end=axis + 1)
    n = ctx.add("Cast", [size], to=FLOAT)
    out = ctx.add("Cast", [ctx.add("Mul", [size, ctx.ints([factor])])], to=FLOAT)
    scale = ctx.add("Div", [n, out])  # float32(n) / float32(n * factor), as TensorFlow
    cells = ctx.add("Range", [g.scalar(0.0), ctx.add("Squeeze", [out]), g.scalar(1.0)])
    position = ctx.add("Sub", [ctx.add("Mul", [ctx.add("Add", [cells, g.scalar(0.5)]), scale]), g.scalar(0.5)])
    floor = ctx.add("Floor", [position])
    last = ctx.add("Sub", [n, g.scalar(1.0)])
    lower = ctx.add("Cast", [ctx.add("Max", [floor, g.scalar(0.0)])], to=INT64)
    upper = ctx.add("Cast", [ctx.add("Min", [ctx.add("Ceil", [position]), last])], to=INT64)
    weight = ctx.add("Sub", [position, floor])
    if axis == 2:  # rows: one weight per row, broadcast over the columns
        weight = ctx.add("Unsqueeze", [weight, ctx.ints([1])])
    low = ctx.add("Gather", [x, lower], axis=axis)
    high = ctx.add("Gather", [x, upper], axis=axis)
    return ctx.add("Add", [low, ctx.add("Mul", [ctx.add("Sub", [high, low]), weight])])


def _pairs(ctx: Context, name: str) -> list[tuple[int, int]]:
    """(before, after) for each dim after the batch, in the input's layout."""
    value = ctx.args[name]
    pairs = [value] if ctx.node.op.endswith("1D") else list(value)
    return [*pairs, (0, 0)] if ctx.layout == LAST else [(0, 0), *pairs]


@OPS.lowering("ZeroPadding1D", "ZeroPadding2D", wants=None)
def zero_padding(ctx: Context) -> Lowered:
    pairs = [(0, 0), *_pairs(ctx, "padding")]
    pads = [before for before, _ in pairs] + [after for _, after in pairs]
    return ctx.add("Pad", [ctx.x, ctx.ints(pads)], mode="constant"), ctx.layout


@OPS.lowering("Cropping1D", "Cropping2D", wants=None)
def cropping(ctx: Context) -> Lowered:
    cropped = [
        (axis, before, after) for axis, (before, after) in enumerate(_pairs(ctx, "cropping"), 1) if before or after
    ]
    if not cropped:
        return ctx.add("Identity", [ctx.x]), ctx.layout
    starts = [before for _, before, _ in cropped]
    ends = [-after if after else END for _, _, after in cropped]
    axes = [axis for axis, _, _ in cropped]
    return ctx.add("Slice", [ctx.x, ctx.ints(starts), ctx.ints(ends), ctx.ints(axes)]), ctx.layout


@OPS.lowering("Permute", wants=None)
def permute(ctx: Context) -> Lowered:
    """Keras' axis order straight from the input's layout: a channels-first input is transposed once."""
    rank = len(ctx.in_shape) + 1
    held = permutation(rank, FIRST) if ctx.layout == FIRST else tuple(range(rank))  # dim k holds Keras' axis held[k]
    order = [0, *(held.index(axis) for axis in ctx.args["dims"])]
    return ctx.add("Transpose", [ctx.x], perm=order), LAST


@OPS.lowering("RepeatVector")
def repeat_vector(ctx: Context) -> Lowered:
    column = ctx.add("Unsqueeze", [ctx.x, ctx.ints([1])])  # [batch, 1, d]
    return ctx.add("Expand", [column, ctx.ints([1, ctx.args["n"], 1])]), LAST


@OPS.lowering("Identity", wants=None)
def identity(ctx: Context) -> Lowered:
    return ctx.add("Identity", [ctx.x]), ctx.layout
