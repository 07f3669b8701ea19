"""Proves the NumPy references of the transposed, separable and depthwise convolutions against the real Keras 3
layers (TensorFlow backend), and pins the registry's arguments, defaults, output shapes, refusals and parameter
counts to Keras' own."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

from compiler.argkinds import REQUIRED
from compiler.ops import REGISTRY, ShapeProblem, TensorType

from . import conv_variants_numpy as V

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ATOL = 1e-5  # Keras float32 vs the float64 reference
OPS = ("Conv1DTranspose", "Conv2DTranspose", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D")


def f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def keras_output(layer, x, weights) -> np.ndarray:
    layer.build(x.shape)
    layer.set_weights([f32(w) for w in weights])
    return np.asarray(layer(x))


def close(actual, expected, atol=ATOL):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


def registry_output(op: str, shape, **args) -> TensorType:
    spec = REGISTRY[op]
    bound = {a.name: a.default for a in spec.args if not a.required} | args
    return spec.infer([TensorType("f32", tuple(shape))], bound)


def registry_params(op: str, shape, **args) -> int:
    spec = REGISTRY[op]
    bound = {a.name: a.default for a in spec.args if not a.required} | args
    return sum(p.size for p in spec.params([TensorType("f32", tuple(shape))], bound))


# ---------------------------------------------------------------------------------------------- transposed


def transpose_grid():
    """Every legal Conv1DTranspose combination of these sizes (Keras refuses output_padding >= strides; the
    language refuses `same` with an even kernel and output_padding 0, which TensorFlow refuses when it runs)."""
    for n, k, s, padding, extra in itertools.product(
        (1, 4, 5), (1, 2, 3, 4), (1, 2, 3), ("valid", "same"), (None, 0, 1, 2)
    ):
        if extra is not None and extra >= s:
            continue
        if padding == "same" and extra == 0 and k % 2 == 0:
            continue
        yield n, k, s, padding, extra


TRANSPOSE_GRID = list(transpose_grid())


@pytest.mark.parametrize("size, kernel, stride, padding, extra", TRANSPOSE_GRID)
def test_conv1d_transpose(keras, size, kernel, stride, padding, extra):
    r = np.random.default_rng(size * 100 + kernel * 10 + stride)
    x, w, b = f32(r.normal(size=(2, size, 3))), f32(r.normal(size=(kernel, 4, 3))), f32(r.normal(size=4))
    layer = keras.layers.Conv1DTranspose(4, kernel, strides=stride, padding=padding, output_padding=extra)
    out = keras_output(layer, x, [w, b])
    args = {"strides": (stride,), "padding": padding, "output_padding": None if extra is None else (extra,)}
    close(V.conv_transpose(x, w, b, filters=4, kernel_size=(kernel,), **args), out)
    # the registry's shape rule and Keras' own symbolic shape agree with what Keras computed
    assert (
        registry_output("Conv1DTranspose", (size, 3), filters=4, kernel_size=(kernel,), **args).shape == out.shape[1:]
    )
    assert tuple(layer.compute_output_shape((None, size, 3)))[1:] == out.shape[1:]
    assert (
        registry_params("Conv1DTranspose", (size, 3), filters=4, kernel_size=(kernel,), **args) == layer.count_params()
    )


@pytest.mark.parametrize(
    "size, kernel, strides, padding, extra, activation, use_bias",
    [
        ((5, 6), (3, 3), (2, 2), "same", None, "linear", True),
        ((5, 6), (3, 2), (2, 1), "same", None, "relu", True),
        ((5, 6), (3, 2), (2, 2), "same", (1, 1), "linear", False),
        ((5, 6), (4, 3), (3, 2), "same", (2, 0), "tanh", True),
        ((4, 5), (3, 3), (2, 2), "valid", None, "linear", True),
        ((4, 5), (2, 3), (3, 2), "valid", (1, 1), "sigmoid", True),
        ((4, 5), (1, 2), (3, 3), "valid", None, "linear", False),
        ((3, 3), (2, 2), (2, 2), "same", None, "linear", True),
        ((6, 6), (4, 4), (2, 2), "same", None, "linear", True),
        ((1, 2), (3, 3), (1, 1), "same", None, "softmax", True),
    ],
)
def test_conv2d_transpose(keras, size, kernel, strides, padding, extra, activation, use_bias):
    r = np.random.default_rng(sum(size) + sum(kernel))
    x, w, b = f32(r.normal(size=(2, *size, 3))), f32(r.normal(size=(*kernel, 5, 3))), f32(r.normal(size=5))
    layer = keras.layers.Conv2DTranspose(
        5, kernel, strides, padding, output_padding=extra, activation=activation, use_bias=use_bias
    )
    out = keras_output(layer, x, [w, b] if use_bias else [w])
    args = {"strides": strides, "padding": padding, "output_padding": extra, "activation": activation}
    ref = V.conv_transpose(x, w, b if use_bias else None, use_bias=use_bias, filters=5, kernel_size=kernel, **args)
    close(ref, out)
    shape = registry_output("Conv2DTranspose", (*size, 3), filters=5, kernel_size=kernel, use_bias=use_bias, **args)
    assert shape.shape == out.shape[1:]
    count = registry_params("Conv2DTranspose", (*size, 3), filters=5, kernel_size=kernel, use_bias=use_bias, **args)
    assert count == layer.count_params()


def test_transposed_output_is_zero_extended_then_biased(keras):
    """A kernel shorter than the stride: the cells no input reaches hold the bias alone, in Keras and here."""
    x, w, b = f32(np.ones((1, 3, 1))), f32(np.ones((1, 1, 1))), f32([0.5])
    out = keras_output(keras.layers.Conv1DTranspose(1, 1, strides=3), x, [w, b])
    np.testing.assert_array_equal(out[0, :, 0], [1.5, 0.5, 0.5, 1.5, 0.5, 0.5, 1.5, 0.5, 0.5])
    close(V.conv_transpose(x, w, b, strides=3), out)


def test_transposed_same_crops_the_odd_cell_at_the_end(keras):
    """`same`, stride 1, kernel 2: one cell of the full result goes, and it is the last one."""
    x, w = f32(np.arange(1, 5).reshape(1, 4, 1)), f32(np.ones((2, 1, 1)))
    out = keras_output(keras.layers.Conv1DTranspose(1, 2, padding="same", use_bias=False), x, [w])
    np.testing.assert_array_equal(out[0, :, 0], [1, 3, 5, 7])  # full result: 1 3 5 7 4
    close(V.conv_transpose(x, w, None, padding="same", use_bias=False), out)


def test_tensorflow_refuses_same_with_an_even_kernel_and_output_padding_0(keras):
    layer = keras.layers.Conv1DTranspose(2, 2, strides=2, padding="same", output_padding=0)
    with pytest.raises(Exception, match="doesn't match computed"):
        layer(f32(np.zeros((1, 5, 3))))
    with pytest.raises(ShapeProblem, match="output_padding of at least 1"):
        registry_output(
            "Conv1DTranspose", (5, 3), filters=2, kernel_size=(2,), strides=(2,), padding="same", output_padding=(0,)
        )


def test_tensorflow_runs_no_dilated_transposed_convolution_on_cpu(keras):
    """Why the language refuses dilation_rate > 1 on transposed convolutions (a GPU would run it)."""
    layer = keras.layers.Conv1DTranspose(2, 3, dilation_rate=2)
    with pytest.raises(Exception, match="do not yet support dilation rates larger than 1"):
        layer(f32(np.zeros((1, 5, 3))))
    with pytest.raises(ShapeProblem, match="dilation_rate > 1"):
        registry_output("Conv2DTranspose", (5, 5, 3), filters=2, kernel_size=(3, 3), dilation_rate=(2, 1))


def test_the_reference_dilates_as_a_zero_inserted_kernel(keras):
    """The reference's dilation (for completeness) is TensorFlow's: the kernel spread with zeros between taps."""
    r = np.random.default_rng(3)
    x, w = f32(r.normal(size=(2, 5, 3))), f32(r.normal(size=(3, 4, 3)))
    spread = np.zeros((5, 4, 3), np.float32)
    spread[::2] = w
    for padding in ("valid", "same"):
        out = keras_output(keras.layers.Conv1DTranspose(4, 5, padding=padding, use_bias=False), x, [spread])
        close(V.conv_transpose(x, w, None, padding=padding, dilation_rate=2, use_bias=False), out)


@pytest.mark.parametrize(
    "args, message",
    [
        ({"strides": (2,), "dilation_rate": (2,)}, "strides > 1 with dilation_rate > 1"),
        ({"strides": (2,), "output_padding": (2,)}, "smaller than strides"),
        ({"output_padding": (1,)}, "smaller than strides"),
    ],
)
def test_keras_refusals_are_the_registrys(keras, args, message):
    with pytest.raises(ValueError):
        keras.layers.Conv1DTranspose(2, 3, **args)
    with pytest.raises(ShapeProblem, match=message):
        registry_output("Conv1DTranspose", (5, 3), filters=2, kernel_size=(3,), **args)


# ---------------------------------------------------------------------------------------------- depthwise, separable

WINDOW_CASES = [
    # spatial, size, kernel, strides, padding, dilation, multiplier, activation, use_bias
    (1, 7, 3, 1, "valid", 1, 1, "linear", True),
    (1, 7, 3, 2, "same", 1, 2, "relu", True),
    (1, 6, 2, 2, "same", 1, 3, "linear", False),
    (1, 7, 3, 1, "same", 2, 2, "tanh", True),
    (1, 9, 3, 2, "same", 2, 1, "linear", True),
    (1, 9, 2, 3, "valid", 2, 2, "linear", True),
    (2, (7, 6), (3, 3), (1, 1), "valid", (1, 1), 1, "linear", True),
    (2, (7, 6), (3, 2), (2, 2), "same", (1, 1), 2, "relu", True),
    (2, (6, 7), (3, 3), (2, 2), "same", (1, 1), 1, "linear", False),
    (2, (6, 7), (3, 3), (2, 1), "same", (1, 2), 1, "linear", True),
    (2, (7, 7), (3, 3), (1, 1), "same", (2, 2), 2, "swish", True),
    (2, (9, 8), (3, 2), (2, 2), "same", (2, 3), 2, "linear", True),
    (2, (9, 8), (2, 3), (2, 1), "valid", (2, 2), 1, "linear", True),
]


def window_case_arrays(spatial, size, kernel, multiplier, seed):
    r = np.random.default_rng(seed)
    size = size if isinstance(size, tuple) else (size,)
    kernel = kernel if isinstance(kernel, tuple) else (kernel,)
    x = f32(r.normal(size=(2, *size, 3)))
    depthwise = f32(r.normal(size=(*kernel, 3, multiplier)))
    return r, x, kernel, depthwise


@pytest.mark.parametrize("case", WINDOW_CASES, ids=str)
def test_depthwise_conv(keras, case):
    spatial, size, kernel, strides, padding, dilation, multiplier, activation, use_bias = case
    r, x, kernel, w = window_case_arrays(spatial, size, kernel, multiplier, sum(np.atleast_1d(size)) + multiplier)
    b = f32(r.normal(size=3 * multiplier))
    cls = keras.layers.DepthwiseConv1D if spatial == 1 else keras.layers.DepthwiseConv2D
    layer = cls(kernel, strides, padding, multiplier, dilation_rate=dilation, activation=activation, use_bias=use_bias)
    out = keras_output(layer, x, [w, b] if use_bias else [w])
    args = {
        "strides": tuple(np.atleast_1d(strides)),
        "padding": padding,
        "depth_multiplier": multiplier,
        "dilation_rate": tuple(np.atleast_1d(dilation)),
        "activation": activation,
        "use_bias": use_bias,
    }
    close(V.depthwise_conv(x, w, b if use_bias else None, kernel_size=kernel, **args), out)
    op = f"DepthwiseConv{spatial}D"
    assert registry_output(op, x.shape[1:], kernel_size=kernel, **args).shape == out.shape[1:]
    assert registry_params(op, x.shape[1:], kernel_size=kernel, **args) == layer.count_params()


@pytest.mark.parametrize("case", WINDOW_CASES, ids=str)
def test_separable_conv(keras, case):
    spatial, size, kernel, strides, padding, dilation, multiplier, activation, use_bias = case
    r, x, kernel, depthwise = window_case_arrays(spatial, size, kernel, multiplier, sum(np.atleast_1d(size)) + 7)
    pointwise, b = f32(r.normal(size=(*(1,) * spatial, 3 * multiplier, 4))), f32(r.normal(size=4))
    cls = keras.layers.SeparableConv1D if spatial == 1 else keras.layers.SeparableConv2D
    layer = cls(
        4,
        kernel,
        strides,
        padding,
        dilation_rate=dilation,
        depth_multiplier=multiplier,
        activation=activation,
        use_bias=use_bias,
    )
    out = keras_output(layer, x, [depthwise, pointwise, b] if use_bias else [depthwise, pointwise])
    args = {
        "strides": tuple(np.atleast_1d(strides)),
        "padding": padding,
        "depth_multiplier": multiplier,
        "dilation_rate": tuple(np.atleast_1d(dilation)),
        "activation": activation,
        "use_bias": use_bias,
    }
    ref = V.separable_conv(x, depthwise, pointwise, b if use_bias else None, filters=4, kernel_size=kernel, **args)
    close(ref, out)
    op = f"SeparableConv{spatial}D"
    assert registry_output(op, x.shape[1:], filters=4, kernel_size=kernel, **args).shape == out.shape[1:]
    assert registry_params(op, x.shape[1:], filters=4, kernel_size=kernel, **args) == layer.count_params()


@pytest.mark.parametrize("op", ["DepthwiseConv2D", "SeparableConv2D"])
def test_tensorflow_runs_unequal_depthwise_strides_only_when_dilated(keras, op):
    """TensorFlow's depthwise kernel refuses strides (2, 1) when it runs; with a dilation > 1 Keras 3 runs the
    window at stride 1 and subsamples, which works. The registry refuses exactly the first."""
    args = {"kernel_size": (3, 3), "strides": (2, 1)} | ({"filters": 2} if op.startswith("Separable") else {})
    with pytest.raises(Exception, match="equal length strides"):
        keras_layer(keras, op, **args)(f32(np.zeros((1, 6, 6, 3))))
    with pytest.raises(ShapeProblem, match="equal strides"):
        registry_output(op, (6, 6, 3), **args)
    dilated = args | {"dilation_rate": (1, 2)}
    out = keras_layer(keras, op, **dilated)(f32(np.zeros((1, 6, 6, 3))))
    assert registry_output(op, (6, 6, 3), **dilated).shape == tuple(out.shape[1:])


# ---------------------------------------------------------------------------------------------- the registry vs Keras


def keras_layer(keras, op: str, **args):
    return getattr(keras.layers, REGISTRY[op].keras_class)(**args)


REQUIRED_ARGS = {"filters": 4, "kernel_size": 3}


@pytest.mark.parametrize("op", OPS)
def test_arguments_and_defaults_are_keras(keras, op):
    """Built with only its required arguments, the Keras layer's config holds the registry's defaults."""
    import inspect

    spec = REGISTRY[op]
    cls = getattr(keras.layers, spec.keras_class)
    keras_params = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kwargs", "data_format")]
    ours = [a.name for a in spec.args]
    assert ours == [p for p in keras_params if p in ours]  # Keras' order
    left_out = {"activity_regularizer", "kernel_constraint", "bias_constraint", "depthwise_constraint"}
    assert set(keras_params) - set(ours) <= left_out | {"pointwise_constraint"}
    required = {a.name: REQUIRED_ARGS[a.name] for a in spec.args if a.default is REQUIRED}
    config = cls(**required).get_config()
    for arg in spec.args:
        if arg.default is REQUIRED:
            continue
        theirs = config[arg.name]
        if arg.name.endswith("_initializer"):
            theirs = keras.initializers.serialize(keras.initializers.get(theirs))["class_name"]
            assert theirs == keras.initializers.serialize(keras.initializers.get(arg.default))["class_name"], arg.name
        else:
            assert (tuple(theirs) if isinstance(theirs, list) else theirs) == arg.default, arg.name


UNKNOWN_SIZE_CASES = [
    ("Conv1DTranspose", (None, 3), {"filters": 4, "kernel_size": (3,), "strides": (2,), "padding": "same"}),
    ("Conv2DTranspose", (None, None, 3), {"filters": 4, "kernel_size": (3, 3), "strides": (2, 2), "padding": "same"}),
    ("Conv2DTranspose", (5, None, 3), {"filters": 2, "kernel_size": (2, 3), "strides": (3, 2), "output_padding": 1}),
    ("DepthwiseConv2D", (None, 7, 3), {"kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2}),
    ("SeparableConv1D", (None, 3), {"filters": 5, "kernel_size": (3,), "padding": "same", "dilation_rate": (2,)}),
]  # fmt: skip


@pytest.mark.parametrize("op, shape, args", UNKNOWN_SIZE_CASES)
def test_unknown_sizes_give_keras_shapes(keras, op, shape, args):
    layer = keras_layer(keras, op, **args)
    spatial = len(shape) - 1
    bound = {k: (v,) * spatial if isinstance(v, int) and k != "filters" and k != "depth_multiplier" else v
             for k, v in args.items()}  # fmt: skip
    assert tuple(layer(keras.Input(shape)).shape[1:]) == registry_output(op, shape, **bound).shape
