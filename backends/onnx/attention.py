"""Attention and position layers: MultiHeadAttention and PositionEmbedding (LANGUAGE.md, "Version 2 additions").

MultiHeadAttention: the projections are MatMuls on Keras' kernels flattened to [features, heads * dim]. From opset
23 the attention itself is ONNX's `Attention` operator (3-D inputs with `q_num_heads`/`kv_num_heads`; its causal
mask, without past keys, lets query i see keys 0..i whatever the lengths, as Keras' does); before 23 it is
decomposed as Keras' explicit path computes it: the projected query times 1/sqrt(key_dim), MatMul with the keys,
Keras' causal mask as an additive -1e9 above the diagonal (Trilu), Softmax over the keys, MatMul with the values.
Inputs of rank 3 or more per sample attend over all their middle axes as one: they are flattened to
[batch, positions, features] first and the output is given the query's shape back.

PositionEmbedding: the first T rows of `embeddings` expanded to the input's shape; for a `?` length the rows are
gathered by position, so a sequence longer than `sequence_length` fails in that Gather, whose name says why.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from ..spine import LAST
from .builder import OPS, Context

ATTENTION_OPSET = 23  # the first with the standard Attention operator
LARGE_NEGATIVE = -1e9  # what Keras' masked softmax adds to a masked score (float32)


def scalar_int(ctx: Context, value: int) -> str:
    """An int64 scalar constant (Trilu's diagonal, CumSum's axis)."""
    return ctx.g.initializer(f"{ctx.node.name}/int", np.asarray(value, dtype=np.int64))


def project(ctx: Context, x: str, sublayer: str) -> str:
    """x @ kernel (+ bias), the kernel as a matrix: [features, heads * dim], or [heads * value_dim, width] for
    the output projection."""
    kernel = ctx.weight(f"{sublayer}.kernel")
    matrix = kernel.reshape(-1, kernel.shape[-1]) if sublayer == "attention_output" else kernel.reshape(len(kernel), -1)
    y = ctx.add("MatMul", [x, ctx.param(f"{sublayer}.kernel", matrix)])
    if ctx.args["use_bias"]:
        y = ctx.add("Add", [y, ctx.param(f"{sublayer}.bias", ctx.weight(f"{sublayer}.bias").reshape(-1))])
    return y


def heads_first(ctx: Context, x: str, heads: int, perm: list[int]) -> str:
    """[batch, positions, heads * dim] -> [batch, heads, ...] in the order `perm` gives."""
    return ctx.add("Transpose", [ctx.add("Reshape", [x, ctx.ints([0, 0, heads, -1])])], perm=perm)


def decomposed(ctx: Context, q: str, k: str, v: str) -> str:
    """Keras' attention in MatMul, Softmax and friends: [batch, T, heads * value_dim]."""
    heads = ctx.args["num_heads"]
    scaled = ctx.add("Mul", [q, ctx.g.scalar(float(1.0 / np.sqrt(ctx.args["key_dim"])))])
    scores = ctx.add(
        "MatMul", [heads_first(ctx, scaled, heads, [0, 2, 1, 3]), heads_first(ctx, k, heads, [0, 2, 3, 1])]
    )
    if ctx.args["use_causal_mask"]:  # -1e9 where key j > query i, from the run-time [T, S]
        size = ctx.add("Shape", [scores], start=2)
        value = helper.make_tensor("value", TensorProto.FLOAT, [1], [LARGE_NEGATIVE])
        above = ctx.add("Trilu", [ctx.add("ConstantOfShape", [size], value=value), scalar_int(ctx, 1)], upper=1)
        scores = ctx.add("Add", [scores, above])
    probabilities = ctx.add("Softmax", [scores], axis=-1)
    attended = ctx.add("MatMul", [probabilities, heads_first(ctx, v, heads, [0, 2, 1, 3])])
    return ctx.add("Reshape", [ctx.add("Transpose", [attended], perm=[0, 2, 1, 3]), ctx.ints([0, 0, -1])])


@OPS.lowering("MultiHeadAttention")
def multi_head_attention(ctx: Context) -> tuple[str, str]:
    query, value, key = ctx.inputs
    rank = len(ctx.in_shape)
    if rank > 2:  # the attended axes as one
        query, value, key = (
            ctx.add("Reshape", [x, ctx.ints([0, -1, t.shape[-1]])])
            for x, t in zip(ctx.inputs, ctx.node.inputs, strict=True)
        )
    q, k, v = project(ctx, query, "query"), project(ctx, key, "key"), project(ctx, value, "value")
    heads = ctx.args["num_heads"]
    if ctx.g.opset >= ATTENTION_OPSET:
        attended = ctx.add(
            "Attention",
            [q, k, v],
            q_num_heads=heads,
            kv_num_heads=heads,
            is_causal=int(ctx.args["use_causal_mask"]),
            scale=float(1.0 / np.sqrt(ctx.args["key_dim"])),
        )
    else:
        attended = decomposed(ctx, q, k, v)
    y = project(ctx, attended, "attention_output")
    if rank > 2:  # the query's shape back, with the output's width
        shape = ctx.add("Shape", [ctx.inputs[0]], end=-1)
        width = ctx.ints([ctx.node.output.shape[-1]])
        y = ctx.add("Reshape", [y, ctx.add("Concat", [shape, width], axis=0)])
    return y, LAST


@OPS.lowering("PositionEmbedding")
def position_embedding(ctx: Context) -> tuple[str, str]:
    length, limit = ctx.in_shape[-2], ctx.args["sequence_length"]
    if length is not None:
        rows = ctx.param("embeddings", ctx.weight("embeddings")[:length])
    else:  # positions 0..T-1 gathered: a T beyond the table fails in this named Gather
        # 0..T-1 as an exclusive cumulative sum of ones: ONNX Runtime 1.32's extended optimizations rewrite a
        # Range feeding a Gather into a Slice that fails on every length ("Starts must be a 1-D array")
        ones = helper.make_tensor("value", TensorProto.INT64, [1], [1])
        size = ctx.add("Shape", [ctx.x], start=-2, end=-1)
        positions = ctx.add("CumSum", [ctx.add("ConstantOfShape", [size], value=ones), scalar_int(ctx, 0)], exclusive=1)
        hint = f"{ctx.node.name}/fails_for_sequences_longer_than_{limit}"
        rows = ctx.g.add("Gather", [ctx.param("embeddings"), positions], hint, axis=0)
    return ctx.add("Expand", [rows, ctx.add("Shape", [ctx.x])]), LAST
