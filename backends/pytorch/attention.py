"""Attention and position layers: MultiHeadAttention and PositionEmbedding (LANGUAGE.md, "Version 2 additions").

Both are runtime pieces (runtime.py) holding their weights in Keras' layouts, so every canonical weight maps to a
torch parameter as it is: `query.kernel` is `query_kernel`, `embeddings` is `embeddings`.
"""

from __future__ import annotations

from compiler.codegen import literal

from .table import OPS, Context, Lowered


@OPS.lowering("MultiHeadAttention")
def multi_head_attention(ctx: Context) -> Lowered:
    a = ctx.args
    query, value, key = ctx.node.inputs
    features = (query.shape[-1], value.shape[-1], key.shape[-1])
    options = [
        f"num_heads={a['num_heads']}",
        f"key_dim={a['key_dim']}",
        *([f"value_dim={a['value_dim']}"] if a["value_dim"] else []),
        *([f"dropout={literal(a['dropout'])}"] if a["dropout"] else []),
        *([] if a["use_bias"] else ["use_bias=False"]),
        *([f"output_shape={a['output_shape']}"] if a["output_shape"] else []),
        *(["causal=True"] if a["use_causal_mask"] else []),
    ]
    module = f"KerasMultiHeadAttention({literal(features)}, {', '.join(options)})"
    weights = [(p.name, p.name.replace(".", "_"), "same") for p in ctx.node.params]
    called = ctx.inputs[:2] if key is value else ctx.inputs  # Keras' key defaults to the value
    expr = f"self.{ctx.attr}({', '.join(called)})"
    return Lowered(expr, module=module, weights=weights, pieces=("KerasMultiHeadAttention",))


@OPS.lowering("PositionEmbedding")
def position_embedding(ctx: Context) -> Lowered:
    module = f"KerasPositionEmbedding({ctx.args['sequence_length']}, {ctx.in_shape[-1]})"
    weights = [("embeddings", "embeddings", "same")]
    return Lowered(f"self.{ctx.attr}({ctx.x})", module=module, weights=weights, pieces=("KerasPositionEmbedding",))
