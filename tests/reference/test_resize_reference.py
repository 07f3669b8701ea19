"""Proves the NumPy reference of the resizing and rearranging layers (`resize_numpy`) right against the real
Keras 3 layers (TensorFlow backend), and the registry's arguments, defaults and shape rules against Keras' own."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from compiler.frontend import load_text
from compiler.ops import REGISTRY

from . import resize_numpy as R

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ATOL = 1e-5


def f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def sample(shape, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return f32(np.random.default_rng(seed).normal(size=shape) * scale)


def close(actual, expected, atol: float = ATOL) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


# ---------------------------------------------------------------------------------------------- up-sampling


@pytest.mark.parametrize("size", [1, 2, 3])
@pytest.mark.parametrize("steps", [1, 5])
def test_up_sampling1d(keras, size, steps):
    x = sample((3, steps, 4))
    close(R.up_sampling1d(x, size=size), keras.layers.UpSampling1D(size)(x))


UP_SIZES = [2, (2, 2), (1, 3), (3, 2), (5, 3), (4, 1)]
IMAGE_SIZES = [(1, 1), (1, 3), (4, 4), (3, 5), (7, 6)]


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", UP_SIZES, ids=str)
@pytest.mark.parametrize("hw", IMAGE_SIZES, ids=str)
def test_up_sampling2d(keras, interpolation, size, hw):
    x = sample((2, *hw, 3), scale=3.0)
    expected = keras.layers.UpSampling2D(size, interpolation=interpolation)(x)
    close(R.up_sampling2d(x, size=size, interpolation=interpolation), expected)


@pytest.mark.parametrize(
    "hw, size", [((301, 3), (3, 1)), ((100, 100), (3, 3)), ((37, 200), (7, 5)), ((64, 64), (2, 2))]
)
def test_bilinear_positions_are_float32_as_tensorflow_computes_them(keras, hw, size):
    """TensorFlow's source positions are float32: exact for powers of two, off by up to n * 2**-24 otherwise.
    The reference follows them; the same formula with float64 positions misses Keras by far more than the
    contract on long axes (2.4e-4 measured on 301 rows scaled by 3)."""
    x = sample((1, *hw, 2), seed=1, scale=3.0)
    expected = np.asarray(keras.layers.UpSampling2D(size, interpolation="bilinear")(x))
    close(R.up_sampling2d(x, size=size, interpolation="bilinear"), expected)

    def float64_positions(n, factor):
        position = np.clip((np.arange(n * factor) + 0.5) / factor - 0.5, 0, n - 1)
        lower = np.floor(position).astype(np.int64)
        return lower, np.minimum(lower + 1, n - 1), position - lower

    exact = R.bilinear_source
    try:
        R.bilinear_source = float64_positions
        naive = R.up_sampling2d(x, size=size, interpolation="bilinear")
    finally:
        R.bilinear_source = exact
    miss = np.abs(naive - expected).max()
    if size == (2, 2):
        assert miss < ATOL  # a power of two: float32 positions are exact
    else:
        assert miss > 3 * ATOL, miss


def test_bilinear_is_half_pixel_and_clamped(keras):
    """Two cells [0, 1] doubled: half-pixel centres give [0, 0.25, 0.75, 1] (the edges clamped), not
    align_corners' [0, 1/3, 2/3, 1]."""
    x = f32([0.0, 1.0]).reshape(1, 1, 2, 1)
    out = np.asarray(keras.layers.UpSampling2D((1, 2), interpolation="bilinear")(x)).ravel()
    close(out, [0.0, 0.25, 0.75, 1.0])
    close(R.up_sampling2d(x, size=(1, 2), interpolation="bilinear").ravel(), out)


# ---------------------------------------------------------------------------------------------- padding, cropping

PADDING_1D = [0, 1, 2, (0, 3), (2, 1)]
PADDING_2D = [0, 1, (1, 2), ((1, 2), (3, 0)), ((0, 1), 2), (2, (0, 1))]
CROPPING_1D = [0, 1, (0, 2), (3, 0), (1, 2)]
CROPPING_2D = [((0, 0), (0, 0)), 1, (1, 2), ((1, 0), (0, 2)), ((0, 1), 1), (0, (2, 1))]


@pytest.mark.parametrize("padding", PADDING_1D, ids=str)
def test_zero_padding1d(keras, padding):
    x = sample((2, 5, 3))
    close(R.zero_padding1d(x, padding=padding), keras.layers.ZeroPadding1D(padding)(x))


@pytest.mark.parametrize("padding", PADDING_2D, ids=str)
def test_zero_padding2d(keras, padding):
    x = sample((2, 5, 4, 3))
    close(R.zero_padding2d(x, padding=padding), keras.layers.ZeroPadding2D(padding)(x))


@pytest.mark.parametrize("cropping", CROPPING_1D, ids=str)
def test_cropping1d(keras, cropping):
    x = sample((2, 7, 3))
    close(R.cropping1d(x, cropping=cropping), keras.layers.Cropping1D(cropping)(x))


@pytest.mark.parametrize("cropping", CROPPING_2D, ids=str)
def test_cropping2d(keras, cropping):
    x = sample((2, 7, 6, 3))
    close(R.cropping2d(x, cropping=cropping), keras.layers.Cropping2D(cropping)(x))


# ---------------------------------------------------------------------------------------------- rearranging


@pytest.mark.parametrize("dims", [(1,), (2, 1), (1, 2, 3), (3, 1, 2), (2, 3, 1), (3, 2, 1)], ids=str)
def test_permute(keras, dims):
    x = sample((2, 5, 4, 3)[: len(dims) + 1])
    close(R.permute(x, dims=dims), keras.layers.Permute(dims)(x))


@pytest.mark.parametrize("n", [1, 3])
def test_repeat_vector(keras, n):
    x = sample((4, 5))
    close(R.repeat_vector(x, n=n), keras.layers.RepeatVector(n)(x))


def test_identity(keras):
    x = sample((3, 4, 2))
    close(R.identity(x), keras.layers.Identity()(x))


# ---------------------------------------------------------------------------------------------- the registry


def registry_layer(call: str, declared: str):
    """The node and output shape of `call` on an input `x: declared`, as the language binds and infers them."""
    text = f"model M {{\n  input x: {declared}\n  layers {{\n    {call}\n  }}\n  loss mse\n  optimizer SGD()\n}}\n"
    (graph,) = load_text(text, "case.dl")
    return graph.nodes[-1], graph.output.shape


def tuples(value):
    return tuple(tuples(v) for v in value) if isinstance(value, list | tuple) else value


def dl(value) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


# (op, Keras arguments as written in .dl and in Python alike, a declared input with `?` sizes)
REGISTRY_CASES = [
    ("UpSampling1D", {}, "f32[?, 3]"),
    ("UpSampling1D", {"size": 3}, "f32[5, ?]"),
    ("UpSampling2D", {}, "f32[?, 4, 2]"),
    ("UpSampling2D", {"size": 3, "interpolation": "bilinear"}, "f32[5, ?, ?]"),
    ("UpSampling2D", {"size": (1, 3)}, "f32[5, 4, 2]"),
    ("ZeroPadding1D", {}, "f32[?, 3]"),
    ("ZeroPadding1D", {"padding": 2}, "f32[5, 3]"),
    ("ZeroPadding1D", {"padding": (0, 3)}, "f32[?, 3]"),
    ("ZeroPadding2D", {}, "f32[?, ?, 2]"),
    ("ZeroPadding2D", {"padding": 2}, "f32[5, 4, 2]"),
    ("ZeroPadding2D", {"padding": (1, 2)}, "f32[5, ?, 2]"),
    ("ZeroPadding2D", {"padding": ((1, 2), (3, 0))}, "f32[5, 4, 2]"),
    ("ZeroPadding2D", {"padding": ((1, 2), 3)}, "f32[5, 4, 2]"),
    ("Cropping1D", {}, "f32[?, 3]"),
    ("Cropping1D", {"cropping": 2}, "f32[5, 3]"),
    ("Cropping1D", {"cropping": (0, 3)}, "f32[5, 3]"),
    ("Cropping2D", {}, "f32[?, ?, 2]"),
    ("Cropping2D", {"cropping": 1}, "f32[5, 4, 2]"),
    ("Cropping2D", {"cropping": (1, 0)}, "f32[5, ?, 2]"),
    ("Cropping2D", {"cropping": ((1, 2), (0, 1))}, "f32[5, 4, 2]"),
    ("Cropping2D", {"cropping": (2, (0, 1))}, "f32[?, 4, 2]"),
    ("Permute", {"dims": (2, 1)}, "f32[?, 3]"),
    ("Permute", {"dims": (3, 1, 2)}, "f32[5, ?, 2]"),
    ("RepeatVector", {"n": 3}, "f32[4]"),
    ("RepeatVector", {"n": 2}, "f32[?]"),
    ("Identity", {}, "f32[?, 3]"),
]


@pytest.mark.parametrize("op, args, declared", REGISTRY_CASES, ids=lambda v: str(v))
def test_registry_binds_and_shapes_as_keras(keras, op, args, declared):
    """The registry holds each argument as Keras' get_config() does, its defaults are Keras', and its shape
    rule gives Keras' output shape, `?` sizes included."""
    call = f"{op}({', '.join(f'{k}={dl(v)}' for k, v in args.items())})"
    node, shape = registry_layer(call, declared)
    layer = getattr(keras.layers, REGISTRY[op].keras_class)(**args)
    config = layer.get_config()
    for name in REGISTRY[op].arg_names:
        assert tuples(config[name]) == node.args[name], (name, config[name], node.args[name])
    assert re.sub(r"_\d+$", "", layer.name) == REGISTRY[op].default_name  # Keras' automatic name
    sizes = tuple(None if d == "?" else int(d) for d in declared[4:-1].split(", "))
    assert tuple(layer.compute_output_shape((None, *sizes))) == (None, *shape)


def test_every_resize_op_is_pinned_against_keras():
    assert {op for op, _, _ in REGISTRY_CASES} == {name for name, spec in REGISTRY.items() if spec.family == "resize"}


@pytest.mark.parametrize(
    "op, args, declared",
    [
        ("Cropping1D", {"cropping": (2, 3)}, "f32[5, 3]"),
        ("Cropping2D", {"cropping": ((0, 0), (2, 2))}, "f32[5, 4, 2]"),
        ("Permute", {"dims": (2, 1)}, "f32[5, 4, 2]"),
        ("RepeatVector", {"n": 2}, "f32[5, 2]"),
        ("UpSampling1D", {}, "f32[5, 4, 2]"),
        ("UpSampling2D", {}, "f32[5, 2]"),
    ],
    ids=lambda v: str(v),
)
def test_registry_refuses_what_keras_refuses(keras, op, args, declared):
    from compiler.errors import DlShapeError

    call = f"{op}({', '.join(f'{k}={dl(v)}' for k, v in args.items())})"
    with pytest.raises(DlShapeError):
        registry_layer(call, declared)
    sizes = tuple(int(d) for d in declared[4:-1].split(", "))
    with pytest.raises(ValueError):
        layer = getattr(keras.layers, REGISTRY[op].keras_class)(**args)
        layer(f32(np.zeros((1, *sizes))))
