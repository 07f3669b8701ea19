"""Attention and position layers: MultiHeadAttention and PositionEmbedding (LANGUAGE.md, "Version 2 additions").

MultiHeadAttention is Keras' own, called as Keras calls it: `(query, value)`, or `(query, value, key)` when the key
is another tensor, with `use_causal_mask=True` in the call. PositionEmbedding is keras_hub's, which a program
defines itself (layers.py) rather than needing keras_hub.
"""

from __future__ import annotations

from compiler.codegen import literal

from ..spine import Context
from .table import OPS, Lowered, layer_call


@OPS.lowering("MultiHeadAttention")
def multi_head_attention(ctx: Context) -> Lowered:
    args = {key: value for key, value in ctx.args.items() if key != "use_causal_mask"}
    _, value, key = ctx.node.inputs
    called = ctx.inputs[:2] if key is value else ctx.inputs  # Keras' key defaults to the value
    if ctx.args["use_causal_mask"]:
        called = [*called, "use_causal_mask=True"]
    return Lowered(layer_call(ctx.node.op, args, ctx.node.name), ", ".join(called))


@OPS.lowering("PositionEmbedding")
def position_embedding(ctx: Context) -> Lowered:
    constructor = f"PositionEmbedding({ctx.args['sequence_length']}, name={literal(ctx.node.name)})"
    return Lowered(constructor, classes=("PositionEmbedding",))
