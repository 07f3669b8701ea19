"""What Keras accepts and the language now reads as Keras does: Keras' primary class names beside the short
aliases (`MaxPooling2D` is `MaxPool2D`, the same IR), float token ids into `Embedding` (cast to integers as
Keras casts them), and the version 2 activations where the loss meets them (the fused softmax, the lint)."""

from __future__ import annotations

import numpy as np
import pytest
from catalogue import CASES

from backends.samples import random_inputs
from compiler.errors import DlError, DlNameError
from compiler.frontend import load_text
from compiler.lints import lint
from compiler.ops import ALIASES, REGISTRY, lookup
from compiler.printer import print_ir
from compiler.training import fused_logits


def spec(inputs: str, layers: str, loss: str = "mse") -> str:
    return f"model M {{\n{inputs}\n  layers {{\n{layers}\n  }}\n  loss {loss}\n  optimizer SGD()\n}}\n"


def graph_of(text: str):
    return load_text(text, "spec.dl")[0]


# ---------------------------------------------------------------- Keras' class names


def test_every_keras_class_name_that_differs_is_an_alias():
    differing = {spec.keras_class: name for name, spec in REGISTRY.items() if spec.keras_class != name}
    assert differing == ALIASES
    for keras_class, short in {
        "MaxPooling1D": "MaxPool1D",
        "MaxPooling2D": "MaxPool2D",
        "AveragePooling1D": "AvgPool1D",
        "AveragePooling2D": "AvgPool2D",
        "GlobalAveragePooling1D": "GlobalAvgPool1D",
        "GlobalAveragePooling2D": "GlobalAvgPool2D",
        "GlobalMaxPooling1D": "GlobalMaxPool1D",
        "GlobalMaxPooling2D": "GlobalMaxPool2D",
    }.items():
        assert lookup(keras_class) is lookup(short) is REGISTRY[short]
    assert lookup("Dense") is REGISTRY["Dense"] and lookup("Pooling2D") is None


@pytest.mark.parametrize("keras_class", sorted(ALIASES))
def test_a_keras_class_name_gives_the_same_ir(keras_class):
    short = ALIASES[keras_class]
    for case in [case for case in CASES if case.op == short][:3]:
        written = case.text().replace(f"{short}(", f"{keras_class}(")
        assert written != case.text()
        ours, theirs = graph_of(case.text()), graph_of(written)
        assert print_ir(theirs) == print_ir(ours)
        # the automatic names stay Keras' (`max_pooling2d`), whichever name the spec used
        assert all(node.name.startswith(REGISTRY[short].default_name) for node in theirs.nodes if node.op == short)


def test_both_spellings_mix_in_one_model():
    written = """\
    Conv1D(4, 3, padding=same)
    MaxPooling1D(2)
    Conv1D(4, 3, padding=same)
    MaxPool1D(2)
    GlobalAveragePooling1D()"""
    graph = graph_of(spec("  input x: f32[8, 3]", written))
    assert [node.name for node in graph.nodes] == [
        "conv1d",
        "max_pooling1d",
        "conv1d_1",
        "max_pooling1d_1",
        "global_average_pooling1d",
    ]
    assert [node.op for node in graph.nodes][1::2] == ["MaxPool1D", "MaxPool1D"]
    assert graph.nodes[-1].op == "GlobalAvgPool1D"


def test_a_misspelt_keras_name_is_suggested_and_a_block_cannot_take_one():
    with pytest.raises(DlNameError) as caught:
        graph_of(spec("  input x: f32[6, 6, 2]", "    MaxPooling2d()"))
    assert caught.value.hint == "did you mean 'MaxPooling2D'?"
    block = "block GlobalAveragePooling1D() {\n  Dense(2)\n}\n"
    with pytest.raises(DlNameError, match="block 'GlobalAveragePooling1D' has the name of a built-in layer"):
        load_text(block + spec("  input x: f32[6]", "    GlobalAveragePooling1D()"), "spec.dl")


# ---------------------------------------------------------------- float token ids


@pytest.mark.parametrize("dtype", ["f16", "f32", "f64", "i32", "i64"])
def test_embedding_takes_ids_of_any_dtype(dtype):
    graph = graph_of(spec(f"  input x: {dtype}[?]", "    Embedding(10, 4)"))
    assert graph.output.dtype == "f32" and graph.output.shape == (None, 4)


def test_verify_draws_whole_ids_for_a_float_input_an_embedding_reads():
    graph = graph_of(
        spec("  input x: f32[6]\n  input y: f32[3]", "    Embedding(7, 2)\n    Flatten()\n    Concatenate(y)")
    )
    ids, other = random_inputs(graph, 50, 1, np.random.default_rng(0))
    assert ids.dtype == np.float32 and other.dtype == np.float32
    assert (ids == np.round(ids)).all() and ids.min() >= 0 and ids.max() <= 6 and len(np.unique(ids)) == 7
    assert (other != np.round(other)).any()


# ---------------------------------------------------------------- activations meeting the loss


def test_log_softmax_is_never_fused_and_a_cross_entropy_on_it_warns():
    softmax = graph_of(spec("  input x: f32[4]", "    Dense(3, activation=softmax)", "categorical_crossentropy"))
    assert fused_logits(softmax) == "softmax" and not lint(softmax)
    text = spec("  input x: f32[4]", "    Dense(3, activation=log_softmax)", "categorical_crossentropy")
    graph = graph_of(text)
    assert fused_logits(graph) is None  # the loss reads the log-probabilities as Keras does: clipped, not fused
    (warning,) = lint(graph)
    assert "reads the model's outputs as probabilities" in warning.message and "from_logits=true" in warning.hint
    assert fused_logits(graph_of(text.replace("categorical_crossentropy", "mse"))) is None


@pytest.mark.parametrize("name", ["log_softmax", "relu6", "leaky_relu", "silu", "mish", "hard_sigmoid", "hard_silu"])
def test_every_layer_with_an_activation_takes_the_new_ones(name):
    layers = f"    Conv1D(3, 2, activation={name})\n    LSTM(3, activation={name}, recurrent_activation={name})"
    graph = graph_of(spec("  input x: f32[6, 2]", f"{layers}\n    Dense(2, activation={name})\n    Activation({name})"))
    assert [node.args["activation"] for node in graph.nodes] == [name] * 4
    with pytest.raises(DlError, match="unknown value 'swish2'"):
        graph_of(spec("  input x: f32[4]", "    Dense(3, activation=swish2)"))
