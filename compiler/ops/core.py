"""Core layers: Dense, activations, Dropout, Flatten, Reshape, Rescaling."""

from __future__ import annotations

import math

from ..argkinds import (
    ACTIVATIONS,
    ArgSpec,
    Bool,
    Enum,
    Float,
    InitializerKind,
    Int,
    RegularizerKind,
    TargetShape,
)
from .spec import OpSpec, ParamSpec, ShapeProblem, TensorType, register, require_float, require_known, sample_axis

ACTIVATION = Enum(ACTIVATIONS)
INITIALIZER = InitializerKind()
REGULARIZER = RegularizerKind()


def same_shape(name: str):
    def infer(inputs, args):
        return TensorType(require_float(inputs, name), inputs[0].shape)

    return infer


def dense_infer(inputs, args):
    dtype = require_float(inputs, "Dense")
    shape = inputs[0].shape
    if not shape or shape[-1] is None:
        raise ShapeProblem("needs a known last dimension (its input features)")
    return TensorType(dtype, shape[:-1] + (args["units"],))


def dense_params(inputs, args):
    units, features = args["units"], inputs[0].shape[-1]
    params = [ParamSpec("kernel", (features, units), True, args["kernel_initializer"], args["kernel_regularizer"])]
    if args["use_bias"]:
        params.append(ParamSpec("bias", (units,), True, args["bias_initializer"], args["bias_regularizer"]))
    return params


def flatten_infer(inputs, args):
    dtype = require_float(inputs, "Flatten")
    require_known(inputs[0].shape, "flatten")
    return TensorType(dtype, (math.prod(inputs[0].shape),))


def reshape_infer(inputs, args):
    dtype = require_float(inputs, "Reshape")
    shape, target = inputs[0].shape, args["target_shape"]
    require_known(shape, "reshape")
    size, known = math.prod(shape), math.prod(d for d in target if d != -1)
    if -1 in target:
        if size % known:
            raise ShapeProblem(f"cannot reshape {size} elements into {target}")
        target = tuple(size // known if d == -1 else d for d in target)
    elif known != size:
        raise ShapeProblem(f"cannot reshape {size} elements into {target} ({known} elements)")
    return TensorType(dtype, target)


def softmax_infer(inputs, args):
    dtype = require_float(inputs, "Softmax")
    sample_axis(args["axis"], len(inputs[0].shape))
    return TensorType(dtype, inputs[0].shape)


DENSE_ARGS = (
    ArgSpec("units", Int(low=1)),
    ArgSpec("activation", ACTIVATION, "linear"),
    ArgSpec("use_bias", Bool(), True),
    ArgSpec("kernel_initializer", INITIALIZER, "glorot_uniform"),
    ArgSpec("bias_initializer", INITIALIZER, "zeros"),
    ArgSpec("kernel_regularizer", REGULARIZER, None),
    ArgSpec("bias_regularizer", REGULARIZER, None),
)

register(
    OpSpec("Dense", "core", DENSE_ARGS, dense_infer, dense_params, doc="units on the last axis"),
    OpSpec("Activation", "core", (ArgSpec("activation", ACTIVATION),), same_shape("Activation")),
    OpSpec(
        "ReLU",
        "core",
        (
            ArgSpec("max_value", Float(low=0.0), None),
            ArgSpec("negative_slope", Float(low=0.0), 0.0),
            ArgSpec("threshold", Float(low=0.0), 0.0),  # Keras refuses a negative threshold
        ),
        same_shape("ReLU"),
    ),
    OpSpec("LeakyReLU", "core", (ArgSpec("negative_slope", Float(low=0.0), 0.3),), same_shape("LeakyReLU")),
    OpSpec("Softmax", "core", (ArgSpec("axis", Int(), -1),), softmax_infer),
    OpSpec("Dropout", "core", (ArgSpec("rate", Float(0.0, 1.0, high_open=True)),), same_shape("Dropout")),
    OpSpec("Flatten", "core", (), flatten_infer),
    OpSpec("Reshape", "core", (ArgSpec("target_shape", TargetShape()),), reshape_infer),
    OpSpec(
        "Rescaling",
        "core",
        (ArgSpec("scale", Float()), ArgSpec("offset", Float(), 0.0)),
        same_shape("Rescaling"),
    ),
)
