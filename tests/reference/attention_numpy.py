"""NumPy references of the attention and position layers, as Keras 3 (and keras_hub) compute them.

Written from Keras' equations (keras/src/layers/attention/multi_head_attention.py: EinsumDense projections, the
query scaled by 1/sqrt(key_dim) before its product with the keys, a softmax over the key positions, the causal
mask `row >= column` of a [T, S] grid, i.e. aligned at the top left) and keras_hub's PositionEmbedding (the first
T rows of its table, broadcast to the input), independent of the op registry; `test_attention_reference.py`
proves each against the real layer. Inference mode (dropout is the identity), float64 throughout.
"""

from __future__ import annotations

import numpy as np

from .keras_numpy import _extra, _f64, _softmax

__all__ = ["causal_mask", "multi_head_attention", "position_embedding"]


def causal_mask(queries: int, keys: int) -> np.ndarray:
    """Keras' `_compute_causal_mask`: query i may see key j when i >= j, whatever the two lengths."""
    return np.arange(queries)[:, None] >= np.arange(keys)[None, :]


def multi_head_attention(
    query,
    value,
    key=None,
    weights=None,
    *,
    num_heads: int,
    key_dim: int,
    value_dim: int | None = None,
    dropout: float = 0.0,
    use_bias: bool = True,
    output_shape: int | None = None,
    attention_axes=None,
    use_causal_mask: bool = False,
    **extra,
) -> np.ndarray:
    """Keras' MultiHeadAttention on [batch, ..., features] tensors, attending over every middle axis (the default
    `attention_axes`); `weights` canonical: `query.kernel` [features, heads, key_dim], ... `attention_output.*`."""
    _extra("multi_head_attention", extra)
    query, value = _f64(query), _f64(value)
    key = value if key is None else _f64(key)
    value_dim = value_dim or key_dim
    w = {name: _f64(array) for name, array in weights.items()}
    if w["query.kernel"].shape[1:] != (num_heads, key_dim) or w["value.kernel"].shape[1:] != (num_heads, value_dim):
        raise ValueError("num_heads, key_dim or value_dim do not match the weights")
    if attention_axes is not None:  # Keras counts them on the projected [batch, ..., heads, dim] tensor
        axes = {a if a >= 0 else query.ndim + a for a in np.atleast_1d(attention_axes)}
        if axes != set(range(1, query.ndim - 1)):
            raise ValueError(f"only the default attention axes are written here, got {attention_axes}")

    def projected(x, sublayer):  # [batch, positions, features] -> [batch, positions, heads, dim]
        y = np.einsum("btf,fnd->btnd", x, w[f"{sublayer}.kernel"])
        return y + w[f"{sublayer}.bias"] if use_bias else y

    batch, positions = query.shape[0], query.shape[1:-1]
    flat = [x.reshape(x.shape[0], -1, x.shape[-1]) for x in (query, key, value)]
    q, k, v = (projected(x, name) for x, name in zip(flat, ("query", "key", "value"), strict=True))
    scores = np.einsum("bsnd,btnd->bnts", k, q / np.sqrt(key_dim))
    if use_causal_mask:
        if query.ndim != 3:
            raise ValueError("Keras' causal mask is for [batch, timesteps, features] inputs")
        scores = np.where(causal_mask(*scores.shape[-2:]), scores, -np.inf)
    attended = np.einsum("bnts,bsnv->btnv", _softmax(scores, -1), v)
    y = np.einsum("btnv,nvo->bto", attended, w["attention_output.kernel"])
    if use_bias:
        y = y + w["attention_output.bias"]
    if output_shape is not None and y.shape[-1] != output_shape:
        raise ValueError(f"output_shape={output_shape} does not match the weights")
    return y.reshape(batch, *positions, y.shape[-1])


def position_embedding(x, embeddings, *, sequence_length: int, initializer=None, **extra) -> np.ndarray:
    """keras_hub's PositionEmbedding: rows 0..T-1 of `embeddings` (T = x's axis -2), in x's shape."""
    _extra("position_embedding", extra)
    x, embeddings = _f64(x), _f64(embeddings)
    length = x.shape[-2]
    if embeddings.shape[0] != sequence_length:
        raise ValueError(f"sequence_length={sequence_length} does not match the table ({embeddings.shape[0]} rows)")
    if length > sequence_length:
        raise ValueError(f"a sequence of {length} is longer than sequence_length={sequence_length}")
    return np.broadcast_to(embeddings[:length], x.shape).copy()


def _attention_layer(inputs, weights, args):
    query, value, key = inputs
    return multi_head_attention(query, value, key, weights, **args)


def _position_layer(inputs, weights, args):
    (x,) = inputs
    return position_embedding(x, **weights, **args)


LAYERS: dict = {"MultiHeadAttention": _attention_layer, "PositionEmbedding": _position_layer}
