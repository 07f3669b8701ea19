"""Proves the NumPy references of MultiHeadAttention and PositionEmbedding against the real layers (Keras 3's
MultiHeadAttention, TensorFlow backend; for PositionEmbedding, whose keras_hub is not installed here, the class a
generated Keras program defines, backends/keras/layers.py, held to keras_hub's semantics), and pins the
registry's arguments, defaults, weight names, shapes and parameter counts to Keras' own."""

from __future__ import annotations

import inspect
import itertools
import os

import numpy as np
import pytest

from compiler.argkinds import REQUIRED
from compiler.ops import REGISTRY, ShapeProblem, TensorType

from . import attention_numpy as A

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ATOL = 1e-5  # Keras float32 vs the float64 reference (with the contract's relative part for large outputs)
MHA = "MultiHeadAttention"


def f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def bound_args(op: str, **args) -> dict:
    return {a.name: a.default for a in REGISTRY[op].args if not a.required} | args


def registry_params(op: str, shapes, **args):
    return REGISTRY[op].params([TensorType("f32", tuple(s)) for s in shapes], bound_args(op, **args))


def registry_output(op: str, shapes, **args) -> TensorType:
    return REGISTRY[op].infer([TensorType("f32", tuple(s)) for s in shapes], bound_args(op, **args))


def keras_arguments(args: dict) -> dict:
    """The registry's arguments as Keras' constructor takes them (use_causal_mask is a call argument there)."""
    return {k: v for k, v in args.items() if k != "use_causal_mask"}


# ---------------------------------------------------------------------------------------------- MultiHeadAttention

# (query [T, ...features], value, key or None, layer arguments)
ATTENTION = [
    ((5, 4), None, None, dict(num_heads=2, key_dim=3)),
    ((5, 4), None, None, dict(num_heads=1, key_dim=4, use_bias=False)),
    ((5, 4), None, None, dict(num_heads=3, key_dim=2, value_dim=5, output_shape=7)),
    ((5, 4), None, None, dict(num_heads=2, key_dim=3, use_causal_mask=True)),
    ((5, 4), None, None, dict(num_heads=2, key_dim=3, dropout=0.3, use_causal_mask=True)),  # Keras' explicit path
    ((4, 6), (7, 3), None, dict(num_heads=2, key_dim=4)),
    ((4, 6), (7, 3), (7, 5), dict(num_heads=2, key_dim=4, value_dim=3)),
    ((3, 4), (6, 5), None, dict(num_heads=2, key_dim=3, use_causal_mask=True)),
    ((6, 4), (3, 5), None, dict(num_heads=2, key_dim=3, use_causal_mask=True)),
    ((3, 4), (6, 5), (6, 2), dict(num_heads=2, key_dim=3, dropout=0.5, use_causal_mask=True)),
    ((6, 4), (3, 5), None, dict(num_heads=2, key_dim=3, dropout=0.5, use_causal_mask=True)),
    ((3, 4, 5), None, None, dict(num_heads=2, key_dim=3)),
    ((2, 2, 5), (3, 4, 6), None, dict(num_heads=2, key_dim=3, output_shape=4)),
    ((3, 4, 5), None, None, dict(num_heads=2, key_dim=3, attention_axes=(1, 2))),
    ((5, 4), None, None, dict(num_heads=2, key_dim=3, attention_axes=(-2,))),
]


def attention_id(case) -> str:
    query, value, key, args = case
    parts = [f"q{list(query)}", *([f"v{list(value)}"] if value else []), *([f"k{list(key)}"] if key else [])]
    return "-".join(parts + [f"{k}={v}" for k, v in args.items() if k not in ("num_heads", "key_dim")])


@pytest.mark.parametrize("case", ATTENTION, ids=attention_id)
def test_multi_head_attention(keras, case):
    query_shape, value_shape, key_shape, args = case
    rng = np.random.default_rng(7)
    query = f32(rng.normal(size=(3, *query_shape)))
    value = query if value_shape is None else f32(rng.normal(size=(3, *value_shape)))
    key = value if key_shape is None else f32(rng.normal(size=(3, *key_shape)))
    layer = keras.layers.MultiHeadAttention(**keras_arguments(args))
    causal = args.get("use_causal_mask", False)
    called = (query, value) if key is value else (query, value, key)
    layer(*called, use_causal_mask=causal)  # builds it
    shapes = [query.shape[1:], value.shape[1:], key.shape[1:]]
    params = registry_params(MHA, shapes, **args)
    assert [p.name for p in params] == [v.path.split("/", 1)[1].replace("/", ".") for v in layer.weights]
    assert [p.shape for p in params] == [tuple(v.shape) for v in layer.weights]
    assert sum(p.size for p in params) == layer.count_params()
    weights = {p.name: rng.normal(size=p.shape) for p in params}
    layer.set_weights([f32(weights[p.name]) for p in params])
    actual = np.asarray(layer(*called, use_causal_mask=causal))  # inference: dropout off
    expected = A.multi_head_attention(query, value, key, weights, **args)
    assert registry_output(MHA, shapes, **args).shape == actual.shape[1:]
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=ATOL)


def test_causal_mask_is_aligned_at_the_top_left():
    """Measured through the cases above (shorter and longer queries, both Keras paths): query i sees keys 0..i."""
    np.testing.assert_array_equal(A.causal_mask(2, 4), [[1, 0, 0, 0], [1, 1, 0, 0]])
    np.testing.assert_array_equal(A.causal_mask(3, 2), [[1, 0], [1, 1], [1, 1]])


def test_multi_head_attention_defaults_are_keras(keras):
    """Every default is the constructor's (use_causal_mask the call's), the first seven in Keras' positional order."""
    constructor = inspect.signature(keras.layers.MultiHeadAttention.__init__).parameters
    call = inspect.signature(keras.layers.MultiHeadAttention.call).parameters
    spec = REGISTRY[MHA]
    for arg in spec.args:
        keras_default = (call if arg.name == "use_causal_mask" else constructor)[arg.name].default
        if arg.default is REQUIRED:
            assert keras_default is inspect.Parameter.empty, arg.name
        else:
            assert arg.default == keras_default, arg.name
    assert [a.name for a in spec.args[:7]] == list(constructor)[1:8]


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis")  # one key position, on purpose
def test_keras_drops_attention_probabilities_in_training(keras):
    """One key position: every probability is 1, and dropout leaves each (sample, head, query) 0 or 1/(1 - rate):
    Keras drops attention probabilities, inverted, in training only."""
    rate, heads = 0.5, 4
    layer = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=2, value_dim=1, output_shape=heads, dropout=rate)
    query, context = f32(np.ones((64, 3, 2))), f32(np.ones((64, 1, 2)))
    layer(query, context)
    weights = [np.zeros(v.shape) for v in layer.weights]
    weights[5] = np.ones((heads, 1))  # value.bias: every head's value is 1
    weights[6] = np.eye(heads).reshape(heads, 1, heads)  # attention_output.kernel: head n to output n
    layer.set_weights([f32(w) for w in weights])
    np.testing.assert_allclose(np.asarray(layer(query, context)), 1.0, rtol=1e-6)
    trained = np.asarray(layer(query, context, training=True))
    assert set(np.round(np.unique(trained), 5)) == {0.0, 1 / (1 - rate)}


@pytest.mark.parametrize(
    "shapes, args, message",
    [
        ([(4,), (4,), (4,)], {}, "needs a sequence"),
        ([(5, 4), (5, 3, 4), (5, 3, 4)], {}, "query's rank"),
        ([(5, 4), (6, 3), (7, 3)], {}, "same shape but for the features"),
        ([(5, None), (5, 4), (5, 4)], {}, "feature count"),
        ([(5, 4), (5, 4), (5, 4)], {"attention_axes": (-1,)}, "default attention axes"),
        ([(3, 4, 5), (3, 4, 5), (3, 4, 5)], {"attention_axes": (2,)}, "default attention axes"),
        ([(3, 4, 5), (3, 4, 5), (3, 4, 5)], {"use_causal_mask": True}, "use_causal_mask"),
    ],
)
def test_multi_head_attention_refusals(shapes, args, message):
    with pytest.raises(ShapeProblem, match=message):
        registry_output(MHA, shapes, num_heads=2, key_dim=3, **args)


def test_keras_refuses_a_value_and_key_of_other_lengths(keras):
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    with pytest.raises(ValueError, match="except the last one, must be equal"):
        layer(f32(np.ones((1, 5, 4))), f32(np.ones((1, 6, 3))), f32(np.ones((1, 7, 3))))


# ---------------------------------------------------------------------------------------------- PositionEmbedding


@pytest.fixture(scope="module")
def position_layer(keras):
    """The class every generated Keras program defines for keras_hub's PositionEmbedding."""
    from backends.keras.layers import PositionEmbedding

    return PositionEmbedding


@pytest.mark.parametrize("shape, sequence_length", [((6, 4), 6), ((4, 4), 9), ((1, 3), 7), ((2, 5, 3), 6)])
def test_position_embedding(keras, position_layer, shape, sequence_length):
    rng = np.random.default_rng(3)
    x = f32(rng.normal(size=(2, *shape)))
    layer = position_layer(sequence_length)
    layer(x)
    params = registry_params("PositionEmbedding", [shape], sequence_length=sequence_length)
    assert [(p.name, p.shape) for p in params] == [(v.name, tuple(v.shape)) for v in layer.weights]
    table = rng.normal(size=params[0].shape)
    layer.set_weights([f32(table)])
    expected = A.position_embedding(x, table, sequence_length=sequence_length)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=0, atol=ATOL)
    np.testing.assert_array_equal(expected[1], expected[0])  # the same vectors for every sample


def test_position_embedding_on_any_length_checks_it_at_run_time(keras, position_layer):
    inputs = keras.Input(shape=(None, 3))
    model = keras.Model(inputs, position_layer(4, name="positions")(inputs))
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    model.get_layer("positions").set_weights([table])
    for length in (1, 4):
        out = model.predict_on_batch(np.zeros((2, length, 3), np.float32))
        np.testing.assert_array_equal(out, np.broadcast_to(table[:length], (2, length, 3)))
    with pytest.raises(Exception, match="longer than sequence_length=4"):
        model.predict_on_batch(np.zeros((2, 5, 3), np.float32))


def test_position_embedding_registry():
    (param,) = registry_params("PositionEmbedding", [(None, 5)], sequence_length=9)
    assert (param.name, param.shape, param.initializer) == ("embeddings", (9, 5), "glorot_uniform")
    assert registry_output("PositionEmbedding", [(None, 5)], sequence_length=9).shape == (None, 5)
    for shape, message in (((8,), "needs a sequence"), ((10, 5), "for a sequence of 10"), ((3, None), "feature")):
        with pytest.raises(ShapeProblem, match=message):
            registry_output("PositionEmbedding", [shape], sequence_length=9)
    assert [a.name for a in REGISTRY["PositionEmbedding"].args] == ["sequence_length", "initializer"]  # keras_hub's


@pytest.mark.parametrize("heads, key_dim", list(itertools.product((1, 3), (2, 5))))
def test_multi_head_attention_parameter_count(keras, heads, key_dim):
    layer = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=key_dim, value_dim=4)
    layer(f32(np.ones((1, 5, 6))), f32(np.ones((1, 7, 3))))
    params = registry_params(MHA, [(5, 6), (7, 3), (7, 3)], num_heads=heads, key_dim=key_dim, value_dim=4)
    assert sum(p.size for p in params) == layer.count_params()
