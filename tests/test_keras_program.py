"""The generated Keras program: it builds, loads and returns canonical weights exactly, computes what the
PyTorch program computes, trains to the same weights from the same seed, and resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import EXAMPLES, ROOT, assert_resumed

from backends.keras.emit import emit_program as emit_keras
from backends.program.loader import load_program, train
from backends.pytorch.emit import emit_program as emit_pytorch
from compiler.frontend import load
from compiler.weights import load_safetensors

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def program_module(source, tmp_path, name):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return load_program(path, f"dlc_test_{name}")


def random_weights(graph, seed=3):
    """Random normal canonical weights (variances kept positive), so biases and statistics all matter."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for node, param in graph.params:
        value = rng.normal(0.0, 0.3, param.shape).astype(np.float32)
        tensors[f"{node.name}.{param.name}"] = np.abs(value) + 0.5 if param.name == "moving_variance" else value
    return tensors


def random_inputs(graph, batch=4, length=6):
    rng = np.random.default_rng(0)
    arrays = []
    for value in graph.inputs:
        shape = [length if d is None else d for d in value.shape]
        if value.dtype.startswith("i"):
            arrays.append(rng.integers(0, 10, (batch, *shape)).astype(np.int64))
        else:
            arrays.append(rng.standard_normal((batch, *shape)).astype(np.float32))
    return arrays


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_keras_program_round_trips_weights_and_matches_pytorch(example, tmp_path):
    (graph,) = load(example)
    keras_program = program_module(emit_keras(graph), tmp_path, f"k_{example.stem}")
    torch_program = program_module(emit_pytorch(graph), tmp_path, f"t_{example.stem}")
    tensors = random_weights(graph)
    model = keras_program.build_model()
    keras_program.load_canonical(model, tensors)
    back = keras_program.to_canonical(model)
    assert list(back) == graph.weight_names()
    for key in tensors:
        np.testing.assert_array_equal(back[key], tensors[key])
    module = torch_program.MODEL_CLASS()
    torch_program.load_canonical(module, tensors)
    module.eval()
    inputs = random_inputs(graph)
    with torch.inference_mode():
        expected = module(*(torch.from_numpy(x) for x in inputs)).numpy()
    produced = np.asarray(model(inputs, training=False))
    np.testing.assert_allclose(produced, expected, atol=1e-5, rtol=0)


def test_seeded_weights_are_the_pytorch_programs(tmp_path):
    (graph,) = load(ROOT / "examples/digits_gru_stack.dl")
    keras_program = program_module(emit_keras(graph), tmp_path, "k_seeded")
    torch_program = program_module(emit_pytorch(graph), tmp_path, "t_seeded")
    model = keras_program.compiled_model(5)
    ours, theirs = keras_program.to_canonical(model), torch_program.initial_weights(5)
    for key in theirs:
        np.testing.assert_array_equal(ours[key], theirs[key])


def test_dlc_compile_keras_is_formatted_and_has_help(tmp_path):
    path = tmp_path / "wine.py"
    command = [sys.executable, "-m", "dlc", "compile", str(ROOT / "examples/wine_two_inputs.dl")]
    result = subprocess.run(
        [*command, "--target", "keras", "-o", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    for check in (["format", "--check"], ["check", "--select=E,F,W,I,B,UP,SIM"]):
        ruffed = subprocess.run(
            [sys.executable, "-m", "ruff", *check, "--isolated", "--line-length=120", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ruffed.returncode == 0, ruffed.stdout
    helped = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True, timeout=300)
    assert helped.returncode == 0, helped.stderr
    for option in ("--epochs", "--batch-size", "--out", "--seed", "--resume"):
        assert option in helped.stdout


def test_iris_trains_to_the_same_weights_in_both_backends(tmp_path):
    """5 epochs (the weights end ~6e-8 apart here) held to 1e-5, and every epoch's loss and metrics alike: a real
    discrepancy between the training loops shows within the first epoch, long before the spec's 100."""
    (graph,) = load(ROOT / "examples/iris_mlp.dl")
    epochs = 5
    in_keras = train(graph, "keras", tmp_path / "keras", epochs=epochs, seed=4)
    in_torch = train(graph, "pytorch", tmp_path / "torch", epochs=epochs, seed=4)
    keras_weights, _ = load_safetensors(tmp_path / "keras/weights.safetensors")
    torch_weights, _ = load_safetensors(tmp_path / "torch/weights.safetensors")
    assert keras_weights.keys() == torch_weights.keys()
    for key in torch_weights:
        np.testing.assert_allclose(keras_weights[key], torch_weights[key], atol=1e-5, rtol=0, err_msg=key)
    keras_history = json.loads((tmp_path / "keras/history.json").read_text())["history"]
    torch_history = json.loads((tmp_path / "torch/history.json").read_text())["history"]
    assert keras_history.keys() == torch_history.keys()
    for name, values in torch_history.items():
        assert len(keras_history[name]) == len(values) == epochs
        np.testing.assert_allclose(keras_history[name], values, atol=1e-5, rtol=1e-5, err_msg=name)
    assert in_keras.keys() == in_torch.keys()
    for name, value in in_torch.items():
        assert in_keras[name] == pytest.approx(value, abs=1e-5, rel=1e-5), name  # Keras averages in f32
    assert (tmp_path / "keras/curves.png").stat().st_size > 0


def test_keras_resume_continues_from_the_checkpoint(tmp_path, capsys):
    (graph,) = load(ROOT / "examples/iris_mlp.dl")
    straight = train(graph, "keras", tmp_path / "straight", epochs=4)
    module = program_module(emit_keras(graph), tmp_path, "k_resume")
    module.main(["--epochs", "2", "--out", str(tmp_path / "resumed")])
    capsys.readouterr()
    resumed = module.main(["--epochs", "4", "--out", str(tmp_path / "resumed"), "--resume"])
    assert_resumed(tmp_path / "resumed", 2, 4, capsys.readouterr().err)
    assert resumed["loss"] == pytest.approx(straight["loss"], abs=1e-6)
    a, _ = load_safetensors(tmp_path / "straight/weights.safetensors")
    b, _ = load_safetensors(tmp_path / "resumed/weights.safetensors")
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-6)
