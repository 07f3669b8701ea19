"""The examples of published architectures (issue 16): a text Transformer, a small ViT and a U-Net.

Each one is checked by `dlc check` without a warning, built once more by hand with Keras 3's functional API
(the same parameter count, weight shapes and output shape as the IR), held to the equivalence contract by
`dlc verify --steps 5` like every example (tests/test_verify.py), and trained for real in PyTorch, for fewer
epochs than the example asks, to at least
the test accuracy stated below, on data that ships with the repository (examples/data/*.npz, made by
examples/data/generate.py) or with scikit-learn.

Training runs on one thread: the models are tiny, and on a shared two-core machine PyTorch's second thread
only waits for the other (one step of the Transformer: 6 ms on one thread, up to a second on two).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
import torch
from conftest import ROOT

from backends.program.loader import train
from compiler.frontend import load_model
from dlc import cli

EXAMPLES = ROOT / "examples"


@dataclass(frozen=True)
class Published:
    stem: str
    model: str
    params: int  # worked out by hand below
    non_trainable: int
    output: tuple[int, ...]
    epochs: int  # a short run ...
    metric: str  # ... of which this final figure
    bound: float  # reaches at least this


# TextTransformer: Embedding 16 * 32 = 512; PositionEmbedding 16 * 32 = 512; MultiHeadAttention(2, 16) on 32
# features: query, key and value kernels 32 * 2 * 16 and biases 2 * 16 each, output kernel 2 * 16 * 32 and bias
# 32; two LayerNormalizations 2 * 32 each; Dense 32 -> 32 twice; Dense 32 -> 2.
TRANSFORMER_PARAMS = (
    16 * 32 + 16 * 32 + 3 * (32 * 2 * 16 + 2 * 16) + (2 * 16 * 32 + 32) + 2 * (2 * 32) + 2 * (32 * 32 + 32) + 32 * 2 + 2
)
# DigitsViT: the patch Conv2D 2 * 2 * 1 * 32 + 32; PositionEmbedding 16 * 32; per encoder two LayerNormalizations,
# MultiHeadAttention(2, 16) as above, Dense 32 -> 64 -> 32; the final LayerNormalization; Dense 32 -> 10.
ENCODER_PARAMS = 2 * (2 * 32) + 3 * (32 * 2 * 16 + 2 * 16) + (2 * 16 * 32 + 32) + (32 * 64 + 64) + (64 * 32 + 32)
VIT_PARAMS = (2 * 2 * 1 * 32 + 32) + 16 * 32 + 2 * ENCODER_PARAMS + 2 * 32 + (32 * 10 + 10)


def separable(k: int, c_in: int, filters: int, bias: bool = True) -> int:
    """SeparableConv2D with depth_multiplier 1: depthwise k * k * c_in, pointwise c_in * filters, bias filters."""
    return k * k * c_in + c_in * filters + (filters if bias else 0)


def double_conv(c_in: int, filters: int) -> tuple[int, int]:
    """The U-Net's DoubleConv block: two bias-free separable convolutions, each with a BatchNormalization (gamma
    and beta trainable, moving mean and variance not). (trainable, non-trainable)."""
    return separable(3, c_in, filters, False) + separable(3, filters, filters, False) + 2 * 2 * filters, 2 * 2 * filters


# ShapesUNet: Conv2D 3x3 1 -> 8; DoubleConv(16) on 8, DoubleConv(32) on 16; Conv2DTranspose 2x2 32 -> 16;
# DoubleConv(16) on 16 + 16 concatenated; SeparableConv2D on 16 + 8 concatenated; Conv2D 1x1 8 -> 3.
UNET_TRAINABLE = (
    (3 * 3 * 1 * 8 + 8)
    + double_conv(8, 16)[0]
    + double_conv(16, 32)[0]
    + (2 * 2 * 32 * 16 + 16)
    + double_conv(32, 16)[0]
    + separable(3, 24, 8)
    + (8 * 3 + 3)
)
UNET_NON_TRAINABLE = double_conv(8, 16)[1] + double_conv(16, 32)[1] + double_conv(32, 16)[1]
UNET_PARAMS = UNET_TRAINABLE + UNET_NON_TRAINABLE

PUBLISHED = {
    case.stem: case
    for case in (
        Published("text_transformer", "TextTransformer", TRANSFORMER_PARAMS, 0, (2,), 8, "test_accuracy", 0.9),
        Published("digits_vit", "DigitsViT", VIT_PARAMS, 0, (10,), 8, "test_accuracy", 0.9),
        Published("shapes_unet", "ShapesUNet", UNET_PARAMS, UNET_NON_TRAINABLE, (16, 16, 3), 8, "test_accuracy", 0.95),
    )
}


def test_hand_counts():
    assert (TRANSFORMER_PARAMS, VIT_PARAMS, UNET_TRAINABLE, UNET_NON_TRAINABLE) == (7554, 18154, 6611, 256)


def test_generated_data_is_what_the_generator_makes():
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "data/generate.py"), "--check"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    for name in ("order.npz", "shapes.npz"):
        assert (EXAMPLES / "data" / name).stat().st_size < 1_000_000


# --------------------------------------------------------------------------------------------------------------
# dlc check
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", sorted(PUBLISHED))
def test_dlc_check_passes_without_warnings(stem, capsys):
    case = PUBLISHED[stem]
    assert cli.main(["check", "--json", str(EXAMPLES / f"{stem}.dl")]) == 0
    captured = capsys.readouterr()
    (summary,) = json.loads(captured.out)
    assert summary["model"] == case.model
    assert summary["warnings"] == [] and "warning" not in captured.err, captured.err
    assert summary["params"]["total"] == case.params
    assert summary["params"]["non_trainable"] == case.non_trainable
    assert tuple(summary["outputs"][0]["shape"]) == case.output


# --------------------------------------------------------------------------------------------------------------
# The same models written directly in Keras 3
# --------------------------------------------------------------------------------------------------------------


def keras_text_transformer(keras, layers):
    """Keras' "Text classification with Transformer" at these sizes."""

    def transformer_block(x, embed_dim, num_heads, ff_dim, rate=0.1):
        attention = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim // num_heads)(x, x)
        attention = keras.layers.Dropout(rate)(attention)
        attended = keras.layers.LayerNormalization(epsilon=1e-6)(keras.layers.Add()([attention, x]))
        h = keras.layers.Dense(ff_dim, activation="relu")(attended)
        h = keras.layers.Dropout(rate)(keras.layers.Dense(embed_dim)(h))
        return keras.layers.LayerNormalization(epsilon=1e-6)(keras.layers.Add()([h, attended]))

    tokens = keras.Input(shape=(16,), dtype="int64", name="tokens")
    embedded = keras.layers.Embedding(16, 32)(tokens)
    h = keras.layers.Add()([layers.PositionEmbedding(16)(embedded), embedded])
    h = transformer_block(h, 32, 2, 32)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(tokens, keras.layers.Dense(2, activation="softmax")(h))


def keras_digits_vit(keras, layers):
    def encoder(x, width, heads, mlp_dim):
        h = keras.layers.LayerNormalization(epsilon=1e-6)(x)
        h = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=width // heads)(h, h)
        attended = keras.layers.Add()([h, x])
        h = keras.layers.LayerNormalization(epsilon=1e-6)(attended)
        h = keras.layers.Dense(mlp_dim, activation="gelu")(h)
        return keras.layers.Add()([keras.layers.Dense(width)(h), attended])

    image = keras.Input(shape=(8, 8, 1), name="image")
    h = keras.layers.Rescaling(1 / 16)(image)
    h = keras.layers.Conv2D(32, 2, strides=2)(h)
    patches = keras.layers.Reshape((16, 32))(h)
    h = keras.layers.Add()([layers.PositionEmbedding(16)(patches), patches])
    for _ in range(2):
        h = encoder(h, 32, 2, 64)
    h = keras.layers.LayerNormalization(epsilon=1e-6)(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(image, keras.layers.Dense(10, activation="softmax")(h))


def keras_shapes_unet(keras, layers):
    def double_conv(x, filters):
        for _ in range(2):
            x = keras.layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
            x = keras.layers.BatchNormalization(momentum=0.9)(x)
            x = keras.layers.ReLU()(x)
        return x

    image = keras.Input(shape=(16, 16, 1), name="image")
    h = keras.layers.Rescaling(1 / 255)(image)
    full = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(h)
    half = double_conv(keras.layers.MaxPooling2D(2)(full), 16)
    h = double_conv(keras.layers.MaxPooling2D(2)(half), 32)
    h = keras.layers.Conv2DTranspose(16, 2, strides=2, activation="relu")(h)
    h = double_conv(keras.layers.Concatenate()([h, half]), 16)
    h = keras.layers.Concatenate()([keras.layers.UpSampling2D(2)(h), full])
    h = keras.layers.SeparableConv2D(8, 3, padding="same", activation="relu")(h)
    return keras.Model(image, keras.layers.Conv2D(3, 1, activation="softmax")(h))


KERAS_BUILDERS = {
    "text_transformer": keras_text_transformer,
    "digits_vit": keras_digits_vit,
    "shapes_unet": keras_shapes_unet,
}


@pytest.fixture(scope="module")
def keras_models():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from backends.keras import layers  # the PositionEmbedding every generated Keras program defines

    built = {stem: builder(keras, layers) for stem, builder in KERAS_BUILDERS.items()}
    keras.backend.clear_session(free_memory=False)
    return built


def weight_shapes(weights) -> list[tuple[int, ...]]:
    return sorted(tuple(int(d) for d in w.shape) for w in weights)


@pytest.mark.parametrize("stem", sorted(PUBLISHED))
def test_keras_twin_has_the_same_parameters_and_output(stem, keras_models):
    case = PUBLISHED[stem]
    graph = load_model(EXAMPLES / f"{stem}.dl")
    model = keras_models[stem]
    assert model.count_params() == graph.trainable_count + graph.non_trainable_count == case.params
    assert sum(math.prod(w.shape) for w in model.trainable_weights) == graph.trainable_count
    assert sum(math.prod(w.shape) for w in model.non_trainable_weights) == graph.non_trainable_count
    assert graph.non_trainable_count == case.non_trainable
    assert tuple(model.outputs[0].shape[1:]) == graph.output.shape == case.output
    assert [tuple(t.shape[1:]) for t in model.inputs] == [v.shape for v in graph.inputs]
    # beyond the totals: the same weights, shape by shape
    assert weight_shapes(model.weights) == sorted(tuple(p.shape) for _, p in graph.params)


# --------------------------------------------------------------------------------------------------------------
# a real training run
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("stem", sorted(PUBLISHED))
def test_trains_to_the_stated_accuracy(stem, tmp_path, one_thread):
    case = PUBLISHED[stem]
    graph = load_model(EXAMPLES / f"{stem}.dl")
    assert graph.training.settings.epochs >= case.epochs  # the example trains at least as long as this test
    started = time.perf_counter()
    final = train(graph, "pytorch", tmp_path, epochs=case.epochs)
    seconds = time.perf_counter() - started
    assert final[case.metric] >= case.bound, f"{case.epochs} epochs in {seconds:.1f} s: {final}"
    record = json.loads((tmp_path / "history.json").read_text())
    assert record["final"][case.metric] == final[case.metric]
    assert len(record["history"]["loss"]) == case.epochs
