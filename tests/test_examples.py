"""Every example, checked three ways: by hand, against the IR, and against the same model written in Keras 3.

The expected shapes and parameter counts below are worked out by hand (the arithmetic is spelled out), not
copied from the compiler. Each example is also written out by hand with Keras' functional API; Keras must
report the same per-layer parameter split, the same per-sample output shapes, and (for layers the .dl does
not label) the same automatic layer names as the IR.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from compiler.frontend import load

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"


@dataclass(frozen=True)
class Layer:
    """One expected IR node: name, dlc op, per-sample output shape, parameter split, input value names."""

    name: str
    op: str
    shape: tuple[int | None, ...]
    trainable: int
    non_trainable: int
    inputs: tuple[str, ...]
    labelled: bool = False  # the .dl gives it a label, so Keras' auto-name is not expected to match


@dataclass(frozen=True)
class Example:
    model: str
    inputs: dict[str, tuple[int | None, ...]]
    layers: list[Layer]
    trainable: int  # the totals, as literal numbers added up by hand
    non_trainable: int


def dense(name, units, fan_in, inputs, labelled=False, shape=None):
    """`shape`: the output's, where the Dense reads a sequence (it maps the last axis)."""
    return Layer(name, "Dense", shape or (units,), fan_in * units + units, 0, inputs, labelled)


def conv2d(name, shape, k, c_in, c_out, inputs, bias=True):
    return Layer(name, "Conv2D", shape, k * k * c_in * c_out + c_out * bias, 0, inputs)


def batchnorm(name, shape, inputs):
    c = shape[-1]
    return Layer(name, "BatchNormalization", shape, 2 * c, 2 * c, inputs)  # gamma, beta | moving mean, variance


def stateless(name, op, shape, inputs):
    return Layer(name, op, shape, 0, 0, inputs)


def layernorm(name, shape, inputs, labelled=False):
    return Layer(name, "LayerNormalization", shape, 2 * shape[-1], 0, inputs, labelled)  # gamma, beta


def mha(name, shape, width, heads, key_dim, inputs):
    """Self-attention on `inputs[0]` (query, value and key alike): query, key and value kernels
    [width, heads, key_dim] and biases [heads, key_dim], output kernel [heads, key_dim, width] and bias [width]."""
    params = 3 * (width * heads * key_dim + heads * key_dim) + heads * key_dim * width + width
    return Layer(name, "MultiHeadAttention", shape, params, 0, inputs * 3)


def separable(name, shape, k, c_in, filters, inputs, bias=True):
    """depth_multiplier 1: depthwise kernel [k, k, c_in, 1], pointwise [1, 1, c_in, filters], bias [filters]."""
    return Layer(name, "SeparableConv2D", shape, k * k * c_in + c_in * filters + (filters if bias else 0), 0, inputs)


EXAMPLES: dict[str, Example] = {
    "iris_mlp": Example(
        model="IrisMLP",
        inputs={"measurements": (4,)},
        layers=[
            dense("dense", 10, 4, ("measurements",)),  # 4 * 10 + 10 = 50
            dense("dense_1", 10, 10, ("dense",)),  # 10 * 10 + 10 = 110
            dense("dense_2", 3, 10, ("dense_1",)),  # 10 * 3 + 3 = 33
        ],
        trainable=(4 * 10 + 10) + (10 * 10 + 10) + (10 * 3 + 3),  # 193
        non_trainable=0,
    ),
    "digits_mlp": Example(
        model="DigitsMLP",
        inputs={"pixels": (64,)},
        layers=[
            stateless("rescaling", "Rescaling", (64,), ("pixels",)),
            dense("dense", 64, 64, ("rescaling",)),  # 64 * 64 + 64 = 4160
            dense("dense_1", 64, 64, ("dense",)),  # 4160
            stateless("dropout", "Dropout", (64,), ("dense_1",)),
            dense("dense_2", 10, 64, ("dropout",)),  # 64 * 10 + 10 = 650
        ],
        trainable=2 * (64 * 64 + 64) + (64 * 10 + 10),  # 8970
        non_trainable=0,
    ),
    "digits_convnet": Example(
        model="DigitsConvNet",
        inputs={"image": (8, 8, 1)},
        layers=[
            conv2d("conv2d", (8, 8, 32), 3, 1, 32, ("image",)),  # same padding; 3 * 3 * 1 * 32 + 32 = 320
            stateless("max_pooling2d", "MaxPool2D", (8 // 2, 8 // 2, 32), ("conv2d",)),
            conv2d("conv2d_1", (4, 4, 64), 3, 32, 64, ("max_pooling2d",)),  # 3 * 3 * 32 * 64 + 64 = 18496
            stateless("max_pooling2d_1", "MaxPool2D", (4 // 2, 4 // 2, 64), ("conv2d_1",)),
            stateless("flatten", "Flatten", (2 * 2 * 64,), ("max_pooling2d_1",)),
            stateless("dropout", "Dropout", (256,), ("flatten",)),
            dense("dense", 10, 256, ("dropout",)),  # 256 * 10 + 10 = 2570
        ],
        trainable=(3 * 3 * 1 * 32 + 32) + (3 * 3 * 32 * 64 + 64) + (2 * 2 * 64 * 10 + 10),  # 21386
        non_trainable=0,
    ),
    "digits_simple_rnn": Example(
        model="DigitsSimpleRNN",
        inputs={"rows": (8, 8)},
        layers=[
            stateless("rescaling", "Rescaling", (8, 8), ("rows",)),
            # kernel [8, 32], recurrent kernel [32, 32], one bias [32]
            Layer("simple_rnn", "SimpleRNN", (32,), 8 * 32 + 32 * 32 + 32, 0, ("rescaling",)),  # 1312
            dense("dense", 10, 32, ("simple_rnn",)),  # 330
        ],
        trainable=(8 * 32 + 32 * 32 + 32) + (32 * 10 + 10),  # 1642
        non_trainable=0,
    ),
    "digits_lstm": Example(
        model="DigitsLSTM",
        inputs={"rows": (None, 8)},
        layers=[
            stateless("rescaling", "Rescaling", (None, 8), ("rows",)),
            # four gates (i, f, c, o): kernel [8, 128], recurrent kernel [32, 128], one bias [128]
            Layer("lstm", "LSTM", (32,), 4 * (8 * 32 + 32 * 32 + 32), 0, ("rescaling",)),  # 5248
            dense("dense", 10, 32, ("lstm",)),  # 330
        ],
        trainable=4 * (8 * 32 + 32 * 32 + 32) + (32 * 10 + 10),  # 5578
        non_trainable=0,
    ),
    "digits_gru_stack": Example(
        model="DigitsGRUStack",
        inputs={"rows": (8, 8)},
        layers=[
            stateless("rescaling", "Rescaling", (8, 8), ("rows",)),
            # three gates (z, r, h), reset_after: kernel [8, 96], recurrent kernel [32, 96], bias [2, 96]
            Layer("gru", "GRU", (8, 32), 3 * (8 * 32 + 32 * 32 + 2 * 32), 0, ("rescaling",)),  # 4032
            # two GRU(16)s reading 32 features; merge_mode=concat gives 16 + 16
            Layer("bidirectional", "Bidirectional", (16 + 16,), 2 * 3 * (32 * 16 + 16 * 16 + 2 * 16), 0, ("gru",)),
            dense("dense", 10, 32, ("bidirectional",)),  # 330
        ],
        trainable=3 * (8 * 32 + 32 * 32 + 2 * 32) + 2 * 3 * (32 * 16 + 16 * 16 + 2 * 16) + (32 * 10 + 10),  # 9162
        non_trainable=0,
    ),
    "digits_resnet": Example(
        model="DigitsResNet",
        inputs={"image": (8, 8, 1)},
        layers=[
            stateless("rescaling", "Rescaling", (8, 8, 1), ("image",)),
            conv2d("conv2d", (8, 8, 16), 3, 1, 16, ("rescaling",)),  # 3 * 3 * 1 * 16 + 16 = 160
            # Residual(16), first pass: its `in` is conv2d
            conv2d("conv2d_1", (8, 8, 16), 3, 16, 16, ("conv2d",), bias=False),  # 3 * 3 * 16 * 16 = 2304
            batchnorm("batch_normalization", (8, 8, 16), ("conv2d_1",)),  # 32 + 32
            stateless("re_lu", "ReLU", (8, 8, 16), ("batch_normalization",)),
            conv2d("conv2d_2", (8, 8, 16), 3, 16, 16, ("re_lu",), bias=False),
            batchnorm("batch_normalization_1", (8, 8, 16), ("conv2d_2",)),
            stateless("add", "Add", (8, 8, 16), ("batch_normalization_1", "conv2d")),  # the stream first
            stateless("re_lu_1", "ReLU", (8, 8, 16), ("add",)),
            # Residual(16), second pass: its `in` is re_lu_1
            conv2d("conv2d_3", (8, 8, 16), 3, 16, 16, ("re_lu_1",), bias=False),
            batchnorm("batch_normalization_2", (8, 8, 16), ("conv2d_3",)),
            stateless("re_lu_2", "ReLU", (8, 8, 16), ("batch_normalization_2",)),
            conv2d("conv2d_4", (8, 8, 16), 3, 16, 16, ("re_lu_2",), bias=False),
            batchnorm("batch_normalization_3", (8, 8, 16), ("conv2d_4",)),
            stateless("add_1", "Add", (8, 8, 16), ("batch_normalization_3", "re_lu_1")),
            stateless("re_lu_3", "ReLU", (8, 8, 16), ("add_1",)),
            stateless("global_average_pooling2d", "GlobalAvgPool2D", (16,), ("re_lu_3",)),
            dense("dense", 10, 16, ("global_average_pooling2d",)),  # 16 * 10 + 10 = 170
        ],
        # stem conv + 4 block convs + 4 batchnorms' gamma and beta + the head
        trainable=(3 * 3 * 1 * 16 + 16) + 4 * (3 * 3 * 16 * 16) + 4 * (2 * 16) + (16 * 10 + 10),  # 9674
        non_trainable=4 * (2 * 16),  # 4 batchnorms' moving mean and variance: 128
    ),
    "wine_two_inputs": Example(
        model="WineTwoInputs",
        inputs={"chemistry": (9,), "colour": (4,)},
        layers=[
            batchnorm("batch_normalization", (9,), ("chemistry",)),  # 18 + 18
            dense("chem", 16, 9, ("batch_normalization",), labelled=True),  # 9 * 16 + 16 = 160
            batchnorm("batch_normalization_1", (4,), ("colour",)),  # 8 + 8
            dense("dense", 8, 4, ("batch_normalization_1",)),  # the labelled `chem` did not advance the counter
            stateless("concatenate", "Concatenate", (8 + 16,), ("dense", "chem")),  # the stream first
            dense("dense_1", 3, 24, ("concatenate",)),  # 24 * 3 + 3 = 75
        ],
        trainable=(2 * 9) + (9 * 16 + 16) + (2 * 4) + (4 * 8 + 8) + (24 * 3 + 3),  # 301
        non_trainable=(2 * 9) + (2 * 4),  # 26
    ),
    "text_transformer": Example(
        model="TextTransformer",
        inputs={"tokens": (16,)},
        layers=[
            Layer("embedded", "Embedding", (16, 32), 16 * 32, 0, ("tokens",), labelled=True),  # 16 ids x 32: 512
            Layer("position_embedding", "PositionEmbedding", (16, 32), 16 * 32, 0, ("embedded",)),  # 16 positions x 32
            stateless("add", "Add", (16, 32), ("position_embedding", "embedded")),  # the stream first
            mha("multi_head_attention", (16, 32), 32, 2, 16, ("add",)),  # 4224
            # Keras' MultiHeadAttention names a Dropout (and a Softmax) of its own when built: this one is dropout_1
            stateless("dropout_1", "Dropout", (16, 32), ("multi_head_attention",)),
            stateless("add_1", "Add", (16, 32), ("dropout_1", "add")),  # Add(in): `in` is the block's input
            layernorm("attended", (16, 32), ("add_1",), labelled=True),  # 64
            dense("dense", 32, 32, ("attended",), shape=(16, 32)),  # 1056
            dense("dense_1", 32, 32, ("dense",), shape=(16, 32)),  # 1056
            stateless("dropout_2", "Dropout", (16, 32), ("dense_1",)),
            stateless("add_2", "Add", (16, 32), ("dropout_2", "attended")),
            layernorm("layer_normalization", (16, 32), ("add_2",)),  # the label `attended` took no number
            stateless("global_average_pooling1d", "GlobalAvgPool1D", (32,), ("layer_normalization",)),
            dense("dense_2", 2, 32, ("global_average_pooling1d",)),  # 66
        ],
        trainable=(16 * 32)
        + (16 * 32)
        + (3 * (32 * 2 * 16 + 2 * 16) + 2 * 16 * 32 + 32)
        + 2 * (2 * 32)
        + 2 * (32 * 32 + 32)
        + (32 * 2 + 2),  # 7554
        non_trainable=0,
    ),
    "digits_vit": Example(
        model="DigitsViT",
        inputs={"image": (8, 8, 1)},
        layers=[
            stateless("rescaling", "Rescaling", (8, 8, 1), ("image",)),
            Layer("conv2d", "Conv2D", (4, 4, 32), 2 * 2 * 1 * 32 + 32, 0, ("rescaling",)),  # 2x2 patches: 160
            Layer("patches", "Reshape", (16, 32), 0, 0, ("conv2d",), labelled=True),  # 4 * 4 patches in a row
            Layer("position_embedding", "PositionEmbedding", (16, 32), 16 * 32, 0, ("patches",)),  # 512
            stateless("add", "Add", (16, 32), ("position_embedding", "patches")),
            # Encoder, first pass: its `in` is add
            layernorm("layer_normalization", (16, 32), ("add",)),
            mha("multi_head_attention", (16, 32), 32, 2, 16, ("layer_normalization",)),  # 4224
            Layer("attended", "Add", (16, 32), 0, 0, ("multi_head_attention", "add"), labelled=True),
            layernorm("layer_normalization_1", (16, 32), ("attended",)),
            dense("dense", 64, 32, ("layer_normalization_1",), shape=(16, 64)),  # 2112
            dense("dense_1", 32, 64, ("dense",), shape=(16, 32)),  # 2080
            stateless("add_1", "Add", (16, 32), ("dense_1", "attended")),
            # Encoder, second pass: its `in` is add_1; the label becomes attended_1
            layernorm("layer_normalization_2", (16, 32), ("add_1",)),
            mha("multi_head_attention_1", (16, 32), 32, 2, 16, ("layer_normalization_2",)),
            Layer("attended_1", "Add", (16, 32), 0, 0, ("multi_head_attention_1", "add_1"), labelled=True),
            layernorm("layer_normalization_3", (16, 32), ("attended_1",)),
            dense("dense_2", 64, 32, ("layer_normalization_3",), shape=(16, 64)),
            dense("dense_3", 32, 64, ("dense_2",), shape=(16, 32)),
            stateless("add_2", "Add", (16, 32), ("dense_3", "attended_1")),
            layernorm("layer_normalization_4", (16, 32), ("add_2",)),
            stateless("global_average_pooling1d", "GlobalAvgPool1D", (32,), ("layer_normalization_4",)),
            dense("dense_4", 10, 32, ("global_average_pooling1d",)),  # 330
        ],
        trainable=(2 * 2 * 1 * 32 + 32)
        + 16 * 32
        + 2 * (2 * (2 * 32) + (3 * (32 * 2 * 16 + 2 * 16) + 2 * 16 * 32 + 32) + (32 * 64 + 64) + (64 * 32 + 32))
        + 2 * 32
        + (32 * 10 + 10),  # 18154
        non_trainable=0,
    ),
    "shapes_unet": Example(
        model="ShapesUNet",
        inputs={"image": (16, 16, 1)},
        layers=[
            stateless("rescaling", "Rescaling", (16, 16, 1), ("image",)),
            Layer("full", "Conv2D", (16, 16, 8), 3 * 3 * 1 * 8 + 8, 0, ("rescaling",), labelled=True),  # 80
            stateless("max_pooling2d", "MaxPool2D", (8, 8, 8), ("full",)),
            # DoubleConv(16), labelled `half` (a label on a block use names its output, not a layer)
            separable("separable_conv2d", (8, 8, 16), 3, 8, 16, ("max_pooling2d",), bias=False),  # 72 + 128
            batchnorm("batch_normalization", (8, 8, 16), ("separable_conv2d",)),
            stateless("re_lu", "ReLU", (8, 8, 16), ("batch_normalization",)),
            separable("separable_conv2d_1", (8, 8, 16), 3, 16, 16, ("re_lu",), bias=False),  # 144 + 256
            batchnorm("batch_normalization_1", (8, 8, 16), ("separable_conv2d_1",)),
            stateless("re_lu_1", "ReLU", (8, 8, 16), ("batch_normalization_1",)),
            stateless("max_pooling2d_1", "MaxPool2D", (4, 4, 16), ("re_lu_1",)),
            # DoubleConv(32), the bottleneck
            separable("separable_conv2d_2", (4, 4, 32), 3, 16, 32, ("max_pooling2d_1",), bias=False),  # 144 + 512
            batchnorm("batch_normalization_2", (4, 4, 32), ("separable_conv2d_2",)),
            stateless("re_lu_2", "ReLU", (4, 4, 32), ("batch_normalization_2",)),
            separable("separable_conv2d_3", (4, 4, 32), 3, 32, 32, ("re_lu_2",), bias=False),  # 288 + 1024
            batchnorm("batch_normalization_3", (4, 4, 32), ("separable_conv2d_3",)),
            stateless("re_lu_3", "ReLU", (4, 4, 32), ("batch_normalization_3",)),
            # kernel [2, 2, 16 out, 32 in] and a bias of 16; 4x4 -> 8x8
            Layer("conv2d_transpose", "Conv2DTranspose", (8, 8, 16), 2 * 2 * 32 * 16 + 16, 0, ("re_lu_3",)),
            stateless("concatenate", "Concatenate", (8, 8, 16 + 16), ("conv2d_transpose", "re_lu_1")),
            # DoubleConv(16) in the decoder
            separable("separable_conv2d_4", (8, 8, 16), 3, 32, 16, ("concatenate",), bias=False),  # 288 + 512
            batchnorm("batch_normalization_4", (8, 8, 16), ("separable_conv2d_4",)),
            stateless("re_lu_4", "ReLU", (8, 8, 16), ("batch_normalization_4",)),
            separable("separable_conv2d_5", (8, 8, 16), 3, 16, 16, ("re_lu_4",), bias=False),
            batchnorm("batch_normalization_5", (8, 8, 16), ("separable_conv2d_5",)),
            stateless("re_lu_5", "ReLU", (8, 8, 16), ("batch_normalization_5",)),
            stateless("up_sampling2d", "UpSampling2D", (16, 16, 16), ("re_lu_5",)),
            stateless("concatenate_1", "Concatenate", (16, 16, 16 + 8), ("up_sampling2d", "full")),
            separable("separable_conv2d_6", (16, 16, 8), 3, 24, 8, ("concatenate_1",)),  # 216 + 192 + 8
            conv2d("conv2d", (16, 16, 3), 1, 8, 3, ("separable_conv2d_6",)),  # 1 * 1 * 8 * 3 + 3 = 27
        ],
        trainable=(3 * 3 * 1 * 8 + 8)
        + (3 * 3 * 8 + 8 * 16)
        + (3 * 3 * 16 + 16 * 16)
        + (3 * 3 * 16 + 16 * 32)
        + (3 * 3 * 32 + 32 * 32)
        + (2 * 2 * 32 * 16 + 16)
        + (3 * 3 * 32 + 32 * 16)
        + (3 * 3 * 16 + 16 * 16)
        + (3 * 3 * 24 + 24 * 8 + 8)
        + (1 * 1 * 8 * 3 + 3)
        + 2 * (16 + 16 + 32 + 32 + 16 + 16),  # six batchnorms' gamma and beta: 6611
        non_trainable=2 * (16 + 16 + 32 + 32 + 16 + 16),  # their moving mean and variance: 256
    ),
}

# The totals once more as plain numbers, summed on paper, so a slip in the arithmetic above shows up too.
TOTALS = {
    "iris_mlp": (193, 0),
    "digits_mlp": (8970, 0),
    "digits_convnet": (21386, 0),
    "digits_simple_rnn": (1642, 0),
    "digits_lstm": (5578, 0),
    "digits_gru_stack": (9162, 0),
    "digits_resnet": (9674, 128),
    "wine_two_inputs": (301, 26),
    "text_transformer": (7554, 0),
    "digits_vit": (18154, 0),
    "shapes_unet": (6611, 256),
}

# dlc op name -> Keras 3 class name, where they differ.
KERAS_CLASS = {
    "MaxPool2D": "MaxPooling2D",
    "GlobalAvgPool2D": "GlobalAveragePooling2D",
    "GlobalAvgPool1D": "GlobalAveragePooling1D",
}


def graph_of(stem: str):
    graphs = load(EXAMPLES_DIR / f"{stem}.dl")
    assert len(graphs) == 1, f"{stem}.dl should hold one model"
    return graphs[0]


# --------------------------------------------------------------------------------------------------------------
# By hand vs the IR
# --------------------------------------------------------------------------------------------------------------


def test_every_example_is_covered():
    assert sorted(p.stem for p in EXAMPLES_DIR.glob("*.dl")) == sorted(EXAMPLES)


@pytest.mark.parametrize("stem", sorted(EXAMPLES))
def test_hand_arithmetic_is_consistent(stem):
    example = EXAMPLES[stem]
    assert sum(layer.trainable for layer in example.layers) == example.trainable
    assert sum(layer.non_trainable for layer in example.layers) == example.non_trainable
    assert (example.trainable, example.non_trainable) == TOTALS[stem]


@pytest.mark.parametrize("stem", sorted(EXAMPLES))
def test_ir_matches_hand_computation(stem):
    example = EXAMPLES[stem]
    graph = graph_of(stem)

    assert graph.name == example.model
    assert {value.name: value.shape for value in graph.inputs} == example.inputs
    assert [value.name for value in graph.inputs] == list(example.inputs)

    got = [
        (
            node.name,
            node.op,
            node.output.shape,
            sum(p.size for p in node.params if p.trainable),
            sum(p.size for p in node.params if not p.trainable),
            tuple(value.name for value in node.inputs),
        )
        for node in graph.nodes
    ]
    want = [(x.name, x.op, x.shape, x.trainable, x.non_trainable, x.inputs) for x in example.layers]
    assert got == want

    for node, layer in zip(graph.nodes, example.layers, strict=True):
        assert node.param_count == layer.trainable + layer.non_trainable, node.name
        assert node.output.name == node.name

    assert graph.trainable_count == example.trainable
    assert graph.non_trainable_count == example.non_trainable
    assert graph.output.name == example.layers[-1].name
    assert graph.output.shape == example.layers[-1].shape


# --------------------------------------------------------------------------------------------------------------
# The same models, written out by hand in Keras 3
# --------------------------------------------------------------------------------------------------------------


class Recorder:
    """Applies layers and remembers them in the order the .dl writes them (a functional model's
    `.layers` is topologically sorted, which for two branches is not necessarily that order)."""

    def __init__(self):
        self.layers = []

    def __call__(self, layer, *inputs):
        self.layers.append(layer)
        return layer(inputs[0] if len(inputs) == 1 else list(inputs))

    def call(self, layer, *args):
        """The same for a layer that takes its inputs as separate arguments (MultiHeadAttention's query and
        value)."""
        self.layers.append(layer)
        return layer(*args)


def keras_iris(keras, rec):
    x = keras.Input(shape=(4,), name="measurements")
    h = rec(keras.layers.Dense(10, activation="relu", kernel_initializer="glorot_uniform"), x)
    h = rec(keras.layers.Dense(10, activation="relu"), h)
    h = rec(keras.layers.Dense(3, activation="softmax"), h)
    return keras.Model(x, h)


def keras_digits_mlp(keras, rec):
    x = keras.Input(shape=(64,), name="pixels")
    h = rec(keras.layers.Rescaling(1 / 16), x)
    h = rec(
        keras.layers.Dense(
            64, activation="relu", kernel_initializer="he_uniform", kernel_regularizer=keras.regularizers.l2(1e-4)
        ),
        h,
    )
    h = rec(keras.layers.Dense(64, activation="relu", kernel_initializer="he_uniform"), h)
    h = rec(keras.layers.Dropout(0.2), h)
    h = rec(keras.layers.Dense(10, activation="softmax"), h)
    return keras.Model(x, h)


def keras_digits_convnet(keras, rec):
    x = keras.Input(shape=(8, 8, 1), name="image")
    h = rec(keras.layers.Conv2D(32, 3, padding="same", activation="relu"), x)
    h = rec(keras.layers.MaxPooling2D(2), h)
    h = rec(keras.layers.Conv2D(64, 3, padding="same", activation="relu"), h)
    h = rec(keras.layers.MaxPooling2D(2), h)
    h = rec(keras.layers.Flatten(), h)
    h = rec(keras.layers.Dropout(0.5), h)
    h = rec(keras.layers.Dense(10, activation="softmax"), h)
    return keras.Model(x, h)


def keras_digits_simple_rnn(keras, rec):
    x = keras.Input(shape=(8, 8), name="rows")
    h = rec(keras.layers.Rescaling(1 / 16), x)
    h = rec(keras.layers.SimpleRNN(32), h)
    h = rec(keras.layers.Dense(10, activation="softmax"), h)
    return keras.Model(x, h)


def keras_digits_lstm(keras, rec):
    x = keras.Input(shape=(None, 8), name="rows")
    h = rec(keras.layers.Rescaling(1 / 16), x)
    h = rec(keras.layers.LSTM(32, kernel_regularizer=keras.regularizers.l1(1e-5)), h)
    h = rec(keras.layers.Dense(10, activation="softmax"), h)
    return keras.Model(x, h)


def keras_digits_gru_stack(keras, rec):
    x = keras.Input(shape=(8, 8), name="rows")
    h = rec(keras.layers.Rescaling(1 / 16), x)
    h = rec(keras.layers.GRU(32, return_sequences=True), h)
    h = rec(keras.layers.Bidirectional(keras.layers.GRU(16)), h)
    h = rec(
        keras.layers.Dense(10, activation="softmax", kernel_regularizer=keras.regularizers.L1L2(l1=1e-5, l2=1e-4)),
        h,
    )
    return keras.Model(x, h)


def keras_digits_resnet(keras, rec):
    def residual(h, filters, kernel=3):
        block_in = h
        h = rec(keras.layers.Conv2D(filters, kernel, padding="same", use_bias=False, kernel_initializer="he_normal"), h)
        h = rec(keras.layers.BatchNormalization(), h)
        h = rec(keras.layers.ReLU(), h)
        h = rec(keras.layers.Conv2D(filters, kernel, padding="same", use_bias=False, kernel_initializer="he_normal"), h)
        h = rec(keras.layers.BatchNormalization(), h)
        h = rec(keras.layers.Add(), h, block_in)
        return rec(keras.layers.ReLU(), h)

    x = keras.Input(shape=(8, 8, 1), name="image")
    h = rec(keras.layers.Rescaling(1 / 16), x)
    h = rec(keras.layers.Conv2D(16, 3, padding="same", activation="relu", kernel_initializer="he_normal"), h)
    for _ in range(2):
        h = residual(h, 16)
    h = rec(keras.layers.GlobalAveragePooling2D(), h)
    h = rec(keras.layers.Dense(10, activation="softmax"), h)
    return keras.Model(x, h)


def keras_wine_two_inputs(keras, rec):
    chemistry = keras.Input(shape=(9,), name="chemistry")
    colour = keras.Input(shape=(4,), name="colour")
    h = rec(keras.layers.BatchNormalization(), chemistry)
    # the one layer the .dl labels; a name given in Keras does not advance its counter either
    chem = rec(keras.layers.Dense(16, activation="relu", kernel_initializer="he_normal", name="chem"), h)
    h = rec(keras.layers.BatchNormalization(), colour)
    h = rec(keras.layers.Dense(8, activation="relu", kernel_regularizer=keras.regularizers.l2(0.001)), h)
    h = rec(keras.layers.Concatenate(), h, chem)
    h = rec(keras.layers.Dense(3, activation="softmax"), h)
    return keras.Model([chemistry, colour], h)


def keras_text_transformer(keras, rec):
    from backends.keras.layers import PositionEmbedding  # the class every generated Keras program defines

    def transformer_block(h, embed_dim, num_heads, ff_dim, rate=0.1):
        block_in = h
        h = rec.call(keras.layers.MultiHeadAttention(num_heads, embed_dim // num_heads), h, h)  # query, value
        h = rec(keras.layers.Dropout(rate), h)
        h = rec(keras.layers.Add(), h, block_in)
        attended = h = rec(keras.layers.LayerNormalization(epsilon=1e-6, name="attended"), h)
        h = rec(keras.layers.Dense(ff_dim, activation="relu"), h)
        h = rec(keras.layers.Dense(embed_dim), h)
        h = rec(keras.layers.Dropout(rate), h)
        h = rec(keras.layers.Add(), h, attended)
        return rec(keras.layers.LayerNormalization(epsilon=1e-6), h)

    x = keras.Input(shape=(16,), dtype="int64", name="tokens")
    embedded = rec(keras.layers.Embedding(16, 32, name="embedded"), x)
    h = rec(PositionEmbedding(16), embedded)
    h = rec(keras.layers.Add(), h, embedded)
    h = transformer_block(h, 32, 2, 32)
    h = rec(keras.layers.GlobalAveragePooling1D(), h)
    h = rec(keras.layers.Dense(2, activation="softmax"), h)
    return keras.Model(x, h)


def keras_digits_vit(keras, rec):
    from backends.keras.layers import PositionEmbedding

    def encoder(h, width, heads, mlp_dim, attended_name):
        block_in = h
        h = rec(keras.layers.LayerNormalization(epsilon=1e-6), h)
        h = rec.call(keras.layers.MultiHeadAttention(heads, width // heads), h, h)
        attended = h = rec(keras.layers.Add(name=attended_name), h, block_in)
        h = rec(keras.layers.LayerNormalization(epsilon=1e-6), h)
        h = rec(keras.layers.Dense(mlp_dim, activation="gelu"), h)
        h = rec(keras.layers.Dense(width), h)
        return rec(keras.layers.Add(), h, attended)

    x = keras.Input(shape=(8, 8, 1), name="image")
    h = rec(keras.layers.Rescaling(1 / 16), x)
    h = rec(keras.layers.Conv2D(32, 2, strides=2), h)
    patches = rec(keras.layers.Reshape((16, 32), name="patches"), h)
    h = rec(PositionEmbedding(16), patches)
    h = rec(keras.layers.Add(), h, patches)
    for attended_name in ("attended", "attended_1"):  # a label used twice numbers its layers
        h = encoder(h, 32, 2, 64, attended_name)
    h = rec(keras.layers.LayerNormalization(epsilon=1e-6), h)
    h = rec(keras.layers.GlobalAveragePooling1D(), h)
    h = rec(keras.layers.Dense(10, activation="softmax"), h)
    return keras.Model(x, h)


def keras_shapes_unet(keras, rec):
    def double_conv(h, filters):
        for _ in range(2):
            h = rec(keras.layers.SeparableConv2D(filters, 3, padding="same", use_bias=False), h)
            h = rec(keras.layers.BatchNormalization(momentum=0.9), h)
            h = rec(keras.layers.ReLU(), h)
        return h

    x = keras.Input(shape=(16, 16, 1), name="image")
    h = rec(keras.layers.Rescaling(1 / 255), x)
    full = rec(keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="full"), h)
    h = rec(keras.layers.MaxPooling2D(2), full)
    half = double_conv(h, 16)
    h = rec(keras.layers.MaxPooling2D(2), half)
    h = double_conv(h, 32)
    h = rec(keras.layers.Conv2DTranspose(16, 2, strides=2, activation="relu"), h)
    h = rec(keras.layers.Concatenate(), h, half)
    h = double_conv(h, 16)
    h = rec(keras.layers.UpSampling2D(2), h)
    h = rec(keras.layers.Concatenate(), h, full)
    h = rec(keras.layers.SeparableConv2D(8, 3, padding="same", activation="relu"), h)
    h = rec(keras.layers.Conv2D(3, 1, activation="sigmoid"), h)
    return keras.Model(x, h)


KERAS_BUILDERS = {
    "iris_mlp": keras_iris,
    "digits_mlp": keras_digits_mlp,
    "digits_convnet": keras_digits_convnet,
    "digits_simple_rnn": keras_digits_simple_rnn,
    "digits_lstm": keras_digits_lstm,
    "digits_gru_stack": keras_digits_gru_stack,
    "digits_resnet": keras_digits_resnet,
    "wine_two_inputs": keras_wine_two_inputs,
    "text_transformer": keras_text_transformer,
    "digits_vit": keras_digits_vit,
    "shapes_unet": keras_shapes_unet,
}


@dataclass
class KerasBuilt:
    model: object
    layers: list  # in .dl order
    names: list[str]  # each layer's name, read right after building in a fresh session


@pytest.fixture(scope="module")
def keras_models() -> dict[str, KerasBuilt]:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    built = {}
    for stem, builder in KERAS_BUILDERS.items():
        keras.backend.clear_session(free_memory=False)  # fresh name counters for every model; skip the slow gc
        rec = Recorder()
        model = builder(keras, rec)
        built[stem] = KerasBuilt(model, rec.layers, [layer.name for layer in rec.layers])
    keras.backend.clear_session(free_memory=False)
    return built


def weight_count(weights) -> int:
    return sum(math.prod(w.shape) for w in weights)


def per_sample(shape) -> tuple[int | None, ...]:
    return tuple(shape)[1:]


def test_keras_builders_cover_every_example():
    assert sorted(KERAS_BUILDERS) == sorted(EXAMPLES)


@pytest.mark.parametrize("stem", sorted(EXAMPLES))
def test_keras_matches_hand_computation_and_ir(stem, keras_models):
    example = EXAMPLES[stem]
    graph = graph_of(stem)
    built = keras_models[stem]
    model = built.model

    # the whole model
    assert weight_count(model.trainable_weights) == example.trainable == graph.trainable_count
    assert weight_count(model.non_trainable_weights) == example.non_trainable == graph.non_trainable_count
    assert model.count_params() == example.trainable + example.non_trainable
    assert [per_sample(t.shape) for t in model.inputs] == list(example.inputs.values())
    assert [t.name for t in model.inputs] == list(example.inputs)
    assert len(model.outputs) == 1
    assert per_sample(model.outputs[0].shape) == example.layers[-1].shape == graph.output.shape

    # layer by layer, in .dl order
    assert len(built.layers) == len(example.layers) == len(graph.nodes)
    for layer, want, node in zip(built.layers, example.layers, graph.nodes, strict=True):
        where = f"{stem}: {node.name}"
        assert type(layer).__name__ == KERAS_CLASS.get(node.op, node.op), where
        assert weight_count(layer.trainable_weights) == want.trainable, where
        assert weight_count(layer.non_trainable_weights) == want.non_trainable, where
        assert per_sample(layer.output.shape) == want.shape == node.output.shape, where


def keras_weight_name(layer, weight) -> str:
    """Keras' weight path as the canonical `LAYER.WEIGHT` suffix: `kernel`, `forward.bias`, ..."""
    if type(layer).__name__ == "Bidirectional":
        direction = weight.path.split("/")[1].split("_")[0]  # bidirectional/forward_gru_1/gru_cell/kernel
        return f"{direction}.{weight.name}"
    if type(layer).__name__ == "MultiHeadAttention":
        return ".".join(weight.path.split("/")[1:])  # multi_head_attention/query/kernel: query.kernel
    return weight.name


@pytest.mark.parametrize("stem", sorted(EXAMPLES))
def test_keras_weight_shapes_match_ir(stem, keras_models):
    """Beyond the counts: the IR's canonical weights have Keras' names, layouts and trainability."""
    graph = graph_of(stem)
    built = keras_models[stem]
    for layer, node in zip(built.layers, graph.nodes, strict=True):
        keras_weights = {keras_weight_name(layer, w): (tuple(w.shape), bool(w.trainable)) for w in layer.weights}
        ir_weights = {p.name: (tuple(p.shape), p.trainable) for p in node.params}
        assert ir_weights == keras_weights, f"{stem}: {node.name}"


@pytest.mark.parametrize("stem", sorted(EXAMPLES))
def test_keras_auto_names_match_ir(stem, keras_models):
    example = EXAMPLES[stem]
    graph = graph_of(stem)
    built = keras_models[stem]
    for keras_name, want, node in zip(built.names, example.layers, graph.nodes, strict=True):
        if want.labelled:
            assert node.name == keras_name == want.name  # the label is the name in both
            continue
        assert keras_name == node.name, f"{stem}: Keras auto-names {keras_name!r}, dlc {node.name!r}"
