"""NumPy references of the resizing and rearranging layers, as Keras 3 computes them (float64, channels-last).

Arguments are Keras' and take Keras' short forms as well as the registry's normalised ones (`padding=1`,
`(1, 2)`, `((1, 2), (3, 4))`). `data_format` may only be channels_last, as in the language.

Bilinear up-sampling is TensorFlow's `resize_bilinear` with half-pixel centres (what `keras.ops.image.resize`
calls with `antialias=False`): for output index `o` along an axis of `n` cells scaled by `s`, the source position
is `(o + 0.5) * (n / (n * s)) - 0.5`, its neighbours `max(floor, 0)` and `min(ceil, n - 1)`, the weight of the upper
one `position - floor`. TensorFlow computes these positions in float32, so does this reference: for a factor that
is not a power of two the float32 position is off by up to `n * 2**-24`, which on a 300-cell axis moves outputs by
~2e-4 (measured), far beyond the contract; everything after the positions is float64 here.
"""

from __future__ import annotations

import numpy as np

from .keras_numpy import _f64, _no_weights


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _pairs2d(value) -> tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(value, int):
        return (value, value), (value, value)
    rows, cols = value
    return _pair(rows), _pair(cols)


def _channels_last(data_format: str) -> None:
    if data_format != "channels_last":
        raise ValueError(f"only channels_last is referenced, got {data_format!r}")


def _rank(x: np.ndarray, rank: int, layer: str) -> np.ndarray:
    x = _f64(x)
    if x.ndim != rank:
        raise ValueError(f"{layer} needs a rank-{rank} input (batch included), got rank {x.ndim}")
    return x


def up_sampling1d(x, *, size: int = 2) -> np.ndarray:
    """Each step repeated `size` times (Keras: `ops.repeat` on axis 1)."""
    return np.repeat(_rank(x, 3, "UpSampling1D"), size, axis=1)


def bilinear_source(n: int, factor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For one axis of `n` cells scaled by `factor`: lower and upper source indices and the upper one's weight,
    from TensorFlow's float32 half-pixel positions."""
    f32 = np.float32
    scale = f32(n) / f32(n * factor)
    position = (np.arange(n * factor, dtype=f32) + f32(0.5)) * scale - f32(0.5)
    floor = np.floor(position)
    lower = np.maximum(floor, 0).astype(np.int64)
    upper = np.minimum(np.ceil(position), n - 1).astype(np.int64)
    return lower, upper, (position - floor).astype(np.float64)


def _lerp_axis(x: np.ndarray, axis: int, factor: int) -> np.ndarray:
    lower, upper, weight = bilinear_source(x.shape[axis], factor)
    shape = [1] * x.ndim
    shape[axis] = -1
    weight = weight.reshape(shape)
    low, high = np.take(x, lower, axis=axis), np.take(x, upper, axis=axis)
    return low + (high - low) * weight


def up_sampling2d(x, *, size=(2, 2), interpolation: str = "nearest", data_format="channels_last") -> np.ndarray:
    """`nearest` repeats rows and columns (Keras: `ops.repeat`); `bilinear` is TensorFlow's half-pixel resize
    (columns first, then rows, as TensorFlow's kernel interpolates)."""
    _channels_last(data_format)
    rows, cols = _pair(size)
    x = _rank(x, 4, "UpSampling2D")
    if interpolation == "nearest":
        return np.repeat(np.repeat(x, rows, axis=1), cols, axis=2)
    if interpolation != "bilinear":
        raise ValueError(f"interpolation {interpolation!r} is not referenced")
    return _lerp_axis(_lerp_axis(x, 2, cols), 1, rows)


def zero_padding1d(x, *, padding=(1, 1), data_format="channels_last") -> np.ndarray:
    _channels_last(data_format)
    return np.pad(_rank(x, 3, "ZeroPadding1D"), ((0, 0), _pair(padding), (0, 0)))


def zero_padding2d(x, *, padding=((1, 1), (1, 1)), data_format="channels_last") -> np.ndarray:
    _channels_last(data_format)
    return np.pad(_rank(x, 4, "ZeroPadding2D"), ((0, 0), *_pairs2d(padding), (0, 0)))


def _crop(x: np.ndarray, axis: int, pair: tuple[int, int]) -> np.ndarray:
    before, after = pair
    if before + after >= x.shape[axis]:
        raise ValueError(f"cropping {pair} leaves nothing of an axis of {x.shape[axis]}")
    return np.take(x, np.arange(before, x.shape[axis] - after), axis=axis)


def cropping1d(x, *, cropping=(1, 1)) -> np.ndarray:
    return _crop(_rank(x, 3, "Cropping1D"), 1, _pair(cropping))


def cropping2d(x, *, cropping=((0, 0), (0, 0)), data_format="channels_last") -> np.ndarray:
    _channels_last(data_format)
    rows, cols = _pairs2d(cropping)
    return _crop(_crop(_rank(x, 4, "Cropping2D"), 1, rows), 2, cols)


def permute(x, *, dims) -> np.ndarray:
    """Sample axes reordered; `dims` counts from 1 (the batch stays axis 0)."""
    x = _f64(x)
    if sorted(dims) != list(range(1, x.ndim)):
        raise ValueError(f"dims {dims} is not a permutation of the sample axes 1..{x.ndim - 1}")
    return np.transpose(x, (0, *dims))


def repeat_vector(x, *, n: int) -> np.ndarray:
    """[batch, d] -> [batch, n, d]."""
    x = _rank(x, 2, "RepeatVector")
    return np.repeat(x[:, None, :], n, axis=1)


def identity(x) -> np.ndarray:
    return _f64(x)


LAYERS: dict = {
    "UpSampling1D": _no_weights(up_sampling1d),
    "UpSampling2D": _no_weights(up_sampling2d),
    "ZeroPadding1D": _no_weights(zero_padding1d),
    "ZeroPadding2D": _no_weights(zero_padding2d),
    "Cropping1D": _no_weights(cropping1d),
    "Cropping2D": _no_weights(cropping2d),
    "Permute": _no_weights(permute),
    "RepeatVector": _no_weights(repeat_vector),
    "Identity": _no_weights(identity),
}
