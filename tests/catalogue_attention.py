"""Catalogue cases of the attention and position layers.

MultiHeadAttention: self-attention, cross-attention through `value=` and `key=` labels with other lengths than the
query's (shorter and longer, fixed and `?`), `num_heads * key_dim` unlike the width, `value_dim` and `output_shape`,
no bias, causal masks (also across lengths), inputs of rank 3 per sample (attended over both middle axes), dropout
(the identity in inference). PositionEmbedding: at full and shorter lengths, on `?` lengths up to its
`sequence_length`, after a token Embedding, on rank 3 per sample. MultiHeadAttention's key bias has a true
gradient of exactly zero (softmax ignores a constant added to all of a query's scores), which Adam-type optimizers
turn from rounding noise into steps: see the training models at the end.
"""

from __future__ import annotations

from case import Case

MHA = "MultiHeadAttention"
PE = "PositionEmbedding"
X = "  input x: f32[5, 4]"


def inputs(*declarations: str) -> str:
    return "\n".join(f"  input {d}" for d in declarations)


def mha(name: str, declared: str, layers: str, **options) -> Case:
    """A MultiHeadAttention case, held to the contract's relative part too: with random normal weights its
    scores reach tens, and float32 rounds them to ~1e-6 of that."""
    return Case(f"{MHA}-{name}", MHA, declared, layers, rtol=1e-5, **options)


ATTENTION_CASES: list[Case] = [
    # self-attention
    mha("self", X, f"{MHA}(2, 3)"),
    mha("self-heads-times-key-dim-is-width", X, f"{MHA}(2, 2)"),
    mha("one-head", X, f"{MHA}(1, 5)"),
    mha("value-dim-output-shape", X, f"{MHA}(3, 2, value_dim=5, output_shape=7)"),
    mha("no-bias", X, f"{MHA}(2, 3, value_dim=2, use_bias=false)"),
    mha("dropout-is-identity-in-inference", X, f"{MHA}(2, 3, dropout=0.4)"),
    mha("attention-axes-default-named", X, f"{MHA}(2, 3, attention_axes=-2)"),
    mha("causal", X, f"{MHA}(2, 3, use_causal_mask=true)"),
    mha("causal-dropout", X, f"{MHA}(2, 3, dropout=0.2, use_causal_mask=true)"),
    mha("after-dense", X, f"Dense(6, activation=tanh)\n{MHA}(4, 2, output_shape=3)"),
    mha("any-length", "  input x: f32[?, 4]", f"{MHA}(2, 3)", lengths=(1, 3, 6)),
    mha("any-length-causal", "  input x: f32[?, 4]", f"{MHA}(2, 3, use_causal_mask=true)", lengths=(2, 6)),
    # cross-attention
    mha("cross-value", inputs("x: f32[4, 6]", "ctx: f32[7, 3]"), f"{MHA}(2, 4, value=ctx)"),
    mha(
        "cross-value-and-key",
        inputs("x: f32[4, 6]", "v: f32[7, 3]", "k: f32[7, 5]"),
        f"{MHA}(2, 4, value_dim=3, value=v, key=k)",
    ),
    mha("cross-key-only", inputs("x: f32[5, 4]", "k: f32[5, 7]"), f"{MHA}(2, 3, key=k)"),
    mha(
        "cross-labels",
        inputs("x: f32[4, 6]", "ctx: f32[7, 3]"),
        f"from ctx\nenc: Dense(5)\nfrom x\n{MHA}(2, 3, value=enc)",
    ),
    mha(
        "cross-causal-shorter-query",
        inputs("x: f32[3, 4]", "ctx: f32[6, 5]"),
        f"{MHA}(2, 3, value=ctx, use_causal_mask=true)",
    ),
    mha(
        "cross-causal-longer-query",
        inputs("x: f32[6, 4]", "ctx: f32[3, 5]"),
        f"{MHA}(2, 3, value=ctx, use_causal_mask=true)",
    ),
    mha(
        "cross-any-query-length-causal",
        inputs("x: f32[?, 4]", "ctx: f32[5, 3]"),
        f"{MHA}(2, 3, value=ctx, use_causal_mask=true)",
        lengths=(2, 5, 8),
    ),
    mha(
        "cross-any-lengths",
        inputs("x: f32[?, 4]", "ctx: f32[?, 3]"),
        f"{MHA}(3, 2, value=ctx, output_shape=2)",
        lengths=(1, 4),
    ),
    # rank 3 per sample: every middle axis attended over, as one
    mha("rank3", "  input x: f32[3, 4, 5]", f"{MHA}(2, 3)"),
    mha("rank3-axes-named", "  input x: f32[3, 4, 5]", f"{MHA}(2, 3, attention_axes=(1, 2))"),
    mha(
        "rank3-cross-any-length",
        inputs("x: f32[?, 2, 5]", "ctx: f32[3, 4, 6]"),
        f"{MHA}(2, 3, value=ctx, output_shape=4)",
        lengths=(1, 3),
    ),
    # PositionEmbedding
    Case(f"{PE}-full-length", PE, "  input x: f32[6, 4]", f"{PE}(6)\nAdd(x)"),
    Case(f"{PE}-shorter-sequence", PE, "  input x: f32[4, 4]", f"{PE}(9)\nAdd(x)"),
    Case(f"{PE}-any-length", PE, "  input x: f32[?, 3]", f"{PE}(7)\nAdd(x)", lengths=(1, 4, 7)),
    Case(f"{PE}-alone", PE, "  input x: f32[5, 3]", f"{PE}(5)"),
    Case(f"{PE}-rank3", PE, "  input x: f32[2, 5, 3]", f"{PE}(6)\nAdd(x)"),
    Case(
        f"{PE}-after-token-embedding",
        PE,
        "  input ids: i64[?]",
        f"tokens: Embedding(10, 4)\n{PE}(8)\nAdd(tokens)",
        lengths=(3, 8),
    ),
    # training models (dlc verify --steps 5, which tests/test_verify.py runs with Adam): without MultiHeadAttention's
    # biases, and without a Dense bias feeding only its key, whose true gradients are exactly zero (the key bias'
    # rounding noise becomes Adam steps: 1.0e-4 to 3.2e-4 apart after 5 steps). tests/test_attention.py trains the
    # biases with SGD, which keeps them within 3e-8.
    mha(
        "trains",
        X,
        f"Dense(6)\n{MHA}(2, 4, value_dim=3, use_bias=false, output_shape=5, use_causal_mask=true)\n"
        "GlobalAvgPool1D()\nDense(3)",
        trains=True,
    ),
    mha(
        "trains-cross",
        inputs("x: f32[4, 3]", "ctx: f32[6, 5]"),
        f"q: Dense(6)\nfrom ctx\nk: Dense(4, activation=tanh)\nfrom q\n"
        f"{MHA}(3, 2, use_bias=false, kernel_regularizer=l2(0.01), value=ctx, key=k)\n"
        "Flatten()\nDense(2)",
        trains=True,
    ),
    Case(
        f"{PE}-trains",
        PE,
        "  input x: f32[?, 4]",
        f"h: Dense(6)\n{PE}(8)\nAdd(h)\n{MHA}(2, 3, use_bias=false)\nGlobalAvgPool1D()\nDense(3)",
        trains=True,
    ),
]
