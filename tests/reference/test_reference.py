"""Proves the NumPy reference right against the real Keras 3 (TensorFlow backend): every layer function,
loss and optimizer, with random inputs and weights set through `layer.set_weights` in Keras' order."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

from compiler.argkinds import ACTIVATIONS

from . import keras_numpy as K
from . import optimizers_numpy as O

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ATOL = 1e-5  # outputs and losses: Keras float32 vs the float64 reference
OPT_ATOL = 1e-6  # weights after 5 optimizer steps


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def run(layer, inputs, weights=(), **call):
    """Build `layer` on `inputs`, load `weights` (Keras' order), return its output as NumPy."""
    if weights:
        layer.build(inputs.shape)
        layer.set_weights([f32(w) for w in weights])
    out = layer(inputs, **call)
    return [np.asarray(o) for o in out] if isinstance(out, list | tuple) else np.asarray(out)


def close(actual, expected, atol=ATOL):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


# ---------------------------------------------------------------------------------------------- activations


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation(keras, name):
    x = f32(np.concatenate([rng(1).normal(0, 3, (4, 9)), np.linspace(-30, 30, 36).reshape(4, 9)], axis=0))
    expected = np.asarray(keras.activations.get(name)(x))
    close(K.activation(name, x), expected)
    close(run(keras.layers.Activation(name), x), expected)


def test_activations_of_version_2_are_keras_own(keras):
    """The functions Keras 3 resolves these names to, with their defaults: `silu` is `swish` (one function),
    leaky_relu's slope is 0.2 (the LeakyReLU layer's 0.3), hard_sigmoid is relu6(x + 3) / 6, not Keras 2's
    0.2 * x + 0.5; log_softmax runs over the last axis."""
    assert keras.activations.get("silu") is keras.activations.get("swish")
    x = f32(np.linspace(-8, 8, 65))
    close(np.asarray(keras.activations.get("leaky_relu")(x)), np.where(x > 0, x, 0.2 * x))
    close(np.asarray(keras.activations.get("hard_sigmoid")(x)), np.clip(x + 3, 0, 6) / 6)
    close(np.asarray(keras.activations.get("hard_silu")(x)), x * np.clip(x + 3, 0, 6) / 6)
    close(np.asarray(keras.activations.get("relu6")(x)), np.clip(x, 0, 6))
    logits = f32(rng(2).normal(size=(3, 4, 5)))
    probabilities = np.exp(np.asarray(keras.activations.get("log_softmax")(logits), dtype=np.float64))
    close(probabilities.sum(axis=-1), np.ones((3, 4)))
    close(K.activation("log_softmax", logits), np.log(np.asarray(keras.activations.softmax(logits), np.float64)))


def test_gelu_is_the_exact_form(keras):
    x = f32(np.linspace(-4, 4, 41))
    exact = np.asarray(keras.activations.gelu(x, approximate=False))
    close(np.asarray(keras.activations.get("gelu")(x)), exact)
    tanh_form = np.asarray(keras.activations.gelu(x, approximate=True))
    assert np.abs(exact - tanh_form).max() > 1e-4  # the two forms are distinguishable at this tolerance
    close(K.activation("gelu", x), exact)


# ---------------------------------------------------------------------------------------------- core layers


@pytest.mark.parametrize(
    "shape, activation, use_bias", [((5, 4), "linear", True), ((5, 4), "softmax", True), ((2, 3, 4), "relu", False)]
)
def test_dense(keras, shape, activation, use_bias):
    r = rng(2)
    x, kernel, bias = f32(r.normal(size=shape)), f32(r.normal(size=(4, 6))), f32(r.normal(size=6))
    weights = [kernel, bias] if use_bias else [kernel]
    out = run(keras.layers.Dense(6, activation=activation, use_bias=use_bias), x, weights)
    ref = K.dense(x, kernel, bias if use_bias else None, activation=activation, use_bias=use_bias, units=6)
    close(ref, out)


RELU_CASES = [
    {},
    {"max_value": 6.0},
    {"max_value": 1.5},
    {"negative_slope": 0.1},
    {"negative_slope": 1.5},
    {"threshold": 0.5},
    {"max_value": 1.0, "threshold": 0.5},
    {"max_value": 0.3, "threshold": 0.5},
    {"negative_slope": 0.2, "threshold": 0.5},
    {"negative_slope": 0.2, "max_value": 1.0},
    {"negative_slope": 0.2, "max_value": 1.0, "threshold": 0.5},
    {"negative_slope": 0.2, "max_value": 6.0},
]


@pytest.mark.parametrize("args", RELU_CASES, ids=[str(a) for a in RELU_CASES])
def test_relu_layer(keras, args):
    x = f32(rng(3).normal(0, 2, (6, 10)))
    close(K.relu_layer(x, **args), run(keras.layers.ReLU(**args), x))


def test_relu_layer_refuses_negative_arguments(keras):
    # measured: Keras' ReLU layer raises on a negative threshold (the `relu` activation function does not)
    with pytest.raises(ValueError):
        keras.layers.ReLU(threshold=-0.5)
    with pytest.raises(ValueError):
        K.relu_layer(np.ones(3), threshold=-0.5)


@pytest.mark.parametrize("slope", [None, 0.01, 0.5])
def test_leaky_relu(keras, slope):
    x = f32(rng(4).normal(size=(5, 7)))
    layer = keras.layers.LeakyReLU() if slope is None else keras.layers.LeakyReLU(negative_slope=slope)
    ref = K.leaky_relu(x) if slope is None else K.leaky_relu(x, negative_slope=slope)
    close(ref, run(layer, x))


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_softmax_layer(keras, axis):
    x = f32(rng(5).normal(0, 3, (3, 4, 5)))
    close(K.softmax_layer(x, axis=axis), run(keras.layers.Softmax(axis=axis), x))


def test_rescaling_reshape_flatten_dropout(keras):
    x = f32(rng(6).normal(size=(2, 3, 4, 5)))
    close(K.rescaling(x, scale=1 / 255), run(keras.layers.Rescaling(1 / 255), x))
    close(K.rescaling(x, scale=2.0, offset=-1.0), run(keras.layers.Rescaling(2.0, offset=-1.0), x))
    close(K.flatten(x), run(keras.layers.Flatten(), x))
    close(K.reshape(x, target_shape=(12, 5)), run(keras.layers.Reshape((12, 5)), x))
    close(K.reshape(x, target_shape=(-1, 3)), run(keras.layers.Reshape((-1, 3)), x))
    close(K.dropout(x, rate=0.5), run(keras.layers.Dropout(0.5), x, training=False))


def test_embedding(keras):
    r = rng(7)
    table = f32(r.normal(size=(11, 4)))
    ids = r.integers(0, 11, size=(3, 6))
    close(K.embedding(ids, table, input_dim=11, output_dim=4), run(keras.layers.Embedding(11, 4), ids, [table]))
    with pytest.raises(IndexError):
        K.embedding(np.array([[11]]), table)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_embedding_of_float_ids_truncates_as_keras_casts(keras, dtype):
    """Keras casts float ids to int32: toward zero, 2.7 is id 2 and 10.99 id 10."""
    table = f32(rng(7).normal(size=(11, 4)))
    ids = np.array([[2.7, 0.5, 10.99, 3.0, 0.0, 7.2]], dtype=dtype)
    theirs = run(keras.layers.Embedding(11, 4), ids, [table])
    close(theirs, table[[[2, 0, 10, 3, 0, 7]]])
    close(K.embedding(ids, table), theirs)


@pytest.mark.parametrize("name", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"])
def test_elementwise_merges(keras, name):
    r = rng(8)
    count = 2 if name == "Subtract" else 3
    xs = [f32(r.normal(size=(4, 3, 5))) for _ in range(count)]
    fn = getattr(K, name.lower())
    close(fn(xs), run(getattr(keras.layers, name)(), xs))


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_concatenate(keras, axis):
    r = rng(9)
    shapes = {-1: [(2, 3, 4), (2, 3, 1), (2, 3, 2)], 1: [(2, 1, 4), (2, 3, 4)], 2: [(2, 3, 2), (2, 3, 5)]}[axis]
    xs = [f32(r.normal(size=s)) for s in shapes]
    close(K.concatenate(xs, axis=axis), run(keras.layers.Concatenate(axis=axis), xs))


# ---------------------------------------------------------------------------------------------- convolution


def test_same_padding_puts_the_odd_cell_at_the_end():
    assert K.same_padding(6, 3, 2) == (0, 1)
    assert K.same_padding(7, 3, 2) == (1, 1)
    assert K.same_padding(6, 2, 1) == (0, 1)
    assert K.same_padding(7, 2, 2) == (0, 1)
    assert K.same_padding(5, 1, 2) == (0, 0)


CONV_GRID = list(itertools.product([6, 7], [2, 3], [1, 2], ["valid", "same"]))


@pytest.mark.parametrize("size, kernel, stride, padding", CONV_GRID)
def test_conv1d(keras, size, kernel, stride, padding):
    r = rng(10)
    x, w, b = f32(r.normal(size=(2, size, 3))), f32(r.normal(size=(kernel, 3, 4))), f32(r.normal(size=4))
    layer = keras.layers.Conv1D(4, kernel, strides=stride, padding=padding)
    ref = K.conv1d(x, w, b, strides=(stride,), padding=padding, filters=4, kernel_size=(kernel,))
    close(ref, run(layer, x, [w, b]))


@pytest.mark.parametrize("size, kernel, stride, padding", CONV_GRID)
def test_conv2d(keras, size, kernel, stride, padding):
    r = rng(11)
    x, w, b = (
        f32(r.normal(size=(2, size, size + 1, 3))),
        f32(r.normal(size=(kernel, kernel, 3, 4))),
        f32(r.normal(size=4)),
    )
    layer = keras.layers.Conv2D(4, kernel, strides=stride, padding=padding)
    ref = K.conv2d(x, w, b, strides=(stride, stride), padding=padding, filters=4, kernel_size=(kernel, kernel))
    close(ref, run(layer, x, [w, b]))


@pytest.mark.parametrize(
    "kernel, strides, padding, dilation, activation, use_bias",
    [
        ((2, 3), (2, 1), "same", (1, 1), "linear", True),
        ((3, 2), (1, 2), "valid", (1, 1), "relu", False),
        ((3, 3), (1, 1), "same", (2, 2), "tanh", True),
        ((2, 3), (1, 1), "valid", (2, 1), "linear", True),
        ((3, 3), (1, 1), "same", (3, 2), "linear", False),
    ],
)
def test_conv2d_asymmetric_dilated(keras, kernel, strides, padding, dilation, activation, use_bias):
    r = rng(12)
    x, w, b = f32(r.normal(size=(2, 9, 8, 3))), f32(r.normal(size=(*kernel, 3, 5))), f32(r.normal(size=5))
    layer = keras.layers.Conv2D(
        5, kernel, strides=strides, padding=padding, dilation_rate=dilation, activation=activation, use_bias=use_bias
    )
    out = run(layer, x, [w, b] if use_bias else [w])
    ref = K.conv2d(
        x,
        w,
        b if use_bias else None,
        strides=strides,
        padding=padding,
        dilation_rate=dilation,
        activation=activation,
        use_bias=use_bias,
    )
    close(ref, out)


@pytest.mark.parametrize("padding, dilation", [("same", 2), ("valid", 3), ("same", 3)])
def test_conv1d_dilated(keras, padding, dilation):
    r = rng(13)
    x, w, b = f32(r.normal(size=(2, 10, 2))), f32(r.normal(size=(3, 2, 3))), f32(r.normal(size=3))
    layer = keras.layers.Conv1D(3, 3, padding=padding, dilation_rate=dilation, activation="relu")
    close(K.conv1d(x, w, b, padding=padding, dilation_rate=dilation, activation="relu"), run(layer, x, [w, b]))


# ---------------------------------------------------------------------------------------------- pooling

POOL_GRID = list(itertools.product([6, 7], [2, 3], [None, 1, 2], ["valid", "same"]))


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool1d(keras, kind):
    x = f32(rng(14).normal(size=(2, 7, 3)))
    cls = keras.layers.MaxPooling1D if kind == "max" else keras.layers.AveragePooling1D
    fn = K.max_pool1d if kind == "max" else K.avg_pool1d
    for size, pool, stride, padding in POOL_GRID:
        xs = x[:, :size]
        out = run(cls(pool_size=pool, strides=stride, padding=padding), xs)
        ref = fn(xs, pool_size=(pool,), strides=None if stride is None else (stride,), padding=padding)
        close(ref, out)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool2d(keras, kind):
    # all-negative input: max pooling that padded with zeros instead of -inf would show up
    x = f32(rng(15).normal(size=(2, 7, 8, 3)) - 3.0)
    cls = keras.layers.MaxPooling2D if kind == "max" else keras.layers.AveragePooling2D
    fn = K.max_pool2d if kind == "max" else K.avg_pool2d
    for size, pool, stride, padding in POOL_GRID:
        xs = x[:, :size, : size + 1]
        strides = None if stride is None else (stride, stride)
        out = run(cls(pool_size=pool, strides=strides, padding=padding), xs)
        close(fn(xs, pool_size=(pool, pool), strides=strides, padding=padding), out)
    for pool, strides in [((2, 3), (1, 2)), ((3, 2), (2, 1)), ((3, 3), (2, 3))]:
        out = run(cls(pool_size=pool, strides=strides, padding="same"), x)
        close(fn(x, pool_size=pool, strides=strides, padding="same"), out)


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling(keras, keepdims):
    r = rng(16)
    x1, x2 = f32(r.normal(size=(3, 5, 4))), f32(r.normal(size=(3, 5, 6, 4)))
    layers = keras.layers
    close(K.global_avg_pool1d(x1, keepdims=keepdims), run(layers.GlobalAveragePooling1D(keepdims=keepdims), x1))
    close(K.global_max_pool1d(x1, keepdims=keepdims), run(layers.GlobalMaxPooling1D(keepdims=keepdims), x1))
    close(K.global_avg_pool2d(x2, keepdims=keepdims), run(layers.GlobalAveragePooling2D(keepdims=keepdims), x2))
    close(K.global_max_pool2d(x2, keepdims=keepdims), run(layers.GlobalMaxPooling2D(keepdims=keepdims), x2))


# ---------------------------------------------------------------------------------------------- normalization


def bn_weights(r, channels):
    return {
        "gamma": f32(r.normal(1, 0.3, channels)),
        "beta": f32(r.normal(0, 0.5, channels)),
        "moving_mean": f32(r.normal(0, 0.5, channels)),
        "moving_variance": f32(r.uniform(0.2, 2.0, channels)),
    }


@pytest.mark.parametrize("shape", [(6, 4), (3, 5, 5, 4)])
@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False)])
def test_batch_norm_inference(keras, shape, center, scale):
    r = rng(17)
    x = f32(r.normal(1.0, 2.0, shape))
    w = bn_weights(r, shape[-1])
    if not scale:
        del w["gamma"]
    if not center:
        del w["beta"]
    out = run(keras.layers.BatchNormalization(center=center, scale=scale), x, list(w.values()), training=False)
    close(K.batch_norm_inference(x, **w, center=center, scale=scale), out)


@pytest.mark.parametrize("shape, momentum, epsilon", [((8, 3), 0.99, 1e-3), ((4, 5, 6, 3), 0.9, 1e-2)])
def test_batch_norm_train_step(keras, shape, momentum, epsilon):
    r = rng(18)
    x = f32(r.normal(1.0, 2.0, shape))
    w = bn_weights(r, shape[-1])
    layer = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon)
    layer.build(x.shape)
    layer.set_weights(list(w.values()))
    out = np.asarray(layer(x, training=True))
    y, mean, variance = K.batch_norm_train_step(x, **w, momentum=momentum, epsilon=epsilon)
    close(y, out)
    close(mean, np.asarray(layer.moving_mean), atol=1e-6)
    close(variance, np.asarray(layer.moving_variance), atol=1e-6)
    # the update uses the biased batch variance: the unbiased one would be visibly off
    unbiased = w["moving_variance"] * momentum + x.reshape(-1, shape[-1]).var(axis=0, ddof=1) * (1 - momentum)
    assert np.abs(unbiased - np.asarray(layer.moving_variance)).max() > 1e-5


@pytest.mark.parametrize("shape", [(4, 6), (2, 5, 7)])
@pytest.mark.parametrize("center, scale, epsilon", [(True, True, 1e-3), (False, True, 1e-3), (True, False, 0.1)])
def test_layer_norm(keras, shape, center, scale, epsilon):
    r = rng(19)
    x = f32(r.normal(0.5, 0.05, shape))  # small spread: epsilon matters
    gamma, beta = f32(r.normal(1, 0.3, shape[-1])), f32(r.normal(0, 0.5, shape[-1]))
    weights = ([gamma] if scale else []) + ([beta] if center else [])
    layer = keras.layers.LayerNormalization(epsilon=epsilon, center=center, scale=scale)
    out = run(layer, x, weights)
    ref = K.layer_norm(
        x, gamma if scale else None, beta if center else None, epsilon=epsilon, center=center, scale=scale
    )
    close(ref, out)


# ---------------------------------------------------------------------------------------------- recurrent

GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}
REF_RNN = {"SimpleRNN": K.simple_rnn, "LSTM": K.lstm, "GRU": K.gru}


def rnn_weights(r, kind, features, units, use_bias=True):
    g = GATES[kind]
    w = {
        "kernel": f32(r.normal(0, 0.5, (features, g * units))),
        "recurrent_kernel": f32(r.normal(0, 0.5, (units, g * units))),
    }
    if use_bias:
        w["bias"] = f32(r.normal(0, 0.5, (2, g * units) if kind == "GRU" else (g * units,)))
    return w


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_recurrent(keras, kind, return_sequences):
    r = rng(20)
    x = f32(r.normal(size=(3, 5, 4)))
    w = rnn_weights(r, kind, 4, 6)
    out = run(getattr(keras.layers, kind)(6, return_sequences=return_sequences), x, list(w.values()))
    close(REF_RNN[kind](x, **w, return_sequences=return_sequences, units=6), out)


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_recurrent_activations_and_no_bias(keras, kind):
    r = rng(21)
    x = f32(r.normal(size=(2, 4, 3)))
    w = rnn_weights(r, kind, 3, 5, use_bias=False)
    args = {"activation": "relu", "use_bias": False, "return_sequences": True}
    if kind != "SimpleRNN":
        args["recurrent_activation"] = "tanh"
    out = run(getattr(keras.layers, kind)(5, **args), x, list(w.values()))
    close(REF_RNN[kind](x, **w, **args), out)


BIDIRECTIONAL_CASES = [
    *((kind, rs, "concat") for kind in ("SimpleRNN", "LSTM", "GRU") for rs in (False, True)),
    *(("LSTM" if rs else "GRU", rs, mode) for mode in ("sum", "mul", "ave") for rs in (False, True)),
]


@pytest.mark.parametrize("kind, return_sequences, merge_mode", BIDIRECTIONAL_CASES)
def test_bidirectional(keras, kind, return_sequences, merge_mode):
    r = rng(22)
    x = f32(r.normal(size=(2, 5, 3)))
    fw, bw = rnn_weights(r, kind, 3, 4), rnn_weights(r, kind, 3, 4)
    inner = getattr(keras.layers, kind)(4, return_sequences=return_sequences)
    out = run(keras.layers.Bidirectional(inner, merge_mode=merge_mode), x, [*fw.values(), *bw.values()])
    ref = K.bidirectional(REF_RNN[kind], x, fw, bw, merge_mode=merge_mode, return_sequences=return_sequences)
    close(ref, out)


def test_bidirectional_backward_is_flipped_back(keras):
    """With return_sequences, output step t of the backward half has seen x[t:], so step 0 holds its last state."""
    r = rng(23)
    x = f32(r.normal(size=(1, 6, 2)))
    fw, bw = rnn_weights(r, "LSTM", 2, 3), rnn_weights(r, "LSTM", 2, 3)
    seq = K.bidirectional(K.lstm, x, fw, bw, return_sequences=True)
    last = K.bidirectional(K.lstm, x, fw, bw, return_sequences=False)
    close(seq[:, 0, 3:], last[:, 3:], atol=1e-12)
    close(seq[:, -1, :3], last[:, :3], atol=1e-12)
    close(seq[:, -1, 3:], K.lstm(x[:, -1:], **bw), atol=1e-12)


# ---------------------------------------------------------------------------------------------- losses


def probabilities(r, shape, extreme=False):
    p = r.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    if extreme:
        p[0] = 0.0
        p[0, 0] = 1.0  # exact 0 and 1: the clip to [1e-7, 1 - 1e-7] decides the value
    return f32(p)


def test_regression_losses(keras):
    r = rng(24)
    y, p = f32(r.normal(size=(6, 3))), f32(r.normal(0, 2, size=(6, 3)))
    close(K.mse(y, p), np.asarray(keras.losses.MeanSquaredError()(y, p)))
    close(K.mae(y, p), np.asarray(keras.losses.MeanAbsoluteError()(y, p)))
    for delta in (1.0, 0.5, 2.5):
        close(K.huber(y, p, delta=delta), np.asarray(keras.losses.Huber(delta=delta)(y, p)))
    close(K.loss("mse", y, p), K.mse(y, p), atol=0)
    close(K.loss("huber", y, p, {"delta": 0.5}), K.huber(y, p, 0.5), atol=0)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_binary_crossentropy(keras, from_logits, label_smoothing):
    r = rng(25)
    y = f32(r.integers(0, 2, (8, 3)))
    if from_logits:
        p = f32(r.normal(0, 4, (8, 3)))
        p[0, 0] = 40.0  # large logits stay exact
    else:
        p = f32(r.uniform(0, 1, (8, 3)))
        p[0, :2] = (0.0, 1.0)
    expected = keras.losses.BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)(y, p)
    close(K.binary_crossentropy(y, p, from_logits=from_logits, label_smoothing=label_smoothing), np.asarray(expected))


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_categorical_crossentropy(keras, from_logits, label_smoothing):
    r = rng(26)
    y = f32(np.eye(5)[r.integers(0, 5, 7)])
    if from_logits:
        p = f32(r.normal(0, 4, (7, 5)))
    else:
        p = probabilities(r, (7, 5), extreme=True)
        p[1] *= 3.0  # not normalised: Keras renormalises first
    expected = keras.losses.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)(y, p)
    close(K.categorical_crossentropy(y, p, from_logits, label_smoothing), np.asarray(expected))


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("column", [False, True])
def test_sparse_categorical_crossentropy(keras, from_logits, column):
    r = rng(27)
    labels = r.integers(0, 4, 9)
    labels[0] = 1  # the extreme row below puts all mass on class 0: label 1 hits the clip
    if from_logits:
        p = f32(r.normal(0, 4, (9, 4)))
    else:
        p = probabilities(r, (9, 4), extreme=True)
        p[2] *= 0.5  # not normalised
    y = labels[:, None] if column else labels
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)(y, p)
    close(K.sparse_categorical_crossentropy(y, p, from_logits), np.asarray(expected))


# ---------------------------------------------------------------------------------------------- optimizers

OPTIMIZER_CASES = [
    ("SGD", {}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "weight_decay": 0.01}),
    ("Adam", {}),
    ("Adam", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-4}),
    ("Adam", {"learning_rate": 0.01, "weight_decay": 0.05}),
    ("AdamW", {}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("RMSprop", {}),
    ("RMSprop", {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.9}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.02}),
    ("Adagrad", {}),
    ("Adagrad", {"learning_rate": 0.05, "initial_accumulator_value": 0.01, "epsilon": 1e-5}),
    ("Adagrad", {"learning_rate": 0.05, "initial_accumulator_value": 0.0}),  # epsilon inside the root shows
    ("Adagrad", {"learning_rate": 0.05, "weight_decay": 0.01}),
]


@pytest.mark.parametrize("name, args", OPTIMIZER_CASES, ids=[f"{n}-{a}" for n, a in OPTIMIZER_CASES])
def test_optimizer(keras, name, args):
    r = rng(28)
    params = {"kernel": f32(r.normal(size=(4, 3))), "bias": f32(r.normal(size=3)), "tiny": f32(r.normal(size=5))}
    targets = {k: f32(r.normal(size=v.shape)) for k, v in params.items()}
    variables = {k: keras.Variable(v.copy(), name=k) for k, v in params.items()}
    keras_opt = getattr(keras.optimizers, name)(**args)
    ref_opt = O.make_optimizer(name, args)
    for step in range(5):
        # a fixed quadratic problem; gradients from the reference's params, given to both
        grads = {k: f32(2.0 * (params[k] - targets[k])) for k in params}
        grads["tiny"] = f32(grads["tiny"] * 1e-4)  # always small: epsilon's placement decides the step
        if step == 2:
            grads["bias"] = f32(grads["bias"] * 1e-6)  # tiny gradients: where epsilon sits matters
        keras_opt.apply_gradients([(grads[k], variables[k]) for k in params])
        ref_opt.step(params, grads)
    for k in params:
        assert params[k].dtype == np.float32
        close(params[k], np.asarray(variables[k]), atol=OPT_ATOL)
    assert ref_opt.iterations == int(keras_opt.iterations) == 5


FLOAT64_CASES = [
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0.03}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.7, "nesterov": True}),
    ("Adam", {"learning_rate": 0.1, "beta_1": 0.7, "beta_2": 0.95, "epsilon": 1e-3}),
    ("AdamW", {"learning_rate": 0.1, "weight_decay": 0.3}),
    ("RMSprop", {"learning_rate": 0.1, "rho": 0.7, "momentum": 0.3, "centered": True}),
    ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.3, "epsilon": 1e-3}),
]


@pytest.mark.parametrize("name, args", FLOAT64_CASES, ids=[f"{n}-{a}" for n, a in FLOAT64_CASES])
def test_optimizer_float64_rounds_what_keras_rounds(keras, name, args):
    """float64 variables: which hyperparameters pass through float32 is visible at 1e-12."""
    r = rng(30)
    params = {"w": r.normal(size=20)}
    target = r.normal(size=20)
    variable = keras.Variable(params["w"].copy(), dtype="float64")
    keras_opt = getattr(keras.optimizers, name)(**args)
    ref_opt = O.make_optimizer(name, args)
    for _ in range(5):
        grad = 2.0 * (params["w"] - target)
        keras_opt.apply_gradients([(grad, variable)])
        ref_opt.step(params, {"w": grad})
    assert params["w"].dtype == np.float64
    close(params["w"], np.asarray(variable), atol=1e-12)


def test_optimizer_defaults_match_keras(keras):
    for name, cls in O.OPTIMIZERS.items():
        ours, theirs = cls(), getattr(keras.optimizers, name)()
        for attr in ("learning_rate", "weight_decay", "momentum", "nesterov", "beta_1", "beta_2", "epsilon", "rho"):
            if hasattr(ours, attr):
                expected = getattr(theirs, attr)
                expected = None if expected is None else float(np.asarray(expected))
                assert getattr(ours, attr) == pytest.approx(expected), (name, attr)
        if name == "Adagrad":
            assert ours.initial_accumulator_value == theirs.initial_accumulator_value


# ---------------------------------------------------------------------------------------------- dispatch


def test_apply_layer_covers_the_registry_and_accepts_bound_arguments():
    """Every registry op has a reference, and each version-1 op takes the registry-bound argument dict as is (the
    families added since run through apply_layer with bound arguments in every catalogue case of test_ops)."""
    from compiler.frontend import load_text
    from compiler.ops import REGISTRY

    assert set(K.LAYERS) | set(K.family_layers()) == set(REGISTRY)
    assert not set(K.LAYERS) & set(K.family_layers())
    spec = """
    model Everything {
      input x: f32[8, 8, 3]
      input s: f32[6, 4]
      input ids: i64[5]
      layers {
        c: Conv2D(4, 3, padding=same, activation=relu, kernel_regularizer=l2(0.01))
        BatchNormalization()
        MaxPool2D(2, strides=1, padding=same)
        AvgPool2D(3, strides=2, padding=same)
        ReLU(max_value=6)
        LeakyReLU()
        Dropout(0.2)
        GlobalAvgPool2D(keepdims=true)
        Flatten()
        g: Dense(6)
        from c
        GlobalMaxPool2D()
        Dense(6, activation=gelu)
        Add(g)
        Subtract(g)
        Multiply(g)
        Average(g)
        Maximum(g)
        Minimum(g)
        Activation(swish)
        Rescaling(0.5, offset=1)
        Reshape((3, 2))
        LayerNormalization()
        Softmax(axis=1)
        r: Reshape((6, 1))
        from s
        Conv1D(4, 2, strides=2, padding=same)
        MaxPool1D(2, padding=same)
        AvgPool1D(1)
        GlobalAvgPool1D(keepdims=true)
        t: GlobalMaxPool1D()
        from s
        l: LSTM(3, return_sequences=true)
        SimpleRNN(2, return_sequences=true)
        GRU(2, return_sequences=true)
        Bidirectional(GRU(3), merge_mode=ave)
        q: Concatenate(t, axis=-1)
        from ids
        Embedding(10, 4)
        Bidirectional(LSTM(3, return_sequences=true))
        GlobalAvgPool1D()
        Concatenate(t, q)
        Reshape((-1, 1))
        Concatenate(r, axis=1)
        Flatten()
      }
    }
    """
    (graph,) = load_text(spec, "everything.dl")
    assert {n.op for n in graph.nodes} == set(K.LAYERS)
    r = rng(29)
    values = {}
    for value in graph.inputs:
        shape = (2, *value.shape)
        values[value.name] = r.integers(0, 10, shape) if value.dtype.startswith("i") else r.normal(size=shape)
    for node in graph.nodes:
        weights = {}
        for p in node.params:
            weights[p.name] = r.uniform(0.5, 1.5, p.shape) if p.name.endswith("variance") else r.normal(size=p.shape)
        out = K.apply_layer(node.op, [values[i.name] for i in node.inputs], weights, node.args)
        assert out.shape[1:] == node.output.shape, node.name
        assert np.isfinite(out).all(), node.name
        values[node.output.name] = out


def test_unknown_arguments_are_refused():
    x, kernel = np.ones((1, 3)), np.ones((3, 2))
    with pytest.raises(TypeError):
        K.dense(x, kernel, use_bias=False, unit=2)
    with pytest.raises(ValueError):
        K.dense(x, kernel, use_bias=False, units=3)
    K.dense(x, kernel, use_bias=False, units=2, kernel_initializer="zeros", kernel_regularizer=None)


@pytest.mark.parametrize("loss", ["binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_probability_losses_on_raw_outputs(keras, loss):
    """Outputs that are not probabilities (negative, above one): Keras' TensorFlow backend clips and normalises
    the dense form, but clips, logs and log-softmaxes the sparse one; the reference must say the same."""
    r = rng(31)
    output = f32(r.normal(0.5, 2.0, (8, 3)))
    assert (output < 0).any() and (output > 1).any()
    labels = r.integers(0, 3, 8)
    target = labels if loss.startswith("sparse") else np.eye(3, dtype=np.float32)[labels]
    if loss == "binary_crossentropy":
        target = f32(r.integers(0, 2, (8, 3)))
    keras_loss = {
        "binary_crossentropy": keras.losses.BinaryCrossentropy,
        "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
        "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
    }[loss]()
    close(getattr(K, loss)(target, output), np.asarray(keras_loss(target, output)))
