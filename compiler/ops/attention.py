"""Attention and position layers: MultiHeadAttention and PositionEmbedding (LANGUAGE.md, "Version 2 additions").

MultiHeadAttention is Keras 3's: its inputs are always (query, value, key), the current stream being the query and
`value=`/`key=` naming the others (an absent value is the query, an absent key the value); its weights are those
of its four EinsumDense sublayers (`query`, `key`, `value`, `attention_output`). What the language leaves out:
attention over other axes than Keras' default (`attention_axes` may only name those), Keras' attention masks
and masks carried by the inputs (none of the language's layers makes one), `return_attention_scores`, and the
arguments `use_gate`, `sliding_window`, `flash_attention`, constraints and activity regularizers.

PositionEmbedding is keras_hub's: the learned vectors of positions 0..T-1 for an input of length T (its axis -2),
broadcast to the input's shape, to be added to it with `Add`.
"""

from __future__ import annotations

from ..argkinds import ArgSpec, Bool, Float, Int, Kind
from .core import INITIALIZER, REGULARIZER
from .spec import OpSpec, ParamSpec, Shape, ShapeProblem, TensorType, register, require_float


class Axes(Kind):
    """One axis or a tuple of axes, as Keras counts them (the batch is axis 0)."""

    label = "an axis or a tuple of axes"

    def convert(self, value, span, where):
        items = value if isinstance(value, tuple) else (value,)
        if not items or any(not isinstance(i, int) or isinstance(i, bool) for i in items):
            self.fail(value, span, where)
        return items


class OutputWidth(Kind):
    """Keras' `output_shape`: here one positive integer (or a tuple of one), the width of the last axis."""

    label = "a positive integer"

    def convert(self, value, span, where):
        if isinstance(value, tuple) and len(value) == 1:
            value = value[0]
        if isinstance(value, tuple):
            self.fail(value, span, where, "an output of several axes is not supported: give the last axis' width")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            self.fail(value, span, where)
        return value


def show(shape: Shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def attention_axes(shape: Shape) -> tuple[int, ...]:
    """Keras' default attention axes for a per-sample `shape`: every axis between the batch and the features."""
    return tuple(range(1, len(shape)))


def mha_infer(inputs, args):
    query, value, key = inputs
    for role, tensor in zip(("query", "value", "key"), inputs, strict=True):
        require_float([tensor], f"MultiHeadAttention's {role}")
    if len(query.shape) < 2:
        raise ShapeProblem("needs a sequence [timesteps, features] as its query (rank 2 or more per sample)")
    for role, tensor in (("value", value), ("key", key)):
        if len(tensor.shape) != len(query.shape):
            raise ShapeProblem(f"needs its {role} of the query's rank, got {show(tensor.shape)}")
    for role, tensor in (("query", query), ("value", value), ("key", key)):
        if tensor.shape[-1] is None:
            raise ShapeProblem(f"needs a known feature count (the last dimension) of its {role}")
    if value.shape[:-1] != key.shape[:-1]:
        raise ShapeProblem(
            f"needs the value and the key to have the same shape but for the features, "
            f"got value {show(value.shape)} and key {show(key.shape)}"
        )
    if args["attention_axes"] is not None:
        rank = len(query.shape) + 2  # Keras normalises an axis of the projected [batch, ..., heads, dims] tensor
        given = {axis if axis >= 0 else rank - 1 + axis for axis in args["attention_axes"]}
        default = attention_axes(query.shape)
        if given != set(default):
            shown = ", ".join(map(str, args["attention_axes"]))
            raise ShapeProblem(
                f"supports only Keras' default attention axes (every axis between the batch and the features, "
                f"here {', '.join(map(str, default))}), got attention_axes={shown}"
            )
    if args["use_causal_mask"] and len(query.shape) != 2:
        raise ShapeProblem("needs sequences [timesteps, features] for use_causal_mask (Keras fails on other ranks)")
    width = args["output_shape"] or query.shape[-1]
    return TensorType(query.dtype, query.shape[:-1] + (width,))


def mha_params(inputs, args):
    """Keras' weights, in its order: query, key, value and attention_output, each a kernel then a bias."""
    query, value, key = inputs
    heads, key_dim = args["num_heads"], args["key_dim"]
    value_dim = args["value_dim"] or key_dim
    width = args["output_shape"] or query.shape[-1]
    layouts = (
        ("query", (query.shape[-1], heads, key_dim), (heads, key_dim)),
        ("key", (key.shape[-1], heads, key_dim), (heads, key_dim)),
        ("value", (value.shape[-1], heads, value_dim), (heads, value_dim)),
        ("attention_output", (heads, value_dim, width), (width,)),
    )
    params = []
    for sublayer, kernel, bias in layouts:
        params.append(
            ParamSpec(f"{sublayer}.kernel", kernel, True, args["kernel_initializer"], args["kernel_regularizer"])
        )
        if args["use_bias"]:
            params.append(ParamSpec(f"{sublayer}.bias", bias, True, args["bias_initializer"], args["bias_regularizer"]))
    return params


def position_infer(inputs, args):
    dtype = require_float(inputs, "PositionEmbedding")
    shape = inputs[0].shape
    if len(shape) < 2:
        raise ShapeProblem("needs a sequence [timesteps, features] (rank 2 or more per sample)")
    if shape[-1] is None:
        raise ShapeProblem("needs a known feature count (the last dimension)")
    length, limit = shape[-2], args["sequence_length"]
    if length is not None and length > limit:
        raise ShapeProblem(f"has {limit} positions (sequence_length={limit}) for a sequence of {length}")
    return TensorType(dtype, shape)


def position_params(inputs, args):
    shape = (args["sequence_length"], inputs[0].shape[-1])
    return [ParamSpec("embeddings", shape, True, args["initializer"])]


MHA_ARGS = (
    ArgSpec("num_heads", Int(low=1)),
    ArgSpec("key_dim", Int(low=1)),
    ArgSpec("value_dim", Int(low=1), None),  # None: key_dim
    ArgSpec("dropout", Float(0.0, 1.0, high_open=True), 0.0),
    ArgSpec("use_bias", Bool(), True),
    ArgSpec("output_shape", OutputWidth(), None),  # None: the query's feature count
    ArgSpec("attention_axes", Axes(), None),
    ArgSpec("kernel_initializer", INITIALIZER, "glorot_uniform"),
    ArgSpec("bias_initializer", INITIALIZER, "zeros"),
    ArgSpec("kernel_regularizer", REGULARIZER, None),
    ArgSpec("bias_regularizer", REGULARIZER, None),
    ArgSpec("use_causal_mask", Bool(), False),  # a call argument in Keras
)

register(
    OpSpec(
        "MultiHeadAttention",
        "attention",
        MHA_ARGS,
        mha_infer,
        mha_params,
        label_args=("value", "key"),
        inner_layers=("softmax", "dropout"),
        doc="the stream is the query; value= and key= name the others (self-attention without them)",
    ),
    OpSpec(
        "PositionEmbedding",
        "position",
        (ArgSpec("sequence_length", Int(low=1)), ArgSpec("initializer", INITIALIZER, "glorot_uniform")),
        position_infer,
        position_params,
        doc="keras_hub's: the learned vectors of positions 0..T-1, in the input's shape (add them with Add)",
    ),
)


def longest_position_length(nodes) -> int | None:
    """The longest `?` length the PositionEmbeddings among a graph's `nodes` accept: the smallest `sequence_length`
    of those on a `?` length, None without any. For whatever draws sample inputs of a chosen length (verify's 5,
    export --quantize's 16), which must not exceed it."""
    limits = [
        node.args["sequence_length"]
        for node in nodes
        if node.op == "PositionEmbedding" and node.inputs[0].shape[-2] is None
    ]
    return min(limits, default=None)
