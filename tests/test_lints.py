"""Warnings: valid specs that most likely say what their author did not mean, shown with a span and a fix, never
failing the check."""

from __future__ import annotations

import json

import pytest

from compiler.frontend import load_text
from compiler.lints import lint
from dlc.cli import main

CLASSIFIER = """model M {{
  input x: f32[4]
  layers {{
    Dense(8, activation=relu)
    {last}
  }}
  loss {loss}
  optimizer Adam()
}}
"""


def warnings_for(source: str) -> list:
    (graph,) = load_text(source, "m.dl")
    return lint(graph)


@pytest.mark.parametrize(
    ("last", "loss"),
    [
        ("Dense(3)", "sparse_categorical_crossentropy"),
        ("Dense(3, activation=relu)", "categorical_crossentropy"),
        ("Dense(1)", "binary_crossentropy"),
        ("Dense(1, activation=tanh)", "binary_crossentropy"),
        ("Dense(3)\n    Dropout(0.5)", "sparse_categorical_crossentropy"),
    ],
)
def test_a_probability_loss_on_raw_outputs_is_warned_at_the_layer(last, loss):
    (warning,) = warnings_for(CLASSIFIER.format(last=last, loss=loss))
    assert warning.kind == "warning"
    assert f"{loss} reads the model's outputs as probabilities, but layer 'dense_1' (Dense)" in warning.message
    assert (warning.span.line, warning.span.column) == (5, 5)
    fix = "sigmoid" if loss == "binary_crossentropy" else "softmax"
    assert warning.hint == f"set from_logits=true on the loss, or end with activation={fix}"


@pytest.mark.parametrize(
    ("last", "loss"),
    [
        ("Dense(3, activation=softmax)", "sparse_categorical_crossentropy"),
        ("Dense(3)", "sparse_categorical_crossentropy(from_logits=true)"),
        ("Dense(3)\n    Softmax()", "categorical_crossentropy"),
        ("Dense(3)\n    Activation(sigmoid)", "binary_crossentropy"),
        ("Dense(1, activation=sigmoid)\n    Flatten()", "binary_crossentropy"),
        ("Dense(3)", "mse"),
    ],
)
def test_probabilities_logits_and_other_losses_are_not_warned(last, loss):
    assert warnings_for(CLASSIFIER.format(last=last, loss=loss)) == []


NORMALIZED = """block Unit(filters) {{
  Conv2D(filters, 3, padding=same{bias})
  {norm}
  ReLU()
}}

model M {{
  input x: f32[8, 8, 1]
  layers {{
    repeat 2 {{ Unit(4) }}
    GlobalAvgPool2D()
    Dense(2, activation=softmax)
  }}
}}
"""


@pytest.mark.parametrize("op", ["Conv2DTranspose(4, 3)", "SeparableConv2D(4, 3)", "DepthwiseConv2D(3)", "Dense(4)"])
def test_every_layer_with_a_channel_bias_is_warned_before_batch_normalization(op):
    spec = NORMALIZED.replace("Conv2D(filters, 3, padding=same{bias})", op).format(norm="BatchNormalization()")
    (warning,) = warnings_for(spec)
    assert "is cancelled by the BatchNormalization" in warning.message


def test_a_bias_that_batch_normalization_cancels_is_warned_once_per_written_layer():
    (warning,) = warnings_for(NORMALIZED.format(bias="", norm="BatchNormalization()"))
    assert "the bias of layers 'conv2d', 'conv2d_1' (Conv2D) is cancelled by the BatchNormalization" in warning.message
    assert (warning.span.line, warning.span.column) == (2, 3)
    assert warning.hint == "write Conv2D(..., use_bias=false)"


@pytest.mark.parametrize(
    ("bias", "norm"),
    [
        (", use_bias=false", "BatchNormalization()"),
        (", activation=relu", "BatchNormalization()"),  # the bias sits before the activation, not the mean
        ("", "LayerNormalization()"),  # normalizes each sample over its features: a per-channel bias survives
        ("", "Dropout(0.1)\n  BatchNormalization()"),  # the bias reaches BatchNormalization through another layer
    ],
)
def test_biases_that_change_the_outputs_are_not_warned(bias, norm):
    assert warnings_for(NORMALIZED.format(bias=bias, norm=norm)) == []


def test_check_prints_warnings_and_still_passes(tmp_path, capsys):
    spec = tmp_path / "m.dl"
    spec.write_text(CLASSIFIER.format(last="Dense(3)", loss="sparse_categorical_crossentropy"))
    assert main(["check", str(spec)]) == 0
    captured = capsys.readouterr()
    assert 'Model: "M"' in captured.out
    assert f"{spec}:5:5: warning: sparse_categorical_crossentropy reads" in captured.err
    assert "help: set from_logits=true on the loss" in captured.err
    assert main(["check", "--json", str(spec)]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    (warning,) = report["warnings"]
    assert warning | {"message": None} == {
        "severity": "warning",
        "file": str(spec),
        "line": 5,
        "column": 5,
        "end_line": 5,
        "end_column": 13,
        "message": None,
        "help": "set from_logits=true on the loss, or end with activation=softmax",
        "notes": [],
    }


def test_commands_that_load_a_model_show_its_warnings(tmp_path, capsys):
    spec = tmp_path / "m.dl"
    spec.write_text(CLASSIFIER.format(last="Dense(3)", loss="sparse_categorical_crossentropy"))
    assert main(["compile", str(spec), "--target", "pytorch", "-o", str(tmp_path / "m.py")]) == 0
    assert "warning: sparse_categorical_crossentropy reads" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("loss", "last", "data", "warned"),
    [
        ("mse", "Dense(1)", 'dataset("iris")', True),  # 3 named classes, fitted as 0, 1 and 2
        ("huber", "Dense(1)", 'dataset("iris")', True),
        ("sparse_categorical_crossentropy", "Dense(3, activation=softmax)", 'dataset("iris")', False),
        ("mse", "Dense(1)", 'npz("values.npz", x="x", y="y")', False),  # the values are numbers
    ],
)
def test_a_regression_loss_on_named_classes_is_warned_at_the_data(tmp_path, loss, last, data, warned):
    import numpy as np

    np.savez(tmp_path / "values.npz", x=np.ones((4, 4), np.float32), y=np.arange(4, dtype=np.float32))
    text = CLASSIFIER.format(last=last, loss=loss).replace(
        "optimizer Adam()", f"optimizer Adam()\n  train {{ data = {data} }}"
    )
    (graph,) = load_text(text, str(tmp_path / "m.dl"))
    found = [w for w in lint(graph) if "fits the targets as numbers" in w.message]
    assert bool(found) == warned, [w.message for w in lint(graph)]
    if warned:
        assert found[0].span.line == 9 and "sparse_categorical_crossentropy" in found[0].hint
