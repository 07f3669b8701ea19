"""BatchNormalization, LayerNormalization and Embedding."""

from __future__ import annotations

from ..argkinds import ArgSpec, Bool, Float, Int
from .core import INITIALIZER, REGULARIZER
from .spec import OpSpec, ParamSpec, ShapeProblem, TensorType, register, require_float, sample_axis


def last_axis_only(name: str):
    def infer(inputs, args):
        dtype = require_float(inputs, name)
        shape = inputs[0].shape
        if not shape:
            raise ShapeProblem("needs at least one dimension per sample")
        if sample_axis(args["axis"], len(shape)) != len(shape) - 1:
            raise ShapeProblem(f"normalises the last (channel) axis only in v1; axis={args['axis']} is not it")
        if shape[-1] is None:
            raise ShapeProblem("needs a known last dimension")
        return TensorType(dtype, shape)

    return infer


def scale_and_center(inputs, args) -> list[ParamSpec]:
    channels = (inputs[0].shape[-1],)
    found = []
    if args["scale"]:
        found.append(ParamSpec("gamma", channels, True, args["gamma_initializer"]))
    if args["center"]:
        found.append(ParamSpec("beta", channels, True, args["beta_initializer"]))
    return found


def batch_norm_params(inputs, args):
    channels = (inputs[0].shape[-1],)
    return scale_and_center(inputs, args) + [
        ParamSpec("moving_mean", channels, False, args["moving_mean_initializer"]),
        ParamSpec("moving_variance", channels, False, args["moving_variance_initializer"]),
    ]


def embedding_infer(inputs, args):
    """Token ids of any dtype: integers, or floats holding them, which Keras casts to int32 (2.7 is id 2)."""
    return TensorType("f32", inputs[0].shape + (args["output_dim"],))


def embedding_params(inputs, args):
    shape = (args["input_dim"], args["output_dim"])
    return [ParamSpec("embeddings", shape, True, args["embeddings_initializer"], args["embeddings_regularizer"])]


NORM_FLAGS = (
    ArgSpec("center", Bool(), True),
    ArgSpec("scale", Bool(), True),
    ArgSpec("beta_initializer", INITIALIZER, "zeros"),
    ArgSpec("gamma_initializer", INITIALIZER, "ones"),
)

register(
    OpSpec(
        "BatchNormalization",
        "normalization",
        (
            ArgSpec("axis", Int(), -1),
            ArgSpec("momentum", Float(0.0, 1.0), 0.99),
            ArgSpec("epsilon", Float(low=0.0), 1e-3),
            *NORM_FLAGS,
            ArgSpec("moving_mean_initializer", INITIALIZER, "zeros"),
            ArgSpec("moving_variance_initializer", INITIALIZER, "ones"),
        ),
        last_axis_only("BatchNormalization"),
        batch_norm_params,
        doc="moving statistics are non-trainable parameters",
    ),
    OpSpec(
        "LayerNormalization",
        "normalization",
        (ArgSpec("axis", Int(), -1), ArgSpec("epsilon", Float(low=0.0), 1e-3), *NORM_FLAGS),
        last_axis_only("LayerNormalization"),
        scale_and_center,
    ),
    OpSpec(
        "Embedding",
        "embedding",
        (
            ArgSpec("input_dim", Int(low=1)),
            ArgSpec("output_dim", Int(low=1)),
            ArgSpec("embeddings_initializer", INITIALIZER, "uniform"),
            ArgSpec("embeddings_regularizer", REGULARIZER, None),
        ),
        embedding_infer,
        embedding_params,
        doc="token ids in [0, input_dim) to vectors",
    ),
)
