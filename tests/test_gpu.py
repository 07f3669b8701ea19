"""The GPU paths, where a GPU is lent (CI has none: every test here is skipped there).

Run on a GPU machine with `python -m pytest tests/test_gpu.py`: the generated PyTorch program trained 5 steps on
`cuda` gives the CPU's weights within 1e-4; its checkpoint moves between devices (trained on the GPU, resumed
on the CPU, and back); ONNX Runtime's CUDA provider gives the CPU provider's outputs within 1e-4.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from dlc import cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def cuda_in_torch() -> bool:
    import torch

    return torch.cuda.is_available()


def cuda_in_onnxruntime() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


needs_torch_cuda = pytest.mark.skipif(not cuda_in_torch(), reason="no CUDA device for PyTorch")


def train(program: Path, out: Path, *options: str) -> None:
    argv = [sys.executable, str(program), "--out", str(out), *options]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=os.environ | {"PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr[-3000:]


def small_digits(tmp_path: Path, example: str, batch_size: int) -> Path:
    """The example on 200 digits (5 steps an epoch at this batch size), dropout off, compiled."""
    import re

    from sklearn.datasets import load_digits

    data = load_digits()
    np.savez(tmp_path / "digits.npz", x=data.data[:200].astype(np.float32), y=data.target[:200])
    text = (EXAMPLES / f"{example}.dl").read_text()
    text = re.sub(r"Dropout\([^)]*\)", "Dropout(0.0)", text)
    text = text.replace('data = dataset("digits")', f'data = npz("{tmp_path / "digits.npz"}", x="x", y="y")')
    text = re.sub(r"batch_size = \d+", f"batch_size = {batch_size}", text)
    (tmp_path / "spec.dl").write_text(text)
    program = tmp_path / "program.py"
    assert cli.main(["compile", str(tmp_path / "spec.dl"), "--target", "pytorch", "-o", str(program)]) == 0
    return program


def assert_weights_close(one: Path, other: Path, bound: float = 1e-4) -> None:
    expected, actual = load_file(str(one / "weights.safetensors")), load_file(str(other / "weights.safetensors"))
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], rtol=0, atol=bound, err_msg=key)


@needs_torch_cuda
@pytest.mark.parametrize("example", ["digits_mlp", "digits_resnet"])
def test_five_steps_on_the_gpu_give_the_cpu_s_weights(example, tmp_path):
    program = small_digits(tmp_path, example, 30)
    train(program, tmp_path / "cpu", "--epochs", "1", "--device", "cpu")
    train(program, tmp_path / "gpu", "--epochs", "1", "--device", "cuda")
    assert_weights_close(tmp_path / "cpu", tmp_path / "gpu")


@needs_torch_cuda
def test_a_checkpoint_moves_between_gpu_and_cpu(tmp_path):
    program = small_digits(tmp_path, "digits_resnet", 30)
    train(program, tmp_path / "straight", "--epochs", "3", "--device", "cpu")
    train(program, tmp_path / "moved", "--epochs", "1", "--device", "cuda")
    train(program, tmp_path / "moved", "--epochs", "2", "--device", "cpu", "--resume")
    train(program, tmp_path / "moved", "--epochs", "3", "--device", "cuda", "--resume")
    assert_weights_close(tmp_path / "straight", tmp_path / "moved")


@pytest.mark.skipif(not cuda_in_onnxruntime(), reason="no CUDA provider in this onnxruntime")
def test_onnx_runtime_s_cuda_provider_gives_the_cpu_s_outputs(tmp_path):
    from backends.onnx.predict import load_session, predict

    model = tmp_path / "convnet.onnx"
    assert cli.main(["export", str(EXAMPLES / "digits_convnet.dl"), "-o", str(model)]) == 0
    x = np.random.default_rng(0).uniform(0, 16, (64, 8, 8, 1)).astype(np.float32)
    on_cpu = predict(load_session(model, "cpu"), [x])
    on_gpu = predict(load_session(model, "cuda"), [x])
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=0, atol=1e-4)
