"""NumPy references of the transposed, separable and depthwise convolutions, as Keras 3 computes them.

Written from Keras' equations (keras/src/backend/common/backend_utils.py for the transposed output sizes,
TensorFlow's depthwise channel order), independent of the op registry; `test_conv_variants_reference.py` proves
each one against the real Keras layer. Weights are canonical (Keras' names and layouts), arguments are the
registry's bound Keras arguments, inputs channels-last with the batch first; float64 throughout.
"""

from __future__ import annotations

import numpy as np

from .keras_numpy import _activate, _extra, _f64, _tuple, _weighted, _window_slices, same_padding

__all__ = ["conv_transpose", "depthwise_conv", "separable_conv", "transpose_output_size"]


def transpose_output_size(size: int, kernel: int, stride: int, dilation: int, padding: str, extra) -> int:
    """Keras' output length of a transposed convolution along one dimension (`extra`: output_padding or None)."""
    effective = dilation * (kernel - 1) + 1
    if padding == "valid":
        return (size - 1) * stride + effective + (max(effective, stride) - effective if extra is None else extra)
    if padding != "same":
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return size * stride if extra is None else (size - 1) * stride + effective % 2 + extra


def conv_transpose(
    x,
    kernel,
    bias=None,
    *,
    strides=1,
    padding="valid",
    output_padding=None,
    dilation_rate=1,
    activation="linear",
    use_bias=True,
    **extra,
) -> np.ndarray:
    """`Conv1DTranspose` / `Conv2DTranspose`: x `[b, n..., in]`, kernel `[k..., filters, in]`.

    The full transposed result scatters each input cell through the kernel: input position `i` and kernel offset
    `o` land at `i * s + o * d`, `(n - 1) * s + d * (k - 1) + 1` cells in all. TensorFlow computes the layer as the
    gradient of a convolution whose input is Keras' output size: `same` crops `max(full - out, 0) // 2` cells at
    the start (the odd one comes off the end), `valid` none; an output longer than the full result is extended
    with zeros at the end, before the bias.
    """
    x, kernel = _f64(x), _f64(kernel)
    spatial = kernel.ndim - 2
    if x.ndim != spatial + 2:
        raise ValueError(f"conv_transpose(): input needs rank {spatial + 2}, got {x.ndim}")
    windows = kernel.shape[:spatial]
    _extra("conv_transpose", extra, filters=kernel.shape[-2], kernel_size=tuple(windows))
    strides = _tuple(strides, spatial, "strides")
    dilations = _tuple(dilation_rate, spatial, "dilation_rate")
    extras = (None,) * spatial if output_padding is None else _tuple(output_padding, spatial, "output_padding")
    sizes = x.shape[1:-1]
    effective = [d * (k - 1) + 1 for k, d in zip(windows, dilations, strict=True)]
    full_sizes = [(n - 1) * s + e for n, s, e in zip(sizes, strides, effective, strict=True)]
    full = np.zeros((x.shape[0], *full_sizes, kernel.shape[-2]))
    for offset in np.ndindex(*windows):
        index = (slice(None),) + tuple(
            slice(o * d, o * d + (n - 1) * s + 1, s)
            for o, d, n, s in zip(offset, dilations, sizes, strides, strict=True)
        )
        full[index] += x @ kernel[offset].T
    outs = [
        transpose_output_size(n, k, s, d, padding, e)
        for n, k, s, d, e in zip(sizes, windows, strides, dilations, extras, strict=True)
    ]
    y = np.zeros((x.shape[0], *outs, kernel.shape[-2]))
    source, target = [slice(None)], [slice(None)]
    for f, o in zip(full_sizes, outs, strict=True):
        before = max(f - o, 0) // 2 if padding == "same" else 0
        kept = min(o, f - before)
        source.append(slice(before, before + kept))
        target.append(slice(0, kept))
    y[tuple(target)] = full[tuple(source)]
    if use_bias:
        if bias is None:
            raise ValueError("conv_transpose(): use_bias=True needs a bias")
        y = y + _f64(bias)
    return _activate(activation, y)


def _depthwise(x, kernel, strides, padding, dilation_rate) -> np.ndarray:
    """The depthwise window alone: kernel `[k..., in, m]`, output channel `c * m + j` from input channel `c`."""
    x, kernel = _f64(x), _f64(kernel)
    spatial = kernel.ndim - 2
    if x.ndim != spatial + 2 or x.shape[-1] != kernel.shape[-2]:
        raise ValueError(f"depthwise: input {x.shape} does not fit kernel {kernel.shape}")
    windows = kernel.shape[:spatial]
    strides = _tuple(strides, spatial, "strides")
    dilations = _tuple(dilation_rate, spatial, "dilation_rate")
    if padding == "same":
        effective = [d * (k - 1) + 1 for k, d in zip(windows, dilations, strict=True)]
        pads = [same_padding(n, e, s) for n, e, s in zip(x.shape[1:-1], effective, strides, strict=True)]
        x = np.pad(x, [(0, 0), *pads, (0, 0)])
    elif padding != "valid":
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    y = None
    for offset, index in _window_slices(x.shape[1:-1], windows, strides, dilations):
        term = x[index][..., :, None] * kernel[offset]  # [b, out..., in, m]
        y = term if y is None else y + term
    return y.reshape(*y.shape[:-2], -1)


def depthwise_conv(
    x,
    kernel,
    bias=None,
    *,
    strides=1,
    padding="valid",
    depth_multiplier=1,
    dilation_rate=1,
    activation="linear",
    use_bias=True,
    **extra,
) -> np.ndarray:
    """`DepthwiseConv1D` / `DepthwiseConv2D`: x `[b, n..., in]`, kernel `[k..., in, m]`, output `in * m` channels."""
    kernel = _f64(kernel)
    _extra("depthwise_conv", extra, kernel_size=tuple(kernel.shape[:-2]))
    if depth_multiplier != kernel.shape[-1]:
        raise ValueError(f"depthwise_conv(): depth_multiplier={depth_multiplier} does not match {kernel.shape}")
    y = _depthwise(x, kernel, strides, padding, dilation_rate)
    if use_bias:
        if bias is None:
            raise ValueError("depthwise_conv(): use_bias=True needs a bias")
        y = y + _f64(bias)
    return _activate(activation, y)


def separable_conv(
    x,
    depthwise_kernel,
    pointwise_kernel,
    bias=None,
    *,
    strides=1,
    padding="valid",
    dilation_rate=1,
    depth_multiplier=1,
    activation="linear",
    use_bias=True,
    **extra,
) -> np.ndarray:
    """`SeparableConv1D` / `SeparableConv2D`: the depthwise window (strides, padding and dilation apply there),
    then a 1x1 convolution: pointwise_kernel `[1..., in * m, filters]`, then the bias and the activation."""
    depthwise_kernel, pointwise_kernel = _f64(depthwise_kernel), _f64(pointwise_kernel)
    windows = tuple(depthwise_kernel.shape[:-2])
    _extra("separable_conv", extra, filters=pointwise_kernel.shape[-1], kernel_size=windows)
    if depth_multiplier != depthwise_kernel.shape[-1]:
        raise ValueError(f"separable_conv(): depth_multiplier={depth_multiplier} does not fit the kernel")
    y = _depthwise(x, depthwise_kernel, strides, padding, dilation_rate)
    y = y @ pointwise_kernel.reshape(pointwise_kernel.shape[-2], pointwise_kernel.shape[-1])
    if use_bias:
        if bias is None:
            raise ValueError("separable_conv(): use_bias=True needs a bias")
        y = y + _f64(bias)
    return _activate(activation, y)


LAYERS: dict = {
    "Conv1DTranspose": _weighted(conv_transpose),
    "Conv2DTranspose": _weighted(conv_transpose),
    "SeparableConv1D": _weighted(separable_conv),
    "SeparableConv2D": _weighted(separable_conv),
    "DepthwiseConv1D": _weighted(depthwise_conv),
    "DepthwiseConv2D": _weighted(depthwise_conv),
}
