"""One lowering per IR op to ONNX nodes, in the spine's table shape (`OPS`, filled by `@OPS.lowering`).

A lowering returns the ONNX name of its output and the layout that output is in. Weights arrive in
Keras' canonical layouts and are converted here, once, into ONNX initializers.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from compiler.ops.conv import same_padding

from ..spine import FIRST, LAST
from . import attention, conv_variants, recurrent, resize  # noqa: F401  (each registers its family's lowerings)
from .activations import activate
from .builder import OPS, Context

Lowered = tuple[str, str]  # (ONNX name of the output, its layout)


def channel_axis(layout: str) -> int:
    return 1 if layout == FIRST else -1


def with_activation(ctx: Context, y: str, layout: str) -> Lowered:
    """The layer's own `activation=` argument, applied on its output."""
    return activate(ctx.g, ctx.args["activation"], y, ctx.node.name, channel_axis(layout)), layout


# ---------------------------------------------------------------- core


@OPS.lowering("Dense")
def dense(ctx: Context) -> Lowered:
    y = ctx.add("MatMul", [ctx.x, ctx.param("kernel")])  # kernel [in, out] as is: MatMul acts on the last axis
    if ctx.args["use_bias"]:
        y = ctx.add("Add", [y, ctx.param("bias")])
    return with_activation(ctx, y, LAST)


@OPS.lowering("Activation", wants=None)
def activation_layer(ctx: Context) -> Lowered:
    y = activate(ctx.g, ctx.args["activation"], ctx.x, ctx.node.name, channel_axis(ctx.layout))
    return (y if y != ctx.x else ctx.add("Identity", [ctx.x])), ctx.layout


@OPS.lowering("ReLU", wants=None)
def relu(ctx: Context) -> Lowered:
    x, g = ctx.x, ctx.g
    slope, threshold, max_value = ctx.args["negative_slope"], ctx.args["threshold"], ctx.args["max_value"]
    if slope == 0 and threshold == 0:
        y = ctx.add("Relu", [x])
    else:  # Keras: x where x >= threshold, else negative_slope * (x - threshold)
        below = ctx.add("Mul", [ctx.add("Sub", [x, g.scalar(threshold)]), g.scalar(slope)])
        y = ctx.add("Where", [ctx.add("GreaterOrEqual", [x, g.scalar(threshold)]), x, below])
    if max_value is not None:
        y = ctx.add("Min", [y, g.scalar(max_value)])
    return y, ctx.layout


@OPS.lowering("LeakyReLU", wants=None)
def leaky_relu(ctx: Context) -> Lowered:
    return ctx.add("LeakyRelu", [ctx.x], alpha=float(ctx.args["negative_slope"])), ctx.layout


@OPS.lowering("Softmax")
def softmax(ctx: Context) -> Lowered:
    return ctx.add("Softmax", [ctx.x], axis=ctx.args["axis"]), LAST  # a Keras axis counts the batch, as ONNX does


@OPS.lowering("Dropout", wants=None)
def dropout(ctx: Context) -> Lowered:
    return ctx.add("Identity", [ctx.x]), ctx.layout  # inference: dropout is the identity


@OPS.lowering("Flatten")
def flatten(ctx: Context) -> Lowered:
    return ctx.add("Flatten", [ctx.x], axis=1), LAST  # channels-last first, as Keras flattens (h, w, c)


@OPS.lowering("Reshape")
def reshape(ctx: Context) -> Lowered:
    return ctx.add("Reshape", [ctx.x, ctx.ints([-1, *ctx.node.output.shape])]), LAST


@OPS.lowering("Rescaling", wants=None)
def rescaling(ctx: Context) -> Lowered:
    y = ctx.add("Mul", [ctx.x, ctx.g.scalar(ctx.args["scale"])])
    if ctx.args["offset"]:
        y = ctx.add("Add", [y, ctx.g.scalar(ctx.args["offset"])])
    return y, ctx.layout


# ---------------------------------------------------------------- convolution and pooling


def window_attrs(ctx: Context, kernels, strides, dilations) -> dict:
    """strides, dilations and Keras' padding: explicit pads when the sizes are known, else SAME_UPPER."""
    attrs = {"kernel_shape": list(kernels), "strides": list(strides)}
    if ctx.args["padding"] != "same":
        return attrs
    sizes = ctx.in_shape[:-1]
    if any(n is None for n in sizes):
        # ONNX's SAME_UPPER is Keras' rule (odd cell at the end), computed by the runtime for any length
        return attrs | {"auto_pad": "SAME_UPPER"}
    pads = [same_padding(n, k, s, d) for n, k, s, d in zip(sizes, kernels, strides, dilations, strict=True)]
    return attrs | {"pads": [before for before, _ in pads] + [after for _, after in pads]}


def pad_same_at_run_time(ctx: Context, kernels, strides, dilations) -> str:
    """Zero-pad a channels-first input as Keras' `same` does, from its run-time sizes.

    Only for dilated convolutions over a `?` size: ONNX Runtime refuses SAME_UPPER with dilation.
    """
    sizes = ctx.add("Shape", [ctx.x], start=2)
    strides_, effective = (
        ctx.ints(strides),
        ctx.ints([d * (k - 1) + 1 for k, d in zip(kernels, dilations, strict=True)]),
    )
    one, zero, two = ctx.ints([1]), ctx.ints([0]), ctx.ints([2])
    out = ctx.add("Div", [ctx.add("Sub", [ctx.add("Add", [sizes, strides_]), one]), strides_])  # ceil(n / s)
    span = ctx.add("Add", [ctx.add("Mul", [ctx.add("Sub", [out, one]), strides_]), effective])
    total = ctx.add("Max", [ctx.add("Sub", [span, sizes]), zero])
    before = ctx.add("Div", [total, two])
    after = ctx.add("Sub", [total, before])
    no_pad = ctx.ints([0, 0])
    pads = ctx.add("Concat", [no_pad, before, no_pad, after], axis=0)
    return ctx.add("Pad", [ctx.x, pads])


@OPS.lowering("Conv1D", "Conv2D", wants=FIRST)
def conv(ctx: Context) -> Lowered:
    kernels, strides, dilations = ctx.args["kernel_size"], ctx.args["strides"], ctx.args["dilation_rate"]
    spatial = len(kernels)
    # Keras [k..., in, out] -> ONNX [out, in, k...]
    kernel = ctx.weight("kernel").transpose(spatial + 1, spatial, *range(spatial))
    x = ctx.x
    attrs = window_attrs(ctx, kernels, strides, dilations)
    if attrs.get("auto_pad") and max(dilations) > 1:
        x = pad_same_at_run_time(ctx, kernels, strides, dilations)
        del attrs["auto_pad"]
    inputs = [x, ctx.param("kernel", kernel)]
    if ctx.args["use_bias"]:
        inputs.append(ctx.param("bias"))
    y = ctx.add("Conv", inputs, dilations=list(dilations), **attrs)
    return with_activation(ctx, y, FIRST)


@OPS.lowering("MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D", wants=FIRST)
def pool(ctx: Context) -> Lowered:
    kernels = ctx.args["pool_size"]
    strides = ctx.args["strides"] or kernels
    attrs = window_attrs(ctx, kernels, strides, (1,) * len(kernels))
    if ctx.node.op.startswith("Max"):
        return ctx.add("MaxPool", [ctx.x], **attrs), FIRST  # padded cells never win, like Keras' -inf padding
    return ctx.add("AveragePool", [ctx.x], count_include_pad=0, **attrs), FIRST  # Keras skips padded cells


@OPS.lowering("GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D", wants=None)
def global_pool(ctx: Context) -> Lowered:
    spatial = len(ctx.in_shape) - 1
    axes = list(range(2, 2 + spatial)) if ctx.layout == FIRST else list(range(1, 1 + spatial))
    op = "ReduceMean" if "Avg" in ctx.node.op else "ReduceMax"
    keep = ctx.args["keepdims"]
    y = ctx.g.reduce(op, ctx.x, axes, keep, ctx.node.name)
    return y, (ctx.layout if keep else LAST)


# ---------------------------------------------------------------- normalization and embedding


def scale_and_center(ctx: Context) -> tuple[str, str]:
    """gamma and beta, or ones and zeros standing in for the ones `scale=false` / `center=false` leave out."""
    channels = ctx.in_shape[-1]
    gamma = (
        ctx.param("gamma")
        if ctx.args["scale"]
        else ctx.g.initializer(f"{ctx.node.name}.ones", np.ones(channels, np.float32))
    )
    beta = (
        ctx.param("beta")
        if ctx.args["center"]
        else ctx.g.initializer(f"{ctx.node.name}.zeros", np.zeros(channels, np.float32))
    )
    return gamma, beta


@OPS.lowering("BatchNormalization", wants=FIRST)
def batch_norm(ctx: Context) -> Lowered:
    gamma, beta = scale_and_center(ctx)
    inputs = [ctx.x, gamma, beta, ctx.param("moving_mean"), ctx.param("moving_variance")]
    # ONNX normalises axis 1: the channels in `first`, and in `last` too when a sample is a vector.
    # epsilon must be given: ONNX's default (1e-5) is not Keras' (1e-3).
    return ctx.add("BatchNormalization", inputs, epsilon=float(ctx.args["epsilon"])), ctx.layout


@OPS.lowering("LayerNormalization")
def layer_norm(ctx: Context) -> Lowered:
    gamma, beta = scale_and_center(ctx)
    y = ctx.add("LayerNormalization", [ctx.x, gamma, beta], axis=-1, epsilon=float(ctx.args["epsilon"]))
    return y, LAST


@OPS.lowering("Embedding")
def embedding(ctx: Context) -> Lowered:
    ids = ctx.x
    if ctx.node.inputs[0].dtype.startswith("f"):  # float ids: Keras casts them to integers, truncating (2.7 is 2)
        ids = ctx.add("Cast", [ids], to=TensorProto.INT64)
    return ctx.add("Gather", [ctx.param("embeddings"), ids], axis=0), LAST


# ---------------------------------------------------------------- merges


@OPS.lowering("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", wants=None)
def elementwise(ctx: Context) -> Lowered:
    xs, op = ctx.inputs, ctx.node.op
    if op == "Subtract":
        return ctx.add("Sub", xs), ctx.layout
    if op in ("Maximum", "Minimum"):
        return ctx.add("Max" if op == "Maximum" else "Min", xs), ctx.layout
    binary = "Mul" if op == "Multiply" else "Add"
    y = xs[0]
    for other in xs[1:]:  # left to right, as Keras sums
        y = ctx.add(binary, [y, other])
    if op == "Average":
        y = ctx.add("Div", [y, ctx.g.scalar(float(len(xs)))])
    return y, ctx.layout


@OPS.lowering("Concatenate")
def concatenate(ctx: Context) -> Lowered:
    return ctx.add("Concat", ctx.inputs, axis=ctx.args["axis"]), LAST
