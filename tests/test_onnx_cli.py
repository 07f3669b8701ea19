"""`dlc train --export`, `dlc export` and `dlc predict` as a user runs them."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT

from backends.program.constants import data_splits
from backends.program.loader import emit_program, load_program
from compiler.frontend import load_model
from compiler.weights import load_safetensors
from dlc import cli

IRIS = ROOT / "examples/iris_mlp.dl"


def dlc(*args, cwd=None):
    command = [sys.executable, "-m", "dlc", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300)


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


def onnx_outputs(path, xs):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), xs, strict=True)})[0]


# spec, epochs, the int8 ops the export must hold, the largest and the mean |int8 - float32| probability allowed
# (measured: MLP 0.10 and 0.0054; LSTM 0.16 and 0.0046, its gates quantized by ONNX Runtime's DynamicQuantizeLSTM)
INT8_CASES = {
    "digits_mlp": (5, {"MatMulInteger", "DynamicQuantizeLinear"}, 0.15, 0.008),
    "digits_lstm": (10, {"DynamicQuantizeLSTM", "MatMulInteger"}, 0.22, 0.008),
}


@pytest.mark.parametrize("name", INT8_CASES)
def test_int8_outputs_stay_near_float32_and_the_reported_accuracy_change_is_true(name, tmp_path, capsys):
    """A digits model, trained briefly, exported as float32 and with `--quantize int8`, both run on the spec's
    own validation rows (real digits): every int8 probability within the case's bound of float32's and its mean
    gap within the case's, the same class for at least 95% of the rows (measured: 99-100%), and the report
    prints the accuracies and the change computed here from the two models."""
    epochs, int8_ops, max_gap, mean_gap = INT8_CASES[name]
    spec = ROOT / f"examples/{name}.dl"
    graph = load_model(spec)
    (tmp_path / "digits.py").write_text(emit_program(graph, "pytorch"))
    program = load_program(tmp_path / "digits.py", f"{name}_int8_program")
    program.main(["--out", str(tmp_path / "run"), "--epochs", str(epochs), "--batch-size", "64"])
    weights = ["--weights", str(tmp_path / "run/weights.safetensors")]
    assert cli.main(["export", str(spec), "-o", str(tmp_path / "float.onnx"), *weights]) == 0
    capsys.readouterr()
    assert cli.main(["export", str(spec), "-o", str(tmp_path / "int8.onnx"), "--quantize", "int8", *weights]) == 0
    report = capsys.readouterr().err
    import onnx

    ops = {node.op_type for node in onnx.load(str(tmp_path / "int8.onnx")).graph.node}
    assert int8_ops <= ops and not {"Gemm", "MatMul", "LSTM"} & ops, ops

    (_, _), (val_x, val_y), (_, _) = data_splits(graph)
    in_float, in_int8 = onnx_outputs(tmp_path / "float.onnx", val_x), onnx_outputs(tmp_path / "int8.onnx", val_x)
    assert in_int8.shape == in_float.shape == (len(val_y), 10)
    gap = np.abs(in_int8.astype(np.float64) - in_float)
    assert gap.max() <= max_gap and gap.mean() <= mean_gap, (gap.max(), gap.mean())
    assert (in_int8.argmax(-1) == in_float.argmax(-1)).mean() >= 0.95
    before, after = (float((out.argmax(-1) == val_y).mean()) for out in (in_float, in_int8))
    assert before >= 0.85  # trained: the accuracy change means something

    shown = re.search(r"validation accuracy: (\d\.\d{4}) -> (\d\.\d{4}) \(([+-]\d+\.\d{2}) points\)", report)
    assert shown, report
    assert float(shown[1]) == pytest.approx(before, abs=5e-5)
    assert float(shown[2]) == pytest.approx(after, abs=5e-5)
    assert float(shown[3]) == pytest.approx((after - before) * 100, abs=5e-3)
    assert abs(after - before) <= 0.03


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
