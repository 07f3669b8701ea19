"""Transposed, separable and depthwise convolutions (LANGUAGE.md, "Version 2 additions"), channels-first.

- Transposed: `ConvTranspose`, weight `[in, filters, k...]`; Keras' crop of the full result is explicit `pads`
  (begin, end: ONNX crops each side on its own) and, where Keras' output is longer than the full result,
  `output_padding` at the end. Both are independent of the input length (compiler/ops/conv_variants.py).
- Depthwise: `Conv` with `group=in`, weight `[in * m, 1, k...]` (output channel `c * m + j` from input `c`).
- Separable: that depthwise `Conv` without bias, then a 1x1 `Conv` with the pointwise kernel and the bias.
"""

from __future__ import annotations

from compiler.ops.conv import same_padding
from compiler.ops.conv_variants import transpose_crops

from ..spine import FIRST
from .activations import activate
from .builder import OPS, Context

Lowered = tuple[str, str]  # (ONNX name of the output, its layout)


def activated(ctx: Context, y: str) -> Lowered:
    return activate(ctx.g, ctx.args["activation"], y, ctx.node.name, 1), FIRST


@OPS.lowering("Conv1DTranspose", "Conv2DTranspose", wants=FIRST)
def conv_transpose(ctx: Context) -> Lowered:
    kernels, strides, dilations = ctx.args["kernel_size"], ctx.args["strides"], ctx.args["dilation_rate"]
    spatial = len(kernels)
    crops = transpose_crops(ctx.args)
    attrs = {
        "kernel_shape": list(kernels),
        "strides": list(strides),
        "dilations": list(dilations),
        "pads": [before for before, _ in crops] + [max(after, 0) for _, after in crops],
    }
    if any(after < 0 for _, after in crops):
        attrs["output_padding"] = [max(-after, 0) for _, after in crops]
    # Keras [k..., filters, in] -> ONNX [in, filters, k...]
    kernel = ctx.weight("kernel").transpose(spatial + 1, spatial, *range(spatial))
    inputs = [ctx.x, ctx.param("kernel", kernel)]
    if ctx.args["use_bias"]:
        inputs.append(ctx.param("bias"))
    return activated(ctx, ctx.add("ConvTranspose", inputs, **attrs))


def pad_same_at_run_time(ctx: Context, kernels, strides, dilations) -> str:
    """Zero-pad a channels-first input as Keras' `same` does, from its run-time sizes: for a dilated window over
    a `?` size, where ONNX Runtime refuses SAME_UPPER."""
    sizes = ctx.add("Shape", [ctx.x], start=2)
    strides_ = ctx.ints(strides)
    effective = ctx.ints([d * (k - 1) + 1 for k, d in zip(kernels, dilations, strict=True)])
    one, zero, two = ctx.ints([1]), ctx.ints([0]), ctx.ints([2])
    out = ctx.add("Div", [ctx.add("Sub", [ctx.add("Add", [sizes, strides_]), one]), strides_])  # ceil(n / s)
    span = ctx.add("Add", [ctx.add("Mul", [ctx.add("Sub", [out, one]), strides_]), effective])
    total = ctx.add("Max", [ctx.add("Sub", [span, sizes]), zero])
    before = ctx.add("Div", [total, two])
    after = ctx.add("Sub", [total, before])
    no_pad = ctx.ints([0, 0])
    return ctx.add("Pad", [ctx.x, ctx.add("Concat", [no_pad, before, no_pad, after], axis=0)])


def depthwise(ctx: Context, kernel_name: str, bias: str | None) -> str:
    """The depthwise window as a grouped `Conv`, with Keras' padding; the kernel `[k..., in, m]`."""
    kernels, strides, dilations = ctx.args["kernel_size"], ctx.args["strides"], ctx.args["dilation_rate"]
    spatial, channels = len(kernels), ctx.in_shape[-1]
    kernel = ctx.weight(kernel_name).transpose(spatial, spatial + 1, *range(spatial))  # [in, m, k...]
    x = ctx.x
    attrs = {"kernel_shape": list(kernels), "strides": list(strides), "dilations": list(dilations), "group": channels}
    if ctx.args["padding"] == "same":
        sizes = ctx.in_shape[:-1]
        if max(strides) == 1:  # at stride 1 the padding is the same for every size
            sizes = tuple(1 for _ in sizes)
        if all(n is not None for n in sizes):
            pads = [same_padding(n, k, s, d) for n, k, s, d in zip(sizes, kernels, strides, dilations, strict=True)]
            attrs["pads"] = [before for before, _ in pads] + [after for _, after in pads]
        elif max(dilations) == 1:
            attrs["auto_pad"] = "SAME_UPPER"  # Keras' rule (the odd cell at the end), for any length
        else:
            x = pad_same_at_run_time(ctx, kernels, strides, dilations)
    inputs = [x, ctx.param(kernel_name, kernel.reshape(-1, 1, *kernels))] + ([bias] if bias else [])
    return ctx.add("Conv", inputs, **attrs)


@OPS.lowering("DepthwiseConv1D", "DepthwiseConv2D", wants=FIRST)
def depthwise_conv(ctx: Context) -> Lowered:
    bias = ctx.param("bias") if ctx.args["use_bias"] else None
    return activated(ctx, depthwise(ctx, "kernel", bias))


@OPS.lowering("SeparableConv1D", "SeparableConv2D", wants=FIRST)
def separable_conv(ctx: Context) -> Lowered:
    spatial = len(ctx.args["kernel_size"])
    y = depthwise(ctx, "depthwise_kernel", None)
    # Keras [1..., in * m, filters] -> ONNX [filters, in * m, 1...]
    pointwise = ctx.weight("pointwise_kernel").transpose(spatial + 1, spatial, *range(spatial))
    inputs = [y, ctx.param("pointwise_kernel", pointwise)]
    if ctx.args["use_bias"]:
        inputs.append(ctx.param("bias"))
    return activated(ctx, ctx.add("Conv", inputs, kernel_shape=[1] * spatial))
