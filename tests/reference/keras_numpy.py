"""Keras 3 layer and loss semantics written out in plain NumPy (float64), channels-last, batch first.

Independent of every framework: the tests in `test_reference.py` prove each function against the real
Keras layer, and the backend tests then compare PyTorch (and ONNX) against these functions.

Conventions:
- weights are canonical Keras layouts and names (`kernel`, `bias`, `recurrent_kernel`, `gamma`, `beta`,
  `moving_mean`, `moving_variance`, `embeddings`), so a canonical weights dict can be splatted in;
- layer arguments are Keras' names and defaults, as bound by the op registry (`compiler/ops/`), so the
  bound argument dict can be splatted in too: initializer/regularizer arguments are accepted and ignored,
  and size arguments (`units`, `filters`, `kernel_size`, ...) are checked against the weights;
- every function returns float64 arrays (losses return a Python float: Keras' batch mean).

`apply_layer(op, inputs, weights, args)` dispatches on a registry op name; `loss(name, y_true, y_pred, args)`
on a canonical loss name or alias.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

EPSILON = 1e-7  # keras.config.epsilon(), the clip used by probability cross-entropies
# Keras clips in float32, where `1 - 1e-7` rounds to `1 - 2**-23` (1 - 1.19e-7): for a probability of
# exactly 1, log(1 - p) is log(1.19e-7) = -15.94, not log(1e-7) = -16.12. Model the float32 bounds.
CLIP_LOW = float(np.float32(EPSILON))
CLIP_HIGH = float(np.float32(1.0 - EPSILON))
SELU_ALPHA = 1.67326324235437728481704299167171
SELU_SCALE = 1.05070098735548049341933498529460

__all__ = [
    "activation",
    "add",
    "apply_layer",
    "average",
    "avg_pool1d",
    "avg_pool2d",
    "batch_norm_inference",
    "batch_norm_train_step",
    "bidirectional",
    "binary_crossentropy",
    "categorical_crossentropy",
    "concatenate",
    "conv1d",
    "conv2d",
    "dense",
    "dropout",
    "embedding",
    "flatten",
    "global_avg_pool1d",
    "global_avg_pool2d",
    "global_max_pool1d",
    "global_max_pool2d",
    "gru",
    "huber",
    "layer_norm",
    "leaky_relu",
    "loss",
    "lstm",
    "mae",
    "max_pool1d",
    "max_pool2d",
    "maximum",
    "minimum",
    "mse",
    "multiply",
    "relu_layer",
    "rescaling",
    "reshape",
    "same_padding",
    "simple_rnn",
    "softmax_layer",
    "sparse_categorical_crossentropy",
    "subtract",
]


# --------------------------------------------------------------------------------------------------
# helpers


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _tuple(value, n: int, what: str) -> tuple[int, ...]:
    if isinstance(value, int | np.integer):
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"{what} needs {n} values, got {value}")
    return value


_IGNORED = ("unit_forget_bias", "name", "trainable")


def _extra(fn: str, extra: Mapping[str, Any], **actual: Any) -> None:
    """Accept registry arguments that do not change the computation; check size arguments against weights."""
    for key, value in extra.items():
        if key.endswith(("_initializer", "_regularizer")) or key in _IGNORED:
            continue
        if key not in actual:
            raise TypeError(f"{fn}() got an unexpected argument {key!r}")
        want = actual[key]
        got = tuple(value) if isinstance(value, list | tuple) else value
        if isinstance(want, tuple) and not isinstance(got, tuple):
            got = (got,) * len(want)
        if got != want:
            raise ValueError(f"{fn}(): {key}={value!r} does not match the weights ({want!r})")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.exp(_log_softmax(x, axis))


_erf = np.vectorize(math.erf, otypes=[np.float64])


# --------------------------------------------------------------------------------------------------
# activations

_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": lambda x: _softmax(x, -1),
    # keras.activations.gelu(approximate=False): the exact erf form
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "swish": lambda x: x * _sigmoid(x),
    "log_softmax": lambda x: _log_softmax(x, -1),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),  # the activation's slope; the LeakyReLU layer's is 0.3
    "silu": lambda x: x * _sigmoid(x),  # Keras' swish is silu
    "mish": lambda x: x * np.tanh(np.logaddexp(0.0, x)),
    "hard_sigmoid": lambda x: np.clip(x + 3.0, 0.0, 6.0) / 6.0,  # Keras 3: relu6(x + 3) / 6
    "hard_silu": lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
}


def activation(name: str | None, x) -> np.ndarray:
    """A Keras activation by name (`None` is linear); softmax and log_softmax run over the last axis."""
    x = _f64(x)
    if name is None:
        return x
    try:
        fn = _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}") from None
    return fn(x)


_activate = activation  # for functions whose `activation` argument shadows the function


# --------------------------------------------------------------------------------------------------
# core


def dense(x, kernel, bias=None, *, activation: str = "linear", use_bias: bool = True, **extra) -> np.ndarray:
    """`x @ kernel + bias` on the last axis, then the activation. kernel `[in, out]`."""
    kernel = _f64(kernel)
    _extra("dense", extra, units=kernel.shape[1])
    y = _f64(x) @ kernel
    if use_bias:
        if bias is None:
            raise ValueError("dense(): use_bias=True needs a bias")
        y = y + _f64(bias)
    return _activate(activation, y)


def relu_layer(x, *, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0) -> np.ndarray:
    """The `ReLU` layer, exactly as `keras.activations.relu` composes it.

    `x` above `threshold` (clipped to `max_value` when set), else `negative_slope * (x - threshold)`.
    Like the Keras layer, it refuses a negative `max_value`, `negative_slope` or `threshold`.
    """
    for key, value in (("max_value", max_value), ("negative_slope", negative_slope), ("threshold", threshold)):
        if value is not None and value < 0:
            raise ValueError(f"relu_layer(): {key} cannot be negative (Keras' ReLU layer refuses it), got {value}")
    x = _f64(x)
    if negative_slope != 0.0:
        if max_value is None and threshold == 0:
            return np.where(x >= 0, x, negative_slope * x)
        negative_part = np.maximum(threshold - x, 0.0)
    else:
        negative_part = 0.0
    y = np.where(x > threshold, x, 0.0) if threshold != 0 else np.maximum(x, 0.0)
    if max_value is not None:
        y = np.clip(y, 0.0, max_value)
    return y - negative_slope * negative_part


def leaky_relu(x, *, negative_slope: float = 0.3) -> np.ndarray:
    """The `LeakyReLU` layer (its default slope is 0.3; the `leaky_relu` activation's is 0.2)."""
    x = _f64(x)
    return np.where(x >= 0, x, negative_slope * x)


def softmax_layer(x, *, axis: int = -1) -> np.ndarray:
    """The `Softmax` layer over `axis` (Keras axes: 0 is the batch)."""
    return _softmax(_f64(x), axis)


def rescaling(x, *, scale: float, offset: float = 0.0) -> np.ndarray:
    return _f64(x) * scale + offset


def dropout(x, *, rate: float = 0.0, **extra) -> np.ndarray:
    """Inference (and every equivalence check): the identity."""
    _extra("dropout", extra)
    return _f64(x)


def reshape(x, *, target_shape: Sequence[int]) -> np.ndarray:
    """One sample's new shape; one entry may be -1."""
    x = _f64(x)
    return x.reshape((x.shape[0], *target_shape))


def flatten(x) -> np.ndarray:
    """Row-major over one sample's channels-last shape (`(h, w, c)` -> `h*w*c`)."""
    x = _f64(x)
    return x.reshape(x.shape[0], -1)


def embedding(ids, embeddings, **extra) -> np.ndarray:
    """Rows of `embeddings [input_dim, output_dim]`; ids must lie in `[0, input_dim)`. Float ids are cast to
    integers as Keras casts them (to int32, truncating toward zero: 2.7 is 2)."""
    table = _f64(embeddings)
    _extra("embedding", extra, input_dim=table.shape[0], output_dim=table.shape[1])
    ids = np.asarray(ids)
    if np.issubdtype(ids.dtype, np.floating):
        ids = ids.astype(np.int32)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"embedding(): token ids must be integers or floats, got {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= table.shape[0]):
        raise IndexError(f"embedding(): ids out of range [0, {table.shape[0]})")
    return table[ids]


# --------------------------------------------------------------------------------------------------
# merges (each takes the list of inputs, in order)


def _merge_inputs(inputs: Sequence, what: str, exactly: int | None = None) -> list[np.ndarray]:
    arrays = [_f64(x) for x in inputs]
    if len(arrays) < 2 or (exactly is not None and len(arrays) != exactly):
        raise ValueError(f"{what} needs {'exactly ' + str(exactly) if exactly else 'at least 2'} inputs")
    return arrays


def add(inputs: Sequence) -> np.ndarray:
    arrays = _merge_inputs(inputs, "add")
    return sum(arrays[1:], arrays[0])


def subtract(inputs: Sequence) -> np.ndarray:
    first, second = _merge_inputs(inputs, "subtract", exactly=2)
    return first - second


def multiply(inputs: Sequence) -> np.ndarray:
    arrays = _merge_inputs(inputs, "multiply")
    out = arrays[0]
    for a in arrays[1:]:
        out = out * a
    return out


def average(inputs: Sequence) -> np.ndarray:
    arrays = _merge_inputs(inputs, "average")
    return add(arrays) / len(arrays)


def maximum(inputs: Sequence) -> np.ndarray:
    return np.maximum.reduce(_merge_inputs(inputs, "maximum"))


def minimum(inputs: Sequence) -> np.ndarray:
    return np.minimum.reduce(_merge_inputs(inputs, "minimum"))


def concatenate(inputs: Sequence, *, axis: int = -1) -> np.ndarray:
    """Concatenation along a Keras axis (0 is the batch)."""
    return np.concatenate(_merge_inputs(inputs, "concatenate"), axis=axis)


# --------------------------------------------------------------------------------------------------
# convolution and pooling


def same_padding(size: int, window: int, stride: int) -> tuple[int, int]:
    """Keras/TensorFlow `same`: `out = ceil(n / s)`; the odd padded cell goes at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def _pad(x: np.ndarray, windows: Sequence[int], strides: Sequence[int], padding: str, value: float) -> np.ndarray:
    if padding == "valid":
        return x
    if padding != "same":
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    pads = [(0, 0)]
    pads += [same_padding(n, w, s) for n, w, s in zip(x.shape[1:-1], windows, strides, strict=True)]
    pads.append((0, 0))
    return np.pad(x, pads, constant_values=value)


def _window_slices(sizes, windows, strides, dilations):
    """Yield, per window offset, the index taking that offset's cell from every output position."""
    outs = [(n - (d * (w - 1) + 1)) // s + 1 for n, w, s, d in zip(sizes, windows, strides, dilations, strict=True)]
    if any(o <= 0 for o in outs):
        raise ValueError(f"input {tuple(sizes)} is smaller than the window {tuple(windows)}")
    for offset in np.ndindex(*windows):
        yield (
            offset,
            (slice(None),)
            + tuple(
                slice(o * d, o * d + (m - 1) * s + 1, s)
                for o, d, m, s in zip(offset, dilations, outs, strides, strict=True)
            ),
        )


def _conv(fn, x, kernel, bias, spatial, strides, padding, dilation_rate, activation_name, use_bias, extra):
    x, kernel = _f64(x), _f64(kernel)
    if x.ndim != spatial + 2 or kernel.ndim != spatial + 2:
        raise ValueError(f"{fn}(): input needs rank {spatial + 2}, kernel rank {spatial + 2}")
    windows = kernel.shape[:spatial]
    _extra(fn, extra, filters=kernel.shape[-1], kernel_size=tuple(windows))
    strides = _tuple(strides, spatial, "strides")
    dilations = _tuple(dilation_rate, spatial, "dilation_rate")
    effective = [d * (w - 1) + 1 for w, d in zip(windows, dilations, strict=True)]
    x = _pad(x, effective, strides, padding, 0.0)
    y = None
    for offset, index in _window_slices(x.shape[1:-1], windows, strides, dilations):
        term = x[index] @ kernel[offset]
        y = term if y is None else y + term
    if use_bias:
        if bias is None:
            raise ValueError(f"{fn}(): use_bias=True needs a bias")
        y = y + _f64(bias)
    return activation(activation_name, y)


def conv1d(
    x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, activation="linear", use_bias=True, **extra
) -> np.ndarray:
    """`Conv1D`: x `[b, t, c]`, kernel `[k, in, out]`."""
    return _conv("conv1d", x, kernel, bias, 1, strides, padding, dilation_rate, activation, use_bias, extra)


def conv2d(
    x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, activation="linear", use_bias=True, **extra
) -> np.ndarray:
    """`Conv2D`: x `[b, h, w, c]`, kernel `[kh, kw, in, out]`."""
    return _conv("conv2d", x, kernel, bias, 2, strides, padding, dilation_rate, activation, use_bias, extra)


def _pool(x, spatial, kind, pool_size, strides, padding):
    x = _f64(x)
    if x.ndim != spatial + 2:
        raise ValueError(f"pooling needs rank {spatial + 2} input, got {x.ndim}")
    windows = _tuple(pool_size, spatial, "pool_size")
    strides = windows if strides is None else _tuple(strides, spatial, "strides")
    ones = (1,) * spatial
    if kind == "max":
        padded = _pad(x, windows, strides, padding, -np.inf)
        parts = [padded[i] for _, i in _window_slices(padded.shape[1:-1], windows, strides, ones)]
        return np.maximum.reduce(parts)
    # average over the real cells only: padded cells are neither summed nor counted
    padded = _pad(x, windows, strides, padding, 0.0)
    real = _pad(np.ones((1, *x.shape[1:-1], 1)), windows, strides, padding, 0.0)
    total = count = 0.0
    for _, index in _window_slices(padded.shape[1:-1], windows, strides, ones):
        total = total + padded[index]
        count = count + real[index]
    return total / count


def max_pool1d(x, *, pool_size=2, strides=None, padding="valid") -> np.ndarray:
    return _pool(x, 1, "max", pool_size, strides, padding)


def max_pool2d(x, *, pool_size=(2, 2), strides=None, padding="valid") -> np.ndarray:
    return _pool(x, 2, "max", pool_size, strides, padding)


def avg_pool1d(x, *, pool_size=2, strides=None, padding="valid") -> np.ndarray:
    return _pool(x, 1, "avg", pool_size, strides, padding)


def avg_pool2d(x, *, pool_size=(2, 2), strides=None, padding="valid") -> np.ndarray:
    return _pool(x, 2, "avg", pool_size, strides, padding)


def _global(x, spatial, reduce, keepdims):
    x = _f64(x)
    if x.ndim != spatial + 2:
        raise ValueError(f"global pooling needs rank {spatial + 2} input, got {x.ndim}")
    return reduce(x, axis=tuple(range(1, spatial + 1)), keepdims=keepdims)


def global_avg_pool1d(x, *, keepdims: bool = False) -> np.ndarray:
    return _global(x, 1, np.mean, keepdims)


def global_avg_pool2d(x, *, keepdims: bool = False) -> np.ndarray:
    return _global(x, 2, np.mean, keepdims)


def global_max_pool1d(x, *, keepdims: bool = False) -> np.ndarray:
    return _global(x, 1, np.max, keepdims)


def global_max_pool2d(x, *, keepdims: bool = False) -> np.ndarray:
    return _global(x, 2, np.max, keepdims)


# --------------------------------------------------------------------------------------------------
# normalization


def _channel_view(x: np.ndarray, axis: int, vector) -> np.ndarray:
    """A per-channel vector shaped to broadcast against `x` on `axis`."""
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    return _f64(vector).reshape(shape)


def _affine(x, axis, gamma, beta, center, scale, fn):
    if scale:
        if gamma is None:
            raise ValueError(f"{fn}(): scale=True needs gamma")
        x = x * _channel_view(x, axis, gamma)
    if center:
        if beta is None:
            raise ValueError(f"{fn}(): center=True needs beta")
        x = x + _channel_view(x, axis, beta)
    return x


def batch_norm_inference(
    x,
    moving_mean,
    moving_variance,
    gamma=None,
    beta=None,
    *,
    axis: int = -1,
    epsilon: float = 1e-3,
    center: bool = True,
    scale: bool = True,
    momentum: float = 0.99,
    **extra,
) -> np.ndarray:
    """`(x - moving_mean) / sqrt(moving_variance + epsilon) * gamma + beta` (TensorFlow's fused form in float64)."""
    _extra("batch_norm_inference", extra)
    x = _f64(x)
    axis = axis % x.ndim
    inv = 1.0 / np.sqrt(_channel_view(x, axis, moving_variance) + epsilon)
    y = (x - _channel_view(x, axis, moving_mean)) * inv
    return _affine(y, axis, gamma, beta, center, scale, "batch_norm_inference")


def batch_norm_train_step(
    x,
    moving_mean,
    moving_variance,
    gamma=None,
    beta=None,
    *,
    axis: int = -1,
    momentum: float = 0.99,
    epsilon: float = 1e-3,
    center: bool = True,
    scale: bool = True,
    **extra,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One training-mode call: `(output, new_moving_mean, new_moving_variance)`.

    The output normalises with the batch mean and the **biased** batch variance (over every axis but
    `axis`); the moving statistics become `moving * momentum + batch * (1 - momentum)`.
    """
    _extra("batch_norm_train_step", extra)
    x = _f64(x)
    axis = axis % x.ndim
    reduce = tuple(a for a in range(x.ndim) if a != axis)
    mean = x.mean(axis=reduce)
    variance = ((x - _channel_view(x, axis, mean)) ** 2).mean(axis=reduce)
    y = (x - _channel_view(x, axis, mean)) / np.sqrt(_channel_view(x, axis, variance) + epsilon)
    y = _affine(y, axis, gamma, beta, center, scale, "batch_norm_train_step")
    new_mean = _f64(moving_mean) * momentum + mean * (1.0 - momentum)
    new_variance = _f64(moving_variance) * momentum + variance * (1.0 - momentum)
    return y, new_mean, new_variance


def layer_norm(
    x, gamma=None, beta=None, *, axis: int = -1, epsilon: float = 1e-3, center: bool = True, scale: bool = True, **extra
) -> np.ndarray:
    """Normalise each sample over `axis` with its own mean and biased variance, then `* gamma + beta`."""
    _extra("layer_norm", extra)
    x = _f64(x)
    axis = axis % x.ndim
    mean = x.mean(axis=axis, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=axis, keepdims=True)
    y = (x - mean) / np.sqrt(variance + epsilon)
    return _affine(y, axis, gamma, beta, center, scale, "layer_norm")


# --------------------------------------------------------------------------------------------------
# recurrent layers: x `[batch, time, features]`, zero initial state


def _recurrent_weights(fn, x, kernel, recurrent_kernel, bias, gates, use_bias, extra):
    x, kernel, recurrent = _f64(x), _f64(kernel), _f64(recurrent_kernel)
    if x.ndim != 3:
        raise ValueError(f"{fn}(): needs a sequence [batch, time, features], got rank {x.ndim}")
    units = recurrent.shape[0]
    if kernel.shape != (x.shape[-1], gates * units) or recurrent.shape != (units, gates * units):
        raise ValueError(f"{fn}(): kernel {kernel.shape} / recurrent_kernel {recurrent.shape} do not fit")
    _extra(fn, extra, units=units)
    if use_bias and bias is None:
        raise ValueError(f"{fn}(): use_bias=True needs a bias")
    return x, kernel, recurrent, (_f64(bias) if use_bias else None), units


def _run(step, x, states, return_sequences):
    outputs = []
    for t in range(x.shape[1]):
        states = step(x[:, t], states)
        outputs.append(states[0])
    return np.stack(outputs, axis=1) if return_sequences else outputs[-1]


def simple_rnn(
    x,
    kernel,
    recurrent_kernel,
    bias=None,
    *,
    activation: str = "tanh",
    use_bias: bool = True,
    return_sequences: bool = False,
    **extra,
) -> np.ndarray:
    """`h = act(x W + h U + b)`."""
    x, w, u, b, units = _recurrent_weights("simple_rnn", x, kernel, recurrent_kernel, bias, 1, use_bias, extra)

    def step(xt, states):
        z = xt @ w + states[0] @ u
        return (_activate(activation, z if b is None else z + b),)

    return _run(step, x, (np.zeros((x.shape[0], units)),), return_sequences)


def lstm(
    x,
    kernel,
    recurrent_kernel,
    bias=None,
    *,
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
    use_bias: bool = True,
    return_sequences: bool = False,
    **extra,
) -> np.ndarray:
    """Keras' LSTM, gates `i, f, c, o` in column blocks, one bias `[4u]`:
    `c = f*c + i*act(zc)`, `h = o*act(c)`."""
    x, w, u, b, units = _recurrent_weights("lstm", x, kernel, recurrent_kernel, bias, 4, use_bias, extra)

    def step(xt, states):
        h, c = states
        z = xt @ w + h @ u
        if b is not None:
            z = z + b
        zi, zf, zc, zo = np.split(z, 4, axis=-1)
        i = _activate(recurrent_activation, zi)
        f = _activate(recurrent_activation, zf)
        o = _activate(recurrent_activation, zo)
        c = f * c + i * _activate(activation, zc)
        return (o * _activate(activation, c), c)

    zeros = np.zeros((x.shape[0], units))
    return _run(step, x, (zeros, zeros), return_sequences)


def gru(
    x,
    kernel,
    recurrent_kernel,
    bias=None,
    *,
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
    use_bias: bool = True,
    return_sequences: bool = False,
    reset_after: bool = True,
    **extra,
) -> np.ndarray:
    """Keras' GRU with `reset_after=True`: gates `z, r, h`, bias `[2, 3u]` (input row, recurrent row);
    the reset gate multiplies the recurrent candidate *after* its bias: `hh = act(xh + r * (h U_h + b_rh))`,
    `h = z*h + (1-z)*hh`."""
    if not reset_after:
        raise NotImplementedError("gru(): only Keras' default reset_after=True is modelled")
    x, w, u, b, units = _recurrent_weights("gru", x, kernel, recurrent_kernel, bias, 3, use_bias, extra)
    if b is not None and b.shape != (2, 3 * units):
        raise ValueError(f"gru(): bias must be [2, {3 * units}], got {b.shape}")

    def step(xt, states):
        (h,) = states
        mx, mh = xt @ w, h @ u
        if b is not None:
            mx, mh = mx + b[0], mh + b[1]
        xz, xr, xh = np.split(mx, 3, axis=-1)
        hz, hr, hh = np.split(mh, 3, axis=-1)
        z = _activate(recurrent_activation, xz + hz)
        r = _activate(recurrent_activation, xr + hr)
        candidate = _activate(activation, xh + r * hh)
        return (z * h + (1.0 - z) * candidate,)

    return _run(step, x, (np.zeros((x.shape[0], units)),), return_sequences)


def bidirectional(
    layer_fn: Callable[..., np.ndarray],
    x,
    forward: Mapping[str, Any],
    backward: Mapping[str, Any],
    *,
    merge_mode: str | None = "concat",
    **layer_args,
):
    """`Bidirectional(layer)`: `layer_fn(x, **forward, **layer_args)` and the same on the time-reversed
    sequence with the backward weights; with `return_sequences` the backward outputs are flipped back to
    input time order. Merged `[forward, backward]` on the last axis (`concat`), or `sum`, `mul`, `ave`;
    `merge_mode=None` returns the pair."""
    x = _f64(x)
    y_forward = layer_fn(x, **forward, **layer_args)
    y_backward = layer_fn(x[:, ::-1], **backward, **layer_args)
    if layer_args.get("return_sequences", False):
        y_backward = y_backward[:, ::-1]
    if merge_mode == "concat":
        return np.concatenate([y_forward, y_backward], axis=-1)
    if merge_mode == "sum":
        return y_forward + y_backward
    if merge_mode == "mul":
        return y_forward * y_backward
    if merge_mode == "ave":
        return (y_forward + y_backward) / 2.0
    if merge_mode is None:
        return y_forward, y_backward
    raise ValueError(f"unknown merge_mode {merge_mode!r}")


# --------------------------------------------------------------------------------------------------
# dispatch on registry op names


def _no_weights(fn):
    def run(inputs, weights, args):
        if weights:
            raise ValueError(f"{fn.__name__}() takes no weights, got {sorted(weights)}")
        (x,) = inputs
        return fn(x, **args)

    return run


def _weighted(fn):
    def run(inputs, weights, args):
        (x,) = inputs
        return fn(x, **weights, **args)

    return run


def _merge(fn):
    def run(inputs, weights, args):
        if weights:
            raise ValueError(f"{fn.__name__}() takes no weights")
        return fn(list(inputs), **args)

    return run


def _activation_layer(inputs, weights, args):
    (x,) = inputs
    return activation(args["activation"], x)


def _bidirectional_layer(inputs, weights, args):
    (x,) = inputs
    inner, inner_args = args["layer"]
    halves: dict[str, dict[str, Any]] = {"forward": {}, "backward": {}}
    for key, value in weights.items():
        half, _, name = key.partition(".")
        if half not in halves or not name:
            raise ValueError(f"Bidirectional weight {key!r} is neither forward.* nor backward.*")
        halves[half][name] = value
    fn = _RECURRENT[inner]
    return bidirectional(fn, x, halves["forward"], halves["backward"], merge_mode=args["merge_mode"], **inner_args)


def _batch_norm_layer(inputs, weights, args):
    (x,) = inputs
    return batch_norm_inference(x, **weights, **args)


_RECURRENT = {"SimpleRNN": simple_rnn, "LSTM": lstm, "GRU": gru}

LAYERS: dict[str, Callable[[Sequence, Mapping[str, Any], Mapping[str, Any]], np.ndarray]] = {
    "Dense": _weighted(dense),
    "Activation": _activation_layer,
    "ReLU": _no_weights(relu_layer),
    "LeakyReLU": _no_weights(leaky_relu),
    "Softmax": _no_weights(softmax_layer),
    "Dropout": _no_weights(dropout),
    "Flatten": _no_weights(flatten),
    "Reshape": _no_weights(reshape),
    "Rescaling": _no_weights(rescaling),
    "Conv1D": _weighted(conv1d),
    "Conv2D": _weighted(conv2d),
    "MaxPool1D": _no_weights(max_pool1d),
    "MaxPool2D": _no_weights(max_pool2d),
    "AvgPool1D": _no_weights(avg_pool1d),
    "AvgPool2D": _no_weights(avg_pool2d),
    "GlobalAvgPool1D": _no_weights(global_avg_pool1d),
    "GlobalAvgPool2D": _no_weights(global_avg_pool2d),
    "GlobalMaxPool1D": _no_weights(global_max_pool1d),
    "GlobalMaxPool2D": _no_weights(global_max_pool2d),
    "BatchNormalization": _batch_norm_layer,
    "LayerNormalization": _weighted(layer_norm),
    "Embedding": _weighted(embedding),
    "SimpleRNN": _weighted(simple_rnn),
    "LSTM": _weighted(lstm),
    "GRU": _weighted(gru),
    "Bidirectional": _bidirectional_layer,
    "Add": _merge(add),
    "Subtract": _merge(subtract),
    "Multiply": _merge(multiply),
    "Average": _merge(average),
    "Maximum": _merge(maximum),
    "Minimum": _merge(minimum),
    "Concatenate": _merge(concatenate),
}


def apply_layer(op: str, inputs: Sequence, weights: Mapping[str, Any], args: Mapping[str, Any]) -> np.ndarray:
    """Run registry op `op` in inference mode: `inputs` a list of arrays, `weights` keyed by canonical
    names without the layer prefix (`kernel`, `forward.bias`), `args` the registry-bound Keras arguments."""
    run = LAYERS.get(op) or family_layers().get(op)
    if run is None:
        raise ValueError(f"no reference for op {op!r}")
    return run(list(inputs), dict(weights), dict(args))


def family_layers() -> dict[str, Callable[[Sequence, Mapping[str, Any], Mapping[str, Any]], np.ndarray]]:
    """The references of the layer families added since version 1, each in its own module (which builds on the
    helpers here, so it is imported when first needed rather than at the top)."""
    from . import attention_numpy, conv_variants_numpy, resize_numpy

    return attention_numpy.LAYERS | conv_variants_numpy.LAYERS | resize_numpy.LAYERS


# --------------------------------------------------------------------------------------------------
# losses: Keras' per-sample loss, reduced by its default `sum_over_batch_size` (a mean)


def _mean(per_sample: np.ndarray) -> float:
    return float(np.mean(per_sample))


def mse(y_true, y_pred) -> float:
    return _mean(np.mean((_f64(y_pred) - _f64(y_true)) ** 2, axis=-1))


def mae(y_true, y_pred) -> float:
    return _mean(np.mean(np.abs(_f64(y_pred) - _f64(y_true)), axis=-1))


def huber(y_true, y_pred, delta: float = 1.0) -> float:
    error = _f64(y_pred) - _f64(y_true)
    small = np.abs(error) <= delta
    per = np.where(small, 0.5 * error**2, delta * np.abs(error) - 0.5 * delta**2)
    return _mean(np.mean(per, axis=-1))


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0) -> float:
    """Element-wise, averaged over the last axis, then over the batch. Probabilities are clipped to
    `[1e-7, 1 - 1e-7]` (float32 bounds); logits use the stable `max(x, 0) - x*t + log1p(exp(-|x|))`."""
    target, output = _f64(y_true), _f64(y_pred)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        per = np.maximum(output, 0.0) - output * target + np.log1p(np.exp(-np.abs(output)))
    else:
        p = np.clip(output, CLIP_LOW, CLIP_HIGH)
        per = -(target * np.log(p) + (1.0 - target) * np.log(1.0 - p))
    return _mean(np.mean(per, axis=-1))


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0) -> float:
    """One-hot (or soft) targets. Probabilities are renormalised to sum 1, then clipped to
    `[1e-7, 1 - 1e-7]` (float32 bounds); logits go through a log-softmax. Smoothing: `t*(1-s) + s/classes`."""
    target, output = _f64(y_true), _f64(y_pred)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / target.shape[-1]
    if from_logits:
        log_p = _log_softmax(output, -1)
    else:
        p = output / np.sum(output, axis=-1, keepdims=True)
        log_p = np.log(np.clip(p, CLIP_LOW, CLIP_HIGH))
    return _mean(-np.sum(target * log_p, axis=-1))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False) -> float:
    """Integer class ids (`[b]` or `[b, 1]`). Probabilities are clipped to `[1e-7, 1 - 1e-7]`, logged and
    put through a log-softmax (so they are effectively renormalised). Keras has no label smoothing here."""
    output = _f64(y_pred)
    labels = np.asarray(y_true)
    if labels.ndim == output.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    labels = labels.astype(np.int64)
    logits = output if from_logits else np.log(np.clip(output, CLIP_LOW, CLIP_HIGH))
    log_p = _log_softmax(logits, -1)
    picked = np.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0]
    return _mean(-picked)


LOSSES: dict[str, Callable[..., float]] = {
    "mean_squared_error": mse,
    "mse": mse,
    "mean_absolute_error": mae,
    "mae": mae,
    "huber": huber,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}


def loss(name: str, y_true, y_pred, args: Mapping[str, Any] | None = None) -> float:
    """A loss by canonical name or alias, with its Keras arguments."""
    try:
        fn = LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}") from None
    return fn(y_true, y_pred, **(args or {}))
