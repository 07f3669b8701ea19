"""Convolution and pooling layers, with Keras' `valid`/`same` output-size rules."""

from __future__ import annotations

from ..argkinds import ArgSpec, Bool, Enum, Int, IntTuple
from .core import ACTIVATION, INITIALIZER, REGULARIZER
from .spec import OpSpec, ParamSpec, ShapeProblem, TensorType, register, require_float, require_rank

PADDING = Enum(("valid", "same"))


def output_size(size: int | None, kernel: int, stride: int, dilation: int, padding: str) -> int | None:
    """Keras' rule: `same` gives ceil(n / s); `valid` gives floor((n - effective_kernel) / s) + 1."""
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    effective = dilation * (kernel - 1) + 1
    if size < effective:
        raise ShapeProblem(f"input size {size} is smaller than the window {effective} with padding=valid")
    return (size - effective) // stride + 1


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Keras' `same` padding for one dimension as (before, after): the odd cell goes at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def kernel_and_bias(kernel_shape: tuple[int, ...], args: dict) -> list[ParamSpec]:
    """A convolution's `kernel` of `kernel_shape` and, with `use_bias`, its `bias` of one value per filter."""
    found = [ParamSpec("kernel", kernel_shape, True, args["kernel_initializer"], args["kernel_regularizer"])]
    if args["use_bias"]:
        found.append(ParamSpec("bias", (args["filters"],), True, args["bias_initializer"], args["bias_regularizer"]))
    return found


def conv_op(name: str, spatial: int) -> OpSpec:
    def infer(inputs, args):
        dtype = require_float(inputs, name)
        shape = inputs[0].shape
        require_rank(shape, (spatial + 1,), f"{spatial} spatial dims and channels")
        if shape[-1] is None:
            raise ShapeProblem("needs a known channel count (the last dimension)")
        if max(args["strides"]) > 1 and max(args["dilation_rate"]) > 1:
            raise ShapeProblem("cannot combine strides > 1 with dilation_rate > 1 (Keras refuses it too)")
        sizes = tuple(
            output_size(n, k, s, d, args["padding"])
            for n, k, s, d in zip(shape[:-1], args["kernel_size"], args["strides"], args["dilation_rate"], strict=True)
        )
        return TensorType(dtype, sizes + (args["filters"],))

    def params(inputs, args):
        return kernel_and_bias(args["kernel_size"] + (inputs[0].shape[-1], args["filters"]), args)

    signature = (
        ArgSpec("filters", Int(low=1)),
        ArgSpec("kernel_size", IntTuple(spatial)),
        ArgSpec("strides", IntTuple(spatial), (1,) * spatial),
        ArgSpec("padding", PADDING, "valid"),
        ArgSpec("dilation_rate", IntTuple(spatial), (1,) * spatial),
        ArgSpec("activation", ACTIVATION, "linear"),
        ArgSpec("use_bias", Bool(), True),
        ArgSpec("kernel_initializer", INITIALIZER, "glorot_uniform"),
        ArgSpec("bias_initializer", INITIALIZER, "zeros"),
        ArgSpec("kernel_regularizer", REGULARIZER, None),
        ArgSpec("bias_regularizer", REGULARIZER, None),
    )
    return OpSpec(name, "conv", signature, infer, params, doc=f"{spatial}-D convolution, channels-last")


def pool_op(name: str, keras_class: str, spatial: int) -> OpSpec:
    def infer(inputs, args):
        dtype = require_float(inputs, name)
        shape = inputs[0].shape
        require_rank(shape, (spatial + 1,), f"{spatial} spatial dims and channels")
        strides = args["strides"] or args["pool_size"]
        sizes = tuple(
            output_size(n, k, s, 1, args["padding"])
            for n, k, s in zip(shape[:-1], args["pool_size"], strides, strict=True)
        )
        return TensorType(dtype, sizes + shape[-1:])

    signature = (
        ArgSpec("pool_size", IntTuple(spatial), (2,) * spatial),
        ArgSpec("strides", IntTuple(spatial, allow_none=True), None),
        ArgSpec("padding", PADDING, "valid"),
    )
    return OpSpec(name, "pooling", signature, infer, keras_class=keras_class, doc="strides default to pool_size")


def global_pool_op(name: str, keras_class: str, spatial: int) -> OpSpec:
    def infer(inputs, args):
        dtype = require_float(inputs, name)
        shape = inputs[0].shape
        require_rank(shape, (spatial + 1,), f"{spatial} spatial dims and channels")
        kept = (1,) * spatial if args["keepdims"] else ()
        return TensorType(dtype, kept + shape[-1:])

    return OpSpec(name, "pooling", (ArgSpec("keepdims", Bool(), False),), infer, keras_class=keras_class)


register(
    conv_op("Conv1D", 1),
    conv_op("Conv2D", 2),
    pool_op("MaxPool1D", "MaxPooling1D", 1),
    pool_op("MaxPool2D", "MaxPooling2D", 2),
    pool_op("AvgPool1D", "AveragePooling1D", 1),
    pool_op("AvgPool2D", "AveragePooling2D", 2),
    global_pool_op("GlobalAvgPool1D", "GlobalAveragePooling1D", 1),
    global_pool_op("GlobalAvgPool2D", "GlobalAveragePooling2D", 2),
    global_pool_op("GlobalMaxPool1D", "GlobalMaxPooling1D", 1),
    global_pool_op("GlobalMaxPool2D", "GlobalMaxPooling2D", 2),
)
