"""Transposed, separable and depthwise convolutions (LANGUAGE.md, "Version 2 additions").

Canonical weights are Keras' own: a transposed convolution's `kernel` is `[k..., filters, in]` (outputs before
inputs, the reverse of Conv's); a depthwise `kernel` and a separable `depthwise_kernel` are `[k..., in, m]`, output
channel `c * m + j` coming from input channel `c` and multiplier `j`; a separable `pointwise_kernel` is
`[1..., in * m, filters]`.

Keras' transposed output size per spatial dimension (keras/src/backend/common/backend_utils.py; measured against
Keras in tests/reference/test_conv_variants_reference.py): with `k` the dilated kernel `d * (k - 1) + 1`,

- `valid`: `(n - 1) * s + k + p`, where `p` is `output_padding`, or `max(k, s) - k` without it;
- `same`: `n * s` without `output_padding`, else `(n - 1) * s + k % 2 + p`.

TensorFlow then computes it as the gradient of a convolution over that output: the full transposed result
(`(n - 1) * s + k` long) is cropped by `before = max(full - out, 0) // 2` at the start under `same` (0 under
`valid`), the odd cell coming off the end, and zero-extended at the end when the output is longer than the full
result (biases are added to the extension too).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..argkinds import ArgSpec, Bool, Int, IntTuple, Kind
from .conv import PADDING, kernel_and_bias, output_size
from .core import ACTIVATION, INITIALIZER, REGULARIZER
from .spec import OpSpec, ParamSpec, ShapeProblem, TensorType, register, require_float, require_rank


@dataclass(frozen=True)
class OutputPadding(Kind):
    """`output_padding`: left out (Keras' None), or one non-negative integer per spatial dimension."""

    rank: int

    @property
    def label(self) -> str:
        return "a non-negative integer" + ("" if self.rank == 1 else f" or a tuple of {self.rank}")

    def convert(self, value, span, where):
        items = value if isinstance(value, tuple) else (value,) * self.rank
        if len(items) != self.rank:
            self.fail(value, span, where)
        for item in items:
            if not isinstance(item, int) or isinstance(item, bool) or item < 0:
                self.fail(value, span, where)
        return tuple(items)


def transpose_size(size: int | None, kernel: int, stride: int, dilation: int, padding: str, extra: int | None):
    """Keras' output length of a transposed convolution along one dimension (`extra` is `output_padding`)."""
    if size is None:
        return None
    effective = dilation * (kernel - 1) + 1
    if padding == "valid":
        return (size - 1) * stride + effective + (max(effective, stride) - effective if extra is None else extra)
    return size * stride if extra is None else (size - 1) * stride + effective % 2 + extra


def transpose_crop(kernel: int, stride: int, dilation: int, padding: str, extra: int | None) -> tuple[int, int]:
    """How the full transposed result (`(n - 1) * s + k` long) becomes Keras' output along one dimension:
    (cells cropped at the start, cells cropped at the end); a negative end is that many zero cells appended.
    Both are independent of the input length `n`, so a `?` dimension needs nothing at run time."""
    effective = dilation * (kernel - 1) + 1
    full = effective  # the full length minus (n - 1) * s, which every output size shares
    out = transpose_size(1, kernel, stride, dilation, padding, extra)
    surplus = full - out
    before = max(surplus, 0) // 2 if padding == "same" else 0
    return before, surplus - before


def transpose_crops(args) -> list[tuple[int, int]]:
    """`transpose_crop` for every spatial dimension of a transposed convolution's bound arguments."""
    kernels, strides, dilations = args["kernel_size"], args["strides"], args["dilation_rate"]
    extras = args["output_padding"] or (None,) * len(kernels)
    return [
        transpose_crop(k, s, d, args["padding"], e)
        for k, s, d, e in zip(kernels, strides, dilations, extras, strict=True)
    ]


def transpose_op(name: str, spatial: int) -> OpSpec:
    def infer(inputs, args):
        dtype = require_float(inputs, name)
        shape = inputs[0].shape
        require_rank(shape, (spatial + 1,), f"{spatial} spatial dims and channels")
        if shape[-1] is None:
            raise ShapeProblem("needs a known channel count (the last dimension)")
        kernels, strides, dilations = args["kernel_size"], args["strides"], args["dilation_rate"]
        extras = args["output_padding"] or (None,) * spatial
        if max(strides) > 1 and max(dilations) > 1:
            raise ShapeProblem("cannot combine strides > 1 with dilation_rate > 1 (Keras refuses it too)")
        if max(dilations) > 1:
            raise ShapeProblem(
                "cannot take dilation_rate > 1: Keras' TensorFlow backend runs a dilated transposed convolution "
                "only on a GPU ('Current CPU implementations do not yet support dilation rates larger than 1')"
            )
        for extra, stride in zip(extras, strides, strict=True):
            if extra is not None and extra >= stride:
                raise ShapeProblem(
                    f"needs output_padding {args['output_padding']} smaller than strides {strides} "
                    "in every dimension (Keras refuses it too)"
                )
        if args["padding"] == "same" and args["output_padding"] is not None:
            for kernel, dilation, extra in zip(kernels, dilations, extras, strict=True):
                if (dilation * (kernel - 1) + 1) % 2 == 0 and extra == 0:
                    raise ShapeProblem(
                        "needs output_padding of at least 1 with padding=same and an even kernel (with 0 the "
                        "output is one step short of the input, which TensorFlow refuses when it runs)"
                    )
        sizes = tuple(
            transpose_size(n, k, s, d, args["padding"], e)
            for n, k, s, d, e in zip(shape[:-1], kernels, strides, dilations, extras, strict=True)
        )
        return TensorType(dtype, sizes + (args["filters"],))

    def params(inputs, args):
        return kernel_and_bias(args["kernel_size"] + (args["filters"], inputs[0].shape[-1]), args)

    signature = (
        ArgSpec("filters", Int(low=1)),
        ArgSpec("kernel_size", IntTuple(spatial)),
        ArgSpec("strides", IntTuple(spatial), (1,) * spatial),
        ArgSpec("padding", PADDING, "valid"),
        ArgSpec("output_padding", OutputPadding(spatial), None),
        ArgSpec("dilation_rate", IntTuple(spatial), (1,) * spatial),
        ArgSpec("activation", ACTIVATION, "linear"),
        ArgSpec("use_bias", Bool(), True),
        ArgSpec("kernel_initializer", INITIALIZER, "glorot_uniform"),
        ArgSpec("bias_initializer", INITIALIZER, "zeros"),
        ArgSpec("kernel_regularizer", REGULARIZER, None),
        ArgSpec("bias_regularizer", REGULARIZER, None),
    )
    doc = f"{spatial}-D transposed convolution, channels-last; kernel [k..., filters, in]"
    return OpSpec(name, "conv", signature, infer, params, doc=doc)


def windowed_sizes(shape, args) -> tuple[int | None, ...]:
    """A depthwise window's output sizes. Keras 3 allows strides > 1 with dilation_rate > 1 here (it runs the
    window at stride 1 and subsamples); TensorFlow's own depthwise kernel, which runs every undilated window,
    refuses unequal strides."""
    strides = args["strides"]
    if len(set(strides)) > 1 and max(args["dilation_rate"]) == 1:
        raise ShapeProblem(
            f"needs equal strides in both dimensions, got {strides}: TensorFlow's depthwise convolution refuses "
            "unequal ones when it runs (Keras allows them only with a dilation_rate > 1)"
        )
    return tuple(
        output_size(n, k, s, d, args["padding"])
        for n, k, s, d in zip(shape[:-1], args["kernel_size"], args["strides"], args["dilation_rate"], strict=True)
    )


def channels_of(inputs, name: str, spatial: int) -> tuple[str, tuple[int | None, ...], int]:
    dtype = require_float(inputs, name)
    shape = inputs[0].shape
    require_rank(shape, (spatial + 1,), f"{spatial} spatial dims and channels")
    if shape[-1] is None:
        raise ShapeProblem("needs a known channel count (the last dimension)")
    return dtype, shape, shape[-1]


def depthwise_op(name: str, spatial: int) -> OpSpec:
    def infer(inputs, args):
        dtype, shape, channels = channels_of(inputs, name, spatial)
        return TensorType(dtype, windowed_sizes(shape, args) + (channels * args["depth_multiplier"],))

    def params(inputs, args):
        channels, multiplier = inputs[0].shape[-1], args["depth_multiplier"]
        kernel_shape = args["kernel_size"] + (channels, multiplier)
        found = [ParamSpec("kernel", kernel_shape, True, args["depthwise_initializer"], args["depthwise_regularizer"])]
        if args["use_bias"]:
            bias_shape = (channels * multiplier,)
            found.append(ParamSpec("bias", bias_shape, True, args["bias_initializer"], args["bias_regularizer"]))
        return found

    signature = (
        ArgSpec("kernel_size", IntTuple(spatial)),
        ArgSpec("strides", IntTuple(spatial), (1,) * spatial),
        ArgSpec("padding", PADDING, "valid"),
        ArgSpec("depth_multiplier", Int(low=1), 1),
        ArgSpec("dilation_rate", IntTuple(spatial), (1,) * spatial),
        ArgSpec("activation", ACTIVATION, "linear"),
        ArgSpec("use_bias", Bool(), True),
        ArgSpec("depthwise_initializer", INITIALIZER, "glorot_uniform"),
        ArgSpec("bias_initializer", INITIALIZER, "zeros"),
        ArgSpec("depthwise_regularizer", REGULARIZER, None),
        ArgSpec("bias_regularizer", REGULARIZER, None),
    )
    doc = f"{spatial}-D depthwise convolution: channels * depth_multiplier outputs; kernel [k..., in, m]"
    return OpSpec(name, "conv", signature, infer, params, doc=doc)


def separable_op(name: str, spatial: int) -> OpSpec:
    def infer(inputs, args):
        dtype, shape, _ = channels_of(inputs, name, spatial)
        return TensorType(dtype, windowed_sizes(shape, args) + (args["filters"],))

    def params(inputs, args):
        channels, multiplier, filters = inputs[0].shape[-1], args["depth_multiplier"], args["filters"]
        depthwise = args["kernel_size"] + (channels, multiplier)
        pointwise = (1,) * spatial + (channels * multiplier, filters)
        found = [
            ParamSpec(
                "depthwise_kernel", depthwise, True, args["depthwise_initializer"], args["depthwise_regularizer"]
            ),
            ParamSpec(
                "pointwise_kernel", pointwise, True, args["pointwise_initializer"], args["pointwise_regularizer"]
            ),
        ]
        if args["use_bias"]:
            found.append(ParamSpec("bias", (filters,), True, args["bias_initializer"], args["bias_regularizer"]))
        return found

    signature = (
        ArgSpec("filters", Int(low=1)),
        ArgSpec("kernel_size", IntTuple(spatial)),
        ArgSpec("strides", IntTuple(spatial), (1,) * spatial),
        ArgSpec("padding", PADDING, "valid"),
        ArgSpec("dilation_rate", IntTuple(spatial), (1,) * spatial),
        ArgSpec("depth_multiplier", Int(low=1), 1),
        ArgSpec("activation", ACTIVATION, "linear"),
        ArgSpec("use_bias", Bool(), True),
        ArgSpec("depthwise_initializer", INITIALIZER, "glorot_uniform"),
        ArgSpec("pointwise_initializer", INITIALIZER, "glorot_uniform"),
        ArgSpec("bias_initializer", INITIALIZER, "zeros"),
        ArgSpec("depthwise_regularizer", REGULARIZER, None),
        ArgSpec("pointwise_regularizer", REGULARIZER, None),
        ArgSpec("bias_regularizer", REGULARIZER, None),
    )
    doc = f"{spatial}-D separable convolution: a depthwise window, then a 1x1 convolution to filters"
    return OpSpec(name, "conv", signature, infer, params, doc=doc)


register(
    transpose_op("Conv1DTranspose", 1),
    transpose_op("Conv2DTranspose", 2),
    separable_op("SeparableConv1D", 1),
    separable_op("SeparableConv2D", 2),
    depthwise_op("DepthwiseConv1D", 1),
    depthwise_op("DepthwiseConv2D", 2),
)
