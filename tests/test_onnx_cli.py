"""`dlc train --export`, `dlc export` and `dlc predict` as a user runs them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch
from conftest import ROOT

from backends.program.constants import data_splits
from backends.program.loader import load_program
from compiler.frontend import load_model
from compiler.weights import load_safetensors

IRIS = ROOT / "examples/iris_mlp.dl"


def dlc(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "dlc", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_trained_iris_predicts_the_same_on_onnx_runtime_as_in_pytorch(tmp_path):
    run = tmp_path / "iris"
    trained = dlc("train", IRIS, "--epochs", 30, "--out", run, "--export")
    assert trained.returncode == 0, trained.stderr
    assert (run / "model.onnx").stat().st_size > 0
    (_, _), (val_x, val_y), (_, _) = data_splits(load_model(IRIS))
    np.save(tmp_path / "x.npy", val_x[0])
    predicted = dlc("predict", run / "model.onnx", "--input", tmp_path / "x.npy", "-o", tmp_path / "p.npy")
    assert predicted.returncode == 0, predicted.stderr
    onnx_out = np.load(tmp_path / "p.npy")

    (program_path,) = run.glob("train_*.py")
    program = load_program(program_path, "iris_program")
    model = program.MODEL_CLASS()
    program.load_canonical(model, load_safetensors(run / "weights.safetensors")[0])
    model.eval()
    with torch.inference_mode():
        torch_out = model(torch.from_numpy(val_x[0])).numpy()
    np.testing.assert_allclose(onnx_out, torch_out, atol=1e-5, rtol=0)
    assert (onnx_out.argmax(-1) == torch_out.argmax(-1)).all()
    assert (onnx_out.argmax(-1) == val_y.argmax(-1)).mean() >= 0.8


def test_export_without_weights_says_so_and_quantize_reports(tmp_path):
    plain = dlc("export", IRIS, "-o", tmp_path / "iris.onnx")
    assert plain.returncode == 0, plain.stderr
    assert "initial weights of seed 0" in plain.stderr
    quantized = dlc("export", ROOT / "examples/digits_lstm.dl", "-o", tmp_path / "lstm.onnx", "--quantize", "int8")
    assert quantized.returncode == 0, quantized.stderr
    for expected in ("quantized MatMul, LSTM", "KiB int8", "speed at batch 64", "validation accuracy"):
        assert expected in quantized.stderr


def test_quantize_ops_puts_convolutions_in_int8_only_when_asked(tmp_path):
    import onnx

    convnet = ROOT / "examples/digits_convnet.dl"
    default = dlc("export", convnet, "-o", tmp_path / "default.onnx", "--quantize", "int8")
    assert default.returncode == 0, default.stderr
    assert "convolutions stay float32" in default.stderr
    assert "speed at batch 1" in default.stderr and "speed at batch 64" in default.stderr
    asked = dlc("export", convnet, "-o", tmp_path / "conv.onnx", "--quantize", "int8", "--quantize-ops", "Conv")
    assert asked.returncode == 0, asked.stderr
    assert "quantized Conv to int8" in asked.stderr
    ops = {node.op_type for node in onnx.load(str(tmp_path / "default.onnx")).graph.node}
    assert "Conv" in ops and "ConvInteger" not in ops
    ops = {node.op_type for node in onnx.load(str(tmp_path / "conv.onnx")).graph.node}
    assert "ConvInteger" in ops and "MatMulInteger" not in ops
    wrong = dlc("export", convnet, "-o", tmp_path / "x.onnx", "--quantize", "int8", "--quantize-ops", "Conv2D")
    assert wrong.returncode == 1 and "did you mean 'Conv'" in wrong.stderr


def test_predict_mistakes_are_one_line_errors(tmp_path):
    model = tmp_path / "iris.onnx"
    assert dlc("export", IRIS, "-o", model).returncode == 0
    np.save(tmp_path / "wide.npy", np.zeros((2, 5), np.float32))
    np.save(tmp_path / "text.npy", np.array([["a"] * 4] * 2))
    (tmp_path / "corrupt.onnx").write_bytes(b"not a model")
    cases = {
        "wide.npy": (model, "expects shape (batch, 4)"),
        "text.npy": (model, "expects float32 values"),
        "missing.npy": (model, "no such file"),
    }
    for name, (onnx_file, message) in cases.items():
        result = dlc("predict", onnx_file, "--input", tmp_path / name)
        assert result.returncode == 1
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    np.save(tmp_path / "x.npy", np.zeros((2, 4), np.float32))
    corrupt = dlc("predict", tmp_path / "corrupt.onnx", "--input", tmp_path / "x.npy")
    assert corrupt.returncode == 1 and "not a valid ONNX model" in corrupt.stderr
    assert len(corrupt.stderr.strip().splitlines()) == 1
