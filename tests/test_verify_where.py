"""`dlc verify` says where (issue 16, item 3): every weight outside its bound by name, the first layer outside the
contract (`--layers`), weights whose true gradient is zero found from the graph and judged by their effect on the
outputs, NaN and infinite values in words (and JSON that stays JSON), attention's own dropout off, targets as
long as the model's output at the sample length, `?` lengths the model takes, and f64 inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from backends import verify as verifier
from backends.onnx.command import sample_feeds
from backends.samples import random_inputs, random_targets, sample_length, shapes_at
from backends.spine import Lowering
from compiler.frontend import load_text
from compiler.weights import initial_weights
from dlc import cli


def model_text(inputs: str, layers: str, loss: str = "mse", optimizer: str = "Adam(learning_rate=0.01)") -> str:
    declared = "\n".join(f"  input {line.strip()}" for line in inputs.split(";"))
    return f"model Case {{\n{declared}\n  layers {{\n{layers}\n  }}\n  loss {loss}\n  optimizer {optimizer}\n}}\n"


def graph_of(text: str, name: str = "case"):
    (graph,) = load_text(text, f"{name}.dl")
    return graph


def verified(graph, steps: int, layers: bool = False, weights=None) -> verifier.Report:
    weights = initial_weights(graph, 0) if weights is None else weights
    return verifier.verify(graph, weights, "initial weights of seed 0", steps=steps, layers=layers)


def strict_json(text: str) -> dict:
    """JSON as the standard has it: a bare NaN or Infinity fails."""

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


# ---------------------------------------------------------------- every weight outside its bound


def test_every_weight_outside_its_bound_is_named(monkeypatch):
    """Two of Keras' trained weights moved past 1e-4 (one whole tensor, one element): both named, each with its
    own figure, in the table and in `weights_outside`; `train.keras` stays the largest, as before."""
    train = verifier.KerasSide.train

    def moved(self, batches):
        weights = train(self, batches)
        weights["dense.kernel"] = weights["dense.kernel"] + np.float32(3e-4)
        weights["dense_1.bias"] = weights["dense_1.bias"].copy()
        weights["dense_1.bias"][1] += np.float32(2e-4)
        return weights

    monkeypatch.setattr(verifier.KerasSide, "train", moved)
    report = verified(graph_of(model_text("x: f32[6]", "Dense(5, activation=tanh)\nDense(3)")), steps=1)
    assert not report.ok
    outside = {gap.weight: gap.largest for gap in report.weights_outside}
    assert set(outside) == {"dense.kernel", "dense_1.bias"}, report.table()
    assert outside["dense.kernel"] == pytest.approx(3e-4, rel=0.02)
    assert outside["dense_1.bias"] == pytest.approx(2e-4, rel=0.02)
    table = report.table()
    assert "dense.kernel" in table and "dense_1.bias" in table and "dense.bias" not in table
    document = strict_json(report.as_json())
    assert {"model", "outputs", "loss", "train", "ok"} <= set(document)
    assert document["train"]["keras"] == pytest.approx(3e-4, rel=0.02)
    assert [(entry["weight"], entry["bound"]) for entry in document["weights_outside"]] == [
        ("dense.kernel", 1e-4),
        ("dense_1.bias", 1e-4),
    ]
    assert document["weights_outside"][1]["max_abs_diff"] == pytest.approx(2e-4, rel=0.02)


# ---------------------------------------------------------------- --layers

# a conv stack (channels-first inside PyTorch and ONNX), an activation fused into the loss at the end
LAYERED = model_text(
    "image: f32[6, 6, 2]",
    "Conv2D(3, 3, activation=relu)\nRescaling(0.5, offset=-1)\nMaxPool2D(2)\nFlatten()\nDense(4)\n"
    "Dense(2, activation=softmax)",
    loss="sparse_categorical_crossentropy",
)
LAYER_NAMES = ["conv2d", "rescaling", "max_pooling2d", "flatten", "dense", "dense_1"]


def test_every_layer_agrees_channels_last():
    report = verified(graph_of(LAYERED), steps=0, layers=True)
    assert report.ok, report.table()
    assert [row.layer for row in report.layers] == LAYER_NAMES
    assert all(d.within and d.largest < 1e-6 for row in report.layers for d in row.differences), report.table()
    assert report.first_layer_outside("keras") is None and report.first_layer_outside("onnx") is None


def test_layers_name_the_first_layer_outside_in_each_backend(monkeypatch, tmp_path, capsys):
    """Keras' Rescaling forgets its offset; ONNX's `dense` adds 1e-3: each backend's first wrong layer is named,
    everything before it agrees (in channels-last, whatever layout each backend kept it in)."""
    from backends.keras.lowerings import OPS as KERAS
    from backends.onnx.lowerings import OPS as ONNX

    def forgetful(ctx):
        return f"keras.layers.Rescaling({ctx.args['scale']!r}, name={ctx.node.name!r})"

    dense = ONNX["Dense"]

    def shifted(ctx):
        name, layout = dense.lower(ctx)
        return (ctx.add("Add", [name, ctx.g.scalar(1e-3)]) if ctx.node.name == "dense" else name), layout

    monkeypatch.setitem(KERAS, "Rescaling", Lowering(KERAS["Rescaling"].wants, forgetful))
    monkeypatch.setitem(ONNX, "Dense", Lowering(dense.wants, shifted))
    path = tmp_path / "layered.dl"
    path.write_text(LAYERED)
    assert cli.main(["verify", str(path), "--layers", "--json"]) == 1
    document = strict_json(capsys.readouterr().out)
    assert document["ok"] is False
    assert document["first_layer_outside"] == {"keras": "rescaling", "onnx": "dense"}
    rows = {row["layer"]: row for row in document["layers"]}
    assert list(rows) == LAYER_NAMES
    assert rows["conv2d"]["keras"] < 1e-6
    assert all(rows[name]["onnx"] < 1e-6 for name in LAYER_NAMES[:4])
    assert rows["dense"]["onnx"] == pytest.approx(1e-3, rel=1e-3)
    assert rows["rescaling"]["keras"] == pytest.approx(1.0, rel=1e-6)  # the offset Keras forgot
    assert cli.main(["verify", str(path), "--layers"]) == 1
    table = capsys.readouterr().out
    assert "first layer outside the contract in Keras: 'rescaling' (Rescaling)" in table
    assert "first layer outside the contract in ONNX Runtime: 'dense' (Dense)" in table


# ---------------------------------------------------------------- weights whose true gradient is zero

# keras-io's timeseries classification FCN (Conv1D, BatchNormalization, ReLU three times), Keras' defaults: biased
# convolutions before BatchNormalization, trained with Adam
TIMESERIES_FCN = """model TimeseriesFCN {
  input x: f32[32, 1]
  layers {
    repeat 3 {
      Conv1D(64, 3, padding=same)
      BatchNormalization()
      ReLU()
    }
    GlobalAveragePooling1D()
    Dense(2, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam()
  metrics [sparse_categorical_accuracy]
}
"""


def test_biases_batch_normalization_cancels_are_judged_by_their_effect():
    """Measured: the cancelled biases end 1.9e-4 apart after 5 Adam steps (rounding noise in a zero gradient, made
    learning-rate-sized), beyond 1e-4, while the model with Keras' values of them gives PyTorch's outputs within
    7.4e-6: verify accepts the model as published, and says why those biases are apart."""
    report = verified(graph_of(TIMESERIES_FCN, "fcn"), steps=5)
    zero = {z.weight: z for z in report.zero_gradient}
    assert set(zero) == {"conv1d.bias", "conv1d_1.bias", "conv1d_2.bias"}, report.table()
    assert "BatchNormalization 'batch_normalization'" in zero["conv1d.bias"].why
    assert max(z.gap.largest for z in zero.values()) > verifier.TRAINED_WEIGHTS  # by value they would fail
    assert report.effect is not None and report.effect.within, report.table()
    assert report.ok and not report.weights_outside, report.table()
    train = next(d for d in report.differences if d.quantity == "train")
    assert train.largest < verifier.TRAINED_WEIGHTS  # the other weights, the moving means of those norms included
    document = strict_json(report.as_json())
    assert {entry["weight"] for entry in document["zero_gradient"]["weights"]} == set(zero)
    assert document["zero_gradient"]["within"] is True
    assert "true gradient is zero" in report.table()


ATTENTION = model_text(
    "x: f32[4, 3]; ctx: f32[6, 5]",
    "q: Dense(6)\nfrom ctx\nk: Dense(4)\nfrom q\nMultiHeadAttention(3, 2, dropout=0.3, value=ctx, key=k)\n"
    "Flatten()\nDense(2)",
)


def test_attention_key_biases_are_judged_by_their_effect_with_attention_dropout_off(monkeypatch):
    """The key bias and the bias of the Dense that feeds only the key: Adam moves them 2e-4 apart in 3 steps;
    everything else agrees, which it does only when MultiHeadAttention's inner dropout (0.3) is off in Keras too
    (8.4e-2 apart after 5 steps when only the model's top-level Dropout layers were switched off)."""
    import keras

    sides = []
    keras_side = verifier.KerasSide.__init__

    def kept(self, program, weights):
        keras_side(self, program, weights)
        sides.append(self)

    monkeypatch.setattr(verifier.KerasSide, "__init__", kept)
    report = verified(graph_of(ATTENTION, "attention"), steps=3)
    nested = [layer for layer in sides[0].model._flatten_layers() if isinstance(layer, keras.layers.Dropout)]
    assert nested and all(layer.rate == 0.0 for layer in nested)
    assert report.ok, report.table()
    whys = {z.weight: z.why for z in report.zero_gradient}
    assert set(whys) == {"multi_head_attention.key.bias", "k.bias"}, report.table()
    assert "softmax" in whys["multi_head_attention.key.bias"]
    assert "only the key of MultiHeadAttention 'multi_head_attention'" in whys["k.bias"]


@pytest.mark.parametrize(
    ("inputs", "layers", "expected"),
    [
        ("x: f32[4, 3]", "k: Dense(4, activation=tanh)\nfrom x\nMultiHeadAttention(2, 2, key=k)", {"key"}),
        ("x: f32[4, 3]", "k: Dense(4)\nfrom x\nMultiHeadAttention(2, 2, value=k)", {"key"}),  # k: value and key
        ("x: f32[4, 3]", "k: Dense(4)\nfrom x\nMultiHeadAttention(2, 2, use_bias=false, key=k)", {"k"}),
        (
            "x: f32[5, 3]; v: f32[4, 3]",
            "k: Dense(4)\nc: Conv1D(4, 2)\nfrom x\nMultiHeadAttention(2, 2, value=v, key=c)",
            {"key", "k", "c"},
        ),
        (
            "x: f32[5, 3]",
            "k: Dense(4)\nc: Conv1D(4, 2, padding=same)\nfrom x\nMultiHeadAttention(2, 2, key=c)",
            {"key", "c"},
        ),  # zero padding: k's bias does not reach every key position alike
        ("x: f32[5, 4]", "k: Dense(4)\nfrom x\nMultiHeadAttention(2, 2, key=k)\nAdd(k)", {"key"}),  # k read twice
        ("x: f32[5, 3]", "Dense(4)\nBatchNormalization()\nDense(2)", {"bn"}),
        ("x: f32[5, 3]", "Dense(4, activation=relu)\nBatchNormalization()\nDense(2)", set()),
    ],
    ids=["activation", "value-too", "no-bias", "through-valid-conv", "through-same-conv", "read-twice", "bn", "relu"],
)
def test_zero_gradient_weights_come_from_the_graph(inputs, layers, expected):
    graph = graph_of(model_text(inputs, f"{layers}\nFlatten()\nDense(2)"))
    short = {
        "multi_head_attention.key.bias": "key",
        "k.bias": "k",
        "c.bias": "c",
        "dense.bias": "bn",
    }
    found = {short.get(z.weight, z.weight) for z in verifier.zero_gradient_weights(graph)}
    assert found == expected


# ---------------------------------------------------------------- NaN and infinite values


def test_non_finite_values_are_named_and_json_stays_json():
    outputs = np.array([[0.5, np.nan], [0.25, 1.0]])
    difference = verifier.compare("outputs", "onnx", np.ones((2, 2)), outputs)
    assert difference.largest is None and not difference.within
    assert difference.reason == "PyTorch's outputs hold NaN"
    loss = verifier.compare("loss", "keras", np.float64(np.inf), np.float64(0.5))
    assert loss.reason == "Keras' loss is infinite" and not loss.within
    gaps = verifier.weight_gaps("keras", {"dense.kernel": np.array([np.inf, np.nan])}, {"dense.kernel": np.zeros(2)})
    assert gaps["dense.kernel"].reason == "Keras' values hold NaN and infinite values"
    report = verifier.Report("M", "w", 1, [difference, loss, verifier.summarize_weights("keras", list(gaps.values()))])
    report.weights_outside = list(gaps.values())
    document = strict_json(report.as_json())
    assert document["outputs"] == {"onnx": None} and document["loss"] == {"keras": None}
    assert document["train"] == {"keras": None} and document["ok"] is False
    assert document["weights_outside"] == [
        {
            "weight": "dense.kernel",
            "max_abs_diff": None,
            "bound": 1e-4,
            "reason": "Keras' values hold NaN and infinite values",
        }
    ]
    assert {problem["reason"] for problem in document["problems"]} == {
        "PyTorch's outputs hold NaN",
        "Keras' loss is infinite",
        "dense.kernel: Keras' values hold NaN and infinite values",
    }
    assert "PyTorch's outputs hold NaN" in report.table() and "inf" not in report.table().replace("infinite", "")


def test_nan_outputs_are_named():
    """Weights that hold NaN (verify's API takes any; files that hold them are refused when read)."""
    graph = graph_of(model_text("x: f32[6]", "Dense(4)\nDense(3)"))
    weights = {key: np.array(value) for key, value in initial_weights(graph, 0).items()}
    weights["dense.kernel"][0, 0] = np.nan
    report = verified(graph, steps=0, weights=weights)
    reasons = {(d.quantity, d.backend): d.reason for d in report.differences}
    assert reasons == {
        ("outputs", "keras"): "PyTorch's outputs hold NaN; Keras' outputs hold NaN",
        ("outputs", "onnx"): "PyTorch's outputs hold NaN; ONNX Runtime's outputs hold NaN",
        ("loss", "keras"): "PyTorch's loss is NaN; Keras' loss is NaN",
    }
    assert "the weights given hold NaN or infinite values: dense.kernel" in report.table()
    document = strict_json(report.as_json())
    assert document["outputs"] == {"keras": None, "onnx": None} and document["ok"] is False


def test_diverging_training_is_named_in_valid_json(tmp_path, capsys):
    path = tmp_path / "diverging.dl"
    path.write_text(model_text("x: f32[6]", "Dense(4)\nDense(3)", optimizer="SGD(learning_rate=1e30)"))
    assert cli.main(["verify", str(path), "--steps", "3", "--json"]) == 1
    document = strict_json(capsys.readouterr().out)
    assert document["train"] == {"keras": None} and document["ok"] is False
    assert [entry["weight"] for entry in document["weights_outside"]] == [
        "dense.kernel",
        "dense.bias",
        "dense_1.kernel",
        "dense_1.bias",
    ]
    assert all("NaN" in entry["reason"] and entry["max_abs_diff"] is None for entry in document["weights_outside"])


# ---------------------------------------------------------------- `?` lengths and f64 inputs

STRIDED = model_text("x: f64[?, 3]", "Conv1D(4, 3, strides=2)\nMaxPool1D(2)\nDense(2)")


def test_targets_take_the_output_length_at_the_sample_length():
    graph = graph_of(STRIDED)
    assert shapes_at(graph, 5)[graph.output.name] == (1, 2)
    assert random_targets(graph, 4, 5, np.random.default_rng(0)).shape == (4, 1, 2)
    assert random_targets(graph, 4, 11, np.random.default_rng(0)).shape == (4, 2, 2)


def test_a_strided_f64_model_on_a_question_mark_length_keeps_the_contract():
    """f64 inputs are cast to float32 at the model's edge in all three (Keras' layers cast them; the PyTorch program
    used to fail with 'mat1 and mat2 must have the same dtype'); the output is shorter than the input."""
    report = verified(graph_of(STRIDED, "strided"), steps=2)
    assert report.ok, report.table()
    assert report.steps == 2 and report.length == 5


def test_sample_length_keeps_within_what_the_model_takes():
    position = graph_of(model_text("x: f32[?, 4]", "h: Dense(6)\nPositionEmbedding(3)\nAdd(h)\nGlobalAvgPool1D()"))
    assert sample_length(position, verifier.LENGTH) == 3
    assert sample_feeds(position)["x"].shape == (64, 3, 4)  # export --quantize's timing inputs (16 long otherwise)
    window = graph_of(model_text("x: f32[?, 2]", "Conv1D(3, 7)\nGlobalAvgPool1D()"))
    assert sample_length(window, verifier.LENGTH) == 7  # the shortest the window takes
    (x,) = random_inputs(window, 2, sample_length(window, verifier.LENGTH), np.random.default_rng(0))
    assert x.shape == (2, 7, 2)
    fixed = graph_of(model_text("x: f32[4, 2]", "Dense(3)"))
    assert sample_length(fixed, verifier.LENGTH) == verifier.LENGTH


@pytest.mark.parametrize(
    ("activation", "loss", "units"),
    [
        ("softmax", "binary_crossentropy", 3),
        ("sigmoid", "categorical_crossentropy", 3),
        ("sigmoid", "sparse_categorical_crossentropy", 3),
    ],
)
def test_a_cross_entropy_after_the_other_activation_reads_its_logits_as_keras_does(
    activation, loss, units, tmp_path, capsys
):
    """Keras' sigmoid and softmax keep their logits, and every cross-entropy reads them, whichever activation it
    was: the PyTorch program once used the probabilities (loss 0.26 apart, weights 0.2 after 2 steps)."""
    spec = tmp_path / "mixed.dl"
    spec.write_text(
        "model Mixed {\n  input x: f32[6]\n  layers {\n    Dense(8, activation=relu)\n"
        f"    Dense({units}, activation={activation})\n  }}\n  loss {loss}\n  optimizer SGD(learning_rate=0.5)\n}}\n"
    )
    code = cli.main(["verify", str(spec), "--steps", "2", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["ok"], document
