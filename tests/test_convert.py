"""`dlc convert`: canonical weights to a PyTorch state_dict or Keras .weights.h5 and back, exactly; the
converted files load into the generated programs; bad files get one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import EXAMPLES, ROOT, assert_resumed
from test_keras_program import random_weights

from backends.convert import from_framework, to_framework
from backends.program.loader import import_program
from compiler.frontend import load, load_model
from compiler.weights import initial_weights, load_safetensors, save_safetensors
from dlc import cli

SUFFIX = {"pytorch": ".pt", "keras": ".weights.h5"}


@pytest.mark.parametrize("framework", ["pytorch", "keras"])
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_round_trip_is_exact(example, framework, tmp_path):
    (graph,) = load(example)
    tensors = random_weights(graph)
    path = tmp_path / f"weights{SUFFIX[framework]}"
    to_framework(graph, tensors, framework, path)
    back = from_framework(graph, path, framework)
    assert list(back) == graph.weight_names()
    for key, value in tensors.items():
        assert back[key].dtype == np.float32
        np.testing.assert_array_equal(back[key], value)


def test_converted_files_load_in_each_framework_and_compute_the_same(tmp_path):
    """A state_dict for PyTorch's own load_state_dict, a .weights.h5 for Keras' own load_weights."""
    graph = load_model(ROOT / "examples/digits_convnet.dl")
    tensors = random_weights(graph)
    to_framework(graph, tensors, "pytorch", tmp_path / "w.pt")
    to_framework(graph, tensors, "keras", tmp_path / "w.weights.h5")

    torch_program = import_program(graph, "pytorch")
    module = torch_program.MODEL_CLASS()
    module.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))
    module.eval()
    keras_program = import_program(graph, "keras")
    model = keras_program.build_model()
    model.load_weights(str(tmp_path / "w.weights.h5"))

    images = np.random.default_rng(0).normal(size=(3, 8, 8, 1)).astype(np.float32)
    with torch.inference_mode():
        expected = module(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(np.asarray(model.predict_on_batch(images)), expected, atol=1e-5, rtol=0)


def dlc(*args, cwd=ROOT):
    command = [sys.executable, "-m", "dlc", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300)


def test_dlc_convert_both_ways_with_the_spec_from_the_metadata(tmp_path):
    spec = "examples/iris_mlp.dl"  # relative, as `dlc train` records it when run from the repository
    graph = load_model(ROOT / spec)
    tensors = random_weights(graph)
    save_safetensors(tmp_path / "w.safetensors", tensors, {"model": graph.name, "source": spec})
    for framework, name in (("pytorch", "w.pt"), ("keras", "w.weights.h5")):
        done = dlc("convert", tmp_path / "w.safetensors", "--to", framework, "-o", tmp_path / name)
        assert done.returncode == 0, done.stderr
        back = tmp_path / f"back-{framework}.safetensors"
        done = dlc("convert", tmp_path / name, "--from", framework, "--spec", spec, "-o", back)
        assert done.returncode == 0, done.stderr
        restored, metadata = load_safetensors(back)
        assert metadata == {"model": "IrisMLP", "source": spec}
        for key in tensors:
            np.testing.assert_array_equal(restored[key], tensors[key])


def convert_error(capsys, *argv) -> str:
    assert cli.main(["convert", *map(str, argv)]) == 1
    error = capsys.readouterr().err
    assert "Traceback" not in error and error.count("\n") == 1, error
    return error


def test_convert_errors_are_one_line(tmp_path, capsys):
    iris, digits = ROOT / "examples/iris_mlp.dl", ROOT / "examples/digits_mlp.dl"
    iris_graph = load_model(iris)
    save_safetensors(tmp_path / "bare.safetensors", initial_weights(iris_graph, 0))
    assert "add --spec" in convert_error(capsys, tmp_path / "bare.safetensors", "--to", "pytorch", "-o", tmp_path / "x")
    error = convert_error(capsys, tmp_path / "bare.safetensors", "--to", "pytorch", "--spec", digits, "-o", "x.pt")
    assert "do not fit model 'DigitsMLP'" in error
    assert ".weights.h5" in convert_error(
        capsys, tmp_path / "bare.safetensors", "--to", "keras", "--spec", iris, "-o", tmp_path / "x.h5"
    )
    to_framework(iris_graph, initial_weights(iris_graph, 0), "pytorch", tmp_path / "iris.pt")
    to_framework(iris_graph, initial_weights(iris_graph, 0), "keras", tmp_path / "iris.weights.h5")
    assert "--spec" in convert_error(capsys, tmp_path / "iris.pt", "--from", "pytorch", "-o", tmp_path / "w")
    error = convert_error(capsys, tmp_path / "iris.pt", "--from", "pytorch", "--spec", digits, "-o", tmp_path / "w")
    assert "not PyTorch weights of model 'DigitsMLP'" in error
    error = convert_error(
        capsys, tmp_path / "iris.weights.h5", "--from", "keras", "--spec", digits, "-o", tmp_path / "w"
    )
    assert "not Keras weights of model 'DigitsMLP'" in error
    longer = tmp_path / "longer.dl"  # the iris model and one more layer: Keras alone would only warn
    text = iris.read_text().replace('"data/', f'"{ROOT}/examples/data/')
    longer.write_text(text.replace("Dense(3, activation=softmax)", "Dense(3)\n    Dense(3, activation=softmax)"))
    error = convert_error(capsys, tmp_path / "iris.weights.h5", "--from", "keras", "--spec", longer, "-o", "w")
    assert "not Keras weights of model 'IrisMLP'" in error
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    error = convert_error(capsys, tmp_path / "junk.pt", "--from", "pytorch", "--spec", iris, "-o", tmp_path / "w")
    assert "not a PyTorch state_dict file" in error
    assert "no such file" in convert_error(
        capsys, tmp_path / "gone.pt", "--from", "pytorch", "--spec", iris, "-o", tmp_path / "w"
    )


def test_convert_never_unpickles_code(tmp_path, capsys):
    """A state_dict file that would run code when unpickled is refused, and the code does not run."""
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"dense.weight": Payload()}, tmp_path / "evil.pt")
    spec = ROOT / "examples/iris_mlp.dl"
    error = convert_error(capsys, tmp_path / "evil.pt", "--from", "pytorch", "--spec", spec, "-o", tmp_path / "w")
    assert "not a PyTorch state_dict file" in error
    assert not marker.exists()


def test_training_continues_in_the_other_framework(tmp_path):
    """Weights trained in PyTorch continue in Keras exactly as they continue in PyTorch."""
    spec = ROOT / "examples/iris_mlp.dl"
    done = dlc("train", spec, "--epochs", "2", "--out", tmp_path / "first")
    assert done.returncode == 0, done.stderr
    start = tmp_path / "first/weights.safetensors"
    for backend in ("pytorch", "keras"):
        done = dlc(
            "train", spec, "--backend", backend, "--epochs", "1", "--weights", start, "--out", tmp_path / backend
        )
        assert done.returncode == 0, done.stderr
    first, _ = load_safetensors(start)
    in_torch, _ = load_safetensors(tmp_path / "pytorch/weights.safetensors")
    in_keras, _ = load_safetensors(tmp_path / "keras/weights.safetensors")
    for key in first:
        assert not np.array_equal(in_torch[key], first[key])  # it trained on
        np.testing.assert_allclose(in_keras[key], in_torch[key], atol=1e-5, rtol=0)


def test_dlc_train_rejects_weights_of_another_model(tmp_path, capsys):
    (graph,) = load(ROOT / "examples/digits_mlp.dl")
    save_safetensors(tmp_path / "w.safetensors", initial_weights(graph, 0))
    argv = ["train", str(ROOT / "examples/iris_mlp.dl"), "--weights", str(tmp_path / "w.safetensors")]
    assert cli.main([*argv, "--out", str(tmp_path / "run")]) == 1
    assert "do not fit model 'IrisMLP'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_dlc_train_resume_trains_only_the_remaining_epochs(tmp_path):
    """`dlc train --resume` continues the run in OUT: the history holds every epoch, but this run's timings
    only the epochs it trained, and the weights equal an uninterrupted run's."""
    spec, out = ROOT / "examples/iris_mlp.dl", tmp_path / "run"
    first = dlc("train", spec, "--out", out, "--epochs", 2)
    assert first.returncode == 0, first.stderr
    resumed = dlc("train", spec, "--out", out, "--epochs", 4, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert_resumed(out, 2, 4, resumed.stderr)
    straight = dlc("train", spec, "--out", tmp_path / "straight", "--epochs", 4)
    assert straight.returncode == 0, straight.stderr
    a, _ = load_safetensors(out / "weights.safetensors")
    b, _ = load_safetensors(tmp_path / "straight/weights.safetensors")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
