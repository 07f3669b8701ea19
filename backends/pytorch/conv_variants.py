"""Transposed, separable and depthwise convolutions (LANGUAGE.md, "Version 2 additions").

- Transposed: `nn.ConvTranspose1d/2d`, whose weight `[in, filters, k...]` is Keras' `[k..., filters, in]` under
  the same permutation as a convolution's. Keras' output is the full transposed result cropped by `before` cells
  at the start and `after` at the end (compiler/ops/conv_variants.py): torch's `padding` crops `before` at both
  ends and `output_padding` gives back `before - after` at the end; where `after` exceeds `before` (`same`, an
  odd crop) the one extra cell is sliced off. Neither depends on the input length.
- Depthwise: torch's grouped convolution (`groups=in`), output channel `c * m + j` from input channel `c` as in
  Keras. With `depth_multiplier=1` it is a plain `nn.Conv1d/2d`; otherwise `DepthwiseConv` (runtime.py) keeps the
  weight as `[in, m, k...]`, since torch's `[in * m, 1, k...]` cannot be converted back to Keras' `[k..., in, m]`.
- Separable: the depthwise convolution without bias, then a 1x1 `nn.Conv1d/2d` with the bias, in an
  `nn.ModuleDict` (named parts: a weight's path is also its attribute path, as the regularization terms use it).
"""

from __future__ import annotations

from compiler.codegen import literal
from compiler.ops.conv import same_padding
from compiler.ops.conv_variants import transpose_crops

from ..spine import FIRST
from .table import OPS, Context, Lowered, pad_call, same_paddings


def options(settings) -> list[str]:
    """`name=value` for each (name, value, torch's default) whose value is not the default."""
    return [f"{name}={literal(value)}" for name, value, default in settings if value != default]


@OPS.lowering("Conv1DTranspose", "Conv2DTranspose", wants=FIRST)
def conv_transpose(ctx: Context) -> Lowered:
    kernels, strides, dilations = ctx.args["kernel_size"], ctx.args["strides"], ctx.args["dilation_rate"]
    spatial = len(kernels)
    crops = transpose_crops(ctx.args)
    ones, zeros = (1,) * spatial, (0,) * spatial
    padding = tuple(before for before, _ in crops)
    output_padding = tuple(max(before - after, 0) for before, after in crops)
    trims = [after - before > 0 for before, after in crops]  # one cell more to crop at the end than at the start
    settings = options(
        [
            ("stride", strides, ones),
            ("padding", padding, zeros),
            ("output_padding", output_padding, zeros),
            ("dilation", dilations, ones),
        ]
    ) + ([] if ctx.args["use_bias"] else ["bias=False"])
    channels, filters = ctx.in_shape[-1], ctx.args["filters"]
    module = f"nn.ConvTranspose{spatial}d({', '.join([str(channels), str(filters), literal(kernels), *settings])})"
    expr = f"self.{ctx.attr}({ctx.inputs[0]})"
    if any(trims):
        index = [":", ":", *(":-1" if trim else ":" for trim in trims)]
        while index[-1] == ":":
            index.pop()
        expr += f"[{', '.join(index)}]"
    weights = [("kernel", "weight", f"conv{spatial}d"), ("bias", "bias", "same")][: 1 + ctx.args["use_bias"]]
    return Lowered(expr, FIRST, module, weights)


def windowed(ctx: Context) -> tuple[str, tuple, tuple[str, ...]]:
    """The input, padded as Keras' `same` needs when torch's symmetric `padding` cannot say it, the padding
    for the convolution itself, and the runtime pieces used."""
    kernels, strides, dilations = ctx.args["kernel_size"], ctx.args["strides"], ctx.args["dilation_rate"]
    x, zeros = ctx.inputs[0], (0,) * len(kernels)
    if ctx.args["padding"] != "same":
        return x, zeros, ()
    pads = same_paddings(ctx, kernels, strides, dilations)
    if pads is None and max(strides) == 1:  # at stride 1 the padding is the same for every size
        pads = [same_padding(1, k, 1, d) for k, d in zip(kernels, dilations, strict=True)]
    if pads is None:
        return f"pad_same({x}, {literal(kernels)}, {literal(strides)}, {literal(dilations)})", zeros, ("pad_same",)
    if all(a == b for a, b in pads):
        return x, tuple(a for a, _ in pads), ()
    return pad_call(x, pads), zeros, ()


def depthwise_module(ctx: Context, padding: tuple, use_bias: bool) -> tuple[str, str, tuple[str, ...]]:
    """The depthwise convolution's constructor, its weight's layout conversion and the runtime pieces it needs."""
    kernels, strides, dilations = ctx.args["kernel_size"], ctx.args["strides"], ctx.args["dilation_rate"]
    spatial, channels, multiplier = len(kernels), ctx.in_shape[-1], ctx.args["depth_multiplier"]
    ones, zeros = (1,) * spatial, (0,) * spatial
    settings = options([("stride", strides, ones), ("padding", padding, zeros), ("dilation", dilations, ones)])
    bias = [] if use_bias else ["bias=False"]
    if multiplier == 1:
        arguments = [str(channels), str(channels), literal(kernels), *settings, f"groups={channels}", *bias]
        return f"nn.Conv{spatial}d({', '.join(arguments)})", f"depthwise{spatial}d", ()
    arguments = [str(channels), str(multiplier), literal(kernels), *settings, *bias]
    return f"DepthwiseConv({', '.join(arguments)})", f"depthwise{spatial}d", ("DepthwiseConv",)


@OPS.lowering("DepthwiseConv1D", "DepthwiseConv2D", wants=FIRST)
def depthwise_conv(ctx: Context) -> Lowered:
    x, padding, pieces = windowed(ctx)
    use_bias = ctx.args["use_bias"]
    module, conversion, more = depthwise_module(ctx, padding, use_bias)
    weights = [("kernel", "weight", conversion), ("bias", "bias", "same")][: 1 + use_bias]
    return Lowered(f"self.{ctx.attr}({x})", FIRST, module, weights, pieces + more)


@OPS.lowering("SeparableConv1D", "SeparableConv2D", wants=FIRST)
def separable_conv(ctx: Context) -> Lowered:
    x, padding, pieces = windowed(ctx)
    use_bias = ctx.args["use_bias"]
    depthwise, conversion, more = depthwise_module(ctx, padding, False)
    spatial, middle = len(ctx.args["kernel_size"]), ctx.in_shape[-1] * ctx.args["depth_multiplier"]
    pointwise = f"nn.Conv{spatial}d({middle}, {ctx.args['filters']}, 1{'' if use_bias else ', bias=False'})"
    module = f"nn.ModuleDict({{'depthwise': {depthwise}, 'pointwise': {pointwise}}})"
    weights = [
        ("depthwise_kernel", "depthwise.weight", conversion),
        ("pointwise_kernel", "pointwise.weight", f"conv{spatial}d"),
        *([("bias", "pointwise.bias", "same")] if use_bias else []),
    ]
    expr = f"self.{ctx.attr}.pointwise(self.{ctx.attr}.depthwise({x}))"
    return Lowered(expr, FIRST, module, weights, pieces + more)
